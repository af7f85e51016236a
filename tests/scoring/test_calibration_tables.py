"""The calibration summaries: per-stratum histograms equal numpy's, and the quantile
tables are the quantiles of values spread uniformly inside their bins."""

from __future__ import annotations

import numpy as np

from ntscale.scoring.calibration import (
    EDGES,
    HIST_HI,
    HIST_LO,
    HIST_WIDTH,
    LEVELS,
    N_BINS,
    N_STRATA,
    histogram,
    quantile_table,
)


def test_histogram_per_stratum_equals_numpy_with_out_of_range_values_clamped():
    rng = np.random.default_rng(7)
    llr = rng.normal(0.0, 8.0, 5000)
    llr[:5] = [-1e6, -20.0, 19.99, 20.0, 1e6]
    stratum = rng.integers(0, 4, 5000) * 100 + 3  # strata 3, 103, 203, 303
    hist = histogram(llr, stratum)
    assert hist.shape == (N_STRATA, N_BINS) and hist.dtype == np.int32
    assert hist.sum() == 5000
    for s in range(N_STRATA):
        values = np.clip(llr[stratum == s], HIST_LO, HIST_HI - HIST_WIDTH / 2)
        expected, _ = np.histogram(values, bins=EDGES)
        assert np.array_equal(hist[s], expected), s


def test_quantiles_of_filled_bins_follow_the_piecewise_linear_cdf():
    rng = np.random.default_rng(3)
    hist = np.zeros((N_STRATA, N_BINS), np.int64)
    lo_bin = 390  # bins 390-409: [-0.5, 0.5), every bin non-empty
    hist[11, lo_bin : lo_bin + 20] = rng.integers(1, 50, 20)
    table = quantile_table(hist)
    assert table.shape == (N_STRATA, len(LEVELS)) and table.dtype == np.float32
    assert np.isnan(table[:11]).all() and np.isnan(table[12:]).all()  # no background
    # the CDF at the bin edges, linear between them: its inverse at every level
    edges = EDGES[lo_bin : lo_bin + 21]
    cum = np.concatenate([[0.0], np.cumsum(hist[11, lo_bin : lo_bin + 20])])
    cdf = 100.0 * cum / cum[-1]
    np.testing.assert_allclose(table[11], np.interp(LEVELS, cdf, edges), rtol=0, atol=1e-6)


def test_quantiles_match_numpy_quantile_of_values_uniform_in_their_bins():
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 3000, 30)
    counts[[4, 9, 10]] = 0  # empty bins inside the range: flat CDF, no quantile there
    first = 350
    values = np.concatenate(
        [EDGES[first + i] + HIST_WIDTH * rng.random(c) for i, c in enumerate(counts)]
    )
    hist = histogram(values, np.full(len(values), 42))
    assert np.array_equal(hist[42, first : first + 30], counts)
    table = quantile_table(hist)[42]
    expected = np.quantile(values, LEVELS / 100.0)
    # sampling error of a quantile inside a bin: far below one bin (0.05 nats)
    np.testing.assert_allclose(table, expected, rtol=0, atol=0.004)
    assert np.all(np.diff(table) >= 0)


def test_one_bin_spreads_its_quantiles_across_the_bin():
    hist = np.zeros((N_STRATA, N_BINS), np.int64)
    hist[0, 400] = 7  # every value in [0, 0.05)
    table = quantile_table(hist)[0]
    np.testing.assert_allclose(table, EDGES[400] + HIST_WIDTH * LEVELS / 100.0, atol=1e-7)
