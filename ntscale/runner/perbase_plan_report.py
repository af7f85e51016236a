"""`ntscale segment --dry-run`: what a per-base run would do, from its own plan.

Uses `PerBaseJob.plan_from_config` (the code a real run uses): intervals, windows and the
coverage record are exact; forward passes are exact for reference runs (a window kept by
two units runs in both, as in the run) and an upper bound with `--vcf` (every haplotype
distinct; a run forwards and stores each distinct window sequence once, so the store
size is an upper bound there too). Memory figures are host
buffers of one worker unit, computed from the shapes (estimates, not measurements).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ntscale.runner.perbase_job import PerBaseJob

_DTYPE_BYTES = {"float16": 2, "float32": 4}


def _size(n_bytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes / 2**10:,.1f} KiB"


def windows_run(job: PerBaseJob) -> int:
    """Windows the units run, a window kept by two units counted twice (as it runs)."""
    plan = job.plan
    return sum(len(plan.windows_for_rows(*job.unit_range(u))) for u in range(job.n_units()))


def describe_perbase_plan(job: PerBaseJob) -> dict[str, Any]:
    """Intervals, windows, units, coverage, batch, store size and memory of a per-base plan."""
    plan, c = job.plan, job.config
    n_tracks = len(job.spec.track_names)
    n_haps = len(job.haplotype_names)
    runs = windows_run(job)
    value_bytes = _DTYPE_BYTES[c.value_dtype]
    lengths = plan.win_end - plan.win_start
    longest = int(lengths.max()) if len(lengths) else 0
    per_unit_windows = max(
        (len(plan.windows_for_rows(*job.unit_range(u))) for u in range(job.n_units())), default=0
    )
    unit_rows = job.unit_size
    # haplotype values: each distinct window sequence once (at most every haplotype), and
    # per unit an index [segment = window run, haplotype] of int64 (docs/store.md)
    segments = per_unit_windows if n_haps else 0
    index_bytes = job.n_units() * segments * n_haps * 8
    memory = {
        # float32 buffers of one unit: reference values, then at most every haplotype's
        "unit_values": unit_rows * n_tracks * 4 * (1 + n_haps),
        "unit_segment_index": segments * n_haps * 8,
        # one window's outputs lifted to reference coordinates: reference + each distinct
        # sequence (at most every haplotype) + the NaN slot
        "window_outputs": longest * n_tracks * 4 * (2 + n_haps),
        # the windows' sequences of one unit held as text
        "unit_sequences": per_unit_windows * longest * (1 + n_haps),
    }
    return {
        "model": job.run.model.name,
        "tracks": list(job.spec.track_names),
        "window_bp": job.run.window_bp,
        "overlap_bp": job.run.window_bp - job.stride_bp,
        "stride_bp": job.stride_bp,
        "window_rule": f"multiple of {job.spec.multiple_bp} bp, {job.spec.min_window_bp:,}-"
        f"{job.spec.max_window_bp:,} bp, N {'allowed' if job.spec.accepts_n else 'not allowed'}",
        "intervals": len(plan.start),
        "windows": len(plan.win_start),
        "window_bp_min": int(lengths.min()) if len(lengths) else 0,
        "windows_run": runs,
        "units": job.n_units(),
        "unit_windows": c.unit_windows,
        "unit_bases": unit_rows,
        "batch_size": job.run.batch_size,
        "dtype": job.run.dtype,
        "haplotypes": n_haps,
        "forward_passes": runs * (1 + n_haps),
        "forward_passes_upper_bound": bool(n_haps),
        "coverage": plan.coverage(),
        "store_bytes_uncompressed": int(plan.n_bases * n_tracks * value_bytes * (1 + n_haps))
        + index_bytes,
        "store_bytes_upper_bound": bool(n_haps),
        "hap_segments_per_unit": segments,
        "worker_host_memory_bytes": memory,
        "worker_host_memory_total": int(sum(memory.values())),
        "bases_per_window_run": round(plan.n_bases / runs, 1) if runs else None,
        "centre_distance_min_bp": _centre_margin(job),
    }


def _centre_margin(job: PerBaseJob) -> int | None:
    """Closest distance of a kept base to its window's edge, intervals' ends aside."""
    p = job.plan
    if len(p.win_start) < 3:
        return None
    first_row = p.offset[:-1] - p.start
    i = np.searchsorted(p.offset, p.keep_lo, side="right") - 1
    base = first_row[i]
    lo = p.keep_lo - base - p.win_start
    hi = p.win_end - (p.keep_hi - base)
    inner = (p.keep_lo > p.offset[i]) & (p.keep_hi < p.offset[i + 1])
    return int(np.minimum(lo, hi)[inner].min()) if inner.any() else None


def format_perbase_plan(p: dict[str, Any]) -> str:
    """Text for the terminal."""
    cov = p["coverage"]
    haps = p["haplotypes"]
    lines = [
        f"plan (dry run, nothing written): model {p['model']}, {len(p['tracks'])} tracks, "
        f"window {p['window_bp']:,} bp ({p['window_rule']}), overlap {p['overlap_bp']:,} bp, "
        f"stride {p['stride_bp']:,} bp",
        f"intervals (N-free): {p['intervals']:,}; windows: {p['windows']:,} (shortest "
        f"{p['window_bp_min']:,} bp); units: {p['units']:,} of {p['unit_windows']} windows "
        f"({p['unit_bases']:,} bases); windows run: {p['windows_run']:,}",
        f"coverage: {cov['valued_bases']:,} of {cov['real_bases']:,} real bases valued "
        f"({100 * cov['fraction_valued']:.4f}%); {cov['n_too_short']} interval(s) too short",
        f"batch: {p['batch_size']} windows, {p['dtype']}; forward passes: "
        + (
            f"at most {p['forward_passes']:,} (reference + {haps:,} haplotypes per window; "
            "each distinct sequence runs once)"
            if p["forward_passes_upper_bound"]
            else f"{p['forward_passes']:,}"
        ),
        f"store (uncompressed): {'at most ' if haps else ''}"
        f"{_size(p['store_bytes_uncompressed'])}"
        + (
            f" (reference + each distinct window sequence of {haps:,} haplotypes once, "
            "and the index of each window's haplotypes)"
            if haps
            else ""
        ),
        "host memory per worker unit (estimate): "
        + ", ".join(f"{k} {_size(v)}" for k, v in p["worker_host_memory_bytes"].items())
        + f"; total {_size(p['worker_host_memory_total'])} (device memory: the model's)",
    ]
    if p["centre_distance_min_bp"] is not None:
        lines.append(
            f"stitching: each base from the window whose centre is nearest; kept bases are at "
            f"least {p['centre_distance_min_bp']:,} bp from their window's edges (intervals' "
            "own ends aside)"
        )
    return "\n".join(lines)


__all__ = ["describe_perbase_plan", "format_perbase_plan", "windows_run"]
