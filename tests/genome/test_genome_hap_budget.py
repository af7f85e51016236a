"""Haplotype token budget (genome/hap_budget.py): indel sites from a VCF, worst token counts,
and the window splits that keep every possible haplotype under the model's limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genome_helpers import write_vcf

from ntscale.genome.hap_budget import (
    MIN_SPLIT_BP,
    insertion_sites,
    split_for_insertions,
    worst_tokens,
)
from ntscale.genome.tiling import nfree_tokens


def test_worst_tokens_is_the_maximum_over_every_length_in_range() -> None:
    rng = np.random.default_rng(7)
    lo = rng.integers(0, 400, 300)
    hi = lo + rng.integers(0, 20, 300)
    want = [max(int(nfree_tokens(x)) for x in range(a, b + 1)) for a, b in zip(lo, hi, strict=True)]
    assert worst_tokens(lo, hi).tolist() == want


def test_worst_tokens_of_short_ranges_by_hand() -> None:
    # 12 bp: 3 tokens; 11 bp (one 6-mer + 5 letters): 7 tokens, more than 12 bp
    assert worst_tokens(np.array([12]), np.array([12])).tolist() == [3]
    assert worst_tokens(np.array([11]), np.array([12])).tolist() == [7]
    assert worst_tokens(np.array([0]), np.array([4])).tolist() == [5]  # 4 letters + CLS


def split(starts, ends, pos, ins, dels, max_tokens):
    s, e, n = split_for_insertions(
        np.array(starts), np.array(ends), np.array(pos), np.array(ins), np.array(dels),
        max_tokens=max_tokens,
    )  # fmt: skip
    return list(zip(s.tolist(), e.tolist(), strict=True)), n


def test_a_deletion_can_add_tokens_and_splits_the_window() -> None:
    # 264 bp = 44 6-mers + CLS = 45 tokens. Losing up to 5 bp reaches 263 bp = 43 6-mers + 5
    # letters + CLS = 49 tokens: over a limit of 47, so the window is halved (6-mer aligned).
    assert split([0], [264], [100], [0], [5], 47) == ([(0, 132), (132, 264)], 1)
    assert split([0], [264], [100], [0], [5], 49) == ([(0, 264)], 0)
    assert split([0], [264], [100], [0], [0], 47) == ([(0, 264)], 0)  # no site effect


def test_sites_count_from_one_base_before_the_window() -> None:
    # an indel anchored on the base before the window may change its start
    assert split([100], [364], [99], [11], [0], 50) == ([(100, 232), (232, 364)], 1)
    assert split([100], [364], [98], [11], [0], 50) == ([(100, 364)], 0)
    assert split([100], [364], [364], [11], [0], 50) == ([(100, 364)], 0)  # at the end: not in


def test_windows_are_not_split_below_the_minimum() -> None:
    assert MIN_SPLIT_BP == 12
    # 100 bp inserted at 5 never fits 3 tokens; 12 bp is cut once into 6 + 6 and stops there
    assert split([0], [12], [5], [100], [0], 3) == ([(0, 6), (6, 12)], 1)
    assert split([0], [11], [5], [100], [0], 3) == ([(0, 11)], 0)


def test_only_windows_holding_the_site_are_split_and_order_is_kept() -> None:
    got, n = split([0, 264, 528], [264, 528, 792], [300], [11], [0], 50)
    assert n == 1
    assert got == [(0, 264), (264, 396), (396, 528), (528, 792)]


def test_per_haplotype_bounds_are_not_summed_across_haplotypes() -> None:
    # 6 + 5 bp on one haplotype reach 275 bp (51 tokens); on two haplotypes each stays <= 270
    one = split([0], [264], [100, 200], [[6, 0], [5, 0]], np.zeros((2, 2), np.int64), 50)
    two = split([0], [264], [100, 200], [[6, 0], [0, 5]], np.zeros((2, 2), np.int64), 50)
    assert one[1] == 1 and two == ([(0, 264)], 0)


# -- insertion_sites from a VCF ---------------------------------------------------------------


@pytest.fixture
def indel_vcf(tmp_path: Path) -> Path:
    return write_vcf(
        tmp_path / "i.vcf.gz",
        {"chr1": 1_000, "chr2": 1_000},
        ["A", "B"],
        [
            ("chr1", 10, "A", ("C",), ["1|1", "1|1"]),  # SNV: skipped, genotypes unread
            ("chr1", 20, "A", ("ATT",), ["1|0", "0/1"]),  # +2; B unphased: either haplotype
            ("chr1", 30, "ACG", ("A",), ["0|0", "0|0"]),  # -2 carried by nobody: left out
            ("chr1", 40, "A", ("<DEL>",), ["1|1", "1|1"]),  # symbolic: never applied
            ("chr1", 50, "ACGT", ("A", "ACGTAA"), ["2|1", "1|."]),  # -3 / +2, one missing
            ("chr2", 5, "A", ("AT",), ["0|0", "0|0"]),
        ],
    )


def test_insertion_sites_per_haplotype(indel_vcf: Path) -> None:
    sites = insertion_sites(indel_vcf, ["1", "2", "3"], {"1": "chr1", "2": "chr2", "3": None})
    assert list(sites) == ["1"]  # chr2's indel is carried by nobody; "3" is not in the VCF
    start, grow, shrink = sites["1"]
    assert start.tolist() == [19, 49]
    # haplotypes A:0, A:1, B:0, B:1
    assert grow.tolist() == [[2, 0, 2, 2], [2, 0, 0, 0]]
    assert shrink.tolist() == [[0, 0, 0, 0], [0, 3, 3, 0]]
    assert start.dtype == grow.dtype == shrink.dtype == np.int64


def test_insertion_sites_of_chosen_samples_only(indel_vcf: Path) -> None:
    sites = insertion_sites(indel_vcf, ["1"], {"1": "chr1"}, samples=["B"])
    start, grow, shrink = sites["1"]
    assert start.tolist() == [19, 49]
    assert grow.tolist() == [[2, 2], [0, 0]]
    assert shrink.tolist() == [[0, 0], [3, 0]]


def test_insertion_sites_feed_the_split(indel_vcf: Path) -> None:
    """A 60 bp window over both sites (11 tokens on the reference): per haplotype, A:0 spans
    60..64 bp (64 = 10 6-mers + 4 letters + CLS = 15 tokens), A:1 57..60 and B:0 57..62
    (59 = 9 6-mers + 5 letters + CLS = 15), B:1 60..62: the worst is 15 tokens."""
    start, grow, shrink = insertion_sites(indel_vcf, ["1"], {"1": "chr1"})["1"]
    assert worst_tokens(np.array([60]), np.array([64])).tolist() == [15]
    assert split([0], [60], start, grow, shrink, 15) == ([(0, 60)], 0)
    assert split([0], [60], start, grow, shrink, 14) == ([(0, 30), (30, 60)], 1)


# -- the checkpoint's k (Codon-NT: 3-mers) ----------------------------------------------------


@pytest.mark.parametrize("k", [3, 4, 6])
def test_worst_tokens_for_any_k_is_the_maximum_over_the_range(k: int) -> None:
    rng = np.random.default_rng(k)
    lo = rng.integers(0, 300, 200)
    hi = lo + rng.integers(0, 2 * k + 3, 200)
    want = [
        max(int(nfree_tokens(x, k)) for x in range(a, b + 1)) for a, b in zip(lo, hi, strict=True)
    ]
    assert worst_tokens(lo, hi, k=k).tolist() == want


def test_split_cuts_on_the_checkpoints_kmer_boundary() -> None:
    # 174 bp = 58 3-mers + CLS = 59 tokens; +7 bp reaches 181 = 60 3-mers + 1 + CLS = 62
    s, e, n = split_for_insertions(
        np.array([0]), np.array([174]), np.array([50]), np.array([7]), np.array([0]),
        max_tokens=61, k=3,
    )  # fmt: skip
    assert n == 1 and s.tolist() == [0, 87] and e.tolist() == [87, 174]  # 87 = 29 3-mers
    # with 6-mers (the old assumption) the same window looked like 32 tokens: not split
    assert split_for_insertions(
        np.array([0]), np.array([174]), np.array([50]), np.array([7]), np.array([0]),
        max_tokens=61,
    )[2] == 0  # fmt: skip


def test_codon_nt_haplotype_windows_with_indels_fit_the_token_budget(tmp_path: Path) -> None:
    """Plan Codon-NT (k = 3) windows with the VCF's indel sites, then build every haplotype
    of every window with the 3-mer tokenizer: none is shrunk and none is over the limit,
    although some haplotypes are longer than their reference window."""
    from genome_helpers import random_seq, write_fasta

    from ntscale.genome import FastaSource, WindowSource
    from ntscale.genome.windows import default_window_bp, plan_windows
    from ntscale.tokenizer import get_tokenizer
    from ntscale.types import WindowStatus

    seq = random_seq(3_000, seed=11)
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": seq})
    sites = [(120, 4), (400, 7), (405, 5), (900, -3), (1_300, 9), (2_100, 2), (2_500, -5)]
    records = []
    for i, (pos, delta) in enumerate(sites):
        ref = seq[pos - 1 : pos] if delta > 0 else seq[pos - 1 : pos - delta]
        alt = ref + random_seq(delta, seed=i) if delta > 0 else ref[0]
        records.append(("chr1", pos, ref, (alt,), ["1|0", "0|1", "1|1"][i % 3 : i % 3 + 1] * 2))
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"chr1": 3_000}, ["A", "B"], records)
    max_tokens = 61
    window = default_window_bp(max_tokens, reserve_tokens=2, k=3)
    assert window == 174
    src_fa = FastaSource(fasta)
    insertions = insertion_sites(vcf, ["chr1"], {"chr1": "chr1"})
    plan = plan_windows(src_fa.contigs, window_bp=window, max_tokens=max_tokens,
                        insertions=insertions, k=3)  # fmt: skip
    assert plan.summary.n_split_for_insertions > 0
    src = WindowSource(fasta, tokenizer=get_tokenizer("v2", k=3), max_tokens=max_tokens,
                       vcf_path=vcf)  # fmt: skip
    longer = 0
    for row in range(plan.n_windows):
        s, e = int(plan.start[row]), int(plan.end[row])
        for h in range(4):
            ws = src.fetch_window("chr1", s, e, haplotype=h)
            assert ws.status == WindowStatus.OK, (s, e, h, ws.status)
            assert ws.n_tokens <= max_tokens
            longer += len(ws.sequence) > e - s
    assert longer > 0
