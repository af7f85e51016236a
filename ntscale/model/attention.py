"""Memory-efficient ("chunked") self-attention for backends without a fused kernel.

Shapes: B batch, T tokens, H heads, K key size, Q query block, C key block.

XLA's `jax.nn.dot_product_attention` on CPU (and on GPU when cuDNN is not used)
materialises the whole score tensor [B, H, T, T] in float32, several times over (scores,
mask, softmax): 7 GB at 2,048 tokens x batch 8 with 16 heads. Here queries are split into
blocks of Q rows (`lax.map`, one block live at a time) and, inside a block, keys into blocks
of C columns folded with an online softmax (`lax.scan`, the flash-attention recurrence):
only [B, H, Q, C] scores are live. Scores, the running max and the normaliser are float32;
the probabilities are cast to V's dtype before the second matmul, as XLA's implementation
does, so float32 results agree with it to rounding. The normaliser is a column of that
matmul (V gets a ones column) rather than a separate sum: XLA's CPU fusions round a fused
sum differently with the batch size, and a row's bits must not depend on how many rows
share its batch (dedup and short last batches rely on it; `tests/model/test_attention.py`).

Masked keys (pads, and the padding added to reach a whole number of blocks) get -inf; a
block where every key so far is masked keeps a zero contribution instead of NaN. Callers
guarantee each row has at least one valid key (`NucleotideTransformer` does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

F32 = jnp.float32

QUERY_BLOCK = 256
"""Default query rows per block (measured at 2,048 tokens x 8, 1 layer of 12 x 512: 256 x 512
blocks peak at 0.87 GB against 1.29 GB for 512 x 1,024, at no measurable speed cost)."""
KEY_BLOCK = 512
"""Default key columns per block (the online softmax folds blocks of this width)."""


def block_sizes(
    t: int, *, query_block: int = QUERY_BLOCK, key_block: int = KEY_BLOCK
) -> tuple[int, int]:
    """(query block, key block) for `t` tokens: the defaults, never wider than `t`."""
    return min(query_block, t), min(key_block, t)


def _pad_tokens(x: jax.Array, n: int) -> jax.Array:
    """Pad axis 1 of x to length n with zeros."""
    extra = n - x.shape[1]
    if extra == 0:
        return x
    widths = [(0, 0)] * x.ndim
    widths[1] = (0, extra)
    return jnp.pad(x, widths)


def chunked_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    key_mask: jax.Array,
    scale: float,
    query_block: int = QUERY_BLOCK,
    key_block: int = KEY_BLOCK,
) -> jax.Array:
    """Softmax(q k^T * scale, masked) v, computed block by block.

    Args:
        q, k, v: [B, T, H, K] in the compute dtype.
        key_mask: [B, T] bool, True for keys that may be attended to.
        scale: logit scale (1/sqrt(K)).
        query_block: query rows per block (Q).
        key_block: key columns per block (C).

    Returns:
        [B, T, H, K] in q's dtype.
    """
    b, t, h, kd = q.shape
    qb, kb = block_sizes(t, query_block=query_block, key_block=key_block)
    nq, nk = -(-t // qb), -(-t // kb)
    # [B, H, T, K]: the layout both matmuls want; padded to whole blocks
    qh = _pad_tokens(q, nq * qb).transpose(0, 2, 1, 3)
    kh = _pad_tokens(k, nk * kb).transpose(0, 2, 1, 3)
    vh = _pad_tokens(v, nk * kb).transpose(0, 2, 1, 3)
    mask = _pad_tokens(key_mask, nk * kb)  # pads are False
    # [nK, B, H, C, K] and [nK, B, C]: scanned over the leading axis
    k_blocks = kh.reshape(b, h, nk, kb, kd).transpose(2, 0, 1, 3, 4)
    vh = jnp.concatenate([vh, jnp.ones((b, h, nk * kb, 1), vh.dtype)], axis=-1)
    v_blocks = vh.reshape(b, h, nk, kb, kd + 1).transpose(2, 0, 1, 3, 4)
    m_blocks = mask.reshape(b, nk, kb).transpose(1, 0, 2)
    q_blocks = qh.reshape(b, h, nq, qb, kd).transpose(2, 0, 1, 3, 4)  # [nQ, B, H, Q, K]

    def one_query_block(qc: jax.Array) -> jax.Array:  # [B, H, Q, K] -> [B, H, Q, K]
        def fold(carry, block):
            m_old, acc = carry  # acc [B, H, Q, K + 1]: weighted values, then the normaliser
            kc, vc, mc = block
            s = jnp.einsum("bhqd,bhcd->bhqc", qc, kc, preferred_element_type=F32) * scale
            s = jnp.where(mc[:, None, None, :], s, -jnp.inf)
            m_new = jnp.maximum(m_old, s.max(axis=-1))  # [B, H, Q]
            # rows with no valid key yet: subtract 0 so exp(-inf) = 0, never inf - inf
            m_safe = jnp.where(jnp.isfinite(m_new), m_new, 0.0)
            p = jnp.exp(s - m_safe[..., None]).astype(vc.dtype)
            corr = jnp.exp(m_old - m_safe)
            # the normaliser comes out of the matmul (V has a ones column): a fused sum
            # would round differently with the batch size, and a row's bits must depend on
            # its own tokens only (dedup and the plain run store the same bytes)
            pv = jnp.einsum("bhqc,bhcd->bhqd", p, vc, preferred_element_type=F32)
            return (m_new, acc * corr[..., None] + pv), None

        init = (jnp.full((b, h, qb), -jnp.inf, F32), jnp.zeros((b, h, qb, kd + 1), F32))
        if nk == 1:  # one key block: no scan (a plain softmax, the common short case)
            (_, acc), _ = fold(init, (k_blocks[0], v_blocks[0], m_blocks[0]))
        else:
            (_, acc), _ = jax.lax.scan(fold, init, (k_blocks, v_blocks, m_blocks))
        return (acc[..., :kd] / acc[..., kd:]).astype(q.dtype)

    if nq == 1:
        out = one_query_block(q_blocks[0])[None]
    else:
        out = jax.lax.map(one_query_block, q_blocks)  # [nQ, B, H, Q, K]
    out = out.transpose(1, 0, 3, 2, 4).reshape(b, nq * qb, h, kd)  # [B, T', H, K]
    return out[:, :t]
