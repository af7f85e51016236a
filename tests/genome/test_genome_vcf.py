"""VCF access for haplotypes (genome/vcf.py): file checks, genotype arrays, contig names."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import cyvcf2
import numpy as np
import pysam
import pytest
from genome_helpers import to_bcf, write_vcf

from ntscale.errors import ConfigError, InputError, MissingInputError
from ntscale.genome.vcf import (
    VariantReader,
    VcfRecord,
    check_vcf,
    haplotype_names,
    is_symbolic,
    iter_records,
)

CONTIGS = {"chr1": 1_000, "chr2": 500}


def reader_for(tmp_path: Path, records, samples=("A", "B", "C"), **kw) -> VariantReader:
    vcf = write_vcf(tmp_path / "v.vcf.gz", CONTIGS, list(samples), records)
    return VariantReader(vcf, **kw)


def bgzip_index(tmp_path: Path, text: str, name: str = "h.vcf") -> Path:
    plain = tmp_path / name
    plain.write_text(text)
    gz = tmp_path / (name + ".gz")
    pysam.tabix_compress(str(plain), str(gz), force=True)
    pysam.tabix_index(str(gz), preset="vcf", force=True)
    return gz


HEADER = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n"
COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"


# -- VcfRecord, names, symbolic alleles ------------------------------------------------------


def test_vcf_record_coordinates_and_text() -> None:
    r = VcfRecord(contig="chr1", start=99, ref="ACG", alts=("A", "ATTT"), id="rs1")
    assert r.pos1 == 100 and r.end == 102
    assert str(r) == "chr1:100 rs1 ACG>A,ATTT"
    assert str(VcfRecord(contig="2", start=0, ref="N", alts=())) == "2:1 . N>."


def test_haplotype_names_are_sample_major() -> None:
    assert haplotype_names(["HG1", "NA2"]) == ("HG1:0", "HG1:1", "NA2:0", "NA2:1")
    assert haplotype_names([]) == ()


@pytest.mark.parametrize(
    ("allele", "symbolic"),
    [
        ("A", False),
        ("ACGTN", False),
        ("acgt", False),
        ("<DEL>", True),
        ("<INS:ME:ALU>", True),
        ("*", True),
        ("", True),
        (".", True),
        ("G.", True),  # single breakends
        (".G", True),
        ("G]17:198982]", True),
        ("[13:123456[T", True),
    ],
)
def test_is_symbolic(allele: str, symbolic: bool) -> None:
    assert is_symbolic(allele) is symbolic


# -- check_vcf -------------------------------------------------------------------------------


def test_check_vcf_accepts_bgzf_with_tbi_or_csi(tmp_path: Path) -> None:
    gz = write_vcf(tmp_path / "v.vcf.gz", CONTIGS, ["A"], [("chr1", 5, "A", ("C",), ["0|1"])])
    assert check_vcf(gz) == gz
    gz.with_name(gz.name + ".tbi").unlink()
    pysam.tabix_index(str(gz), preset="vcf", force=True, csi=True)
    assert gz.with_name(gz.name + ".csi").is_file()
    assert check_vcf(str(gz)) == gz
    assert [r.pos1 for r in VariantReader(gz).query("chr1", 0, 100).records] == [5]


def test_plain_gzip_is_refused_with_the_bgzip_fix(tmp_path: Path) -> None:
    plain = write_vcf(tmp_path / "v.vcf", CONTIGS, ["A"], [], compress=False)
    gz = tmp_path / "v.vcf.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))  # gzip, not BGZF: cannot be indexed
    with pytest.raises(InputError) as e:
        check_vcf(gz)
    assert str(e.value).startswith(f"{gz}: the VCF must be BGZF-compressed and indexed")
    assert f"`bgzip -c {gz} > {gz}.gz && tabix -p vcf {gz}.gz`" in str(e.value)


def test_truncated_bgzf_is_refused(tmp_path: Path) -> None:
    gz = write_vcf(tmp_path / "v.vcf.gz", CONTIGS, ["A"], [("chr1", 5, "A", ("C",), ["0|1"])])
    gz.write_bytes(gz.read_bytes()[:-28])  # the 28-byte BGZF end-of-file block is gone
    with pytest.raises(InputError, match="no BGZF end-of-file block: it is truncated"):
        check_vcf(gz)


def test_missing_index_of_a_bcf_names_bcftools_index(tmp_path: Path) -> None:
    gz = write_vcf(tmp_path / "v.vcf.gz", CONTIGS, ["A"], [("chr1", 5, "A", ("C",), ["0|1"])])
    bcf = to_bcf(gz, tmp_path / "v.bcf")
    with pytest.raises(MissingInputError) as e:
        check_vcf(bcf)
    assert f"create it with `bcftools index {bcf}`" in str(e.value)
    assert "tabix" not in str(e.value)  # tabix cannot index a BCF
    pysam.tabix_index(str(bcf), preset="bcf", force=True, csi=True)
    reader = VariantReader(bcf)
    assert [r.pos1 for r in reader.query("chr1", 0, 1_000).records] == [5]


# -- VariantReader: samples, header ----------------------------------------------------------


def test_a_vcf_without_samples_is_refused(tmp_path: Path) -> None:
    vcf = bgzip_index(tmp_path, HEADER + COLUMNS + "\nchr1\t5\t.\tA\tC\t.\t.\t.\n")
    with pytest.raises(InputError, match="the VCF has no samples, so no haplotype can be built"):
        VariantReader(vcf)


def test_a_header_without_gt_is_refused_naming_the_header(tmp_path: Path) -> None:
    text = (
        HEADER + '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
        + COLUMNS + "\tFORMAT\tS1\tS2\nchr1\t5\t.\tA\tC\t.\t.\t.\tDP\t3\t4\n"
    )  # fmt: skip
    with pytest.raises(InputError) as e:
        VariantReader(bgzip_index(tmp_path, text))
    assert e.value.record == "header"
    assert "2 sample(s) but its header declares no GT (genotype) FORMAT field" in str(e.value)


def test_unknown_samples_list_at_most_eight(tmp_path: Path) -> None:
    names = [f"S{i}" for i in range(10)]
    vcf = write_vcf(tmp_path / "v.vcf.gz", CONTIGS, names, [])
    with pytest.raises(InputError) as e:
        VariantReader(vcf, samples=["S1", "X", "Y"])
    assert "unknown sample(s) 'X', 'Y'; the VCF has 10 sample(s): S0, S1, S2, S3, S4, S5, " \
        "S6, S7 ..." in str(e.value)  # fmt: skip


# -- VariantReader.query: genotype arrays ----------------------------------------------------


def test_query_gives_alleles_and_phase_per_sample(tmp_path: Path) -> None:
    recs = [
        ("chr1", 10, "A", ("C",), ["0|1", "1/0", ".|1"]),
        ("chr1", 20, "AT", ("A", "ATT"), ["2|1", "0/0", "./."]),
        ("chr1", 30, "G", ("T",), ["1", "0", "."]),  # haploid calls
        ("chr2", 40, "C", ("G",), ["1|1", "0|0", "0|1"]),
    ]
    r = reader_for(tmp_path, recs)
    v = r.query("chr1", 0, 1_000)
    assert [(x.contig, x.start, x.ref, x.alts, x.id) for x in v.records] == [
        ("chr1", 9, "A", ("C",), "v0"),
        ("chr1", 19, "AT", ("A", "ATT"), "v1"),
        ("chr1", 29, "G", ("T",), "v2"),
    ]
    assert v.gt.dtype == np.int16 and v.gt.shape == (3, 3, 2)
    assert v.gt.tolist() == [
        [[0, 1], [1, 0], [-1, 1]],
        [[2, 1], [0, 0], [-1, -1]],
        [[1, 1], [0, 0], [-1, -1]],  # a haploid allele stands on both haplotypes
    ]
    # phased: "|" genotypes and single (haploid) alleles; "/" is unphased
    assert v.phased.tolist() == [[True, False, True], [True, False, False], [True, True, True]]


def test_query_follows_the_requested_sample_order(tmp_path: Path) -> None:
    recs = [("chr1", 10, "A", ("C",), ["0|1", "1|1", "1|0"])]
    r = reader_for(tmp_path, recs, samples=("A", "B", "C"))
    sub = VariantReader(r.path, samples=["C", "A"])
    assert sub.samples == ("C", "A")
    assert sub.haplotype_names == ("C:0", "C:1", "A:0", "A:1")
    assert sub.query("chr1", 0, 100).gt.tolist() == [[[1, 0], [0, 1]]]
    one = VariantReader(r.path, samples=["B"])
    assert one.query("chr1", 0, 100).gt.tolist() == [[[1, 1]]]


def test_query_window_is_half_open_and_overlap_based(tmp_path: Path) -> None:
    # a deletion at 0-based 49-52 overlaps [51, 60); a SNV at 0-based 60 does not
    recs = [("chr1", 50, "ACGT", ("A",), ["0|1"]), ("chr1", 61, "A", ("C",), ["1|1"])]
    r = reader_for(tmp_path, recs, samples=("A",))
    assert [x.start for x in r.query("chr1", 51, 60).records] == [49]
    assert [x.start for x in r.query("chr1", 60, 61).records] == [60]
    assert [x.start for x in r.query("chr1", 53, 60).records] == []
    empty = r.query("chr1", 60, 60)
    assert empty.records == () and empty.gt.shape == (0, 1, 2) and empty.phased.shape == (0, 1)


def test_query_of_a_contig_the_vcf_lacks_is_empty(tmp_path: Path) -> None:
    r = reader_for(tmp_path, [("chr1", 10, "A", ("C",), ["0|1"])], samples=("A",))
    assert r.vcf_contig("chrX") is None
    v = r.query("chrX", 0, 100)
    assert v.records == () and v.gt.shape == (0, 1, 2)


def test_triploid_genotypes_are_refused(tmp_path: Path) -> None:
    r = reader_for(tmp_path, [("chr1", 10, "A", ("C",), ["0|1|1"])], samples=("A",))
    with pytest.raises(InputError, match="genotypes with ploidy 3 are not supported"):
        r.query("chr1", 0, 100)


def test_a_record_without_gt_names_the_record(tmp_path: Path) -> None:
    text = (
        HEADER + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
        + COLUMNS + "\tFORMAT\tS1\n"
        "chr1\t5\trs5\tA\tC\t.\t.\t.\tGT\t0|1\n"
        "chr1\t9\trs9\tA\tC\t.\t.\t.\tDP\t7\n"
    )  # fmt: skip
    r = VariantReader(bgzip_index(tmp_path, text))
    assert r.query("chr1", 0, 6).gt.tolist() == [[[0, 1]]]
    with pytest.raises(InputError) as e:
        r.query("chr1", 0, 100)
    assert e.value.record == "chr1:9 rs9 A>C"
    assert "GT (genotype) field" in str(e.value)


# -- contig names ----------------------------------------------------------------------------


def test_contig_map_explicit_auto_and_exact(tmp_path: Path) -> None:
    recs = [("chr1", 10, "A", ("C",), ["0|1"])]
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"chr1": 1_000, "chrM": 50}, ["A"], recs)
    exact = VariantReader(vcf)
    assert exact.vcf_contigs == ("chr1", "chrM")
    assert exact.vcf_contig("chr1") == "chr1" and exact.vcf_contig("1") is None
    auto = VariantReader(vcf, contig_map="auto", fasta_contigs=["1", "MT"])
    assert auto.vcf_contig("1") == "chr1" and auto.vcf_contig("chr1") == "chr1"
    assert auto.vcf_contig("MT") is None  # auto only adds or strips "chr"
    mapped = VariantReader(vcf, contig_map={"1": "chr1", "MT": "chrM", "2": "chr2"})
    assert mapped.vcf_contig("MT") == "chrM"
    assert mapped.vcf_contig("2") is None  # mapped to a name the VCF does not have
    assert mapped.vcf_contig("chr1") == "chr1"  # unmapped names are used as they are
    assert [x.pos1 for x in mapped.query("1", 0, 100).records] == [10]


def test_a_vcf_with_bare_names_is_found_from_chr_names(tmp_path: Path) -> None:
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"7": 100}, ["A"], [("7", 3, "A", ("G",), ["1|0"])])
    r = VariantReader(vcf, contig_map="auto", fasta_contigs=["chr7"])
    assert r.vcf_contig("chr7") == "7"
    assert [str(x) for x in r.query("chr7", 0, 100).records] == ["7:3 v0 A>G"]


@pytest.mark.parametrize("bad", ["strip", 3, ["chr1"]])
def test_contig_map_of_another_type_is_a_config_error(tmp_path: Path, bad) -> None:
    vcf = write_vcf(tmp_path / "v.vcf.gz", CONTIGS, ["A"], [])
    with pytest.raises(ConfigError, match=r"contig_map must be a mapping, 'auto' or None, got "):
        VariantReader(vcf, contig_map=bad)


# -- pickling and errors while reading -------------------------------------------------------


def test_reader_pickles_by_path_and_reopens(tmp_path: Path) -> None:
    recs = [("chr1", 10, "A", ("C",), ["0|1", "1|1"]), ("chr1", 90, "C", ("T",), ["1|0", "0|0"])]
    r = reader_for(tmp_path, recs, samples=("A", "B"), fasta_contigs=["chr1"])
    r.query("chr1", 0, 50)  # opens the cyvcf2 handle, which does not pickle
    clone = pickle.loads(pickle.dumps(r))
    assert clone.samples == ("A", "B") and clone.path == r.path
    a, b = r.query("chr1", 0, 100), clone.query("chr1", 0, 100)
    assert a.records == b.records
    np.testing.assert_array_equal(a.gt, b.gt)
    r.close()
    r.close()  # closing twice is harmless
    assert r.query("chr1", 80, 100).gt.tolist() == [[[1, 0], [0, 0]]]  # reopens


def test_iter_records_names_the_record_before_a_malformed_one(tmp_path: Path) -> None:
    text = (
        HEADER + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        + COLUMNS + "\tFORMAT\tS1\n"
        "chr1\t5\t.\tA\tC\t.\t.\t.\tGT\t0|1\n"
        "chr1\t9\t.\tA\tC\t.\t.\t.\tGT\t2,4\n"
    )  # fmt: skip
    vcf = bgzip_index(tmp_path, text)
    handle = cyvcf2.VCF(str(vcf))
    seen = []
    with pytest.raises(InputError) as e:
        for rec in iter_records(handle, "chr1", path=vcf):
            seen.append(rec.POS)
    assert seen == [5]
    assert e.value.record == "chr1" and e.value.path == str(vcf)
    assert "malformed VCF record: htslib cannot parse the record after chr1:5 in chr1" in str(
        e.value
    )
    assert "check the file with `bcftools view`" in str(e.value)


def test_iter_records_turns_a_broken_index_into_the_rebuild_command(tmp_path: Path) -> None:
    gz = write_vcf(tmp_path / "v.vcf.gz", CONTIGS, ["A"], [("chr1", 5, "A", ("C",), ["0|1"])])
    gz.with_name(gz.name + ".tbi").write_bytes(b"\x1f\x8b" * 50)  # not an index
    handle = cyvcf2.VCF(str(gz))
    with pytest.raises(InputError) as e:
        list(iter_records(handle, "chr1:1-100", path=gz))
    assert "cannot use the VCF's index" in str(e.value)
    assert f"rebuild it with `bcftools index -f {gz}`" in str(e.value)
