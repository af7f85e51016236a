"""`ntscale score`: zero-shot variant effect scores of a VCF into Zarr (+ VCF/TSV/Parquet)."""

from __future__ import annotations

import dataclasses
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
    SpeciesOpt,
    TrustPickleOpt,
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


@app.command()
def score(
    fasta: FastaOpt = None,
    vcf: Annotated[
        str | None,
        Opt(
            rich_help_panel=INPUT,
            help="Variants to score: VCF/BCF ('-': standard input) or a table (.tsv, .csv, "
            ".parquet) with chrom, pos (1-based), ref, alt.",
        ),
    ] = None,
    contig_map: ContigMapOpt = None,
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    out: OutOpt = None,
    scores: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="Scores: llr (= llr_masked + llr_wt), llr_masked, llr_wt, l2, cosine, flat, "
            "aligned (frame-aware indel distance).",
        ),
    ] = None,
    preset: Annotated[
        str | None,
        Opt(
            rich_help_panel=MODEL,
            help="A published protocol: traitgym (5,994 bp, both strands, N 6-mers collapsed).",
        ),
    ] = None,
    collapse_n: Annotated[
        bool | None,
        Opt(
            "--collapse-n/--no-collapse-n",
            rich_help_panel=WINDOWS,
            help="Tokenize in a fixed 6-mer frame, 6-mers with N as one N token (TraitGym).",
        ),
    ] = None,
    layers: Annotated[
        str | None,
        Opt(
            rich_help_panel=MODEL,
            help="Layers of the distance scores, e.g. 6,12 (default: the last).",
        ),
    ] = None,
    window_bp: WindowBpOpt = None,
    window_mode: Annotated[
        str | None,
        Opt(
            rich_help_panel=WINDOWS,
            help="centred (a window per variant) or tiled (fixed tiles shared by variants).",
        ),
    ] = None,
    strands: Annotated[
        str | None,
        Opt(
            rich_help_panel=WINDOWS, help="forward, reverse or both (scores averaged over strands)."
        ),
    ] = None,
    share_windows: Annotated[
        bool | None,
        Opt(
            "--share-windows/--no-share-windows",
            rich_help_panel=WINDOWS,
            help="Share forward passes of identical windows (off: one pass per variant).",
        ),
    ] = None,
    calibrate: Annotated[
        bool | None,
        Opt(
            "--calibrate/--no-calibrate",
            rich_help_panel=OUTPUTS,
            help="Tiled llr_wt: percentiles among every SNV of the tiles (llr_wt_pct); "
            "implies --window-mode tiled and llr_wt.",
        ),
    ] = None,
    unit_variants: Annotated[
        int | None, Opt(rich_help_panel=EXECUTION, help="Variants per work unit (= store chunk).")
    ] = None,
    batch_size: BatchSizeOpt = None,
    devices_per_actor: DevicesPerActorOpt = None,
    dtype: DtypeOpt = None,
    ray: RayOpt = None,
    max_actors: MaxActorsOpt = None,
    actor_start_timeout: ActorStartTimeoutOpt = None,
    trust_pickle_: TrustPickleOpt = False,
    vcf_out: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="Also write the input VCF annotated in place: every field kept, scores as "
            "NTS_* INFO (Number=A); .bcf for BCF, else bgzipped VCF; indexed.",
        ),
    ] = None,
    drop_genotypes: Annotated[
        bool | None,
        Opt(
            "--drop-genotypes/--keep-genotypes",
            rich_help_panel=OUTPUTS,
            help="With --vcf-out: leave the samples' genotypes out (sites only).",
        ),
    ] = None,
    table_out: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="Also write a table, one row per ALT in input order (.tsv, .csv or .parquet).",
        ),
    ] = None,
    scored_only: Annotated[
        bool | None,
        Opt(
            "--scored-only/--all-rows",
            rich_help_panel=OUTPUTS,
            help="With --table-out: only rows whose status carries scores (docs/scoring.md).",
        ),
    ] = None,
    tracks: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="Per-base LLR tracks of --regions instead of a VCF: PREFIX.<track>.bw.",
        ),
    ] = None,
    regions: Annotated[
        str | None,
        Opt(rich_help_panel=INPUT, help="BED regions: of --tracks, or the VCF records to score."),
    ] = None,
    bedgraph: Annotated[
        bool | None,
        Opt(
            "--bedgraph/--no-bedgraph",
            rich_help_panel=OUTPUTS,
            help="With --tracks: also PREFIX.<track>.bedGraph.gz (runs merged, tabix-indexed).",
        ),
    ] = None,
    unit_bases: Annotated[
        int | None, Opt(rich_help_panel=EXECUTION, help="Bases per work unit of --tracks.")
    ] = None,
    species: SpeciesOpt = None,
    track_names: Annotated[
        str | None,
        Opt(
            rich_help_panel=OUTPUTS,
            help="NTv3 track_delta: bigWig tracks to score, comma-separated (default: all).",
        ),
    ] = None,
    config: ConfigOpt = None,
    progress: ProgressOpt = None,
    dry_run: Annotated[
        bool,
        Opt(
            "--dry-run",
            rich_help_panel=EXECUTION,
            help="Plan only: print variants, statuses, units, forward passes and estimated "
            "device time; write no store (the FASTA's N-run index may be cached: docs/genome.md).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Score every ALT allele of a VCF with a Nucleotide Transformer and write a Zarr store."""
    # parameters are named as ScoreConfig's (and TrackConfig's) fields
    settings = command_settings(config, locals())
    from ntscale.config import ScoreConfig
    from ntscale.runner.score_job import ScoreJob
    from ntscale.store.export import export_table, export_vcf

    trust_pickle(trust_pickle_)
    from ntscale.cli.ntv3_dispatch import is_ntv3_model, ntv3_score_job, reject_ntv3_options

    source = config or "the command line"
    if is_ntv3_model(settings.get("model")):
        job = ntv3_score_job(settings, source=source, command_line=command_line())
        departures = {}
    else:
        reject_ntv3_options(settings)
        tracks_run = settings.get("tracks") or settings.get("bedgraph")
        if tracks_run or (settings.get("regions") and not settings.get("vcf")):
            _tracks(settings, source=source, dry_run=dry_run, as_json=as_json)
            return
        cfg = build_config(ScoreConfig, settings, source=source)
        job = ScoreJob.plan_from_config(cfg, command_line=command_line(), dry_run=dry_run)
        departures = job.preset_departures()
    cfg = job.config  # reads the prepared input when stdin, a table or --regions was given
    for key, (given, protocol) in departures.items():
        typer.echo(
            f"warning: {key}={given} departs from the {cfg.preset} protocol ({key}={protocol}); "
            "the scores are not the published protocol's",
            err=True,
        )
    summary = plan_or_run(job, cfg.execution, store=cfg.out, label="variants",
                          what="variant scores", dry_run=dry_run, as_json=as_json)  # fmt: skip
    if summary is None:
        return
    outputs = {}
    if cfg.vcf_out:
        outputs["vcf"] = str(export_vcf(cfg.out, cfg.vcf_out, drop_genotypes=cfg.drop_genotypes))
        say(f"VCF with scores: {outputs['vcf']}", as_json=as_json)
    if cfg.table_out:
        outputs["table"] = str(export_table(cfg.out, cfg.table_out, scored_only=cfg.scored_only))
        say(f"table: {outputs['table']}", as_json=as_json)
    if as_json:
        emit_json(summary, store=cfg.out, outputs=outputs)


def _tracks(settings: dict, *, source: str, dry_run: bool, as_json: bool) -> None:
    """`--tracks PREFIX --regions BED`: the per-base track job, then bigWig + bedGraph."""
    from ntscale.config import ExecutionConfig, TrackConfig
    from ntscale.errors import ConfigError
    from ntscale.runner.track_job import TrackJob
    from ntscale.store.tracks import export_tracks

    given = {k for k, v in settings.items() if v is not None}
    keys = {f.name for f in dataclasses.fields(TrackConfig)}
    other = sorted(given - keys - {f.name for f in dataclasses.fields(ExecutionConfig)})
    if other:
        raise ConfigError(
            f"--tracks scans --regions base by base; {', '.join(other)} do not apply to it "
            "(score a VCF in a separate run)"
        )
    if not settings.get("tracks") or not settings.get("regions"):
        raise ConfigError("--tracks PREFIX and --regions BED go together; give both")
    cfg = build_config(TrackConfig, {k: settings[k] for k in given}, source=source)
    job = TrackJob.plan_from_config(cfg, command_line=command_line(), dry_run=dry_run)
    summary = plan_or_run(job, cfg.execution, store=cfg.out, label="bases",
                          what="per-base tracks", dry_run=dry_run, as_json=as_json)  # fmt: skip
    if summary is None:
        return
    paths = [str(p) for p in export_tracks(cfg.out, cfg.tracks, bedgraph=cfg.bedgraph)]
    for path in paths:
        say(f"track: {path}", as_json=as_json)
    if as_json:
        emit_json(summary, store=cfg.out, outputs={"tracks": paths})
