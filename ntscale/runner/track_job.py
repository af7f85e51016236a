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
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ntscale.config import TrackConfig, config_to_dict
from ntscale.runner.job import UnitResult, count_units, row_run_summary, unit_span
from ntscale.runner.model_info import describe_model, model_attrs
from ntscale.runner.precision import resolve_dtype

if TYPE_CHECKING:
    from ntscale.runner.track_worker import TrackWorker

log = logging.getLogger(__name__)

TRACK_NAMES = ("llr_min", "llr_mean", "llr_max", "logp_wt")
TRACK_DOCS = {
    "llr_min": "min over the 3 ALTs of log p(alt 6-mer) - log p(ref 6-mer), unmasked "
    "(wild-type marginal) at the base's token of its nearest tile",
    "llr_mean": "mean over the 3 ALTs of the same LLR",
    "llr_max": "max over the 3 ALTs of the same LLR",
    "logp_wt": "log p(reference 6-mer) at the base's token (natural log, full vocabulary)",
}


@dataclass(frozen=True)
class TrackJob:
    """A planned track run: settings, the regions as rows, the model's identity."""

    config: TrackConfig
    regions: tuple[tuple[str, int, int], ...]
    offsets: np.ndarray  # [n_regions + 1] first row of each region
    window_bp: int
    max_tokens: int
    model_info: dict
    contigs: tuple[tuple[str, int], ...]
    fai_digest: str
    command_line: str

    @classmethod
    def plan_from_config(cls, config: TrackConfig, *, command_line: str = "") -> TrackJob:
        from ntscale.genome import FastaSource, default_window_bp
        from ntscale.genome.regions import read_bed
        from ntscale.genome.tiling import check_window_fits

        # "auto" dtype -> the concrete one for the hardware that runs the model
        config = replace(config, execution=resolve_dtype(config.execution))
        info = describe_model(config.model)
        max_tokens = int(info["config"]["max_tokens"])
        if config.window_bp is not None:
            check_window_fits(config.window_bp, max_tokens, model=f"model {info['name']!r}")
        fasta = FastaSource(config.fasta)
        regions = tuple(
            (r.contig, int(r.start), int(r.end)) for r in read_bed(config.regions, fasta.contigs)
        )
        sizes = np.array([e - s for _, s, e in regions], np.int64)
        return cls(
            config=config,
            regions=regions,
            offsets=np.concatenate([[0], np.cumsum(sizes)]),
            window_bp=config.window_bp or default_window_bp(max_tokens),
            max_tokens=max_tokens,
            model_info=info,
            contigs=tuple(fasta.contigs),
            fai_digest=fasta.fai_digest(),
            command_line=command_line,
        )

    @property
    def store_url(self) -> str:
        return self.config.out

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    def n_units(self) -> int:
        return count_units(self.n_rows, self.config.unit_bases)

    def unit_range(self, unit: int) -> tuple[int, int]:
        return unit_span(unit, self.config.unit_bases, self.n_rows)

    def unit_rows(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return b - a

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

    def layout(self):
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=0,
            unit_windows=1,
            n_variants=self.n_rows,
            unit_variants=self.config.unit_bases,
            score_names=TRACK_NAMES,
        )

    def fingerprint(self) -> dict:
        c = self.config
        h = hashlib.sha256("".join(f"{r}\n" for r in self.regions).encode()).hexdigest()
        return {
            "job": "tracks",
            "model": self.model_info["name"],
            "checkpoint_digest": self.model_info["digest"],
            "dtype": c.execution.dtype,
            "fasta": Path(c.fasta).name,
            "fai_digest": self.fai_digest,
            "regions_digest": h,
            "window_bp": self.window_bp,
            "strands": c.strands,
        }

    def attrs(self) -> dict:
        from ntscale.types import score_status_names

        c = self.config
        return {
            "job": "tracks",
            "model": model_attrs(self.model_info, source=c.model, dtype=c.execution.dtype),
            "scoring": {
                "window_bp": self.window_bp,
                "window_mode": "tiled",
                "strands": c.strands,
                "score_names": list(TRACK_NAMES),
                "score_docs": dict(TRACK_DOCS),
                "log_probabilities": "natural log, log-softmax over the full vocabulary",
                "rows": "one row per base of the regions (variant_pos = base, alt '.')",
            },
            "regions": {"name": Path(c.regions).name, "n": len(self.regions), "bp": self.n_rows},
            "fasta": {"name": Path(c.fasta).name, "fai_digest": self.fai_digest},
            "variant_status_names": score_status_names(),
            "command_line": self.command_line,
            "config": config_to_dict(c),
        }

    def prepare(self) -> np.ndarray:
        from ntscale.store import create_or_open

        writer = create_or_open(
            self.store_url,
            self.layout(),
            fingerprint=self.fingerprint(),
            attrs=self.attrs(),
            contigs=list(self.contigs),
        )
        return np.flatnonzero(~writer.done_units("variants"))

    def finish(self, results: Iterable[UnitResult], *, seconds: float) -> dict:
        from ntscale.store import finalize, open_writer, store_summary

        results = list(results)
        run = row_run_summary(results, seconds, rows="bases")
        if results:
            open_writer(self.store_url).set_attrs(last_run=run)
        finalize(self.store_url)  # releases the run lease, writes consolidated metadata
        return {"run": run, "store": store_summary(self.store_url)}

    def n_done(self) -> int:
        from ntscale.store import open_writer

        return int(open_writer(self.store_url).done_units("variants").sum())

    def open_worker(self) -> TrackWorker:
        from ntscale.runner.track_worker import TrackWorker

        return TrackWorker(self)


__all__ = ["TRACK_DOCS", "TRACK_NAMES", "TrackJob"]
