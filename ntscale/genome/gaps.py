"""N-run index: where a FASTA has no A/C/G/T, so windows can be planned around the gaps.

One scan of the FASTA (pysam fetches of a few Mbp, classified with a numpy lookup table)
finds every run of letters other than A/C/G/T (either case): assembly gaps (N), and IUPAC
codes, which the tokenizer also turns into single-letter tokens. The index is cached in a
small .npz next to the FASTA (`<fasta>.ntgaps.npz`), or in the user cache folder
(`$XDG_CACHE_HOME/ntscale/gaps`, default `~/.cache/ntscale/gaps`) when the FASTA's folder
is read-only; `NTSCALE_GAP_CACHE=DIR` puts it in DIR instead (shared or read-only genome
folders, tests). The cache is keyed by the FASTA's identity (file size, mtime and the .fai
digest): a changed FASTA rebuilds it, never reuses a stale one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntscale.genome.fasta import FastaSource

logger = logging.getLogger(__name__)

GAPS_VERSION = 1
SCAN_CHUNK_BP = 8 << 20  # bp per pysam fetch: large enough to amortise, small in memory

_IS_ACGT = np.zeros(256, dtype=bool)
_IS_ACGT[np.frombuffer(b"ACGTacgt", np.uint8)] = True


@dataclass(frozen=True, eq=False)
class GapIndex:
    """N runs of every contig of one FASTA: sorted, disjoint, 0-based half-open intervals.

    `runs[contig]` is an int64 array [R, 2] of (start, end); contigs without N are present
    with an empty array. `identity` is the FASTA identity the index was built from.
    """

    runs: dict[str, np.ndarray]
    identity: dict[str, object]

    def contig_runs(self, contig: str) -> np.ndarray:
        """[R, 2] runs of `contig` (empty for an unknown contig)."""
        return self.runs.get(contig, np.zeros((0, 2), np.int64))

    def n_bases(self, contig: str) -> int:
        r = self.contig_runs(contig)
        return int((r[:, 1] - r[:, 0]).sum())

    def total_n_bases(self) -> int:
        return sum(self.n_bases(c) for c in self.runs)

    def n_runs(self) -> int:
        return sum(int(r.shape[0]) for r in self.runs.values())


def runs_in(seq: bytes | str, offset: int = 0) -> np.ndarray:
    """[R, 2] int64 runs of non-A/C/G/T letters in `seq`, shifted by `offset`."""
    raw = seq.encode("ascii", "replace") if isinstance(seq, str) else seq
    if not raw.translate(None, b"ACGTacgt"):  # the common case, ~5x faster than numpy
        return np.zeros((0, 2), np.int64)
    bad = ~_IS_ACGT[np.frombuffer(raw, np.uint8)]
    # Edges of the runs: +1 where a run starts, -1 where it ends (padding closes both ends).
    edges = np.diff(np.concatenate(([False], bad, [False])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return np.stack([starts, ends], axis=1).astype(np.int64) + offset


def _merge_touching(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate per-chunk runs, joining a run cut by a chunk boundary."""
    if not parts:
        return np.zeros((0, 2), np.int64)
    runs = np.concatenate(parts)
    if runs.shape[0] < 2:
        return runs
    join = runs[1:, 0] == runs[:-1, 1]
    if not join.any():
        return runs
    keep_start = np.concatenate(([True], ~join))  # a run that does not continue the previous
    starts = runs[keep_start, 0]
    last_of_group = np.concatenate((~join, [True]))
    ends = runs[last_of_group, 1]
    return np.stack([starts, ends], axis=1)


def scan_contig(fasta: FastaSource, contig: str, *, chunk_bp: int = SCAN_CHUNK_BP) -> np.ndarray:
    """[R, 2] N runs of one contig, read in chunks of `chunk_bp`."""
    length = fasta.contig_length(contig)
    parts = []
    for lo in range(0, length, chunk_bp):
        hi = min(lo + chunk_bp, length)
        r = runs_in(fasta.fetch(contig, lo, hi), lo)
        if r.shape[0]:
            parts.append(r)
    return _merge_touching(parts)


