"""Variant score analysis out of core: distributions by status and type, top variants, and
scores along the genome.

A score is a lazy [N] dask array (one chunk per work unit); the per-variant coordinates
(contig, pos, ref, alt, status) are numpy. Groups are numpy masks, so every statistic is a
dask reduction over the selected rows; only summaries, histograms and the top rows come back.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from ntscale.errors import InputError

VARIANT_TYPES = ("SNV", "indel", "MNV", "other")


def score_names(ds: xr.Dataset) -> list[str]:
    """Names of the store's scores (`score_<name>` variables), in store order."""
    return [str(v)[len("score_") :] for v in ds.data_vars if str(v).startswith("score_")]


def variant_types(ds: xr.Dataset) -> np.ndarray:
    """[N] type of each variant row: SNV, indel (lengths differ), MNV (same length > 1),
    or other (no ALT, symbolic alleles)."""
    ref = np.asarray(ds["variant_ref"].values, dtype=str)
    alt = np.asarray(ds["variant_alt"].values, dtype=str)
    ref_len = np.char.str_len(ref)
    alt_len = np.char.str_len(alt)
    plain = (ref_len > 0) & (alt_len > 0) & ~np.char.startswith(alt, "<")
    plain &= np.char.isalpha(alt) & np.char.isalpha(ref)
    kind = np.full(ref.shape, "other", dtype=object)
    kind[plain & (ref_len == 1) & (alt_len == 1)] = "SNV"
    kind[plain & (ref_len != alt_len)] = "indel"
    kind[plain & (ref_len == alt_len) & (ref_len > 1)] = "MNV"
    return kind.astype(str)


def variant_status_labels(ds: xr.Dataset) -> np.ndarray:
    """[N] status name of each variant row (the store keeps the names)."""
    return np.asarray(np.asarray(ds["variant_status"].values).tolist(), dtype=str)


def status_counts(ds: xr.Dataset) -> dict[str, int]:
    """Variant rows per status name."""
    labels, counts = np.unique(variant_status_labels(ds), return_counts=True)
    return {str(s): int(k) for s, k in zip(labels, counts, strict=True)}


def _score(ds: xr.Dataset, name: str) -> da.Array:
    key = f"score_{name}"
    if key not in ds:
        raise InputError(f"score {name!r} is not in the store; it has {score_names(ds)}")
    return ds[key].data.astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class ScoreDistribution:
    """Distribution of one score in groups of variants (by status or by type).

    Attributes:
        score: the score's name.
        bin_edges: [B+1] common histogram edges over the finite values of all rows.
        stats: one row per group: n (rows), n_finite, mean, std (ddof=1), min, max.
        histograms: group -> [B] counts of finite values.
    """

    score: str
    bin_edges: np.ndarray
    stats: pd.DataFrame
    histograms: dict[str, np.ndarray]


def score_distribution(
    ds: xr.Dataset, name: str, groups: np.ndarray, *, bins: int = 40
) -> ScoreDistribution:
    """Summary statistics and histograms of score `name` per group label.

    Args:
        ds: a variant store.
        name: score name (without the `score_` prefix).
        groups: [N] group label of every row (e.g. `variant_types(ds)`).
        bins: histogram bins.
    """
    x = _score(ds, name)
    finite = da.isfinite(x)
    lo, hi, n_all = dask.compute(
        da.where(finite, x, np.inf).min(), da.where(finite, x, -np.inf).max(), finite.sum()
    )
    if n_all == 0:
        lo, hi = 0.0, 1.0
    elif lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    labels = list(dict.fromkeys(np.asarray(groups).tolist()))
    lazy = {}
    for label in labels:
        rows = np.flatnonzero(np.asarray(groups) == label)
        xs = x[rows]
        ok = da.isfinite(xs)
        n_ok = ok.sum()
        zeroed = da.where(ok, xs, 0.0)
        total = zeroed.sum()
        sq = (zeroed**2).sum()
        lazy[label] = (
            n_ok,
            total,
            sq,
            da.where(ok, xs, np.inf).min(),
            da.where(ok, xs, -np.inf).max(),
            da.histogram(da.where(ok, xs, np.inf), bins=edges)[0],
            len(rows),
        )
    (computed,) = dask.compute(lazy)
    rows_out, hists = [], {}
    for label in labels:
        n_ok, total, sq, mn, mx, hist, n = computed[label]
        n_ok = int(n_ok)
        mean = total / n_ok if n_ok else np.nan
        var = (sq - n_ok * mean**2) / (n_ok - 1) if n_ok > 1 else np.nan
        rows_out.append(
            {
                "group": label,
                "n": n,
                "n_finite": n_ok,
                "mean": mean,
                "std": float(np.sqrt(max(var, 0.0))) if n_ok > 1 else np.nan,
                "min": float(mn) if n_ok else np.nan,
                "max": float(mx) if n_ok else np.nan,
            }
        )
        hists[label] = np.asarray(hist)
    stats = pd.DataFrame(rows_out).set_index("group")
    return ScoreDistribution(score=name, bin_edges=edges, stats=stats, histograms=hists)


def _block_top(key: np.ndarray, start: int, k: int) -> np.ndarray:
    """[2, <=k] (key, row) of the block's largest finite keys."""
    rows = np.flatnonzero(np.isfinite(key))
    if rows.size > k:
        rows = rows[np.argpartition(-key[rows], k - 1)[:k]]
    return np.stack([key[rows], (rows + start).astype(np.float64)])


