"""Content identities of the input files, kept in a store's fingerprint so a resume can
tell that an input changed under the same name.

- FASTA: the .fai digest (the contig table) plus a cheap content check that catches edits
  in place: the file's size, its modification time and a digest of 256 blocks sampled
  evenly over the file (1 MiB read, whatever the genome's size).
- BED: the digest of the whole file (small).
- VCF/BCF: with a .tbi/.csi index, the index digest plus the same cheap content check as
  the FASTA (size, modification time, sampled digest): the index alone misses edits that
  keep every record's length and bin (a re-phased genotype, a same-length ALT); unindexed,
  the digest of the whole file.
- VCF Zarr (a directory): digests of its metadata files, of its file listing (path, size,
  mtime of every file) and of up to 256 sampled chunk files.

Names are kept but paths are not. A resume compares contents, not names or dates
(`reconcile_inputs`): a store records, when it is made, the sha256 of the whole FASTA (and
indexed VCF); a resume whose input has the same size and sampled digest but another name
(a symlink, a renamed copy) or modification time (a plain `cp`) reads the file once more
and is accepted when that full digest agrees. A BED is compared by its regions (its data
lines), so an added comment or header line is no change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

_SAMPLES = 256
_SAMPLE_BYTES = 4096
_ZARR_METADATA = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 (hex) of a whole file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sampled_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 over the size and _SAMPLES evenly spaced blocks (first and last included)."""
    size = os.path.getsize(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        if size <= _SAMPLES * _SAMPLE_BYTES:
            h.update(fh.read())
            return h.hexdigest()
        last = size - _SAMPLE_BYTES
        for k in range(_SAMPLES):
            fh.seek(k * last // (_SAMPLES - 1))
            h.update(fh.read(_SAMPLE_BYTES))
    return h.hexdigest()


def _mtime(path: Path) -> str:
    ns = path.stat().st_mtime_ns
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="microseconds")


def fasta_identity(path: str | os.PathLike[str], fai_sha256: str) -> dict[str, Any]:
    """What identifies a FASTA's content: name, size, mtime, sampled digest, .fai digest."""
    p = Path(path)
    return {
        "file": p.name,
        "size": p.stat().st_size,
        "mtime": _mtime(p),
        "sampled_sha256": sampled_sha256(p),
        "fai_sha256": fai_sha256,
    }


def bed_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A BED's name, the digest of the file and the digest of its regions (data lines)."""
    p = Path(path)
    return {"file": p.name, "sha256": file_sha256(p), "regions_sha256": bed_regions_sha256(p)}


def bed_regions_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a BED's data lines (comments, track/browser headers, blank lines and
    trailing spaces left out): what the regions are, whatever the comments say."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for line in fh:
            text = line.rstrip()
            if text and not text.startswith((b"#", b"track", b"browser")):
                h.update(text + b"\n")
    return h.hexdigest()


def vcf_index(path: Path) -> Path | None:
    """The .tbi or .csi next to a VCF/BCF (the one htslib would use), if any."""
    for suffix in (".tbi", ".csi"):
        idx = path.with_name(path.name + suffix)
        if idx.is_file():
            return idx
    return None


