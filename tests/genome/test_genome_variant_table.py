"""Scoring's VCF reading (genome/variant_table.py, variant_stream.py): rows, edges, units."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pysam
import pytest
from genome_helpers import to_bcf, write_vcf

from ntscale.errors import InputError
from ntscale.genome.variant_stream import read_unit_table, scan_variant_units, vcf_index
from ntscale.genome.variant_table import (
    RowBuilder,
    check_contigs,
    open_vcf,
    read_variant_table,
    record_alleles,
    vcf_records,
)
from ntscale.genome.vcf import VariantReader
from ntscale.types import ScoreStatus as S

LENGTHS = {"c1": 100, "c2": 60}


def rec(contig: str, pos1: int, ref: str, *alts: str, gts=("0|1",)) -> tuple:
    return (contig, pos1, ref, alts, list(gts))


def table_of(tmp_path: Path, records, *, lengths=LENGTHS, samples=("S",), **kw):
    vcf = write_vcf(tmp_path / "v.vcf.gz", lengths, list(samples), records, **kw)
    return read_variant_table(vcf, contigs=list(lengths.items()))


def test_ref_ending_at_the_contig_end_is_in_and_one_past_is_outside(tmp_path: Path) -> None:
    t = table_of(tmp_path, [rec("c1", 98, "ACG", "A"), rec("c1", 99, "ACG", "A")])
    # 0-based start 97 + 3 = 100 = the contig length: inside; start 98 + 3 = 101: outside
    assert t.status.tolist() == [S.NO_LLR_NOT_SNV, S.OUTSIDE_CONTIG]
    assert t.pos.tolist() == [97, 98]


def test_only_scored_rows_count_as_seen_for_duplicates(tmp_path: Path) -> None:
    t = table_of(
        tmp_path,
        [
            rec("c1", 5, "A", "N"),  # not scored (N): does not make the next one a duplicate
            rec("c1", 5, "A", "N"),
            rec("c1", 6, "A", "C", "G"),
            rec("c1", 6, "a", "g"),  # the same row as the G above, in lower case
            rec("c1", 6, "A", "T"),
        ],
    )
    assert t.alt.tolist() == ["N", "N", "C", "G", "G", "T"]
    assert t.status.tolist() == [
        S.ALLELE_NOT_ACGT,
        S.ALLELE_NOT_ACGT,
        S.OK,
        S.OK,
        S.DUPLICATE_RECORD,
        S.OK,
    ]
    assert t.record.tolist() == [0, 1, 2, 2, 3, 4]
    assert t.counts() == {"ok": 3, "allele_not_acgt": 2, "duplicate_record": 1}


def test_is_snv_and_ids(tmp_path: Path) -> None:
    t = table_of(
        tmp_path, [rec("c1", 5, "A", "C"), rec("c1", 7, "AC", "GT"), rec("c1", 9, "A", "AT")]
    )
    assert t.is_snv().tolist() == [True, False, False]
    assert t.status.tolist() == [S.OK, S.NO_LLR_NOT_SNV, S.NO_LLR_NOT_SNV]
    assert t.id.tolist() == ["v0", "v1", "v2"]  # genome_helpers names records v<i>


def test_samples_are_dropped_unread(tmp_path: Path) -> None:
    """Genotypes play no part in scoring: the same sites with or without samples give one table."""
    sites = [
        rec("c1", 5, "A", "C", gts=("1|1", "0/1", ".")),
        rec("c2", 9, "G", "T", gts=("0|0",) * 3),
    ]
    with_gt = table_of(tmp_path, sites, samples=("A", "B", "C"))
    bare = tmp_path / "sites.vcf"  # no FORMAT, no sample columns
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=c1,length=100>", "##contig=<ID=c2,length=60>"]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    lines += [f"{c}\t{p}\t.\t{ref}\t{','.join(alts)}\t.\t.\t." for c, p, ref, alts, _ in sites]
    bare.write_text("\n".join(lines) + "\n")
    bare = read_variant_table(bare, contigs=list(LENGTHS.items()))
    for field in ("contig", "pos", "ref", "alt", "status", "record"):
        np.testing.assert_array_equal(getattr(with_gt, field), getattr(bare, field))


def test_plain_bgzipped_and_bcf_give_one_table(tmp_path: Path) -> None:
    recs = [rec("c1", 5, "A", "C", "T"), rec("c2", 3, "GA", "G")]
    plain = write_vcf(tmp_path / "v.vcf", LENGTHS, ["S"], recs, compress=False)
    gz = write_vcf(tmp_path / "w.vcf.gz", LENGTHS, ["S"], recs)
    bcf = to_bcf(gz, tmp_path / "v.bcf")
    tables = [read_variant_table(p, contigs=list(LENGTHS.items())) for p in (plain, gz, bcf)]
    for t in tables:
        assert list(zip(t.contig.tolist(), t.pos.tolist(), t.alt.tolist(), strict=True)) == [
            ("c1", 4, "C"),
            ("c1", 4, "T"),
            ("c2", 2, "G"),
        ]
        assert t.n_records == 2 and t.n_variants == 3


def test_record_alleles_upper_cases_sequence_but_keeps_symbolic_text(tmp_path: Path) -> None:
    gz = write_vcf(tmp_path / "v.vcf.gz", LENGTHS, ["S"], [rec("c1", 5, "acg", "a", "<del>", "t")])
    with open_vcf(gz) as vf:
        ((_, r),) = list(vcf_records(vf, gz))
    assert record_alleles(r) == ("ACG", ["A", "<del>", "T"])


def test_vcf_records_count_from_first(tmp_path: Path) -> None:
    gz = write_vcf(
        tmp_path / "v.vcf.gz", LENGTHS, ["S"], [rec("c1", i, "A", "C") for i in (3, 4, 5)]
    )
    with open_vcf(gz) as vf:
        assert [(i, r.pos) for i, r in vcf_records(vf, gz, first=10)] == [(10, 3), (11, 4), (12, 5)]


def test_row_builder_slices_rows_and_keeps_extra_contigs(tmp_path: Path) -> None:
    gz = write_vcf(
        tmp_path / "v.vcf.gz",
        {"c1": 100, "cX": 10},
        ["S"],
        [rec("c1", 5, "A", "C", "G"), rec("cX", 2, "A", "T"), rec("c1", 8, "T", "A")],
        index=False,  # contigs out of blocks: read in file order, no index needed
    )
    rows = RowBuilder({"c1": 100})
    with open_vcf(gz) as vf:
        for i, r in vcf_records(vf, gz):
            rows.add(i, r)
    assert len(rows) == 4
    part = rows.table(3, slice(1, 3))
    assert part.alt.tolist() == ["G", "T"] and part.record.tolist() == [0, 1]
    assert part.status.tolist() == [S.OK, S.CONTIG_NOT_IN_FASTA]
    assert part.n_records == 3 and part.extra_contigs == ("cX",)


def test_no_common_contig_names_the_chr_fix_or_the_reference(tmp_path: Path) -> None:
    lengths = {"chr1": 100}
    with pytest.raises(InputError) as e:
        check_contigs(
            tmp_path / "v.vcf", n_rows=3, extra=["1", "2"], lengths=lengths, all_extra=True
        )
    msg = str(e.value)
    assert (
        "no VCF contig is in the FASTA, so nothing can be scored (VCF: '1', '2'; FASTA: 'chr1')"
        in msg
    )
    assert "differ only by a 'chr' prefix (VCF '1', FASTA 'chr1')" in msg
    assert "bcftools annotate --rename-chrs" in msg
    with pytest.raises(InputError, match="check that the VCF was called on this reference"):
        check_contigs(
            tmp_path / "v.vcf", n_rows=3, extra=["scaf9"], lengths=lengths, all_extra=True
        )
    # some contigs in common: the others become CONTIG_NOT_IN_FASTA rows, no error
    check_contigs(tmp_path / "v.vcf", n_rows=3, extra=["scaf9"], lengths=lengths, all_extra=False)
    with pytest.raises(InputError, match="the VCF has no records to score"):
        check_contigs(tmp_path / "v.vcf", n_rows=0, extra=[], lengths=lengths, all_extra=False)


def test_read_table_refuses_a_vcf_on_another_naming(tmp_path: Path) -> None:
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"chr1": 100}, ["S"], [rec("chr1", 5, "A", "C")])
    with pytest.raises(InputError, match=r"VCF 'chr1', FASTA '1'"):
        read_variant_table(vcf, contigs=[("1", 100)])


# -- streaming units (variant_stream.py) -----------------------------------------------------


def stream_vcf(tmp_path: Path) -> Path:
    return write_vcf(
        tmp_path / "s.vcf.gz",
        LENGTHS,
        ["S"],
        [
            rec("c1", 5, "A", "C", "G"),  # rows 0, 1
            rec("c1", 5, "A", "T"),  # row 2: same start, next record
            rec("c1", 9, "C", "A"),  # row 3
            rec("c2", 2, "G", "T", "C", "A"),  # rows 4, 5, 6
        ],
    )


def test_units_record_contig_start_skip_and_record_by_hand(tmp_path: Path) -> None:
    units = scan_variant_units(stream_vcf(tmp_path), contigs=LENGTHS.items(), unit_variants=2)
    assert units is not None
    assert (units.n_variants, units.n_records, units.contigs) == (7, 4, ("c1", "c2"))
    # unit k starts at row 2k: rows 0, 2, 4, 6
    assert units.contig.tolist() == [0, 0, 1, 1]
    assert units.start.tolist() == [4, 4, 1, 1]
    assert units.skip.tolist() == [0, 2, 0, 2]  # rows at (contig, start) before the unit's first
    assert units.record.tolist() == [0, 0, 3, 3]
    assert [units.unit_range(u) for u in range(4)] == [(0, 2), (2, 4), (4, 6), (6, 7)]
    want = hashlib.sha256()
    for contig, start, ref, alt in [
        ("c1", 4, "A", "C"), ("c1", 4, "A", "G"), ("c1", 4, "A", "T"), ("c1", 8, "C", "A"),
        ("c2", 1, "G", "T"), ("c2", 1, "G", "C"), ("c2", 1, "G", "A"),
    ]:  # fmt: skip
        want.update(f"{contig}\t{start}\t{ref}\t{alt}\n".encode())
    assert units.digest == want.hexdigest()
    last = read_unit_table(units, 3, contigs=LENGTHS.items())
    assert (last.contig.tolist(), last.alt.tolist(), last.record.tolist()) == (["c2"], ["A"], [3])


def test_contigs_out_of_blocks_are_read_whole(tmp_path: Path) -> None:
    recs = [rec("c1", 5, "A", "C"), rec("c2", 3, "A", "C"), rec("c1", 9, "A", "C")]
    plain = write_vcf(tmp_path / "v.vcf", LENGTHS, ["S"], recs, compress=False)
    gz = tmp_path / "v.vcf.gz"
    pysam.tabix_compress(str(plain), str(gz), force=True)
    # tabix refuses to index such a file; an index file beside it (only its presence and
    # age are checked before the scan) lets the scan run and find c1 again after c2
    (tmp_path / "v.vcf.gz.csi").write_bytes(b"")
    assert vcf_index(gz) == tmp_path / "v.vcf.gz.csi"
    assert scan_variant_units(gz, contigs=LENGTHS.items(), unit_variants=2) is None


def test_a_unit_that_lost_rows_since_planning_is_an_input_error(tmp_path: Path) -> None:
    vcf = stream_vcf(tmp_path)
    units = scan_variant_units(vcf, contigs=LENGTHS.items(), unit_variants=2)
    # the file is rewritten with fewer rows after planning
    write_vcf(
        tmp_path / "s.vcf.gz", LENGTHS, ["S"], [rec("c1", 5, "A", "C", "G"), rec("c1", 5, "A", "T")]
    )
    with pytest.raises(InputError) as e:
        read_unit_table(units, 1, contigs=LENGTHS.items())
    assert "holds 1 of the 2 rows planned for this unit (changed since planning?)" in str(e.value)
    assert e.value.record == "c1:5"


def test_sites_are_read_even_when_htslib_cannot_parse_the_genotypes(
    repo_root: Path, tmp_path
) -> None:
    """Why scoring reads sites with pysam (docs/dependencies.md): it drops the sample
    columns unparsed, so GT values htslib rejects ("2,4") do not stop a run that ignores
    them; the genotype reader (cyvcf2) refuses the same file, naming the first record."""
    bad = repo_root / "tests" / "data" / "htslib_bad_vcf" / "noroundtrip-out.vcf"
    t = read_variant_table(bad, contigs=[("3", 100)])
    assert t.pos.tolist() == [49, 59, 69, 79]
    assert t.status.tolist() == [S.OK] * 4
    gz = tmp_path / "bad.vcf.gz"
    pysam.tabix_compress(str(bad), str(gz), force=True)
    pysam.tabix_index(str(gz), preset="vcf", force=True)
    with pytest.raises(
        InputError, match="malformed VCF record: htslib cannot parse the first record"
    ):
        VariantReader(gz).query("3", 0, 100)
