"""`ntscale embed`: per-layer window embeddings of a genome (or its haplotypes) into Zarr."""

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
    ContigMapOpt,
    DevicesPerActorOpt,
    DtypeOpt,
    FastaOpt,
    JsonOpt,
    MaxActorsOpt,
    ModelOpt,
    OutOpt,
    ProgressOpt,
    RayOpt,
    RevisionOpt,
    SamplesOpt,
    SpeciesOpt,
    TrustPickleOpt,
    UnphasedOpt,
    WindowBpOpt,
    command_line,
    command_settings,
    emit_json,
    plan_or_run,
    trust_pickle,
)
from ntscale.cli.main import app
from ntscale.config import EmbedConfig, build_config

Opt = typer.Option


@app.command()
def embed(
    fasta: FastaOpt = None,
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    out: OutOpt = None,
    layers: Annotated[
        str | None,
        Opt(rich_help_panel=MODEL, help="Layers to keep, e.g. 6,12 (default: the last)."),
    ] = None,
    regions: Annotated[
        str | None,
        Opt(rich_help_panel=INPUT, help="BED file of regions to tile (default: whole contigs)."),
    ] = None,
    vcf: Annotated[
        str | None,
        Opt(
            rich_help_panel=INPUT,
            help="Phased, indexed VCF/BCF, or a VCF Zarr store (.vcz, bio2zarr): embed "
            "haplotypes instead of the reference.",
        ),
    ] = None,
    samples: SamplesOpt = None,
    include_contigs: Annotated[
        str | None, Opt(rich_help_panel=INPUT, help="Contig names or patterns to include.")
    ] = None,
    exclude_contigs: Annotated[
        str | None, Opt(rich_help_panel=INPUT, help="Contig names or patterns to exclude.")
    ] = None,
    min_contig_bp: Annotated[
        int | None, Opt(rich_help_panel=INPUT, help="Skip contigs shorter than this.")
    ] = None,
    window_bp: WindowBpOpt = None,
    stride_bp: Annotated[
        int | None,
        Opt(
            "--stride-bp",
            "--stride",
            rich_help_panel=WINDOWS,
            help="Stride in bp (default: the window length).",
        ),
    ] = None,
    strands: Annotated[
        str | None, Opt(rich_help_panel=WINDOWS, help="forward, reverse or both.")
    ] = None,
    last_window: Annotated[
        str | None, Opt(rich_help_panel=WINDOWS, help="At contig ends: shift, truncate or drop.")
    ] = None,
    gap_aware: Annotated[
        bool | None,
        Opt(
            "--gap-aware/--no-gap-aware",
            rich_help_panel=WINDOWS,
            help="Tile only the N-free parts of the genome (default on; docs/genome.md).",
        ),
    ] = None,
    per_token: Annotated[
        bool | None,
        Opt(
            "--per-token/--no-per-token",
            rich_help_panel=OUTPUTS,
            help="Also keep per-token embeddings (float16; large).",
        ),
    ] = None,
    cls: Annotated[
        bool | None,
        Opt("--cls/--no-cls", rich_help_panel=OUTPUTS, help="Also keep the CLS token embedding."),
    ] = None,
    unphased: UnphasedOpt = None,
    unit_windows: Annotated[
        int | None,
        Opt(
            rich_help_panel=EXECUTION,
            help="Windows per work unit (= store chunk); with --vcf, genomic windows with all "
            "their strands and haplotypes.",
        ),
    ] = None,
    contig_map: ContigMapOpt = None,
    dedup: Annotated[
        bool | None,
        Opt(
            "--dedup/--no-dedup",
            rich_help_panel=EXECUTION,
            help="One forward pass per distinct window sequence of a unit (default); "
            "--no-dedup runs every row (same numbers, for checking).",
        ),
    ] = None,
    species: SpeciesOpt = None,
    batch_size: BatchSizeOpt = None,
    devices_per_actor: DevicesPerActorOpt = None,
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
            help="Plan only: print windows, units, bases, store size and estimated device "
            "time; write no store (the FASTA's N-run index may be cached: docs/genome.md).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Embed every window of a genome (or of VCF haplotypes) and write a Zarr store."""
    settings = command_settings(config, locals())  # parameters are named as EmbedConfig's
    from ntscale.runner.embed_job import EmbedJob

    trust_pickle(trust_pickle_)
    from ntscale.cli.ntv3_dispatch import is_ntv3_model, ntv3_embed_job, reject_ntv3_options

    source = config or "the command line"
    if is_ntv3_model(settings.get("model")):
        job = ntv3_embed_job(settings, source=source, command_line=command_line())
    else:
        reject_ntv3_options(settings)
        cfg = build_config(EmbedConfig, settings, source=source)
        job = EmbedJob.plan_from_config(cfg, command_line=command_line(), dry_run=dry_run)
    cfg = job.config
    summary = plan_or_run(job, cfg.execution, store=cfg.out, label="windows",
                          what="embeddings", dry_run=dry_run, as_json=as_json)  # fmt: skip
    if summary is not None and as_json:
        emit_json(summary, store=cfg.out)
