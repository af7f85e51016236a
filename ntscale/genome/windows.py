"""Window planning: tile contigs (or BED regions) into windows, coordinates only.

A plan is a table of rows (contig index, start, end, strand, haplotype) in a fixed,
deterministic order: contig (FASTA order) -> start -> strand -> haplotype. It is computed
from the contig table alone (no sequence I/O), so a driver can plan a whole genome in
milliseconds and hand out row ranges (work units) to workers.

Last-window policies at a contig (or region) end, for windows of L bp and stride S:
  shift     the last window is moved back to end at the contig end (full length, overlaps
            the previous one); the default, so every window has the same length.
  truncate  the last window is shorter (ends at the contig end).
  drop      the partial last window is not planned; the uncovered tail is recorded in
            `WindowPlan.summary.dropped_tails`.
An interval shorter than one window always gives one shorter window.

Gap-aware planning (`gaps=`, an N-run index from `ntscale.genome.gaps`): the requested
intervals minus every N run are tiled with the same rules, so no window holds an N, none
starts or ends inside a gap, and every real base is in a window (docs/genome.md has the
rule and a worked example). With `max_tokens`, every window's token count is checked.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ntscale.errors import ConfigError, InputError
from ntscale.genome import intervals as iv
from ntscale.genome.gaps import GapIndex
from ntscale.genome.hap_budget import split_for_insertions
from ntscale.genome.tiling import tile_intervals
from ntscale.tokenizer.vocab import K
from ntscale.types import REFERENCE_HAPLOTYPE, Region, Strand

LAST_WINDOW_POLICIES = ("shift", "truncate", "drop")


def default_window_bp(max_tokens: int, *, reserve_tokens: int = 0, k: int = K) -> int:
    """Window length whose N-free sequence fills `max_tokens` (CLS included) with 6-mers.

    12,282 bp for NT-v2 (2,048 tokens), 5,994 bp for NT-v1 (1,000 tokens).
    `reserve_tokens` leaves room for tokens the window may gain: a haplotype whose length
    is not a multiple of 6 gets up to 5 single-letter tokens, so reserve_tokens=5
    (12,252 bp for v2) keeps every deletion haplotype, and small insertions, unshrunk;
    `ntscale embed --vcf` reserves 10 (12,222 bp) and lets `hap_budget` split the rest.
    """
    if max_tokens - reserve_tokens < 2 or reserve_tokens < 0:
        raise ConfigError(
            f"max_tokens - reserve_tokens must be >= 2 (CLS + one token), got "
            f"max_tokens={max_tokens!r}, reserve_tokens={reserve_tokens!r}"
        )
    return (max_tokens - 1 - reserve_tokens) * k  # k-mers: 6, Codon-NT 3


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanSummary:
    """What the planner did beyond plain tiling, so nothing is dropped silently."""

    n_windows: int
    covered_bp: int  # reference bp inside at least one window (per strand and haplotype)
    n_short_windows: int  # windows shorter than window_bp (short contigs, truncate policy)
    skipped_contigs: tuple[tuple[str, str], ...] = ()  # (contig, reason)
    dropped_tails: tuple[Region, ...] = ()  # uncovered ends under last_window="drop"
    n_split_for_insertions: int = 0  # windows halved so every haplotype fits (hap_budget)


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, kw_only=True, eq=False)
class WindowPlan:
    """Rows of windows, in order contig -> start -> strand -> haplotype.

    Arrays are read-only numpy arrays of length W. `contigs` lists every FASTA contig (not
    only the planned ones) so that `contig_index` is stable across plans of one FASTA.
    `haplotype` is -1 for reference rows, else an index into `haplotype_names`.
    """

    contigs: tuple[str, ...]
    contig_index: np.ndarray  # int32 [W]
    start: np.ndarray  # int64 [W]
    end: np.ndarray  # int64 [W]
    strand: np.ndarray  # int8 [W], values of Strand
    haplotype: np.ndarray  # int32 [W]
    haplotype_names: tuple[str, ...] = ()
    window_bp: int
    stride_bp: int
    last_window: str = "shift"
    summary: PlanSummary = field(default=None)  # type: ignore[assignment]
    # What coverage is measured against (`ntscale.genome.coverage`), on the line of
    # `intervals.line_offsets(contig lengths)`: the requested intervals (merged) and the
    # N runs inside them (empty when planned without an N-run index).
    requested: tuple[np.ndarray, np.ndarray] | None = None
    n_runs: tuple[np.ndarray, np.ndarray] | None = None
    line_offsets: np.ndarray | None = None
    gap_aware: bool = False  # windows tile the N-free pieces only

    @property
    def n_windows(self) -> int:
        return int(self.start.shape[0])

    def __len__(self) -> int:
        return self.n_windows

    def region(self, row: int) -> Region:
        """The reference interval of one row."""
        return Region(
            self.contigs[int(self.contig_index[row])], int(self.start[row]), int(self.end[row])
        )

    def describe(self, row: int) -> str:
        """Human-readable row, e.g. '20:60000-72282(+) hap HG00096:1'."""
        strand = Strand(int(self.strand[row])).symbol
        text = f"{self.region(row)}({strand})"
        h = int(self.haplotype[row])
        if h != REFERENCE_HAPLOTYPE:
            text += f" hap {self.haplotype_names[h]}"
        return text


def _parse_strands(strands: Iterable[str | Strand]) -> tuple[Strand, ...]:
    out: list[Strand] = []
    for s in strands:
        if isinstance(s, Strand):
            val = s
        elif s in ("+", "forward", "fwd"):
            val = Strand.FORWARD
        elif s in ("-", "reverse", "rev"):
            val = Strand.REVERSE
        else:
            raise ConfigError(f"unknown strand {s!r}; use '+' and/or '-'")
        if val in out:
            raise ConfigError(f"strand {val.symbol!r} given twice")
        out.append(val)
    if not out:
        raise ConfigError("no strand given; use ('+',), ('-',) or ('+', '-')")
    return tuple(sorted(out))


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


def _as_list(x: str | Sequence[str] | None) -> list[str] | None:
    if x is None:
        return None
    return [x] if isinstance(x, str) else list(x)


def merge_regions(regions: Iterable[Region], contig_order: Sequence[str]) -> list[Region]:
    """Sort regions by (contig in `contig_order`, start) and merge overlapping/adjacent ones."""
    rank = {name: i for i, name in enumerate(contig_order)}
    items = sorted(regions, key=lambda r: (rank.get(r.contig, len(rank)), r.start, r.end))
    merged: list[Region] = []
    for r in items:
        if merged and merged[-1].contig == r.contig and r.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Region(last.contig, last.start, max(last.end, r.end))
        else:
            merged.append(r)
    return merged


def plan_windows(
    contigs: Sequence[tuple[str, int]],
    *,
    window_bp: int,
    stride_bp: int | None = None,
    strands: Iterable[str | Strand] = ("+",),
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    min_contig_bp: int = 0,
    regions: Sequence[Region] | None = None,
    last_window: str = "shift",
    gaps: GapIndex | None = None,
    max_tokens: int | None = None,
    gap_aware: bool = True,
    insertions: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    k: int = K,
) -> WindowPlan:
    """Plan reference windows over contigs (or BED regions), coordinates only.

    Args:
        contigs: (name, length) of every FASTA contig in file order (`FastaSource.contigs`).
        window_bp: window length (see `default_window_bp`).
        stride_bp: distance between window starts (default `window_bp`: no overlap).
        strands: '+' and/or '-'; both give two rows per window, '+' first.
        include: contig names or fnmatch patterns to keep (default all).
        exclude: contig names or patterns to leave out (applied after include).
        min_contig_bp: leave out contigs shorter than this.
        regions: tile only these intervals (merged first) instead of whole contigs.
        last_window: 'shift', 'truncate' or 'drop' (module docstring).
        gaps: N-run index of the FASTA: tile only the N-free pieces (gap-aware), and
            record the N runs on the plan (coverage counts real bases only).
        gap_aware: False: tile whole intervals even with `gaps` (windows may hold N).
        max_tokens: the model's token limit; windows whose N-free tokens exceed it are
            split (`tiling.tile_intervals`).
        insertions: per contig, (indel start [R], bp added [R] or [R, H], bp removed)
            (`hap_budget.insertion_sites`): with `max_tokens`, windows whose haplotypes
            could overflow are split (`hap_budget.split_for_insertions`).

    Returns:
        A WindowPlan of reference rows; its summary records skipped contigs and dropped tails.

    Raises:
        ConfigError: bad lengths, strides, strands or policy; no contig left to plan.
        InputError: a region on a contig that is not in `contigs` or outside it.
    """
    if window_bp < 1:
        raise ConfigError(f"window_bp must be >= 1, got {window_bp!r}")
    stride_bp = window_bp if stride_bp is None else stride_bp
    if stride_bp < 1:
        raise ConfigError(f"stride_bp must be >= 1, got {stride_bp!r}")
    if last_window not in LAST_WINDOW_POLICIES:
        raise ConfigError(
            f"unknown last_window policy {last_window!r}; valid: {', '.join(LAST_WINDOW_POLICIES)}"
        )
    strand_vals = _parse_strands(strands)
    names = tuple(name for name, _ in contigs)
    lengths = dict(contigs)
    inc, exc = _as_list(include), _as_list(exclude)

    skipped: list[tuple[str, str]] = []
    keep: set[str] = set()
    for name, length in contigs:
        if inc is not None and not _matches(name, inc):
            skipped.append((name, "not included"))
        elif exc is not None and _matches(name, exc):
            skipped.append((name, "excluded"))
        elif length < min_contig_bp:
            skipped.append((name, f"shorter than min_contig_bp={min_contig_bp}"))
        else:
            keep.add(name)

    if regions is None:
        intervals = [Region(name, 0, length) for name, length in contigs if name in keep]
    else:
        for r in regions:
            if r.contig not in lengths:
                raise InputError(
                    f"region on unknown contig {r.contig!r}; the FASTA has "
                    f"{', '.join(repr(n) for n in names[:5])}{' ...' if len(names) > 5 else ''}",
                    record=str(r),
                )
            if not 0 <= r.start <= r.end <= lengths[r.contig]:
                raise InputError(
                    f"region outside contig {r.contig!r} (length {lengths[r.contig]:,} bp)",
                    record=str(r),
                )
        intervals = [r for r in merge_regions(regions, names) if r.contig in keep]
    if not intervals:
        raise ConfigError(
            "no window to plan: every contig was filtered out "
            f"(include={inc!r}, exclude={exc!r}, min_contig_bp={min_contig_bp}"
            f"{', regions given' if regions is not None else ''})"
        )

    rank = {name: i for i, name in enumerate(names)}
    offsets = iv.line_offsets([length for _, length in contigs])
    req_c = np.array([rank[r.contig] for r in intervals], np.int64)
    req_s = iv.to_line(offsets, req_c, [r.start for r in intervals])
    req_e = iv.to_line(offsets, req_c, [r.end for r in intervals])
    gap_s, gap_e = _gaps_on_line(gaps, names, offsets, req_s, req_e)
    # Gap-aware: tile the N-free pieces of the requested intervals (docs/genome.md).
    split = gaps is not None and gap_aware
    tile_s, tile_e = iv.subtract(req_s, req_e, gap_s, gap_e) if split else (req_s, req_e)
    st, en, _, dropped = tile_intervals(
        tile_s,
        tile_e,
        window_bp=window_bp,
        stride_bp=stride_bp,
        last_window=last_window,
        max_tokens=max_tokens,
        k=k,
    )
    n_split = 0
    known = [(offsets[rank[c]], *v) for c, v in (insertions or {}).items() if c in rank]
    if known and max_tokens is not None:
        st, en, n_split = split_for_insertions(
            st,
            en,
            np.concatenate([o + p for o, p, _, _ in known]),
            np.concatenate([i for _, _, i, _ in known]),
            np.concatenate([d for _, _, _, d in known]),
            max_tokens=max_tokens,
            k=k,
        )
    ci, st_c = iv.from_line(offsets, st)
    en_c = en - offsets[ci]
    tail_c, tail_s = iv.from_line(offsets, dropped[:, 0])
    tails = [
        Region(names[c], int(s), int(s + e - d))
        for c, s, d, e in zip(
            tail_c.tolist(),
            tail_s.tolist(),
            dropped[:, 0].tolist(),
            dropped[:, 1].tolist(),
            strict=True,
        )
    ]

    n_ref = st.shape[0]
    n_strands = len(strand_vals)
    return WindowPlan(
        contigs=names,
        contig_index=_ro(np.repeat(ci, n_strands)),
        start=_ro(np.repeat(st_c, n_strands)),
        end=_ro(np.repeat(en_c, n_strands)),
        strand=_ro(np.tile(np.array([int(s) for s in strand_vals], np.int8), n_ref)),
        haplotype=_ro(np.full(n_ref * n_strands, REFERENCE_HAPLOTYPE, np.int32)),
        window_bp=window_bp,
        stride_bp=stride_bp,
        last_window=last_window,
        requested=_ro_pair(iv.union(req_s, req_e)),
        n_runs=_ro_pair((gap_s, gap_e)) if gaps is not None else None,
        gap_aware=split,
        line_offsets=_ro(offsets),
        summary=PlanSummary(
            n_windows=n_ref * n_strands,
            covered_bp=iv.total(*iv.union(st, en)),
            n_short_windows=int(np.count_nonzero(en - st < window_bp)) * n_strands,
            skipped_contigs=tuple(skipped),
            dropped_tails=tuple(tails),
            n_split_for_insertions=n_split,
        ),
    )


def _ro_pair(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return _ro(np.array(pair[0], np.int64)), _ro(np.array(pair[1], np.int64))


def _gaps_on_line(
    gaps: GapIndex | None,
    names: Sequence[str],
    offsets: np.ndarray,
    req_s: np.ndarray,
    req_e: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The N runs inside the requested intervals, on the shared line."""
    if gaps is None:
        empty = np.zeros(0, np.int64)
        return empty, empty
    runs = [gaps.contig_runs(name) + offsets[i] for i, name in enumerate(names)]
    flat = np.concatenate(runs) if runs else np.zeros((0, 2), np.int64)
    return iv.intersect(req_s, req_e, flat[:, 0], flat[:, 1])


