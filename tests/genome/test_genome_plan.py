"""Window plans (genome/windows.py): region merging, the summary, strands, insertion splits."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.genome import intervals as iv
from ntscale.genome.windows import (
    default_window_bp,
    merge_regions,
    plan_units,
    plan_windows,
    with_haplotypes,
)
from ntscale.types import Region

CONTIGS = (("chrA", 100), ("chrB", 250), ("chrM", 16), ("scaf_1", 40))


def test_merge_regions_sorts_by_contig_order_and_merges_touching() -> None:
    regions = [
        Region("chrB", 50, 60),
        Region("chrA", 30, 40),
        Region("chrB", 10, 20),
        Region("chrA", 0, 30),  # touches [30, 40): merged
        Region("chrB", 55, 80),  # overlaps [50, 60): merged
        Region("other", 0, 5),  # a contig not in the order goes last
        Region("chrB", 90, 95),
    ]
    assert merge_regions(regions, ["chrA", "chrB"]) == [
        Region("chrA", 0, 40),
        Region("chrB", 10, 20),
        Region("chrB", 50, 80),
        Region("chrB", 90, 95),
        Region("other", 0, 5),
    ]
    # the order given wins over the names' sort order
    assert merge_regions([Region("a", 0, 1), Region("b", 0, 1)], ["b", "a"])[0].contig == "b"
    assert merge_regions([], ["chrA"]) == []


def test_skipped_contigs_say_why() -> None:
    plan = plan_windows(CONTIGS, window_bp=50, include=["chr*", "scaf_1"], exclude="chrM",
                        min_contig_bp=50)  # fmt: skip
    assert plan.summary.skipped_contigs == (
        ("chrM", "excluded"),
        ("scaf_1", "shorter than min_contig_bp=50"),
    )
    assert sorted({plan.contigs[i] for i in plan.contig_index}) == ["chrA", "chrB"]
    assert plan.contigs == ("chrA", "chrB", "chrM", "scaf_1")  # every contig, stable indexes
    only = plan_windows(CONTIGS, window_bp=50, include="chrB")
    assert [name for name, _ in only.summary.skipped_contigs] == ["chrA", "chrM", "scaf_1"]
    assert {why for _, why in only.summary.skipped_contigs} == {"not included"}


def test_summary_counts_strands_short_windows_and_tails() -> None:
    plan = plan_windows(CONTIGS, window_bp=60, strands=("reverse", "fwd"), last_window="drop")
    # chrA: [0,60) + tail [60,100) dropped; chrB: 0,60,120,180 + tail [240,250);
    # chrM: one 16 bp window; scaf_1: one 40 bp window. Two strands each.
    per_strand = [(0, 0, 60), (1, 0, 60), (1, 60, 120), (1, 120, 180), (1, 180, 240),
                  (2, 0, 16), (3, 0, 40)]  # fmt: skip
    got = list(zip(plan.contig_index[::2].tolist(), plan.start[::2].tolist(),
                   plan.end[::2].tolist(), strict=True))  # fmt: skip
    assert got == per_strand
    assert plan.strand.tolist()[:2] == [0, 1]  # '+' first whatever the order or alias given
    assert plan.summary.n_windows == 14 == plan.n_windows == len(plan)
    assert plan.summary.n_short_windows == 2 * 2
    assert plan.summary.dropped_tails == (Region("chrA", 60, 100), Region("chrB", 240, 250))
    assert plan.summary.covered_bp == 60 + 240 + 16 + 40
    assert plan.region(2) == Region("chrB", 0, 60)
    assert plan.describe(3) == "chrB:0-60(-)"


def test_requested_intervals_are_on_the_shared_line() -> None:
    regions = [Region("chrB", 10, 20), Region("chrA", 5, 9)]
    plan = plan_windows(CONTIGS, window_bp=50, regions=regions)
    off = iv.line_offsets([n for _, n in CONTIGS])
    assert plan.line_offsets.tolist() == off.tolist()
    assert plan.requested[0].tolist() == [5, off[1] + 10]
    assert plan.requested[1].tolist() == [9, off[1] + 20]
    assert plan.n_runs is None and not plan.gap_aware


def test_insertions_split_windows_and_are_counted() -> None:
    # 264 bp windows fit 50 tokens (45); 11 bp inserted at chrB:100 can reach 51
    contigs = (("chrA", 264), ("chrB", 264))
    ins = {"chrB": (np.array([100]), np.array([[11]]), np.array([[0]]))}
    plan = plan_windows(contigs, window_bp=264, max_tokens=50, insertions=ins)
    got = list(zip(plan.contig_index.tolist(), plan.start.tolist(), plan.end.tolist(), strict=True))
    assert got == [(0, 0, 264), (1, 0, 132), (1, 132, 264)]
    assert plan.summary.n_split_for_insertions == 1
    # without the token limit, or for a contig the FASTA lacks, nothing is split
    assert plan_windows(contigs, window_bp=264, insertions=ins).n_windows == 2
    other = {"chrZ": ins["chrB"]}
    assert plan_windows(contigs, window_bp=264, max_tokens=50, insertions=other).n_windows == 2


def test_with_haplotypes_scales_the_summary() -> None:
    plan = plan_windows(CONTIGS, window_bp=60, include="chrM")
    hp = with_haplotypes(plan, 2, ("S:0", "S:1"))
    assert hp.summary.n_windows == 2 and hp.summary.n_short_windows == 2
    assert hp.summary.covered_bp == plan.summary.covered_bp == 16  # reference bp, not rows
    assert hp.describe(1) == "chrM:0-16(+) hap S:1"
    assert plan.describe(0) == "chrM:0-16(+)"
    with pytest.raises(ConfigError, match="n_haplotypes must be >= 1, got 0"):
        with_haplotypes(plan, 0, ())


@pytest.mark.parametrize(("max_tokens", "reserve"), [(2048, -1), (10, 9), (1, 0)])
def test_default_window_bp_refuses_impossible_budgets(max_tokens: int, reserve: int) -> None:
    with pytest.raises(ConfigError, match="max_tokens - reserve_tokens must be >= 2"):
        default_window_bp(max_tokens, reserve_tokens=reserve)


def test_default_window_bp_smallest_budget_and_embed_reserve() -> None:
    assert default_window_bp(2) == 6  # CLS + one 6-mer
    assert default_window_bp(2048, reserve_tokens=10) == 12_222


def test_plan_units_refuses_a_negative_count() -> None:
    with pytest.raises(ConfigError, match="n_windows must be >= 0, got -1"):
        plan_units(-1, 4)
    assert plan_units(1, 64).tolist() == [0]
    assert plan_units(5, 1).dtype == np.int64
