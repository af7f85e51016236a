"""Reductions of model outputs to what variant scoring needs (numpy or jax.numpy).

These run on the device inside the jitted forward (so only small arrays are copied back)
and equally on numpy arrays in tests. Shapes: B batch, T tokens (CLS first), D embedding
dim, V vocabulary, G token sets pooled per row.

The SNV table is the heart of the LLR scores: for every token t and every base j inside
it, `table[b, t, j, d]` is log p(token t with base j replaced by letter BASES[d]) under
the model's distribution at t, a log-softmax over the FULL vocabulary (no renormalisation
over 6-mers). One table from one forward pass scores every possible SNV of the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ntscale.tokenizer.vocab import K

BASES = "ACGT"
"""Letter order of the last axis of the SNV table."""

_ATCG_DIGIT = {"A": 0, "T": 1, "C": 2, "G": 3}  # 6-mer id digits: product("ATCG") order


def _xp(x: Any) -> Any:
    if isinstance(x, np.ndarray | np.generic):
        return np
    import jax.numpy as jnp

    return jnp


def log_softmax(logits: Any) -> Any:
    """log-softmax over the last axis, in float32 ([..., V] -> [..., V])."""
    xp = _xp(logits)
    x = logits.astype(xp.float32)
    m = xp.max(x, axis=-1, keepdims=True)
    return x - (m + xp.log(xp.sum(xp.exp(x - m), axis=-1, keepdims=True)))


def snv_table(
    logits: Any, tokens: Any, *, kmer_offset: int, letter_ids: dict[str, int], k: int = K
) -> Any:
    """Log-probabilities of every single-base substitution of every token.

    Args:
        logits: [B, T, V] model logits.
        tokens: [B, T] token ids of the same rows.
        kmer_offset: id of the first 6-mer (ids are kmer_offset + index in product("ATCG")).
        letter_ids: single letter -> id (A, C, G, T used).
        k: bases per k-mer token (6; Codon-NT 3): the table is [B, T, k, 4].

    Returns:
        [B, T, 6, 4] float32 (k = 6): for a 6-mer token, [t, j, d] = log p(the 6-mer with base j
        set to BASES[d]); for a single-letter token (A/C/G/T), [t, 0, d] = log p(letter
        BASES[d]) and j > 0 is NaN; NaN for every other token (CLS, pad, mask, N).
    """
    xp = _xp(logits)
    logp = log_softmax(logits)  # [B, T, V]
    tok = tokens.astype(xp.int32)
    idx = tok - kmer_offset  # [B, T]
    is_kmer = (idx >= 0) & (idx < 4**k)
    idx = xp.where(is_kmer, idx, 0)
    weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int32)  # [k], first base most significant
    digits = (idx[..., None] // weights) % 4  # [B, T, 6]
    new = np.array([_ATCG_DIGIT[b] for b in BASES], dtype=np.int32)  # [4]
    ids = (
        idx[..., None, None]
        + (new[None, None, None, :] - digits[..., None]) * weights[None, None, :, None]
    )  # [B, T, 6, 4]
    b, t = tok.shape
    kmer_lp = xp.take_along_axis(logp, (ids + kmer_offset).reshape(b, t, k * 4), axis=-1).reshape(
        b, t, k, 4
    )

    letters = np.array([letter_ids[x] for x in BASES], dtype=np.int32)  # [4]
    is_letter = xp.any(tok[..., None] == letters, axis=-1)  # [B, T]
    letter_lp = logp[..., letters]  # [B, T, 4]
    nan = xp.float32(np.nan)
    first = xp.where(is_letter[..., None], letter_lp, nan)[..., None, :]  # [B, T, 1, 4]
    rest = xp.full((b, t, k - 1, 4), nan, dtype=xp.float32)
    letter_table = xp.concatenate([first, rest], axis=2)
    return xp.where(is_kmer[..., None, None], kmer_lp, letter_table).astype(xp.float32)


def sequence_mask(tokens: Any, *, pad_id: int, cls_id: int) -> Any:
    """[B, T] float32: 1 for sequence tokens, 0 for CLS and padding."""
    xp = _xp(tokens)
    return ((tokens != pad_id) & (tokens != cls_id)).astype(xp.float32)


def mean_pool(embeddings: Any, tokens: Any, *, pad_id: int, cls_id: int) -> Any:
    """Mean of the sequence tokens' embeddings ([B, T, D] -> [B, D]; CLS and pads excluded)."""
    xp = _xp(embeddings)
    keep = sequence_mask(tokens, pad_id=pad_id, cls_id=cls_id)[..., None]  # [B, T, 1]
    count = xp.maximum(keep.sum(axis=1), 1.0)  # [B, 1]
    return (embeddings.astype(xp.float32) * keep).sum(axis=1) / count


def weighted_pool(embeddings: Any, weights: Any) -> Any:
    """G weighted sums of token embeddings per row ([B, T, D], [B, G, T] -> [B, G, D]).

    With weights 1/n on the n tokens covering a variant (0 elsewhere) this is the mean
    embedding of those tokens.
    """
    xp = _xp(embeddings)
    return xp.einsum("bgt,btd->bgd", weights.astype(xp.float32), embeddings.astype(xp.float32))


