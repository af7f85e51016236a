"""What a run would do, without running it: `--dry-run` of `ntscale embed` and `ntscale score`.

Uses the job's own plan (`EmbedJob.plan_from_config`, the same code a real run uses) and
adds sizes and an estimated device time. The throughput figures are the measurements and
targets of docs/benchmarks.md: **estimates**, labelled with where each comes from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ntscale.genome import intervals as iv
from ntscale.runner.perbase_plan_report import describe_perbase_plan, format_perbase_plan

if TYPE_CHECKING:
    from ntscale.runner.embed_job import EmbedJob
    from ntscale.runner.score_job import ScoreJob
    from ntscale.runner.track_job import TrackJob

# windows/s at full-length windows (2,048 tokens for v2), per model and device kind.
# "measured": docs/benchmarks.md (2-core CPU VM, shared, noisy); "target": the GPU targets
# of the issues and DESIGN.md (not measured: no GPU was lent when this was written).
THROUGHPUT: dict[str, dict[str, tuple[float, str]]] = {
    "nt-v2-tiny": {"cpu": (3.4, "measured, 2-core CPU, 8 x 2048 bf16")},
    "50M_multi_species_v2": {
        "cpu": (0.159, "measured, 2-core CPU, 2 x 2048 bf16"),
        "h100": (1000.0, "target, not measured"),
    },
    "500M_multi_species_v2": {"h100": (200.0, "target, not measured")},
}


# Rates no one has measured: said so in every plan rather than guessed (docs/scaling.md).
NOT_MEASURED: dict[str, str] = {
    "tpu": "not measured: no TPU has run ntscale yet (one actor per TPU host, all its chips)",
}


def _not_measured_lines(p: dict[str, Any]) -> list[str]:
    """Plan text for the device kinds without a rate."""
    return [
        f"estimated device time on one {kind} host: {why}"
        for kind, why in p.get("device_time_not_measured", {}).items()
    ]


def _size(n_bytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes / 2**10:,.1f} KiB"


def describe_embed_plan(job: EmbedJob) -> dict[str, Any]:
    """Windows, units, bases, output sizes and device-time estimates of an EmbedJob's plan."""
    plan, c = job.plan, job.config
    req_s, req_e = plan.requested
    n_bp = iv.total(req_s, req_e)
    n_n = iv.total(*plan.n_runs) if plan.n_runs is not None else None
    lengths = plan.end - plan.start
    n_haps = len(job.haplotype_names) if job.cohort else 1
    # cohort: (window, haplotype) rows; the distinct sequences stored and run are known
    # only once the workers read the genotypes, so sizes and times are upper bounds
    n = plan.n_windows * n_haps
    d = job.run.embed_dim
    per_layer = {"mean (float32)": n * d * 4}
    if c.cls:
        per_layer["cls (float32)"] = n * d * 4
    if c.per_token:
        per_layer["per-token (float16)"] = n * job.run.max_tokens * d * 2
    estimates = {
        kind: {
            "windows_per_second": rate,
            "basis": basis,
            "hours": round(n / rate / 3600, 3),
        }
        for kind, (rate, basis) in THROUGHPUT.get(job.run.model.name, {}).items()
    }
    return {
        "model": job.run.model.name,
        "max_tokens": job.run.max_tokens,
        "window_bp": job.run.window_bp,
        "stride_bp": job.run.stride_bp,
        "gap_aware": plan.gap_aware,
        "windows": n,
        "window_rows": plan.n_windows,
        "haplotypes": n_haps if job.cohort else 0,
        "tracks": len(set(plan.strand.tolist())) * n_haps,
        "short_windows": plan.summary.n_short_windows,
        "window_bp_min": int(lengths.min()) if n else 0,
        "units": job.n_units(),
        "unit_windows": c.unit_windows,
        "bases_requested": n_bp,
        "n_bases": n_n,
        "real_bases": n_bp - n_n if n_n is not None else None,
        "bases_in_windows": int(lengths.sum()),
        "dropped_tails_bp": sum(r.end - r.start for r in plan.summary.dropped_tails),
        "contigs_left_out": [list(x) for x in plan.summary.skipped_contigs],
        "layers": list(job.run.layers),
        "store_bytes_per_layer_uncompressed": per_layer,
        "store_bytes_uncompressed": sum(per_layer.values()) * len(job.run.layers),
        "upper_bounds": job.cohort,  # cohort: every haplotype distinct (never reached)
        "device_time_estimates": estimates,
        "device_time_not_measured": dict(NOT_MEASURED),
    }


