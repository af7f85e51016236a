"""Grouping a window's haplotypes by genotype pattern (ntscale.genome.hap_patterns).

Checked against an independent grouping (a dict keyed by each haplotype's alleles read
one by one in plain Python), on random genotypes (phased and unphased, multi-allelic,
missing) and on the real 300-sample chr20 slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ntscale.genome.hap_patterns import group_haplotypes, pattern_rows


def plain_keys(gt: np.ndarray, phased: np.ndarray) -> list[tuple]:
    """Per haplotype h = 2 * sample + phase: its alleles, and the other allele where the
    genotype is unphased heterozygous (what build_haplotype reads), in plain Python."""
    n_rec, n_s = gt.shape[0], gt.shape[1]
    keys = []
    for h in range(2 * n_s):
        s, p = divmod(h, 2)
        key = []
        for r in range(n_rec):
            mine, other = int(gt[r, s, p]), int(gt[r, s, 1 - p])
            unphased_het = not phased[r, s] and mine != other and mine >= 0 and other >= 0
            key.append((mine, other if unphased_het else None))
        keys.append(tuple(key))
    return keys


def check_against_plain(gt: np.ndarray, phased: np.ndarray) -> None:
    g = group_haplotypes(gt, phased)
    keys = plain_keys(gt, phased)
    firsts: dict[tuple, int] = {}
    for h, key in enumerate(keys):
        firsts.setdefault(key, h)
    assert g.n_haplotypes == len(keys)
    assert g.n_patterns == len(firsts)
    assert g.first.tolist() == sorted(firsts.values())  # numbered by first haplotype
    for h, key in enumerate(keys):
        assert g.first[g.inverse[h]] == firsts[key], h


@pytest.mark.parametrize("seed", range(6))
def test_random_biallelic_phased_genotypes_match_a_plain_grouping(seed: int):
    rng = np.random.default_rng(seed)
    n_rec, n_s = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    # few distinct haplotypes, as in real data: draw from a small panel
    panel = rng.integers(0, 2, size=(int(rng.integers(1, 6)), n_rec))
    gt = panel[rng.integers(0, panel.shape[0], size=(n_s, 2))].transpose(2, 0, 1)
    check_against_plain(gt.astype(np.int16), np.ones((n_rec, n_s), bool))


@pytest.mark.parametrize("seed", range(6))
def test_multiallelic_missing_and_unphased_genotypes_match_a_plain_grouping(seed: int):
    rng = np.random.default_rng(100 + seed)
    n_rec, n_s = int(rng.integers(1, 12)), int(rng.integers(1, 25))
    gt = rng.integers(-1, 3, size=(n_rec, n_s, 2)).astype(np.int16)
    phased = rng.random((n_rec, n_s)) < 0.6
    check_against_plain(gt, phased)


def test_bit_rows_are_used_only_when_every_allele_is_0_or_1_and_phased():
    gt = np.array([[[0, 1], [1, 1]], [[0, 0], [1, 0]]], np.int16)  # [R=2, S=2, 2]
    phased = np.ones((2, 2), bool)
    rows = pattern_rows(gt, phased)
    assert rows.dtype == np.uint8 and rows.shape == (4, 1)
    # haplotype 1 = sample 0 phase 1: alleles 1 (record 0), 0 (record 1) -> bits 10......
    assert rows[1, 0] == 0b10000000
    multi = gt.copy()
    multi[0, 0, 0] = 2
    assert pattern_rows(multi, phased).dtype == np.int16
    unphased = phased.copy()
    unphased[0, 0] = False  # sample 0 is 0|1 at record 0: unphased heterozygous
    rows = pattern_rows(gt, unphased)
    assert rows.dtype == np.int16 and rows.shape == (4, 4)
    assert rows[0].tolist() == [0, 0, 1, -2]  # own alleles, then the other one where unphased


def test_an_unphased_heterozygote_differs_from_the_same_phased_alleles():
    gt = np.array([[[0, 1], [0, 1]]], np.int16)  # two samples 0/1 at one record
    phased = np.array([[True, False]])
    g = group_haplotypes(gt, phased)
    # sample 0's haplotypes (0, 1) are phased; sample 1's carry the other allele too
    assert g.n_patterns == 4


def test_a_window_without_records_is_one_pattern_and_no_sample_is_none():
    g = group_haplotypes(np.zeros((0, 3, 2), np.int16), np.zeros((0, 3), bool))
    assert g.n_patterns == 1 and g.inverse.tolist() == [0] * 6
    none = group_haplotypes(np.zeros((4, 0, 2), np.int16), np.zeros((4, 0), bool))
    assert none.n_patterns == 0 and none.n_haplotypes == 0


def test_real_300_sample_windows_match_the_source_pattern_keys(repo_root: Path):
    from ntscale.genome.source import _allele_pattern
    from ntscale.genome.vcf import VariantReader

    reader = VariantReader(repo_root / "tests" / "data" / "dedup" / "chr20_300.vcf.gz")
    counts = []
    for start in range(1_100_000, 1_130_000, 6_000):
        v = reader.query("20", start, start + 6_000)
        g = group_haplotypes(v.gt, v.phased)
        keys = [_allele_pattern(v, h // 2, h % 2) for h in range(2 * len(reader.samples))]
        assert g.n_patterns == len(set(keys))
        assert all(keys[g.first[g.inverse[h]]] == keys[h] for h in range(len(keys)))
        counts.append(g.n_patterns)
    assert len(counts) == 5 and all(1 < c < 600 for c in counts), counts


def test_window_source_builds_one_sequence_per_pattern_equal_to_each_row(repo_root: Path):
    """fetch_haplotype_patterns: every haplotype's sequence (through its pattern) equals
    the one built for its own row, on both strands of real 300-sample windows."""
    from ntscale.genome import WindowSource
    from ntscale.genome.vcf import haplotype_names

    data = repo_root / "examples" / "data"
    src = WindowSource(
        data / "chr20_2mb.fa.gz",
        tokenizer="v2",
        max_tokens=2048,
        vcf_path=repo_root / "tests" / "data" / "dedup" / "chr20_300.vcf.gz",
    )
    assert len(src.haplotype_names) == 600 == len(haplotype_names(src.vcf.samples))
    for start, strand in ((1_110_200, "+"), (1_112_000, "-")):
        seqs, inverse = src.fetch_haplotype_patterns("20", start, start + 600, strand=strand)
        assert inverse.shape == (600,) and 1 < len(seqs) < 600
        for h in range(0, 600, 7):
            own = src.fetch_window("20", start, start + 600, strand=strand, haplotype=h)
            got = seqs[inverse[h]]
            assert (got.sequence, got.status, got.n_variants, got.end) == (
                own.sequence,
                own.status,
                own.n_variants,
                own.end,
            )
    plain = WindowSource(data / "chr20_2mb.fa.gz", tokenizer="v2", max_tokens=2048)
    from ntscale.errors import ConfigError

    with pytest.raises(ConfigError, match="haplotype windows need a VCF"):
        plain.fetch_haplotype_patterns("20", 1_110_200, 1_110_800)


def test_indel_bounds_without_genotypes_bound_every_haplotype(repo_root: Path):
    """insertion_sites(genotypes=False): one bound per record, >= every haplotype's."""
    from ntscale.genome.hap_budget import insertion_sites

    vcf = repo_root / "examples" / "data" / "chr20_2mb.vcf.gz"
    per_hap = insertion_sites(vcf, ["20"], {"20": "20"})["20"]
    per_rec = insertion_sites(vcf, ["20"], {"20": "20"}, genotypes=False)["20"]
    assert per_rec[1].shape[1] == per_rec[2].shape[1] == 1  # no haplotype axis
    assert per_hap[1].shape[1] == 8  # 4 samples x 2
    # every record some haplotype carries is among the ALT-bounded ones, bound >= carried
    at = {int(p): i for i, p in enumerate(per_rec[0])}
    for k, pos in enumerate(per_hap[0].tolist()):
        i = at[pos]
        assert per_rec[1][i, 0] >= per_hap[1][k].max()
        assert per_rec[2][i, 0] >= per_hap[2][k].max()
    assert per_rec[0].size > per_hap[0].size  # ALTs no chosen sample carries count too