def reduce_outputs(
    outputs: dict[str, Any],
    tokens: Any,
    weights: Any | None,
    *,
    pad_id: int,
    cls_id: int,
    kmer_offset: int,
    letter_ids: dict[str, int],
    table: bool,
    mask_id: int = 2,
    table_tokens: Any | None = None,
    token_embeddings: bool = False,
    k: int = K,
) -> dict[str, Any]:
    """Everything scoring reads from one batch of forward passes.

    Args:
        outputs: {"embeddings": {layer: [B, T, D]}, "logits": [B, T, V] (if table)}.
        tokens: [B, T] ids.
        weights: [B, G, T] token-pooling weights, or None (no variant-token pooling).
        table: whether to build the SNV table from the logits.
        table_tokens: [B, T] ids the table substitutes into (default `tokens`): the
            unmasked reference tokens when a token was replaced by <mask>.
        token_embeddings: also return every token's embedding (float32), for the
            flattened token x dim distances, which compare two windows token by token.

    Returns:
        {"mean": {layer: [B, D]}, "pooled": {layer: [B, G, D]} (if weights),
        "tokens": {layer: [B, T, D]} (if token_embeddings), "table": [B, T, 6, 4] and
        "masked_logp": [B, V] (log-probabilities at the <mask> token) (if table)}.
    """
    out: dict[str, Any] = {"mean": {}, "pooled": {}, "tokens": {}}
    for layer, emb in outputs["embeddings"].items():
        out["mean"][layer] = mean_pool(emb, tokens, pad_id=pad_id, cls_id=cls_id)
        if token_embeddings:
            out["tokens"][layer] = emb.astype(_xp(emb).float32)
        if weights is not None:
            out["pooled"][layer] = weighted_pool(emb, weights)
    if table:
        # the full log-probability row of the <mask> token (CLS row if none is masked):
        # scores any 6-mer at a masked token, e.g. an MNV inside one 6-mer
        xp = _xp(tokens)
        at = xp.argmax(tokens == mask_id, axis=-1)  # [B]
        rows = xp.take_along_axis(outputs["logits"], at[:, None, None], axis=1)[:, 0]
        out["masked_logp"] = log_softmax(rows)  # [B, V]
        out["table"] = snv_table(
            outputs["logits"],
            tokens if table_tokens is None else table_tokens,
            kmer_offset=kmer_offset,
            letter_ids=letter_ids,
            k=k,
        )
    return out


@dataclass(frozen=True, kw_only=True)
class WindowPooling:
    """Post-function of `ntscale embed` (`post(outputs, tokens)`): what the store keeps of
    each window, reduced on the device, as kind -> one array with the layers stacked on
    axis 1 in `layers` order (L = len(layers)): "mean" [B, L, D] float32, "cls" [B, L, D]
    float32 (if `cls`), "tokens" [B, L, T, D] float16 (if `per_token`). Frozen, so equal
    settings share one compiled program (`NTModel.compiled` caches by value)."""

    layers: tuple[int, ...]
    pad_id: int
    cls_id: int
    cls: bool = False
    per_token: bool = False

    def __call__(self, outputs: dict[str, Any], tokens: Any) -> dict[str, Any]:
        """{kind: [B, L, ...]} of `outputs["embeddings"]` ({layer: [B, T, D]}), [B, T] tokens."""
        xp = _xp(tokens)
        embs = [outputs["embeddings"][layer] for layer in self.layers]  # L x [B, T, D]
        result = {
            "mean": xp.stack(
                [mean_pool(e, tokens, pad_id=self.pad_id, cls_id=self.cls_id) for e in embs],
                axis=1,
            )
        }
        if self.cls:
            result["cls"] = xp.stack([e[:, 0, :].astype(xp.float32) for e in embs], axis=1)
        if self.per_token:
            result["tokens"] = xp.stack([e.astype(xp.float16) for e in embs], axis=1)
        return result


@dataclass(frozen=True, kw_only=True)
class ScoringReduction:
    """Post-function of the scoring passes (`post(outputs, tokens, weights, table_tokens)`):
    `reduce_outputs` with a tokenizer's ids fixed. Frozen, so equal settings share one
    compiled program."""

    pad_id: int
    cls_id: int
    mask_id: int
    kmer_offset: int
    letter_ids: tuple[tuple[str, int], ...]
    table: bool
    token_embeddings: bool = False
    k: int = K

    @classmethod
    def for_tokenizer(
        cls, tok: Any, *, table: bool, token_embeddings: bool = False
    ) -> ScoringReduction:
        """The reduction for a tokenizer's special ids (`ntscale.tokenizer`)."""
        return cls(
            pad_id=tok.pad_id,
            cls_id=tok.cls_id,
            mask_id=tok.mask_id,
            kmer_offset=int(tok.kmer_ids[0]),
            letter_ids=tuple(sorted(dict(tok.letter_ids).items())),
            table=table,
            token_embeddings=token_embeddings,
            k=int(getattr(tok, "k", K)),
        )

    def __call__(
        self, outputs: dict[str, Any], tokens: Any, weights: Any, table_tokens: Any
    ) -> dict[str, Any]:
        return reduce_outputs(
            outputs,
            tokens,
            weights,
            pad_id=self.pad_id,
            cls_id=self.cls_id,
            mask_id=self.mask_id,
            kmer_offset=self.kmer_offset,
            letter_ids=dict(self.letter_ids),
            table=self.table,
            table_tokens=table_tokens,
            token_embeddings=self.token_embeddings,
            k=self.k,
        )
