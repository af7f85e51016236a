"""Compare two Zarr stores byte for byte (every chunk and array metadata file), or by value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

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


def assert_same_values(a: Path, b: Path) -> None:
    """Same arrays, rows and order: non-float arrays equal, floats within fp32 rounding.

    XLA:CPU sums a row's tokens in an order that depends on the rows per device, so pooled
    means may differ in the last bit (docs/scaling.md); NaNs (skipped rows) must match.
    """
    x, y = xr.open_zarr(a, decode_cf=False), xr.open_zarr(b, decode_cf=False)
    assert sorted(x.variables) == sorted(y.variables)
    assert x.sizes == y.sizes
    for name in x.variables:
        u, v = x[name].values, y[name].values
        if np.issubdtype(u.dtype, np.floating):
            np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(u, v, err_msg=name)
