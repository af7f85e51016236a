"""A per-base run (`ntscale segment`): values for every real base from a per-base model.

Plan: the N-free intervals of the regions (or contigs), each tiled by
`genome.perbase_tiling` into overlapping windows the model accepts (default: the model's
window, half a window of overlap); an interval shorter than a window gets the longest
accepted window that fits it; each base keeps the value of the window where it is most
central. An interval shorter than the model's shortest window (SegmentNT: 24 bp) keeps
its rows with no values and status `too_short`.

Store: the per-base part of the store schema (`store.schema`): `perbase_values`
[base, track] with the base axis = the intervals concatenated in plan order, chunked by
unit; `interval_*` says where each interval sits on it. Unit u owns base rows
[u * U, (u + 1) * U) with U = unit_windows * stride: it runs every window whose kept span
meets those rows (a window kept by two units runs in both; the values are the same), so
results do not depend on the unit size or the batch size.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ntscale.config import PerBaseConfig
from ntscale.errors import ConfigError
from ntscale.runner.job import row_run_summary
from ntscale.runner.job_base import JobBase
from ntscale.runner.run_plan import RunPlan

if TYPE_CHECKING:
    from ntscale.model.perbase import PerBaseSpec
    from ntscale.runner.job import UnitResult
    from ntscale.runner.perbase_worker import PerBaseWorker
    from ntscale.store import StoreLayout

log = logging.getLogger(__name__)

VALUED, TOO_SHORT = "valued", "too_short"


@dataclass(frozen=True, kw_only=True, eq=False)
class PerBasePlan:
    """Intervals on the base axis and the windows that value them (numpy, picklable).

    Attributes:
        contig, start, end: [I] the N-free intervals in plan order.
        offset: [I + 1] first base row of each interval (offset[-1] = n_bases).
        status: [I] VALUED or TOO_SHORT.
        win_contig, win_start, win_end: [W] windows.
        keep_lo, keep_hi: [W] base rows each window keeps (disjoint, covering the valued
            intervals), sorted.
    """

    contig: np.ndarray
    start: np.ndarray
    end: np.ndarray
    offset: np.ndarray
    status: np.ndarray
    win_contig: np.ndarray
    win_start: np.ndarray
    win_end: np.ndarray
    keep_lo: np.ndarray
    keep_hi: np.ndarray

    @property
    def n_bases(self) -> int:
        return int(self.offset[-1])

    def most_windows_per_unit(self, unit_bases: int) -> int:
        """The most windows one unit of `unit_bases` rows runs (`windows_for_rows`)."""
        a = np.arange(0, self.n_bases, max(1, unit_bases), dtype=np.int64)
        b = np.minimum(a + unit_bases, self.n_bases)
        lo = np.searchsorted(self.keep_hi, a, side="right")
        hi = np.searchsorted(self.keep_lo, b, side="left")
        return int((hi - lo).max()) if len(a) else 0

    def windows_for_rows(self, a: int, b: int) -> np.ndarray:
        """Indices of the windows whose kept rows meet base rows [a, b)."""
        lo = int(np.searchsorted(self.keep_hi, a, side="right"))
        hi = int(np.searchsorted(self.keep_lo, b, side="left"))
        return np.arange(lo, hi)

    def coverage(self) -> dict[str, Any]:
        """The coverage record: real (A/C/G/T) bases of the plan and how many get values."""
        lengths = self.end - self.start
        valued = int(lengths[self.status == VALUED].sum())
        real = int(lengths.sum())
        short = np.flatnonzero(self.status == TOO_SHORT)
        return {
            "real_bases": real,
            "valued_bases": valued,
            "fraction_valued": round(valued / real, 9) if real else 1.0,
            "intervals": int(len(lengths)),
            "too_short": [
                {
                    "contig": str(self.contig[i]),
                    "start": int(self.start[i]),
                    "end": int(self.end[i]),
                }
                for i in short[:100]
            ],
            "n_too_short": int(len(short)),
        }


def plan_perbase(
    intervals: list[tuple[str, int, int]],
    spec: PerBaseSpec,
    *,
    window_bp: int,
    overlap_bp: int | None,
) -> PerBasePlan:
    """Tile N-free intervals into windows `spec` accepts (see the module docstring)."""
    from ntscale.genome.perbase_tiling import plan_perbase_tiles

    m = spec.multiple_bp
    n = len(intervals)
    contig = np.array([c for c, _, _ in intervals] or [""], dtype=str)[:n]
    start = np.array([s for _, s, _ in intervals], np.int64)
    end = np.array([e for _, _, e in intervals], np.int64)
    offset = np.concatenate([[0], np.cumsum(end - start)]).astype(np.int64)
    status = np.where(end - start >= spec.min_window_bp, VALUED, TOO_SHORT).astype(str)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("c", "s", "e", "lo", "hi")}
    # one tiling per window length: full windows, or the longest accepted one that fits
    eff = np.minimum(window_bp, (end - start) // m * m)
    for w in sorted({int(x) for x in eff[status == VALUED]}):
        idx = np.flatnonzero((eff == w) & (status == VALUED))
        overlap = overlap_bp if overlap_bp is not None and overlap_bp < w else w // 2
        tiles = plan_perbase_tiles(
            [intervals[i] for i in idx], window_bp=w, stride_bp=max(1, w - overlap), k=1
        )
        iv = idx[tiles.interval]
        base = offset[iv] - start[iv]
        cols["c"].append(tiles.contig)
        cols["s"].append(tiles.start)
        cols["e"].append(tiles.end)
        cols["lo"].append(tiles.keep_start + base)
        cols["hi"].append(tiles.keep_end + base)
    cat = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in cols.items()}
    order = np.argsort(cat["lo"], kind="stable")
    return PerBasePlan(
        contig=contig,
        start=start,
        end=end,
        offset=offset,
        status=status,
        win_contig=np.asarray(cat["c"], dtype=str)[order] if len(order) else np.zeros(0, str),
        win_start=cat["s"][order],
        win_end=cat["e"][order],
        keep_lo=cat["lo"][order],
        keep_hi=cat["hi"][order],
    )


def _intervals(config: PerBaseConfig, fasta: Any) -> list[tuple[str, int, int]]:
    """The N-free intervals of the run's regions (BED) or contigs."""
    from ntscale.genome.gaps import load_gap_index
    from ntscale.genome.perbase_tiling import nfree_intervals
    from ntscale.genome.regions import read_bed

    if config.regions:
        regions = [
            (r.contig, int(r.start), int(r.end)) for r in read_bed(config.regions, fasta.contigs)
        ]
    else:
        keep = set(config.include_contigs)
        unknown = sorted(keep - {c for c, _ in fasta.contigs})
        if unknown:
            raise ConfigError(f"include_contigs {unknown} are not in {config.fasta}")
        regions = [(c, 0, int(n)) for c, n in fasta.contigs if not keep or c in keep]
    gaps = load_gap_index(fasta)
    return nfree_intervals(regions, gaps.contig_runs)


