"""Exports of a per-base store: one bigWig per track, one BED of called elements.

- bigWig (`PREFIX.<track>.bw`, pyBigWig): the value of every valued base (fixed-step
  entries of span 1, float32 of the stored value); bases without a value (N, intervals too
  short for the model, bases a haplotype deletes) are left out. Opens in IGV and the UCSC
  browser. Groups of tracks are written by child processes at once (`processes`).
- BED (`ntscale segment --bed FILE`): an element of a track is a maximal run of bases
  whose value is at least the track's threshold (default 0.5 for every track; SegmentNT's
  probabilities are per-element calibrated sigmoids, so 0.5 is "more likely present than
  not"). Columns: contig, start, end, name (the track), score (1000 x the highest value
  in the run, an integer 0-1000 as BED requires), strand ".", then the mean value.
  Sorted by contig (FASTA order), start, track. A run never crosses an N gap (intervals
  are read one by one).

Both read the store interval by interval in blocks of `block_bases` rows, so memory stays
flat on a whole genome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ntscale.errors import StoreError
from ntscale.store import backend
from ntscale.store.perbase_haps import read_haplotype_rows
from ntscale.store.reader import _open_root
from ntscale.store.schema import (
    BASE_UNITS_DONE,
    BASE_VALUES,
    HAP_BASE_VALUES,
    INTERVAL_FIELDS,
    TRACK_COORD,
)

log = logging.getLogger(__name__)

BLOCK_BASES = 1 << 22


def _open_complete(url: str) -> tuple[object, dict, list[str]]:
    group, attrs, layout = _open_root(url)
    if not layout.n_bases:
        raise StoreError(f"store {url!r} has no per-base values (made by `ntscale segment`?)")
    done = np.asarray(group[BASE_UNITS_DONE][:], bool)
    if not done.all():
        raise StoreError(
            f"store {url!r} is incomplete ({int(done.sum())} of {done.size} units done); run "
            "the same `ntscale segment` command again, then export"
        )
    return group, attrs, [str(t) for t in group[TRACK_COORD][:]]


def iter_intervals(
    url: str,
    *,
    block_bases: int = BLOCK_BASES,
    haplotype: int | None = None,
    track: int | None = None,
) -> Iterator[tuple[str, int, np.ndarray]]:
    """(contig, start, values [n, n_tracks] float32) blocks of every interval, sorted by
    contig (FASTA order) and start, as bigWig writers need.

    Args:
        haplotype: index on the `haplotype` axis: that haplotype's values (stores made
            with `--vcf`); None: the reference values.
        track: only this track ([n, 1] blocks).
    """
    group, attrs, _ = _open_complete(url)
    layout = _open_root(url)[2]
    cols = {k: np.asarray(group[f.stored][:]) for k, f in INTERVAL_FIELDS.items()}
    order = _order([(str(c), int(n)) for c, n in attrs["contigs"]])
    rank = np.array([order.get(str(c), len(order)) for c in cols["contig"]], np.int64)
    cut = slice(None) if track is None else slice(track, track + 1)
    values = group[BASE_VALUES]
    for i in np.lexsort((cols["start"], rank)):
        contig, s, e, off = cols["contig"][i], cols["start"][i], cols["end"][i], cols["offset"][i]
        for lo in range(int(s), int(e), block_bases):
            hi = min(lo + block_bases, int(e))
            row = int(off) + lo - int(s)
            if haplotype is None:
                block = np.asarray(values[row : row + hi - lo, cut], np.float32)
            else:  # stored once per distinct window sequence: store/perbase_haps.py
                block = read_haplotype_rows(group, layout, int(haplotype), row, row + hi - lo, cut)
            yield str(contig), lo, block


def haplotype_index(url: str, name: str) -> int:
    """Position of haplotype `name` ("SAMPLE:phase") on a per-base store's haplotype axis.

    Raises:
        StoreError: the store has no haplotypes, or not this one.
    """
    group, _, _ = _open_root(url)
    if HAP_BASE_VALUES not in group:
        raise StoreError(f"store {url!r} has no haplotype values (made without --vcf)")
    names = [str(x) for x in group["haplotype"][:]]
    if name not in names:
        shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
        raise StoreError(f"store {url!r} has no haplotype {name!r}; it has {shown}")
    return names.index(name)


def haplotype_file_part(name: str) -> str:
    """A haplotype name as part of a file name: "HG00096:1" -> "HG00096_1"."""
    return name.replace(":", "_").replace("/", "_")


def export_bigwig(
    url: str,
    prefix: str | Path,
    *,
    haplotype: str | None = None,
    processes: int | None = None,
) -> list[Path]:
    """Write PREFIX.<track>.bw for every track of a complete per-base store.

    Args:
        haplotype: "SAMPLE:phase": that haplotype's values (reference coordinates) to
            PREFIX.<SAMPLE>_<phase>.<track>.bw; None: the reference values.
        processes: child processes writing groups of tracks at once (default: half the
            CPUs, at most the tracks: pyBigWig is CPU-bound in each); 1 writes every track
            in this process.

    Raises:
        StoreError: not a per-base store, units pending, or a file cannot be written.
    """
    import os

    group, attrs, tracks = _open_complete(url)
    contigs = [(str(c), int(n)) for c, n in attrs["contigs"] if int(n) > 0]
    hap = None if haplotype is None else haplotype_index(url, haplotype)
    prefix = Path(prefix)
    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot write bigWig files at {prefix}: {e}") from e
    middle = "" if haplotype is None else f".{haplotype_file_part(haplotype)}"
    paths = [Path(f"{prefix}{middle}.{t}.bw") for t in tracks]
    n = max(1, min(processes or (os.cpu_count() or 2) // 2, len(tracks)))
    # process i writes tracks i, i + n, ...: each reads the store once, all its tracks
    groups = [[(j, str(paths[j])) for j in range(i, len(tracks), n)] for i in range(n)]
    if n == 1:
        _write_tracks(url, groups[0], hap, contigs)
    else:
        _run_track_processes(url, groups, hap, contigs)
    log.info("wrote %d bigWig files at %s", len(paths), prefix)
    return paths


def _run_track_processes(
    url: str, groups: list[list[tuple[int, str]]], hap: int | None, contigs: list
) -> None:
    """One child process per group of tracks (`python -m ntscale.store.perbase_export`):
    exec'd, not forked, so threads of the caller (JAX, Ray, Zarr's event loop) are not
    copied, and no `if __name__ == "__main__"` guard is needed in the caller."""
    import json
    import subprocess
    import sys

    procs = []
    for group in groups:
        arg = json.dumps({"url": url, "tracks": group, "haplotype": hap, "contigs": contigs})
        cmd = [sys.executable, "-m", "ntscale.store.perbase_export", arg]
        procs.append(subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True))
    failed = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            failed.append((err or "").strip().splitlines()[-1:] or [f"exit {p.returncode}"])
    if failed:
        raise StoreError(f"bigWig export of {url!r} failed: {failed[0][0]}")


def _write_tracks(
    url: str, tracks: list[tuple[int, str]], haplotype: int | None, contigs: list
) -> None:
    """bigWig files of some tracks (index, path): fixed-step entries (span 1), one numpy
    array per stretch of valued bases (not a Python object per base)."""
    import pyBigWig

    handles = []
    try:
        for _, path in tracks:
            if Path(path).is_dir():  # pyBigWig crashes (SIGSEGV) opening a folder
                raise OSError(f"{path} is a folder")
            bw = pyBigWig.open(path, "w")
            if bw is None:
                raise OSError(f"pyBigWig could not open {path} for writing")
            handles.append(bw)
            bw.addHeader([(str(c), int(n)) for c, n in contigs], maxZooms=10)
        for contig, start, values in iter_intervals(url, haplotype=haplotype):
            for (j, _), bw in zip(tracks, handles, strict=True):
                col = values[:, j].astype(np.float64)
                for a, b in zip(*call_elements(np.isfinite(col).astype(np.float64), 0.5),
                                strict=True):  # fmt: skip
                    bw.addEntries(contig, int(start + a), values=col[a:b], span=1, step=1)
    except (OSError, RuntimeError) as e:
        raise StoreError(f"cannot write bigWig files {[p for _, p in tracks]}: {e}") from e
    finally:
        for bw in handles:
            bw.close()


def _order(contigs: list[tuple[str, int]]) -> dict[str, int]:
    return {c: i for i, (c, _) in enumerate(contigs)}


def call_elements(values: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of maximal runs with value >= threshold in a 1-D array (NaN: below)."""
    above = np.nan_to_num(values, nan=-np.inf) >= threshold
    edges = np.diff(np.concatenate([[False], above, [False]]).astype(np.int8))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def export_bed(
    url: str,
    path: str | Path,
    *,
    thresholds: float | Mapping[str, float] = 0.5,
    block_bases: int = BLOCK_BASES,
    haplotype: str | None = None,
) -> tuple[Path, int]:
    """Write the called elements of every track as BED (see the module docstring).

    Args:
        thresholds: one threshold for every track, or track -> threshold (others 0.5).
        block_bases: rows read at a time (elements crossing blocks are joined).
        haplotype: "SAMPLE:phase": that haplotype's elements (reference coordinates).

    Returns:
        (the BED path, number of elements written).
    """
    group, attrs, tracks = _open_complete(url)
    if isinstance(thresholds, Mapping):
        unknown = sorted(set(thresholds) - set(tracks))
        if unknown:
            raise StoreError(f"thresholds for unknown tracks {unknown}; tracks are {tracks}")
        cut = [float(thresholds.get(t, 0.5)) for t in tracks]
    else:
        cut = [float(thresholds)] * len(tracks)
    order = _order([(str(c), int(n)) for c, n in attrs["contigs"]])
    parts: list[pd.DataFrame] = []
    # an element may cross a block boundary: `open_run[j]` is track j's run reaching the end
    # of the previous block, joined to a run starting at the next block's first base
    open_run: dict[int, list] = {}
    hap = None if haplotype is None else haplotype_index(url, haplotype)
    for contig, start, values in iter_intervals(url, block_bases=block_bases, haplotype=hap):
        for j, track in enumerate(tracks):
            s, e = call_elements(values[:, j], cut[j])
            if not len(s):
                _close(parts, open_run, order, j)
                continue
            col = values[:, j].astype(np.float64)
            # max over [s_i, s_i+1): the bases between runs are below the threshold (NaN
            # as -inf), so it is the run's maximum
            top = np.maximum.reduceat(np.nan_to_num(col, nan=-np.inf), s)
            total = _run_sums(col, s, e)
            prev = open_run.get(j)
            if prev is not None and prev[0] == contig and prev[2] == start + int(s[0]):
                top[0], total[0] = max(top[0], prev[3]), total[0] + prev[4]
                first_start = prev[1]
            else:
                _close(parts, open_run, order, j)
                first_start = None
            starts, ends = s + start, e + start
            if first_start is not None:
                starts[0] = first_start
            last_open = int(e[-1]) == len(col)
            n_done = len(s) - 1 if last_open else len(s)
            open_run.pop(j, None)
            if n_done:
                parts.append(_frame(order, contig, track, starts[:n_done], ends[:n_done],
                                    top[:n_done], total[:n_done]))  # fmt: skip
            if last_open:
                open_run[j] = [contig, int(starts[-1]), int(ends[-1]), float(top[-1]),
                               float(total[-1]), track]  # fmt: skip
    for j in list(open_run):
        _close(parts, open_run, order, j)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = (
        pd.concat(parts, ignore_index=True) if parts else _frame(order, "", "", *[np.zeros(0)] * 4)
    )
    frame = frame.sort_values(["_rank", "start", "name"], kind="stable")
    try:
        frame[["contig", "start", "end", "name", "score", "strand", "mean"]].to_csv(
            path, sep="\t", header=False, index=False, float_format="%.4f"
        )
    except OSError as e:
        raise backend.write_error(str(path), e) from e
    return path, len(frame)


