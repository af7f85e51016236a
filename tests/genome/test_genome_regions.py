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
