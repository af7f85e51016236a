"""Per-base tiling: overlapping tiles over N-free intervals, each base kept from one tile.

Per-base outputs (LLR tracks, SegmentNT segment probabilities, NTv3 tracks) need a value
for every real base, read from the tile where that base sits most centrally (far from
the tile's edges, where the model sees one-sided context). This module plans such tiles;
it is pure arithmetic (numpy only): the callers fetch, tokenise and run the model.

Glossary: an *interval* is a stretch of real (A/C/G/T) sequence, usually one N-free piece
of a BED region or contig (`nfree_intervals`). A *tile* is [start, end) inside one
interval, the sequence one forward pass sees; its *kept span* [keep_start, keep_end) is
the part whose per-base values the caller keeps. Lengths are counted in *tokens* of a
`k`-mer tokenizer without special tokens (k=6: NT v1/v2 and SegmentNT, `L // 6 + L % 6`
tokens for L bases; k=1: single-base tokenizers such as NTv3, L tokens).

Rules (all property-tested in tests/genome/test_genome_perbase_tiling.py):
- Tiles of an interval at least one window long are `window_bp` long, every `stride_bp`
  from the interval start; the last one is shifted back to end at the interval end.
- The kept spans of one interval partition it: every base is kept exactly once, by the
  tile whose centre is nearest (ties: the left tile). Boundaries sit half-way between
  consecutive tile centres, so a kept base is at least (window_bp - stride_bp) // 2 bases
  from its tile's edges, except at the interval's own ends.
- An interval shorter than a window gets one shorter tile [start, end), never sequence
  from outside the interval. Its `pad` is the number of tokens the caller appends (pad
  or N tokens, masked out of the kept values) to meet `multiple_of`. If that tile would
  need more tokens than a full window (possible with k=6: leftover single-base tokens),
  the interval is tiled instead with the largest shorter window that meets `multiple_of`
  and half of it as stride, so every tile fits the shape of a full window. (With k=6, an
  interval shorter than k * multiple_of bases cannot be split: a window of at least
  ceil((multiple_of + 4) / multiple_of) * multiple_of tokens always holds it; shorter
  windows get a ConfigError naming the interval.)
- `multiple_of` applies to token counts: a full window must meet it exactly
  (ConfigError otherwise, naming the nearest valid windows), a short tile by padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ntscale.errors import ConfigError
from ntscale.genome.intervals import subtract
from ntscale.tokenizer.vocab import K

Interval = tuple[str, int, int]


def n_tokens(length_bp: int | np.ndarray, k: int = K) -> int | np.ndarray:
    """Tokens of `length_bp` N-free bases with a k-mer tokenizer, special tokens excluded."""
    return length_bp // k + length_bp % k


@dataclass(frozen=True)
class Tile:
    """One tile: the pass over [start, end) of `contig`, keeping [keep_start, keep_end).

    `pad` tokens are appended by the caller (0 for full windows); `interval` is the index
    of the input interval the tile belongs to.
    """

    contig: str
    start: int
    end: int
    keep_start: int
    keep_end: int
    pad: int
    interval: int


@dataclass(frozen=True, kw_only=True, eq=False)
class PerBaseTiles:
    """Every tile of a per-base plan as parallel [T] arrays, grouped by interval in start order.

    Attributes:
        contig: [T] contig name of each tile.
        start, end: [T] int64 0-based half-open tile coordinates.
        keep_start, keep_end: [T] int64 kept span, inside [start, end).
        pad: [T] int64 tokens the caller appends to meet `multiple_of`.
        interval: [T] int64 index of the tile's input interval.
        intervals: the input intervals (contig, start, end).
        window_bp, stride_bp, k, multiple_of: the settings the plan was made with.
    """

    contig: np.ndarray
    start: np.ndarray
    end: np.ndarray
    keep_start: np.ndarray
    keep_end: np.ndarray
    pad: np.ndarray
    interval: np.ndarray
    intervals: tuple[Interval, ...]
    window_bp: int
    stride_bp: int
    k: int
    multiple_of: int

    def __len__(self) -> int:
        return int(self.start.size)

    def tiles(self) -> Iterator[Tile]:
        """The tiles one by one (for callers that fetch and run them in turn)."""
        for i in range(len(self)):
            yield self.tile(i)

    def tile(self, i: int) -> Tile:
        return Tile(
            contig=str(self.contig[i]),
            start=int(self.start[i]),
            end=int(self.end[i]),
            keep_start=int(self.keep_start[i]),
            keep_end=int(self.keep_end[i]),
            pad=int(self.pad[i]),
            interval=int(self.interval[i]),
        )

    @property
    def tokens(self) -> np.ndarray:
        """[T] tokens each tile's pass takes (special tokens excluded, padding included)."""
        return n_tokens(self.end - self.start, self.k) + self.pad

    def kept_bp(self) -> int:
        """Bases kept over all tiles (= the intervals' total length)."""
        return int((self.keep_end - self.keep_start).sum())

    def interval_bp(self) -> int:
        return sum(e - s for _, s, e in self.intervals)

    def tile_of(self, contig: str, pos: np.ndarray) -> np.ndarray:
        """[P] index of the tile that keeps each 0-based position of `contig`; -1 if none.

        Needs the intervals of one contig to be disjoint (as `nfree_intervals` returns).
        """
        p = np.asarray(pos, np.int64)
        rows = np.flatnonzero(self.contig == contig)
        if rows.size == 0:
            return np.full(p.shape, -1, np.int64)
        order = rows[np.argsort(self.keep_start[rows], kind="stable")]
        ks, ke = self.keep_start[order], self.keep_end[order]
        j = np.searchsorted(ks, p, side="right") - 1
        hit = (j >= 0) & (ke[np.maximum(j, 0)] > p)
        return np.where(hit, order[np.maximum(j, 0)], -1)


