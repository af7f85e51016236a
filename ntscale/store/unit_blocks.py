"""Per-unit side arrays: one fixed-shape block per work unit, e.g. a unit's calibration
background histogram, written by the unit's worker like its rows (one chunk per unit).

The array `<name>` has shape [n_units, *block] and chunks [1, *block], so unit k owns
chunk k and writers in different processes never touch the same object. The driver
creates it (after the store) and reads it back whole once the units are done.
"""

from __future__ import annotations

import numpy as np

from ntscale.errors import StoreError
from ntscale.store import backend


def ensure_unit_array(
    url: str, name: str, *, n_units: int, block: tuple[int, ...], dtype: str
) -> None:
    """Create `name` ([n_units, *block], zero-filled, chunk per unit) unless it exists.

    Raises:
        StoreError: an array of that name with another shape or dtype exists.
    """
    group = backend.open_existing(url, "r+")
    shape = (n_units, *block)
    try:
        if name in group:
            arr = group[name]
            if tuple(arr.shape) != shape or str(arr.dtype) != dtype:
                raise StoreError(
                    f"store {url!r}: {name} has shape {tuple(arr.shape)} {arr.dtype}, this run "
                    f"needs {shape} {dtype}; write to a new --out"
                )
            return
        group.create_array(
            name,
            shape=shape,
            chunks=(1, *block),
            dtype=dtype,
            fill_value=0,
            compressors=backend.compressors("zstd"),
        )
    except OSError as e:
        raise backend.write_error(url, e) from e


def write_unit_block(url: str, name: str, unit: int, data: np.ndarray) -> int:
    """Write unit `unit`'s block (before the unit is marked done); returns bytes written."""
    arr = backend.open_existing(url, "r+")[name]
    try:
        arr[unit] = data
    except OSError as e:
        raise backend.write_error(url, e) from e
    return int(np.asarray(data).nbytes)


def read_unit_blocks(url: str, name: str) -> np.ndarray | None:
    """The whole [n_units, *block] array, or None when the store has no such array."""
    group = backend.open_existing(url, "r")
    if name not in group:
        return None
    return np.asarray(group[name][:])


__all__ = ["ensure_unit_array", "read_unit_blocks", "write_unit_block"]