def _run_sums(col: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Sum of col[s_i:e_i] for each run, from one cumulative sum."""
    cum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(col, nan=0.0))])  # runs hold no NaN
    return cum[e] - cum[s]


def _frame(
    order: dict[str, int],
    contig: str,
    track: str,
    starts: np.ndarray,
    ends: np.ndarray,
    top: np.ndarray,
    total: np.ndarray,
) -> pd.DataFrame:
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    length = np.maximum(ends - starts, 1)
    return pd.DataFrame(
        {
            "_rank": np.full(len(starts), order.get(contig, len(order)), np.int64),
            "contig": contig,
            "start": starts,
            "end": ends,
            "name": track,
            "score": np.rint(1000 * np.clip(np.asarray(top, float), 0, 1)).astype(np.int64),
            "strand": ".",
            "mean": np.asarray(total, float) / length,
        }
    )


def _close(parts: list, open_run: dict[int, list], order: dict[str, int], j: int) -> None:
    """Write out track j's run left open at a block end, if any."""
    run = open_run.pop(j, None)
    if run is not None:
        contig, s, e, top, total, track = run
        parts.append(_frame(order, contig, track, [s], [e], [top], [total]))


__all__ = [
    "call_elements",
    "export_bed",
    "export_bigwig",
    "haplotype_file_part",
    "haplotype_index",
    "iter_intervals",
]


if __name__ == "__main__":  # one group of tracks of `export_bigwig`, in a child process
    import json
    import sys

    _job = json.loads(sys.argv[1])
    _write_tracks(_job["url"], [tuple(t) for t in _job["tracks"]], _job["haplotype"],
                  _job["contigs"])  # fmt: skip
