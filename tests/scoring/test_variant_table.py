"""Reading VCFs into one row per ALT with sequence-free statuses (real and hand-made)."""

from __future__ import annotations

import numpy as np
import pytest
from scoring_helpers import write_vcf

from ntscale.errors import InputError, MissingInputError
from ntscale.genome.fasta import FastaSource
from ntscale.genome.variant_table import ScoreStatus, read_variant_table, score_status_names

S = ScoreStatus


def test_real_chr20_vcf_one_row_per_alt(shared_dir, chr20_fasta):
    fasta = FastaSource(chr20_fasta)
    table = read_variant_table(
        shared_dir / "data/human_chr20/reference.vcf.gz", contigs=fasta.contigs
    )
    assert table.n_records == 24_990 and table.n_variants == 24_990
    assert table.counts() == {"ok": 23_670, "no_llr_not_snv": 1_320}
    assert table.pos[0] == 1_000_225  # POS 1,000,226 is 0-based 1,000,225
    assert table.id[0] == "rs376678365"
    assert int(table.is_snv().sum()) == 23_670
    assert table.extra_contigs == ()


def test_hand_made_bad_records_keep_a_row_each(tmp_path):
    contigs = {"c1": 100, "c9": 50}
    records = [
        ("c1", 5, "snv", "A", ("C",)),
        ("c1", 6, "multi", "A", ("C", "GT")),  # two rows, one record
        ("c1", 7, "sym", "A", ("<DEL>",)),
        ("c1", 8, "star", "A", ("*",)),
        ("c1", 9, "bnd", "A", ("A]c1:50]",)),
        ("c1", 10, "noalt", "A", ()),
        ("c1", 11, "nalt", "A", ("N",)),
        ("c1", 12, "iupac", "R", ("A",)),
        ("c9", 3, "nocontig", "A", ("C",)),
        ("c1", 99, "outside", "ACG", ("A",)),
        ("c1", 5, "dup", "A", ("C",)),
        ("c1", 13, "lower", "a", ("g",)),
    ]
    path = write_vcf(tmp_path / "bad.vcf", contigs, records)
    table = read_variant_table(path, contigs=[("c1", 100)])
    assert table.n_records == 12 and table.n_variants == 13
    got = dict(zip(table.id + ":" + table.alt, table.status.tolist(), strict=True))
    assert got == {
        "snv:C": S.OK,
        "multi:C": S.OK,
        "multi:GT": S.NO_LLR_NOT_SNV,
        "sym:<DEL>": S.SYMBOLIC_ALLELE,
        "star:*": S.SYMBOLIC_ALLELE,
        "bnd:A]c1:50]": S.SYMBOLIC_ALLELE,
        "noalt:.": S.MISSING_ALT,
        "nalt:N": S.ALLELE_NOT_ACGT,
        "iupac:A": S.ALLELE_NOT_ACGT,
        "nocontig:C": S.CONTIG_NOT_IN_FASTA,
        "outside:A": S.OUTSIDE_CONTIG,
        "dup:C": S.DUPLICATE_RECORD,
        "lower:G": S.OK,
    }
    np.testing.assert_array_equal(table.record[:3], [0, 1, 1])
    assert table.extra_contigs == ("c9",)
    assert table.ref[-1] == "A"


def test_status_names_cover_every_code():
    names = score_status_names()
    assert names["0"] == "ok" and names["16"] == "ref_mismatch" and names["255"] == "pending"
    assert len(names) == len(S)
    assert [s for s in S if s.scored] == [
        S.OK,
        S.NO_LLR_NOT_SNV,
        S.OFF_CENTRE,
        S.OFF_CENTRE_NOT_SNV,
        S.ALT_WINDOW_SHORT,
        S.MNV_ONE_KMER,
        S.TILED_OFF_CENTRE,
        S.NO_LLR_N_IN_KMER,
    ]


def test_missing_vcf_is_a_missing_input_error(tmp_path):
    with pytest.raises(MissingInputError, match=r"nope\.vcf: VCF file not found"):
        read_variant_table(tmp_path / "nope.vcf", contigs=[("c1", 10)])


def test_not_a_vcf_is_an_input_error(tmp_path):
    path = tmp_path / "junk.vcf"
    path.write_text("this is not a VCF\n")
    with pytest.raises(InputError, match=r"junk\.vcf: cannot read the file as VCF/BCF"):
        read_variant_table(path, contigs=[("c1", 10)])


def test_empty_vcf_is_an_input_error(tmp_path):
    path = write_vcf(tmp_path / "empty.vcf", {"c1": 10}, [])
    with pytest.raises(InputError, match=r"empty\.vcf: the VCF has no records to score"):
        read_variant_table(path, contigs=[("c1", 10)])


def test_malformed_record_names_the_line(tmp_path):
    path = write_vcf(tmp_path / "bad.vcf", {"c1": 100}, [("c1", 5, "a", "A", ("C",))])
    with open(path, "a") as fh:
        fh.write("c1\tnotanumber\t.\tA\tC\t.\t.\t.\n")
    with pytest.raises(InputError, match=r"bad\.vcf: data line 2 .*malformed VCF record"):
        read_variant_table(path, contigs=[("c1", 100)])