def format_embed_plan(p: dict[str, Any]) -> str:
    """Text for the terminal."""
    lines = [
        f"plan (dry run, nothing written): model {p['model']}, window {p['window_bp']:,} bp, "
        f"stride {p['stride_bp']:,} bp, gap-aware {'yes' if p['gap_aware'] else 'no'}",
        f"windows: {p['windows']:,} over {p['tracks']} track(s) "
        f"({p['short_windows']:,} shorter than the window), units: {p['units']:,} of "
        f"{p['unit_windows']} windows"
        + (
            f" ({p['window_rows']:,} window rows x {p['haplotypes']:,} haplotypes; sizes and "
            "times below are upper bounds: each distinct sequence is stored and run once)"
            if p.get("upper_bounds")
            else ""
        ),
        f"bases requested: {p['bases_requested']:,}; real {p['real_bases'] or 0:,}; "
        f"N {p['n_bases'] or 0:,}"
        + ("" if p["n_bases"] is not None else " (no N-run index: N bases not counted)"),
        "store per layer (uncompressed): "
        + ", ".join(f"{k} {_size(v)}" for k, v in p["store_bytes_per_layer_uncompressed"].items())
        + f"; {len(p['layers'])} layer(s): {_size(p['store_bytes_uncompressed'])}",
    ]
    if p["dropped_tails_bp"]:
        lines.append(f"left out by last_window=drop: {p['dropped_tails_bp']:,} bp")
    ests = p["device_time_estimates"]
    if ests:
        for kind, e in ests.items():
            lines.append(
                f"estimated device time on one {kind}: {e['hours']:,} h at "
                f"{e['windows_per_second']:,} windows/s ({e['basis']}, full-length windows; "
                "docs/benchmarks.md)"
            )
    else:
        lines.append(
            f"estimated device time: no throughput figure for {p['model']} "
            "(docs/benchmarks.md lists the measured models)"
        )
    return "\n".join(lines + _not_measured_lines(p))


def describe_score_plan(job: ScoreJob) -> dict[str, Any]:
    """Variants, statuses known before sequence is read, units and approximate forward passes.

    Planned unit by unit, as the run reads its rows: a streamed job (sorted, indexed VCF)
    holds one unit's rows at a time, never the whole table (685 MB at 1 M variants). The
    distinct reference windows of a contig are counted across its units; a streamed VCF is
    sorted, so a contig's set is dropped when the next contig starts.
    """
    from ntscale.types import ScoreStatus

    statuses: Counter[int] = Counter()
    n_scored = snv = 0
    n_strands = len(job.run.strands)
    seen: dict[str, list[set[int]]] = {}  # contig -> per strand, the window starts seen
    distinct = [0] * n_strands
    window_bp, mode, strands = job.run.window_bp, job.config.window_mode, None
    for table, windows, rows in _score_chunks(job):
        status = np.asarray(windows.status)[rows]
        statuses.update(Counter(status.tolist()))
        scored = status < 10
        n_scored += int(scored.sum())
        snv += int((scored & table.is_snv()[rows]).sum())
        window_bp, mode, strands = int(windows.window_bp), windows.mode, list(windows.strands)
        contig = table.contig[rows][scored].tolist()
        starts = windows.start[rows][scored]
        for c in dict.fromkeys(contig):
            if c not in seen:
                if job.units is not None:  # sorted: the previous contigs are finished
                    seen.clear()
                seen[c] = [set() for _ in range(n_strands)]
        for s in range(n_strands):
            for c, start in zip(contig, starts[:, s].tolist(), strict=True):
                known = seen[c][s]
                if start not in known:
                    known.add(start)
                    distinct[s] += 1
        del table, windows
    # Reference windows (shared when share_windows), one alt pass per scored row, and one
    # masked pass per SNV for llr_masked; the worker's exact pass plan can share more.
    ref_passes = sum(distinct) if job.config.share_windows else n_scored
    passes = ref_passes + n_strands * n_scored
    if "llr_masked" in job.kinds:
        passes += n_strands * snv
    estimates = _estimates(job.run.model.name, passes)
    return {
        "model": job.run.model.name,
        "window_bp": window_bp,
        "window_mode": mode,
        "strands": strands if strands is not None else list(job.run.strands),  # no rows
        "variants": job.n_variants,
        "variants_to_score": n_scored,
        "snvs_to_score": snv,
        "status_before_scoring": {
            ScoreStatus(int(c)).name.lower(): int(statuses[c]) for c in sorted(statuses)
        },
        "units": job.n_units(),
        "distinct_reference_windows": int(sum(distinct)),
        "forward_passes_approx": int(passes),
        "scores": list(job.names),
        "device_time_estimates": estimates,
        "device_time_not_measured": dict(NOT_MEASURED),
    }


