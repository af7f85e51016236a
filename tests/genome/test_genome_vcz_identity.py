"""Identity of a VCF Zarr input (genome/identity.py): what a resume compares for `--vcf x.vcz`.

The store is made by bio2zarr from the simulated cohort slice; edits are made the way a
user would (rewrite one chunk, touch a file, copy the store with or without mtimes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ntscale.genome.identity import (
    genotypes_identity,
    input_identities,
    vcf_identity,
    vcz_identity,
)

b2z = pytest.importorskip("bio2zarr.vcf")


@pytest.fixture
def vcz(tmp_path: Path, repo_root: Path) -> Path:
    out = tmp_path / "sim16.vcz"
    src = repo_root / "tests" / "data" / "cohort" / "sim16.vcf.gz"
    b2z.convert([str(src)], str(out), worker_processes=0, variants_chunk_size=128)
    return out


def chunk_files(store: Path, array: str) -> list[Path]:
    return sorted(
        p for p in (store / array).rglob("*") if p.is_file() and not p.name.startswith(".")
    )


def test_identity_names_the_store_and_is_stable(vcz: Path) -> None:
    a, b = vcz_identity(vcz), vcz_identity(vcz)
    assert a == b
    assert a["file"] == "sim16.vcz" and a["format"] == "vcz"
    files = [p for p in vcz.rglob("*") if p.is_file()]
    assert a["files"] == len(files)
    assert a["size"] == sum(p.stat().st_size for p in files)
    for key in ("metadata_sha256", "listing_sha256", "sampled_sha256"):
        assert len(a[key]) == 64
    assert str(vcz.parent) not in str(a)  # names, never paths


def test_a_rewritten_genotype_chunk_changes_the_identity(vcz: Path) -> None:
    before = vcz_identity(vcz)
    chunk = chunk_files(vcz, "call_genotype")[0]
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF  # same size
    st = chunk.stat()
    chunk.write_bytes(bytes(data))
    os.utime(chunk, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = vcz_identity(vcz)
    assert after["listing_sha256"] != before["listing_sha256"]
    assert after["size"] == before["size"]
    assert after["metadata_sha256"] == before["metadata_sha256"]


def test_a_metadata_edit_changes_the_metadata_digest(vcz: Path) -> None:
    before = vcz_identity(vcz)
    meta = next(p for p in vcz.rglob("*") if p.name in (".zattrs", "zarr.json"))
    meta.write_text(meta.read_text().replace("{", '{"edited": 1, ', 1))
    assert vcz_identity(vcz)["metadata_sha256"] != before["metadata_sha256"]


def test_a_copy_with_mtimes_has_the_same_identity_without_them_not(
    vcz: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "kept" / "sim16.vcz"
    shutil.copytree(vcz, kept)  # copy2: keeps mtimes (`cp -p`, `rsync -a`)
    assert vcz_identity(kept) == vcz_identity(vcz)
    fresh = tmp_path / "fresh" / "sim16.vcz"
    shutil.copytree(vcz, fresh, copy_function=shutil.copyfile)
    for p in fresh.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(0, p.stat().st_mtime_ns + 5_000_000_000))
    got = vcz_identity(fresh)
    assert got["listing_sha256"] != vcz_identity(vcz)["listing_sha256"]
    assert got["sampled_sha256"] == vcz_identity(vcz)["sampled_sha256"]  # same content


def test_a_new_file_in_the_store_is_seen(vcz: Path) -> None:
    before = vcz_identity(vcz)
    (vcz / "variant_position" / "extra").write_bytes(b"x")
    after = vcz_identity(vcz)
    assert after["files"] == before["files"] + 1
    assert after["listing_sha256"] != before["listing_sha256"]


def test_input_identities_pick_the_format_by_path(vcz: Path, repo_root: Path) -> None:
    vcf = repo_root / "tests" / "data" / "cohort" / "sim16.vcf.gz"
    assert genotypes_identity(vcz) == vcz_identity(vcz)
    assert genotypes_identity(vcf) == vcf_identity(vcf)
    fasta = repo_root / "examples" / "data" / "chr20_2mb.fa.gz"
    ids = input_identities(fasta=str(fasta), fai_sha256="0" * 64, vcf=str(vcz))
    assert ids["vcf"]["format"] == "vcz"
    assert (
        input_identities(fasta=str(fasta), fai_sha256="0" * 64, vcf=str(vcf))["vcf"]["index"]
        == "sim16.vcf.gz.csi"
    )
