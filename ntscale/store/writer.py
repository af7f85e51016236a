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
from ntscale.store import backend, lease
from ntscale.store.checksum import (
    CHECKSUM_KIND,
    RecordingStore,
    object_digest,
    stored_digest,
    unit_digest,
    unit_keys,
)
from ntscale.store.perbase_haps import HapSegments, unit_blocks
from ntscale.store.schema import (
    BASE_CHECKSUMS,
    BASE_UNITS_DONE,
    BASE_VALUES,
    COHORT_WINDOW_FIELDS,
    HAPLOTYPE_FIELDS,
    INTERVAL_FIELDS,
    REFERENCE_NAME,
    RESERVED_ATTRS,
    SEQUENCE_COUNTS,
    SEQUENCE_FIELDS,
    VARIANT_CHECKSUMS,
    VARIANT_FIELDS,
    VARIANT_UNITS_DONE,
    WINDOW_CHECKSUMS,
    WINDOW_FIELDS,
    WINDOW_UNITS_DONE,
    RowField,
    StoreLayout,
    check_schema_version,
    embedding_kinds,
    embedding_name,
    score_name,
    to_plain,
)
from ntscale.types import WindowStatus

logger = logging.getLogger(__name__)

_PARTS = ("windows", "variants", "bases")
_DONE = {
    "windows": (WINDOW_UNITS_DONE, WINDOW_CHECKSUMS),
    "variants": (VARIANT_UNITS_DONE, VARIANT_CHECKSUMS),
    "bases": (BASE_UNITS_DONE, BASE_CHECKSUMS),
}


def read_marks(array: zarr.Array) -> tuple[np.ndarray, dict[int, str]]:
    """The values of a per-unit completion array (done mask or checksums), and the units
    whose one-element chunk cannot be read ({unit: reason}; their value reads as 0).

    A damaged mark (a truncated or garbled chunk) is a damaged unit, not a failed read:
    resume redoes it and `verify` reports it.
    """
    try:
        return np.asarray(array[:]), {}
    except Exception:  # noqa: BLE001 - any decode failure: find the damaged chunks one by one
        pass
    values = np.zeros(array.shape, dtype=array.dtype)
    damaged = {}
    for unit in range(array.shape[0]):
        try:
            values[unit] = array[unit]
        except Exception as e:  # noqa: BLE001 - a damaged chunk of this unit
            damaged[unit] = f"{type(e).__name__}: {e}"
    return values, damaged


def open_writer(url: str, guard: lease.Guard | None = None) -> StoreWriter:
    """Reopen an existing store for writing units (in a worker process)."""
    return StoreWriter(str(url), guard=guard)


