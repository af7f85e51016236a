"""`ntscale report`: figures and one self-contained HTML page summarising a store."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from ntscale.cli.main import app

Opt = typer.Option


@app.command()
def report(
    store: Annotated[str, typer.Argument(help="The Zarr store (path or fsspec URL).")],
    out: Annotated[
        str | None, Opt(help="Output folder (default: STORE's name + '.report' beside it).")
    ] = None,
    fasta: Annotated[
        str | None,
        Opt(help="FASTA for GC content (default: the run's FASTA, if it is still there)."),
    ] = None,
    layer: Annotated[
        int | None, Opt(help="Embedding layer to analyse (default: the last).")
    ] = None,
    score: Annotated[
        str | None, Opt(help="Score of the top-variants table (default: the first).")
    ] = None,
    top: Annotated[int, Opt(help="Rows of the top-variants table.")] = 20,
    components: Annotated[int, Opt(help="Principal components of the PCA.")] = 10,
    workers: Annotated[
        int,
        Opt(
            help="Run on a dask.distributed LocalCluster of this many workers "
            "(0: dask's threads in this process)."
        ),
    ] = 0,
) -> None:
    """Analyse a store (windows, PCA, GC, variant scores) into PNGs + report.html."""
    import contextlib

    import ntscale.store as st
    from ntscale.analysis import build_report, write_html

    out_dir = Path(out) if out else Path(store.rstrip("/").split("://")[-1] + ".report")
    with contextlib.ExitStack() as stack:
        if workers > 0:
            from dask.distributed import Client, LocalCluster

            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    dashboard_address=None,
                    silence_logs=logging.WARNING,
                )
            )
            stack.enter_context(Client(cluster))
        ds = st.open(store)
        result = build_report(
            ds,
            out_dir,
            store=store,
            fasta=fasta,
            layer=layer,
            score=score,
            top_n=top,
            n_components=components,
        )
    (out_dir / "report.json").write_text(json.dumps(result, indent=1, default=str))
    page = write_html(result, out_dir / "report.html")
    typer.echo(f"report: {page}")
    typer.echo(f"figures: {', '.join(sorted(Path(p).name for p in result['figures'].values()))}")
    typer.echo(f"numbers: {out_dir / 'report.json'}")
