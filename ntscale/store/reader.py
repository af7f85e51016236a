"""Reading a store: the xarray Dataset at its root, and a completion summary.

The store root is the Dataset (see docs/store.md): `open(url)` is `xr.open_zarr` with the
store's own checks (schema version) and chunking (one dask chunk per work unit, all layers;
one per shard for the per-token arrays), plus the small per-row coordinates loaded into
memory. `xr.testing.assert_identical(open(url), xr.open_zarr(url))` holds.

  dims      layer, window, dim, token (per-token stores), variant (score stores)
  coords    layer; per window: contig, start, end, strand, haplotype, n_tokens, frac_n,
            n_variants, status; per variant: variant_contig, variant_pos, variant_id,
            variant_ref, variant_alt, variant_status
  data vars embedding_mean (layer, window, dim), embedding_cls (layer, window, dim),
            embedding_tokens (layer, window, token, dim), score_<name> (variant)

Cohort stores (docs/store.md): dims layer, window, haplotype, sequence, dim (token);
coords per window contig, start, end, strand; per haplotype haplotype, sample; per
(window, haplotype) status, n_variants, hap_end, sequence_index (lazy); per sequence
n_tokens, frac_n, sequence_id (lazy); data vars embedding_* over (layer, sequence, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
import zarr

from ntscale.errors import StoreError
from ntscale.store import backend
from ntscale.store.schema import (
    BASE_UNITS_DONE,
    BASE_VALUES,
    COHORT_WINDOW_FIELDS,
    HAP_ROW_COUNTS,
    HAPLOTYPE_COORDS,
    INTERVAL_FIELDS,
    LAYER_COORD,
    PENDING,
    PENDING_NAME,
    SEQUENCE_COUNTS,
    VARIANT_FIELDS,
    VARIANT_UNITS_DONE,
    WINDOW_FIELDS,
    WINDOW_UNITS_DONE,
    StoreLayout,
    check_schema_version,
    embedding_kinds,
    embedding_name,
    score_name,
)
from ntscale.types import WindowStatus


def _open_root(url: str) -> tuple[zarr.Group, dict[str, Any], StoreLayout]:
    group = backend.open_existing(str(url), "r")
    attrs = dict(group.attrs)
    check_schema_version(attrs, str(url))
    return group, attrs, StoreLayout.from_json(attrs["layout"])


def stored_fingerprint(url: str) -> dict[str, Any] | None:
    """The `fingerprint` root attribute of the store at `url`; None if there is no store
    (or something else is there: creating the store then says what)."""
    try:
        if not backend.group_exists(str(url)):
            return None
        return dict(backend.open_existing(str(url), "r").attrs.get("fingerprint") or {})
    except StoreError:
        return None


def window_status_names() -> dict[int, str]:
    return {int(s): s.name for s in WindowStatus}


def variant_status_names(attrs: dict[str, Any]) -> dict[int, str]:
    """Variant status code -> name, from the root attr `variant_status_names` if set."""
    names = {int(k): str(v) for k, v in dict(attrs.get("variant_status_names", {})).items()}
    names.setdefault(PENDING, VARIANT_PENDING_NAME)
    return names


# Score statuses are lower case everywhere (store, exports, summaries, dry runs); a variant
# row not written yet holds the schema's fill value "PENDING" on disk, read as "pending".
VARIANT_PENDING_NAME = "pending"


def open(url: str) -> xr.Dataset:  # noqa: A001 - the package's public name: ntscale.store.open
    """Open a store as an xarray Dataset backed by dask arrays (the store's root).

    Args:
        url: local path or fsspec URL of a store written by ntscale.

    Returns:
        The Dataset described in the module docstring; root attributes in `ds.attrs`.

    Raises:
        StoreError: nothing at `url`, not an ntscale store, or another schema version.
    """
    _, _, layout = _open_root(url)
    chunks: dict[str, int] = {}
    if layout.has_windows:
        chunks["window"] = layout.unit_windows
        if layout.layers:
            chunks[LAYER_COORD] = len(layout.layers)
    if layout.cohort:
        chunks["haplotype"] = layout.n_haplotypes
    if layout.n_variants:
        chunks["variant"] = layout.unit_variants
    if layout.n_bases:
        chunks["base"] = layout.unit_bases
    opts = {
        "consolidated": backend.has_consolidated(str(url)),
        "zarr_format": 3,
        "storage_options": backend.storage_options(str(url)),
    }
    target = backend.xarray_target(str(url))
    if layout.cohort:
        ds = _open_cohort(target, chunks, opts)
    elif layout.base_haplotypes:
        ds = _open_lazy_dim(target, chunks, opts, "hap_row", list(HAPLOTYPE_COORDS))
    else:
        ds = xr.open_zarr(target, chunks=chunks, **opts)
    # The per-row coordinates are small and used in every selection: read them once.
    # Strings become fixed-width str: numpy (2.4) cannot `.astype(str)` its StringDType,
    # which pandas, matplotlib and user code expect to work.
    # Cohort stores: the per-window and per-haplotype ones; (window, haplotype) and
    # per-sequence arrays grow with the cohort and stay lazy.
    rows = {}
    small = [*(COHORT_WINDOW_FIELDS if layout.cohort else WINDOW_FIELDS).values()]
    fields = (*small, *VARIANT_FIELDS.values(), *INTERVAL_FIELDS.values())
    names = [(f.stored, f.dtype is str) for f in fields]
    if layout.cohort:
        names += [(name, True) for name in HAPLOTYPE_COORDS]
    for name, is_str in names:
        if name in ds.variables:
            var = ds.variables[name].load()
            if is_str:
                var = var.copy(data=np.asarray(var.values.tolist(), dtype=str))
            if name == VARIANT_FIELDS["status"].stored:
                pending = var.values == PENDING_NAME
                var = var.copy(data=np.where(pending, VARIANT_PENDING_NAME, var.values))
            rows[name] = var
    ds = ds.assign_coords(rows)
    # Variables in layout order (embedding kinds, then scores as the run named them).
    order = [embedding_name(k) for k in embedding_kinds(layout) if layout.layers]
    order += [score_name(n) for n in layout.score_names]
    order += [BASE_VALUES] if layout.n_bases else []
    order = [name for name in order if name in ds.data_vars]
    if not order or sorted(order) != sorted(ds.data_vars):
        return ds  # a variable this ntscale does not know: keep the Dataset as read
    out = ds[order]
    # coordinates on other dims (a cohort store's window and haplotype ones) stay
    return out.assign_coords({k: v for k, v in ds.coords.items() if k not in out.coords})


def _open_cohort(target: Any, chunks: dict[str, int], opts: dict[str, Any]) -> xr.Dataset:
    """A cohort store: the sequence-axis arrays lazily indexed (no dask), the rest dask.

    The logical `sequence` axis is as long as the row count (~1.5e9 slots for a whole-genome
    cohort, almost all absent, docs/store.md): one dask chunk per zarr chunk of 128 slots
    would make millions of tasks per array (open: 26 s and 840 MiB at 4.1e8 slots, and
    more to index it). Lazily indexed zarr arrays hold no per-chunk state; selecting them
    by `sequence_index` reads only the chunks the selection touches.
    """
    small = [f.stored for f in COHORT_WINDOW_FIELDS.values()] + list(HAPLOTYPE_COORDS)
    return _open_lazy_dim(target, chunks, opts, "sequence", small)


def _open_lazy_dim(
    target: Any, chunks: dict[str, int], opts: dict[str, Any], dim: str, small: list[str]
) -> xr.Dataset:
    """The arrays on `dim` (a long, mostly absent axis: a cohort's `sequence`, a per-base
    haplotype store's `hap_row`) lazily indexed, the rest dask; the `small` coordinates
    read whole (one zarr read each, not one dask task per unit: 20 s at 240,000 windows)."""
    lazy = xr.open_zarr(target, chunks=None, **opts)
    on_dim = [name for name, var in lazy.variables.items() if dim in var.dims]
    ds = xr.open_zarr(target, chunks=chunks, drop_variables=on_dim, **opts)
    coords = {n: lazy.variables[n] for n in on_dim if n in lazy.coords}
    coords.update({n: lazy.variables[n].load() for n in small if n in lazy.coords})
    data = {n: lazy[n] for n in on_dim if n in lazy.data_vars}
    return ds.assign_coords(coords).assign(data)


def _part_summary(
    status: np.ndarray, done: np.ndarray, unit: int, pending: str = PENDING_NAME
) -> dict[str, Any]:
    """Rows (or, in a cohort store, (window, haplotype) pairs) done and counted by status."""
    rows_done = np.repeat(done, unit)[: status.shape[0]]
    if status.ndim == 2:  # cohort: one status per (window, haplotype)
        rows_done = np.repeat(rows_done, status.shape[1])
        status = status.reshape(-1)
    # Rows of units not marked done count as pending even if a killed unit wrote them.
    effective = np.where(rows_done, np.asarray(status.tolist(), dtype=object), pending)
    names, counts = np.unique(effective.astype(str), return_counts=True)
    return {
        "rows": int(status.shape[0]),
        "rows_done": int(rows_done.sum()),
        "units_total": int(done.shape[0]),
        "units_done": int(done.sum()),
        "by_status": {str(c): int(k) for c, k in zip(names, counts, strict=True)},
    }


def store_summary(url: str) -> dict[str, Any]:
    """Completion summary of a store: rows and units done, row counts by status.

    Returns:
        {"url", "schema_version", "complete", "windows": {rows, rows_done, units_total,
        units_done, by_status}, and "variants" (same keys) for stores with variants}.
    """
    group, attrs, layout = _open_root(url)
    summary: dict[str, Any] = {"url": str(url), "schema_version": attrs["schema_version"]}
    status = (
        np.asarray(group[WINDOW_FIELDS["status"].stored][:])
        if layout.has_windows
        else np.zeros(0, dtype=str)
    )
    summary["windows"] = _part_summary(
        status, np.asarray(group[WINDOW_UNITS_DONE][:], bool), layout.unit_windows
    )
    if layout.cohort:
        counts = np.asarray(group[SEQUENCE_COUNTS][:], np.int64)
        done = np.asarray(group[WINDOW_UNITS_DONE][:], bool)
        summary["windows"]["window_rows"] = layout.n_windows
        summary["windows"]["haplotypes"] = layout.n_haplotypes
        summary["windows"]["sequences_stored"] = int(counts[done].sum())
    complete = summary["windows"]["units_done"] == summary["windows"]["units_total"]
    if layout.n_variants:
        summary["variants"] = _part_summary(
            np.asarray(group[VARIANT_FIELDS["status"].stored][:]),
            np.asarray(group[VARIANT_UNITS_DONE][:], bool),
            layout.unit_variants,
            VARIANT_PENDING_NAME,
        )
        complete = complete and (
            summary["variants"]["units_done"] == summary["variants"]["units_total"]
        )
    if layout.n_bases:
        done = np.asarray(group[BASE_UNITS_DONE][:], bool)
        summary["bases"] = {
            "rows": layout.n_bases,
            "rows_done": int(np.repeat(done, layout.unit_bases)[: layout.n_bases].sum()),
            "units_total": int(done.shape[0]),
            "units_done": int(done.sum()),
        }
        if layout.base_haplotypes:  # rows of distinct haplotype window values stored
            counts = np.asarray(group[HAP_ROW_COUNTS][:], np.int64)
            summary["bases"]["haplotypes"] = layout.base_haplotypes
            summary["bases"]["haplotype_rows_stored"] = int(counts[done].sum())
        complete = bool(done.all())  # a per-base store has no window rows
    summary["complete"] = bool(complete)
    return summary