def top_variants(ds: xr.Dataset, name: str, *, n: int = 20, by: str = "abs") -> pd.DataFrame:
    """The `n` variants with the largest score (`by`: 'abs' |score|, 'max' or 'min').

    Returns:
        DataFrame (rank order) with row, contig, pos (0-based), pos1 (VCF), id, ref, alt,
        type, status and the score; NaN scores are never selected.
    """
    if by not in ("abs", "max", "min"):
        raise InputError(f"top_variants by={by!r}: use 'abs', 'max' or 'min'")
    x = _score(ds, name)
    key = {"abs": abs(x), "max": x, "min": -x}[by]
    k = int(min(n, x.shape[0]))
    if k == 0:
        return pd.DataFrame()
    # Each block keeps its own top k (with row numbers); the driver merges the small lists.
    starts = np.cumsum((0, *x.chunks[0][:-1]))
    parts = [
        dask.delayed(_block_top)(block, int(start), k)
        for block, start in zip(key.to_delayed().ravel(), starts, strict=True)
    ]
    merged = np.concatenate(dask.compute(*parts), axis=1)
    order = np.lexsort((merged[1], -merged[0]))[:k]  # largest key first, ties by row
    keep = np.isfinite(merged[0, order])
    idx = merged[1, order][keep].astype(np.int64)
    values = x[idx].compute() if idx.size else np.zeros(0)
    return pd.DataFrame(
        {
            "row": idx,
            "contig": np.asarray(ds["variant_contig"].values)[idx],
            "pos": np.asarray(ds["variant_pos"].values)[idx],
            "pos1": np.asarray(ds["variant_pos"].values)[idx] + 1,
            "id": np.asarray(ds["variant_id"].values)[idx],
            "ref": np.asarray(ds["variant_ref"].values)[idx],
            "alt": np.asarray(ds["variant_alt"].values)[idx],
            "type": variant_types(ds)[idx],
            "status": variant_status_labels(ds)[idx],
            name: values,
        }
    )


def _block_max(values: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    out = np.full(n_bins, -np.inf)
    ok = np.isfinite(values)
    np.maximum.at(out, bins[ok], np.abs(values[ok]))
    return out[None, :]


def scores_along_genome(ds: xr.Dataset, name: str, *, n_bins: int = 200) -> pd.DataFrame:
    """Score `name` in equal bins along the concatenated contigs that hold variants.

    Each contig contributes the span from its first to its last variant, in store order.

    Returns:
        One row per bin with variants: contig, start, end (0-based, on the contig),
        genome_start (offset along the concatenation), n (finite scores), mean and
        max_abs of the score.
    """
    x = _score(ds, name)
    contig = np.asarray(ds["variant_contig"].values)
    pos = np.asarray(ds["variant_pos"].values)
    order = [str(c) for c, _ in ds.attrs.get("contigs", [])]
    order += [c for c in dict.fromkeys(contig.tolist()) if c and c not in order]
    # Each contig contributes the span of its variants, so bins stay fine on small inputs.
    first, lengths = {}, {}
    for c in order:
        rows = (contig == c) & (pos >= 0)
        if rows.any():
            first[c] = int(pos[rows].min())
            lengths[c] = int(pos[rows].max()) - first[c] + 1
    used = list(lengths)
    if not used:
        return pd.DataFrame(columns=["contig", "start", "end", "genome_start", "n", "mean"])
    offsets = dict(zip(used, np.cumsum([0] + [lengths[c] for c in used[:-1]]), strict=True))
    total_bp = sum(lengths.values())
    bin_bp = max(1, int(np.ceil(total_bp / n_bins)))
    shift = {c: offsets[c] - first[c] for c in used}
    genome_pos = np.array([shift.get(c, 0) for c in contig], dtype=np.int64) + pos
    valid = np.isin(contig, used) & (pos >= 0)
    bins = np.where(valid, genome_pos // bin_bp, n_bins)  # bin n_bins: rows to leave out
    bins_d = da.from_array(np.minimum(bins, n_bins), chunks=x.chunks)
    ok = da.isfinite(x) & da.from_array(valid, chunks=x.chunks)
    counts = da.bincount(bins_d, weights=ok.astype(np.float64), minlength=n_bins + 1)
    sums = da.bincount(bins_d, weights=da.where(ok, x, 0.0), minlength=n_bins + 1)
    # Per-bin max per block (one small task each), then the max over blocks.
    block_max = dask.delayed(_block_max)
    parts = [
        da.from_delayed(block_max(xb, bb, n_bins + 1), shape=(1, n_bins + 1), dtype=np.float64)
        for xb, bb in zip(
            da.where(ok, x, np.nan).to_delayed().ravel(), bins_d.to_delayed().ravel(), strict=True
        )
    ]
    maxes = da.concatenate(parts).max(axis=0)
    counts, sums, maxes = dask.compute(counts, sums, maxes)
    rows = []
    for b in np.flatnonzero(counts[:n_bins] > 0):
        g0 = int(b) * bin_bp
        c = next(c for c in reversed(used) if offsets[c] <= g0)
        start = first[c] + g0 - int(offsets[c])
        rows.append(
            {
                "contig": c,
                "start": start,
                "end": min(start + bin_bp, first[c] + lengths[c]),
                "genome_start": g0,
                "n": int(counts[b]),
                "mean": sums[b] / counts[b],
                "max_abs": float(maxes[b]),
            }
        )
    return pd.DataFrame(rows)
