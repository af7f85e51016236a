"""Coverage accounting: which real (non-N) bases of the requested regions are in an embedded window.

Measured per track (one strand of the reference, or of one haplotype) and summed over the
tracks, from what was actually embedded: rows with status OK (or SHRUNK_TO_TOKEN_BUDGET,
whose stored `end` was moved in) cover [start, end). Every real base that no such row
covers is listed in an uncovered interval with a reason, so a run's coverage figure can
be checked, not only trusted. Pure numpy over intervals (`ntscale.genome.intervals`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ntscale.genome import intervals as iv
from ntscale.genome.windows import WindowPlan
from ntscale.types import REFERENCE_HAPLOTYPE, Strand, WindowStatus

EMBEDDED = (int(WindowStatus.OK), int(WindowStatus.SHRUNK_TO_TOKEN_BUDGET))
MAX_LISTED = 100  # uncovered intervals listed in full; the count and bp are always exact


def _track_label(plan: WindowPlan, strand: int, hap: int) -> str:
    s = Strand(strand).symbol
    return s if hap == REFERENCE_HAPLOTYPE else f"{plan.haplotype_names[hap]}({s})"


def _reason_no_row(plan: WindowPlan, s: int, e: int, tails: tuple[np.ndarray, np.ndarray]) -> str:
    if tails[0].size and iv.total(*iv.intersect(tails[0], tails[1], [s], [e])):
        return "last_window=drop left the contig end out"
    if plan.stride_bp > plan.window_bp:
        return f"stride ({plan.stride_bp} bp) > window ({plan.window_bp} bp)"
    return "no window planned"


def compute_coverage(
    plan: WindowPlan,
    *,
    contig_index: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    strand: np.ndarray,
    haplotype: np.ndarray,
    status: np.ndarray,
    max_listed: int = MAX_LISTED,
) -> dict[str, Any]:
    """The coverage record of a run (stored as the `coverage` root attribute).

    Args:
        plan: the run's plan (its requested intervals and N runs are the reference).
        contig_index, start, end, strand, haplotype, status: the stored rows [W] (what was
            embedded; `end` as stored, e.g. moved in by a shrink; PENDING rows not run).
        max_listed: uncovered intervals listed in full.

    Returns:
        bases_requested, n_bases_requested, real_bases_requested (one track), tracks,
        real_bases_covered and real_bases_total (summed over tracks), fraction_covered,
        uncovered_bp, uncovered_by_reason, n_uncovered_intervals, uncovered (capped list).
    """
    if plan.requested is None or plan.line_offsets is None:
        raise ValueError("the plan has no requested intervals (plan it with plan_windows)")
    off = plan.line_offsets
    req_s, req_e = plan.requested
    gap_s, gap_e = plan.n_runs if plan.n_runs is not None else (req_s[:0], req_e[:0])
    real_s, real_e = iv.subtract(req_s, req_e, gap_s, gap_e)
    n_real = iv.total(real_s, real_e)
    line_s = iv.to_line(off, contig_index, start)
    line_e = iv.to_line(off, contig_index, end)
    p_s = iv.to_line(off, plan.contig_index, plan.start)
    p_e = iv.to_line(off, plan.contig_index, plan.end)
    tails_c = [plan.contigs.index(r.contig) for r in plan.summary.dropped_tails]
    tails = (
        iv.to_line(off, tails_c, [r.start for r in plan.summary.dropped_tails]),
        iv.to_line(off, tails_c, [r.end for r in plan.summary.dropped_tails]),
    )
    status = np.asarray(status).astype(np.int64)
    strand = np.asarray(strand).astype(np.int64)
    haplotype = np.asarray(haplotype).astype(np.int64)
    tracks = sorted(set(zip(plan.strand.tolist(), plan.haplotype.tolist(), strict=True)))
    covered = 0
    by_reason: Counter[str] = Counter()
    listed: list[dict[str, Any]] = []
    n_uncovered = 0
    for t_strand, t_hap in tracks:
        mine = (strand == t_strand) & (haplotype == t_hap)
        ok = mine & np.isin(status, EMBEDDED)
        cov_s, cov_e = iv.intersect(real_s, real_e, *iv.union(line_s[ok], line_e[ok]))
        covered += iv.total(cov_s, cov_e)
        hole_s, hole_e = iv.subtract(real_s, real_e, cov_s, cov_e)
        if hole_s.size == 0:
            continue
        # A hole's reason: the status of a planned row of this track over it; the parts
        # that no planned row reaches are reasoned from the plan's rules instead.
        rows = np.flatnonzero((plan.strand == t_strand) & (plan.haplotype == t_hap))
        rs, re_ = p_s[rows], p_e[rows]
        planned = iv.union(rs, re_)
        in_s, in_e = iv.intersect(hole_s, hole_e, *planned)
        out_s, out_e = iv.subtract(hole_s, hole_e, *planned)
        hole_s = np.concatenate((in_s, out_s))
        hole_e = np.concatenate((in_e, out_e))
        inside = np.concatenate((np.ones(in_s.size, bool), np.zeros(out_s.size, bool)))
        order = np.argsort(hole_s, kind="stable")
        hole_s, hole_e, inside = hole_s[order], hole_e[order], inside[order]
        j = np.searchsorted(rs, hole_e, side="left") - 1
        label = _track_label(plan, t_strand, t_hap)
        for s, e, jj, is_in in zip(
            hole_s.tolist(), hole_e.tolist(), j.tolist(), inside.tolist(), strict=True
        ):
            # Rows are in start order; look back over the few rows that may reach this hole.
            reason = None
            for k in range(jj, max(jj - 4, -1), -1) if is_in else ():
                if re_[k] > s:
                    code = int(status[rows[k]]) if rows[k] < status.size else 255
                    reason = _status_reason(code)
                    break
            reason = reason or _reason_no_row(plan, s, e, tails)
            by_reason[reason] += e - s
            n_uncovered += 1
            if len(listed) < max_listed:
                ci, pos = iv.from_line(off, np.array([s]))
                listed.append(
                    {
                        "contig": plan.contigs[int(ci[0])],
                        "start": int(pos[0]),
                        "end": int(pos[0]) + e - s,
                        "track": label,
                        "reason": reason,
                    }
                )
    total_real = n_real * len(tracks)
    n_req = iv.total(req_s, req_e)
    return {
        "bases_requested": n_req,
        "n_bases_requested": n_req - n_real,
        "real_bases_requested": n_real,
        "tracks": len(tracks),
        "real_bases_total": total_real,
        "real_bases_covered": covered,
        "fraction_covered": covered / total_real if total_real else 1.0,
        "uncovered_bp": total_real - covered,
        "uncovered_by_reason": dict(by_reason),
        "n_uncovered_intervals": n_uncovered,
        "uncovered": listed,
        "gap_aware": plan.gap_aware,
        "contigs_left_out": [list(x) for x in plan.summary.skipped_contigs],
    }


def _column_groups(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Group haplotypes whose (status, end) columns are equal over every window row.

    Args:
        blocks: per window unit in row order, (status codes [u, H], end [u, H]).

    Returns:
        (group of each haplotype [H], per group its status column [W], its end column [W]);
        memory O(H + groups x W), whatever the number of units.
    """
    group: np.ndarray | None = None
    hist_status: list[list[np.ndarray]] = []
    hist_end: list[list[np.ndarray]] = []
    for status, end in blocks:
        status, end = np.asarray(status, np.int64), np.asarray(end, np.int64)
        h = status.shape[1]
        if group is None:
            group = np.zeros(h, np.int64)
            hist_status, hist_end = [[]], [[]]
        key = np.concatenate([group[:, None], status.T, end.T], axis=1)  # [H, 1 + 2u]
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # number groups by first haplotype
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        new_status, new_end = [], []
        for m in first[order].tolist():
            old = int(group[m])
            new_status.append([*hist_status[old], status[:, m]])
            new_end.append([*hist_end[old], end[:, m]])
        group, hist_status, hist_end = rank[inverse.reshape(-1)], new_status, new_end
    if group is None:
        return np.zeros(0, np.int64), [], []
    cat = [np.concatenate(x) if x else np.zeros(0, np.int64) for x in hist_status]
    ends = [np.concatenate(x) if x else np.zeros(0, np.int64) for x in hist_end]
    return group, cat, ends


