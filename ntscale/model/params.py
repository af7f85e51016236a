"""Parameter trees: the official checkpoint layout, our stacked layout, random init.

Two layouts exist:

- *official*: what the published `pytree_ckpt.joblib` files hold, a flat mapping
  ``"esm_transformer/attention_layer_3/~/mha/query" -> {"w": [D, H*K], "b": [H*K]}``;
  every checkpoint (JAX or Hugging Face) is first brought to this layout and validated.
- *stacked*: what the forward pass uses, a Haiku-style two-level mapping where the L
  per-layer modules are stacked on a leading axis (``"nt/layers/query" -> {"w": [L, D, H*K]}``)
  so the forward scans one layer body and compile time does not grow with depth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from ntscale.errors import CheckpointError
from ntscale.model.config import NTConfig
from ntscale.model.segment_head import HEAD, head_shapes

Flat = dict[str, dict[str, np.ndarray]]

PREFIX = "esm_transformer"
LAYERS = "nt/layers"

# official per-layer module suffix -> stacked module name
_PER_LAYER = {
    "mha_layer_norm": "mha_ln",
    "mha/query": "query",
    "mha/key": "key",
    "mha/value": "value",
    "mha/mha_output": "mha_output",
    "final_layer_norm": "ffn_ln",
    "fc1": "fc1",
    "fc2": "fc2",
}
# official global module suffix -> stacked module name
_GLOBAL = {
    "~/embed": "nt/embed",
    "~/esm_learned_positional_embeddings/~/embed": "nt/pos_embed",
    "~/esm_roberta_lm_head/~/emb_layer_norm_after": "nt/lm_head/emb_ln_after",
    "~/esm_roberta_lm_head/~/lm_head_fc_1": "nt/lm_head/fc_1",
    "~/esm_roberta_lm_head/~/lm_head_layer_norm": "nt/lm_head/ln",
    "~/esm_roberta_lm_head/~/lm_final_fc": "nt/lm_head/final_fc",
}
# the reference loader's renamed path components -> the names stored in published files
_RENAMES = {
    "self_attention_layer_norm": "mha_layer_norm",
    "self_attention": "mha",
    "roberta_lm_head": "esm_roberta_lm_head",
}


def layer_path(i: int, suffix: str) -> str:
    """Official module path of per-layer module `suffix` in block `i` (0-based)."""
    return f"{PREFIX}/attention_layer_{i}/~/{suffix}"


def official_shapes(config: NTConfig) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every parameter an official checkpoint of this config must hold, with its shape."""
    d, v, f = config.embed_dim, config.vocab_size, config.ffn_dim
    hk = config.num_heads * config.key_size
    fc1_out = 2 * f if config.use_glu else f
    ln = {"scale": (d,), "offset": (d,)}
    shapes: dict[str, dict[str, tuple[int, ...]]] = {
        f"{PREFIX}/~/embed": {"embeddings": (v, d)},
        f"{PREFIX}/~/esm_roberta_lm_head/~/emb_layer_norm_after": dict(ln),
        f"{PREFIX}/~/esm_roberta_lm_head/~/lm_head_fc_1": {"w": (d, d), "b": (d,)},
        f"{PREFIX}/~/esm_roberta_lm_head/~/lm_head_layer_norm": dict(ln),
        f"{PREFIX}/~/esm_roberta_lm_head/~/lm_final_fc": {"w": (d, v), "b": (v,)},
    }
    if config.positional == "learned":
        shapes[f"{PREFIX}/~/esm_learned_positional_embeddings/~/embed"] = {
            "embeddings": (config.max_tokens + 2, d)
        }
    for i in range(config.num_layers):
        shapes[layer_path(i, "mha_layer_norm")] = dict(ln)
        for proj in ("query", "key", "value"):
            shapes[layer_path(i, f"mha/{proj}")] = {"w": (d, hk), "b": (hk,)}
        shapes[layer_path(i, "mha/mha_output")] = {"w": (hk, d), "b": (d,)}
        shapes[layer_path(i, "final_layer_norm")] = dict(ln)
        fc1: dict[str, tuple[int, ...]] = {"w": (d, fc1_out)}
        fc2: dict[str, tuple[int, ...]] = {"w": (f, d)}
        if config.ffn_bias:
            fc1["b"] = (fc1_out,)
            fc2["b"] = (d,)
        shapes[layer_path(i, "fc1")] = fc1
        shapes[layer_path(i, "fc2")] = fc2
    if config.features:
        shapes.update(head_shapes(config))
    return shapes


def normalize_official(raw: Mapping[str, Mapping[str, object]]) -> Flat:
    """Accept the reference loader's renamed paths too (model name, self_attention, ...)."""
    out: Flat = {}
    for path, leaves in raw.items():
        parts = str(path).split("/")
        if parts[0] == HEAD:  # a SegmentNT head: already the names ntscale uses
            out[str(path)] = {str(k): np.asarray(a) for k, a in dict(leaves).items()}
            continue
        parts[0] = PREFIX
        parts = [_RENAMES.get(p, p) for p in parts]
        out["/".join(parts)] = {str(k): np.asarray(a) for k, a in dict(leaves).items()}
    return out


