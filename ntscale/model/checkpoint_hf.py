"""Hugging Face (`transformers` ESM-style) checkpoints -> the official parameter layout.

Reads ``config.json`` and the weights: safetensors (one ``model.safetensors`` or shards
listed in ``*.safetensors.index.json``), else PyTorch ``pytorch_model.bin`` (or shards listed
in ``pytorch_model.bin.index.json``), read without torch by `checkpoint_torch`.
Torch ``Linear`` weights are ``[out, in]`` and are transposed to our ``[in, out]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model.checkpoint_torch import read_torch_state
from ntscale.model.config import REQUIRED, NTConfig, typed_value
from ntscale.model.params import PREFIX, Flat, layer_path, validate_official
from ntscale.tokenizer.vocab import k_for_vocab

# keys that exist in HF checkpoints but have no role in the forward pass
_IGNORED = (
    re.compile(r"^(esm\.)?contact_head\."),
    re.compile(r"^(esm\.)?embeddings\.position_ids$"),
    re.compile(r"\.rotary_embeddings\.inv_freq$"),
)
_LAYER_KEY = re.compile(r"^(?:esm\.)?encoder\.layer\.(\d+)\.(.+)\.(weight|bias|gamma|beta)$")
_PER_LAYER = {
    "attention.self.query": "mha/query",
    "attention.self.key": "mha/key",
    "attention.self.value": "mha/value",
    "attention.output.dense": "mha/mha_output",
    "attention.LayerNorm": "mha_layer_norm",
    "intermediate.dense": "fc1",
    "output.dense": "fc2",
    "LayerNorm": "final_layer_norm",
}
_HEAD = f"{PREFIX}/~/esm_roberta_lm_head/~/"
_GLOBAL = {
    "embeddings.word_embeddings": f"{PREFIX}/~/embed",
    "embeddings.position_embeddings": f"{PREFIX}/~/esm_learned_positional_embeddings/~/embed",
    "encoder.emb_layer_norm_after": _HEAD + "emb_layer_norm_after",
    "lm_head.dense": _HEAD + "lm_head_fc_1",
    "lm_head.layer_norm": _HEAD + "lm_head_layer_norm",
    "lm_head.decoder": _HEAD + "lm_final_fc",
}
_LEAF = {"gamma": "scale", "beta": "offset"}


def config_from_hf(cfg: Mapping[str, Any], *, name: str, path: str) -> NTConfig:
    """NTConfig from a `transformers` ESM/NT `config.json`.

    The HF value of `layer_norm_eps` (1e-12 for NT) is kept. `max_position_embeddings`
    carries ESM's +2 padding offset, so max tokens = value - 2 for learned positions (for
    rotary models too, when value - 2 is a multiple of 64, e.g. 2050 -> 2048).

    Raises:
        CheckpointError: a required key is missing or a feature is not supported.
    """

    def need(key: str, kind: Callable[[Any], Any] = int, default: Any = REQUIRED) -> Any:
        return typed_value(cfg, key, kind, path=path, default=default, what="config key")

    pos_type = cfg.get("position_embedding_type", "absolute")
    if pos_type not in ("absolute", "rotary"):
        raise CheckpointError(f"{path}: position_embedding_type {pos_type!r} is not supported")
    if cfg.get("emb_layer_norm_before"):
        raise CheckpointError(f"{path}: emb_layer_norm_before=true is not supported")
    rotary = pos_type == "rotary"
    archs = " ".join(str(a) for a in cfg.get("architectures") or ())
    if "num_features" in cfg or "features" in cfg or "Segment" in archs:
        raise CheckpointError(
            f"{path}: a SegmentNT checkpoint in the Hugging Face layout is not read by ntscale; "
            "use the official layout (jax_model/), which `ntscale download segment_nt` fetches"
        )
    mpe = need("max_position_embeddings")
    max_tokens = mpe - 2 if (not rotary or (mpe - 2) % 64 == 0) else mpe
    dim, heads = need("hidden_size"), need("num_attention_heads")
    glu = rotary  # NT v2 on the hub: rotary + SwiGLU without FFN biases
    vocab = need("vocab_size")
    # the k-mer length is not in an ESM config: the vocabulary size says it (Codon-NT 75 -> 3)
    k = k_for_vocab("v2" if rotary else "v1", vocab) or 6
    dropout = bool(cfg.get("token_dropout", False))
    try:
        return NTConfig(
            name=name,
            version="v2" if rotary else "v1",
            num_layers=need("num_hidden_layers"),
            embed_dim=dim,
            num_heads=heads,
            key_size=dim // heads,
            ffn_dim=need("intermediate_size"),
            vocab_size=vocab,
            max_tokens=max_tokens,
            positional="rotary" if rotary else "learned",
            ffn_activation="swish" if glu else "gelu-no-approx",
            use_glu=glu,
            ffn_bias=bool(cfg.get("add_bias_fc", not glu)),
            token_dropout=dropout,
            # ESM's token dropout rescales with the training masking rate 0.15 * 0.8
            masking_ratio=0.15 if dropout else 0.0,
            masking_prob=0.8 if dropout else 0.0,
            layer_norm_eps=need("layer_norm_eps", float, 1e-12),
            pad_token_id=need("pad_token_id", int, 1),
            mask_token_id=need("mask_token_id", int, 2),
            k=k,
        )
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from e


def _indexed_files(index: Path) -> list[Path]:
    """The shard files named by a ``*.index.json`` weight map, in name order."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{index}: cannot read the shard index: {e!r}") from e
    files = [index.parent / f for f in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise CheckpointError(f"{index}: shard file(s) missing: {', '.join(missing)}")
    return files


def weight_files(directory: Path) -> list[Path]:
    """The weight file(s) of an HF checkpoint folder, in shard (= name) order.

    Safetensors win over PyTorch ``.bin`` when both are present; within a format a single
    file wins over an index, and an index over bare shards. Only ``pytorch_model*.bin``
    files count (hub repos also hold other pickles, e.g. ``training_args.bin``).

    Raises:
        CheckpointError: no weights, or an unreadable index / missing shard (names it).
    """
    for single, index_glob, shard_glob in (
        ("model.safetensors", "*.safetensors.index.json", "*.safetensors"),
        ("pytorch_model.bin", "pytorch_model*.bin.index.json", "pytorch_model*.bin"),
    ):
        if (directory / single).is_file():
            return [directory / single]
        indexes = sorted(directory.glob(index_glob))
        if indexes:
            return _indexed_files(indexes[0])
        shards = sorted(p for p in directory.glob(shard_glob) if p.is_file())
        if shards:
            return shards
    raise CheckpointError(
        f"{directory}: config.json found but no model.safetensors or "
        "pytorch_model.bin weights (nor shards with an *.index.json)"
    )


def read_state(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one weight file: safetensors, or a ``torch.save`` zip (``.bin``).

    Raises:
        CheckpointError: unreadable or corrupt file, or a disallowed pickle (names it).
    """
    if path.suffix == ".bin":
        return read_torch_state(path)
    try:
        return load_file(str(path))
    except (OSError, SafetensorError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: cannot read safetensors weights: {e}") from e


def convert_hf_state(
    state: Mapping[str, np.ndarray], config: NTConfig, *, tie_embeddings: bool = False, where: str
) -> Flat:
    """HF state dict -> validated official flat dict.

    Raises:
        CheckpointError: keys that are neither used nor known-unused, or wrong shapes.
    """
    flat: Flat = {}
    unknown: list[str] = []
    for key, value in state.items():
        if any(p.search(key) for p in _IGNORED):
            continue
        if config.positional == "rotary" and "position_embeddings" in key:
            continue  # some rotary exports still carry an unused absolute table
        a = np.asarray(value, dtype=np.float32)
        m = _LAYER_KEY.match(key)
        if m and m.group(2) in _PER_LAYER:
            module = layer_path(int(m.group(1)), _PER_LAYER[m.group(2)])
            leaf = m.group(3)
        else:
            base, _, leaf = key.removeprefix("esm.").rpartition(".")
            if key == "lm_head.bias":
                base, leaf = "lm_head.decoder", "bias"
            if base not in _GLOBAL:
                unknown.append(key)
                continue
            module = _GLOBAL[base]
        if module.endswith("embed"):
            flat.setdefault(module, {})["embeddings"] = a
            continue
        is_norm = "norm" in module
        name = _LEAF.get(leaf) or (
            ("scale" if is_norm else "w") if leaf == "weight" else ("offset" if is_norm else "b")
        )
        flat.setdefault(module, {})[name] = a.T if name == "w" else a
    if unknown:
        shown = ", ".join(unknown[:6]) + (" ..." if len(unknown) > 6 else "")
        raise CheckpointError(f"{where}: unexpected {len(unknown)} key(s): {shown}")
    final = flat.setdefault(_HEAD + "lm_final_fc", {})
    if "w" not in final and tie_embeddings and f"{PREFIX}/~/embed" in flat:
        final["w"] = flat[f"{PREFIX}/~/embed"]["embeddings"].T
    validate_official(flat, config, where=where)
    return flat


def read_hf_config(directory: Path, *, name: str) -> tuple[dict[str, Any], NTConfig]:
    """The raw ``config.json`` of an HF checkpoint folder and its `NTConfig`.

    Raises:
        CheckpointError: unreadable or unsupported config.
    """
    cfg_path = directory / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{cfg_path}: cannot read config: {e}") from e
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_path}: expected a JSON object, got {type(cfg).__name__}")
    return cfg, config_from_hf(cfg, name=name, path=str(cfg_path))


def read_hf_checkpoint(directory: Path, *, name: str) -> tuple[NTConfig, Flat, list[Path]]:
    """Read and convert an HF checkpoint folder.

    Returns:
        (config, flat official params, the weight files read).

    Raises:
        CheckpointError: unreadable config/weights or a mismatch (names the keys).
    """
    cfg, config = read_hf_config(directory, name=name)
    files = weight_files(directory)
    state: dict[str, np.ndarray] = {}
    for f in files:
        state.update(read_state(f))
    flat = convert_hf_state(
        state, config, tie_embeddings=bool(cfg.get("tie_word_embeddings")), where=str(directory)
    )
    return config, flat, files
