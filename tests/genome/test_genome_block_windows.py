"""Block-multiple windows over N-free intervals (NTv3's 2^n rule)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntscale.genome.block_windows import nfree_intervals, plan_block_windows
from ntscale.genome.gaps import runs_in


def test_nfree_intervals_complement_the_runs():
    runs = {"a": np.array([[0, 3], [10, 12], [18, 20]]), "b": np.zeros((0, 2), np.int64)}
    got = nfree_intervals([("a", 20), ("b", 7), ("c", 5)], runs)
    assert got == [("a", 3, 10), ("a", 12, 18), ("b", 0, 7), ("c", 0, 5)]


@given(st.text(alphabet="ACGTN", min_size=1, max_size=300))
def test_nfree_intervals_of_a_sequence(seq):
    got = nfree_intervals([("x", len(seq))], {"x": runs_in(seq)})
    covered = np.zeros(len(seq), bool)
    for _, a, b in got:
        assert "N" not in seq[a:b] and b > a
        assert (a == 0 or seq[a - 1] == "N") and (b == len(seq) or seq[b] == "N")
        covered[a:b] = True
    assert covered.sum() == len(seq) - seq.count("N")


@given(
    lengths=st.lists(st.integers(1, 700), min_size=1, max_size=6),
    window=st.integers(8, 400),
    block=st.sampled_from([1, 4, 8, 32, 128]),
)
def test_windows_cover_each_interval_inside_it(lengths, window, block):
    if window < block:
        return
    intervals, pos = [], 0
    for n in lengths:
        intervals.append(("c", pos, pos + n))
        pos += n + 5  # N runs between
    plan = plan_block_windows(intervals, window_bp=window, block_bp=block)
    for _, a, b in intervals:
        rows = (plan.start >= a) & (plan.end <= b) & (plan.contig == "c")
        rows &= plan.start < b
        if b - a < block:
            assert list(plan.status[rows]) == ["too_short"]
            continue
        lens = plan.lengths()[rows]
        assert (lens % block == 0).all() and len(set(lens)) == 1
        assert lens[0] == min(window, b - a) // block * block
        covered = np.zeros(b - a, bool)
        for s, e in zip(plan.start[rows], plan.end[rows], strict=True):
            covered[s - a : e - a] = True
        assert covered.all()
        # at most one overlapping (end-aligned) window per interval
        starts = np.sort(plan.start[rows])
        assert (np.diff(starts)[:-1] == lens[0]).all()
    assert plan.covered_bp() == sum(b - a for _, a, b in intervals if b - a >= block)


def test_window_shorter_than_a_block():
    with pytest.raises(ValueError, match="shorter than one block"):
        plan_block_windows([("c", 0, 100)], window_bp=4, block_bp=8)


def test_plan_example():
    plan = plan_block_windows([("c", 0, 20), ("c", 30, 33)], window_bp=8, block_bp=4)
    assert list(zip(plan.start, plan.end, plan.status, strict=True)) == [
        (0, 8, "ok"), (8, 16, "ok"), (12, 20, "ok"), (30, 33, "too_short"),
    ]  # fmt: skip
    assert plan.n_windows == 4 and plan.covered_bp() == 20
