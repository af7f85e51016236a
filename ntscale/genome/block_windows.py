"""Windows for single-base models whose input length must be a multiple of a block
(NTv3: 2^num_downsamples bases): N-free intervals tiled by windows of one length.

Rules (0-based half-open):
- an N-free interval of L >= block bases gets windows of W = min(window_bp, L) rounded
  down to a multiple of the block, every W bases from its start; when W does not divide L
  one more window ends at the interval's end (overlapping its neighbour), so every base of
  the interval is in a window and no window reads an N or leaves the interval;
- an interval shorter than one block gets one row with status "too_short" and no window
  (nothing silently dropped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


def nfree_intervals(
    contigs: Iterable[tuple[str, int]], runs: dict[str, np.ndarray]
) -> list[tuple[str, int, int]]:
    """(contig, start, end) of the N-free stretches of each contig, in order.

    Args:
        contigs: (name, length) pairs.
        runs: contig -> [R, 2] sorted, disjoint runs of non-ACGT bases (`GapIndex.runs`).
    """
    out = []
    for name, length in contigs:
        pos = 0
        for a, b in runs.get(name, np.zeros((0, 2), np.int64)):
            if a > pos:
                out.append((name, pos, int(a)))
            pos = max(pos, int(b))
        if pos < length:
            out.append((name, pos, int(length)))
    return out


@dataclass(frozen=True)
class BlockWindows:
    """Planned windows: parallel [W] arrays (contig name, start, end, status)."""

    contig: np.ndarray
    start: np.ndarray
    end: np.ndarray
    status: np.ndarray  # "ok" or "too_short"

    @property
    def n_windows(self) -> int:
        return int(self.start.shape[0])

    def lengths(self) -> np.ndarray:
        return self.end - self.start

    def covered_bp(self) -> int:
        """Bases inside at least one "ok" window (overlaps counted once)."""
        total, last = 0, (None, -1)
        ok = np.flatnonzero(self.status == "ok")
        for i in sorted(ok, key=lambda i: (self.contig[i], self.start[i])):
            contig, a, b = self.contig[i], int(self.start[i]), int(self.end[i])
            lo = max(a, last[1]) if contig == last[0] else a
            total += max(b - lo, 0)
            last = (contig, max(b, last[1]) if contig == last[0] else b)
        return total


def plan_block_windows(
    intervals: Iterable[tuple[str, int, int]], *, window_bp: int, block_bp: int
) -> BlockWindows:
    """Tile intervals with block-multiple windows (see the module rules).

    Raises:
        ValueError: window_bp shorter than one block.
    """
    if window_bp < block_bp:
        raise ValueError(f"window {window_bp} bp is shorter than one block of {block_bp} bp")
    contig, start, end, status = [], [], [], []
    for name, a, b in intervals:
        length = b - a
        if length < block_bp:
            contig.append(name), start.append(a), end.append(b), status.append("too_short")
            continue
        w = min(window_bp, length) // block_bp * block_bp
        starts = list(range(a, b - w + 1, w))
        if starts[-1] + w < b:
            starts.append(b - w)
        for s in starts:
            contig.append(name), start.append(s), end.append(s + w), status.append("ok")
    return BlockWindows(
        contig=np.array(contig, dtype=object),
        start=np.array(start, np.int64),
        end=np.array(end, np.int64),
        status=np.array(status, dtype=object),
    )
