"""Reading a store: an xarray Dataset backed by dask arrays, and a completion summary.

Dataset shape (see docs/store.md):
  dims      layer, window, dim, token (per-token stores), variant (variant stores)
  coords    layer; per window: contig (names), start, end, strand ("+", "-", "." unwritten),
            haplotype, status, n_tokens, frac_n,
            n_variants; per variant: variant_contig, variant_pos,
            variant_id, variant_ref, variant_alt, variant_status
  data vars embedding_mean (layer, window, dim), embedding_cls (layer, window, dim),
            embedding_tokens (layer, window, token, dim), score_<name> (variant)
The small per-row coordinates are read eagerly (numpy); the embeddings and scores stay
lazy, one dask chunk per work unit (per shard for the per-token arrays).
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from ntscale.store import backend
from ntscale.store.schema import (
    PENDING,
    VARIANT_FIELDS,
    VARIANT_UNITS_DONE,
    WINDOW_FIELDS,
    WINDOW_UNITS_DONE,
    StoreLayout,
    check_schema_version,
    embedding_kinds,
    embedding_path,
    score_path,
)
from ntscale.types import WindowStatus


def _open_root(url: str) -> tuple[zarr.Group, dict[str, Any], StoreLayout]:
    group = backend.open_existing(str(url), "r")
    attrs = dict(group.attrs)
    check_schema_version(attrs, str(url))
    return group, attrs, StoreLayout.from_json(attrs["layout"])


def _lazy(arr: zarr.Array) -> da.Array:
    # Dask chunk = shard when sharded (reading inner chunks one by one is much slower).
    chunks = arr.shards or arr.chunks
    return da.from_zarr(arr, chunks=chunks, inline_array=True)


def _contig_names(index: np.ndarray, names: list[str]) -> np.ndarray:
    lookup = np.array([*names, ""], dtype=str)  # -1 (unwritten row) -> ""
    return lookup[np.where(index < 0, len(names), index)]


def _plain_str(values: np.ndarray) -> np.ndarray:
    # Zarr returns numpy's variable-width StringDType; fixed-width str is what xarray expects.
    return np.asarray(values.tolist(), dtype=str).reshape(values.shape)


def _status_attrs(codes: dict[int, str]) -> dict[str, Any]:
    # CF-style flag attributes so the codes explain themselves in the dataset.
    return {"flag_values": list(codes), "flag_meanings": " ".join(codes.values())}


def window_status_names() -> dict[int, str]:
    return {int(s): s.name for s in WindowStatus}


def variant_status_names(attrs: dict[str, Any]) -> dict[int, str]:
    """Variant status code -> name, from the root attr `variant_status_names` if set."""
    names = {int(k): str(v) for k, v in dict(attrs.get("variant_status_names", {})).items()}
    names.setdefault(PENDING, "PENDING")
    return names


def open(url: str) -> xr.Dataset:  # noqa: A001 - the package's public name: ntscale.store.open
    """Open a store as an xarray Dataset backed by dask arrays.

    Args:
        url: local path or fsspec URL of a store written by ntscale.

    Returns:
        The Dataset described in the module docstring; root attributes in `ds.attrs`.

    Raises:
        StoreError: nothing at `url`, not an ntscale store, or a newer schema version.
    """
    group, attrs, layout = _open_root(url)
    names = [c[0] for c in attrs["contigs"]]
    coords: dict[str, Any] = {}
    data_vars: dict[str, Any] = {}

    # Stores written before `sequence_id` existed lack it; every other field is required.
    w = {
        name: np.asarray(group[f"windows/{name}"][:])
        for name in WINDOW_FIELDS
        if name != "sequence_id" or "sequence_id" in group["windows"]
    }
    coords["contig"] = ("window", _contig_names(w["contig_index"], names))
    strand = np.array(["+", "-", "."])[np.where(w["strand"] < 0, 2, w["strand"])]
    coords["strand"] = ("window", strand)
    for name in ("start", "end", "haplotype", "n_tokens", "frac_n", "n_variants"):
        coords[name] = ("window", w[name])
    coords["status"] = ("window", w["status"], _status_attrs(window_status_names()))
    if "sequence_id" in w:  # equal ids = equal token sequences = equal embeddings
        coords["sequence_id"] = ("window", w["sequence_id"])

    if layout.layers:
        coords["layer"] = ("layer", np.asarray(layout.layers, dtype=np.int32))
        for kind in embedding_kinds(layout):
            stacked = da.stack(
                [_lazy(group[embedding_path(layer, kind)]) for layer in layout.layers]
            )
            dims = (
                ("layer", "window", "token", "dim")
                if kind == "tokens"
                else ("layer", "window", "dim")
            )
            data_vars[f"embedding_{kind}"] = (dims, stacked)

    if layout.n_variants:
        v = {name: np.asarray(group[f"variants/{name}"][:]) for name in VARIANT_FIELDS}
        coords["variant_contig"] = ("variant", _contig_names(v["contig_index"], names))
        for name in ("pos", "id", "ref", "alt"):
            values = _plain_str(v[name]) if VARIANT_FIELDS[name][0] is str else v[name]
            coords[f"variant_{name}"] = ("variant", values)
        coords["variant_status"] = (
            "variant",
            v["status"],
            _status_attrs(variant_status_names(attrs)),
        )
        for score in layout.score_names:
            data_vars[f"score_{score}"] = (("variant",), _lazy(group[score_path(score)]))

    return xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)


def _part_summary(
    status: np.ndarray, done: np.ndarray, unit: int, names: dict[int, str]
) -> dict[str, Any]:
    rows_done = np.repeat(done, unit)[: status.shape[0]]
    # Rows of units not marked done count as pending even if a killed unit wrote them.
    effective = np.where(rows_done, status, PENDING)
    codes, counts = np.unique(effective, return_counts=True)
    return {
        "rows": int(status.shape[0]),
        "rows_done": int(rows_done.sum()),
        "units_total": int(done.shape[0]),
        "units_done": int(done.sum()),
        "by_status": {
            names.get(int(c), str(int(c))): int(k) for c, k in zip(codes, counts, strict=True)
        },
    }


def store_summary(url: str) -> dict[str, Any]:
    """Completion summary of a store: rows and units done, row counts by status.

    Returns:
        {"url", "schema_version", "complete", "windows": {rows, rows_done, units_total,
        units_done, by_status}, and "variants" (same keys) for stores with variants}.
    """
    group, attrs, layout = _open_root(url)
    summary: dict[str, Any] = {"url": str(url), "schema_version": attrs["schema_version"]}
    summary["windows"] = _part_summary(
        np.asarray(group["windows/status"][:]),
        np.asarray(group[WINDOW_UNITS_DONE][:], bool),
        layout.unit_windows,
        window_status_names(),
    )
    complete = summary["windows"]["units_done"] == summary["windows"]["units_total"]
    if layout.n_variants:
        summary["variants"] = _part_summary(
            np.asarray(group["variants/status"][:]),
            np.asarray(group[VARIANT_UNITS_DONE][:], bool),
            layout.unit_variants,
            variant_status_names(attrs),
        )
        complete = complete and (
            summary["variants"]["units_done"] == summary["variants"]["units_total"]
        )
    summary["complete"] = bool(complete)
    return summary
