"""The per-base worker: the windows of one unit through a `PerBaseModel`, kept rows written.

Windows of one length run together in batches of `batch_size` (a short last batch is
filled with copies of its last window, whose outputs are dropped), so every window is one
row of a same-shaped forward pass: its values do not depend on the batch it ran in.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ntscale.runner.job import UnitResult

if TYPE_CHECKING:
    from ntscale.runner.perbase_job import PerBaseJob
    from ntscale.store.perbase_haps import HapSegments

log = logging.getLogger(__name__)


class PerBaseWorker:
    """Runs per-base units: holds the model, the store writer and per-thread FASTA handles."""

    def __init__(self, job: PerBaseJob, model: Any = None) -> None:
        from ntscale.model.perbase import open_perbase_model
        from ntscale.store import open_writer

        self.job = job
        t0 = time.perf_counter()
        c = job.config
        self.model = model or open_perbase_model(
            c.model, dtype=job.run.dtype, species=c.species, tracks=c.track_names
        )
        log.info("per-base model %s ready in %.1f s", self.model.name, time.perf_counter() - t0)
        self.writer = open_writer(job.store_url)
        self.device = threading.Lock()
        self._local = threading.local()

    def input(self) -> Any:
        """This thread's FASTA handle (htslib handles are not thread-safe)."""
        handle = getattr(self._local, "input", None)
        if handle is None:
            from ntscale.genome import FastaSource

            handle = self._local.input = FastaSource(self.job.config.fasta)
        return handle

    def haplotypes(self) -> Any:
        """This thread's `WindowSource` with the VCF (haplotype input)."""
        src = getattr(self._local, "haplotypes", None)
        if src is None:
            from ntscale.genome import HaplotypePolicy, WindowSource

            c = self.job.config
            src = self._local.haplotypes = WindowSource(
                c.fasta,
                tokenizer="v2",  # counts only; per-base windows are fitted here, never shrunk
                max_tokens=2**62,
                vcf_path=c.vcf,
                samples=list(self.job.samples),
                policy=HaplotypePolicy(unphased=c.unphased, ref_mismatch=c.ref_mismatch),
                contig_map=c.contig_map or None,
            )
        return src

    def predict_windows(self, seqs: list[str]) -> list[np.ndarray]:
        """[n_i, n_tracks] float32 values of each window, batched by length."""
        batch = self.job.run.batch_size
        out: list[np.ndarray | None] = [None] * len(seqs)
        by_len: dict[int, list[int]] = {}
        for i, s in enumerate(seqs):
            by_len.setdefault(len(s), []).append(i)
        for idx in by_len.values():
            for j in range(0, len(idx), batch):
                part = idx[j : j + batch]
                rows = [seqs[i] for i in part]
                rows += [rows[-1]] * (batch - len(rows))  # fixed shape: one program
                with self.device:
                    values = self.model.predict(rows)
                for k, i in enumerate(part):
                    out[i] = values[k]
        return out  # type: ignore[return-value]

    def __call__(self, unit: int) -> UnitResult:
        t0 = time.perf_counter()
        job, plan = self.job, self.job.plan
        a, b = job.unit_range(unit)
        n_tracks = len(job.spec.track_names)
        values = np.full((b - a, n_tracks), np.nan, np.float32)
        wins = plan.windows_for_rows(a, b)
        hap_segments = None
        if job.samples:
            t_model = time.perf_counter()
            n_forward, model_seconds, hap_segments = self._haplotype_unit(wins, a, b, values)
        else:
            seqs = [
                self.input()
                .fetch(str(plan.win_contig[w]), int(plan.win_start[w]), int(plan.win_end[w]))
                .upper()
                for w in wins
            ]
            t_model = time.perf_counter()
            outs = self.predict_windows(seqs) if seqs else []
            model_seconds = time.perf_counter() - t_model
            n_forward = len(seqs)
            for w, v in zip(wins, outs, strict=True):
                lo, hi, first_row = self._kept(w, a, b)
                values[lo - a : hi - a] = v[lo - first_row : hi - first_row]
        nbytes = self.writer.write_base_unit(unit, values, hap_segments)
        self.writer.mark_done(unit, part="bases")
        valued = int(np.isfinite(values[:, 0]).sum()) if n_tracks else 0
        counts = {"valued": valued}
        if b - a - valued:
            counts["no_value"] = b - a - valued
        return UnitResult(
            unit=unit,
            n_rows=b - a,
            status_counts=counts,
            bp=b - a,
            model_seconds=model_seconds,
            seconds=time.perf_counter() - t0,
            bytes_written=int(nbytes),
            forward_windows=n_forward,
        )

    def _kept(self, w: int, a: int, b: int) -> tuple[int, int, int]:
        """Rows [lo, hi) of [a, b) that window w keeps, and the row of its first base."""
        plan = self.job.plan
        lo, hi = max(int(plan.keep_lo[w]), a), min(int(plan.keep_hi[w]), b)
        # window base i sits at row first_row + i, first_row = keep_lo - (keep start - start)
        return lo, hi, int(plan.keep_lo[w]) - self._keep_offset(w)

    def _haplotype_unit(
        self, wins: np.ndarray, a: int, b: int, values: np.ndarray
    ) -> tuple[int, float, HapSegments]:
        """Reference and haplotype values of one unit's windows, one forward pass per
        distinct (fitted) sequence of each window; values lifted to reference coordinates.

        Each window's kept rows are one segment; each distinct non-reference sequence of
        it has its values kept once (`HapSegments`), a haplotype of the reference's
        sequence points at the reference values. Returns (forward passes, model seconds,
        segments).
        """
        from ntscale.genome.perbase_haplotypes import fit_haplotype, lift_to_reference
        from ntscale.store.perbase_haps import HapSegments
        from ntscale.store.schema import HAP_ROW_NONE, HAP_ROW_REFERENCE

        plan, spec = self.job.plan, self.job.spec
        src = self.haplotypes()
        n_forward, model_seconds = 0, 0.0
        starts, ends, rows, parts = [], [], [], []
        n_rows = 0
        for w in wins:
            contig, s, e = str(plan.win_contig[w]), int(plan.win_start[w]), int(plan.win_end[w])
            lo, hi, first_row = self._kept(w, a, b)
            keeps_end = int(plan.keep_hi[w]) - first_row == e - s  # keeps its last base
            patterns, inverse = src.fetch_haplotype_patterns(contig, s, e)
            ref = src.fasta.fetch(contig, s, e).upper()
            distinct: dict[str, int] = {ref: 0}
            seqs, maps = [ref], [np.arange(s, e, dtype=np.int64)]
            pattern_slot = np.full(len(patterns), -1, np.int64)  # -1: no value
            for p, ws in enumerate(patterns):
                fitted = fit_haplotype(ws, spec, keeps_end=keeps_end)
                if fitted is None:
                    continue
                seq, cmap = fitted
                slot = distinct.get(seq)
                if slot is None:
                    slot = distinct[seq] = len(seqs)
                    seqs.append(seq)
                    maps.append(cmap)
                pattern_slot[p] = slot
            t0 = time.perf_counter()
            outs = self.predict_windows(seqs)
            model_seconds += time.perf_counter() - t0
            n_forward += len(seqs)
            keep = slice(lo - first_row, hi - first_row)
            slot_of_hap = pattern_slot[inverse]  # [H], -1: no value (left NaN)
            row = np.where(slot_of_hap == 0, HAP_ROW_REFERENCE, HAP_ROW_NONE).astype(np.int64)
            for d, (v, m) in enumerate(zip(outs, maps, strict=True)):
                lifted = lift_to_reference(v, m, s, e)[keep]
                if d == 0:
                    values[lo - a : hi - a] = lifted
                    continue
                haps = slot_of_hap == d
                if haps.any():  # stored once, whatever the number of its haplotypes
                    row[haps] = n_rows
                    parts.append(lifted)
                    n_rows += hi - lo
            starts.append(lo)
            ends.append(hi)
            rows.append(row)
        n_tracks = values.shape[1]
        segments = HapSegments(
            start=np.asarray(starts, np.int64),
            end=np.asarray(ends, np.int64),
            row=np.stack(rows) if rows else np.zeros((0, len(self.job.haplotype_names)), np.int64),
            values=np.concatenate(parts) if parts else np.zeros((0, n_tracks), np.float32),
        )
        return n_forward, model_seconds, segments

    def _keep_offset(self, w: int) -> int:
        """Bases between window w's start and the first base it keeps."""
        plan = self.job.plan
        i = int(np.searchsorted(plan.offset, plan.keep_lo[w], side="right")) - 1
        keep_start_pos = int(plan.start[i]) + int(plan.keep_lo[w]) - int(plan.offset[i])
        return keep_start_pos - int(plan.win_start[w])


__all__ = ["PerBaseWorker"]
