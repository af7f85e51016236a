"""The NT forward pass (v1 and v2) as pure JAX functions over a stacked parameter tree.

Shapes: B batch, T tokens, D embed dim, H heads, K key size, F FFN dim, V vocabulary,
L layers. Blocks are pre-LayerNorm; the L blocks run under one `jax.lax.scan`, so the
compiled program has one block body whatever the depth.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ntscale.model.config import NTConfig
from ntscale.model.params import LAYERS
from ntscale.model.precision import AttentionImpl, Precision

Params = Mapping[str, Mapping[str, jax.Array]]
F32 = jnp.float32


def layer_norm(x: jax.Array, p: Mapping[str, jax.Array], eps: float) -> jax.Array:
    """LayerNorm over the last axis, statistics in float32."""
    x = x.astype(F32)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return p["scale"] * jax.lax.rsqrt(var + eps) * (x - mean) + p["offset"]


def dense(x: jax.Array, p: Mapping[str, jax.Array], dtype: jnp.dtype,
          out_dtype: jnp.dtype = F32) -> jax.Array:
    """x @ w (+ b): operands in `dtype`, result in `out_dtype` (float32 by default)."""
    y = jnp.dot(x.astype(dtype), p["w"].astype(dtype), preferred_element_type=out_dtype)
    return y + p["b"].astype(out_dtype) if "b" in p else y


def _activation(name: str, x: jax.Array) -> jax.Array:
    if name == "gelu-no-approx":
        return jax.nn.gelu(x, approximate=False)
    if name == "gelu":
        return jax.nn.gelu(x, approximate=True)
    if name in ("swish", "silu"):
        return jax.nn.silu(x)
    return jax.nn.relu(x)


def rotary_tables(t: int, key_size: int, base: float) -> tuple[jax.Array, jax.Array]:
    """cos/sin tables [T, K] for rotate-half rotary embeddings, positions 0..T-1."""
    inv_freq = 1.0 / (base ** (np.arange(0, key_size, 2, dtype=np.float32) / key_size))
    angles = np.arange(t, dtype=np.float32)[:, None] * inv_freq[None, :]  # [T, K/2]
    angles = np.concatenate([angles, angles], axis=-1)  # [T, K]
    return jnp.asarray(np.cos(angles)), jnp.asarray(np.sin(angles))


def apply_rotary(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate [B, T, H, K] by position: dim i pairs with dim i + K/2."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[None, :, None, :] + rotated * sin[None, :, None, :]


def embed(params: Params, tokens: jax.Array, config: NTConfig) -> jax.Array:
    """Token (+ learned position) embeddings [B, T, D] float32, with ESM token dropout."""
    nonpad = tokens != config.pad_token_id
    x = params["nt/embed"]["embeddings"][tokens].astype(F32) * config.embed_scale
    if config.token_dropout:
        is_mask = tokens == config.mask_token_id
        x = jnp.where(is_mask[..., None], 0.0, x)
        n = jnp.maximum(jnp.sum(nonpad, axis=-1), 1).astype(F32)
        observed = jnp.sum(is_mask & nonpad, axis=-1).astype(F32) / n
        trained = config.masking_ratio * config.masking_prob
        # a row made only of <mask> would divide by zero: leave it unscaled
        scale = jnp.where(observed < 1.0, (1.0 - trained) / (1.0 - observed), 1.0)
        x = x * scale[:, None, None]
    if config.positional == "learned":
        # ESM offsets: the first real token uses row pad+1, pads use row pad
        positions = jnp.cumsum(nonpad, axis=1) * nonpad + config.pad_token_id
        x = x + params["nt/pos_embed"]["embeddings"][positions].astype(F32)
    return x


def _attention(
    h: jax.Array, p: Mapping[str, Mapping[str, jax.Array]], *, config: NTConfig,
    precision: Precision, impl: AttentionImpl, key_mask: jax.Array, kv_len: jax.Array,
    rotary: tuple[jax.Array, jax.Array] | None,
) -> jax.Array:
    b, t, _ = h.shape
    cd = precision.compute_dtype
    heads = (b, t, config.num_heads, config.key_size)
    q = dense(h, p["query"], cd).reshape(heads)
    k = dense(h, p["key"], cd).reshape(heads)
    v = dense(h, p["value"], cd).reshape(heads)
    if rotary is not None:
        q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
    q, k, v = q.astype(cd), k.astype(cd), v.astype(cd)
    scale = 1.0 / float(np.sqrt(config.key_size))
    if impl == "cudnn":
        # cuDNN's padding mode: keys past kv_len are masked (the tokenizer right-pads)
        out = jax.nn.dot_product_attention(
            q, k, v, scale=scale, key_value_seq_lengths=kv_len, implementation="cudnn"
        )
    else:
        out = jax.nn.dot_product_attention(
            q, k, v, mask=key_mask[:, None, None, :], scale=scale, implementation="xla"
        )
    return dense(out.reshape(b, t, -1), p["mha_output"], cd)


def _ffn(h: jax.Array, p: Mapping[str, Mapping[str, jax.Array]], *, config: NTConfig,
         precision: Precision) -> jax.Array:
    cd = precision.compute_dtype
    # the widest activation [B, T, F or 2F] stays in the compute dtype (memory traffic)
    y = dense(h, p["fc1"], cd, out_dtype=cd)
    if config.use_glu:
        gate, linear = y[..., : config.ffn_dim], y[..., config.ffn_dim:]
        y = _activation(config.ffn_activation, gate) * linear
    else:
        y = _activation(config.ffn_activation, y)
    return dense(y, p["fc2"], cd)


def forward(
    params: Params, tokens: jax.Array, *, config: NTConfig, precision: Precision,
    attention: AttentionImpl, layers: tuple[int, ...] = (), logits: bool = True,
) -> dict[str, object]:
    """Run the model on tokens [B, T] int32.

    Args:
        params: stacked parameter tree (see `ntscale.model.params`).
        tokens: token ids, right-padded with <pad>.
        config: model hyperparameters.
        precision: compute policy from `precision_policy`.
        attention: "xla" or "cudnn".
        layers: 1-based layers whose embeddings to return; layer L is the output of the
            LM head's first LayerNorm (`emb_layer_norm_after`), as in the reference.
        logits: whether to compute LM logits (zero at pad positions).

    Returns:
        {"embeddings": {layer: [B, T, D] float32}, "logits": [B, T, V] float32 (if asked)}.
    """
    b, t = tokens.shape
    eps = config.layer_norm_eps
    nonpad = tokens != config.pad_token_id  # [B, T]
    # a row of only pads would mask every key: let it attend to all (no NaN, no meaning)
    key_mask = nonpad | ~jnp.any(nonpad, axis=1, keepdims=True)
    idx = jnp.arange(t, dtype=jnp.int32)[None, :]
    kv_len = jnp.maximum(jnp.max(jnp.where(nonpad, idx + 1, 0), axis=1), 1).astype(jnp.int32)
    rotary = (rotary_tables(t, config.key_size, config.rotary_base)
              if config.positional == "rotary" else None)

    x = embed(params, tokens, config)  # [B, T, D] f32
    last = config.num_layers
    middle = tuple(sorted({int(layer) for layer in layers if int(layer) != last}))
    # slot of each layer's output in the carried buffer; len(middle) is a discard slot
    slots = np.full(last, len(middle), np.int32)
    for j, layer in enumerate(middle):
        slots[layer - 1] = j
    stacked = {name[len(LAYERS) + 1:]: p for name, p in params.items()
               if name.startswith(LAYERS + "/")}

    def block(carry, xs):
        x, saved = carry
        p, slot = xs
        h = layer_norm(x, p["mha_ln"], eps)
        x = x + _attention(h, p, config=config, precision=precision, impl=attention,
                           key_mask=key_mask, kv_len=kv_len, rotary=rotary)
        h = layer_norm(x, p["ffn_ln"], eps)
        x = x + _ffn(h, p, config=config, precision=precision)
        if saved is not None:
            saved = jax.lax.dynamic_update_index_in_dim(saved, x, slot, axis=0)
        return (x, saved), None

    saved0 = jnp.zeros((len(middle) + 1, b, t, config.embed_dim), F32) if middle else None
    (x, saved), _ = jax.lax.scan(block, (x, saved0), (stacked, jnp.asarray(slots)))

    head = params
    final = layer_norm(x, head["nt/lm_head/emb_ln_after"], eps)
    embeddings = {layer: saved[j] for j, layer in enumerate(middle)}
    if last in {int(layer) for layer in layers}:
        embeddings[last] = final
    out: dict[str, object] = {"embeddings": embeddings}
    if logits:
        cd = precision.compute_dtype
        h = _activation("gelu-no-approx", dense(final, head["nt/lm_head/fc_1"], cd))
        h = layer_norm(h, head["nt/lm_head/ln"], eps)
        lm = dense(h, head["nt/lm_head/final_fc"], cd)
        out["logits"] = jnp.where(nonpad[..., None], lm, 0.0)
    return out
