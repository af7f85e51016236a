"""The calibration background inside a scoring worker (tiled llr_wt scans, `--calibrate`).

Each tile is "owned" by the work unit of the first scored row that uses it, so that a
tile's background is counted once however many units its variants fall in. The owning
unit runs the tile's reference pass(es) with the full SNV table (shared with its rows'
own passes), turns the tile's share of the contig into background LLRs and strata
(`ntscale.scoring.calibration`), and writes the unit's histogram as its block of
`calibration/llr_wt_background` before marking the unit done. The driver sums the
blocks into quantile tables at the end of the run (`ScoreJob.finish`).
"""

from __future__ import annotations

import math

import numpy as np

BACKGROUND_ARRAY = "calibration/llr_wt_background"


def tile_owners(job: object) -> dict[tuple[str, int], int]:
    """(contig, tile start) -> first scored row using that tile (first strand's window)."""
    owners: dict[tuple[str, int], int] = {}
    start = job.windows.start[:, 0]
    for row in np.flatnonzero(start >= 0):
        owners.setdefault((str(job.table.contig[row]), int(start[row])), int(row))
    return owners


def tile_share(contig_bp: int, window_bp: int, start: int) -> tuple[int, int]:
    """[lo, hi) contig bases whose nearest tile centre is the tile at `start` (the same
    rule, ties to the left tile, that assigns variants to tiles)."""
    from ntscale.genome.variant_windows import tile_starts

    starts = tile_starts(contig_bp, window_bp)
    centres = starts + min(window_bp, contig_bp) / 2
    i = int(np.flatnonzero(starts == start)[0])
    lo = math.floor((centres[i - 1] + centres[i]) / 2) + 1 if i > 0 else 0
    last = i + 1 >= len(starts) or starts[i + 1] == start
    hi = contig_bp if last else math.floor((centres[i] + centres[i + 1]) / 2) + 1
    return lo, hi


def row_stratum(fwd_seq: str, offset: int, ref: str, alt: str, base_in_kmer: int) -> float:
    """Background stratum of one SNV row (NaN: next to an N or at the window edge)."""
    from ntscale.scoring.calibration import codes, snv_class, strata

    if offset < 1 or offset + 1 >= len(fwd_seq):
        return float("nan")
    c = codes(fwd_seq[offset - 1 : offset + 2])
    a = codes(alt)
    if (c < 0).any() or (a < 0).any():
        return float("nan")
    cls = snv_class(c[:1], c[1:2], a, c[2:])
    return float(strata(cls, np.array([base_in_kmer]))[0])


class TileBackgrounds:
    """The owned tiles of one slice of a unit: registers their passes, then histograms."""

    def __init__(self, worker: object, unit_range: tuple[int, int]) -> None:
        self.worker = worker
        self.range = unit_range
        self.tiles: list[tuple[str, int, int, str, list]] = []

    def plan(self, plan: object, rows: range) -> None:
        """Register the full-table reference passes of the tiles owned by `rows`."""
        w = self.worker
        job = w.job
        owners = w.tile_owners()
        share = job.config.share_windows
        for row in rows:
            contig = str(job.table.contig[row])
            ws, we = int(job.windows.start[row, 0]), int(job.windows.end[row, 0])
            if ws < 0 or owners.get((contig, ws)) != row:
                continue
            seq = w._fasta().fetch(contig, ws, we).upper()
            passes = []
            for j, strand in enumerate(job.windows.strands):
                s = seq if strand == "+" else _revcomp(seq)
                key = ("ref", contig, j, ws, we) if share else ("ref", contig, j, ws, we, -1)
                pid = plan.add(key, w.encode(s))
                plan.keep_table(pid)
                passes.append((pid, w.spans(s), strand == "-"))
            self.tiles.append((contig, ws, we, seq, passes))

    def background(self, results: list) -> tuple[np.ndarray, np.ndarray]:
        """(llr, stratum) of every SNV of the planned tiles' shares."""
        from ntscale.scoring.calibration import tile_background

        job = self.worker.job
        lengths = dict(self.worker._fasta().contigs)
        llrs, strata = [np.zeros(0, np.float32)], [np.zeros(0, np.int64)]
        for contig, ws, _we, seq, passes in self.tiles:
            lo, hi = tile_share(int(lengths[contig]), job.windows.window_bp, ws)
            llr, stratum = tile_background(
                seq,
                [results[pid].full_table for pid, _, _ in passes],
                [sp for _, sp, _ in passes],
                [rev for _, _, rev in passes],
                max(lo - ws, 0),
                hi - ws,
            )
            llrs.append(llr)
            strata.append(stratum)
        return np.concatenate(llrs), np.concatenate(strata)


def _revcomp(seq: str) -> str:
    from ntscale.tokenizer import reverse_complement

    return reverse_complement(seq)


__all__ = ["BACKGROUND_ARRAY", "TileBackgrounds", "row_stratum", "tile_owners", "tile_share"]
