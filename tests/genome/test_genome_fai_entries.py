"""The .fai arithmetic and checks of genome/fai_check.py on files pysam indexed itself."""

from __future__ import annotations

import os
from pathlib import Path

import pysam
import pytest
from genome_helpers import random_seq, write_fasta

from ntscale.errors import InputError
from ntscale.genome.fai_check import FaiEntry, check_fai, read_fai_entries


def indexed(path: Path, contigs: dict[str, str], line_bp: int = 60) -> tuple[Path, Path]:
    write_fasta(path, contigs, line_bp=line_bp)
    pysam.faidx(str(path))
    return path, path.with_name(path.name + ".fai")


@pytest.mark.parametrize("line_bp", [60, 7, 10])
def test_entry_arithmetic_points_at_the_last_base_and_the_next_header(tmp_path, line_bp) -> None:
    # 140 bp (whole lines at 7 and 10 bp per line), 31 and 29 bp (a base over and under
    # whole lines at 10), one base; a single-line contig has line_bases = its length
    contigs = {"a": random_seq(140, 1), "b": random_seq(31, 2), "c": random_seq(29, 3), "d": "G"}
    fa, fai = indexed(tmp_path / "g.fa", contigs, line_bp)
    data = fa.read_bytes()
    entries = read_fai_entries(fai)
    assert [e.name for e in entries] == list(contigs)
    for i, e in enumerate(entries):
        assert e.length == len(contigs[e.name]) and e.line_bases == min(line_bp, e.length)
        a, b = e.last_base_span()
        assert data[a:b] == contigs[e.name][-1].encode()
        nxt = data.find(b">", e.offset)
        assert e.end_offset() == (nxt if i + 1 < len(entries) else len(data))


def test_entry_arithmetic_by_hand() -> None:
    e = FaiEntry("x", length=25, offset=3, line_bases=10, line_width=11)
    # lines of 10 bases + "\n": the 25th base is byte 3 + 2 * 11 + 4 = 29
    assert e.last_base_span() == (29, 30)
    assert e.end_offset() == 3 + 2 * 11 + 5 + 1
    whole = FaiEntry("y", length=20, offset=0, line_bases=10, line_width=12)  # CRLF lines
    assert whole.last_base_span() == (21, 22) and whole.end_offset() == 24


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chr1\t100\t6\t60\n", r"malformed .fai line \(expected NAME, LENGTH, OFFSET"),
        ("chr1\t100\tsix\t60\t61\n", r"malformed .fai line \(expected NAME, LENGTH, OFFSET"),
        ("chr1\t100\t6\t60\t59\n", r"malformed .fai line \(line width below line bases\)"),
        ("chr1\t100\t6\t0\t1\n", r"line width below line bases"),
    ],
)
def test_malformed_fai_lines_name_the_line(tmp_path, line, message) -> None:
    fai = tmp_path / "g.fa.fai"
    fai.write_text("\nchr0\t10\t6\t60\t61\n" + line)  # blank lines are skipped, not counted out
    with pytest.raises(InputError, match=message) as e:
        read_fai_entries(fai)
    assert e.value.record == "line 3" and e.value.path == str(fai)


def test_check_fai_accepts_a_matching_index_with_descriptions(tmp_path) -> None:
    fa, fai = indexed(tmp_path / "g.fa", {"a": random_seq(130, 4), "b": random_seq(5, 5)})
    text = fa.read_text().replace(">a\n", ">a some description\n")
    fa.write_text(text)
    pysam.faidx(str(fa))
    assert [e.name for e in check_fai(fa, fai, None)] == ["a", "b"]


def test_data_after_the_last_contig_is_refused(tmp_path) -> None:
    fa, fai = indexed(tmp_path / "g.fa", {"a": random_seq(70, 6)})
    t = fai.stat().st_mtime
    with open(fa, "a") as fh:
        fh.write("ACGTACGT\n")  # appended after indexing
    os.utime(fa, (t - 10, t - 10))  # keep the index newer: only the bytes tell
    with pytest.raises(InputError) as e:
        check_fai(fa, fai, None)
    assert "more data after the last indexed contig 'a' (70 bp in the .fai)" in str(e.value)
    assert e.value.record == ".fai line 1"
    assert "older than the FASTA" not in str(e.value)


def test_truncated_fasta_is_refused_and_a_stale_index_says_so(tmp_path) -> None:
    fa, fai = indexed(tmp_path / "g.fa", {"a": random_seq(60, 7), "b": random_seq(100, 8)})
    fa.write_bytes(fa.read_bytes()[:-30])  # an interrupted copy
    os.utime(fai, (fa.stat().st_mtime - 60,) * 2)
    with pytest.raises(InputError, match=r"the FASTA ends before the last base of contig 'b'"):
        check_fai(fa, fai, None)
    # a record appended under a new name: the .fai is older, and the fix says so
    fa2, fai2 = indexed(tmp_path / "h.fa", {"a": random_seq(60, 9)})
    with open(fa2, "a") as fh:
        fh.write(">z\nACGT\n")
    os.utime(fai2, (fa2.stat().st_mtime - 60,) * 2)
    with pytest.raises(InputError) as e:
        check_fai(fa2, fai2, None)
    msg = str(e.value)
    assert "a record after the last indexed contig 'a' (header '>z')" in msg
    assert f"the .fai is older than the FASTA; delete {fai2}" in msg


def test_bgzf_fasta_over_many_blocks_is_checked_through_the_gzi(tmp_path) -> None:
    contigs = {f"s{i}": random_seq(3_000 + 7 * i, 100 + i) for i in range(40)}  # ~120 kb
    plain = write_fasta(tmp_path / "g.fa", contigs)
    gz = tmp_path / "g.fa.gz"
    pysam.tabix_compress(str(plain), str(gz), force=True)
    pysam.faidx(str(gz))
    fai, gzi = gz.with_name("g.fa.gz.fai"), gz.with_name("g.fa.gz.gzi")
    assert gzi.stat().st_size > 8  # more than one BGZF block
    assert len(check_fai(gz, fai, gzi)) == 40
    # the same .fai lines in another order no longer match the bytes
    lines = fai.read_text().splitlines()
    fai.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"contig 's1' \(.fai line 1\) should start after"):
        check_fai(gz, fai, gzi)
