"""Per-base genome tracks of the wild-type scan (`ntscale score --tracks PREFIX --regions BED`).

For every base of the BED regions: the LLR of each of its 3 possible SNVs read from the
SNV table of one wild-type forward pass (log p(alt 6-mer) - log p(ref 6-mer), unmasked,
the `llr_wt` of docs/scoring.md), summarised as `llr_min`, `llr_mean`, `llr_max` over the
alternatives, and `logp_wt`, log p of the reference 6-mer at the base's token. Tiles are
gap-aware (`ntscale.genome.perbase_tiling`): planned over the N-free pieces of every contig
the regions touch (length W, stride W/2 rounded down to 6, the last tile of a piece shifted
back to its end, a piece shorter than W one shorter tile), so no tile holds an N and every
real base of the regions reads exactly one tile, the one where it is most central. With
both strands the per-ALT LLRs and logp_wt are averaged over strands first. N (and other
IUPAC) bases keep their row with status `allele_not_acgt` and NaN values; the coverage
record (`track_coverage`) counts the real bases that have values.

The run is an ordinary score store whose rows are bases: row = one base of the regions
(in BED order), `variant_pos` its 0-based position, `variant_ref` its base, `variant_alt`
".", and one score array per track. Units are runs of `unit_bases` rows, so a chromosome
runs on Ray, resumes and checksums like any other job; `ntscale.store.tracks` turns the
store into bigWig and bedGraph files.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ntscale.config import TrackConfig
from ntscale.errors import InputError
from ntscale.genome.perbase_tiling import PerBaseTiles
from ntscale.runner.job_base import JobBase
from ntscale.runner.run_plan import resolve_run

if TYPE_CHECKING:
    from ntscale.runner.track_worker import TrackWorker
    from ntscale.store import StoreLayout

log = logging.getLogger(__name__)

TRACK_NAMES = ("llr_min", "llr_mean", "llr_max", "logp_wt")
TRACK_DOCS = {
    "llr_min": "min over the 3 ALTs of log p(alt 6-mer) - log p(ref 6-mer), unmasked "
    "(wild-type marginal) at the base's token of its nearest tile",
    "llr_mean": "mean over the 3 ALTs of the same LLR",
    "llr_max": "max over the 3 ALTs of the same LLR",
    "logp_wt": "log p(reference 6-mer) at the base's token (natural log, full vocabulary)",
}


@dataclass(frozen=True, kw_only=True)
class TrackJob(JobBase):
    """A planned track run: the regions as rows (one per base)."""

    KIND: ClassVar[str] = "tracks"
    AXIS: ClassVar[str] = "variants"
    ROWS: ClassVar[str] = "bases"

    config: TrackConfig
    regions: tuple[tuple[str, int, int], ...]
    offsets: np.ndarray  # [n_regions + 1] first row of each region
    tiles: PerBaseTiles  # the tiles whose kept span meets the regions

    @classmethod
    def plan_from_config(
        cls, config: TrackConfig, *, command_line: str = "", dry_run: bool = False
    ) -> TrackJob:
        """Resolve the model, read the regions (one row per base) and plan N-free tiles."""
        from ntscale.genome import FastaSource
        from ntscale.genome.gaps import load_gap_index
        from ntscale.genome.regions import read_bed
        from ntscale.model import describe, describe_for_plan

        # a dry run of a published model plans from its published shapes (no download)
        run = resolve_run(
            config,
            (describe_for_plan if dry_run else describe)(config.model, revision=config.revision),
        )
        fasta = FastaSource(config.fasta)
        regions = tuple(
            (r.contig, int(r.start), int(r.end)) for r in read_bed(config.regions, fasta.contigs)
        )
        if not regions:  # refused before any store is made
            raise InputError(
                "the BED has no regions (empty, or only comments and headers); per-base "
                "tracks need at least one region",
                path=config.regions,
            )
        sizes = np.array([e - s for _, s, e in regions], np.int64)
        lengths = dict(fasta.contigs)
        tiles = plan_track_tiles(
            regions, lengths, load_gap_index(fasta).runs, run.window_bp, run.max_tokens
        )
        return cls(
            config=config,
            run=run,
            regions=regions,
            offsets=np.concatenate([[0], np.cumsum(sizes)]),
            tiles=tiles,
            contigs=tuple(fasta.contigs),
            fai_digest=fasta.fai_digest(),
            command_line=command_line,
        )

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    @property
    def unit_size(self) -> int:
        return self.config.unit_bases

    def unit_bp(self, unit: int) -> int:
        return self.unit_rows(unit)

    def segments(self, a: int, b: int) -> list[tuple[str, int, int, int]]:
        """(contig, start, end, first row) of the region pieces covering rows [a, b)."""
        out = []
        for i, (contig, s, _e) in enumerate(self.regions):
            lo, hi = max(a, int(self.offsets[i])), min(b, int(self.offsets[i + 1]))
            if lo < hi:
                base = s - int(self.offsets[i])
                out.append((contig, lo + base, hi + base, lo))
        return out

    def layout(self) -> StoreLayout:
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=0,
            unit_windows=1,
            n_variants=self.n_rows,
            unit_variants=self.config.unit_bases,
            score_names=TRACK_NAMES,
        )

    def own_fingerprint(self) -> dict:
        h = hashlib.sha256("".join(f"{r}\n" for r in self.regions).encode()).hexdigest()
        return {"regions_digest": h, "tiling": TILING}

    def own_attrs(self) -> dict:
        from ntscale.types import score_status_names

        c = self.config
        return {
            "scoring": {
                "window_bp": self.run.window_bp,
                "window_mode": "tiled",
                "tiling": TILING,
                "stride_bp": self.tiles.stride_bp,
                "tiles": len(self.tiles),
                "strands": c.strands,
                "score_names": list(TRACK_NAMES),
                "score_docs": dict(TRACK_DOCS),
                "log_probabilities": "natural log, log-softmax over the full vocabulary",
                "rows": "one row per base of the regions (variant_pos = base, alt '.')",
            },
            "regions": {"name": Path(c.regions).name, "n": len(self.regions), "bp": self.n_rows},
            "variant_status_names": score_status_names(),
        }

    def open_worker(self) -> TrackWorker:
        from ntscale.runner.track_worker import TrackWorker

        return TrackWorker(self)

    def finish_more(self, results: list) -> dict:
        from ntscale.store import open_writer

        # From what the store holds, every run: a resumed store gets its record too.
        coverage = track_coverage(self)
        open_writer(self.store_url).set_attrs(coverage=coverage)
        return {"coverage": coverage}


def track_stride_bp(window_bp: int) -> int:
    """Tile stride of a track run: half a window, rounded down to whole 6-mers."""
    return max(6, (window_bp // 2) // 6 * 6)


def plan_track_tiles(
    regions: tuple[tuple[str, int, int], ...],
    contig_bp: dict[str, int],
    runs: dict[str, np.ndarray],
    window_bp: int,
    max_tokens: int,
) -> PerBaseTiles:
    """N-free tiles over every contig the regions touch, kept where they meet the regions.

    Tiles are planned over whole N-free pieces of the contigs (not the regions), so a base
    near a region edge still sees context beyond it; only tiles whose kept span meets a
    region are kept. `max_tokens` counts the CLS token.
    """
    from ntscale.genome.intervals import union
    from ntscale.genome.perbase_tiling import nfree_intervals, plan_perbase_tiles

    touched = list(dict.fromkeys(c for c, _, _ in regions))
    pieces = nfree_intervals([(c, 0, contig_bp[c]) for c in touched], runs)
    plan = plan_perbase_tiles(
        pieces,
        window_bp=window_bp,
        stride_bp=track_stride_bp(window_bp),
        k=6,
        max_tokens=max_tokens - 1,  # the CLS token
    )
    keep = np.zeros(len(plan), bool)
    for contig in touched:
        rs, re_ = union(
            np.array([s for c, s, _ in regions if c == contig], np.int64),
            np.array([e for c, _, e in regions if c == contig], np.int64),
        )
        mine = np.flatnonzero(plan.contig == contig)
        j = np.searchsorted(rs, plan.keep_end[mine], side="left") - 1
        keep[mine] = (j >= 0) & (re_[np.maximum(j, 0)] > plan.keep_start[mine])
    return plan.select(keep)


def real_bases(
    regions: tuple[tuple[str, int, int], ...], pieces: tuple[tuple[str, int, int], ...]
) -> int:
    """Bases of the regions inside the N-free pieces: the real bases a track must value."""
    from ntscale.genome.intervals import intersect, total

    n = 0
    for contig in dict.fromkeys(c for c, _, _ in regions):
        r = np.array([(s, e) for c, s, e in regions if c == contig], np.int64).reshape(-1, 2)
        p = np.array([(s, e) for c, s, e in pieces if c == contig], np.int64).reshape(-1, 2)
        n += total(*intersect(r[:, 0], r[:, 1], p[:, 0], p[:, 1]))
    return n


def track_coverage(job: TrackJob, *, max_listed: int = 100) -> dict:
    """The coverage record of a track store: real (A/C/G/T) bases of the regions with values.

    Same keys as an embed store's record (`ntscale.genome.coverage`), read unit by unit
    from the store: a real base is covered when its `logp_wt` is finite; every uncovered
    real base is counted under its row's status and listed (up to `max_listed` runs).
    """
    from collections import Counter

    from ntscale.store import open as open_store

    ds = open_store(job.store_url)
    real_total = real_bases(job.regions, job.tiles.intervals)
    covered, by_reason, listed, n_runs = 0, Counter(), [], 0
    for unit in range(job.n_units()):
        a, b = job.unit_range(unit)
        logp = np.asarray(ds["score_logp_wt"][a:b].values, np.float64)
        status = ds["variant_status"][a:b].values
        for contig, s, e, row in job.segments(a, b):
            sl = slice(row - a, row - a + e - s)
            real = job.tiles.tile_of(contig, np.arange(s, e)) >= 0
            ok = real & np.isfinite(logp[sl])
            covered += int(ok.sum())
            hole = real & ~ok
            if not hole.any():
                continue
            edges = np.flatnonzero(np.diff(np.concatenate(([0], hole.view(np.int8), [0]))))
            for h0, h1 in zip(edges[::2], edges[1::2], strict=True):
                reason = str(status[sl][h0])
                by_reason[reason] += int(h1 - h0)
                n_runs += 1
                if len(listed) < max_listed:
                    listed.append(
                        {"contig": contig, "start": s + int(h0), "end": s + int(h1),
                         "track": "bases", "reason": reason}
                    )  # fmt: skip
    requested = job.n_rows
    return {
        "bases_requested": requested,
        "n_bases_requested": requested - real_total,
        "real_bases_requested": real_total,
        "tracks": 1,
        "real_bases_total": real_total,
        "real_bases_covered": covered,
        "fraction_covered": covered / real_total if real_total else 1.0,
        "uncovered_bp": real_total - covered,
        "uncovered_by_reason": dict(by_reason),
        "n_uncovered_intervals": n_runs,
        "uncovered": listed,
        "gap_aware": True,
        "contigs_left_out": [],
        "covered_means": "with track values",
    }


TILING = "perbase-nfree-1"  # the tile plan's version: a store made with another is refused

__all__ = ["TRACK_DOCS", "TRACK_NAMES", "TrackJob", "plan_track_tiles", "track_coverage"]
