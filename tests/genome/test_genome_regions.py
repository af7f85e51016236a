"""BED reading: comments, merging, and every error message."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ntscale.errors import InputError, MissingInputError
from ntscale.genome import FastaSource, plan_windows, read_bed
from ntscale.types import Region

CONTIGS = (("chr1", 1_000), ("chr2", 500))


def _bed(tmp_path: Path, text: str, name: str = "r.bed") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_sorts_merges_and_skips_headers(tmp_path: Path) -> None:
    p = _bed(
        tmp_path,
        "track name=x\nbrowser position chr1\n# comment\n\n"
        "chr2\t10\t20\tname\t0\t+\n"
        "chr1\t100\t200\n"
        "chr1\t150\t300\n"
        "chr1\t300\t310\n"
        "chr1\t5\t5\n",
    )
    assert read_bed(p, CONTIGS) == [
        Region("chr1", 100, 310),
        Region("chr2", 10, 20),
    ]
    raw = read_bed(p, CONTIGS, merge=False)
    assert raw[0] == Region("chr2", 10, 20) and len(raw) == 4


def test_gzip_and_space_separated(tmp_path: Path) -> None:
    p = tmp_path / "r.bed.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("chr1 0 10\n")
    assert read_bed(p, CONTIGS) == [Region("chr1", 0, 10)]


def test_example_bed_plans(example_dir: Path) -> None:
    fa = FastaSource(example_dir / "chr20_2mb.fa.gz")
    regions = read_bed(example_dir / "regions.bed", fa.contigs)
    assert regions == [
        Region("20", 1_000_000, 1_030_000),
        Region("20", 1_500_000, 1_512_282),
        Region("20", 1_990_000, 2_000_000),
    ]
    plan = plan_windows(fa.contigs, window_bp=12_282, regions=regions)
    assert plan.n_windows == 3 + 1 + 1
    assert plan.summary.covered_bp == 30_000 + 12_282 + 10_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chr1\t10\n", r"line 1: expected at least 3 tab-separated columns"),
        ("chr1\t0\t10\nchr1\tx\t10\n", r"line 2: start and end must be integers, got 'x'"),
        ("chr1\t20\t10\n", r"line 1: start 20 > end 10"),
        ("chr1\t-5\t10\n", r"line 1: negative start -5"),
        (
            "#h\nchrX\t0\t10\n",
            r"line 2: unknown contig 'chrX'; the FASTA has 2 contig\(s\): "
            r"'chr1', 'chr2'",
        ),
        ("chr2\t0\t501\n", r"line 1: end 501 is past the end of contig 'chr2' \(500 bp\)"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    p = _bed(tmp_path, text)
    with pytest.raises(InputError, match=message) as e:
        read_bed(p, CONTIGS)
    assert str(p) in str(e.value)


def test_missing_bed(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="BED file not found"):
        read_bed(tmp_path / "none.bed", CONTIGS)


def test_crlf_lines_and_extra_columns(tmp_path: Path) -> None:
    p = _bed(tmp_path, "chr1\t0\t10\tname\r\nchr1\t20\t30\r\n")
    assert read_bed(p, CONTIGS, merge=False) == [Region("chr1", 0, 10), Region("chr1", 20, 30)]


def test_gzip_is_found_by_content_not_by_name(tmp_path: Path) -> None:
    p = tmp_path / "plain_name.bed"
    with gzip.open(p, "wt") as fh:
        fh.write("chr2\t1\t2\n")
    assert read_bed(p, CONTIGS) == [Region("chr2", 1, 2)]
    q = _bed(tmp_path, "chr1\t3\t4\n", name="looks.bed.gz")  # plain text despite the name
    assert read_bed(q, CONTIGS) == [Region("chr1", 3, 4)]


def test_without_contigs_nothing_is_checked_and_order_is_of_appearance(tmp_path: Path) -> None:
    p = _bed(tmp_path, "chrZ\t50\t60\nchrY\t0\t5\nchrZ\t0\t50\nchrY\t5\t9\n")
    # merged in order of first appearance: chrZ before chrY, touching regions joined
    assert read_bed(p) == [Region("chrZ", 0, 60), Region("chrY", 0, 9)]
    assert len(read_bed(p, merge=False)) == 4


def test_end_at_the_contig_length_is_allowed_and_empty_regions_dropped(tmp_path: Path) -> None:
    p = _bed(tmp_path, "chr2\t400\t500\nchr2\t500\t500\nchr1\t0\t0\n")
    assert read_bed(p, CONTIGS, merge=False) == [Region("chr2", 400, 500)]


def test_a_file_of_only_headers_gives_no_region(tmp_path: Path) -> None:
    p = _bed(tmp_path, "track name=x\n# nothing\n\n   \n")
    assert read_bed(p, CONTIGS) == []


def test_unknown_contig_lists_at_most_five_names(tmp_path: Path) -> None:
    contigs = [(f"c{i}", 100) for i in range(7)]
    p = _bed(tmp_path, "chr1\t0\t10\n")
    with pytest.raises(InputError, match=r"the FASTA has 7 contig\(s\): 'c0', 'c1', 'c2', 'c3', "
                       r"'c4' \.\.\.$"):  # fmt: skip
        read_bed(p, contigs)


def test_space_separated_fields_are_split_on_any_whitespace(tmp_path: Path) -> None:
    p = _bed(tmp_path, "chr1  5   15\nchr1\t20 30\n")
    # the second line has only two tab fields, so it is split on whitespace too
    assert read_bed(p, CONTIGS, merge=False) == [Region("chr1", 5, 15), Region("chr1", 20, 30)]
