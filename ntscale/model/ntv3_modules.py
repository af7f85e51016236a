"""The NTv3 network (U-Net of convolutions around a rotary transformer) in Haiku.

Shapes: B batch, T bases (a multiple of 2^n), n downsamples, E token embedding width,
C stem width, D transformer width, H heads, K key size, F FFN width, V vocabulary,
S species table rows, R tracks of one species' head, A annotation elements.

Parameter layout (module path -> params), the target of `ntscale.model.ntv3_checkpoint`::

    embed                      embeddings [V, E]
    stem                       w [15, E, C], b
    down_{i}/conv              w [5, in, out], b        conv_ln (+ conv_ln_mod)
    down_{i}/res               w [1, out, out], b       res_ln (+ res_ln_mod, res_gate)
    layer_{l}/query|key|value  w [D, H*K], b            mha_output w [H*K, D], b
    layer_{l}/fc1, fc2         w (no bias)              mha_ln, ffn_ln (+ _mod, ffn_gate)
    up_{i}/conv                w [5, out, in], b        transposed conv, stride 2
    up_{i}/res                 w [1, out, in], b        transposed conv, stride 1
    lm_head/hidden_{j}, head   w, b
    post-trained: species_embed [S, E], species_head, bigwig_{h}/ln|head, bed/ln|head

``*_ln`` are layer norms (scale, offset); ``*_mod`` the adaptive-norm modulation
(cond -> [shift, scale], 2 x width) and ``*_gate`` the residual gates (cond -> width) of
post-trained models. GELU is the tanh approximation throughout (the reference's default).
Matmul and convolution operands use the precision's compute dtype with float32
accumulation; layer norms, the residual stream and all outputs are float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from ntscale.model.attention import chunked_attention
from ntscale.model.modules import apply_rotary, rotary_tables
from ntscale.model.ntv3_config import NTv3Config
from ntscale.model.precision import BLOCKED_IMPLS, AttentionImpl, Precision

F32 = jnp.float32


@dataclass(frozen=True)
class _Ctx:
    config: NTv3Config
    precision: Precision
    attention: AttentionImpl

    @property
    def cd(self) -> jnp.dtype:
        return self.precision.compute_dtype


def _param(name: str, shape: list[int], init: hk.initializers.Initializer) -> jax.Array:
    return hk.get_parameter(name, shape, F32, init=init)


def dense(ctx: _Ctx, x: jax.Array, out: int, *, name: str, bias: bool = True) -> jax.Array:
    """x @ w (+ b): [..., in] -> [..., out] float32."""
    with hk.name_scope(name):
        w = _param("w", [x.shape[-1], out], hk.initializers.TruncatedNormal(x.shape[-1] ** -0.5))
        y = jnp.dot(x.astype(ctx.cd), w.astype(ctx.cd), preferred_element_type=F32)
        if bias:
            y = y + _param("b", [out], jnp.zeros)
    return y


def layer_norm(x: jax.Array, *, eps: float, name: str) -> jax.Array:
    """LayerNorm over the last axis, float32 statistics and parameters."""
    return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True, eps=eps, name=name)(
        x.astype(F32)
    )


def adaptive_norm(
    ctx: _Ctx, x: jax.Array, cond: jax.Array | None, *, eps: float, name: str
) -> jax.Array:
    """Layer norm, then (post-trained) x * (1 + scale(c)) + shift(c) for condition c [B, E]."""
    y = layer_norm(x, eps=eps, name=name)
    if cond is None:
        return y
    mod = dense(ctx, cond, 2 * x.shape[-1], name=f"{name}_mod")[:, None, :]
    shift, scale = jnp.split(mod, 2, axis=-1)
    return y * (1.0 + scale) + shift


def gate(ctx: _Ctx, cond: jax.Array | None, width: int, *, name: str) -> jax.Array | float:
    """Residual gate 1 + g(c) [B, 1, width] (1.0 without conditioning)."""
    if cond is None:
        return 1.0
    return 1.0 + dense(ctx, cond, width, name=name)[:, None, :]


def conv1d(ctx: _Ctx, x: jax.Array, out: int, k: int, *, name: str) -> jax.Array:
    """'SAME' convolution, stride 1: [B, T, in] -> [B, T, out]; w [k, in, out]."""
    with hk.name_scope(name):
        fan = k * x.shape[-1]
        w = _param("w", [k, x.shape[-1], out], hk.initializers.TruncatedNormal(fan**-0.5))
        y = jax.lax.conv_general_dilated(
            x.astype(ctx.cd),
            w.astype(ctx.cd),
            (1,),
            "SAME",
            dimension_numbers=("NWC", "WIO", "NWC"),
            preferred_element_type=F32,
        )
        return y + _param("b", [out], jnp.zeros)


def conv1d_transpose(
    ctx: _Ctx, x: jax.Array, out: int, k: int, *, stride: int, name: str
) -> jax.Array:
    """'SAME' transposed convolution: [B, T, in] -> [B, stride * T, out]; w [k, out, in]."""
    with hk.name_scope(name):
        fan = k * x.shape[-1]
        w = _param("w", [k, out, x.shape[-1]], hk.initializers.TruncatedNormal(fan**-0.5))
        y = jax.lax.conv_transpose(
            x.astype(ctx.cd),
            w.astype(ctx.cd),
            (stride,),
            "SAME",
            dimension_numbers=("NWC", "WOI", "NWC"),
            preferred_element_type=F32,
        )
        return y + _param("b", [out], jnp.zeros)


def _gelu(x: jax.Array) -> jax.Array:
    return jax.nn.gelu(x, approximate=True)


def down_block(
    ctx: _Ctx, x: jax.Array, cond: jax.Array | None, dim_out: int, *, name: str
) -> jax.Array:
    """Norm -> conv k5 -> GELU, gated residual (norm -> conv k1 -> GELU), average pool /2."""
    with hk.name_scope(name):
        h = adaptive_norm(ctx, x, cond, eps=1e-5, name="conv_ln")
        x = _gelu(conv1d(ctx, h, dim_out, 5, name="conv"))
        h = adaptive_norm(ctx, x, cond, eps=1e-5, name="res_ln")
        r = _gelu(conv1d(ctx, h, dim_out, 1, name="res"))
        x = x + gate(ctx, cond, dim_out, name="res_gate") * r
    b, t, c = x.shape
    return x.reshape(b, t // 2, 2, c).mean(axis=2)


def up_block(
    ctx: _Ctx, x: jax.Array, cond: jax.Array | None, dim_out: int, *, name: str
) -> jax.Array:
    """Norm -> transposed conv k5 stride 2 -> GELU, gated residual (norm -> k1 -> GELU)."""
    with hk.name_scope(name):
        h = adaptive_norm(ctx, x, cond, eps=1e-5, name="conv_ln")
        x = _gelu(conv1d_transpose(ctx, h, dim_out, 5, stride=2, name="conv"))
        h = adaptive_norm(ctx, x, cond, eps=1e-5, name="res_ln")
        r = _gelu(conv1d_transpose(ctx, h, dim_out, 1, stride=1, name="res"))
        return x + gate(ctx, cond, dim_out, name="res_gate") * r


def transformer_block(
    ctx: _Ctx,
    x: jax.Array,
    cond: jax.Array | None,
    *,
    block_valid: jax.Array | None,
    rotary: tuple[jax.Array, jax.Array],
    name: str,
) -> jax.Array:  # [B, t, D]
    """Pre-norm rotary attention and SwiGLU FFN (the FFN residual gated when conditioned)."""
    c = ctx.config
    b, t, d = x.shape
    hk_dim = c.num_heads * c.key_size
    heads = (b, t, c.num_heads, c.key_size)
    with hk.name_scope(name):
        h = adaptive_norm(ctx, x, cond, eps=c.layer_norm_eps, name="mha_ln")
        q = dense(ctx, h, hk_dim, name="query").reshape(heads)
        k = dense(ctx, h, hk_dim, name="key").reshape(heads)
        v = dense(ctx, h, hk_dim, name="value").reshape(heads)
        q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        q, k, v = q.astype(ctx.cd), k.astype(ctx.cd), v.astype(ctx.cd)
        scale = 1.0 / float(np.sqrt(c.key_size))
        if ctx.attention in BLOCKED_IMPLS:  # blocked online softmax (ntscale.model.attention)
            valid = jnp.ones((b, t), bool) if block_valid is None else block_valid
            headwise = ctx.attention == "headwise"
            att = chunked_attention(q, k, v, key_mask=valid, scale=scale, headwise=headwise)
        elif block_valid is None:
            att = jax.nn.dot_product_attention(q, k, v, scale=scale, implementation=ctx.attention)
        elif ctx.attention == "cudnn":
            att = jax.nn.dot_product_attention(
                q,
                k,
                v,
                scale=scale,
                key_value_seq_lengths=block_valid.sum(-1).astype(jnp.int32),
                implementation="cudnn",
            )
        else:
            att = jax.nn.dot_product_attention(
                q, k, v, mask=block_valid[:, None, None, :], scale=scale, implementation="xla"
            )
        x = x + dense(ctx, att.reshape(b, t, hk_dim).astype(F32), d, name="mha_output")
        h = adaptive_norm(ctx, x, cond, eps=c.layer_norm_eps, name="ffn_ln")
        g1, g2 = jnp.split(dense(ctx, h, 2 * c.ffn_dim, name="fc1", bias=False), 2, axis=-1)
        f = dense(ctx, jax.nn.silu(g1) * g2, d, name="fc2", bias=False)
        return x + gate(ctx, cond, d, name="ffn_gate") * f


def ntv3_forward(
    tokens: jax.Array,
    species: jax.Array | None,
    *,
    config: NTv3Config,
    precision: Precision,
    attention: AttentionImpl,
    outputs: tuple[str, ...],
    head: int | None = None,
    track_ids: tuple[int, ...] | None = None,
) -> dict[str, jax.Array]:
    """The forward pass (call inside `hk.transform`).

    Args:
        tokens: [B, T] int token ids, T a multiple of 2^n.
        species: [B] species tokens (post-trained), or None (pre-trained).
        outputs: which of "logits" [B, T, V], "embedding" [B, T, C], "transformer"
            [B, T / 2^n, D], "species_logits" [B, S], "bigwig" [B, T', R], "bed"
            [B, T', A, 2] to return (T' = the centre crop).
        head: bigWig head index (static; one species per call keeps the head small).
        track_ids: optional subset of that head's tracks (static), in this order.

    Returns:
        The requested outputs, float32.
    """
    c = config
    ctx = _Ctx(c, precision, attention)
    b, t = tokens.shape
    cond = None
    block_valid = None
    if c.post_trained:
        if species is None:
            raise ValueError(f"{c.name}: a post-trained model needs species tokens")
        with hk.name_scope("species_embed"):
            table = _param(
                "embeddings",
                [c.conditions_vocab_size, c.token_embed_dim],
                hk.initializers.TruncatedNormal(1.0),
            )
        cond = table[species]
    else:
        # the pre-trained model attends only to blocks holding at least one non-pad base
        not_pad = (tokens != c.pad_token_id).reshape(b, t // c.block_bp, c.block_bp)
        block_valid = not_pad.any(axis=-1)
    with hk.name_scope("embed"):
        emb = _param(
            "embeddings", [c.vocab_size, c.token_embed_dim], hk.initializers.TruncatedNormal(1.0)
        )
    x = _gelu(conv1d(ctx, emb[tokens], c.conv_init_embed_dim, 15, name="stem"))
    widths = c.filter_list
    skips = []
    for i, dim_out in enumerate(widths[1:]):
        skips.append(x)
        x = down_block(ctx, x, cond, dim_out, name=f"down_{i}")
    cos, sin = rotary_tables(x.shape[1], c.key_size, 10000.0)
    for layer in range(c.num_layers):
        x = transformer_block(
            ctx, x, cond, block_valid=block_valid, rotary=(cos, sin), name=f"layer_{layer}"
        )
    out: dict[str, jax.Array] = {}
    if "transformer" in outputs:
        out["transformer"] = x
    if "species_logits" in outputs and c.post_trained:
        pooled = _gelu(x.mean(axis=1))
        out["species_logits"] = dense(ctx, pooled, c.conditions_vocab_size, name="species_head")
    for i, dim_out in enumerate(widths[::-1][1:]):
        x = up_block(ctx, x, cond, dim_out, name=f"up_{i}")
        if c.use_skip_connection:
            x = x + skips[-1 - i]
    if "embedding" in outputs:
        out["embedding"] = x
    if "logits" in outputs:
        h = _gelu(x)
        with hk.name_scope("lm_head"):
            for j in range(c.num_hidden_layers_head):
                h = _gelu(dense(ctx, h, h.shape[-1], name=f"hidden_{j}"))
            out["logits"] = dense(ctx, h, c.vocab_size, name="head")
    if c.post_trained and ("bigwig" in outputs or "bed" in outputs):
        lo, hi = c.crop_bounds(t)
        centre = x[:, lo:hi]
        if "bigwig" in outputs and head is not None:
            out["bigwig"] = bigwig_head(ctx, centre, head, track_ids)
        if "all_bigwig" in outputs:  # parameter init: every head with tracks
            for h_i, species in enumerate(c.track_heads):
                if c.bigwigs_per_species[species]:
                    out[f"bigwig_{h_i}"] = bigwig_head(ctx, centre, h_i, None)
        if "bed" in outputs and c.bed_elements_names:
            n = len(c.bed_elements_names)
            with hk.name_scope("bed"):
                h = layer_norm(centre, eps=1e-6, name="ln")
                out["bed"] = dense(ctx, h, 2 * n, name="head").reshape(*h.shape[:-1], n, 2)
    return out


def bigwig_head(ctx: _Ctx, x: jax.Array, head: int, track_ids: tuple[int, ...] | None) -> jax.Array:
    """softplus(LN(x) @ w + b) of one species' head [B, T', R] (optionally a track subset)."""
    c = ctx.config
    n_tracks = len(c.bigwigs_per_species[c.track_heads[head]])
    init = hk.initializers.TruncatedNormal(x.shape[-1] ** -0.5)
    with hk.name_scope(f"bigwig_{head}"):
        h = layer_norm(x, eps=1e-6, name="ln")
        with hk.name_scope("head"):
            w = _param("w", [x.shape[-1], n_tracks], init)
            bias = _param("b", [n_tracks], jnp.zeros)
    if track_ids is not None:
        idx = np.asarray(track_ids, dtype=np.int32)
        w, bias = w[:, idx], bias[idx]
    y = jnp.dot(h.astype(ctx.cd), w.astype(ctx.cd), preferred_element_type=F32) + bias
    return jax.nn.softplus(y)
