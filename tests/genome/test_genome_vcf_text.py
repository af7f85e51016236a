"""The numpy GT parser of text VCFs (genome/vcf_text.py) against cyvcf2, record for record.

`VariantReader.query` parses a region of a GT-only text VCF with numpy and falls back to
cyvcf2 for anything else; both paths must give the same records, genotypes and phases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genome_helpers import write_vcf

from ntscale.genome.vcf import VariantReader
from ntscale.genome.vcf_text import TextGenotypes, parse_gt_lines

DATA = Path(__file__).resolve().parents[1] / "data"
COHORT = DATA / "cohort" / "sim16.vcf.gz"
BUNDLED = DATA / "dedup" / "chr20_300.vcf.gz"


def both_paths(reader: VariantReader, contig: str, start: int, end: int):
    """(numpy path result or None, cyvcf2 path result) for one region."""
    reader._text = None
    fast = reader._text_genotypes()
    name = reader.vcf_contig(contig)
    quick = fast.query(name, start, end, reader._file_columns)
    reader._text = False  # cyvcf2 only
    slow = reader.query(contig, start, end)
    reader._text = None
    return quick, slow


def assert_same(a, b) -> None:
    assert a.records == b.records
    assert a.gt.dtype == b.gt.dtype == np.int16 and a.phased.dtype == b.phased.dtype == bool
    np.testing.assert_array_equal(a.gt, b.gt)
    np.testing.assert_array_equal(a.phased, b.phased)


@pytest.mark.parametrize(
    ("path", "contig", "start", "end", "step"),
    [
        (COHORT, "20", 1_000_000, 1_300_000, 12_222),
        (BUNDLED, "20", 1_100_000, 1_180_000, 5_994),
    ],
)
def test_numpy_path_equals_cyvcf2_on_the_bundled_and_simulated_vcfs(
    path: Path, contig: str, start: int, end: int, step: int
) -> None:
    reader = VariantReader(path)
    used = 0
    for s in range(start, end, step):
        quick, slow = both_paths(reader, contig, s, s + step)
        if slow.records:
            assert quick is not None, (s, "the numpy path should take this GT-only region")
            assert_same(quick, slow)
            assert_same(reader.query(contig, s, s + step), slow)
            used += 1
    assert used >= 5


def test_numpy_path_follows_a_sample_subset_and_its_order() -> None:
    every = VariantReader(COHORT).samples
    chosen = [every[7], every[0], every[3]]
    reader = VariantReader(COHORT, samples=chosen)
    quick, slow = both_paths(reader, "20", 1_000_000, 1_050_000)
    assert quick is not None and quick.gt.shape[1] == 3
    assert_same(quick, slow)
    full = VariantReader(COHORT).query("20", 1_000_000, 1_050_000)
    np.testing.assert_array_equal(quick.gt, full.gt[:, [7, 0, 3]])


ODD = {
    "unphased": ["0/1", "1/1", "0|0"],
    "missing": ["0|1", ".|.", "0|0"],
    "half missing": ["0|.", "1|0", "./."],
    "haploid": ["1", "0", "1"],
    "mixed ploidy": ["0|1", "1", "0|0"],
    "multi-digit": ["10|0", "0|3", "11|11"],
}


@pytest.mark.parametrize("kind", list(ODD))
def test_odd_genotypes_give_the_same_matrices_either_way(tmp_path: Path, kind: str) -> None:
    n_alts = 11 if kind == "multi-digit" else 1
    alts = tuple("ACGT"[(i % 3) + 1] * (i // 3 + 1) for i in range(n_alts))
    records = [
        ("chr1", 10, "A", ("C",), ["0|1", "1|0", "1|1"]),
        ("chr1", 20, "A", alts, ODD[kind]),
        ("chr1", 30, "G", ("T",), ["1|1", "0|0", "0|1"]),
    ]
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"chr1": 100}, ["A", "B", "C"], records)
    reader = VariantReader(vcf)
    quick, slow = both_paths(reader, "chr1", 0, 100)
    if kind == "unphased":  # fixed width: the numpy path reads '/' itself
        assert quick is not None
        assert_same(quick, slow)
        assert slow.phased[1].tolist() == [False, False, True]
    else:  # everything else falls back to cyvcf2 for the region
        assert quick is None
    assert_same(reader.query("chr1", 0, 100), slow)
    # a region without the odd record takes the numpy path again
    quick, slow = both_paths(reader, "chr1", 25, 100)
    assert quick is not None
    assert_same(quick, slow)


def test_other_format_layouts_and_bad_lines_fall_back() -> None:
    good = "chr1\t5\t.\tA\tC\t.\tPASS\t.\tGT\t0|1\t1|1"
    assert parse_gt_lines([good], 2, None) is not None
    assert parse_gt_lines([good.replace("\tGT\t", "\tGT:DP\t")], 2, None) is None
    assert parse_gt_lines([good + "\t0|0"], 2, None) is None  # a sample too many
    assert parse_gt_lines([good[: -len("\t1|1")]], 2, None) is None  # one too few
    assert parse_gt_lines([good.replace("1|1", "2|1")], 2, None) is None  # allele past ALTs
    assert parse_gt_lines([good.replace("1|1", "1\\1")], 2, None) is None
    assert parse_gt_lines([], 2, None) is None
    got = parse_gt_lines([good.replace("\t.\tA", "\trs9\tA")], 2, np.array([1]))
    assert got.records[0].id == "rs9" and got.records[0].start == 4
    assert got.gt.tolist() == [[[1, 1]]] and got.phased.tolist() == [[True]]


def test_a_bcf_or_a_contig_missing_from_the_index_uses_cyvcf2(tmp_path: Path) -> None:
    bcf = DATA / "cohort" / "sim16.bcf"
    assert VariantReader(bcf)._text_genotypes() is None
    renamed = tmp_path / "named_like.vcf.gz"  # a BCF is found by its bytes, not its name
    renamed.write_bytes(bcf.read_bytes())
    (tmp_path / "named_like.vcf.gz.csi").write_bytes(bcf.with_name("sim16.bcf.csi").read_bytes())
    assert VariantReader(renamed)._text_genotypes() is None  # (cyvcf2 then reads it)
    text = TextGenotypes(COHORT, COHORT.with_name(COHORT.name + ".csi"), 16)
    assert text.query("no_such_contig", 0, 100, None) is None
    assert text.query("20", 1_000_000, 1_010_000, None) is not None
    text.close()
    reader = VariantReader(COHORT)
    assert reader.query("20", 1_000_000, 1_010_000).records
    reader.close()
    assert reader._text is None or reader._text._tabix is None
