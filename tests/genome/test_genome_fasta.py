"""FastaSource: plain and BGZF FASTA, index building, errors, pickling."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from genome_helpers import write_fasta

from ntscale.errors import InputError, MissingInputError
from ntscale.genome import FastaSource
from ntscale.genome.fasta import ensure_fasta_index, index_paths

CE_CONTIGS = (
    ("CHROMOSOME_I", 1_009_800),
    ("CHROMOSOME_II", 5_000),
    ("CHROMOSOME_III", 5_000),
    ("CHROMOSOME_IV", 5_000),
    ("CHROMOSOME_V", 5_000),
    ("CHROMOSOME_X", 5_000),
    ("CHROMOSOME_MtDNA", 5_000),
)


def test_plain_fasta_contigs_and_fetch(ce_fasta: Path) -> None:
    fa = FastaSource(ce_fasta)
    assert fa.contigs == CE_CONTIGS
    assert fa.contig_names[0] == "CHROMOSOME_I"
    seq = fa.fetch("CHROMOSOME_II", 100, 160)
    assert len(seq) == 60
    assert seq == fa.fetch("CHROMOSOME_II", 100, 130) + fa.fetch("CHROMOSOME_II", 130, 160)
    assert fa.fetch("CHROMOSOME_MtDNA", 4_990, 5_000) == fa.fetch("CHROMOSOME_MtDNA", 4_990, 5_000)
    assert fa.fetch("CHROMOSOME_I", 5, 5) == ""


def test_bgzf_example_pinned(example_fasta: Path, chr20_dir: Path) -> None:
    fa = FastaSource(example_fasta)
    assert fa.contigs == (("20", 2_000_000),)
    assert fa.fetch("20", 59_990, 60_030) == "N" * 10 + "GATCCAGAGGTGGAAGAGGAAGGAAGCTTG"
    full = FastaSource(chr20_dir / "20.fa.gz")
    assert full.contigs == (("20", 4_020_000),)  # the test slice of the chromosome
    # the slice keeps the coordinates of the full chromosome
    assert fa.fetch("20", 1_500_000, 1_500_500) == full.fetch("20", 1_500_000, 1_500_500)


def test_fai_digest_is_sha256_of_fai(ce_fasta: Path) -> None:
    fa = FastaSource(ce_fasta)
    fai = Path(str(ce_fasta) + ".fai").read_bytes()
    assert fa.fai_digest() == hashlib.sha256(fai).hexdigest()
    assert len(fa.fai_digest()) == 64


def test_soft_mask_case_is_kept(tmp_path: Path) -> None:
    p = write_fasta(tmp_path / "soft.fa", {"c": "ACGTacgtNNnnACGT"})
    fa = FastaSource(p)
    assert fa.fetch("c", 0, 16) == "ACGTacgtNNnnACGT"


def test_index_is_built_when_missing(tmp_path: Path, ce_fasta: Path) -> None:
    p = tmp_path / "ce.fa"
    shutil.copy(ce_fasta, p)
    assert not (tmp_path / "ce.fa.fai").exists()
    fa = FastaSource(p)
    assert (tmp_path / "ce.fa.fai").is_file()
    assert fa.contigs == CE_CONTIGS


def test_bgzf_index_and_gzi_built(tmp_path: Path, example_fasta: Path) -> None:
    p = tmp_path / "x.fa.gz"
    shutil.copy(example_fasta, p)
    fa = FastaSource(p)
    assert (tmp_path / "x.fa.gz.fai").is_file() and (tmp_path / "x.fa.gz.gzi").is_file()
    assert fa.fetch("20", 60_000, 60_010) == "GATCCAGAGG"


def test_missing_fasta_names_file(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="FASTA file not found") as e:
        FastaSource(tmp_path / "nope.fa")
    assert "nope.fa" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_plain_gzip_is_rejected_with_fix(tmp_path: Path) -> None:
    p = tmp_path / "x.fa.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(">c\nACGT\n")
    with pytest.raises(InputError, match="not BGZF.*bgzip"):
        FastaSource(p)


def test_unknown_contig_names_contig_and_file(ce_fasta: Path) -> None:
    fa = FastaSource(ce_fasta)
    with pytest.raises(InputError, match="unknown contig 'chrI'") as e:
        fa.fetch("chrI", 0, 10)
    assert str(ce_fasta) in str(e.value)
    assert "CHROMOSOME_I" in str(e.value)


def test_interval_outside_contig(ce_fasta: Path) -> None:
    fa = FastaSource(ce_fasta)
    with pytest.raises(InputError, match=r"CHROMOSOME_II:4990-5010: interval outside the contig"):
        fa.fetch("CHROMOSOME_II", 4_990, 5_010)


def _make_unwritable(folder: Path) -> bool:
    """chmod 555 (or chattr +i when running as root); False if neither works."""
    os.chmod(folder, 0o555)
    if not os.access(folder, os.W_OK):
        return True
    if shutil.which("chattr"):
        r = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if r.returncode == 0:
            return True
    os.chmod(folder, 0o755)
    return False


def _restore(folder: Path) -> None:
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    os.chmod(folder, 0o755)


def test_read_only_folder_gives_fix(tmp_path: Path, ce_fasta: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(ce_fasta, folder / "ce.fa")
    if not _make_unwritable(folder):
        pytest.skip("cannot make a read-only folder here")
    try:
        with pytest.raises(InputError, match=r"(read-only|could not build).*samtools faidx"):
            ensure_fasta_index(folder / "ce.fa")
    finally:
        _restore(folder)


def test_pickles_by_path_and_reopens(example_fasta: Path) -> None:
    fa = FastaSource(example_fasta)
    before = fa.fetch("20", 1_000_000, 1_000_100)  # opens the pysam handle
    clone = pickle.loads(pickle.dumps(fa))
    assert clone._handle is None
    assert clone.path == fa.path and clone.contigs == fa.contigs
    assert clone.fetch("20", 1_000_000, 1_000_100) == before


def test_compression_is_read_from_the_bytes_not_the_name(tmp_path: Path, example_fasta) -> None:
    bgzf_named_plain = tmp_path / "slice.fa"
    shutil.copy(example_fasta, bgzf_named_plain)  # BGZF content, plain-looking name
    fai, gzi = index_paths(bgzf_named_plain)
    assert fai == tmp_path / "slice.fa.fai" and gzi == tmp_path / "slice.fa.gzi"
    src = FastaSource(bgzf_named_plain)
    assert src.contigs == (("20", 2_000_000),) and gzi.is_file()
    plain = write_fasta(tmp_path / "p.fa.gz", {"c": "ACGT"})  # plain text, .gz name
    assert index_paths(plain) == (tmp_path / "p.fa.gz.fai", None)
    assert FastaSource(plain).fetch("c", 1, 3) == "CG"


def test_fetch_edges_and_contig_lengths(tmp_path: Path) -> None:
    names = {f"s{i}": "ACGTN"[i % 5] * (i + 1) for i in range(7)}
    fa = FastaSource(write_fasta(tmp_path / "m.fa", names))
    assert fa.contig_names == tuple(names)
    assert [fa.contig_length(n) for n in names] == list(range(1, 8))
    assert fa.fetch("s6", 0, 7) == "CCCCCCC"  # a whole contig
    assert fa.fetch("s6", 7, 7) == ""  # an empty interval at the end
    assert repr(fa) == f"FastaSource({str(tmp_path / 'm.fa')!r}, 7 contigs)"
    with pytest.raises(InputError, match=r"unknown contig 'x'; the FASTA has 7 contig\(s\): "
                       r"'s0', 's1', 's2', 's3', 's4' and 2 more"):  # fmt: skip
        fa.contig_length("x")
    with pytest.raises(InputError, match=r"s1:2-1: interval outside the contig \(length 2 bp\)"):
        fa.fetch("s1", 2, 1)
    with pytest.raises(InputError, match=r"s1:-1-1: interval outside the contig"):
        fa.fetch("s1", -1, 1)


def test_a_missing_gzi_is_rebuilt(tmp_path: Path, example_fasta) -> None:
    fa = tmp_path / "g.fa.gz"
    shutil.copy(example_fasta, fa)
    FastaSource(fa)
    gzi = tmp_path / "g.fa.gz.gzi"
    before = gzi.read_bytes()
    gzi.unlink()
    assert ensure_fasta_index(fa) == tmp_path / "g.fa.gz.fai"
    assert gzi.read_bytes() == before


def test_fai_digest_changes_with_the_contig_table(tmp_path: Path) -> None:
    a = FastaSource(write_fasta(tmp_path / "a.fa", {"c": "ACGT"}))
    b = FastaSource(write_fasta(tmp_path / "b.fa", {"c": "ACGTA"}))
    same = FastaSource(write_fasta(tmp_path / "c.fa", {"c": "TTTT"}))
    assert a.fai_digest() != b.fai_digest()
    assert a.fai_digest() == same.fai_digest()  # same names, lengths and layout: same table