def _score_chunks(job: ScoreJob) -> Iterator[tuple[Any, Any, slice]]:
    """(table, windows, rows) to plan: a whole-table job's table at once (it is in memory
    already), a streamed job's units one at a time (read from the VCF like the run does)."""
    if job.units is None:
        yield job.table, job.windows, slice(None)
        return
    for unit in range(job.n_units()):
        table, windows, off = job.unit_table(unit)
        a, b = job.unit_range(unit)
        yield table, windows, slice(off, off + b - a)


def format_score_plan(p: dict[str, Any]) -> str:
    """Text for the terminal."""
    statuses = ", ".join(f"{k} {v:,}" for k, v in p["status_before_scoring"].items())
    lines = [
        f"plan (dry run, nothing written): model {p['model']}, window {p['window_bp']:,} bp "
        f"({p['window_mode']}), strands {','.join(p['strands'])}",
        f"variants: {p['variants']:,} ({p['variants_to_score']:,} to score, "
        f"{p['snvs_to_score']:,} SNVs); units: {p['units']:,}",
        f"statuses known before reading sequence: {statuses}",
        f"forward passes: about {p['forward_passes_approx']:,} "
        f"({p['distinct_reference_windows']:,} distinct reference windows)",
    ]
    for kind, e in p["device_time_estimates"].items():
        lines.append(
            f"estimated device time on one {kind}: {e['hours']:,} h at "
            f"{e['windows_per_second']:,} passes/s ({e['basis']}, full-length windows: an "
            "upper bound for shorter ones; docs/benchmarks.md)"
        )
    if not p["device_time_estimates"]:
        lines.append(f"estimated device time: no throughput figure for {p['model']}")
    return "\n".join(lines + _not_measured_lines(p))


def _estimates(model: str, passes: int) -> dict[str, dict[str, Any]]:
    return {
        kind: {"windows_per_second": rate, "basis": basis, "hours": round(passes / rate / 3600, 4)}
        for kind, (rate, basis) in THROUGHPUT.get(model, {}).items()
    }


def describe_track_plan(job: TrackJob) -> dict[str, Any]:
    """Regions, bases, units and the exact forward passes of a per-base track run.

    A unit passes each tile its bases read once per strand (the worker's own tile choice,
    the job's gap-aware `tiles`), so a tile whose bases fall in two units is counted twice,
    as it runs.
    """
    from ntscale.config import STRAND_SETS
    from ntscale.runner.track_job import TRACK_NAMES, real_bases

    w, n_strands = job.run.window_bp, len(STRAND_SETS[job.config.strands])
    tiles = 0
    for unit in range(job.n_units()):
        seen: set[int] = set()
        for contig, s, e, _row in job.segments(*job.unit_range(unit)):
            which = job.tiles.tile_of(contig, np.arange(s, e))
            seen.update(np.unique(which[which >= 0]).tolist())
        tiles += len(seen)
    passes = tiles * n_strands
    real = real_bases(job.regions, job.tiles.intervals)
    return {
        "model": job.run.model.name,
        "window_bp": w,
        "strands": list(STRAND_SETS[job.config.strands]),
        "regions": len(job.regions),
        "bases": job.n_rows,
        "real_bases": real,
        "n_bases": job.n_rows - real,
        "units": job.n_units(),
        "unit_bases": job.config.unit_bases,
        "tiles": tiles,
        "forward_passes": passes,
        "tracks": [f"{job.config.tracks}.{name}.bw" for name in TRACK_NAMES],
        "device_time_estimates": _estimates(job.run.model.name, passes),
        "device_time_not_measured": dict(NOT_MEASURED),
    }


def format_track_plan(p: dict[str, Any]) -> str:
    """Text for the terminal."""
    lines = [
        f"plan (dry run, nothing written): model {p['model']}, per-base tracks, "
        f"window {p['window_bp']:,} bp (tiled), strands {','.join(p['strands'])}",
        f"regions: {p['regions']:,}, bases: {p['bases']:,} ({p['real_bases']:,} real, all "
        f"valued; {p['n_bases']:,} N/IUPAC, status allele_not_acgt); units: {p['units']:,} "
        f"of {p['unit_bases']:,} bases",
        f"forward passes: {p['forward_passes']:,} ({p['tiles']:,} tile(s) per strand)",
        "tracks: " + ", ".join(p["tracks"]) + " (and .bedGraph)",
    ]
    for kind, e in p["device_time_estimates"].items():
        lines.append(
            f"estimated device time on one {kind}: {e['hours']:,} h at "
            f"{e['windows_per_second']:,} passes/s ({e['basis']}; docs/benchmarks.md)"
        )
    if not p["device_time_estimates"]:
        lines.append(f"estimated device time: no throughput figure for {p['model']}")
    return "\n".join(lines + _not_measured_lines(p))