def check_window(
    window_bp: int, *, k: int = K, multiple_of: int = 1, max_tokens: int | None = None
) -> None:
    """Refuse a window whose token count misses `multiple_of` or exceeds `max_tokens`.

    `max_tokens` counts the tile's tokens only; callers add their special tokens first.

    Raises:
        ConfigError: one line naming the window, the rule and the nearest windows that meet it.
    """
    if window_bp < 1 or k < 1 or multiple_of < 1:
        raise ConfigError(
            f"window_bp, k and multiple_of must be >= 1, got {window_bp}, {k}, {multiple_of}"
        )
    tok = int(n_tokens(window_bp, k))
    if tok % multiple_of:
        step = k * multiple_of
        lo, hi = (window_bp // step) * step, (window_bp // step + 1) * step
        near = f"{lo} or {hi}" if lo else f"{hi}"
        raise ConfigError(
            f"a window of {window_bp:,} bp is {tok:,} tokens, not a multiple of {multiple_of} "
            f"as the model needs; use a window of {near} bp"
        )
    if max_tokens is not None and tok > max_tokens:
        top = max_tokens * k // (k * multiple_of) * (k * multiple_of)
        raise ConfigError(
            f"a window of {window_bp:,} bp is {tok:,} tokens but the model takes at most "
            f"{max_tokens:,}; use a window of at most {top:,} bp"
        )


def nfree_intervals(
    regions: Sequence[Interval], runs: Mapping[str, np.ndarray] | Callable[[str], np.ndarray]
) -> list[Interval]:
    """The N-free pieces of `regions`, in region order (overlapping regions merged per contig).

    Args:
        regions: (contig, start, end) 0-based half-open.
        runs: contig -> [R, 2] non-ACGT runs, e.g. `GapIndex.runs` or `GapIndex.contig_runs`.
    """
    get = runs if callable(runs) else (lambda c: runs.get(c, np.zeros((0, 2), np.int64)))
    by_contig: dict[str, list[tuple[int, int]]] = {}
    for contig, s, e in regions:
        by_contig.setdefault(contig, []).append((int(s), int(e)))
    out: list[Interval] = []
    for contig, spans in by_contig.items():
        r = np.asarray(get(contig), np.int64).reshape(-1, 2)
        a = np.asarray(spans, np.int64).reshape(-1, 2)
        s, e = subtract(a[:, 0], a[:, 1], r[:, 0], r[:, 1])
        out += [(contig, int(x), int(y)) for x, y in zip(s, e, strict=True)]
    return out


def _one_interval(
    where: str, s: int, e: int, window_bp: int, stride_bp: int, k: int, multiple_of: int
) -> tuple[np.ndarray, int, int]:
    """(tile starts, tile length, pad) of one interval; see the module rules."""
    length = e - s
    full = int(n_tokens(window_bp, k))
    if length >= window_bp:
        n = -(-(length - window_bp) // stride_bp) + 1
        starts = s + stride_bp * np.arange(n, dtype=np.int64)
        starts[-1] = e - window_bp
        return starts, window_bp, 0
    tok = int(n_tokens(length, k))
    pad = -tok % multiple_of
    if tok + pad <= full:
        return np.array([s], np.int64), length, pad
    step = k * multiple_of
    sub = (length // step) * step  # tokens sub/k, a multiple of multiple_of, < full
    if sub == 0:
        raise ConfigError(
            f"the {length}-bp interval {where}:{s}-{e} needs {tok + pad} tokens, more than a "
            f"{window_bp}-bp window's {full}; use a window of at least {2 * step} bp"
        )
    return _one_interval(where, s, e, sub, max(1, sub // 2), k, multiple_of)


def plan_perbase_tiles(
    intervals: Sequence[Interval],
    *,
    window_bp: int,
    overlap_bp: int | None = None,
    stride_bp: int | None = None,
    k: int = K,
    multiple_of: int = 1,
    max_tokens: int | None = None,
) -> PerBaseTiles:
    """Plan tiles over N-free `intervals` so that every base is kept once, centrally.

    Args:
        intervals: (contig, start, end) 0-based half-open, N-free (see `nfree_intervals`).
        window_bp: tile length in bases.
        overlap_bp, stride_bp: at most one; stride = window - overlap. Default: half a
            window of overlap (stride = window_bp // 2).
        k: bases per token of the model's tokenizer (6: NT 6-mers; 1: single bases).
        multiple_of: every tile's token count (padding included) is a multiple of this.
        max_tokens: the tile's token budget (special tokens excluded), checked on the window.

    Raises:
        ConfigError: bad settings, or a window that breaks `multiple_of` or `max_tokens`.
    """
    if overlap_bp is not None and stride_bp is not None:
        raise ConfigError("give overlap_bp or stride_bp, not both")
    check_window(window_bp, k=k, multiple_of=multiple_of, max_tokens=max_tokens)
    stride = stride_bp if stride_bp is not None else window_bp - (overlap_bp or 0)
    if overlap_bp is None and stride_bp is None:
        stride = max(1, window_bp // 2)
    if not 1 <= stride <= window_bp:
        raise ConfigError(
            f"stride {stride} bp (window {window_bp} bp, overlap {window_bp - stride} bp) must "
            f"be between 1 and the window length"
        )
    cols: dict[str, list[np.ndarray]] = {n: [] for n in ("s", "e", "ks", "ke", "pad", "iv")}
    for i, (contig, s, e) in enumerate(intervals):
        if e <= s:
            continue
        starts, length, pad = _one_interval(
            contig, int(s), int(e), window_bp, stride, k, multiple_of
        )
        ends = starts + length
        # Half-way between consecutive centres; a base exactly half-way stays left.
        mids = (starts[:-1] + ends[1:] + 1) // 2
        cols["s"].append(starts)
        cols["e"].append(ends)
        cols["ks"].append(np.concatenate(([s], mids)).astype(np.int64))
        cols["ke"].append(np.concatenate((mids, [e])).astype(np.int64))
        cols["pad"].append(np.full(starts.size, pad, np.int64))
        cols["iv"].append(np.full(starts.size, i, np.int64))
    cat = {n: np.concatenate(v) if v else np.zeros(0, np.int64) for n, v in cols.items()}
    names = np.array([c for c, _, _ in intervals] or [""], dtype=str)
    return PerBaseTiles(
        contig=names[cat["iv"]] if cat["iv"].size else np.zeros(0, dtype=str),
        start=cat["s"],
        end=cat["e"],
        keep_start=cat["ks"],
        keep_end=cat["ke"],
        pad=cat["pad"],
        interval=cat["iv"],
        intervals=tuple((str(c), int(s), int(e)) for c, s, e in intervals),
        window_bp=window_bp,
        stride_bp=stride,
        k=k,
        multiple_of=multiple_of,
    )


__all__ = [
    "PerBaseTiles",
    "Tile",
    "check_window",
    "n_tokens",
    "nfree_intervals",
    "plan_perbase_tiles",
]
