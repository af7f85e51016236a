"""Writing one work unit at a time, from any process.

Parallel-write rule (as in xarray's distributed writes): metadata first, then each writer
owns whole, distinct chunks. The driver calls `create_or_open` once, which creates every
array (unwritten rows read as their fill value: NaN embeddings, PENDING status). Units
then write their own rows from any process, and the caller marks a unit done only after
its data is written, so a unit killed half-way is redone on resume.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import zarr
from zarr.core.sync import sync as zarr_sync

from ntscale.errors import StoreError
from ntscale.store import backend
from ntscale.store.schema import (
    RESERVED_ATTRS,
    VARIANT_FIELDS,
    VARIANT_UNITS_DONE,
    WINDOW_FIELDS,
    WINDOW_UNITS_DONE,
    StoreLayout,
    check_schema_version,
    embedding_kinds,
    embedding_path,
    score_path,
    to_plain,
)

logger = logging.getLogger(__name__)

_PARTS = ("windows", "variants")


def open_writer(url: str) -> StoreWriter:
    """Reopen an existing store for writing units (in a worker process)."""
    return StoreWriter(str(url))


class StoreWriter:
    """Writes whole work units into an existing store; picklable (re-opened by URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._group = backend.open_existing(url, "r+")
        attrs = dict(self._group.attrs)
        check_schema_version(attrs, url)
        self.layout = StoreLayout.from_json(attrs["layout"])
        self.contig_names: list[str] = [c[0] for c in attrs["contigs"]]
        self._contig_lookup = {name: i for i, name in enumerate(self.contig_names)}
        self._arrays: dict[str, zarr.Array] = {}

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (open_writer, (self.url,))

    def __repr__(self) -> str:
        return f"StoreWriter({self.url!r})"

    def _array(self, path: str) -> zarr.Array:
        arr = self._arrays.get(path)
        if arr is None:
            arr = self._arrays[path] = self._group[path]
        return arr

    def _done_path(self, part: str) -> str:
        if part not in _PARTS:
            raise StoreError(f"part {part!r} must be one of {_PARTS}")
        if part == "variants" and not self.layout.n_variants:
            raise StoreError(f"store {self.url!r} has no variant part (n_variants=0)")
        return WINDOW_UNITS_DONE if part == "windows" else VARIANT_UNITS_DONE

    def done_units(self, part: str = "windows") -> np.ndarray:
        """Bool mask over the units of `part` ("windows" or "variants"): True = done."""
        return np.asarray(self._array(self._done_path(part))[:], dtype=bool)

    def mark_done(self, unit: int, *, part: str = "windows") -> None:
        """Mark a unit done; call only after its write_* call returned."""
        path = self._done_path(part)
        if part == "windows":
            self.layout.window_rows(unit)
        else:
            self.layout.variant_rows(unit)
        self._write(path, slice(unit, unit + 1), np.ones(1, dtype=bool))

    def set_attrs(self, **kv: Any) -> None:
        """Update root attributes (run summary); the driver only, never a unit writer."""
        clash = sorted(set(kv) & set(RESERVED_ATTRS))
        if clash:
            raise StoreError(f"attributes {clash} are owned by the store and cannot be set")
        try:
            self._group.attrs.update(to_plain(kv))
        except OSError as e:
            raise backend.write_error(self.url, e) from e

    def _write(self, path: str, rows: slice, data: np.ndarray) -> int:
        return self._write_all(rows, [(path, data)])

    def _write_all(self, rows: slice, blocks: list[tuple[str, np.ndarray]]) -> int:
        """Write the same rows of several arrays concurrently (one unit's chunks)."""

        targets = [(self._array(path).async_array, data) for path, data in blocks]

        async def write() -> None:
            await asyncio.gather(*(arr.setitem(rows, data) for arr, data in targets))

        try:
            # zarr's own event loop: encoding and storing of the arrays overlap (1.3-1.5x
            # faster than one array after the other, see docs/benchmarks.md, "Store writes").
            zarr_sync(write())
        except OSError as e:
            raise backend.write_error(self.url, e) from e
        return sum(int(data.nbytes) for _, data in blocks)

    def _contig_indices(self, values: np.ndarray, where: str) -> np.ndarray:
        if values.dtype.kind in "iu":
            bad = (values < 0) | (values >= len(self.contig_names))
            if bad.any():
                raise StoreError(
                    f"{where}: contig_index {int(values[bad][0])!r} out of range for "
                    f"{len(self.contig_names)} contigs"
                )
            return values.astype(np.int32)
        try:
            return np.array([self._contig_lookup[str(v)] for v in values], dtype=np.int32)
        except KeyError as e:
            raise StoreError(
                f"{where}: contig {e.args[0]!r} is not among the store's contigs "
                f"{self.contig_names[:10]}"
            ) from None

    def _rows(
        self, fields: dict[str, tuple[Any, Any]], given: dict[str, np.ndarray], n: int, where: str
    ) -> dict[str, np.ndarray]:
        given = dict(given)
        if "contig" in given and "contig_index" not in given:
            given["contig_index"] = given.pop("contig")
        missing = sorted(set(fields) - set(given))
        extra = sorted(set(given) - set(fields))
        if missing or extra:
            raise StoreError(
                f"{where}: fields missing {missing}, unknown {extra}; expected {sorted(fields)}"
            )
        out = {}
        for name, (dtype, _) in fields.items():
            values = np.asarray(given[name])
            if values.shape != (n,):
                raise StoreError(
                    f"{where}: field {name!r} has shape {values.shape}, expected ({n},)"
                )
            if name == "contig_index":
                values = self._contig_indices(values, where)
            elif name == "strand" and values.dtype.kind in "UOS":
                values = np.where(values.astype(str) == "-", 1, 0).astype(np.int8)
            elif dtype is str:
                values = values.astype(str)
            else:
                values = values.astype(dtype)
            out[name] = values
        return out

    def write_window_unit(
        self,
        unit: int,
        *,
        windows: dict[str, np.ndarray],
        embeddings: dict[int, dict[str, np.ndarray]],
    ) -> int:
        """Write one window unit's rows (does not mark it done).

        Args:
            unit: unit index k; the unit owns rows [k * unit_windows, (k+1) * unit_windows).
            windows: per-row arrays named as in WINDOW_FIELDS (`contig` names may replace
                `contig_index`; `strand` may be Strand codes or "+"/"-").
            embeddings: layer -> {"mean": [n, D], "cls": [n, D], "tokens": [n, T, D]} with
                exactly the kinds the layout stores; any float dtype (bfloat16 included)
                is cast to the stored dtype.

        Returns:
            Bytes of array data written (uncompressed).
        """
        lo, hi = self.layout.window_rows(unit)
        n, where = hi - lo, f"window unit {unit} (rows {lo}-{hi})"
        rows = self._rows(WINDOW_FIELDS, windows, n, where)
        kinds = embedding_kinds(self.layout)
        if sorted(embeddings) != sorted(self.layout.layers):
            raise StoreError(
                f"{where}: embeddings for layers {sorted(embeddings)}, the store "
                f"holds layers {list(self.layout.layers)}"
            )
        blocks: list[tuple[str, np.ndarray]] = []
        for layer in self.layout.layers:
            given = embeddings[layer]
            if sorted(given) != sorted(kinds):
                raise StoreError(
                    f"{where}: layer {layer} has kinds {sorted(given)}, the store "
                    f"holds {list(kinds)}"
                )
            for kind in kinds:
                if kind == "tokens":
                    shape = (n, self.layout.max_tokens, self.layout.embed_dim)
                    dtype = self.layout.per_token_dtype
                else:
                    shape, dtype = (n, self.layout.embed_dim), "float32"
                values = np.asarray(given[kind])
                if values.shape != shape:
                    raise StoreError(
                        f"{where}: layer {layer} {kind!r} has shape "
                        f"{values.shape}, expected {shape}"
                    )
                blocks.append((embedding_path(layer, kind), values.astype(dtype, copy=False)))
        blocks += [(f"windows/{name}", values) for name, values in rows.items()]
        return self._write_all(slice(lo, hi), blocks)

    def write_variant_unit(
        self, unit: int, *, variants: dict[str, np.ndarray], scores: dict[str, np.ndarray]
    ) -> int:
        """Write one variant unit's rows and scores (does not mark it done).

        Args:
            unit: variant unit index; owns rows [k * unit_variants, (k+1) * unit_variants).
            variants: per-row arrays named as in VARIANT_FIELDS (`contig` names may replace
                `contig_index`); `pos` is the 0-based start of REF.
            scores: name -> [n] float array for every name in the layout's score_names.

        Returns:
            Bytes of array data written (uncompressed; strings counted as stored in memory).
        """
        self._done_path("variants")
        lo, hi = self.layout.variant_rows(unit)
        n, where = hi - lo, f"variant unit {unit} (rows {lo}-{hi})"
        rows = self._rows(VARIANT_FIELDS, variants, n, where)
        if sorted(scores) != sorted(self.layout.score_names):
            raise StoreError(
                f"{where}: scores {sorted(scores)}, the store holds {list(self.layout.score_names)}"
            )
        blocks = []
        for name in self.layout.score_names:
            values = np.asarray(scores[name])
            if values.shape != (n,):
                raise StoreError(
                    f"{where}: score {name!r} has shape {values.shape}, expected ({n},)"
                )
            blocks.append((score_path(name), values.astype(np.float32)))
        blocks += [(f"variants/{name}", values) for name, values in rows.items()]
        return self._write_all(slice(lo, hi), blocks)
