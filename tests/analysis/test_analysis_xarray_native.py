"""Stores made by real `ntscale embed` / `ntscale score` runs open with plain xarray."""

from __future__ import annotations

import warnings

import xarray as xr

import ntscale.store as st


def _both(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_zarr(str(path)), st.open(str(path))


def test_real_embed_store_is_the_same_dataset_in_plain_xarray(embed_store):
    plain, ours = _both(embed_store)
    xr.testing.assert_identical(plain, ours)
    assert plain.embedding_mean.dims == ("layer", "window", "dim")
    assert set(plain.contig.values.tolist()) == {"20"}
    assert set(plain.haplotype.values.tolist()) == {"reference"}
    assert set(plain.status.values.tolist()) == {"OK", "SKIPPED_ALL_N"}
    assert st.verify(str(embed_store))["ok"] is True


def test_real_score_store_is_the_same_dataset_in_plain_xarray(score_store):
    plain, ours = _both(score_store)
    xr.testing.assert_identical(plain, ours)
    assert "window" not in plain.dims and plain.sizes["variant"] > 0
    assert {"ok", "no_llr_not_snv"} == set(plain.variant_status.values.tolist())
    assert [v for v in plain.data_vars if not v.startswith("score_")] == []
