"""Per-base tiling (genome/perbase_tiling.py): once-coverage, centrality, divisibility.

The properties of the module docstring are checked on random intervals and settings
(hypothesis), base by base, against a brute-force reading of the rules; a few plans are
pinned by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntscale.errors import ConfigError
from ntscale.genome.perbase_tiling import (
    check_window,
    n_tokens,
    nfree_intervals,
    plan_perbase_tiles,
)


@st.composite
def plans(draw: st.DrawFn) -> tuple:
    """Random disjoint intervals on two contigs, and settings that meet `multiple_of`."""
    k = draw(st.sampled_from([1, 6]))
    m = draw(st.sampled_from([1, 2, 4, 8]))
    # k=6: at least ceil((m + 4) / m) * m tokens, enough for any interval (module docstring)
    window = k * m * draw(st.integers(1 if k == 1 else -(-(m + 4) // m), 12))
    stride = draw(st.integers(1, window))
    intervals = []
    for contig in ("chrA", "chrB"):
        pos = draw(st.integers(0, 5))
        for _ in range(draw(st.integers(0, 4))):
            length = draw(st.integers(1, 4 * window + 7))
            intervals.append((contig, pos, pos + length))
            pos += length + draw(st.integers(1, 9))
    return intervals, window, stride, k, m


def _all_tiles(plan) -> list:
    return list(plan.tiles())


@settings(max_examples=300, deadline=None)
@given(plans())
def test_every_base_is_kept_exactly_once(case: tuple) -> None:
    intervals, window, stride, k, m = case
    plan = plan_perbase_tiles(intervals, window_bp=window, stride_bp=stride, k=k, multiple_of=m)
    for i, (contig, s, e) in enumerate(intervals):
        count = np.zeros(e - s, np.int64)
        for t in _all_tiles(plan):
            if t.interval != i:
                continue
            assert t.contig == contig
            assert s <= t.start <= t.keep_start < t.keep_end <= t.end <= e
            count[t.keep_start - s : t.keep_end - s] += 1
        assert (count == 1).all(), (i, count)
    assert plan.kept_bp() == plan.interval_bp() == sum(e - s for _, s, e in intervals)


@settings(max_examples=300, deadline=None)
@given(plans())
def test_each_base_comes_from_its_most_central_tile(case: tuple) -> None:
    intervals, window, stride, k, m = case
    plan = plan_perbase_tiles(intervals, window_bp=window, stride_bp=stride, k=k, multiple_of=m)
    tiles = _all_tiles(plan)
    for t in tiles:
        mates = [u for u in tiles if u.interval == t.interval]
        for p in range(t.keep_start, t.keep_end):
            mine = abs(p + 0.5 - (t.start + t.end) / 2)
            others = [abs(p + 0.5 - (u.start + u.end) / 2) for u in mates if u.start <= p < u.end]
            assert mine <= min(others) + 1e-9, (p, t)


@settings(max_examples=300, deadline=None)
@given(plans())
def test_no_kept_base_at_a_tile_edge_except_interval_ends(case: tuple) -> None:
    intervals, window, stride, k, m = case
    plan = plan_perbase_tiles(intervals, window_bp=window, stride_bp=stride, k=k, multiple_of=m)
    margin = (window - stride) // 2
    for t in plan.tiles():
        _, s, e = intervals[t.interval]
        if e - s < window:
            continue  # one short tile (or a shorter tiling): checked below
        assert t.end - t.start == window
        if t.keep_start != s:
            assert t.keep_start - t.start >= margin, t
        if t.keep_end != e:
            assert t.end - t.keep_end >= margin, t


@settings(max_examples=300, deadline=None)
@given(plans())
def test_token_counts_meet_the_divisibility_rule_and_fit_a_window(case: tuple) -> None:
    intervals, window, stride, k, m = case
    plan = plan_perbase_tiles(intervals, window_bp=window, stride_bp=stride, k=k, multiple_of=m)
    tokens = plan.tokens
    assert (tokens % m == 0).all()
    assert (tokens <= n_tokens(window, k)).all()
    full = (plan.end - plan.start) == window
    assert (plan.pad[full] == 0).all()
    np.testing.assert_array_equal(tokens, n_tokens(plan.end - plan.start, k) + plan.pad)


def test_a_plan_by_hand() -> None:
    # [0, 100), window 40, stride 20: tiles at 0, 20, 40, and 60 (shifted back to end at 100).
    plan = plan_perbase_tiles([("c", 0, 100)], window_bp=40, stride_bp=20, k=1)
    got = [(t.start, t.end, t.keep_start, t.keep_end) for t in plan.tiles()]
    assert got == [(0, 40, 0, 30), (20, 60, 30, 50), (40, 80, 50, 70), (60, 100, 70, 100)]
    # [0, 90): the last tile is shifted to 50; the boundary moves to half-way (45 + 20 = 65).
    plan = plan_perbase_tiles([("c", 0, 90)], window_bp=40, stride_bp=20, k=1)
    got = [(t.start, t.keep_start, t.keep_end) for t in plan.tiles()]
    assert got == [(0, 0, 30), (20, 30, 50), (40, 50, 65), (50, 65, 90)]


def test_default_overlap_is_half_a_window_and_overlap_sets_the_stride() -> None:
    assert plan_perbase_tiles([("c", 0, 500)], window_bp=120).stride_bp == 60
    assert plan_perbase_tiles([("c", 0, 500)], window_bp=120, overlap_bp=24).stride_bp == 96
    with pytest.raises(ConfigError, match="not both"):
        plan_perbase_tiles([("c", 0, 9)], window_bp=12, overlap_bp=6, stride_bp=6)
    with pytest.raises(ConfigError, match="between 1 and the window"):
        plan_perbase_tiles([("c", 0, 9)], window_bp=12, overlap_bp=12)


def test_a_short_interval_gets_one_padded_tile() -> None:
    # 6-mers, tokens divisible by 4: 50 bp = 8 six-mers + 2 letters = 10 tokens, pad 2.
    plan = plan_perbase_tiles([("c", 10, 60)], window_bp=96, k=6, multiple_of=4)
    (t,) = plan.tiles()
    assert (t.start, t.end, t.keep_start, t.keep_end, t.pad) == (10, 60, 10, 60, 2)
    # single-base tokens, length divisible by 8: 13 bp -> pad 3
    (t,) = plan_perbase_tiles([("c", 0, 13)], window_bp=64, k=1, multiple_of=8).tiles()
    assert (t.end, t.pad) == (13, 3)


def test_a_short_interval_over_a_window_budget_is_tiled_smaller() -> None:
    # 6-mers: 59 bp = 9 six-mers + 5 letters = 14 tokens > the 10 of a 60-bp window.
    plan = plan_perbase_tiles([("c", 0, 59)], window_bp=60, k=6)
    assert (plan.end - plan.start == 54).all() and len(plan) >= 2
    assert plan.kept_bp() == 59 and (plan.tokens <= 10).all()
    with pytest.raises(ConfigError, match="chrQ:0-23 needs 8 tokens"):
        plan_perbase_tiles([("chrQ", 0, 23)], window_bp=24, k=6, multiple_of=4)


def test_check_window_names_the_nearest_valid_windows() -> None:
    check_window(96, k=6, multiple_of=4)
    with pytest.raises(ConfigError) as e:
        check_window(102, k=6, multiple_of=4)
    assert "102 bp is 17 tokens, not a multiple of 4" in str(e.value)
    assert "use a window of 96 or 120 bp" in str(e.value)
    with pytest.raises(ConfigError, match="at most 12,282 bp"):
        check_window(12_288, k=6, max_tokens=2047)
    with pytest.raises(ConfigError, match="must be >= 1"):
        check_window(0)


def test_nfree_intervals_cut_regions_at_runs() -> None:
    runs = {"c": np.array([[10, 12], [30, 40]]), "d": np.zeros((0, 2), np.int64)}
    got = nfree_intervals([("c", 0, 35), ("d", 5, 9), ("c", 38, 50)], runs)
    assert got == [("c", 0, 10), ("c", 12, 30), ("c", 40, 50), ("d", 5, 9)]
    assert nfree_intervals([("e", 0, 4)], lambda c: np.zeros((0, 2), np.int64)) == [("e", 0, 4)]


def test_tile_of_finds_the_keeping_tile() -> None:
    plan = plan_perbase_tiles([("c", 0, 100), ("d", 0, 10)], window_bp=40, stride_bp=20, k=1)
    got = plan.tile_of("c", np.array([0, 29, 30, 69, 70, 99, 100]))
    np.testing.assert_array_equal(got, [0, 0, 1, 2, 3, 3, -1])
    np.testing.assert_array_equal(plan.tile_of("d", np.array([3])), [4])
    np.testing.assert_array_equal(plan.tile_of("zz", np.array([3])), [-1])


def test_empty_input_gives_an_empty_plan() -> None:
    plan = plan_perbase_tiles([], window_bp=12)
    assert len(plan) == 0 and plan.kept_bp() == 0 and list(plan.tiles()) == []
