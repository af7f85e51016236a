"""Interval arithmetic on numpy arrays (union, difference, length), for planning and coverage.

Intervals of many contigs are put on one line: contig i starts at `offsets[i]`, and one
empty base separates consecutive contigs so that intervals of two contigs never touch.
Every function here takes and returns int64 arrays of starts and ends; "sets" are sorted,
disjoint, non-empty intervals (what `union` returns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_EMPTY = np.zeros(0, np.int64)


def line_offsets(lengths: Sequence[int]) -> np.ndarray:
    """int64 [C + 1]: where each contig starts on the shared line (last entry: line end)."""
    lens = np.asarray(lengths, np.int64)
    return np.concatenate(([0], np.cumsum(lens + 1))).astype(np.int64)


def to_line(offsets: np.ndarray, contig_index: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return offsets[np.asarray(contig_index, np.int64)] + np.asarray(pos, np.int64)


def from_line(offsets: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contig index, position on the contig) of line positions that are interval starts."""
    ci = np.searchsorted(offsets, pos, side="right") - 1
    return ci.astype(np.int32), pos - offsets[ci]


def union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge any intervals (overlapping or touching) into a sorted disjoint set."""
    s, e = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        return _EMPTY, _EMPTY
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    new = np.concatenate(([True], s[1:] > reach[:-1]))
    group_start = s[new]
    last = np.concatenate((np.flatnonzero(new)[1:] - 1, [s.size - 1]))
    return group_start, reach[last]


def total(starts: np.ndarray, ends: np.ndarray) -> int:
    """Summed length of a disjoint set."""
    return int((np.asarray(ends, np.int64) - np.asarray(starts, np.int64)).sum())


def _inside(s: np.ndarray, e: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[P] bool: point p lies in [s_i, e_i) for some interval of the disjoint set."""
    if s.size == 0:
        return np.zeros(points.shape, bool)
    i = np.searchsorted(s, points, side="right") - 1
    return (i >= 0) & (e[np.maximum(i, 0)] > points)


def subtract(
    a_starts: np.ndarray, a_ends: np.ndarray, b_starts: np.ndarray, b_ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A minus B, for two disjoint sets; a sorted disjoint set."""
    a_s, a_e = union(a_starts, a_ends)
    b_s, b_e = union(b_starts, b_ends)
    if a_s.size == 0 or b_s.size == 0:
        return a_s, a_e
    # Elementary segments between consecutive boundaries are wholly in or out of each set.
    cuts = np.unique(np.concatenate((a_s, a_e, b_s, b_e)))
    lo, hi = cuts[:-1], cuts[1:]
    keep = _inside(a_s, a_e, lo) & ~_inside(b_s, b_e, lo)
    return union(lo[keep], hi[keep])


def intersect(
    a_starts: np.ndarray, a_ends: np.ndarray, b_starts: np.ndarray, b_ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A and B, for two sets; a sorted disjoint set."""
    a_s, a_e = union(a_starts, a_ends)
    b_s, b_e = union(b_starts, b_ends)
    if a_s.size == 0 or b_s.size == 0:
        return _EMPTY, _EMPTY
    cuts = np.unique(np.concatenate((a_s, a_e, b_s, b_e)))
    lo, hi = cuts[:-1], cuts[1:]
    keep = _inside(a_s, a_e, lo) & _inside(b_s, b_e, lo)
    return union(lo[keep], hi[keep])
