"""PCA by dask's randomized SVD against numpy's exact SVD of the same centred matrix."""

from __future__ import annotations

import numpy as np
import pytest

import ntscale.store as st
from ntscale.analysis import pca as pca_mod
from ntscale.errors import InputError


@pytest.fixture(scope="module")
def ds(embed_store, dask_client):
    return st.open(str(embed_store))


def _numpy_pca(ds, layer):
    ok = np.isin(ds["status"].values.astype(str), ["OK", "SHRUNK_TO_TOKEN_BUDGET"])
    x = np.asarray(ds["embedding_mean"].sel(layer=layer).values, dtype=np.float64)[ok]
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    n = x.shape[0]
    total = (xc**2).sum() / (n - 1)
    return xc, s**2 / (n - 1), total, vt


@pytest.mark.parametrize("layer", [1, 2])
def test_explained_variance_equals_numpy_svd(ds, layer):
    result = pca_mod.embedding_pca(ds, layer=layer, n_components=5)
    xc, variance, total, vt = _numpy_pca(ds, layer)
    assert result.layer == layer
    assert result.window_index.shape == (18,)
    np.testing.assert_allclose(result.explained_variance, variance[:5], rtol=1e-6)
    np.testing.assert_allclose(result.explained_variance_ratio, variance[:5] / total, rtol=1e-6)
    assert result.total_variance == pytest.approx(total, rel=1e-9)
    # Same axes up to sign; the sign rule makes the largest |loading| positive.
    for j in range(5):
        assert abs(result.components[j] @ vt[j]) == pytest.approx(1.0, abs=1e-6)
        assert result.components[j][np.argmax(np.abs(result.components[j]))] > 0
    # Scores are the centred data projected on the components.
    np.testing.assert_allclose(result.scores, xc @ result.components.T, atol=1e-8)


def test_pca_is_reproducible_and_caps_components(ds):
    a = pca_mod.embedding_pca(ds, n_components=100, seed=3)
    b = pca_mod.embedding_pca(ds, n_components=100, seed=3)
    assert a.scores.shape == (18, 17)  # min(n windows - 1, D = 64)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_pc_correlations_equal_numpy(ds):
    result = pca_mod.embedding_pca(ds, n_components=3)
    rng = np.random.default_rng(0)
    cov = rng.normal(size=ds.sizes["window"])
    const = np.zeros(ds.sizes["window"])
    corr = pca_mod.pc_correlations(result, {"x": cov, "const": const})
    for j in range(3):
        expected = np.corrcoef(result.scores[:, j], cov[result.window_index])[0, 1]
        assert corr["x"][j] == pytest.approx(expected, abs=1e-12)
    assert all(np.isnan(corr["const"]))  # constant covariate: undefined, not 0


def test_pearson_ignores_nan_rows():
    x = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    y = np.array([2.0, 4.0, 6.5, 1.0, np.nan])
    assert pca_mod.pearson(x, y) == pytest.approx(np.corrcoef(x[:3], y[:3])[0, 1])
    assert np.isnan(pca_mod.pearson(x[:2], y[:2]))


def test_pca_needs_three_windows(ds):
    few = ds.isel(window=slice(0, 4))  # the all-N window and one embedded, both strands
    with pytest.raises(InputError, match="PCA needs at least 3 embedded windows; layer 2 has 2"):
        pca_mod.embedding_pca(few)
