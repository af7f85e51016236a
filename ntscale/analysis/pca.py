"""PCA of window embeddings with dask's randomized SVD, and PC correlations with covariates.

The embedding matrix X [n, D] (embedded windows of one layer) stays a dask array: it is
centred lazily and `dask.array.linalg.svd_compressed` needs a few passes over it, one
chunk (work unit) at a time. Only the small results come back: PC scores [n, k], the
components [k, D] and the variances.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ntscale.analysis.windows import embedded_mask, pick_layer
from ntscale.errors import InputError


@dataclass(frozen=True, kw_only=True)
class PcaResult:
    """PCA of the embedded windows of one layer.

    Attributes:
        layer: the layer analysed.
        window_index: [n] row numbers (in the store) of the windows used.
        scores: [n, k] PC scores (centred embeddings projected on the components).
        components: [k, D] unit principal axes; the sign makes each one's largest
            absolute loading positive, so results do not flip between runs.
        explained_variance: [k] variance along each PC (ddof=1).
        explained_variance_ratio: [k] share of the total variance (trace of the covariance).
        total_variance: sum of the D column variances (ddof=1).
    """

    layer: int
    window_index: np.ndarray
    scores: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    total_variance: float


def embedding_pca(
    ds: xr.Dataset,
    *,
    layer: int | None = None,
    n_components: int = 10,
    n_power_iter: int = 2,
    seed: int = 0,
) -> PcaResult:
    """PCA of the mean embeddings of the embedded windows (status OK or SHRUNK) of a layer.

    Args:
        ds: an embedding store opened with `ntscale.store.open`.
        layer: layer to analyse (default: the store's last).
        n_components: PCs to keep; capped at min(n windows - 1, D).
        n_power_iter: power iterations of the randomized SVD (more: closer to exact).
        seed: seed of the random projection (results are reproducible).

    Raises:
        InputError: no embeddings in the store, an unknown layer, or fewer than 3 windows.
    """
    layer = pick_layer(ds, layer)
    index = np.flatnonzero(embedded_mask(ds))
    dim = int(ds.sizes["dim"])
    if index.shape[0] < 3:
        raise InputError(
            f"PCA needs at least 3 embedded windows; layer {layer} has {index.shape[0]}"
        )
    k = int(min(n_components, index.shape[0] - 1, dim))
    x = ds["embedding_mean"].sel(layer=layer).data[index].astype(np.float64)
    x = x.rechunk({0: "auto", 1: -1})  # the SVD's QR needs whole rows in a chunk
    centred = x - x.mean(axis=0)
    total = (centred**2).sum() / (index.shape[0] - 1)
    u, s, vt = da.linalg.svd_compressed(
        centred,
        k,
        n_power_iter=n_power_iter,
        seed=seed,
        compute=False,
    )
    u, s, vt, total = dask.compute(u, s, vt, total)
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    vt = vt * signs[:, None]
    scores = u * s * signs
    variance = s**2 / (index.shape[0] - 1)
    total = float(total)
    return PcaResult(
        layer=layer,
        window_index=index,
        scores=scores,
        components=vt,
        explained_variance=variance,
        explained_variance_ratio=variance / total if total > 0 else np.full(k, np.nan),
        total_variance=total,
    )


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over the rows where both are finite; NaN if either is constant."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    xc = x[ok] - x[ok].mean()
    yc = y[ok] - y[ok].mean()
    denom = np.sqrt((xc**2).sum() * (yc**2).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else float("nan")


def pc_correlations(pca: PcaResult, covariates: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Pearson correlation of every PC's scores with each [W] per-window covariate.

    Args:
        pca: the PCA result.
        covariates: name -> [W] values over all store rows (e.g. gc, frac_n); they are
            restricted to the PCA's windows here.

    Returns:
        name -> [k] correlations (NaN where a covariate is constant over the windows,
        e.g. N fraction when no window has an N).
    """
    out: dict[str, list[float]] = {}
    for name, values in covariates.items():
        v = np.asarray(values, dtype=np.float64)[pca.window_index]
        out[name] = [pearson(pca.scores[:, j], v) for j in range(pca.scores.shape[1])]
    return out
