"""Planning the forward passes of a batch of variants, shared where possible, and
combining their reduced outputs into scores (host side, numpy only).

A variant on one strand (an `Item`) needs up to three passes: its reference window
(mean embeddings, variant-token pooling, and the SNV table for the wild-type LLR), its
alternative window (mean embeddings, variant-token pooling) and, for an SNV with the
masked marginal, its reference window with the SNV's token replaced by <mask> (SNV
table). Passes are keyed so that variants with the same reference window (or the same
masked token of it) run it once; each pass records which variant-token poolings and
which table rows its users read, so only those are kept.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from ntscale.scoring.scores import (
    aligned_l2,
    cosine_distance,
    flat_scores,
    l2_distance,
    snv_llr,
)
from ntscale.tokenizer.distinct import FirstIndex, token_digest


@dataclass
class Pass:
    """One forward pass: its tokens and what to read from it."""

    tokens: np.ndarray  # [n_tokens] int32, CLS first
    table_tokens: np.ndarray | None = None  # unmasked tokens of a masked pass
    embed: bool = False  # mean embeddings (+ pooled sets) needed
    table: bool = False  # SNV table needed
    token_embeddings: bool = False  # every token's embedding needed (flattened distances)
    full_table: bool = False  # the whole SNV table needed (calibration background)
    pools: list[np.ndarray] = field(default_factory=list)  # [n_tokens] weights each
    table_rows: set[int] = field(default_factory=set)  # token indices read from the table


@dataclass(frozen=True)
class Item:
    """One variant row on one strand and where its scores come from (-1 = none)."""

    row: int
    strand: int
    ref_pass: int
    ref_pool: int = -1
    alt_pass: int = -1
    alt_pool: int = -1
    masked_pass: int = -1
    token: int = -1  # SNV: token holding it in the reference window (CLS = 0)
    offset: int = -1  # SNV: base inside that token
    ref_base: str = ""  # SNV bases on this strand
    alt_base: str = ""
    ref_kmer: int = -1  # MNV inside one 6-mer: the ref and alt 6-mer ids at `token`
    alt_kmer: int = -1
    aligned: tuple | None = None  # (ref, alt) token indices of in-frame pairs


class PassPlan:
    """Forward passes of one work unit, deduplicated by their token content.

    With `by_content` (the default) a pass is keyed by the digest of its tokens (and of its
    table tokens), the same key `ntscale embed` uses for distinct windows: any two windows
    with equal ids share one pass, whatever their coordinates (a variant's alternative
    window equal to another's, a repeated tile, a duplicated record). Without it the
    caller's key alone decides (one pass per variant when the key holds the row).
    """

    def __init__(self, *, by_content: bool = True) -> None:
        self.passes: list[Pass] = []
        self.by_content = by_content
        self._index = FirstIndex()

    def add(
        self, key: Hashable, tokens: np.ndarray, *, table_tokens: np.ndarray | None = None
    ) -> int:
        """Id of the pass for `key` (or for the content of `tokens`), created on first use.

        `table_tokens` (a masked pass) are the unmasked ids the SNV table refers to.
        """
        if self.by_content:
            table = None if table_tokens is None else token_digest(table_tokens)
            key = ("content", token_digest(tokens), table)
        pid, new = self._index.add(key)
        if new:
            self.passes.append(Pass(tokens=np.asarray(tokens, np.int32), table_tokens=table_tokens))
        return pid

    def pool(self, pid: int, weights: np.ndarray) -> int:
        """Register a variant-token pooling on pass `pid`; returns its slot (shared if equal)."""
        p = self.passes[pid]
        p.embed = True
        for slot, w in enumerate(p.pools):
            if np.array_equal(w, weights):
                return slot
        p.pools.append(np.asarray(weights, np.float32))
        return len(p.pools) - 1

    def keep_tokens(self, pid: int) -> None:
        """Pass `pid` must return every token's embedding (flattened distances)."""
        p = self.passes[pid]
        p.embed = True
        p.token_embeddings = True

    def keep_table(self, pid: int) -> None:
        """Pass `pid` must return its whole SNV table (every SNV of the window)."""
        p = self.passes[pid]
        p.table = True
        p.full_table = True

    def read_table(self, pid: int, token: int) -> None:
        p = self.passes[pid]
        p.table = True
        p.table_rows.add(int(token))

    def __len__(self) -> int:
        return len(self.passes)


@dataclass
class PassResult:
    """What a pass returned: mean [D], pooled [G, D] and token embeddings [n_tokens, D]
    per layer, table rows [6, 4]."""

    mean: dict[int, np.ndarray] = field(default_factory=dict)
    pooled: dict[int, np.ndarray] = field(default_factory=dict)
    tokens: dict[int, np.ndarray] = field(default_factory=dict)
    table: dict[int, np.ndarray] = field(default_factory=dict)
    masked_logp: np.ndarray | None = None  # [V] log p at the <mask> token (masked passes)
    full_table: np.ndarray | None = None  # [n_tokens, 6, 4] (passes with full_table)


def combine_scores(
    items: list[Item],
    results: list[PassResult],
    *,
    n_rows: int,
    names: tuple[str, ...],
    layers: tuple[int, ...],
    strands: tuple[str, ...] = ("+",),
) -> dict[str, np.ndarray]:
    """Scores of every row: each strand's value, averaged over the row's strands.

    A name ending in `_fwd` / `_rev` (see `score_names(per_strand=True)`) takes the value
    of that strand alone.

    Args:
        items: every (row, strand) that was scored.
        results: one `PassResult` per pass of the plan.
        n_rows: rows of the unit (rows without items keep NaN).
        names: score names to fill (see `ntscale.scoring.score_names`).
        layers: layers of the distance scores.
        strands: the strands that `Item.strand` indexes.

    Returns:
        name -> [n_rows] float32.
    """
    suffix = {"+": "_fwd", "-": "_rev"}
    per_strand = [n for n in names if n.endswith(("_fwd", "_rev"))]
    averaged = [n for n in names if n not in per_strand]
    sums = {n: np.zeros(n_rows, np.float64) for n in averaged}
    single = {n: np.full(n_rows, np.nan, np.float32) for n in per_strand}
    counts = np.zeros(n_rows, np.int64)
    for it in items:
        counts[it.row] += 1
        values = _item_scores(it, results, averaged, layers)
        for n in averaged:
            sums[n][it.row] += values.get(n, np.nan)
        tail = suffix[strands[it.strand]]
        for n in per_strand:
            if n.endswith(tail):
                single[n][it.row] = values.get(n[: -len(tail)], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {n: np.where(counts > 0, sums[n] / counts, np.nan) for n in averaged}
    out = {n: v.astype(np.float32) for n, v in out.items()}
    out.update(single)
    return {n: out[n] for n in names}


def _llr(table_row: np.ndarray, offset: int, ref: str, alt: str) -> float:
    return snv_llr(table_row[None], 0, offset, ref, alt)  # table_row: [6, 4] of one token


def _item_scores(
    it: Item, results: list[PassResult], names: tuple[str, ...], layers: tuple[int, ...]
) -> dict[str, float]:
    out: dict[str, float] = {}
    ref = results[it.ref_pass]
    if it.ref_kmer >= 0:
        if "llr_masked" in names and it.masked_pass >= 0:
            row = results[it.masked_pass].masked_logp
            out["llr_masked"] = float(row[it.alt_kmer] - row[it.ref_kmer])
    elif it.token >= 0:
        if "llr_wt" in names:
            out["llr_wt"] = _llr(ref.table[it.token], it.offset, it.ref_base, it.alt_base)
        if "llr_masked" in names and it.masked_pass >= 0:
            masked = results[it.masked_pass].table[it.token]
            out["llr_masked"] = _llr(masked, it.offset, it.ref_base, it.alt_base)
    if it.alt_pass >= 0:
        alt = results[it.alt_pass]
        for layer in layers:
            pairs = {
                "mean": (ref.mean[layer], alt.mean[layer]),
                "variant": (ref.pooled[layer][it.ref_pool], alt.pooled[layer][it.alt_pool]),
            }
            for where, (x, y) in pairs.items():
                out[f"l2_{where}_layer_{layer}"] = float(l2_distance(x, y))
                out[f"cosine_{where}_layer_{layer}"] = float(cosine_distance(x, y))
            if layer in alt.tokens:
                flat = flat_scores(ref.tokens[layer], alt.tokens[layer])
                for metric, value in flat.items():
                    out[f"{metric}_flat_layer_{layer}"] = value
                if it.aligned is not None:
                    x, y = ref.tokens[layer], alt.tokens[layer]
                    out[f"l2_aligned_layer_{layer}"] = aligned_l2(x, y, it.aligned)
    return out


__all__ = ["Item", "Pass", "PassPlan", "PassResult", "combine_scores"]
