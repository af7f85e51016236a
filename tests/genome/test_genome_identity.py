"""Input identities kept in a store's fingerprint (genome/identity.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from genome_helpers import write_vcf

from ntscale.genome.identity import (
    bed_identity,
    bed_regions_sha256,
    fasta_identity,
    file_sha256,
    input_identities,
    reconcile_inputs,
    same_content,
    sampled_sha256,
    vcf_identity,
)

BLOCK = 4096  # the sampled block size (identity._SAMPLE_BYTES)
N_BLOCKS = 256  # blocks sampled (identity._SAMPLES)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_file_sha256_is_hashlib_over_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # more than one 1 MiB read block
    p = write_bytes(tmp_path / "x.bin", data)
    assert file_sha256(p) == hashlib.sha256(data).hexdigest()


def test_small_file_sampled_digest_covers_every_byte(tmp_path: Path) -> None:
    data = b"ACGT" * 1000
    p = write_bytes(tmp_path / "s.fa", data)
    # at most 256 blocks of 4 KiB: size, then the whole content
    assert sampled_sha256(p) == hashlib.sha256(str(len(data)).encode() + data).hexdigest()


def test_large_file_sampled_digest_reads_evenly_spaced_blocks(tmp_path: Path) -> None:
    size = N_BLOCKS * BLOCK * 3 + 123
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    p = write_bytes(tmp_path / "big.fa", data)
    last = size - BLOCK
    h = hashlib.sha256(str(size).encode())
    for k in range(N_BLOCKS):
        off = k * last // (N_BLOCKS - 1)
        h.update(data[off : off + BLOCK])
    assert sampled_sha256(p) == h.hexdigest()


def test_sampled_digest_sees_edits_in_the_first_and_last_block(tmp_path: Path) -> None:
    size = N_BLOCKS * BLOCK * 2
    base = bytearray(b"A" * size)
    p = write_bytes(tmp_path / "g.fa", bytes(base))
    before = sampled_sha256(p)
    for where in (0, size - 1):
        edited = bytearray(base)
        edited[where] = ord("C")
        p.write_bytes(bytes(edited))
        assert sampled_sha256(p) != before
    p.write_bytes(bytes(base) + b"A")  # same blocks but one byte longer: the size is hashed
    assert sampled_sha256(p) != before


def test_fasta_identity_keeps_name_size_mtime_and_digests(tmp_path: Path) -> None:
    p = write_bytes(tmp_path / "ref.fa", b">c\nACGT\n")
    os.utime(p, ns=(1_700_000_000_123_456_000, 1_700_000_000_123_456_000))
    ident = fasta_identity(p, fai_sha256="f" * 64)
    assert ident == {
        "file": "ref.fa",
        "size": 8,
        "mtime": "2023-11-14T22:13:20.123456+00:00",  # 1.7e9 s after the epoch, UTC
        "sampled_sha256": sampled_sha256(p),
        "fai_sha256": "f" * 64,
    }


def test_a_copy_that_keeps_the_mtime_has_the_same_identity(tmp_path: Path) -> None:
    """A resume may use a moved or copied input: the path is not part of the identity."""
    p = write_bytes(tmp_path / "ref.fa", b">c\n" + b"ACGT" * 5000 + b"\n")
    (tmp_path / "moved").mkdir()
    kept = Path(shutil.copy2(p, tmp_path / "moved" / "ref.fa"))  # like cp -p
    assert fasta_identity(kept, "d") == fasta_identity(p, "d")
    os.utime(kept, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 1_000_000_000))
    assert fasta_identity(kept, "d")["mtime"] != fasta_identity(p, "d")["mtime"]


def test_bed_identity_digests_the_whole_file(tmp_path: Path) -> None:
    text = b"chr1\t0\t10\nchr1\t20\t30\n"
    p = write_bytes(tmp_path / "r.bed", text)
    digest = hashlib.sha256(text).hexdigest()
    assert bed_identity(p) == {"file": "r.bed", "sha256": digest, "regions_sha256": digest}


def test_bed_regions_digest_ignores_comments_headers_and_blank_lines(tmp_path: Path) -> None:
    plain = write_bytes(tmp_path / "a.bed", b"chr1\t0\t10\nchr1\t20\t30\n")
    noisy = write_bytes(tmp_path / "b.bed", b"# made by hand\ntrack name=x\nbrowser position\n"
                        b"chr1\t0\t10  \n\nchr1\t20\t30\n")  # fmt: skip
    other = write_bytes(tmp_path / "c.bed", b"chr1\t0\t10\nchr1\t20\t31\n")
    assert bed_regions_sha256(plain) == bed_regions_sha256(noisy) != bed_regions_sha256(other)
    assert same_content("regions", bed_identity(plain), bed_identity(noisy), str(noisy))
    assert not same_content("regions", bed_identity(plain), bed_identity(other), str(other))
    old = {"file": "a.bed", "sha256": "x"}  # made before regions_sha256: no proof
    assert not same_content("regions", old, bed_identity(noisy), str(noisy))


def test_a_new_store_records_full_digests_and_a_resume_compares_content(tmp_path: Path) -> None:
    fa = write_bytes(tmp_path / "g.fa", b">c\n" + b"ACGT" * 1_000_000 + b"\n")
    new = {"fasta": fasta_identity(fa, "fai0")}
    made, same = reconcile_inputs(None, new, {"fasta": str(fa)})
    assert same == {} and made["fasta"]["content_sha256"] == file_sha256(fa)
    copy = tmp_path / "copy.fa"
    copy.write_bytes(fa.read_bytes())  # a plain cp: another name and mtime
    os.utime(copy, ns=(1, 1))
    again, same = reconcile_inputs(made, {"fasta": fasta_identity(copy, "fai0")},
                                   {"fasta": str(copy)})  # fmt: skip
    assert same == {"fasta": True} and again == made
    data = bytearray(copy.read_bytes())
    data[5000] = ord("T") if data[5000] != ord("T") else ord("G")  # between sampled blocks
    copy.write_bytes(bytes(data))
    edited = fasta_identity(copy, "fai0")
    assert edited["sampled_sha256"] == new["fasta"]["sampled_sha256"]  # sampling misses it
    _, same = reconcile_inputs(made, {"fasta": edited}, {"fasta": str(copy)})
    assert same == {"fasta": False}  # the full digest does not


def test_vcf_identity_is_the_index_and_content_digests_when_indexed(tmp_path: Path) -> None:
    recs = [("c", 5, "A", ("C",), ["0|1"])]
    gz = write_vcf(tmp_path / "v.vcf.gz", {"c": 100}, ["S"], recs)
    tbi = gz.with_name(gz.name + ".tbi")
    data = gz.read_bytes()  # small: the sampled digest covers the size and every byte
    assert vcf_identity(gz) == {
        "file": "v.vcf.gz",
        "size": len(data),
        "mtime": fasta_identity(gz, "")["mtime"],
        "sampled_sha256": hashlib.sha256(str(len(data)).encode() + data).hexdigest(),
        "index": "v.vcf.gz.tbi",
        "index_sha256": hashlib.sha256(tbi.read_bytes()).hexdigest(),
    }
    # a .csi is used when there is no .tbi
    csi = tbi.rename(gz.with_name(gz.name + ".csi"))
    assert vcf_identity(gz)["index"] == "v.vcf.gz.csi"
    csi.unlink()
    assert vcf_identity(gz) == {"file": "v.vcf.gz", "sha256": file_sha256(gz)}


def _one_record_vcf(folder: Path, pos1: int, alt: str, gt: str = "0|1") -> Path:
    folder.mkdir()
    return write_vcf(folder / "v.vcf.gz", {"c": 100}, ["S"], [("c", pos1, "A", (alt,), [gt])])


def test_vcf_identity_changes_when_records_move_in_the_file(tmp_path: Path) -> None:
    a = _one_record_vcf(tmp_path / "a", 5, "C")
    b = write_vcf(tmp_path / "b.vcf.gz", {"c": 100}, ["S"],
                  [("c", 5, "A", ("C",), ["0|1"]), ("c", 90, "G", ("T",), ["1|1"])])  # fmt: skip
    assert vcf_identity(a)["index_sha256"] != vcf_identity(b)["index_sha256"]


@pytest.mark.parametrize(("pos1", "alt", "gt"), [(5, "C", "1|0"), (6, "G", "0|1")])
def test_vcf_identity_sees_a_same_length_edit(tmp_path: Path, pos1: int, alt: str, gt: str) -> None:
    a = _one_record_vcf(tmp_path / "a", 5, "C", "0|1")
    b = _one_record_vcf(tmp_path / "b", pos1, alt, gt)
    # an edit that keeps every record's length and bin leaves the index unchanged (a
    # re-phased genotype, POS 5 -> 6 with another ALT): the content digest sees it
    ia, ib = vcf_identity(a), vcf_identity(b)
    assert ia["index_sha256"] == ib["index_sha256"]
    assert ia["size"] == ib["size"]
    assert ia["sampled_sha256"] != ib["sampled_sha256"]


def test_input_identities_lists_only_the_inputs_given(tmp_path: Path) -> None:
    fa = write_bytes(tmp_path / "ref.fa", b">c\nACGT\n")
    bed = write_bytes(tmp_path / "r.bed", b"c\t0\t4\n")
    gz = write_vcf(tmp_path / "v.vcf.gz", {"c": 4}, ["S"], [("c", 1, "A", ("C",), ["1|1"])])
    assert input_identities(fasta=str(fa), fai_sha256="x") == {"fasta": fasta_identity(fa, "x")}
    full = input_identities(fasta=str(fa), fai_sha256="x", regions=str(bed), vcf=str(gz))
    assert full == {
        "fasta": fasta_identity(fa, "x"),
        "regions": bed_identity(bed),
        "vcf": vcf_identity(gz),
    }


def test_content_keys_beyond_the_known_ones_must_agree(tmp_path: Path) -> None:
    """An identity with other content keys (a VCF Zarr's listing digest) is never proven
    equal by name or date alone, and a folder gets no full digest."""
    store = tmp_path / "calls.vcz"
    store.mkdir()
    stored = {"file": "calls.vcz", "size": 9, "mtime": "t1", "sampled_sha256": "s",
              "listing_sha256": "a"}  # fmt: skip
    assert same_content("vcf", stored, {**stored, "file": "link.vcz"}, str(store))
    assert not same_content("vcf", stored, {**stored, "listing_sha256": "b"}, str(store))
    assert not same_content("vcf", stored, {**stored, "mtime": "t2"}, str(store))
    made, _ = reconcile_inputs(None, {"vcf": stored}, {"vcf": str(store)})
    assert "content_sha256" not in made["vcf"]