def cohort_coverage(
    plan: WindowPlan,
    haplotype_names: Sequence[str],
    blocks: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    max_listed: int = MAX_LISTED,
) -> dict[str, Any]:
    """`compute_coverage` of a cohort store, one track per (strand, haplotype), without
    the W x H rows in memory: haplotypes with equal statuses and ends everywhere (nearly
    all of them) share one computation.

    Args:
        plan: the run's window plan (reference rows: one per window and strand).
        haplotype_names: the store's haplotypes, in `blocks` column order.
        blocks: per window unit, in row order: (status codes [u, H], stored end [u, H]).
        max_listed: uncovered intervals listed in full.

    Returns:
        The record of `compute_coverage` over the (window, haplotype) rows.
    """
    group, status_cols, end_cols = _column_groups(blocks)
    n_strands = len(set(plan.strand.tolist()))
    parts = [
        compute_coverage(
            plan,
            contig_index=plan.contig_index,
            start=plan.start,
            end=end_cols[g],
            strand=plan.strand,
            haplotype=plan.haplotype,
            status=status_cols[g],
            max_listed=max_listed * max(n_strands, 1),
        )
        for g in range(len(status_cols))
    ]
    if not parts:
        raise ValueError("no haplotype to measure coverage on")
    count = np.bincount(group, minlength=len(parts))
    out = dict(parts[0])
    for key in ("tracks", "real_bases_total", "real_bases_covered", "n_uncovered_intervals"):
        out[key] = int(sum(int(c) * p[key] for c, p in zip(count, parts, strict=True)))
    reasons: Counter[str] = Counter()
    for c, p in zip(count, parts, strict=True):
        for reason, bp in p["uncovered_by_reason"].items():
            reasons[reason] += int(c) * bp
    out["uncovered_by_reason"] = dict(reasons)
    total = out["real_bases_total"]
    out["fraction_covered"] = out["real_bases_covered"] / total if total else 1.0
    out["uncovered_bp"] = total - out["real_bases_covered"]
    listed: list[dict[str, Any]] = []
    for strand in sorted(set(plan.strand.tolist())):  # track order: strand, haplotype
        symbol = Strand(strand).symbol
        for h, name in enumerate(haplotype_names):
            for item in parts[int(group[h])]["uncovered"]:
                if item["track"] == symbol and len(listed) < max_listed:
                    listed.append({**item, "track": f"{name}({symbol})"})
    out["uncovered"] = listed
    return out


def _status_reason(code: int) -> str:
    try:
        name = WindowStatus(code).name
    except ValueError:
        name = str(code)
    if code == int(WindowStatus.SHRUNK_TO_TOKEN_BUDGET):
        return "SHRUNK_TO_TOKEN_BUDGET: the window's tail was cut to fit the tokens"
    if code == int(WindowStatus.PENDING):
        return "PENDING: its unit has not run yet"
    return name


def format_coverage(cov: dict[str, Any]) -> str:
    """One line for summaries: '100.000% of real bases covered (x of y bp; z N bp requested)'."""
    pct = 100.0 * float(cov["fraction_covered"])
    text = (
        f"coverage: {pct:.3f}% of real bases in an embedded window "
        f"({cov['real_bases_covered']:,} of {cov['real_bases_total']:,} bp over "
        f"{cov['tracks']} track(s); {cov['n_bases_requested']:,} N bp requested, not embedded)"
    )
    if cov["uncovered_bp"]:
        reasons = "; ".join(f"{r}: {bp:,} bp" for r, bp in cov["uncovered_by_reason"].items())
        text += f"; uncovered: {reasons}"
    return text
