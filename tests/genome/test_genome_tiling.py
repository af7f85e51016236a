"""Tiling intervals into windows (genome/tiling.py): each rule of docs/genome.md by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.genome.tiling import check_window_fits, max_window_bp, nfree_tokens, tile_intervals


def tiles(starts, ends, **kw) -> tuple[list[tuple[int, int, int]], list[list[int]]]:
    """(start, end, interval index) of every window, and the dropped tails."""
    s, e, owner, dropped = tile_intervals(np.array(starts), np.array(ends), **kw)
    return list(zip(s.tolist(), e.tolist(), owner.tolist(), strict=True)), dropped.tolist()


def test_token_counts_and_the_longest_window() -> None:
    # 12 bp: two 6-mers + CLS; 13 bp: two 6-mers, one letter, CLS; 11 bp: one 6-mer + 5 + CLS
    assert nfree_tokens(12) == 3 and nfree_tokens(13) == 4 and nfree_tokens(11) == 7
    assert nfree_tokens(0) == 1
    np.testing.assert_array_equal(nfree_tokens(np.array([6, 7, 17])), [2, 3, 8])
    assert max_window_bp(2048) == 12_282 and max_window_bp(1000) == 5_994
    assert nfree_tokens(max_window_bp(2048)) == 2048


def test_check_window_fits_names_the_maximum() -> None:
    check_window_fits(12_282, 2048)  # 2,047 6-mers + CLS: exactly full
    check_window_fits(12_276, 2048)
    # 12,281 bp = 2,046 6-mers + 5 letters + CLS = 2,052 tokens: over, although shorter
    with pytest.raises(ConfigError) as e:
        check_window_fits(12_281, 2048, model="NT-v2")
    msg = str(e.value)
    assert "--window 12,281 bp needs 2,052 tokens but NT-v2 takes at most 2,048" in msg
    assert "at most 12,282 bp per window; use --window 12282" in msg


# One interval [0, 100), windows of 30 bp: the three last-window policies by hand.
@pytest.mark.parametrize(
    ("stride", "policy", "windows", "dropped"),
    [
        # stride 30: full windows at 0, 30, 60; the tail [90, 100) is left
        (30, "shift", [(0, 30), (30, 60), (60, 90), (70, 100)], []),
        (30, "truncate", [(0, 30), (30, 60), (60, 90), (90, 100)], []),
        (30, "drop", [(0, 30), (30, 60), (60, 90)], [[90, 100]]),
        # stride 20 (overlap): full windows at 0, 20, 40, 60; next start 80, covered to 90
        (20, "shift", [(0, 30), (20, 50), (40, 70), (60, 90), (70, 100)], []),
        (20, "truncate", [(0, 30), (20, 50), (40, 70), (60, 90), (80, 100)], []),
        (20, "drop", [(0, 30), (20, 50), (40, 70), (60, 90)], [[90, 100]]),
        # stride 40 (gaps): full windows at 0, 40; the next start 80 is inside
        (40, "shift", [(0, 30), (40, 70), (70, 100)], []),
        (40, "truncate", [(0, 30), (40, 70), (80, 100)], []),
        (40, "drop", [(0, 30), (40, 70)], [[80, 100]]),
    ],
)
def test_last_window_policies(stride, policy, windows, dropped) -> None:
    got, tails = tiles([0], [100], window_bp=30, stride_bp=stride, last_window=policy)
    assert [(s, e) for s, e, _ in got] == windows
    assert tails == dropped


@pytest.mark.parametrize("policy", ["shift", "truncate", "drop"])
def test_exact_fit_and_short_intervals_have_no_tail(policy) -> None:
    # [0, 90) is three whole windows; [200, 215) is shorter than a window: one 15 bp window
    got, tails = tiles([0, 200], [90, 215], window_bp=30, stride_bp=30, last_window=policy)
    assert got == [(0, 30, 0), (30, 60, 0), (60, 90, 0), (200, 215, 1)]
    assert tails == []


def test_empty_intervals_are_skipped_and_owners_keep_input_indexes() -> None:
    got, _ = tiles([50, 0, 7, 300], [50, 40, 7, 330], window_bp=30, stride_bp=30,
                   last_window="shift")  # fmt: skip
    # input 0 and 2 are empty; 1 gives [0,30) + shifted [10,40); 3 gives one window
    assert got == [(0, 30, 1), (10, 40, 1), (300, 330, 3)]


def test_windows_are_grouped_by_interval_in_start_order() -> None:
    # intervals given out of line order keep their own order; windows sorted inside each
    got, _ = tiles([100, 0], [160, 60], window_bp=30, stride_bp=30, last_window="shift")
    assert got == [(100, 130, 0), (130, 160, 0), (0, 30, 1), (30, 60, 1)]


def test_short_window_over_the_token_budget_becomes_two_that_cover_it() -> None:
    # window 30 bp = 5 6-mers + CLS = 6 tokens. A 29 bp interval needs 4 + 5 + 1 = 10
    # tokens: it becomes two 24 bp windows (the largest multiple of 6 below 29), one at
    # each end, together covering [0, 29).
    got, _ = tiles([0], [29], window_bp=30, stride_bp=30, last_window="shift", max_tokens=6)
    assert got == [(0, 24, 0), (5, 29, 0)]
    # a 24 bp interval fits (4 6-mers + CLS = 5 tokens): left alone
    got, _ = tiles([0], [24], window_bp=30, stride_bp=30, last_window="shift", max_tokens=6)
    assert got == [(0, 24, 0)]
    # a truncated tail of 10 bp (1 6-mer + 4 + CLS = 6 tokens) fits; 11 bp (7 tokens) does not
    got, _ = tiles([0], [41], window_bp=30, stride_bp=30, last_window="truncate", max_tokens=6)
    assert got == [(0, 30, 0), (30, 36, 0), (35, 41, 0)]


@pytest.mark.parametrize("seed", range(4))
def test_every_base_is_covered_by_shift_and_truncate(seed: int) -> None:
    """Invariant: with stride <= window, shift and truncate cover each interval exactly."""
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.choice(5_000, 8, replace=False)) * 3
    ends = starts + rng.integers(1, 400, 8)
    window = int(rng.integers(20, 80))
    stride = int(rng.integers(1, window + 1))
    for policy in ("shift", "truncate"):
        s, e, owner, dropped = tile_intervals(
            starts, ends, window_bp=window, stride_bp=stride, last_window=policy
        )
        assert dropped.shape == (0, 2)
        for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
            mine = owner == i
            cover = np.zeros(b - a, bool)
            for ws, we in zip(s[mine], e[mine], strict=True):
                assert a <= ws < we <= b and we - ws <= window
                cover[ws - a : we - a] = True
            assert cover.all()


@pytest.mark.parametrize(("window", "stride"), [(0, 10), (10, 0), (-1, 5)])
def test_non_positive_window_or_stride_is_a_config_error(window, stride) -> None:
    with pytest.raises(ConfigError, match="window_bp and stride_bp must be >= 1"):
        tile_intervals(np.array([0]), np.array([10]), window_bp=window, stride_bp=stride,
                       last_window="shift")  # fmt: skip
