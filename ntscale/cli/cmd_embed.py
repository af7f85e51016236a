"""`ntscale embed`: per-layer window embeddings of a genome (or its haplotypes) into Zarr."""

from __future__ import annotations

from typing import Annotated

import typer

from ntscale.cli.common import (
    BatchSizeOpt,
    ConfigOpt,
    DtypeOpt,
    FastaOpt,
    MaxActorsOpt,
    ModelOpt,
    OutOpt,
    ProgressOpt,
    RayOpt,
    WindowOpt,
    command_line,
    merge_settings,
    parse_int_list,
    parse_str_list,
    print_summary,
    run_job,
)
from ntscale.cli.main import app
from ntscale.config import EmbedConfig, build_config

Opt = typer.Option


@app.command()
def embed(
    fasta: FastaOpt = None,
    model: ModelOpt = None,
    out: OutOpt = None,
    layers: Annotated[
        str | None, Opt(help="Layers to keep, e.g. 6,12 (default: the last).")
    ] = None,
    regions: Annotated[
        str | None, Opt(help="BED file of regions to tile (default: whole contigs).")
    ] = None,
    vcf: Annotated[
        str | None, Opt(help="Phased, indexed VCF/BCF: embed haplotypes instead of the reference.")
    ] = None,
    samples: Annotated[
        str | None, Opt(help="Samples of the VCF, comma-separated (default: all).")
    ] = None,
    include_contigs: Annotated[str | None, Opt(help="Contig names or patterns to include.")] = None,
    exclude_contigs: Annotated[str | None, Opt(help="Contig names or patterns to exclude.")] = None,
    min_contig_bp: Annotated[int | None, Opt(help="Skip contigs shorter than this.")] = None,
    window: WindowOpt = None,
    stride: Annotated[int | None, Opt(help="Stride in bp (default: the window length).")] = None,
    strands: Annotated[str | None, Opt(help="forward, reverse or both.")] = None,
    last_window: Annotated[str | None, Opt(help="At contig ends: shift, truncate or drop.")] = None,
    per_token: Annotated[
        bool | None,
        Opt("--per-token/--no-per-token", help="Also keep per-token embeddings (float16; large)."),
    ] = None,
    cls: Annotated[
        bool | None, Opt("--cls/--no-cls", help="Also keep the CLS token embedding.")
    ] = None,
    unphased: Annotated[
        str | None, Opt(help="Unphased heterozygous genotypes: error, ref, alt or skip.")
    ] = None,
    unit_windows: Annotated[int | None, Opt(help="Windows per work unit (= store chunk).")] = None,
    dedup: Annotated[
        bool | None,
        Opt(
            "--dedup/--no-dedup",
            help="One forward pass per distinct window sequence of a unit (default); "
            "--no-dedup runs every row (same numbers, for checking).",
        ),
    ] = None,
    batch_size: BatchSizeOpt = None,
    dtype: DtypeOpt = None,
    ray: RayOpt = None,
    max_actors: MaxActorsOpt = None,
    config: ConfigOpt = None,
    progress: ProgressOpt = None,
) -> None:
    """Embed every window of a genome (or of VCF haplotypes) and write a Zarr store."""
    from ntscale.runner.embed_job import EmbedJob

    settings = merge_settings(
        config,
        {
            "fasta": fasta,
            "model": model,
            "out": out,
            "layers": parse_int_list(layers, name="layers"),
            "regions": regions,
            "vcf": vcf,
            "samples": parse_str_list(samples),
            "include_contigs": parse_str_list(include_contigs),
            "exclude_contigs": parse_str_list(exclude_contigs),
            "min_contig_bp": min_contig_bp,
            "window_bp": window,
            "stride_bp": stride,
            "strands": strands,
            "last_window": last_window,
            "per_token": per_token,
            "cls": cls,
            "unphased": unphased,
            "unit_windows": unit_windows,
            "dedup": dedup,
            "batch_size": batch_size,
            "dtype": dtype,
            "ray": ray,
            "max_actors": max_actors,
            "progress": progress,
        },
    )
    cfg = build_config(EmbedConfig, settings, source=config or "the command line")
    job = EmbedJob.plan_from_config(cfg, command_line=command_line())
    summary = run_job(job, cfg.execution, label="windows")
    print_summary(summary, store=cfg.out, what="embeddings")
