"""Memory-efficient ("chunked") self-attention for backends without a fused kernel.

Shapes: B batch, T tokens, H heads, K key size, Q query block, C key block.

XLA's `jax.nn.dot_product_attention` on CPU (and on GPU when cuDNN is not used)
materialises the whole score tensor [B, H, T, T] in float32, several times over (scores,
mask, softmax): 7 GB at 2,048 tokens x batch 8 with 16 heads. Here queries are split into
blocks of Q rows (`lax.map`, one block live at a time) and, inside a block, keys into blocks
of C columns folded with an online softmax (`lax.scan`, the flash-attention recurrence):
only the scores of one block are live. Scores, the running max and the normaliser are
float32; the probabilities are cast to V's dtype before the second matmul, as XLA's
implementation does, so float32 results agree with it to rounding. The normaliser is a
column of that matmul (V gets a ones column) rather than a separate sum: XLA's CPU fusions
round a fused sum differently with the batch size, and a row's bits must not depend on how
many rows share its batch (dedup and short last batches rely on it;
`tests/model/test_attention.py`).

Two schedules of the same arithmetic:
- "chunked": one block holds every row and head, [B, H, Q, C] scores: few, large
  operations, what accelerators want.
- "headwise": one block holds one head of one row, [Q, C] scores, and a loop runs over rows,
  heads and query blocks. On CPU this keeps the scores in cache between the two matmuls and
  the softmax: the attention core runs 1.25-2.3x faster than "chunked" on the project's
  2-core AVX-512 VM (docs/benchmarks.md, "Head-wise attention on CPU").

Masked keys (pads, and the padding added to reach a whole number of blocks) get -inf; a
block where every key so far is masked keeps a zero contribution instead of NaN. Callers
guarantee each row has at least one valid key (`NucleotideTransformer` does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

F32 = jnp.float32

QUERY_BLOCK = 256
"""Default query rows per block of the "chunked" schedule (measured at 2,048 tokens x 8, 1
layer of 12 x 512: 256 x 512 blocks peak at 0.87 GB against 1.29 GB for 512 x 1,024, at no
measurable speed cost)."""
KEY_BLOCK = 512
"""Default key columns per block of the "chunked" schedule (the online softmax folds blocks
of this width)."""
HEAD_SCORES = 1 << 20
"""Score elements per block of the "headwise" schedule (4 MB in float32): the query block is
this over the key block, 128-1,024 rows (1,024 x 1,024 and 512 x 2,048 were the fastest of
128-1,024 rows at 1,024 and 2,048 tokens), evened out so T splits without padding where it
can."""
HEAD_KEY_BLOCK = 2048
"""Default key columns per block of the "headwise" schedule: 12 kb windows (2,048 tokens)
take one block, longer contexts (NTv3) fold blocks with the online softmax."""


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


def _even_blocks(t: int, widest: int) -> int:
    """The block size that splits t into as few blocks as blocks of `widest` would, evenly
    (1,500 tokens in 512-row blocks: 3 blocks of 500, not 1,536 rows with 36 padded)."""
    n = -(-t // widest)
    return -(-t // n)


def _attend_query_block(
    qc: jax.Array, k_blocks: jax.Array, v_blocks: jax.Array, m_blocks: jax.Array, scale: float
) -> jax.Array:
    """One query block against every key block: qc [b, h, Q, K], k_blocks [nK, b, h, C, K],
    v_blocks [nK, b, h, C, K + 1] (last column ones), m_blocks [nK, b, C] -> [b, h, Q, K]."""
    b, h, qb, kd = qc.shape

    def fold(carry, block):
        m_old, acc = carry  # acc [b, h, Q, K + 1]: weighted values, then the normaliser
        kc, vc, mc = block
        s = jnp.einsum("bhqd,bhcd->bhqc", qc, kc, preferred_element_type=F32) * scale
        s = jnp.where(mc[:, None, None, :], s, -jnp.inf)
        m_new = jnp.maximum(m_old, s.max(axis=-1))  # [b, h, Q]
        # rows with no valid key yet: subtract 0 so exp(-inf) = 0, never inf - inf
        m_safe = jnp.where(jnp.isfinite(m_new), m_new, 0.0)
        p = jnp.exp(s - m_safe[..., None]).astype(vc.dtype)
        corr = jnp.exp(m_old - m_safe)
        # the normaliser comes out of the matmul (V has a ones column): a fused sum would
        # round differently with the batch size, and a row's bits must depend on its own
        # tokens only (dedup and the plain run store the same bytes)
        pv = jnp.einsum("bhqc,bhcd->bhqd", p, vc, preferred_element_type=F32)
        return (m_new, acc * corr[..., None] + pv), None

    init = (jnp.full((b, h, qb), -jnp.inf, F32), jnp.zeros((b, h, qb, kd + 1), F32))
    if k_blocks.shape[0] == 1:  # one key block: no scan (a plain softmax, the common case)
        (_, acc), _ = fold(init, (k_blocks[0], v_blocks[0], m_blocks[0]))
    else:
        (_, acc), _ = jax.lax.scan(fold, init, (k_blocks, v_blocks, m_blocks))
    return (acc[..., :kd] / acc[..., kd:]).astype(qc.dtype)


def _map_query_blocks(
    q_blocks: jax.Array, k_blocks: jax.Array, v_blocks: jax.Array, m_blocks: jax.Array, scale
) -> jax.Array:
    """Every query block of q_blocks [nQ, b, h, Q, K] -> [nQ, b, h, Q, K]."""
    if q_blocks.shape[0] == 1:
        return _attend_query_block(q_blocks[0], k_blocks, v_blocks, m_blocks, scale)[None]
    return jax.lax.map(
        lambda qc: _attend_query_block(qc, k_blocks, v_blocks, m_blocks, scale), q_blocks
    )


def chunked_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    key_mask: jax.Array,
    scale: float,
    query_block: int | None = None,
    key_block: int | None = None,
    headwise: bool = False,
) -> jax.Array:
    """Softmax(q k^T * scale, masked) v, computed block by block.

    Args:
        q, k, v: [B, T, H, K] in the compute dtype.
        key_mask: [B, T] bool, True for keys that may be attended to.
        scale: logit scale (1/sqrt(K)).
        query_block: query rows per block (Q; default by schedule).
        key_block: key columns per block (C; default by schedule).
        headwise: the "headwise" schedule (one head of one row per block, the CPU's) instead
            of "chunked" (all rows and heads in each block); the same arithmetic.

    Returns:
        [B, T, H, K] in q's dtype.
    """
    b, t, h, kd = q.shape
    if headwise:
        key_block = key_block or _even_blocks(t, HEAD_KEY_BLOCK)
        query_block = query_block or _even_blocks(
            t, min(1024, max(128, HEAD_SCORES // min(key_block, t)))
        )
    qb, kb = block_sizes(
        t, query_block=query_block or QUERY_BLOCK, key_block=key_block or KEY_BLOCK
    )
    nq, nk = -(-t // qb), -(-t // kb)
    # [B, H, T, K]: the layout both matmuls want; padded to whole blocks
    qh = _pad_tokens(q, nq * qb).transpose(0, 2, 1, 3)
    kh = _pad_tokens(k, nk * kb).transpose(0, 2, 1, 3)
    vh = _pad_tokens(v, nk * kb).transpose(0, 2, 1, 3)
    vh = jnp.concatenate([vh, jnp.ones((b, h, nk * kb, 1), vh.dtype)], axis=-1)
    mask = _pad_tokens(key_mask, nk * kb)  # pads are False

    def blocks(qx, kx, vx, mx):  # [b', h', T', ...] -> the block stacks of one group
        bb, hh = qx.shape[:2]
        return (
            qx.reshape(bb, hh, nq, qb, kd).transpose(2, 0, 1, 3, 4),  # [nQ, b', h', Q, K]
            kx.reshape(bb, hh, nk, kb, kd).transpose(2, 0, 1, 3, 4),  # [nK, b', h', C, K]
            vx.reshape(bb, hh, nk, kb, kd + 1).transpose(2, 0, 1, 3, 4),
            mx.reshape(bb, nk, kb).transpose(1, 0, 2),  # [nK, b', C]
        )

    if headwise:
        mask_h = jnp.broadcast_to(mask[:, None], (b, h, nk * kb)).reshape(b * h, nk * kb)

        def one_head(item):  # one head of one row: [T', K], [T', K], [T', K + 1], [T']
            qx, kx, vx = (x[None, None] for x in item[:3])
            return _map_query_blocks(*blocks(qx, kx, vx, item[3][None]), scale)[:, 0, 0]

        flat = (x.reshape(b * h, *x.shape[2:]) for x in (qh, kh, vh))
        out = jax.lax.map(one_head, (*flat, mask_h))  # [B * H, nQ, Q, K]
        out = out.reshape(b, h, nq * qb, kd).transpose(0, 2, 1, 3)  # [B, T', H, K]
    else:
        out = _map_query_blocks(*blocks(qh, kh, vh, mask), scale)  # [nQ, B, H, Q, K]
        out = out.transpose(1, 0, 3, 2, 4).reshape(b, nq * qb, h, kd)  # [B, T', H, K]
    return out[:, :t]
