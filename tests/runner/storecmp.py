"""Compare two Zarr stores byte for byte (every chunk and array metadata file), or by value."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Root attributes that legitimately differ between two runs of the same job.
VOLATILE_ROOT = "zarr.json"


def store_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)) != VOLATILE_ROOT
    }


def assert_same_bytes(a: Path, b: Path) -> None:
    fa, fb = store_files(Path(a)), store_files(Path(b))
    assert sorted(fa) == sorted(fb), set(fa) ^ set(fb)
    differ = [k for k in fa if fa[k] != fb[k]]
    assert not differ, f"{len(differ)} files differ, e.g. {differ[:5]}"


def assert_same_values(a: Path, b: Path, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Same variables, coordinates and non-float values; float values equal to rounding.

    For runs that batch the same rows into different batch shapes (dedup on and off: the
    short last batches differ), where XLA's CPU matmuls may round a row differently in the
    last place; the completion checksums then differ too and are not compared.
    """
    from ntscale.store import open as open_store

    da, db = open_store(str(a)), open_store(str(b))
    assert sorted(da.variables) == sorted(db.variables)
    for name in da.variables:
        x, y = da[name].values, db[name].values
        assert x.shape == y.shape, name
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, equal_nan=True, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)