def fasta_identity(fasta: FastaSource) -> dict[str, object]:
    """What identifies the FASTA's content for the cache: size, mtime (ns), .fai digest."""
    st = os.stat(fasta.path)
    return {
        "name": fasta.path.name,
        "size": int(st.st_size),
        "mtime_ns": int(st.st_mtime_ns),
        "fai_digest": fasta.fai_digest(),
        "version": GAPS_VERSION,
    }


def scan_fasta(fasta: FastaSource) -> GapIndex:
    """Scan every contig of `fasta` (no cache)."""
    t0 = time.perf_counter()
    runs = {name: scan_contig(fasta, name) for name, _ in fasta.contigs}
    total = sum(length for _, length in fasta.contigs)
    dt = time.perf_counter() - t0
    logger.info("scanned %s for N runs: %d bp in %.1f s", fasta.path, total, dt)
    return GapIndex(runs=runs, identity=fasta_identity(fasta))


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/ntscale/gaps (default ~/.cache/ntscale/gaps)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ntscale" / "gaps"


def cache_paths(fasta_path: str | os.PathLike[str]) -> list[Path]:
    """Where the index of `fasta_path` may be cached, in the order tried."""
    p = Path(fasta_path).resolve()
    digest = hashlib.sha256(str(p).encode()).hexdigest()[:16]
    keyed = f"{p.name}.{digest}.ntgaps.npz"
    override = os.environ.get("NTSCALE_GAP_CACHE")
    if override:
        return [Path(override) / keyed]
    return [p.with_name(p.name + ".ntgaps.npz"), user_cache_dir() / keyed]


def _save(index: GapIndex, path: Path) -> None:
    names = list(index.runs)
    counts = np.array([index.runs[n].shape[0] for n in names], np.int64)
    flat = np.concatenate([index.runs[n] for n in names]) if names else np.zeros((0, 2))
    meta = json.dumps({"identity": index.identity, "contigs": names})
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary name and rename: a reader never sees a half-written cache.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ntgaps-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(meta), counts=counts, runs=flat.astype(np.int64))
        # mkstemp makes the file 0600; the cache is read by everyone who reads the FASTA
        # (a shared reference folder), so it gets a plain file's mode, like a .fai.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _load(path: Path, identity: dict[str, object]) -> GapIndex | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta["identity"] != identity:
                return None
            counts, flat = data["counts"], data["runs"]
    except (OSError, ValueError, KeyError) as e:
        logger.info("ignoring unreadable N-run cache %s (%s)", path, e)
        return None
    offsets = np.concatenate(([0], np.cumsum(counts)))
    runs = {
        name: flat[offsets[i] : offsets[i + 1]].reshape(-1, 2)
        for i, name in enumerate(meta["contigs"])
    }
    return GapIndex(runs=runs, identity=identity)


def _writable_targets(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        folder = path.parent
        probe = folder if folder.exists() else folder.parent
        if os.access(probe, os.W_OK) or not folder.exists():
            yield path


def load_gap_index(fasta: FastaSource | str | os.PathLike[str], *, cache: bool = True) -> GapIndex:
    """The N-run index of a FASTA: from the cache when it matches, else scanned (and cached).

    Args:
        fasta: a FastaSource or the FASTA's path.
        cache: read and write the cache (False: always scan, write nothing).
    """
    src = fasta if isinstance(fasta, FastaSource) else FastaSource(fasta)
    identity = fasta_identity(src)
    paths = cache_paths(src.path)
    if cache:
        for path in paths:
            if path.is_file():
                found = _load(path, identity)
                if found is not None:
                    return found
    index = scan_fasta(src)
    if cache:
        for path in _writable_targets(paths):
            try:
                _save(index, path)
                logger.info("N-run index cached at %s", path)
                break
            except OSError as e:  # a read-only folder: try the next place
                logger.info("cannot cache the N-run index at %s (%s)", path, e)
    return index
