"""FASTA access: plain or BGZF-compressed, indexed with .fai (and .gzi), opened lazily.

`FastaSource` reads contig names and lengths from the .fai text, after checking that the
.fai still matches the FASTA (a header at every recorded offset: genome/fai_check.py), so
planning windows over a whole genome is cheap and never uses a stale index. pysam handles
do not pickle, so the source pickles by path and each process reopens it on its first `fetch`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pysam

from ntscale.errors import InputError, MissingInputError
from ntscale.genome.fai_check import check_fai

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"


def _compression(path: Path) -> str:
    """'plain', 'bgzf' or 'gzip' from the file's first bytes (BGZF has the 'BC' extra field)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if not head.startswith(_GZIP_MAGIC):
        return "plain"
    # BGZF: FLG.FEXTRA set, XLEN=6, subfield identifiers 'B','C' at offsets 12-13.
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def index_paths(path: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """The .fai path and, for a BGZF file, the .gzi path that pysam uses next to `path`."""
    p = Path(path)
    fai = p.with_name(p.name + ".fai")
    gzi = p.with_name(p.name + ".gzi") if _compression(p) == "bgzf" else None
    return fai, gzi


def ensure_fasta_index(path: str | os.PathLike[str]) -> Path:
    """Build the .fai (and .gzi for BGZF) next to the FASTA if missing; return the .fai path.

    Raises:
        MissingInputError: the FASTA does not exist.
        InputError: the file is gzip but not BGZF, the folder is not writable, or htslib
            could not index it (the message gives the fix).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingInputError("FASTA file not found", path=p)
    kind = _compression(p)
    if kind == "gzip":
        raise InputError(
            "the FASTA is gzip-compressed but not BGZF, so it cannot be indexed for random "
            f"access; recompress it: `gunzip -c {p} | bgzip -c > {p}.bgz && mv {p}.bgz {p}`",
            path=p,
        )
    fai, gzi = index_paths(p)
    if fai.is_file() and (gzi is None or gzi.is_file()):
        return fai
    folder = p.parent
    fix = (
        f"index it where you can write: `samtools faidx {p}` as a user who can write to "
        f"{folder}, or copy the FASTA to a writable folder"
    )
    if not os.access(folder, os.W_OK):
        raise InputError(f"the FASTA has no index and its folder is read-only; {fix}", path=p)
    logger.info("building FASTA index for %s", p)
    try:
        pysam.faidx(str(p))
    except (pysam.utils.SamtoolsError, OSError) as e:
        with open(p, "rb") as fh:
            head = fh.read(60)
        if not head.lstrip().startswith(b">") and kind == "plain":
            raise InputError(
                f"htslib cannot index it: this is not a FASTA file (it starts with {head!r}, "
                "not a '>NAME' header line)",
                path=p,
            ) from e
        raise InputError(f"could not build the FASTA index ({e}); {fix}", path=p) from e
    if not fai.is_file():
        raise InputError(f"htslib wrote no index at {fai}; {fix}", path=p)
    return fai


class FastaSource:
    """An indexed FASTA: contig table from the .fai, sequence fetched on demand.

    Sequence case is kept as in the file (soft masking); the tokenizer upper-cases.
    Pickles by path: the pysam handle is reopened lazily in each process.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fai = ensure_fasta_index(self.path)
        self.contigs: tuple[tuple[str, int], ...] = _checked_contigs(self.path, self._fai)
        self._lengths = dict(self.contigs)
        self._handle: pysam.FastaFile | None = None

    def __repr__(self) -> str:
        return f"FastaSource({str(self.path)!r}, {len(self.contigs)} contigs)"

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_handle"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    @property
    def contig_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.contigs)

    def contig_length(self, contig: str) -> int:
        """Length of `contig` in bp; InputError naming the contig and file if unknown."""
        try:
            return self._lengths[contig]
        except KeyError:
            raise InputError(
                f"unknown contig {contig!r}; the FASTA has {_some_names(self.contig_names)}",
                path=self.path,
            ) from None

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Sequence of contig[start:end) (0-based half-open), case as in the file.

        Raises:
            InputError: unknown contig, or an interval outside the contig.
        """
        length = self.contig_length(contig)
        if not 0 <= start <= end <= length:
            raise InputError(
                f"interval outside the contig (length {length:,} bp)",
                path=self.path,
                record=f"{contig}:{start}-{end}",
            )
        try:
            if self._handle is None:
                self._handle = pysam.FastaFile(str(self.path))
            seq = self._handle.fetch(contig, start, end)
        except (OSError, ValueError) as e:  # htslib: truncated or corrupt blocks
            raise InputError(
                f"cannot read the sequence ({e}); the FASTA may be truncated or corrupt: "
                "check it with `samtools faidx` (or `bgzip -t`) and replace it",
                path=self.path,
                record=f"{contig}:{start}-{end}",
            ) from e
        if len(seq) != end - start:
            raise InputError(
                f"htslib returned {len(seq):,} of {end - start:,} bp; the FASTA is truncated "
                "or its index is stale: check it with `samtools faidx`",
                path=self.path,
                record=f"{contig}:{start}-{end}",
            )
        return seq

    def fai_digest(self) -> str:
        """sha256 (hex) of the .fai text: identifies the contig table in output metadata."""
        return hashlib.sha256(self._fai.read_bytes()).hexdigest()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


_CHECKED: dict[tuple, tuple[tuple[str, int], ...]] = {}


def _checked_contigs(path: Path, fai: Path) -> tuple[tuple[str, int], ...]:
    """The .fai's contigs after checking it matches the FASTA (once per process and version)."""
    _, gzi = index_paths(path)
    key = tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (path, fai, gzi) if p is not None
    )
    if key not in _CHECKED:
        _CHECKED[key] = tuple((e.name, e.length) for e in check_fai(path, fai, gzi))
    return _CHECKED[key]


def _some_names(names: tuple[str, ...], n: int = 5) -> str:
    shown = ", ".join(repr(x) for x in names[:n])
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return f"{len(names)} contig(s): {shown}{more}"
