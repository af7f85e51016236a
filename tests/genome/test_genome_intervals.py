"""Interval arithmetic on one line (genome/intervals.py) against a boolean mask of bases."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.genome import intervals as iv

LINE = 200  # a line short enough to hold every base in a mask


def mask_of(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """[LINE] bool: base b lies in some [s, e) (the definition every set operation obeys)."""
    m = np.zeros(LINE, bool)
    for s, e in zip(starts, ends, strict=True):
        m[s:e] = True
    return m


def runs_of(mask: np.ndarray) -> tuple[list[int], list[int]]:
    """Sorted disjoint maximal runs of True, written by a plain loop."""
    starts, ends, inside = [], [], False
    for b, on in enumerate(mask.tolist() + [False]):
        if on and not inside:
            starts.append(b)
        if not on and inside:
            ends.append(b)
        inside = on
    return starts, ends


def random_intervals(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    s = rng.integers(0, LINE - 1, n)
    e = np.minimum(s + rng.integers(0, 30, n), LINE)  # some empty ones (e == s)
    return s.astype(np.int64), e.astype(np.int64)


def test_line_offsets_leave_one_empty_base_between_contigs() -> None:
    off = iv.line_offsets([10, 5, 7])
    # contig 0 at 0..10, a gap base at 10, contig 1 at 11..16, gap at 16, contig 2 at 17..24
    assert off.tolist() == [0, 11, 17, 25]
    assert off.dtype == np.int64
    assert iv.line_offsets([]).tolist() == [0]


def test_to_line_and_from_line_round_trip() -> None:
    off = iv.line_offsets([10, 5, 7])
    ci = np.array([0, 0, 1, 1, 2, 2])
    pos = np.array([0, 9, 0, 4, 0, 6])
    line = iv.to_line(off, ci, pos)
    assert line.tolist() == [0, 9, 11, 15, 17, 23]
    back_ci, back_pos = iv.from_line(off, line)
    assert back_ci.tolist() == ci.tolist() and back_ci.dtype == np.int32
    assert back_pos.tolist() == pos.tolist()


def test_intervals_of_two_contigs_never_merge() -> None:
    """A whole contig 0 and a whole contig 1 stay two intervals: the gap base separates them."""
    off = iv.line_offsets([10, 5])
    s, e = iv.union(np.array([off[0], off[1]]), np.array([off[0] + 10, off[1] + 5]))
    assert s.tolist() == [0, 11] and e.tolist() == [10, 16]


def test_union_merges_overlapping_and_touching_and_drops_empty() -> None:
    s, e = iv.union(np.array([30, 0, 5, 10, 50, 40]), np.array([35, 5, 8, 12, 50, 41]))
    # [0,5) and [5,8) touch -> [0,8); [10,12); [30,35); [40,41); [50,50) is empty
    assert s.tolist() == [0, 10, 30, 40]
    assert e.tolist() == [8, 12, 35, 41]
    assert iv.total(s, e) == 8 + 2 + 5 + 1


def test_union_of_nested_intervals_keeps_the_outer_end() -> None:
    s, e = iv.union(np.array([0, 2, 3]), np.array([20, 5, 4]))
    assert (s.tolist(), e.tolist()) == ([0], [20])


def test_empty_inputs() -> None:
    z = np.zeros(0, np.int64)
    for op in (iv.subtract, iv.intersect):
        s, e = op(z, z, np.array([1]), np.array([5]))
        assert s.size == e.size == 0
    s, e = iv.subtract(np.array([1]), np.array([5]), z, z)
    assert (s.tolist(), e.tolist()) == ([1], [5])
    s, e = iv.intersect(np.array([1]), np.array([5]), z, z)
    assert s.size == 0
    assert iv.total(z, z) == 0


def test_subtract_and_intersect_by_hand() -> None:
    a = (np.array([0, 20]), np.array([10, 30]))
    b = (np.array([5, 25, 40]), np.array([22, 26, 50]))
    s, e = iv.subtract(*a, *b)
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == [(0, 5), (22, 25), (26, 30)]
    s, e = iv.intersect(*a, *b)
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == [(5, 10), (20, 22), (25, 26)]


@pytest.mark.parametrize("seed", range(6))
def test_set_operations_match_a_base_mask(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a_s, a_e = random_intervals(rng, int(rng.integers(1, 12)))
    b_s, b_e = random_intervals(rng, int(rng.integers(1, 12)))
    ma, mb = mask_of(a_s, a_e), mask_of(b_s, b_e)
    for got, want in (
        (iv.union(a_s, a_e), ma),
        (iv.subtract(a_s, a_e, b_s, b_e), ma & ~mb),
        (iv.intersect(a_s, a_e, b_s, b_e), ma & mb),
    ):
        s, e = got
        assert (s.tolist(), e.tolist()) == runs_of(want)
        assert iv.total(s, e) == int(want.sum())
