"""Variant score analysis on a real scoring store, against numpy recomputations."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import ntscale.store as st
from ntscale.analysis import variants as var
from ntscale.errors import InputError


@pytest.fixture(scope="module")
def ds(score_store, dask_client):
    return st.open(str(score_store))


def _numpy_types(ds):
    ref = ds["variant_ref"].values.tolist()
    alt = ds["variant_alt"].values.tolist()
    return np.array(
        [
            "SNV" if len(r) == len(a) == 1 else "indel" if len(r) != len(a) else "MNV"
            for r, a in zip(ref, alt, strict=True)
        ]
    )


def test_store_shape_is_what_the_tests_assume(ds):
    assert var.score_names(ds) == ["llr_masked", "llr_wt", "l2_mean_layer_2", "l2_variant_layer_2"]
    types = var.variant_types(ds)
    np.testing.assert_array_equal(types, _numpy_types(ds))
    assert (types == "indel").sum() == 4 and (types == "SNV").sum() > 20


def test_variant_types_of_edge_cases():
    ds = xr.Dataset(
        coords={
            "variant_ref": ("variant", ["A", "AC", "A", "AC", "A", "A"]),
            "variant_alt": ("variant", ["G", "A", "AT", "GT", "<DEL>", ""]),
        }
    )
    assert var.variant_types(ds).tolist() == ["SNV", "indel", "indel", "MNV", "other", "other"]


def test_status_counts_equal_numpy(ds):
    names = var.variant_status_labels(ds)
    labels, counts = np.unique(names, return_counts=True)
    assert var.status_counts(ds) == dict(zip(labels.tolist(), counts.tolist(), strict=True))
    # Indels get no LLR: their status says so; SNVs are ok.
    types = var.variant_types(ds)
    assert set(names[types == "indel"]) == {"no_llr_not_snv"}
    assert set(names[types == "SNV"]) == {"ok"}


@pytest.mark.parametrize("score", ["llr_masked", "l2_mean_layer_2"])
@pytest.mark.parametrize("grouping", ["type", "status"])
def test_score_distribution_equals_numpy(ds, score, grouping):
    groups = var.variant_types(ds) if grouping == "type" else var.variant_status_labels(ds)
    dist = var.score_distribution(ds, score, groups, bins=12)
    x = np.asarray(ds[f"score_{score}"].values, dtype=np.float64)
    finite = np.isfinite(x)
    assert dist.bin_edges[0] == pytest.approx(x[finite].min())
    assert dist.bin_edges[-1] == pytest.approx(x[finite].max())
    for label in np.unique(groups):
        v = x[(groups == label) & finite]
        row = dist.stats.loc[label]
        assert row["n"] == (groups == label).sum()
        assert row["n_finite"] == v.size
        hist = dist.histograms[label]
        assert hist.sum() == v.size
        np.testing.assert_array_equal(hist, np.histogram(v, bins=dist.bin_edges)[0])
        if v.size:
            assert row["mean"] == pytest.approx(v.mean(), rel=1e-9)
            assert row["min"] == v.min() and row["max"] == v.max()
        if v.size > 1:
            assert row["std"] == pytest.approx(v.std(ddof=1), rel=1e-6)
    if score == "llr_masked" and grouping == "type":
        assert dist.stats.loc["indel", "n_finite"] == 0  # no LLR for indels
        assert np.isnan(dist.stats.loc["indel", "mean"])


@pytest.mark.parametrize("by", ["abs", "max", "min"])
def test_top_variants_equal_numpy(ds, by):
    x = np.asarray(ds["score_llr_masked"].values, dtype=np.float64)
    key = {"abs": np.abs(x), "max": x, "min": -x}[by]
    order = np.argsort(np.where(np.isfinite(key), -key, np.inf), kind="stable")[:5]
    top = var.top_variants(ds, "llr_masked", n=5, by=by)
    np.testing.assert_allclose(top["llr_masked"].to_numpy(), x[order])
    row = top.iloc[0]
    assert row["pos1"] == row["pos"] + 1 == ds["variant_pos"].values[row["row"]] + 1
    assert row["id"] == ds["variant_id"].values[row["row"]]
    assert row["type"] == "SNV" and row["status"] == "ok"


def test_top_variants_never_selects_nan(ds):
    n_finite = int(np.isfinite(ds["score_llr_masked"].values).sum())
    top = var.top_variants(ds, "llr_masked", n=ds.sizes["variant"])
    assert len(top) == n_finite and np.isfinite(top["llr_masked"]).all()


def test_scores_along_genome_equal_numpy(ds):
    x = np.asarray(ds["score_l2_mean_layer_2"].values, dtype=np.float64)
    pos = ds["variant_pos"].values
    binned = var.scores_along_genome(ds, "l2_mean_layer_2", n_bins=7)
    assert 0 < len(binned) <= 7
    assert binned["n"].sum() == np.isfinite(x).sum()
    assert binned["max_abs"].max() == pytest.approx(np.nanmax(np.abs(x)))
    assert binned["start"].iloc[0] == pos.min() and binned["end"].max() >= pos.max()
    for _, b in binned.iterrows():
        rows = (pos >= b["start"]) & (pos < b["end"]) & np.isfinite(x)
        assert rows.sum() == b["n"]
        assert b["mean"] == pytest.approx(x[rows].mean(), rel=1e-9)


def test_errors_name_the_score_and_choices(ds):
    with pytest.raises(InputError, match=r"score 'cadd' is not in the store; it has \['llr_m"):
        var.top_variants(ds, "cadd")
    with pytest.raises(InputError, match="top_variants by='median': use 'abs', 'max' or 'min'"):
        var.top_variants(ds, "llr_masked", by="median")
