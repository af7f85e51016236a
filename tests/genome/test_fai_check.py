"""A .fai that no longer matches its FASTA, and duplicate contig names, are refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pysam
import pytest

from ntscale.errors import InputError
from ntscale.genome import FastaSource

RECORDS = {"a": "ACGTACGTAC" * 7 + "A", "b": "TTTTGGGG" * 5, "c": "C" * 61}


def fasta_text(order: list[str], records: dict[str, str] = RECORDS) -> str:
    lines = []
    for n in order:
        seq = records[n]
        lines += [f">{n} desc", *(seq[i : i + 60] for i in range(0, len(seq), 60))]
    return "\n".join(lines) + "\n"


def write_fasta(path: Path, order: list[str], *, bgzf: bool = False) -> Path:
    text = fasta_text(order)
    plain = path.with_suffix(".plain") if bgzf else path
    plain.write_text(text)
    if bgzf:
        pysam.tabix_compress(str(plain), str(path), force=True)
        plain.unlink()
    return path


def age(*paths: Path, seconds: int = 3600) -> None:
    for p in paths:
        t = p.stat().st_mtime - seconds
        os.utime(p, (t, t))


@pytest.mark.parametrize("bgzf", [False, True])
def test_matching_index_is_used(tmp_path, bgzf):
    fa = write_fasta(tmp_path / ("g.fa.gz" if bgzf else "g.fa"), ["a", "b", "c"], bgzf=bgzf)
    src = FastaSource(fa)
    assert src.contigs == (("a", 71), ("b", 40), ("c", 61))
    assert src.fetch("b", 0, 8) == "TTTTGGGG"


@pytest.mark.parametrize("bgzf", [False, True])
def test_stale_index_of_reordered_fasta_is_refused(tmp_path, bgzf):
    name = "g.fa.gz" if bgzf else "g.fa"
    fa = write_fasta(tmp_path / name, ["a", "b", "c"], bgzf=bgzf)
    FastaSource(fa)  # builds the index for this order
    keep = tmp_path / "keep"
    keep.mkdir()
    idx = list(tmp_path.glob(name + ".*"))
    for p in idx:
        shutil.copy2(p, keep / p.name)
    write_fasta(fa, ["b", "a", "c"], bgzf=bgzf)  # rewritten, contigs reordered
    for p in idx:
        shutil.copy2(keep / p.name, p)  # the old index kept
    age(*idx)
    with pytest.raises(InputError) as e:
        FastaSource(fa)
    msg = str(e.value)
    assert "the .fai does not match the FASTA: contig 'a' (.fai line 1)" in msg
    assert "'>b desc'" in msg
    assert "older than the FASTA" in msg
    assert f"delete {fa}.fai" in msg


def test_edited_length_with_old_index_is_refused(tmp_path):
    fa = write_fasta(tmp_path / "g.fa", ["a", "b", "c"])
    FastaSource(fa)
    # contig b grew by 2 bp; the .fai still says 40
    fa.write_text(fasta_text(["a", "b", "c"], {**RECORDS, "b": RECORDS["b"] + "GG"}))
    with pytest.raises(InputError, match=r"contig 'c' \(.fai line 3\)"):
        FastaSource(fa)


@pytest.mark.parametrize("last", [False, True])
def test_duplicate_contig_name_is_an_error_naming_both_records(tmp_path, last):
    fa = tmp_path / "dup.fa"
    tail = "" if last else ">c\nCCCC\n"
    fa.write_text(">a\nACGT\n>b\nTTTT\n>a\nGGGG\n" + tail)
    with pytest.raises(InputError) as e:
        FastaSource(fa)
    msg = str(e.value)
    assert "duplicate contig name 'a'" in msg
    assert "(.fai line 1)" in msg and "2nd record" in msg and "after contig 'b'" in msg
