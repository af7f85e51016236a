"""Haplotypes with the same alleles are built once per window and renamed per haplotype.

Every row of a WindowSource (which shares builds between haplotypes of one allele pattern)
must equal what a fresh source gives for that haplotype alone: sequence, coordinate map,
status and per-variant outcomes with the row's own sample and haplotype.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_fasta, write_vcf

from ntscale.genome import HaplotypePolicy, WindowSource

SEQ = random_seq(400, seed=3)


def alt_of(i: int) -> str:
    return "A" if SEQ[i] != "A" else "C"


def assert_same_rows(shared: WindowSource, make_fresh, windows, n_haplotypes: int) -> int:
    """Compare every (window, haplotype) row; returns how many distinct sequences there were."""
    distinct = set()
    for contig, start, end in windows:
        for h in range(n_haplotypes):
            got = shared.fetch_window(contig, start, end, haplotype=h)
            want = make_fresh().fetch_window(contig, start, end, haplotype=h)
            assert got.sequence == want.sequence and got.status == want.status
            assert (got.start, got.end, got.n_tokens) == (want.start, want.end, want.n_tokens)
            assert got.n_variants == want.n_variants
            assert got.variants == want.variants, (start, h)
            if want.coord_map is not None:
                np.testing.assert_array_equal(got.coord_map, want.coord_map)
            distinct.add((start, got.sequence))
    return len(distinct)


def test_real_300_samples_match_one_build_per_haplotype(repo_root: Path):
    fasta = repo_root / "examples" / "data" / "chr20_2mb.fa.gz"
    vcf = repo_root / "tests" / "data" / "dedup" / "chr20_300.vcf.gz"
    import pysam

    with pysam.VariantFile(str(vcf)) as v:
        samples = list(v.header.samples)[::15]  # 20 samples spread over the cohort

    def make() -> WindowSource:
        return WindowSource(fasta, tokenizer="v2", max_tokens=2048, vcf_path=vcf, samples=samples)

    windows = [("20", s, s + 3000) for s in range(1_110_000, 1_122_000, 3000)]
    distinct = assert_same_rows(make(), make, windows, 2 * len(samples))
    assert len(windows) < distinct < len(windows) * 2 * len(samples)  # shared and not shared


@pytest.mark.parametrize("unphased", ["ref", "alt", "skip"])
def test_unphased_and_missing_genotypes_are_not_shared_with_phased_ones(tmp_path, unphased):
    fasta = write_fasta(tmp_path / "t.fa", {"c1": SEQ})
    records = [  # the same ALT reached by unphased, phased and missing genotypes
        ("c1", 111, SEQ[110], (alt_of(110),), ["0/1", "1/0", "0|1", "1|1", ".|1"]),
        ("c1", 131, SEQ[130], (alt_of(130),), ["0|0", "0|0", "1|0", "0|1", "1|."]),
    ]
    vcf = write_vcf(tmp_path / "t.vcf.gz", {"c1": 400}, ["A", "B", "C", "D", "E"], records)
    policy = HaplotypePolicy(unphased=unphased)

    def make() -> WindowSource:
        return WindowSource(fasta, tokenizer="v2", max_tokens=2048, vcf_path=vcf, policy=policy)

    assert_same_rows(make(), make, [("c1", 100, 200), ("c1", 200, 300)], 10)
