"""Resume trusts content, not names: an input edited between two runs is refused by name."""

from __future__ import annotations

import gzip
import os
import shutil

import pysam
import pytest

from ntscale.errors import StoreError
from ntscale.runner.embed_job import EmbedJob


def prepare(cfg) -> None:
    EmbedJob.plan_from_config(cfg).prepare()


def refused(cfg) -> str:
    with pytest.raises(StoreError) as e:
        prepare(cfg)
    return str(e.value)


def test_bed_edited_with_same_name_and_length_is_refused(small_config, tmp_path):
    cfg = small_config()
    prepare(cfg)
    bed = tmp_path / "small.bed"
    # same file name, same number of bp: only the content says it changed
    bed.write_text("20\t59400\t61200\n20\t1100000\t1104000\n")
    msg = refused(cfg)
    assert "inputs.regions.sha256" in msg
    assert "refusing to mix results" in msg


@pytest.fixture
def plain_fasta(example, tmp_path):
    fa = tmp_path / "chr20.fa"
    with gzip.open(example["fasta"], "rb") as src, open(fa, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pysam.faidx(str(fa))
    return fa


def edit_in_place(path, offset: int, data: bytes, *, keep_mtime: bool) -> None:
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_fasta_edited_in_place_keeping_its_fai_is_refused(small_config, plain_fasta):
    cfg = small_config(fasta=str(plain_fasta))
    prepare(cfg)
    edit_in_place(plain_fasta, 100, b"ACGTAC", keep_mtime=False)
    msg = refused(cfg)
    assert "inputs.fasta.mtime" in msg and "inputs.fasta.sampled_sha256" in msg
    assert "fai_digest" not in msg  # the .fai is unchanged: only the content check sees it


def test_fasta_edit_hidden_by_restored_mtime_is_caught_by_sampled_bytes(small_config, plain_fasta):
    cfg = small_config(fasta=str(plain_fasta))
    prepare(cfg)
    assert plain_fasta.read_bytes()[70:76] == b"NNNNNN"
    edit_in_place(plain_fasta, 70, b"ACGTAC", keep_mtime=True)  # first block: always sampled
    msg = refused(cfg)
    assert "inputs.fasta.sampled_sha256" in msg and "inputs.fasta.mtime" not in msg


def test_vcf_rewritten_and_reindexed_is_refused(small_config, example, tmp_path):
    vcf = tmp_path / "calls.vcf.gz"
    shutil.copy(example["vcf"], vcf)
    pysam.tabix_index(str(vcf), preset="vcf", csi=True, force=True)
    cfg = small_config(vcf=str(vcf), samples=["HG00096"], unit_windows=12)
    prepare(cfg)
    with gzip.open(vcf, "rt") as fh:
        lines = fh.readlines()
    body = [i for i, line in enumerate(lines) if not line.startswith("#")]
    del lines[body[len(body) // 2]]  # one record fewer, same file name
    plain = tmp_path / "calls.vcf"
    plain.write_text("".join(lines))
    pysam.tabix_compress(str(plain), str(vcf), force=True)
    pysam.tabix_index(str(vcf), preset="vcf", csi=True, force=True)
    msg = refused(cfg)
    assert "inputs.vcf.index_sha256" in msg


def test_a_plain_copy_or_a_symlink_of_the_fasta_resumes(small_config, plain_fasta, tmp_path):
    prepare(small_config(fasta=str(plain_fasta)))
    copy = tmp_path / "copied.fa"
    shutil.copyfile(plain_fasta, copy)  # `cp` without -p: a new modification time
    shutil.copyfile(str(plain_fasta) + ".fai", str(copy) + ".fai")
    os.utime(copy, ns=(10**18, 10**18))
    prepare(small_config(fasta=str(copy)))  # same content: resumed, not refused
    link = tmp_path / "genome-link.fa"
    link.symlink_to(plain_fasta)
    os.symlink(str(plain_fasta) + ".fai", str(link) + ".fai")
    prepare(small_config(fasta=str(link)))


def test_an_unsampled_edit_of_a_copied_fasta_is_refused(small_config, plain_fasta):
    cfg = small_config(fasta=str(plain_fasta))
    prepare(cfg)
    data = plain_fasta.read_bytes()
    offset = next(i for i in range(5000, 7000) if data[i : i + 1].isalpha())  # unsampled
    edit_in_place(plain_fasta, offset, b"A" if data[offset : offset + 1] != b"A" else b"C",
                  keep_mtime=False)  # fmt: skip
    msg = refused(cfg)  # the sampled digest agrees; the full digest of the store does not
    assert "inputs.fasta.mtime" in msg and "inputs.fasta.sampled_sha256" not in msg


def test_a_bed_with_an_added_comment_resumes(small_config, tmp_path):
    cfg = small_config()
    prepare(cfg)
    bed = tmp_path / "small.bed"
    bed.write_text("# regions of the pilot\n" + bed.read_text())
    prepare(cfg)
