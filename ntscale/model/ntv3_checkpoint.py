"""NTv3 checkpoints in the Hugging Face layout (config.json + safetensors) -> Haiku params.

The published files use the PyTorch port's names under a ``core.`` prefix: Linear weights
[out, in], Conv1d weights [out, in, k], transposed convolutions [in, out, k], species
embeddings as ``cond_tables``, and bigWig heads numbered by head index (species without
tracks have no head and no names). The renaming below is derived from the reference's
PyTorch -> JAX conversion; the parity fixtures are written in this layout and read back
by the reference's own converter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ntscale.errors import CheckpointError
from ntscale.model.ntv3_config import NTv3Config, is_ntv3_config, ntv3_config_from_hf

Params = dict[str, dict[str, np.ndarray]]

_LN = {"weight": "scale", "bias": "offset"}
_BLOCK = [  # (pattern after "<tower>.<i>.", module suffix)
    (r"conv\.conv", "conv"),
    (r"conv\.layer_norm", "conv_ln"),
    (r"conv\.layer_norm\.modulation_layers\.0", "conv_ln_mod"),
    (r"res_conv\.conv_block\.conv", "res"),
    (r"res_conv\.conv_block\.layer_norm", "res_ln"),
    (r"res_conv\.conv_block\.layer_norm\.modulation_layers\.0", "res_ln_mod"),
    (r"res_conv\.modulation_layers\.0", "res_gate"),
]
_LAYER = [
    (r"self_attention_layer_norm", "mha_ln"),
    (r"self_attention_layer_norm\.modulation_layers\.0", "mha_ln_mod"),
    (r"final_layer_norm", "ffn_ln"),
    (r"final_layer_norm\.modulation_layers\.0", "ffn_ln_mod"),
    (r"modulation_layers\.0", "ffn_gate"),
    (r"sa_layer\.query_head\.linear", "query"),
    (r"sa_layer\.key_head\.linear", "key"),
    (r"sa_layer\.value_head\.linear", "value"),
    (r"sa_layer\.mha_output", "mha_output"),
    (r"fc1", "fc1"),
    (r"fc2", "fc2"),
]
_GLOBAL = [
    (r"embed_layer", "embed"),
    (r"stem\.conv", "stem"),
    (r"lm_head\.head", "lm_head/head"),
    (r"lm_head\.hidden_layers\.(\d+)", r"lm_head/hidden_\1"),
    (r"cond_tables\.0", "species_embed"),
    (r"conditions_heads\.0", "species_head"),
    (r"bigwig_head\.species_heads\.(\d+)\.layer_norm", r"bigwig_\1/ln"),
    (r"bigwig_head\.species_heads\.(\d+)\.head", r"bigwig_\1/head"),
    (r"bed_head\.layer_norm", "bed/ln"),
    (r"bed_head\.head", "bed/head"),
]


def hf_module(key: str) -> tuple[str, str] | None:
    """(Haiku module path, HF leaf) of one HF tensor name, or None when unknown."""
    if not key.startswith("core."):
        return None
    body, _, leaf = key[len("core.") :].rpartition(".")
    tower = re.fullmatch(r"(conv|deconv)_tower_blocks\.(\d+)\.(.+)", body)
    if tower:
        prefix = "down" if tower.group(1) == "conv" else "up"
        for pattern, name in _BLOCK:
            if re.fullmatch(pattern, tower.group(3)):
                return f"{prefix}_{tower.group(2)}/{name}", leaf
        return None
    layer = re.fullmatch(r"transformer_blocks\.(\d+)\.(.+)", body)
    if layer:
        for pattern, name in _LAYER:
            if re.fullmatch(pattern, layer.group(2)):
                return f"layer_{layer.group(1)}/{name}", leaf
        return None
    for pattern, name in _GLOBAL:
        m = re.fullmatch(pattern, body)
        if m:
            return m.expand(name), leaf
    return None


def _convert(module: str, leaf: str, arr: np.ndarray) -> tuple[str, np.ndarray]:
    """HF leaf + array -> Haiku param name + array in our layout."""
    last = module.rsplit("/", 1)[-1]
    if last.endswith("_ln") or last in ("ln",):
        return _LN[leaf], arr
    if last in ("embed", "species_embed"):
        return "embeddings", arr
    if leaf == "bias":
        return "b", arr
    if arr.ndim == 3:  # Conv1d [out, in, k] -> [k, in, out]; ConvTranspose1d [in, out, k]
        return "w", arr.transpose(2, 1, 0)  # -> [k, out, in]
    return "w", arr.T


def convert_ntv3_state(
    state: Mapping[str, np.ndarray],
    expected: Mapping[str, Mapping[str, tuple[int, ...]]],
    *,
    where: str,
) -> Params:
    """Rename and re-lay HF tensors into Haiku params, checked against `expected` shapes.

    Raises:
        CheckpointError: unknown keys, missing params or wrong shapes (names them).
    """
    params: Params = {}
    unknown = []
    for key, arr in state.items():
        found = hf_module(key)
        if found is None:
            unknown.append(key)
            continue
        module, leaf = found
        name, value = _convert(module, leaf, np.asarray(arr, dtype=np.float32))
        params.setdefault(module, {})[name] = np.ascontiguousarray(value)
    if unknown:
        shown = ", ".join(sorted(unknown)[:8])
        raise CheckpointError(f"{where}: {len(unknown)} unexpected NTv3 key(s): {shown}")
    missing = [f"{m}/{p}" for m, ps in expected.items() for p in ps if p not in params.get(m, {})]
    if missing:
        raise CheckpointError(
            f"{where}: {len(missing)} NTv3 parameter(s) missing: {', '.join(missing[:8])}"
        )
    extra = [f"{m}/{p}" for m, ps in params.items() for p in ps if p not in expected.get(m, {})]
    if extra:
        raise CheckpointError(f"{where}: parameters the config does not use: {extra[:8]}")
    bad = [
        f"{m}/{p} {params[m][p].shape} != {tuple(shape)}"
        for m, ps in expected.items()
        for p, shape in ps.items()
        if params[m][p].shape != tuple(shape)
    ]
    if bad:
        raise CheckpointError(f"{where}: wrong NTv3 parameter shape(s): {'; '.join(bad[:4])}")
    return params


def read_ntv3_config(directory: Path, *, name: str) -> NTv3Config | None:
    """The NTv3 config of a checkpoint folder, or None when its config.json is not NTv3.

    Raises:
        CheckpointError: unreadable config.json or unsupported settings.
    """
    path = Path(directory) / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read config: {e}") from e
    if not isinstance(cfg, dict) or not is_ntv3_config(cfg):
        return None
    return ntv3_config_from_hf(cfg, name=name, path=str(path))