class StoreWriter:
    """Writes whole work units into an existing store; picklable (re-opened by URL)."""

    def __init__(self, url: str, *, guard: lease.Guard | None = None) -> None:
        self.url = url
        group = backend.open_existing(url, "r+")
        # the objects this writer stores are recorded (CRC-32) for the unit checksums
        self._store = RecordingStore(group.store)
        self._group = zarr.open_group(self._store, mode="r+", zarr_format=3, use_consolidated=False)
        # the run lease this writer writes under: checked before every write, so a run
        # that lost its lease to another stops at once (LeaseLost); None: no lease
        self._guard = guard or lease.guard(url)
        attrs = dict(self._group.attrs)
        check_schema_version(attrs, url)
        self.layout = StoreLayout.from_json(attrs["layout"])
        self.checksum_kind: str | None = attrs.get("checksums")
        self.contig_names: list[str] = [c[0] for c in attrs["contigs"]]
        self._contig_lookup = {name: i for i, name in enumerate(self.contig_names)}
        self.haplotype_names: list[str] = [str(x) for x in attrs.get("haplotype_names") or []]
        self.variant_status_names = {
            int(k): str(v) for k, v in dict(attrs.get("variant_status_names") or {}).items()
        }
        self._arrays: dict[str, zarr.Array] = {}
        # digest of each unit written by this writer, stored with its done mark
        self._digests: dict[tuple[str, int], int] = {}

    def __reduce__(self) -> tuple[Any, tuple[str, lease.Guard | None]]:
        return (open_writer, (self.url, self._guard))

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
        if part == "bases" and not self.layout.n_bases:
            raise StoreError(f"store {self.url!r} has no per-base part (n_bases=0)")
        return _DONE[part][0]

    def _checksum_path(self, part: str) -> str:
        self._done_path(part)
        return _DONE[part][1]

    def checksums(self, part: str = "windows") -> np.ndarray:
        """uint64 digest per unit of `part` as recorded with its done mark (0 = none or
        a damaged checksum chunk)."""
        values, _ = read_marks(self._array(self._checksum_path(part)))
        return np.asarray(values, dtype=np.uint64)

    def done_units(self, part: str = "windows") -> np.ndarray:
        """Bool mask over the units of `part` ("windows" or "variants"): True = done
        (a unit whose done mark is damaged counts as not done: resume redoes it)."""
        values, _ = read_marks(self._array(self._done_path(part)))
        return np.asarray(values, dtype=bool)

    def stored_digest(self, part: str, unit: int) -> int:
        """The checksum of unit `unit` as it is stored now (read back; raw objects for
        stores of CHECKSUM_KIND, so a damaged chunk is never decoded)."""
        return stored_digest(self._group, self.layout, self.url, part, unit, self.checksum_kind)

    def _written_digest(self, part: str, unit: int, values: dict[str, Any]) -> int:
        """The checksum of what this writer has just written for a unit (`values`: the
        unit's arrays by name, for stores with value digests)."""
        if self.checksum_kind != CHECKSUM_KIND:
            return unit_digest(values)
        keys = unit_keys(self._group, self.layout, part, unit)
        crcs = self._store.take(keys)
        if crcs is None:  # not all written through this writer: read them back
            return self.stored_digest(part, unit)
        return object_digest(unit, crcs)

    def mark_done(self, unit: int, *, part: str = "windows") -> None:
        """Mark a unit done, with its checksum; call only after its write_* call returned.

        The checksum is the digest of what this writer wrote for the unit; a unit written
        by another process is read back to compute it.
        """
        path = self._done_path(part)
        unit = int(unit)
        self.layout.rows(part, unit)
        digest = self._digests.pop((part, unit), None)
        if digest is None:
            digest = self.stored_digest(part, unit)
        rows = slice(unit, unit + 1)
        self._write(self._checksum_path(part), rows, np.array([digest], dtype=np.uint64))
        self._write(path, rows, np.ones(1, dtype=bool))

    def clear_done(self, units: np.ndarray | list[int], *, part: str = "windows") -> None:
        """Clear the done marks (and checksums) of `units` so a resume redoes them."""
        for unit in (int(u) for u in units):
            rows = slice(unit, unit + 1)
            self._write(self._done_path(part), rows, np.zeros(1, dtype=bool))
            self._write(self._checksum_path(part), rows, np.zeros(1, dtype=np.uint64))

    def set_attrs(self, **kv: Any) -> None:
        """Update root attributes (run summary); the driver only, never a unit writer."""
        clash = sorted(set(kv) & set(RESERVED_ATTRS))
        if clash:
            raise StoreError(f"attributes {clash} are owned by the store and cannot be set")
        self.check_lease()
        try:
            self._group.attrs.update(to_plain(kv))
        except OSError as e:
            raise backend.write_error(self.url, e) from e

    def check_lease(self) -> None:
        """Raise LeaseLost if the run this writer writes for lost the store's lease."""
        if self._guard is not None:
            self._guard.check()

    def _write(self, path: str, rows: slice, data: np.ndarray) -> int:
        return self._write_all(rows, [(path, 0, data)])

    def _write_all(self, rows: slice, blocks: list[tuple[str, int, np.ndarray]]) -> int:
        """Write the same rows (on each array's row axis) of several arrays concurrently."""
        return self._write_regions([(path, axis, rows, data) for path, axis, data in blocks])

    def _write_regions(self, blocks: list[tuple[str, int, slice, np.ndarray]]) -> int:
        """Write `data` at `rows` of each array's row axis, all arrays concurrently."""
        self.check_lease()
        targets = [
            (self._array(path).async_array, (slice(None),) * axis + (rows,), data)
            for path, axis, rows, data in blocks
        ]

        async def write() -> None:
            await asyncio.gather(*(arr.setitem(sel, data) for arr, sel, data in targets))

        try:
            # zarr's own event loop: encoding and storing of the arrays overlap (1.3-1.5x
            # faster than one array after the other, see docs/benchmarks.md, "Store writes").
            zarr_sync(write())
        except OSError as e:
            raise backend.write_error(self.url, e) from e
        return sum(int(data.nbytes) for *_, data in blocks)

    def _contig_names(self, values: np.ndarray, where: str) -> np.ndarray:
        if values.dtype.kind in "iu":
            bad = (values < 0) | (values >= len(self.contig_names))
            if bad.any():
                raise StoreError(
                    f"{where}: contig_index {int(values[bad][0])!r} out of range for "
                    f"{len(self.contig_names)} contigs"
                )
            return np.asarray(self.contig_names, dtype=str)[values]
        names = values.astype(str)
        unknown = [v for v in names.tolist() if v not in self._contig_lookup]
        if unknown:
            raise StoreError(
                f"{where}: contig {unknown[0]!r} is not among the store's contigs "
                f"{self.contig_names[:10]}"
            )
        return names

    def _haplotype_names(self, values: np.ndarray, where: str) -> np.ndarray:
        if values.dtype.kind not in "iu":
            return values.astype(str)
        lookup = np.array([*self.haplotype_names, REFERENCE_NAME], dtype=str)
        bad = (values < -1) | (values >= len(self.haplotype_names))
        if bad.any():
            raise StoreError(
                f"{where}: haplotype index {int(values[bad][0])!r} is not -1 (reference) or "
                f"an index into the root attribute haplotype_names "
                f"({len(self.haplotype_names)} names)"
            )
        return lookup[np.where(values < 0, len(self.haplotype_names), values)]

    def _status_names(self, values: np.ndarray, part: str) -> np.ndarray:
        if values.dtype.kind not in "iu":
            return values.astype(str)
        if part == "windows":
            names = {int(s): s.name for s in WindowStatus}
        else:
            names = {**self.variant_status_names, int(WindowStatus.PENDING): "pending"}
        # one lookup per distinct code (a cohort unit has u x H rows, a handful of codes)
        codes, inverse = np.unique(values, return_inverse=True)
        table = np.array([names.get(int(v), str(int(v))) for v in codes.tolist()], dtype=str)
        return table[inverse.reshape(values.shape)] if codes.size else values.astype(str)

    def _rows(
        self, fields: dict[str, RowField], given: dict[str, np.ndarray], n: int, where: str
    ) -> dict[str, np.ndarray]:
        """Validate and convert one unit's per-row fields; returns stored name -> values."""
        given = dict(given)
        if "contig_index" in given and "contig" not in given:
            given["contig"] = given.pop("contig_index")
        missing = sorted(set(fields) - set(given))
        extra = sorted(set(given) - set(fields))
        if missing or extra:
            raise StoreError(
                f"{where}: fields missing {missing}, unknown {extra}; expected {sorted(fields)}"
            )
        part = "windows" if fields is WINDOW_FIELDS else "variants"
        out = {}
        for name, field in fields.items():
            values = np.asarray(given[name])
            if values.shape != (n,):
                raise StoreError(
                    f"{where}: field {name!r} has shape {values.shape}, expected ({n},)"
                )
            if name == "contig":
                values = self._contig_names(values, where)
            elif name == "strand" and values.dtype.kind in "iu":
                values = np.where(values == 1, "-", "+")  # ntscale.types.Strand codes
            elif name == "haplotype":
                values = self._haplotype_names(values, where)
            elif name == "status":
                values = self._status_names(values, part)
            elif field.dtype is str:
                values = values.astype(str)
            else:
                values = values.astype(field.dtype)
            out[field.stored] = values
        return out

    def write_window_unit(
        self,
        unit: int,
        *,
        windows: dict[str, np.ndarray],
        embeddings: dict[str, np.ndarray],
    ) -> int:
        """Write one window unit's rows (does not mark it done).

        Args:
            unit: unit index k; the unit owns rows [k * unit_windows, (k+1) * unit_windows).
            windows: per-row arrays named as in WINDOW_FIELDS: `contig` names or
                `contig_index`; `strand` Strand codes or "+"/"-"; `haplotype` an index
                into the root attr `haplotype_names` (-1 = reference) or names; `status`
                WindowStatus codes or names.
            embeddings: kind -> one array in the stored layout, the layers stacked first in
                `layout.layers` order (L = len(layout.layers)): "mean" [L, n, D], "cls"
                [L, n, D], "tokens" [L, n, T, D], with exactly the kinds the layout
                stores ({} when it stores no layers); any float dtype (bfloat16
                included) is cast to the stored dtype.

        Returns:
            Bytes of array data written (uncompressed).

        Raises:
            StoreError: a field or kind missing or unknown, or an array of the wrong shape.
        """
        lo, hi = self.layout.window_rows(unit)
        n, where = hi - lo, f"window unit {unit} (rows {lo}-{hi})"
        if self.layout.cohort:
            raise StoreError(f"{where}: a cohort store takes write_cohort_unit")
        rows = self._rows(WINDOW_FIELDS, windows, n, where)
        # one (L, n, ...) block per kind: the unit's chunk holds every layer
        blocks = [
            (name, 1, values) for name, values in self._embedding_blocks(embeddings, n, where)
        ]
        blocks += [(name, 0, values) for name, values in rows.items()]
        nbytes = self._write_all(slice(lo, hi), blocks)
        self._digests[("windows", unit)] = self._written_digest(
            "windows", unit, {p: v for p, _, v in blocks}
        )
        return nbytes

    def _embedding_blocks(
        self, embeddings: dict[str, np.ndarray], n: int, where: str, *, pad_to: int | None = None
    ) -> list[tuple[str, np.ndarray]]:
        """Checked (name, [L, n or pad_to, ...] stored-dtype array) per embedding kind;
        rows past n up to `pad_to` are NaN (a cohort unit's last, partly used chunk)."""
        layers = self.layout.layers
        kinds = embedding_kinds(self.layout) if layers else ()
        if sorted(embeddings, key=str) != sorted(kinds):  # key=str: old int layer keys
            raise StoreError(
                f"{where}: embedding kinds {sorted(embeddings, key=str)}, the store holds "
                f"{list(kinds)}; pass one [L, n, ...] array per kind"
            )
        L, D = len(layers), self.layout.embed_dim
        out = []
        for kind in kinds:
            if kind == "tokens":
                shape, dtype = (L, n, self.layout.max_tokens, D), self.layout.per_token_dtype
            else:
                shape, dtype = (L, n, D), "float32"
            values = np.asarray(embeddings[kind])
            if values.shape != shape:
                raise StoreError(
                    f"{where}: embedding {kind!r} has shape {values.shape}, expected {shape} "
                    f"(layers {list(layers)} stacked first, in that order)"
                )
            values = np.ascontiguousarray(values, dtype=dtype)
            if pad_to is not None and pad_to > n:
                padded = np.full((L, pad_to, *shape[2:]), np.nan, dtype=dtype)
                padded[:, :n] = values
                values = padded
            out.append((embedding_name(kind), values))
        return out

    def write_cohort_unit(
        self,
        unit: int,
        *,
        windows: dict[str, np.ndarray],
        haplotypes: dict[str, np.ndarray],
        sequences: dict[str, np.ndarray],
        embeddings: dict[str, np.ndarray],
    ) -> int:
        """Write one window unit of a cohort store (does not mark it done).

        Args:
            unit: unit index k; owns window rows [k * u, (k+1) * u) and sequence slots
                [k * C, (k+1) * C) (`StoreLayout.unit_sequences`).
            windows: per window row [n], named as in COHORT_WINDOW_FIELDS (contig or
                contig_index, start, end, strand).
            haplotypes: [n, H] arrays: `status` (codes or names), `n_variants`, `hap_end`,
                `sequence_index` (0..d-1 into this unit's `sequences`, -1 = none).
            sequences: [d] per distinct sequence of the unit, in slot order: `n_tokens`,
                `frac_n`, `sequence_id`.
            embeddings: kind -> [L, d, ...] (as `write_window_unit`, d rows).

        Returns:
            Bytes of array data written (uncompressed).

        Raises:
            StoreError: not a cohort store, a field missing or unknown, a wrong shape, an
                index out of range, or more distinct sequences than the unit's slots.
        """
        if not self.layout.cohort:
            raise StoreError(f"store {self.url!r} is not a cohort store (no haplotype axis)")
        lo, hi = self.layout.window_rows(unit)
        n, h, where = hi - lo, self.layout.n_haplotypes, f"window unit {unit} (rows {lo}-{hi})"
        rows = self._rows(COHORT_WINDOW_FIELDS, windows, n, where)
        seq = self._named(SEQUENCE_FIELDS, sequences, where, "sequences")
        d = int(np.asarray(sequences.get("sequence_id", ())).shape[0])
        s_lo, s_hi = self.layout.sequence_slots(unit, d)
        self._named(HAPLOTYPE_FIELDS, haplotypes, where, "haplotypes")
        blocks: list[tuple[str, int, slice, np.ndarray]] = []
        for name, field in HAPLOTYPE_FIELDS.items():
            values = np.asarray(haplotypes[name])
            if values.shape != (n, h):
                raise StoreError(f"{where}: {name!r} has shape {values.shape}, expected {(n, h)}")
            if name == "status":
                values = self._status_names(values.ravel(), "windows").reshape(n, h)
            elif name == "sequence_index":
                local = values.astype(np.int64)
                if local.size and (local.min() < -1 or local.max() >= d):
                    raise StoreError(f"{where}: sequence_index outside -1..{d - 1}")
                values = np.where(local >= 0, local + s_lo, -1)
            else:
                values = values.astype(field.dtype)
            blocks.append((field.stored, 0, slice(lo, hi), values))
        for name, field in SEQUENCE_FIELDS.items():
            values = np.asarray(seq[name])
            if values.shape != (d,):
                raise StoreError(f"{where}: sequences {name!r} has shape {values.shape}, ({d},)")
            padded = np.full(s_hi - s_lo, field.fill, dtype=field.dtype)
            padded[:d] = values
            blocks.append((field.stored, 0, slice(s_lo, s_hi), padded))
        for name, values in self._embedding_blocks(embeddings, d, where, pad_to=s_hi - s_lo):
            blocks.append((name, 1, slice(s_lo, s_hi), values))
        blocks += [(name, 0, slice(lo, hi), values) for name, values in rows.items()]
        blocks.append((SEQUENCE_COUNTS, 0, slice(unit, unit + 1), np.array([d], np.int64)))
        nbytes = self._write_regions(blocks)
        self._digests[("windows", unit)] = self._written_digest(
            "windows", unit, {p: v for p, _, _, v in blocks}
        )
        return nbytes

    @staticmethod
    def _named(
        fields: dict[str, RowField], given: dict[str, np.ndarray], where: str, what: str
    ) -> dict[str, np.ndarray]:
        missing, extra = sorted(set(fields) - set(given)), sorted(set(given) - set(fields))
        if missing or extra:
            raise StoreError(
                f"{where}: {what} missing {missing}, unknown {extra}; expected {sorted(fields)}"
            )
        return given

    def write_variant_unit(
        self, unit: int, *, variants: dict[str, np.ndarray], scores: dict[str, np.ndarray]
    ) -> int:
        """Write one variant unit's rows and scores (does not mark it done).

        Args:
            unit: variant unit index; owns rows [k * unit_variants, (k+1) * unit_variants).
            variants: per-row arrays named as in VARIANT_FIELDS (`contig` names or
                `contig_index`); `pos` is the 0-based start of REF; `status` codes (named
                by the root attr `variant_status_names`) or names.
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
            blocks.append((score_name(name), 0, values.astype(np.float32)))
        blocks += [(name, 0, values) for name, values in rows.items()]
        nbytes = self._write_all(slice(lo, hi), blocks)
        self._digests[("variants", unit)] = self._written_digest(
            "variants", unit, {p: v for p, _, v in blocks}
        )
        return nbytes

    def write_base_unit(
        self, unit: int, values: np.ndarray, haplotypes: HapSegments | None = None
    ) -> int:
        """Write one per-base unit: values [rows, n_tracks] of the base axis rows it owns.

        Cast to the store's `base_dtype` (float16 by default; NaN = no value). A store with
        haplotypes (`layout.base_haplotypes` H) also takes `haplotypes`: the unit's values
        of each distinct window sequence once (`store.perbase_haps.HapSegments`).

        Returns:
            Bytes of array data written (uncompressed).

        Raises:
            StoreError: no per-base part, or values of the wrong shape.
        """
        self._done_path("bases")
        lo, hi = self.layout.base_rows(unit)
        want = (hi - lo, len(self.layout.track_names))
        values = np.asarray(values)
        if values.shape != want:
            raise StoreError(
                f"base unit {unit} (rows {lo}-{hi}): values have shape {values.shape}, "
                f"expected {want}"
            )
        blocks = [(BASE_VALUES, 0, slice(lo, hi), values.astype(self.layout.base_dtype))]
        if bool(self.layout.base_haplotypes) != (haplotypes is not None):
            raise StoreError(
                f"base unit {unit} (rows {lo}-{hi}): the store holds "
                f"{self.layout.base_haplotypes} haplotypes; haplotype values "
                f"{'missing' if haplotypes is None else 'given'}"
            )
        if haplotypes is not None:
            blocks += [(n, 0, r, v) for n, r, v in unit_blocks(self.layout, unit, haplotypes)]
        nbytes = self._write_regions(blocks)
        self._digests[("bases", unit)] = self._written_digest(
            "bases", unit, {p: v for p, _, _, v in blocks}
        )
        return nbytes

    def write_intervals(self, columns: dict[str, np.ndarray]) -> None:
        """Write the interval table of a per-base store (the driver, before any unit)."""
        n = self.layout.n_intervals
        for key, field in INTERVAL_FIELDS.items():
            data = np.asarray(columns[key])
            if data.shape != (n,):
                raise StoreError(f"interval column {key!r} has shape {data.shape}, expected ({n},)")
            if n:
                self._write(
                    field.stored, slice(0, n), data.astype(str) if field.dtype is str else data
                )