def vcf_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A VCF's name, size, mtime, sampled digest and index digest (unindexed: the digest of
    the whole file)."""
    p = Path(path)
    idx = vcf_index(p)
    if idx is None:
        return {"file": p.name, "sha256": file_sha256(p)}
    return {
        "file": p.name,
        "size": p.stat().st_size,
        "mtime": _mtime(p),
        "sampled_sha256": sampled_sha256(p),
        "index": idx.name,
        "index_sha256": file_sha256(idx),
    }


def vcz_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A VCF Zarr store's name, file count, total size, newest mtime, and digests of its
    metadata files (whole) and of its file listing plus sampled chunk files (`sampled_sha256`).

    The listing digest covers every file's relative path, size and mtime, so a rewritten
    chunk is seen even at the same size; the sampled digest reads at most 256 chunk files.
    """
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file())
    rel = [f.relative_to(p).as_posix() for f in files]
    stats = [f.stat() for f in files]
    listing = hashlib.sha256()
    meta = hashlib.sha256()
    for name, f, st in zip(rel, files, stats, strict=True):
        listing.update(f"{name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        if name.rsplit("/", 1)[-1] in _ZARR_METADATA:
            meta.update(name.encode() + b"\0" + f.read_bytes())
    sampled = hashlib.sha256(str(len(files)).encode())
    for k in range(min(_SAMPLES, len(files))):
        f = files[k * len(files) // min(_SAMPLES, len(files))]
        with open(f, "rb") as fh:
            sampled.update(fh.read(_SAMPLE_BYTES))
    newest = max((st.st_mtime_ns for st in stats), default=p.stat().st_mtime_ns)
    return {
        "file": p.name,
        "format": "vcz",
        "files": len(files),
        "size": sum(st.st_size for st in stats),
        "mtime": dt.datetime.fromtimestamp(newest / 1e9, dt.UTC).isoformat(timespec="microseconds"),
        "metadata_sha256": meta.hexdigest(),
        "listing_sha256": listing.hexdigest(),
        "sampled_sha256": sampled.hexdigest(),
    }


def genotypes_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """`vcz_identity` for a VCF Zarr store (a directory), else `vcf_identity`."""
    return vcz_identity(path) if Path(path).is_dir() else vcf_identity(path)


def input_identities(
    *, fasta: str, fai_sha256: str, regions: str | None = None, vcf: str | None = None
) -> dict[str, Any]:
    """The `inputs` entry of a job fingerprint: one identity per input file given."""
    out: dict[str, Any] = {"fasta": fasta_identity(fasta, fai_sha256)}
    if regions:
        out["regions"] = bed_identity(regions)
    if vcf:
        out["vcf"] = genotypes_identity(vcf)
    return out


_NAMES_AND_DATES = ("file", "index", "mtime", "content_sha256")
"""Identity keys that do not describe content (a name, a date, the full digest itself)."""


def same_content(kind: str, stored: dict[str, Any], new: dict[str, Any], path: str) -> bool:
    """True if the input at `path` (identity `new`) provably has the content a store was
    made from (identity `stored`), whatever its name or modification time."""
    if stored == new:
        return True
    if kind == "regions":
        want = stored.get("regions_sha256")
        return want is not None and want == new.get("regions_sha256")
    keys = (set(stored) | set(new)) - set(_NAMES_AND_DATES)
    if any(stored.get(k) != new.get(k) for k in keys):
        return False  # a content key (size, sampled or index digest, ...) differs
    if stored.get("mtime") == new.get("mtime"):
        return True  # only the name differs (a symlink, a renamed file)
    full = stored.get("content_sha256")  # touched or copied: the full digest decides
    return full is not None and Path(path).is_file() and full == file_sha256(path)


def reconcile_inputs(
    stored: dict[str, Any] | None, new: dict[str, Any], paths: dict[str, str | None]
) -> tuple[dict[str, Any], dict[str, bool]]:
    """The `inputs` fingerprint a run uses, and which inputs equal the stored ones.

    A new store (`stored` None) gets the sha256 of each whole FASTA/VCF with a sampled
    digest added (`content_sha256`), so later resumes can prove a copy equal. On resume,
    an input whose content is provably the stored one keeps the stored identity (the
    store's fingerprint then matches); any other keeps its new identity, and the store
    refuses the resume naming what differs.
    """
    out: dict[str, Any] = {}
    same: dict[str, bool] = {}
    for kind, identity in new.items():
        path = paths.get(kind)
        if stored is None:
            full = path is not None and "sampled_sha256" in identity and Path(path).is_file()
            out[kind] = {**identity, "content_sha256": file_sha256(path)} if full else identity
            continue
        before = stored.get(kind)
        same[kind] = (
            isinstance(before, dict)
            and path is not None
            and same_content(kind, before, identity, path)
        )
        out[kind] = before if same[kind] else identity
    return out, same
