"""`ntscale segment`: per-base tracks (SegmentNT's 14 elements) of a genome into Zarr,
then one bigWig per track and a BED of called elements.

A command of its own rather than `embed --head segmentation`: its store holds values per
base over the N-free intervals (not per window), its windows follow the head's rules
(multiples of 24 bp, no N, stitched from their centres) and its outputs are genome tracks,
so almost none of `embed`'s options would apply.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ntscale.cli.common import (
    EXECUTION,
    INPUT,
    MODEL,
    OUTPUTS,
    WINDOWS,
    ActorStartTimeoutOpt,
    BatchSizeOpt,
    ConfigOpt,
    DtypeOpt,
    FastaOpt,
    MaxActorsOpt,
    ModelOpt,
    OutOpt,
    ProgressOpt,
    RayOpt,
    TrustPickleOpt,
    WindowBpOpt,
    command_line,
    command_settings,
    print_summary,
    run_job,
    trust_pickle,
)
from ntscale.cli.main import app
from ntscale.config import build_config

Opt = typer.Option


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
    species: Annotated[
        str | None,
        Opt(rich_help_panel=MODEL, help="NTv3 post-trained: the species conditioning the model."),
    ] = None,
    track_names: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="NTv3: bigWig tracks and bed.<element> annotations, comma-separated "
            "(default: all of the species).",
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
) -> None:
    """Per-base values for every real base: SegmentNT elements, NTv3 tracks and annotation."""
    settings = command_settings(config, locals())
    from ntscale.config import PerBaseConfig
    from ntscale.runner.perbase_job import PerBaseJob
    from ntscale.store.perbase_export import export_bed, export_bigwig

    trust_pickle(trust_pickle_)
    cfg = build_config(PerBaseConfig, settings, source=config or "the command line")
    job = PerBaseJob.plan_from_config(cfg, command_line=command_line())
    summary = run_job(job, cfg.execution, label="bases")
    print_summary(summary, store=cfg.out, what="per-base values")
    cov = summary.get("perbase_coverage") or {}
    if cov:
        typer.echo(
            f"coverage: {cov['valued_bases']:,} of {cov['real_bases']:,} real bases valued "
            f"({100 * cov['fraction_valued']:.4f}%); {cov['n_too_short']} interval(s) too short"
        )
    if cfg.bigwig:
        for path in export_bigwig(cfg.out, cfg.bigwig):
            typer.echo(f"bigWig: {path}")
    if cfg.bed:
        path, n = export_bed(cfg.out, cfg.bed, thresholds=cfg.threshold)
        typer.echo(f"BED: {path} ({n:,} elements at threshold {cfg.threshold})")


__all__ = ["segment"]
