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
from ntscale.genome.fasta import ensure_fasta_index

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
