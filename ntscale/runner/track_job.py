"""Per-base genome tracks of the wild-type scan (`ntscale score --tracks PREFIX --regions BED`).

For every base of the BED regions: the LLR of each of its 3 possible SNVs read from the
SNV table of one wild-type forward pass (log p(alt 6-mer) - log p(ref 6-mer), unmasked,
the `llr_wt` of docs/scoring.md), summarised as `llr_min`, `llr_mean`, `llr_max` over the
alternatives, and `logp_wt`, log p of the reference 6-mer at the base's token. Windows
are the tiles of `--window-mode tiled` (length W, stride W/2 rounded down to 6); each
base reads the tile whose centre is nearest, as tiled variants do; with both strands the
per-ALT LLRs and logp_wt are averaged over strands first.

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

    @classmethod
    def plan_from_config(cls, config: TrackConfig, *, command_line: str = "") -> TrackJob:
        """Resolve the model and read the regions (one row per base)."""
        from ntscale.genome import FastaSource
        from ntscale.genome.regions import read_bed
        from ntscale.model import describe

        run = resolve_run(config, describe(config.model))
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
        return cls(
            config=config,
            run=run,
            regions=regions,
            offsets=np.concatenate([[0], np.cumsum(sizes)]),
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
        return {"regions_digest": h}

    def own_attrs(self) -> dict:
        from ntscale.types import score_status_names

        c = self.config
        return {
            "scoring": {
                "window_bp": self.run.window_bp,
                "window_mode": "tiled",
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


__all__ = ["TRACK_DOCS", "TRACK_NAMES", "TrackJob"]
