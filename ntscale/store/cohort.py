"""Per-haplotype and per-sample views of a cohort store (docs/store.md, "Cohort stores").

A cohort store keeps each distinct window sequence once on the `sequence` axis and maps
every (window, haplotype) to it with `sequence_index`; these helpers give the values per
haplotype or per sample, lazily (dask), by indexing the sequence axis with that map
(only the slots the map uses are read: `_by_slots`).
`haplotype_rows` rebuilds the one-row-per-(window, haplotype) Dataset of schema 2.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import xarray as xr

from ntscale.errors import StoreError
from ntscale.store.schema import HAPLOTYPE_FIELDS, SEQUENCE_FIELDS, embedding_name
from ntscale.types import WindowStatus


def _check_cohort(ds: xr.Dataset) -> None:
    if "sequence_index" not in ds.variables:
        raise StoreError(
            "not a cohort store (no sequence_index): a store without a VCF has one row per "
            "window already; use it as is"
        )


def _embedding(ds: xr.Dataset, kind: str) -> xr.DataArray:
    name = embedding_name(kind)
    if name not in ds.data_vars:
        raise StoreError(f"the store has no {name!r}; it holds {sorted(map(str, ds.data_vars))}")
    return ds[name]


# dask chunk (slots) of the distinct slots a selection uses: bounded tasks per selection
_SLOT_CHUNK = 4096


def _by_slots(var: xr.DataArray, index: xr.DataArray) -> xr.DataArray:
    """`var.isel(sequence=index)` that reads only the slots `index` uses, lazily.

    The sequence axis is mostly absent slots (docs/store.md): indexing it vectorised, as
    dask over one task per 128 slots or as zarr's coordinate selection over the whole
    axis, costs time and memory in its length. Here the distinct slots are selected
    first (an outer selection: zarr reads the chunks they fall in), put in dask chunks of
    `_SLOT_CHUNK` slots, and `index` is mapped onto them.
    """
    flat = np.asarray(index.values, np.int64).reshape(-1)
    n_slots = var.sizes["sequence"]
    flat = np.where(flat < 0, flat + n_slots, flat)  # -1: the last, never-written slot
    slots, inverse = np.unique(flat, return_inverse=True)
    picked = var.isel(sequence=slots)
    if picked.chunks is None:
        picked = picked.chunk({"sequence": _SLOT_CHUNK})
    at = index.copy(data=inverse.reshape(index.shape))
    return picked.isel(sequence=at)


def haplotype_embeddings(ds: xr.Dataset, kind: str = "mean") -> xr.DataArray:
    """Embeddings per (window, haplotype), lazily: dims (layer, window, haplotype, dim)
    ("tokens": layer, window, haplotype, token, dim); NaN where a haplotype has no sequence.

    The same as `ds.embedding_mean.isel(sequence=ds.sequence_index.load())`.
    """
    _check_cohort(ds)
    return _by_slots(_embedding(ds, kind), ds["sequence_index"].load())


def sample_embeddings(
    ds: xr.Dataset, samples: Sequence[str] | None = None, kind: str = "mean"
) -> xr.DataArray:
    """Both haplotypes of each chosen sample, lazily: dims (layer, window, sample, phase,
    dim), phase 0 and 1 in GT allele order.

    Args:
        ds: a cohort store (`ntscale.store.open`).
        samples: sample names (default all, in store order).
        kind: "mean", "cls" or "tokens".

    Raises:
        StoreError: not a cohort store, an unknown sample or kind.
    """
    _check_cohort(ds)
    names = [str(x) for x in ds["haplotype"].values]
    pos = {name: i for i, name in enumerate(names)}
    chosen = (
        list(dict.fromkeys(n.rsplit(":", 1)[0] for n in names))
        if samples is None
        else [str(s) for s in samples]
    )
    unknown = [s for s in chosen if f"{s}:0" not in pos or f"{s}:1" not in pos]
    if unknown:
        raise StoreError(
            f"sample(s) {unknown[:5]} not in the store ({len(names) // 2} samples, e.g. "
            f"{names[0].rsplit(':', 1)[0] if names else 'none'!r})"
        )
    which = xr.DataArray(
        np.array([[pos[f"{s}:0"], pos[f"{s}:1"]] for s in chosen], np.int64).reshape(-1, 2),
        dims=("sample", "phase"),
        coords={"sample": chosen, "phase": [0, 1]},
    )
    index = ds["sequence_index"].drop_vars("sample").isel(haplotype=which).load()
    return _by_slots(_embedding(ds, kind), index)


def haplotype_rows(ds: xr.Dataset) -> xr.Dataset:
    """The store as one row per (window, haplotype), window-major (the schema 2 layout):
    dim `window` of W x H rows with contig, start, end (the haplotype's `hap_end`),
    strand, haplotype, n_tokens, frac_n, n_variants, status, sequence_id and the
    embeddings (lazy). Materialises W x H coordinates: for small stores and old code.
    """
    _check_cohort(ds)
    w, h = ds.sizes["window"], ds.sizes["haplotype"]
    index = np.asarray(ds["sequence_index"].values, np.int64).reshape(-1)
    status = np.asarray(ds["status"].values.reshape(-1).tolist(), dtype=str)
    at = xr.DataArray(index, dims="window")
    per_seq = {
        name: np.asarray(_by_slots(ds[name], at).values)
        for name in (f.stored for f in SEQUENCE_FIELDS.values())
    }
    # a window of Ns has no sequence but said frac_n = 1.0 in its own row
    per_seq["frac_n"] = np.where(
        status == WindowStatus.SKIPPED_ALL_N.name, np.float32(1.0), per_seq["frac_n"]
    ).astype(np.float32)
    coords = {
        "contig": np.repeat(ds["contig"].values, h),
        "start": np.repeat(ds["start"].values, h),
        "end": np.asarray(ds["hap_end"].values, np.int64).reshape(-1),
        "strand": np.repeat(ds["strand"].values, h),
        "haplotype": np.tile(np.asarray(ds["haplotype"].values, dtype=str), w),
        "n_tokens": per_seq["n_tokens"],
        "frac_n": per_seq["frac_n"],
        "n_variants": np.asarray(ds["n_variants"].values).reshape(-1),
        "status": status,
        "sequence_id": per_seq["sequence_id"],
    }
    data = {
        str(name): _by_slots(var, at).drop_vars(list(SEQUENCE_FIELDS), errors="ignore")
        for name, var in ds.data_vars.items()
        if "sequence" in var.dims
    }
    out = xr.Dataset(data, coords={k: ("window", v) for k, v in coords.items()})
    if "layer" in ds.coords:
        out = out.assign_coords(layer=ds["layer"])
    out.attrs = dict(ds.attrs)
    return out


def iter_haplotype_blocks(
    url: str, fields: Sequence[str] = ("status", "hap_end")
) -> Iterator[dict[str, np.ndarray]]:
    """The (window, haplotype) arrays of a cohort store, one window unit (chunk) at a time,
    in row order: {field: [u, H]} (strings as str), for whole-cohort passes in O(u x H).
    """
    from ntscale.store.reader import _open_root

    group, _, layout = _open_root(url)
    if not layout.cohort:
        raise StoreError(f"store {url!r} is not a cohort store (no haplotype axis)")
    arrays = {name: group[HAPLOTYPE_FIELDS[name].stored] for name in fields}
    for unit in range(layout.n_window_units):
        lo, hi = layout.window_rows(unit)
        out = {}
        for name, arr in arrays.items():
            values = np.asarray(arr[lo:hi])
            if HAPLOTYPE_FIELDS[name].dtype is str:
                values = np.asarray(values.tolist(), dtype=str)
            out[name] = values
        yield out


__all__ = ["haplotype_embeddings", "haplotype_rows", "iter_haplotype_blocks", "sample_embeddings"]
