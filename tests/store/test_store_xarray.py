"""The store root is an xarray Dataset: plain `xr.open_zarr` equals `ntscale.store.open`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from store_workers import (
    ATTRS,
    CONTIGS,
    FINGERPRINT,
    LAYOUT,
    write_variant_units,
    write_window_units,
)

import ntscale.store as st


def _open_both(url: str) -> tuple[xr.Dataset, xr.Dataset]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no consolidated-metadata or any other warning
        plain = xr.open_zarr(url)
        ours = st.open(url)
    return plain, ours


def test_embed_store_with_cls_and_tokens_is_a_plain_xarray_dataset(tmp_path: Path) -> None:
    url = str(tmp_path / "e.zarr")
    writer = st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)
    write_window_units(writer, list(range(LAYOUT.n_window_units)))
    write_variant_units(writer, list(range(LAYOUT.n_variant_units)))
    st.finalize(url)
    assert json.loads((Path(url) / "zarr.json").read_text())["consolidated_metadata"]
    assert not (Path(url) / "lease").exists()  # finalize released the run lease

    plain, ours = _open_both(url)
    xr.testing.assert_identical(plain, ours)
    assert set(plain.data_vars) == {
        "embedding_mean",
        "embedding_cls",
        "embedding_tokens",
        "score_l2_layer3",
        "score_llr",
    }
    assert plain.embedding_mean.dims == ("layer", "window", "dim")
    assert plain.embedding_tokens.dims == ("layer", "window", "token", "dim")
    for name in ("contig", "start", "end", "strand", "haplotype", "status", "n_tokens"):
        assert name in plain.coords and plain[name].dims == ("window",), name
    # readable values, no lookup tables needed
    assert set(plain.contig.values.tolist()) <= {"chr1", "chr2", "chrM"}
    assert set(plain.strand.values.tolist()) == {"+", "-"}
    assert set(plain.status.values.tolist()) == {"OK", "SKIPPED_ALL_N"}
    assert set(plain.haplotype.values.tolist()) <= {"reference", "S1:0", "S1:1", "S2:0", "S2:1"}
    assert plain.start.dtype == np.int64 and plain.layer.values.tolist() == [1, 3]
    sel = ours.embedding_mean.sel(layer=3).where(ours.status == "OK", drop=True)
    assert sel.sizes["window"] == int((ours.status == "OK").sum())


def test_score_store_is_a_plain_xarray_dataset(tmp_path: Path) -> None:
    layout = st.StoreLayout(n_windows=0, unit_windows=1, n_variants=7, unit_variants=3,
                            score_names=("llr", "l2_layer3"))  # fmt: skip
    url = str(tmp_path / "s.zarr")
    writer = st.create_or_open(url, layout, fingerprint={}, attrs=ATTRS, contigs=CONTIGS)
    write_variant_units(writer, [0, 1, 2])
    st.finalize(url)
    plain, ours = _open_both(url)
    xr.testing.assert_identical(plain, ours)
    assert dict(plain.sizes) == {"variant": 7}
    assert set(plain.data_vars) == {"score_llr", "score_l2_layer3"}
    assert plain.variant_status.values.tolist()[0] in ATTRS["variant_status_names"].values()
    assert plain.variant_pos.dims == ("variant",) and "variant_alt" in plain.coords


def test_unfinished_store_opens_without_warnings(tmp_path: Path) -> None:
    url = str(tmp_path / "u.zarr")
    writer = st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)
    write_window_units(writer, [1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = st.open(url)  # a run in progress: no consolidated metadata yet
    assert (ds.status.values[:5] == "PENDING").all() and (ds.status.values[5:10] != "PENDING").all()