def describe_ntv3_embed_plan(job: Any) -> dict[str, Any]:
    """Windows, units, bases, forward passes and store size of an NTv3EmbedJob's plan."""
    plan, ok = job.plan, job.plan.status == "ok"
    n_ok, dim = int(ok.sum()), job.embed_dim
    per_token = n_ok * job.max_len * dim * 2 if job.config.per_token else 0
    return {
        "model": job.run.model.name,
        "species": job.config.species,
        "window_bp": job.run.window_bp,
        "windows": plan.n_windows,
        "embedded": n_ok,
        "too_short": plan.n_windows - n_ok,
        "bases": int(plan.lengths()[ok].sum()),
        "units": job.n_units(),
        "unit_windows": job.unit_size,
        "forward_passes": n_ok,
        "batch_size": job.run.batch_size,
        "store_bytes": plan.n_windows * dim * 4 + per_token,
    }


def format_ntv3_embed_plan(p: dict[str, Any]) -> str:
    """Text for the terminal."""
    return "\n".join([
        f"plan (dry run, nothing written): model {p['model']} (NTv3), species "
        f"{p['species']}, window {p['window_bp']:,} bp",
        f"windows: {p['windows']:,} ({p['embedded']:,} embedded, {p['too_short']:,} too "
        f"short), bases: {p['bases']:,}; units: {p['units']:,} of {p['unit_windows']:,} windows",
        f"forward passes: {p['forward_passes']:,} (batch {p['batch_size']})",
        f"store: ~{_size(p['store_bytes'])} before compression",
    ])  # fmt: skip


def describe_ntv3_score_plan(job: Any) -> dict[str, Any]:
    """Variants, input statuses, units and forward passes (at most) of an NTv3ScoreJob."""
    from ntscale.types import ScoreStatus

    t = job.table
    ok = (t.status == ScoreStatus.OK) | (t.status == ScoreStatus.NO_LLR_NOT_SNV)
    one = (np.char.str_len(t.ref.astype(str)) == 1) & (np.char.str_len(t.alt.astype(str)) == 1)
    snv, other = ok & one, ok & ~one
    tracks = "track_delta" in job.kinds
    passes = int(snv.sum()) * ("llr_masked" in job.kinds) + tracks * 2 * int(ok.sum())
    counts = Counter(ScoreStatus(int(x)).name.lower() for x in t.status[~ok])
    return {
        "model": job.run.model.name,
        "species": job.config.species,
        "window_bp": job.run.window_bp,
        "variants": job.n_rows,
        "snvs": int(snv.sum()),
        "indels_mnvs": int(other.sum()),
        "not_scored": dict(counts),
        "scores": list(job.names),
        "units": job.n_units(),
        "unit_variants": job.unit_size,
        "forward_passes_at_most": passes,
        "batch_size": job.run.batch_size,
    }


def format_ntv3_score_plan(p: dict[str, Any]) -> str:
    """Text for the terminal."""
    skipped = ", ".join(f"{k} {v}" for k, v in p["not_scored"].items()) or "none"
    return "\n".join([
        f"plan (dry run, nothing written): model {p['model']} (NTv3), species "
        f"{p['species']}, window {p['window_bp']:,} bp",
        f"variants: {p['variants']:,} ({p['snvs']:,} SNVs, {p['indels_mnvs']:,} indels/MNVs; "
        f"kept with a status: {skipped}); units: {p['units']:,} of {p['unit_variants']:,}",
        f"scores: {len(p['scores'])} ({', '.join(p['scores'][:4])}"
        f"{', ...' if len(p['scores']) > 4 else ''})",
        f"forward passes: at most {p['forward_passes_at_most']:,} (batch {p['batch_size']}; "
        "REF windows shared within a unit run once)",
    ])  # fmt: skip


PLAN_REPORTS: dict[str, tuple[Any, Any]] = {
    "embed": (describe_embed_plan, format_embed_plan),
    "score": (describe_score_plan, format_score_plan),
    "tracks": (describe_track_plan, format_track_plan),
    "ntv3_embed": (describe_ntv3_embed_plan, format_ntv3_embed_plan),
    "ntv3_score": (describe_ntv3_score_plan, format_ntv3_score_plan),
    "perbase": (describe_perbase_plan, format_perbase_plan),
}
"""Job kind (`Job.KIND`) -> (describe: job -> plan dict, format: plan dict -> text)."""
