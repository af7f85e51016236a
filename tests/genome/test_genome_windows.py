"""Window planning: coverage invariants on the real C. elegans contigs, policies, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ntscale.errors import ConfigError, InputError
from ntscale.genome import (
    FastaSource,
    default_window_bp,
    plan_units,
    plan_windows,
    with_haplotypes,
)
from ntscale.types import REFERENCE_HAPLOTYPE, Region, Strand


@pytest.fixture(scope="module")
def ce_contigs(ce_fasta: Path) -> tuple[tuple[str, int], ...]:
    return FastaSource(ce_fasta).contigs


def _coverage(plan, contig_i: int, strand: int, length: int) -> np.ndarray:
    cov = np.zeros(length, np.int32)
    sel = (plan.contig_index == contig_i) & (plan.strand == strand)
    for s, e in zip(plan.start[sel], plan.end[sel], strict=True):
        cov[s:e] += 1
    return cov


def test_default_window_bp() -> None:
    assert default_window_bp(2048) == 12_282
    assert default_window_bp(1000) == 5_994
    assert default_window_bp(2048, reserve_tokens=5) == 12_252
    with pytest.raises(ConfigError, match="max_tokens - reserve_tokens must be >= 2"):
        default_window_bp(1)


def test_truncate_covers_each_contig_exactly_once_both_strands(ce_contigs) -> None:
    plan = plan_windows(ce_contigs, window_bp=1_000, strands=("+", "-"), last_window="truncate")
    for i, (_, length) in enumerate(ce_contigs):
        for strand in (Strand.FORWARD, Strand.REVERSE):
            assert np.all(_coverage(plan, i, strand, length) == 1)
    # CHROMOSOME_I: 1,009,800 bp -> 1,009 full windows + one of 800 bp; others 5 each
    n_ref = 1_010 + 6 * 5
    assert plan.n_windows == 2 * n_ref
    assert plan.summary.n_short_windows == 2
    assert plan.summary.covered_bp == 1_039_800
    assert plan.contig_index.dtype == np.int32 and plan.start.dtype == np.int64
    assert plan.strand.dtype == np.int8 and plan.haplotype.dtype == np.int32
    assert np.all(plan.haplotype == REFERENCE_HAPLOTYPE)


def test_order_is_contig_start_strand(ce_contigs) -> None:
    plan = plan_windows(ce_contigs, window_bp=2_000, strands=("-", "+"))
    key = np.lexsort((plan.strand, plan.start, plan.contig_index))
    assert np.array_equal(key, np.arange(plan.n_windows))
    assert plan.strand[0] == Strand.FORWARD and plan.strand[1] == Strand.REVERSE
    assert plan.describe(1) == "CHROMOSOME_I:0-2000(-)"


def test_shift_keeps_full_length_and_covers(ce_contigs) -> None:
    plan = plan_windows(ce_contigs, window_bp=1_500, last_window="shift")
    assert np.all(plan.end - plan.start == 1_500)
    for i, (_, length) in enumerate(ce_contigs):
        cov = _coverage(plan, i, Strand.FORWARD, length)
        assert cov.min() >= 1
    # contig of 5,000 bp: 0,1500,3000 then shifted last window 3500-5000
    sel = plan.contig_index == 1
    assert plan.start[sel].tolist() == [0, 1_500, 3_000, 3_500]


def test_drop_records_tails(ce_contigs) -> None:
    plan = plan_windows(ce_contigs, window_bp=1_500, last_window="drop")
    tails = plan.summary.dropped_tails
    assert Region("CHROMOSOME_II", 4_500, 5_000) in tails
    assert len(tails) == 7  # 1,009,800 % 1,500 = 300 too
    assert Region("CHROMOSOME_I", 1_009_500, 1_009_800) in tails
    assert plan.summary.covered_bp == 1_039_800 - 300 - 6 * 500


def test_short_contig_gives_one_short_window() -> None:
    plan = plan_windows([("a", 100), ("b", 5_000)], window_bp=1_000, last_window="drop")
    assert plan.region(0) == Region("a", 0, 100)
    assert plan.summary.n_short_windows == 1


def test_stride_overlap_and_gaps(ce_contigs) -> None:
    over = plan_windows([("c", 5_000)], window_bp=1_000, stride_bp=500, last_window="truncate")
    assert over.start.tolist() == list(range(0, 4_001, 500))
    assert over.end.tolist()[-1] == 5_000
    gaps = plan_windows([("c", 5_000)], window_bp=1_000, stride_bp=2_000)
    assert gaps.start.tolist() == [0, 2_000, 4_000]
    assert gaps.summary.covered_bp == 3_000


def test_include_exclude_patterns_and_min_length(ce_contigs) -> None:
    plan = plan_windows(
        ce_contigs, window_bp=5_000, include=["CHROMOSOME_*"], exclude=["*MtDNA", "CHROMOSOME_X"]
    )
    used = {plan.contigs[i] for i in np.unique(plan.contig_index)}
    assert used == {
        "CHROMOSOME_I",
        "CHROMOSOME_II",
        "CHROMOSOME_III",
        "CHROMOSOME_IV",
        "CHROMOSOME_V",
    }
    assert ("CHROMOSOME_X", "excluded") in plan.summary.skipped_contigs
    # contig_index stays the FASTA index although some contigs were left out
    assert plan.contigs == tuple(n for n, _ in ce_contigs)
    big = plan_windows(ce_contigs, window_bp=5_000, min_contig_bp=10_000)
    assert set(np.unique(big.contig_index).tolist()) == {0}
    assert len(big.summary.skipped_contigs) == 6
    only = plan_windows(ce_contigs, window_bp=5_000, include="CHROMOSOME_II")
    assert set(np.unique(only.contig_index).tolist()) == {1}


def test_regions_are_merged_and_tiled(ce_contigs) -> None:
    regions = [
        Region("CHROMOSOME_III", 1_000, 2_500),
        Region("CHROMOSOME_I", 10_000, 12_000),
        Region("CHROMOSOME_I", 11_000, 13_000),
    ]
    plan = plan_windows(ce_contigs, window_bp=1_000, regions=regions, last_window="truncate")
    got = [str(plan.region(i)) for i in range(plan.n_windows)]
    assert got == [
        "CHROMOSOME_I:10000-11000",
        "CHROMOSOME_I:11000-12000",
        "CHROMOSOME_I:12000-13000",
        "CHROMOSOME_III:1000-2000",
        "CHROMOSOME_III:2000-2500",
    ]


def test_region_errors(ce_contigs) -> None:
    with pytest.raises(InputError, match="unknown contig 'chrI'"):
        plan_windows(ce_contigs, window_bp=100, regions=[Region("chrI", 0, 10)])
    with pytest.raises(InputError, match=r"CHROMOSOME_II:4000-6000: region outside contig"):
        plan_windows(ce_contigs, window_bp=100, regions=[Region("CHROMOSOME_II", 4_000, 6_000)])


def test_config_errors(ce_contigs) -> None:
    with pytest.raises(ConfigError, match="window_bp must be >= 1"):
        plan_windows(ce_contigs, window_bp=0)
    with pytest.raises(ConfigError, match="stride_bp must be >= 1"):
        plan_windows(ce_contigs, window_bp=10, stride_bp=0)
    with pytest.raises(ConfigError, match="unknown last_window policy 'pad'"):
        plan_windows(ce_contigs, window_bp=10, last_window="pad")
    with pytest.raises(ConfigError, match="unknown strand 'x'"):
        plan_windows(ce_contigs, window_bp=10, strands=("x",))
    with pytest.raises(ConfigError, match="given twice"):
        plan_windows(ce_contigs, window_bp=10, strands=("+", "forward"))
    with pytest.raises(ConfigError, match="no window to plan"):
        plan_windows(ce_contigs, window_bp=10, include="chr*")


def test_plan_units() -> None:
    assert plan_units(10, 4).tolist() == [0, 4, 8]
    assert plan_units(8, 4).tolist() == [0, 4]
    assert plan_units(0, 4).tolist() == []
    with pytest.raises(ConfigError, match="unit_windows must be >= 1"):
        plan_units(10, 0)


def test_with_haplotypes_expands_in_order(ce_contigs) -> None:
    plan = plan_windows(ce_contigs, window_bp=5_000, strands=("+", "-"), include="CHROMOSOME_II")
    names = ("S1:0", "S1:1", "S2:0", "S2:1")
    hp = with_haplotypes(plan, 4, names)
    assert hp.n_windows == plan.n_windows * 4
    assert hp.haplotype.tolist()[:8] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert hp.strand.tolist()[:8] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert hp.haplotype_names == names
    assert hp.describe(5) == "CHROMOSOME_II:0-5000(-) hap S1:1"
    with pytest.raises(ConfigError, match="already has haplotype rows"):
        with_haplotypes(hp, 4, names)
    with pytest.raises(ConfigError, match="3 haplotype names given for 4"):
        with_haplotypes(plan, 4, names[:3])


def test_plan_arrays_are_read_only(ce_contigs) -> None:
    plan = plan_windows(ce_contigs, window_bp=5_000)
    with pytest.raises(ValueError):
        plan.start[0] = 5
