"""Layer boundaries of DESIGN.md: pure layers import no file or cluster library; Ray in runner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ntscale"

FORBIDDEN = {
    "tokenizer": {"pysam", "cyvcf2", "pyfaidx", "zarr", "ray", "jax", "haiku", "xarray", "dask"},
    "model": {"pysam", "cyvcf2", "pyfaidx", "zarr", "ray", "xarray", "dask"},
    "scoring": {"pysam", "cyvcf2", "pyfaidx", "zarr", "ray", "xarray", "dask"},
    "genome": {"jax", "haiku", "ray", "zarr"},
    "store": {"jax", "haiku", "ray"},
    "analysis": {"jax", "haiku", "ray"},
}
# Upward imports between ntscale layers are forbidden too (imports point downwards).
LOWER_THAN = {
    "tokenizer": {"model", "genome", "store", "scoring", "runner", "cli"},
    "model": {"genome", "store", "scoring", "runner", "cli"},
    "genome": {"model", "store", "scoring", "runner", "cli"},
    "store": {"model", "scoring", "runner", "cli", "genome"},
    "scoring": {"genome", "store", "runner", "cli"},
    "runner": {"cli", "analysis"},
    "analysis": {"model", "scoring", "runner", "cli"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_no_forbidden_library(layer):
    files = sorted((PKG / layer).rglob("*.py"))
    assert files, f"layer {layer} has no modules"
    bad = []
    for f in files:
        for mod in imported_modules(f):
            top = mod.split(".")[0]
            if top in FORBIDDEN[layer]:
                bad.append(f"{f.relative_to(PKG)} imports {mod}")
            parts = mod.split(".")
            if parts[0] == "ntscale" and len(parts) > 1 and parts[1] in LOWER_THAN.get(layer, ()):
                bad.append(f"{f.relative_to(PKG)} imports upward {mod}")
    assert not bad, "\n".join(bad)


def test_ray_only_in_runner():
    bad = [
        str(f.relative_to(PKG))
        for f in PKG.rglob("*.py")
        if f.parent.name != "runner" and any(m.split(".")[0] == "ray" for m in imported_modules(f))
    ]
    assert not bad, f"Ray imported outside ntscale/runner: {bad}"
