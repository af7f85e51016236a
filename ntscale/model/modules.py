"""The NT v1/v2 network as Haiku modules.

Shapes: B batch, T tokens, D embed dim, H heads, K key size, F FFN dim, V vocabulary,
L layers. Blocks are pre-LayerNorm and run under one `hk.layer_stack` (a `lax.scan` over
parameters stacked on a leading [L] axis), so the compiled program holds one block body
whatever the depth.

Module tree and parameter names (they are exactly the stacked layout of
`ntscale.model.params`, so checkpoints need no renaming at run time)::

    nt                              NucleotideTransformer
      embed, pos_embed (v1)         hk.Embed, created by TokenEmbedding (transparent)
      layers/                       hk.layer_stack of TransformerBlock (transparent)
        mha_ln, ffn_ln              hk.LayerNorm            [L, D]
        query, key, value,          Dense in SelfAttention (transparent)
        mha_output
        fc1, fc2                    Dense in FeedForward (transparent)
      lm_head/                      RobertaLMHead
        emb_ln_after, fc_1, ln, final_fc

Blocks, attention and FFN are transparent modules (`hk.transparent`): they group the
computation without adding a level to parameter names. The precision policy is passed to
every module as an argument; no global Haiku mixed-precision policy is set.
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from ntscale.model.attention import chunked_attention
from ntscale.model.config import NTConfig, rotary_base
from ntscale.model.precision import BLOCKED_IMPLS, AttentionImpl, Precision

F32 = jnp.float32


def activation(name: str, x: jax.Array) -> jax.Array:
    """The FFN/LM-head activation named in the hyperparameters."""
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


def layer_norm(x: jax.Array, *, eps: float, name: str) -> jax.Array:
    """LayerNorm over the last axis with float32 statistics and float32 parameters."""
    return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True, eps=eps, name=name)(
        x.astype(F32)
    )


class Dense(hk.Module):
    """x @ w (+ b) with operands in the compute dtype and a chosen result dtype.

    Parameters: ``w`` [in, out] (stored in the compute dtype on device), ``b`` [out]
    (float32). The bias is added in `out_dtype`.
    """

    def __init__(
        self,
        output_size: int,
        *,
        dtype: jnp.dtype,
        out_dtype: jnp.dtype = F32,
        with_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.output_size, self.dtype, self.out_dtype = output_size, dtype, out_dtype
        self.with_bias = with_bias

    def __call__(self, x: jax.Array) -> jax.Array:  # [..., in] -> [..., out]
        fan_in = x.shape[-1]
        w = hk.get_parameter(
            "w",
            [fan_in, self.output_size],
            F32,
            init=hk.initializers.TruncatedNormal(1.0 / np.sqrt(fan_in)),
        )
        y = jnp.dot(
            x.astype(self.dtype), w.astype(self.dtype), preferred_element_type=self.out_dtype
        )
        if self.with_bias:
            b = hk.get_parameter("b", [self.output_size], F32, init=jnp.zeros)
            y = y + b.astype(self.out_dtype)
        return y


class TokenEmbedding(hk.Module):
    """Token (+ learned ESM position) embeddings [B, T, D] float32, with token dropout.

    v1 applies ESM token dropout at inference: <mask> rows are zeroed and every row is
    scaled by (1 - 0.15 * 0.8) / (1 - k/n) for k masks among n non-pad tokens.
    """

    def __init__(self, config: NTConfig, name: str | None = None) -> None:
        super().__init__(name=name)
        self.config = config

    @hk.transparent
    def __call__(self, tokens: jax.Array) -> jax.Array:  # [B, T] -> [B, T, D]
        c = self.config
        nonpad = tokens != c.pad_token_id
        x = hk.Embed(c.vocab_size, c.embed_dim, name="embed")(tokens).astype(F32)
        x = x * c.embed_scale
        if c.token_dropout:
            is_mask = tokens == c.mask_token_id
            x = jnp.where(is_mask[..., None], 0.0, x)
            n = jnp.maximum(jnp.sum(nonpad, axis=-1), 1).astype(F32)
            observed = jnp.sum(is_mask & nonpad, axis=-1).astype(F32) / n
            trained = c.masking_ratio * c.masking_prob
            # a row made only of <mask> would divide by zero: leave it unscaled
            scale = jnp.where(observed < 1.0, (1.0 - trained) / (1.0 - observed), 1.0)
            x = x * scale[:, None, None]
        if c.positional == "learned":
            # ESM offsets: the first real token uses row pad+1, pads use row pad
            positions = jnp.cumsum(nonpad, axis=1) * nonpad + c.pad_token_id
            table = hk.Embed(c.max_tokens + 2, c.embed_dim, name="pos_embed")
            x = x + table(positions).astype(F32)
        return x


class SelfAttention(hk.Module):
    """Multi-head self-attention with biases.

    "cudnn" and "xla" run `jax.nn.dot_product_attention`; "chunked" and "headwise" run the
    blocked online softmax of `ntscale.model.attention`. XLA's and the blocked ones mask
    pads with a boolean key mask; cuDNN's uses key sequence lengths (valid because the
    tokenizer right-pads).
    """

    def __init__(
        self,
        config: NTConfig,
        *,
        precision: Precision,
        attention: AttentionImpl,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.config, self.precision, self.attention = config, precision, attention

    @hk.transparent
    def __call__(
        self,
        h: jax.Array,
        *,
        key_mask: jax.Array,
        kv_len: jax.Array,
        rotary: tuple[jax.Array, jax.Array] | None,
    ) -> jax.Array:  # [B, T, D]
        c, cd = self.config, self.precision.compute_dtype
        b, t, _ = h.shape
        hk_dim = c.num_heads * c.key_size
        heads = (b, t, c.num_heads, c.key_size)
        q = Dense(hk_dim, dtype=cd, name="query")(h).reshape(heads)
        k = Dense(hk_dim, dtype=cd, name="key")(h).reshape(heads)
        v = Dense(hk_dim, dtype=cd, name="value")(h).reshape(heads)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        q, k, v = q.astype(cd), k.astype(cd), v.astype(cd)
        scale = 1.0 / float(np.sqrt(c.key_size))
        if self.attention == "cudnn":
            out = jax.nn.dot_product_attention(
                q, k, v, scale=scale, key_value_seq_lengths=kv_len, implementation="cudnn"
            )
        elif self.attention in BLOCKED_IMPLS:
            out = chunked_attention(
                q, k, v, key_mask=key_mask, scale=scale, headwise=self.attention == "headwise"
            )
        else:
            out = jax.nn.dot_product_attention(
                q, k, v, mask=key_mask[:, None, None, :], scale=scale, implementation="xla"
            )
        return Dense(c.embed_dim, dtype=cd, name="mha_output")(out.reshape(b, t, hk_dim))


class FeedForward(hk.Module):
    """v1: dense -> exact GELU -> dense (biases); v2: SwiGLU, fc1 = [D, 2F] gate first."""

    def __init__(self, config: NTConfig, *, precision: Precision, name: str | None = None) -> None:
        super().__init__(name=name)
        self.config, self.precision = config, precision

    @hk.transparent
    def __call__(self, h: jax.Array) -> jax.Array:  # [B, T, D] -> [B, T, D]
        c, cd = self.config, self.precision.compute_dtype
        width = 2 * c.ffn_dim if c.use_glu else c.ffn_dim
        # the widest activation [B, T, F or 2F] stays in the compute dtype (memory traffic)
        y = Dense(width, dtype=cd, out_dtype=cd, with_bias=c.ffn_bias, name="fc1")(h)
        if c.use_glu:
            gate, linear = y[..., : c.ffn_dim], y[..., c.ffn_dim :]
            y = activation(c.ffn_activation, gate) * linear
        else:
            y = activation(c.ffn_activation, y)
        return Dense(c.embed_dim, dtype=cd, with_bias=c.ffn_bias, name="fc2")(y)


class TransformerBlock(hk.Module):
    """Pre-LayerNorm block: x += MHA(LN(x)); x += FFN(LN(x)); residual stream float32."""

    def __init__(
        self,
        config: NTConfig,
        *,
        precision: Precision,
        attention: AttentionImpl,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.config, self.precision, self.attention = config, precision, attention

    @hk.transparent
    def __call__(
        self,
        x: jax.Array,
        *,
        key_mask: jax.Array,
        kv_len: jax.Array,
        rotary: tuple[jax.Array, jax.Array] | None,
    ) -> jax.Array:  # [B, T, D]
        eps = self.config.layer_norm_eps
        attn = SelfAttention(self.config, precision=self.precision, attention=self.attention)
        x = x + attn(
            layer_norm(x, eps=eps, name="mha_ln"), key_mask=key_mask, kv_len=kv_len, rotary=rotary
        )
        ffn = FeedForward(self.config, precision=self.precision)
        return x + ffn(layer_norm(x, eps=eps, name="ffn_ln"))


class RobertaLMHead(hk.Module):
    """emb_layer_norm_after -> dense D->D -> exact GELU -> LayerNorm -> dense D->V."""

    def __init__(
        self, config: NTConfig, *, precision: Precision, name: str | None = "lm_head"
    ) -> None:
        super().__init__(name=name)
        self.config, self.precision = config, precision

    def __call__(
        self, x: jax.Array, *, logits: bool
    ) -> tuple[jax.Array, jax.Array | None]:  # [B, T, D] -> ([B,T,D], [B,T,V])
        """Returns (final embeddings, logits or None when `logits` is False)."""
        c, cd = self.config, self.precision.compute_dtype
        final = layer_norm(x, eps=c.layer_norm_eps, name="emb_ln_after")
        if not logits:
            return final, None
        h = activation("gelu-no-approx", Dense(c.embed_dim, dtype=cd, name="fc_1")(final))
        h = layer_norm(h, eps=c.layer_norm_eps, name="ln")
        return final, Dense(c.vocab_size, dtype=cd, name="final_fc")(h)


class NucleotideTransformer(hk.Module):
    """The whole NT: embeddings, L blocks under `hk.layer_stack`, RoBERTa LM head."""

    def __init__(
        self,
        config: NTConfig,
        *,
        precision: Precision,
        attention: AttentionImpl,
        name: str | None = "nt",
    ) -> None:
        super().__init__(name=name)
        self.config, self.precision, self.attention = config, precision, attention

    def __call__(
        self, tokens: jax.Array, *, layers: tuple[int, ...] = (), logits: bool = True
    ) -> dict[str, object]:
        """Run on tokens [B, T] int32 (right-padded with <pad>).

        Args:
            tokens: token ids [B, T].
            layers: 1-based layers whose embeddings [B, T, D] to return; layer L is the
                output of `emb_layer_norm_after`, layers 1..L-1 the residual stream.
            logits: whether to compute LM logits [B, T, V] (zero at pad positions).

        Returns:
            {"embeddings": {layer: [B, T, D] float32}, "logits": [B, T, V] float32 (if asked)}.
        """
        c = self.config
        b, t = tokens.shape
        nonpad = tokens != c.pad_token_id  # [B, T]
        # a row of only pads would mask every key: let it attend to all (no NaN, no meaning)
        key_mask = nonpad | ~jnp.any(nonpad, axis=1, keepdims=True)
        idx = jnp.arange(t, dtype=jnp.int32)[None, :]
        kv_len = jnp.maximum(jnp.max(jnp.where(nonpad, idx + 1, 0), axis=1), 1).astype(jnp.int32)
        rotary = None
        if c.positional == "rotary":  # YaRN-rescaled base where the config has a factor
            rotary = rotary_tables(t, c.key_size, rotary_base(c, t))

        x = TokenEmbedding(c)(tokens)  # [B, T, D] f32
        last = c.num_layers
        wanted = {int(layer) for layer in layers}
        middle = tuple(sorted(wanted - {last}))
        # slot of each layer's output in the carried buffer; len(middle) is a discard slot,
        # so only the requested layers are kept (not an [L, B, T, D] stack)
        slots = np.full(last, len(middle), np.int32)
        for j, layer in enumerate(middle):
            slots[layer - 1] = j

        def block(carry, slot):
            x, saved = carry
            x = TransformerBlock(c, precision=self.precision, attention=self.attention)(
                x, key_mask=key_mask, kv_len=kv_len, rotary=rotary
            )
            if saved is not None:
                saved = jax.lax.dynamic_update_index_in_dim(saved, x, slot, axis=0)
            return (x, saved), None

        saved0 = jnp.zeros((len(middle) + 1, b, t, c.embed_dim), F32) if middle else None
        stack = hk.layer_stack(last, with_per_layer_inputs=True, name="layers")
        (x, saved), _ = stack(block)((x, saved0), jnp.asarray(slots))

        final, lm = RobertaLMHead(c, precision=self.precision)(x, logits=logits)
        embeddings = {layer: saved[j] for j, layer in enumerate(middle)}
        if last in wanted:
            embeddings[last] = final
        out: dict[str, object] = {"embeddings": embeddings}
        if lm is not None:
            out["logits"] = jnp.where(nonpad[..., None], lm, 0.0)
        return out
