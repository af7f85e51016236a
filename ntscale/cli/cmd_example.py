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


# The example's input files, relative to the project root; passed to `embed` as absolute paths
# so that the example runs from any folder and writes only where the user is.
EXAMPLE_INPUTS = {
    "--fasta": "examples/data/chr20_2mb.fa.gz",
    "--model": "examples/checkpoints/nt-v2-tiny",
    "--regions": "examples/data/regions.bed",
    "--vcf": "examples/data/chr20_2mb.vcf.gz",
}


def example_args(root: Path, out: str, ray: str | None) -> list[str]:
    """The `ntscale embed` arguments of the example: bundled inputs, the user's output path."""
    args = ["embed", "--config", str(root / EXAMPLE_CONFIG)]
    for flag, rel in EXAMPLE_INPUTS.items():
        args += [flag, str(root / rel)]
    args += ["--out", out]
    if ray:
        args += ["--ray", ray]
    return args


@app.command()
def example(
    out: Annotated[
        str, typer.Option(help="Where to write the example store (relative to this folder).")
    ] = "out/example.zarr",
    ray: Annotated[
        str | None, typer.Option(help="Run on Ray ('local', 'auto' or an address).")
    ] = None,
) -> None:
    """Embed bundled chr20 regions and two samples' haplotypes with the bundled tiny model."""
    from ntscale.cli.main import main as cli_main

    root = find_project_root()
    args = example_args(root, out, ray)
    typer.echo(f"ntscale example: bundled inputs from {root}, writing {Path(out).absolute()}")
    cli_main(args)
