"""`ntscale segment`: per-base tracks (SegmentNT's 14 elements) of a genome into Zarr,
then one bigWig per track and a BED of called elements.

A command of its own rather than `embed --head segmentation`: its store holds values per
base over the N-free intervals (not per window), its windows follow the head's rules
(multiples of 24 bp, no N, stitched from their centres) and its outputs are genome tracks,
so almost none of `embed`'s options would apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ntscale.cli.common import (
    EXECUTION,
    INPUT,
    OUTPUTS,
    WINDOWS,
    ActorStartTimeoutOpt,
    BatchSizeOpt,
    ConfigOpt,
    ContigMapOpt,
    DtypeOpt,
    FastaOpt,
    JsonOpt,
    MaxActorsOpt,
    ModelOpt,
    OutOpt,
    ProgressOpt,
    RayOpt,
    SamplesOpt,
    SpeciesOpt,
    TrustPickleOpt,
    UnphasedOpt,
    WindowBpOpt,
    command_line,
    command_settings,
    emit_json,
    plan_or_run,
    say,
    trust_pickle,
)
from ntscale.cli.main import app
from ntscale.config import build_config

Opt = typer.Option

if TYPE_CHECKING:
    from ntscale.config import PerBaseConfig


@app.command()
def segment(
    fasta: FastaOpt = None,
    model: ModelOpt = None,
    out: OutOpt = None,
    regions: Annotated[
        str | None, Opt(rich_help_panel=INPUT, help="BED regions (default: every contig).")
    ] = None,
    include_contigs: Annotated[
        str | None, Opt(rich_help_panel=INPUT, help="Only these contigs, e.g. chr1,chr2.")
    ] = None,
    window_bp: WindowBpOpt = None,
    overlap_bp: Annotated[
        int | None,
        Opt(rich_help_panel=WINDOWS, help="Overlap of neighbouring windows (default: half)."),
    ] = None,
    unit_windows: Annotated[
        int | None,
        Opt(rich_help_panel=EXECUTION, help="Windows per work unit (a unit = a store chunk)."),
    ] = None,
    value_dtype: Annotated[
        str | None,
        Opt(rich_help_panel=OUTPUTS, help="Stored values: float16 (default) or float32."),
    ] = None,
    bigwig: Annotated[
        str | None, Opt(rich_help_panel=OUTPUTS, help="Also write PREFIX.<track>.bw per track.")
    ] = None,
    bed: Annotated[
        str | None, Opt(rich_help_panel=OUTPUTS, help="Also write the called elements as BED.")
    ] = None,
    threshold: Annotated[
        float | None,
        Opt(rich_help_panel=OUTPUTS, help="Value at or above which a base is in an element (0.5)."),
    ] = None,
    species: SpeciesOpt = None,
    track_names: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="NTv3: bigWig tracks and bed.<element> annotations, comma-separated "
            "(default: all of the species).",
        ),
    ] = None,
    vcf: Annotated[
        str | None,
        Opt(
            rich_help_panel=INPUT,
            help="Phased, indexed VCF/BCF (or .vcz): also value every haplotype, in "
            "reference coordinates (docs/store.md, per-base haplotypes).",
        ),
    ] = None,
    samples: SamplesOpt = None,
    unphased: UnphasedOpt = None,
    contig_map: ContigMapOpt = None,
    export_haplotypes: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="With --vcf and --bigwig/--bed: also export these haplotypes (SAMPLE:phase) "
            "or samples (both haplotypes), comma-separated, or 'all'. One bigWig per "
            "haplotype and track; BED: one file per haplotype.",
        ),
    ] = None,
    batch_size: BatchSizeOpt = None,
    dtype: DtypeOpt = None,
    ray: RayOpt = None,
    max_actors: MaxActorsOpt = None,
    actor_start_timeout: ActorStartTimeoutOpt = None,
    trust_pickle_: TrustPickleOpt = False,
    config: ConfigOpt = None,
    progress: ProgressOpt = None,
    dry_run: Annotated[
        bool,
        Opt(
            "--dry-run",
            rich_help_panel=EXECUTION,
            help="Plan only: print intervals, windows, coverage, units, batch, forward "
            "passes, store size and host memory; write no store.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Per-base values for every real base: SegmentNT elements, NTv3 tracks and annotation."""
    settings = command_settings(config, locals())
    settings.pop("export_haplotypes", None)
    from ntscale.config import PerBaseConfig
    from ntscale.runner.perbase_job import PerBaseJob

    trust_pickle(trust_pickle_)
    cfg = build_config(PerBaseConfig, settings, source=config or "the command line")
    if export_haplotypes and not cfg.vcf:
        raise typer.BadParameter(
            "--export-haplotypes needs --vcf", param_hint="--export-haplotypes"
        )
    job = PerBaseJob.plan_from_config(cfg, command_line=command_line())
    haps = [] if dry_run else _export_haplotypes(export_haplotypes, job.haplotype_names)
    summary = plan_or_run(
        job,
        cfg.execution,
        store=cfg.out,
        label="bases",
        what="per-base values",
        dry_run=dry_run,
        as_json=as_json,
    )
    if summary is None:  # the dry run's plan is printed
        return
    cov = summary.get("perbase_coverage") or {}
    if cov:
        say(
            f"coverage: {cov['valued_bases']:,} of {cov['real_bases']:,} real bases valued "
            f"({100 * cov['fraction_valued']:.4f}%); {cov['n_too_short']} interval(s) too short",
            as_json=as_json,
        )
    outputs = _exports(cfg, haps, as_json=as_json)
    if as_json:
        emit_json(summary, store=cfg.out, outputs=outputs)


