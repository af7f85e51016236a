"""The forward pass: the Haiku modules of `ntscale.model.modules`, transformed.

`build_forward` returns an `hk.Transformed` (no rng: `hk.without_apply_rng`) whose
parameter tree is the stacked layout of `ntscale.model.params` (``"nt/layers/query" ->
{"w": [L, D, H*K], "b": [L, H*K]}``), so `load`, the HF converter and random init feed
it directly. `forward` is the one-call form used inside `jax.jit` by `NTModel` and the
scoring worker.
"""

from __future__ import annotations

from collections.abc import Mapping

import haiku as hk
import jax

from ntscale.model.config import NTConfig
from ntscale.model.modules import NucleotideTransformer
from ntscale.model.precision import AttentionImpl, Precision

Params = Mapping[str, Mapping[str, jax.Array]]


def build_forward(
    config: NTConfig,
    *,
    precision: Precision,
    attention: AttentionImpl,
    layers: tuple[int, ...] = (),
    logits: bool = True,
) -> hk.Transformed:
    """The transformed NT for fixed outputs: `init(rng, tokens)`, `apply(params, tokens)`.

    Args:
        config: model hyperparameters.
        precision: compute policy from `precision_policy` (an argument, not a global).
        attention: "chunked", "xla" or "cudnn".
        layers: 1-based layers whose embeddings to return.
        logits: whether to compute LM logits. `init` with logits=True creates every
            parameter (the LM head's dense layers are only touched when logits are asked).
    """
    layers = tuple(int(layer) for layer in layers)

    def fn(tokens: jax.Array) -> dict[str, object]:
        net = NucleotideTransformer(config, precision=precision, attention=attention)
        return net(tokens, layers=layers, logits=logits)

    return hk.without_apply_rng(hk.transform(fn))


def forward(
    params: Params,
    tokens: jax.Array,
    *,
    config: NTConfig,
    precision: Precision,
    attention: AttentionImpl,
    layers: tuple[int, ...] = (),
    logits: bool = True,
) -> dict[str, object]:
    """Run the model on tokens [B, T] int32.

    Args:
        params: stacked parameter tree (see `ntscale.model.params`).
        tokens: token ids, right-padded with <pad>.
        config: model hyperparameters.
        precision: compute policy from `precision_policy`.
        attention: "chunked", "xla" or "cudnn".
        layers: 1-based layers whose embeddings to return; layer L is the output of the
            LM head's first LayerNorm (`emb_layer_norm_after`), as in the reference.
        logits: whether to compute LM logits (zero at pad positions).

    Returns:
        {"embeddings": {layer: [B, T, D] float32}, "logits": [B, T, V] float32 (if asked)}.
    """
    transformed = build_forward(
        config, precision=precision, attention=attention, layers=layers, logits=logits
    )
    return transformed.apply(params, tokens)