def validate_official(flat: Flat, config: NTConfig, *, where: str) -> None:
    """Check names and shapes against the config.

    Raises:
        CheckpointError: naming the missing, unexpected and wrongly shaped parameters.
    """
    expected = official_shapes(config)
    have = {(m, n) for m, leaves in flat.items() for n in leaves}
    want = {(m, n) for m, leaves in expected.items() for n in leaves}
    missing = sorted(want - have)
    unexpected = sorted(have - want)
    wrong = [
        f"{m}:{n} has shape {tuple(flat[m][n].shape)}, expected {expected[m][n]}"
        for m, n in sorted(have & want)
        if tuple(flat[m][n].shape) != expected[m][n]
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} parameter(s): {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} parameter(s): {_names(unexpected)}")
    if wrong:
        problems.append("wrong shape: " + "; ".join(wrong[:5]) + (" ..." if len(wrong) > 5 else ""))
    if problems:
        raise CheckpointError(
            f"{where}: checkpoint does not match its hyperparameters "
            f"({config.num_layers} layers, dim {config.embed_dim}, vocab {config.vocab_size}): "
            + "; ".join(problems)
        )


def _names(pairs: list[tuple[str, str]], limit: int = 6) -> str:
    text = ", ".join(f"{m}:{n}" for m, n in pairs[:limit])
    return text + (f", ... ({len(pairs) - limit} more)" if len(pairs) > limit else "")


def stack_official(flat: Flat, config: NTConfig, *, consume: bool = False) -> Flat:
    """Official layout (validated) -> stacked layout, float32 numpy arrays.

    With `consume=True` the official entries are removed from `flat` as they are stacked,
    so loading a 2.5B checkpoint never holds two full float32 copies of it at once.
    """
    out: Flat = {}
    for suffix, name in _GLOBAL.items():
        path = f"{PREFIX}/{suffix}"
        if path in flat:
            group = flat.pop(path) if consume else flat[path]
            out[name] = {k: np.asarray(a, np.float32) for k, a in group.items()}
    for path in [p for p in flat if p.split("/")[0] == HEAD]:
        group = flat.pop(path) if consume else flat[path]
        out[path] = {k: np.asarray(a, np.float32) for k, a in group.items()}
    for suffix, name in _PER_LAYER.items():
        paths = [layer_path(i, suffix) for i in range(config.num_layers)]
        out[f"{LAYERS}/{name}"] = {
            k: np.stack([np.asarray(flat[p][k], np.float32) for p in paths]) for k in flat[paths[0]]
        }
        if consume:
            for p in paths:
                del flat[p]
    return out


def unstack_to_official(stacked: Mapping[str, Mapping[str, object]], config: NTConfig) -> Flat:
    """Stacked layout -> official layout (numpy float32), as written by `save_checkpoint`."""
    out: Flat = {}
    for path in [p for p in stacked if p.split("/")[0] == HEAD]:
        out[path] = {k: np.asarray(a, np.float32) for k, a in stacked[path].items()}
    for suffix, name in _GLOBAL.items():
        if name in stacked:
            out[f"{PREFIX}/{suffix}"] = {
                k: np.asarray(a, np.float32) for k, a in stacked[name].items()
            }
    for i in range(config.num_layers):
        for suffix, name in _PER_LAYER.items():
            out[layer_path(i, suffix)] = {
                k: np.asarray(a[i], np.float32) for k, a in stacked[f"{LAYERS}/{name}"].items()
            }
    return out


def init_official(config: NTConfig, *, seed: int = 0) -> Flat:
    """Random parameters in the official layout, deterministic for a seed.

    Weights are N(0, 1/fan_in); LayerNorm scales 1 + 0.3 N(0, 1), offsets and biases
    0.2 N(0, 1), so that no parameter is trivial and a test exercises every one.
    """
    rng = np.random.default_rng(seed)
    out: Flat = {}
    for path, leaves in official_shapes(config).items():
        out[path] = {}
        for name, shape in leaves.items():
            if name == "scale":
                a = 1.0 + 0.3 * rng.standard_normal(shape, dtype=np.float32)
            elif name in ("offset", "b"):
                a = 0.2 * rng.standard_normal(shape, dtype=np.float32)
            elif name == "embeddings":
                a = rng.standard_normal(shape, dtype=np.float32)
            else:
                fan_in = int(np.prod(shape[:-1]))  # [in, out] and conv [k, in, out]
                a = rng.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
            out[path][name] = np.asarray(a, np.float32)
    return out


def params_digest(flat: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """sha256 of parameter names, dtypes, shapes and bytes (for models without a file)."""
    h = hashlib.sha256()
    for path in sorted(flat):
        for name in sorted(flat[path]):
            a = np.ascontiguousarray(flat[path][name])
            h.update(f"{path}:{name}:{a.dtype.str}:{a.shape}\n".encode())
            h.update(a.tobytes())
    return h.hexdigest()
