"""`ntscale example`: the README's main job on the bundled example genome and checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ntscale.cli.main import app
from ntscale.errors import MissingInputError

EXAMPLE_CONFIG = "configs/example.yaml"


def find_project_root() -> Path:
    """The source checkout holding examples/ and configs/ (ntscale installed editable)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / EXAMPLE_CONFIG).is_file():
        raise MissingInputError(
            "the bundled example is not available: run this from an ntscale source checkout "
            "installed with `pip install -e .` (see README)",
            path=root / EXAMPLE_CONFIG,
        )
    return root


@app.command()
def example(
    out: Annotated[
        str, typer.Option(help="Where to write the example store.")
    ] = "out/example.zarr",
    ray: Annotated[
        str | None, typer.Option(help="Run on Ray ('local', 'auto' or an address).")
    ] = None,
) -> None:
    """Embed bundled chr20 regions and two samples' haplotypes with the bundled tiny model."""
    import os

    from ntscale.cli.main import main as cli_main

    root = find_project_root()
    os.chdir(root)
    args = ["embed", "--config", EXAMPLE_CONFIG, "--out", out]
    if ray:
        args += ["--ray", ray]
    typer.echo(f"ntscale example: running `ntscale {' '.join(args)}` in {root}")
    cli_main(args)