def _export_haplotypes(value: str | None, names: tuple[str, ...]) -> list[str]:
    """The haplotypes `--export-haplotypes` names ('all', SAMPLE:phase or SAMPLE items)."""
    if not value:
        return []
    items = [v for v in value.replace(",", " ").split() if v]
    if items == ["all"]:
        return list(names)
    out: list[str] = []
    for item in items:
        hit = [n for n in names if n == item or n.rsplit(":", 1)[0] == item]
        if not hit:
            raise typer.BadParameter(
                f"{item!r} is not a haplotype (SAMPLE:phase) or sample of the VCF",
                param_hint="--export-haplotypes",
            )
        out += [n for n in hit if n not in out]
    return out


def _exports(cfg: PerBaseConfig, haps: list[str], *, as_json: bool) -> dict:
    """bigWig and BED files of the reference values, then of each chosen haplotype."""
    from ntscale.store.perbase_export import export_bed, export_bigwig, haplotype_file_part

    outputs: dict = {}
    for hap in [None, *haps]:
        key = "reference" if hap is None else hap
        if cfg.bigwig:
            paths = export_bigwig(cfg.out, cfg.bigwig, haplotype=hap)
            outputs.setdefault("bigwig", {})[key] = [str(p) for p in paths]
            for path in paths:
                say(f"bigWig: {path}", as_json=as_json)
        if cfg.bed:
            bed = cfg.bed if hap is None else _bed_path(cfg.bed, haplotype_file_part(hap))
            path, n = export_bed(cfg.out, bed, thresholds=cfg.threshold, haplotype=hap)
            outputs.setdefault("bed", {})[key] = str(path)
            say(f"BED: {path} ({n:,} elements at threshold {cfg.threshold})", as_json=as_json)
    return outputs


def _bed_path(bed: str, part: str) -> str:
    """calls.bed -> calls.SAMPLE_phase.bed (the haplotype before the extension)."""
    head, dot, ext = bed.rpartition(".")
    return f"{head}.{part}.{ext}" if dot and "/" not in ext else f"{bed}.{part}"


__all__ = ["segment"]