def with_haplotypes(plan: WindowPlan, n_haplotypes: int, names: Sequence[str]) -> WindowPlan:
    """Expand each reference row into one row per haplotype (ids 0..H-1), keeping the order.

    Raises:
        ConfigError: the plan already has haplotype rows, or `names` has the wrong length.
    """
    if n_haplotypes < 1:
        raise ConfigError(f"n_haplotypes must be >= 1, got {n_haplotypes!r}")
    if len(names) != n_haplotypes:
        raise ConfigError(f"{len(names)} haplotype names given for {n_haplotypes} haplotypes")
    if plan.n_windows and np.any(plan.haplotype != REFERENCE_HAPLOTYPE):
        raise ConfigError("the plan already has haplotype rows; expand a reference plan")
    h = n_haplotypes
    s = plan.summary
    return WindowPlan(
        contigs=plan.contigs,
        contig_index=_ro(np.repeat(plan.contig_index, h)),
        start=_ro(np.repeat(plan.start, h)),
        end=_ro(np.repeat(plan.end, h)),
        strand=_ro(np.repeat(plan.strand, h)),
        haplotype=_ro(np.tile(np.arange(h, dtype=np.int32), plan.n_windows)),
        haplotype_names=tuple(names),
        window_bp=plan.window_bp,
        stride_bp=plan.stride_bp,
        last_window=plan.last_window,
        requested=plan.requested,
        n_runs=plan.n_runs,
        line_offsets=plan.line_offsets,
        gap_aware=plan.gap_aware,
        summary=PlanSummary(
            n_windows=plan.n_windows * h,
            covered_bp=s.covered_bp,
            n_short_windows=s.n_short_windows * h,
            skipped_contigs=s.skipped_contigs,
            dropped_tails=s.dropped_tails,
            n_split_for_insertions=s.n_split_for_insertions,
        ),
    )


def plan_units(n_windows: int, unit_windows: int) -> np.ndarray:
    """First row of each work unit: unit k holds rows [k*u, min((k+1)*u, W)).

    Returns:
        int64 [U] array of unit start rows (U = ceil(W / u)).
    """
    if unit_windows < 1:
        raise ConfigError(f"unit_windows must be >= 1, got {unit_windows!r}")
    if n_windows < 0:
        raise ConfigError(f"n_windows must be >= 0, got {n_windows!r}")
    return np.arange(0, n_windows, unit_windows, dtype=np.int64)
