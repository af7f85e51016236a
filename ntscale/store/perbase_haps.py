"""Per-base haplotype values stored once per distinct window sequence (`segment --vcf`).

A base unit's values are cut into *segments*, one per window it runs (the rows of the unit
that window keeps). Per segment, each distinct haplotype window sequence has its lifted
values stored once on the `hap_row` axis; `hap_segment_row` [segment, haplotype] gives the
row of each haplotype's first value there, HAP_ROW_REFERENCE for a haplotype whose window
sequence is the reference's (its values are `perbase_values`, not copied) or HAP_ROW_NONE
(NaN). Unit `u` owns hap_row rows [u x R, (u+1) x R) and hap_segment rows [u x S, (u+1) x S)
(`StoreLayout.unit_hap_rows`, `base_hap_segments`): whole chunks, so writers are disjoint.

`haplotype_perbase` gives the [base, haplotype, track] view (lazy, dask; one task per unit
and block of haplotypes), `read_haplotype_rows` one haplotype's rows for the exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ntscale.errors import StoreError
from ntscale.store.schema import (
    BASE_VALUES,
    HAP_BASE_VALUES,
    HAP_ROW_COUNTS,
    HAP_ROW_REFERENCE,
    HAP_SEGMENT_END,
    HAP_SEGMENT_ROW,
    HAP_SEGMENT_START,
    StoreLayout,
)


@dataclass(frozen=True)
class HapSegments:
    """One base unit's haplotype values, each distinct window sequence's once.

    Attributes:
        start, end: int64 [s] base rows [start, end) of each segment (inside the unit).
        row: int64 [s, H] row in `values` of the haplotype's value at `start`;
            HAP_ROW_REFERENCE (the reference's values) or HAP_ROW_NONE (no value).
        values: [n, n_tracks] the distinct segments' values, one after the other.
    """

    start: np.ndarray
    end: np.ndarray
    row: np.ndarray
    values: np.ndarray


def unit_blocks(
    layout: StoreLayout, unit: int, segs: HapSegments
) -> list[tuple[str, slice, np.ndarray]]:
    """(array, rows, data) that unit `unit` writes for `segs`: checked, rows made global,
    padded to the unit's whole chunks (NaN values, -1 segments).

    Raises:
        StoreError: wrong shapes, more segments than reserved, a row out of range.
    """
    lo, hi = layout.base_rows(unit)
    h, n_tracks = layout.base_haplotypes, len(layout.track_names)
    start, end = np.asarray(segs.start, np.int64), np.asarray(segs.end, np.int64)
    row, values = np.asarray(segs.row, np.int64), np.asarray(segs.values)
    s, n = start.shape[0], values.shape[0]
    where = f"base unit {unit} (rows {lo}-{hi})"
    problems = []
    if end.shape != (s,) or row.shape != (s, h) or values.shape != (n, n_tracks):
        problems.append(
            f"shapes start {start.shape}, end {end.shape}, row {row.shape}, values "
            f"{values.shape}; expected (s,), (s,), (s, {h}), (n, {n_tracks})"
        )
    elif s > layout.base_hap_segments:
        problems.append(f"{s} segments, the unit has {layout.base_hap_segments}")
    elif s and ((start < lo).any() or (end > hi).any() or (end < start).any()):
        problems.append(f"a segment outside rows [{lo}, {hi})")
    elif s and (row >= 0).any() and (row + (end - start)[:, None])[row >= 0].max() > n:
        problems.append(f"a haplotype row past the {n} value rows")
    if (row < HAP_ROW_REFERENCE).any():
        problems.append(f"a row below {HAP_ROW_REFERENCE}")
    if problems:
        raise StoreError(f"{where}: haplotype segments: " + "; ".join(problems))
    r_lo, r_hi = layout.hap_rows(unit, n)
    s_lo, s_hi = layout.hap_segments(unit)
    padded = np.full((r_hi - r_lo, n_tracks), np.nan, layout.base_dtype)
    padded[:n] = values
    seg = np.full((s_hi - s_lo, 3), -1, np.int64)
    seg[:s, 0], seg[:s, 1] = start, end
    rows = np.full((s_hi - s_lo, h), -1, np.int64)
    rows[:s] = np.where(row >= 0, row + r_lo, row)
    return [
        (HAP_BASE_VALUES, slice(r_lo, r_hi), padded),
        (HAP_SEGMENT_START, slice(s_lo, s_hi), seg[:, 0]),
        (HAP_SEGMENT_END, slice(s_lo, s_hi), seg[:, 1]),
        (HAP_SEGMENT_ROW, slice(s_lo, s_hi), rows),
        (HAP_ROW_COUNTS, slice(unit, unit + 1), np.array([n], np.int64)),
    ]


def read_unit(group: object, layout: StoreLayout, unit: int, haps: np.ndarray) -> np.ndarray:
    """[unit rows, len(haps), n_tracks] values of haplotypes `haps` (indices) in unit
    `unit`, in the store's dtype: what the dense layout held (NaN: no value)."""
    lo, hi = layout.base_rows(unit)
    s_lo, s_hi = layout.hap_segments(unit)
    haps = np.asarray(haps, np.int64)
    start = np.asarray(group[HAP_SEGMENT_START][s_lo:s_hi])  # type: ignore[index]
    end = np.asarray(group[HAP_SEGMENT_END][s_lo:s_hi])  # type: ignore[index]
    rows = np.asarray(group[HAP_SEGMENT_ROW].oindex[s_lo:s_hi, haps])  # type: ignore[index]
    out = np.full((hi - lo, len(haps), len(layout.track_names)), np.nan, layout.base_dtype)
    used = start >= 0
    start, end, rows = start[used], end[used], rows[used]
    if (rows == HAP_ROW_REFERENCE).any():
        ref = np.asarray(group[BASE_VALUES][lo:hi])  # type: ignore[index]
        for k, j in zip(*np.nonzero(rows == HAP_ROW_REFERENCE), strict=True):
            out[start[k] - lo : end[k] - lo, j] = ref[start[k] - lo : end[k] - lo]
    stored = rows >= 0
    if stored.any():
        firsts, at = np.unique(rows[stored], return_inverse=True)
        lens = np.zeros(len(firsts), np.int64)
        lens[at] = (end - start)[np.nonzero(stored)[0]]
        data = _read_runs(group[HAP_BASE_VALUES], firsts, lens)  # type: ignore[index]
        offset = np.concatenate([[0], np.cumsum(lens)[:-1]])
        for (k, j), i in zip(zip(*np.nonzero(stored), strict=True), at, strict=True):
            out[start[k] - lo : end[k] - lo, j] = data[offset[i] : offset[i] + lens[i]]
    return out


def _read_runs(arr: object, firsts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Rows [f, f + n) of `arr` for each (f, n), one after the other. Adjacent ranges are
    read as one slice, all slices at once; never an integer-array selection, whose cost
    in zarr grows with the axis' chunk count (1e9 on a whole-genome cohort)."""
    import asyncio

    from zarr.core.sync import sync as zarr_sync

    ends = firsts + lens
    first_of_run = np.flatnonzero(np.concatenate([[True], firsts[1:] != ends[:-1]]))
    run_lo = firsts[first_of_run]
    run_hi = ends[np.append(first_of_run[1:], len(firsts)) - 1]
    a = arr.async_array  # type: ignore[attr-defined]

    async def read() -> list[np.ndarray]:
        sel = [(slice(int(x), int(y)), slice(None)) for x, y in zip(run_lo, run_hi, strict=True)]
        return await asyncio.gather(*(a.getitem(s) for s in sel))

    return np.concatenate([np.asarray(x) for x in zarr_sync(read())])


def read_haplotype_rows(
    group: object, layout: StoreLayout, hap: int, lo: int, hi: int, tracks: slice
) -> np.ndarray:
    """float32 [hi - lo, tracks] values of haplotype `hap` at base rows [lo, hi)."""
    out = []
    u_first, u_last = lo // layout.unit_bases, (max(hi, lo + 1) - 1) // layout.unit_bases
    for unit in range(u_first, u_last + 1 if hi > lo else u_first):
        a, _ = layout.base_rows(unit)
        block = read_unit(group, layout, unit, np.array([hap]))[:, 0, tracks]
        out.append(block[max(lo - a, 0) : hi - a])
    n_tracks = len(range(*tracks.indices(len(layout.track_names))))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, n_tracks), np.float32)


