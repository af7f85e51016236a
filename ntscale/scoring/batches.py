"""Fixed-shape batches of planned passes, and their reduced outputs back into `PassResult`s.

Passes are grouped by what they return (embeddings?, SNV table?, token embeddings?): one
compiled program per group. Inside a group, passes are sorted by token length and cut into
batches of `batch_size` rows, the tokens padded to a `bucket_length` bucket and the number
of pooled token sets per row to a power of two, so that only a few shapes ever compile.
The last batch of a group is not padded to `batch_size` rows but to the next power of two
(`batch_rows`, at least 2): padded rows run in full on the device, so a unit wastes at
most half a small batch (or one row) instead of up to B - 1 rows.
Pure numpy: the runner sends each batch through the model (`ntscale.model.compiled`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ntscale.scoring.passes import Pass, PassResult


@dataclass(frozen=True)
class Flavour:
    """What a group of passes returns (one compiled program each)."""

    embed: bool  # mean embeddings and pooled token sets
    table: bool  # the SNV table (logits)
    token_embeddings: bool  # every token's embedding


@dataclass(frozen=True)
class PassBatch:
    """One batch: which passes fill its rows and the padded device inputs.

    Attributes:
        flavour: what the batch's passes return.
        members: indices into the planned passes, one per filled row (<= batch size).
        tokens: [B, T] int32, rows past `members` all <pad>; B is `batch_rows(len(members))`.
        weights: [B, G, T] float32 token-pooling weights (`flavour.embed`), else None.
        table_tokens: [B, T] int32 ids the SNV table substitutes into (`flavour.table`).
    """

    flavour: Flavour
    members: tuple[int, ...]
    tokens: np.ndarray
    weights: np.ndarray | None
    table_tokens: np.ndarray | None

    @property
    def device_rows(self) -> int:
        """Rows the device runs for this batch (members plus padding rows)."""
        return int(self.tokens.shape[0])


def batch_rows(n_rows: int, batch_size: int) -> int:
    """Device rows of a batch holding `n_rows` sequences: the next power of two, at least 2,
    or `batch_size` itself when that is smaller; `batch_size` rows for a full batch.

    A few row counts per token length (2, 4, ..., B) keep compiled programs few while the
    padding rows, which cost as much as real ones, stay under half of a short batch. Never
    1 row unless the batch size is 1: XLA compiles a batch of one differently (the batch
    axis drops out) and a row's bits then differ in the last place from the same row in a
    larger batch, while dedup and resume rely on a row's bits depending on its tokens only.

    Raises:
        ValueError: `n_rows` outside 1..batch_size.
    """
    if not 1 <= n_rows <= batch_size:
        raise ValueError(f"n_rows must be in 1..{batch_size}, got {n_rows}")
    return min(max(1 << (n_rows - 1).bit_length(), 2), batch_size)


def pool_slots(n_pools: int) -> int:
    """Pooled token sets per row for a batch whose largest row has `n_pools`: a power of
    two (at least 1), so the weights' shape takes few values."""
    return 1 << (max(n_pools, 1) - 1).bit_length()


def pack_passes(
    passes: list[Pass], *, batch_size: int, pad_id: int, max_tokens: int
) -> Iterator[PassBatch]:
    """The batches that run `passes`, grouped by flavour (first use first), short first;
    made one at a time, so a unit's padded inputs are never all held at once."""
    from ntscale.model.compiled import bucket_length

    groups: dict[Flavour, list[int]] = {}
    for i, p in enumerate(passes):
        groups.setdefault(Flavour(p.embed, p.table, p.token_embeddings), []).append(i)
    for flavour, ids in groups.items():
        ids.sort(key=lambda i: len(passes[i].tokens))
        for k in range(0, len(ids), batch_size):
            chunk = ids[k : k + batch_size]
            B = batch_rows(len(chunk), batch_size)
            T = bucket_length(max(len(passes[i].tokens) for i in chunk), max_tokens)
            tokens = np.full((B, T), pad_id, np.int32)
            weights = table_tokens = None
            if flavour.embed:
                G = pool_slots(max(len(passes[i].pools) for i in chunk))
                weights = np.zeros((B, G, T), np.float32)
            if flavour.table:
                table_tokens = np.full((B, T), pad_id, np.int32)
            for j, i in enumerate(chunk):
                p = passes[i]
                tokens[j, : len(p.tokens)] = p.tokens
                if table_tokens is not None:
                    ref = p.tokens if p.table_tokens is None else p.table_tokens
                    table_tokens[j, : len(ref)] = ref
                for g, w in enumerate(p.pools):
                    weights[j, g, : len(w)] = w
            yield PassBatch(flavour, tuple(chunk), tokens, weights, table_tokens)


def unpack_batch(batch: PassBatch, out: dict, passes: list[Pass]) -> list[PassResult]:
    """One `PassResult` per member of `batch` from its reduced outputs (`reduce_outputs`),
    keeping only what each pass asked for."""
    results = []
    for j, i in enumerate(batch.members):
        p = passes[i]
        res = PassResult()
        if batch.flavour.embed:
            n = len(p.pools)
            res.mean = {L: np.asarray(v[j]) for L, v in out["mean"].items()}
            res.pooled = {L: np.asarray(v[j, :n]) for L, v in out["pooled"].items()}
        if batch.flavour.token_embeddings:
            m = len(p.tokens)
            res.tokens = {L: np.asarray(v[j, :m]) for L, v in out["tokens"].items()}
        if batch.flavour.table:
            res.table = {t: np.asarray(out["table"][j, t]) for t in p.table_rows}
            if p.table_tokens is not None:
                res.masked_logp = np.asarray(out["masked_logp"][j])
            if p.full_table:
                res.full_table = np.asarray(out["table"][j, : len(p.tokens)])
        results.append(res)
    return results


__all__ = ["Flavour", "PassBatch", "batch_rows", "pack_passes", "pool_slots", "unpack_batch"]
