"""`ntscale info`: what is in a store (job, model, settings, progress, coverage, last run)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ntscale.cli.main import app


@app.command()
def info(
    store: Annotated[str, typer.Argument(help="The Zarr store (path or fsspec URL).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Describe a store, finished, running or interrupted: units done, statuses, coverage."""
    from ntscale.analysis.info import format_info, store_info

    described = store_info(store)
    typer.echo(json.dumps(described, indent=1, default=str) if as_json else format_info(described))