def haplotype_perbase(
    url: str | Path, haplotypes: list[str] | None = None, *, block_haplotypes: int = 16
) -> xr.DataArray:
    """Per-base values of each haplotype, lazily: dims (base, haplotype, track), dask
    chunks of one unit's bases x `block_haplotypes`; equal to the dense array of earlier
    stores (NaN where a haplotype has no value). Select haplotypes here on a large cohort.

    Args:
        url: a store made by `ntscale segment --vcf`.
        haplotypes: "SAMPLE:phase" names, in the order wanted (default: all, store order).
        block_haplotypes: haplotypes per dask chunk (a task reads one unit for them).

    Returns:
        DataArray `hap_perbase_values` (base, haplotype, track) in the store's dtype, with
        coordinates haplotype, sample (per haplotype) and track.

    Raises:
        StoreError: not a per-base store with haplotypes, or an unknown haplotype.
    """
    import dask.array as da

    from ntscale.store import backend
    from ntscale.store.reader import _open_root

    url = str(url)
    group, _, layout = _open_root(url)
    if not layout.base_haplotypes:
        raise StoreError(f"store {url!r} has no haplotype values (made without --vcf)")
    names = [str(x) for x in group["haplotype"][:]]
    pos = {name: i for i, name in enumerate(names)}
    chosen = names if haplotypes is None else [str(x) for x in haplotypes]
    unknown = [x for x in chosen if x not in pos]
    if unknown:
        raise StoreError(f"store {url!r} has no haplotype(s) {unknown[:5]}; e.g. {names[:3]}")
    index = np.array([pos[x] for x in chosen], np.int64)
    samples = np.asarray(group["sample"][:].tolist(), dtype=str)[index]
    step = max(1, int(block_haplotypes))
    hap_blocks = [index[i : i + step] for i in range(0, len(index), step)]
    rows = [hi - lo for lo, hi in map(layout.base_rows, range(layout.n_base_units))]

    def block(block_id: tuple[int, int, int]) -> np.ndarray:
        g = backend.open_existing(url, "r")
        return read_unit(g, layout, block_id[0], hap_blocks[block_id[1]])

    n_tracks = len(layout.track_names)
    data = da.map_blocks(
        block,
        dtype=np.dtype(layout.base_dtype),
        chunks=(tuple(rows), tuple(map(len, hap_blocks)) or (0,), (n_tracks,)),
        meta=np.zeros((0, 0, 0), layout.base_dtype),
    )
    return xr.DataArray(
        data,
        dims=("base", "haplotype", "track"),
        coords={
            "haplotype": np.asarray(chosen, dtype=str),
            "sample": ("haplotype", samples),
            "track": list(layout.track_names),
        },
        name=HAP_BASE_VALUES,
    )


__all__ = ["HapSegments", "haplotype_perbase", "read_haplotype_rows", "read_unit", "unit_blocks"]
