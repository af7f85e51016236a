"""Layer boundaries of DESIGN.md: pure layers import no file or cluster library; Ray only in
the Ray executor (runner/ray.py) and the Ray Jobs client (ntscale/submit/)."""

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
    # The Jobs client talks HTTP to a cluster: no model, no genome files, no store.
    "submit": {"jax", "haiku", "pysam", "cyvcf2", "pyfaidx", "zarr", "xarray", "dask"},
}
# Upward imports between ntscale layers are forbidden too (imports point downwards).
LOWER_THAN = {
    "tokenizer": {"model", "genome", "store", "scoring", "runner", "submit", "cli"},
    "model": {"genome", "store", "scoring", "runner", "submit", "cli"},
    "genome": {"model", "store", "scoring", "runner", "submit", "cli"},
    "store": {"model", "scoring", "runner", "submit", "cli", "genome"},
    "scoring": {"genome", "store", "runner", "submit", "cli"},
    "runner": {"cli", "analysis", "submit"},
    "analysis": {"model", "scoring", "runner", "submit", "cli"},
    # Beside the runner, not on top of it: a job's driver is a whole `ntscale` command.
    "submit": {"tokenizer", "model", "genome", "store", "scoring", "runner", "analysis", "cli"},
}
# Genotype input in VCF Zarr form is read with zarr, as VCF/BCF are with cyvcf2: that one
# genome module may import zarr (an input format, not the output store, which genome must
# not know about).
LIBRARY_ALLOWED = {("genome/vcz.py", "zarr")}
# The only places that may import Ray (relative to ntscale/): files, or folders ending in "/".
RAY_ALLOWED = ("runner/ray.py", "submit/")


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
            if (
                top in FORBIDDEN[layer]
                and (f.relative_to(PKG).as_posix(), top) not in LIBRARY_ALLOWED
            ):
                bad.append(f"{f.relative_to(PKG)} imports {mod}")
            parts = mod.split(".")
            if parts[0] == "ntscale" and len(parts) > 1 and parts[1] in LOWER_THAN.get(layer, ()):
                bad.append(f"{f.relative_to(PKG)} imports upward {mod}")
    assert not bad, "\n".join(bad)


def test_the_zarr_exception_is_one_genome_module_only():
    """genome/vcz.py is the only genome module with zarr; ntscale.store stays out of genome."""
    with_zarr = sorted(
        f.relative_to(PKG).as_posix()
        for f in (PKG / "genome").rglob("*.py")
        if any(m.split(".")[0] == "zarr" for m in imported_modules(f))
    )
    assert with_zarr == ["genome/vcz.py"]
    assert not any(
        m.startswith("ntscale.store") for m in imported_modules(PKG / "genome" / "vcz.py")
    )


def _ray_allowed(relative: str) -> bool:
    return any(relative.startswith(p) if p.endswith("/") else relative == p for p in RAY_ALLOWED)


def test_ray_only_in_the_executor_and_the_jobs_client():
    bad = [
        rel
        for f in PKG.rglob("*.py")
        if not _ray_allowed(rel := f.relative_to(PKG).as_posix())
        and any(m.split(".")[0] == "ray" for m in imported_modules(f))
    ]
    assert not bad, f"Ray imported outside {', '.join(RAY_ALLOWED)}: {bad}"


def test_ray_allow_list_names_real_places_that_use_ray():
    """An allowed place that no longer imports Ray (or was renamed) must leave the list."""
    for place in RAY_ALLOWED:
        files = sorted(PKG.glob(f"{place}**/*.py")) if place.endswith("/") else [PKG / place]
        assert all(f.is_file() for f in files) and files, f"{place} does not exist"
        assert any(any(m.split(".")[0] == "ray" for m in imported_modules(f)) for f in files), (
            f"{place} imports no Ray; remove it from RAY_ALLOWED"
        )
