"""Coverage of a cohort store (`cohort_coverage`) equals `compute_coverage` over the
expanded (window, strand, haplotype) rows, on random statuses and shrunk ends, fed unit by
unit; haplotypes with equal columns share one computation."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.genome import plan_windows, with_haplotypes
from ntscale.genome.coverage import _column_groups, cohort_coverage, compute_coverage
from ntscale.types import WindowStatus

CONTIGS = (("c1", 5_000), ("c2", 2_300))
CODES = [int(WindowStatus.OK), int(WindowStatus.SKIPPED_HAPLOTYPE), int(WindowStatus.PENDING)]


def random_columns(plan, n_haps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[W, H] statuses and ends: mostly OK (whole window), some skipped, some shrunk."""
    rng = np.random.default_rng(seed)
    w = plan.n_windows
    status = np.full((w, n_haps), int(WindowStatus.OK), np.int64)
    end = np.repeat(plan.end[:, None], n_haps, axis=1).astype(np.int64)
    odd = rng.random((w, n_haps)) < 0.08
    status[odd] = rng.choice(CODES, size=int(odd.sum()))
    shrunk = (rng.random((w, n_haps)) < 0.05) & (status == int(WindowStatus.OK))
    status[shrunk] = int(WindowStatus.SHRUNK_TO_TOKEN_BUDGET)
    cut = rng.integers(1, 200, size=int(shrunk.sum()))
    end[shrunk] = np.maximum(end[shrunk] - cut, np.repeat(plan.start[:, None], n_haps, 1)[shrunk])
    return status, end


@pytest.mark.parametrize(
    ("seed", "strands", "unit"), [(0, ("+",), 3), (1, ("+", "-"), 4), (2, ("+", "-"), 100)]
)
def test_cohort_coverage_equals_the_row_by_row_record(seed, strands, unit):
    plan = plan_windows(CONTIGS, window_bp=600, strands=strands)
    names = [f"S{i}:{p}" for i in range(5) for p in (0, 1)]
    status, end = random_columns(plan, len(names), seed)
    rows = with_haplotypes(plan, len(names), names)
    want = compute_coverage(
        rows,
        contig_index=rows.contig_index,
        start=rows.start,
        end=end.reshape(-1),
        strand=rows.strand,
        haplotype=rows.haplotype,
        status=status.reshape(-1),
        max_listed=30,
    )
    blocks = [(status[a : a + unit], end[a : a + unit]) for a in range(0, plan.n_windows, unit)]
    got = cohort_coverage(plan, names, iter(blocks), max_listed=30)
    assert got == want
    assert want["uncovered_bp"] > 0 and want["tracks"] == len(strands) * len(names)


def test_equal_columns_form_one_group_and_keep_their_first_haplotype():
    status = np.array([[0, 0, 1, 0], [0, 0, 0, 0], [2, 0, 2, 0]])
    end = np.array([[10, 10, 10, 10], [20, 20, 20, 20], [30, 30, 30, 25]])
    group, cols, ends = _column_groups([(status[:2], end[:2]), (status[2:], end[2:])])
    assert group.tolist() == [0, 1, 2, 3]
    same = np.zeros((3, 4), np.int64)
    group, cols, ends = _column_groups([(same[:1], same[:1]), (same[1:], same[1:])])
    assert group.tolist() == [0, 0, 0, 0] and len(cols) == 1 and cols[0].tolist() == [0, 0, 0]
    status[:, 1] = status[:, 0]
    end[:, 1] = end[:, 0]
    group, cols, ends = _column_groups([(status[:1], end[:1]), (status[1:], end[1:])])
    assert group.tolist() == [0, 0, 1, 2]
    assert cols[1].tolist() == [1, 0, 2] and ends[2].tolist() == [10, 20, 25]
    assert _column_groups([])[0].size == 0
    with pytest.raises(ValueError, match="no haplotype"):
        cohort_coverage(plan_windows(CONTIGS, window_bp=600), [], iter([]))