@dataclass(frozen=True, kw_only=True)
class PerBaseJob(JobBase):
    """A planned per-base run (see the module docstring)."""

    KIND: ClassVar[str] = "perbase"
    AXIS: ClassVar[str] = "bases"
    ROWS: ClassVar[str] = "bases"

    config: PerBaseConfig
    plan: PerBasePlan
    spec: PerBaseSpec
    stride_bp: int
    samples: tuple[str, ...] = ()  # haplotype input (--vcf): the chosen samples

    @classmethod
    def plan_from_config(cls, config: PerBaseConfig, *, command_line: str = "") -> PerBaseJob:
        """Describe the model (no parameters), find the N-free intervals, tile them."""
        from ntscale.genome import FastaSource
        from ntscale.model import describe
        from ntscale.model.ntv3 import describe_ntv3, is_ntv3_source
        from ntscale.model.perbase import perbase_spec
        from ntscale.runner.batch_table import resolve_batch_size
        from ntscale.runner.precision import resolve_dtype, run_backend

        ntv3 = is_ntv3_source(config.model)
        info = describe_ntv3(config.model) if ntv3 else describe(config.model)
        spec = perbase_spec(info.config, species=config.species, tracks=config.track_names)
        window = config.window_bp or spec.default_window_bp
        spec.check_window(window)
        overlap = config.overlap_bp if config.overlap_bp is not None else window // 2
        if not 0 <= overlap < window:
            raise ConfigError(f"overlap_bp must be in 0..{window - 1}, got {overlap}")
        fasta = FastaSource(config.fasta)
        plan = plan_perbase(_intervals(config, fasta), spec, window_bp=window, overlap_bp=overlap)
        samples: tuple[str, ...] = ()
        if config.vcf:
            from ntscale.genome.vcz import open_variant_reader

            # checked before the store is made: samples, GT, contig names
            samples = open_variant_reader(
                config.vcf,
                samples=config.samples or None,
                fasta_contigs=fasta.contig_names,
                contig_map=config.contig_map or None,
            ).samples
        dtype = resolve_dtype(config.execution).dtype
        run = RunPlan(
            model=info,
            dtype=dtype,
            # the user's, else the table's for the window's tokens (runner/batch_table.py)
            batch_size=resolve_batch_size(
                config.execution.batch_size,
                platform=lambda: run_backend(config.execution),
                dtype=dtype,
                tokens=window // info.config.k + 2,
            ),
            window_bp=window,
            stride_bp=window - overlap,
            layers=(),
            strands=("+",),
        )
        return cls(
            config=config,
            run=run,
            plan=plan,
            spec=spec,
            stride_bp=window - overlap,
            samples=tuple(samples),
            contigs=tuple(fasta.contigs),
            fai_digest=fasta.fai_digest(),
            command_line=command_line,
        )

    @property
    def haplotype_names(self) -> tuple[str, ...]:
        """'SAMPLE:phase' of each haplotype of a `--vcf` run (empty without one)."""
        from ntscale.genome import haplotype_names

        return haplotype_names(self.samples)

    def store_haplotype_names(self) -> list[str] | None:
        return list(self.haplotype_names) if self.samples else None

    @property
    def n_rows(self) -> int:
        return self.plan.n_bases

    @property
    def unit_size(self) -> int:
        return self.config.unit_windows * self.stride_bp

    def unit_bp(self, unit: int) -> int:
        return self.unit_rows(unit)

    def layout(self) -> StoreLayout:
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=0,
            unit_windows=1,
            n_bases=max(self.n_rows, 1),
            unit_bases=self.unit_size,
            track_names=self.spec.track_names,
            base_dtype=self.config.value_dtype,
            n_intervals=len(self.plan.start),
            base_haplotypes=len(self.haplotype_names),
            # segments a unit may write: one per window it runs (at least 1)
            base_hap_segments=(
                max(1, self.plan.most_windows_per_unit(self.unit_size)) if self.samples else 0
            ),
        )

    def own_fingerprint(self) -> dict:
        p = self.plan
        text = "".join(f"{c}\t{s}\t{e}\n" for c, s, e in zip(p.contig, p.start, p.end, strict=True))
        out = {
            "intervals_digest": hashlib.sha256(text.encode()).hexdigest(),
            "overlap_bp": self.run.window_bp - self.stride_bp,
            "value_dtype": self.config.value_dtype,
        }
        if self.samples:
            from ntscale.genome.identity import genotypes_identity

            c = self.config
            out["vcf"] = genotypes_identity(c.vcf)
            out["haplotypes"] = {
                "samples_digest": hashlib.sha256("\n".join(self.samples).encode()).hexdigest(),
                "unphased": c.unphased,
                "ref_mismatch": c.ref_mismatch,
            }
        return out

    def own_attrs(self) -> dict:
        c = self.config
        return {
            "perbase": {
                "window_bp": self.run.window_bp,
                "stride_bp": self.stride_bp,
                "overlap_bp": self.run.window_bp - self.stride_bp,
                "n_windows": len(self.plan.win_start),
                "track_names": list(self.spec.track_names),
                "stitching": "each base from the window whose centre is nearest (ties: left)",
                "value_dtype": c.value_dtype,
                "threshold": c.threshold,
            },
            "regions": {"name": Path(c.regions).name} if c.regions else None,
            "perbase_haplotypes": (
                {
                    "vcf": Path(c.vcf).name,
                    "n_haplotypes": len(self.haplotype_names),
                    "coordinates": "reference (values lifted through each haplotype's "
                    "coordinate map; inserted bases dropped, deleted bases NaN)",
                    "unphased": c.unphased,
                    "ref_mismatch": c.ref_mismatch,
                }
                if self.samples
                else None
            ),
            # not `coverage`, whose form (windows per track) `embed` owns
            "perbase_coverage": self.plan.coverage(),
        }

    def prepare_more(self) -> None:
        from ntscale.store import open_writer

        p = self.plan
        open_writer(self.store_url).write_intervals(
            {
                "contig": p.contig,
                "start": p.start,
                "end": p.end,
                "offset": p.offset[:-1],
                "status": p.status,
            }
        )

    def run_summary(self, results: list[UnitResult], seconds: float) -> dict:
        out = row_run_summary(results, seconds, rows=self.ROWS)
        # windows through the model (with --vcf: each distinct sequence of a window once)
        out["forward_passes"] = sum(int(r.forward_windows or 0) for r in results)
        return out

    def finish_more(self, results: list[UnitResult]) -> dict:
        return {"coverage": None, "perbase_coverage": self.plan.coverage()}

    def open_worker(self) -> PerBaseWorker:
        from ntscale.runner.perbase_worker import PerBaseWorker

        return PerBaseWorker(self)


__all__ = ["TOO_SHORT", "VALUED", "PerBaseJob", "PerBasePlan", "plan_perbase"]
