"""The scoring worker: one process's model, FASTA and store writer; runs variant units.

Per unit: fetch each row's window(s) (pysam) -> plan the row's forward passes on each
strand (`ntscale.scoring.row_plan`, pure; passes shared by content in a `PassPlan`) ->
run the passes in fixed-shape batches, reductions on the device (`PassRunner`) ->
combine scores -> write the unit's rows -> mark it done.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np

from ntscale.runner.job import UnitResult
from ntscale.runner.pass_runner import PassRunner, RowCount
from ntscale.runner.score_calibration import BACKGROUND_ARRAY, TileBackgrounds
from ntscale.runner.worker_setup import ModelWorker
from ntscale.scoring.row_plan import RowPlan, RowSettings, WindowTokens
from ntscale.scoring.scores import POSITION_NAMES

ROW_INFO = (*POSITION_NAMES, "stratum_llr_wt")
"""Per-row values stored beside the scores that are not scores (filled by the worker)."""

FLAT_ROWS = 32
"""Rows planned and run together when token embeddings come back for flattened distances."""


SNV_SCORED = ("OK", "OFF_CENTRE", "TILED_OFF_CENTRE")  # SNV statuses that carry LLRs


class ScoreWorker(ModelWorker):
    """Runs variant units: the shared set-up (`ModelWorker`, input: the FASTA) plus the
    pass runner and the calibration's tile owners."""

    def __init__(self, job: object) -> None:
        super().__init__(job)
        self._count = threading.Lock()
        self.passes_run = 0  # forward passes (batch rows) run by this worker, all units
        self._owners: dict | None = None  # calibration: tile -> owning row
        self.runner = PassRunner(
            self.model,
            job.layers,
            batch_size=job.run.batch_size,
            lock=self.device,
            sharding=self.sharding,
        )
        self.tokens = WindowTokens(self.tokenizer, job.config.collapse_n)
        self.row_settings = RowSettings(
            kinds=frozenset(job.kinds),
            max_tokens=job.max_tokens,
            share_windows=job.config.share_windows,
        )

    def encode(self, seq: str) -> np.ndarray:
        """Token ids of a window as this job tokenizes it (collapse_n or not)."""
        return self.tokens.encode(seq)

    def spans(self, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """(starts, lengths) of the tokens of `encode(seq)` after CLS, in `seq`."""
        return self.tokens.spans(seq)

    def tile_owners(self) -> dict:
        """(contig, tile start) -> owning row, computed once per worker."""
        from ntscale.runner.score_calibration import tile_owners

        with self._count:
            if self._owners is None:
                self._owners = tile_owners(self.job)
        return self._owners

    def _fasta(self):
        """This thread's FASTA (also read by `TileBackgrounds`)."""
        return self.input()

    def __call__(self, unit: int) -> UnitResult:
        from ntscale.scoring.passes import PassPlan, combine_scores
        from ntscale.types import ScoreStatus

        t0 = time.perf_counter()
        job = self.job
        a, b = job.unit_range(unit)
        t, w, off = job.unit_table(unit)  # the unit's rows are off .. off + b - a of t, w
        status = w.status[off : off + b - a].copy()
        scores = {n: np.full(b - a, np.nan, np.float32) for n in job.names}
        model_seconds = 0.0
        counted = RowCount()  # device rows run vs useful, over the unit's slices
        # Flattened distances bring every token's embedding to the host: plan and run the
        # unit in slices of rows so that only a slice's embeddings are held at once.
        step = FLAT_ROWS if {"flat", "aligned"} & set(job.kinds) else b - a
        background: list = []  # calibration: (llr, stratum) of the owned tiles
        for lo in range(0, b - a, step):
            hi = min(lo + step, b - a)
            plan, items, positions = PassPlan(by_content=job.config.share_windows), [], {}
            for r in range(lo, hi):
                if ScoreStatus(int(status[r])).scored:
                    rp, position = self._plan_row(t, w, off + r, r - lo, plan, int(status[r]))
                    status[r] = rp.status
                    items.extend(rp.items)
                    if position is not None:
                        positions[r - lo] = position
            tiles = None
            if job.config.calibrate:
                tiles = TileBackgrounds(self, (a, b))
                tiles.plan(plan, range(a + lo, a + hi))
            results, seconds = self.runner.run(plan.passes, counted)
            if tiles is not None:
                background.append(tiles.background(results))
            model_seconds += seconds
            with self._count:
                self.passes_run += len(plan)
            part = combine_scores(
                items,
                results,
                n_rows=hi - lo,
                names=tuple(n for n in job.names if n not in ROW_INFO),
                layers=job.layers,
                strands=w.strands,
            )
            for n in part:
                scores[n][lo:hi] = part[n]
            for r, (shift, base, stratum) in positions.items():
                for name, value in zip(ROW_INFO, (shift, base, stratum), strict=True):
                    if name in scores:
                        scores[name][lo + r] = value
        mark_n_in_kmer(status, scores)
        rows = slice(off, off + b - a)
        variants = {
            "contig": t.contig[rows],
            "pos": t.pos[rows],
            "id": t.id[rows],
            "ref": t.ref[rows],
            "alt": t.alt[rows],
            "status": status,
        }
        nbytes = self.writer.write_variant_unit(unit, variants=variants, scores=scores)
        if job.config.calibrate:
            from ntscale.scoring.calibration import histogram
            from ntscale.store.unit_blocks import write_unit_block

            llr = np.concatenate([x for x, _ in background])
            stratum = np.concatenate([y for _, y in background])
            hist = histogram(llr, stratum)
            self.writer.check_lease()  # a run that lost its lease writes nothing more
            nbytes += write_unit_block(job.store_url, BACKGROUND_ARRAY, unit, hist)
        self.writer.mark_done(unit, part="variants")

        counts = Counter(ScoreStatus(int(s)).name.lower() for s in status)
        return UnitResult(
            unit=unit,
            n_rows=b - a,
            status_counts=dict(counts),
            model_seconds=model_seconds,
            seconds=time.perf_counter() - t0,
            bytes_written=int(nbytes),
            device_rows=counted.device,
            useful_rows=counted.useful,
        )

    def _plan_row(
        self, t: object, w: object, row: int, r: int, plan: object, status: int
    ) -> tuple[RowPlan, tuple[float, float, float] | None]:
        """Fetch one row's windows and plan its passes (`ntscale.scoring.row_plan`).

        Returns:
            (the row's plan, None or its (bp from the window's centre position, base inside
            its token, calibration stratum) on the first strand, for an SNV or MNV).
        """
        from ntscale.genome.variant_windows import centre_offset, variant_sequences
        from ntscale.runner.score_calibration import row_stratum
        from ntscale.scoring.row_plan import Variant, plan_row

        v = Variant(
            contig=str(t.contig[row]),
            pos=int(t.pos[row]),
            ref=str(t.ref[row]),
            alt=str(t.alt[row]),
            row=row,
        )
        fetched: dict[tuple[int, int], object] = {}  # both strands may share one window
        windows = []
        for j, strand in enumerate(w.strands):
            ws, we = int(w.start[row, j]), int(w.end[row, j])
            if (ws, we) not in fetched:
                fetched[(ws, we)] = variant_sequences(
                    self._fasta(), v.contig, ws, we, pos=v.pos, ref=v.ref, alt=v.alt
                )
            windows.append((strand, ws, we, fetched[(ws, we)]))
        rp = plan_row(
            plan, windows, v, r=r, status=status, settings=self.row_settings, tokens=self.tokens
        )
        if rp.base_in_kmer < 0:
            return rp, None
        strand0, ws0, _, fwd0 = windows[0]
        stratum = np.nan
        if self.job.config.calibrate and v.snv and rp.whole_kmer:
            stratum = row_stratum(fwd0.ref_seq, fwd0.offset, v.ref, v.alt, rp.base_in_kmer)
        shift = v.pos - ws0 - centre_offset(w.window_bp, strand0 == "-")
        return rp, (shift, rp.base_in_kmer, stratum)


def mark_n_in_kmer(status: np.ndarray, scores: dict[str, np.ndarray]) -> None:
    """SNVs scored but with every LLR NaN had an N in their 6-mer (no 6-mer token to read
    the LLR from): `no_llr_n_in_kmer`, so `ok` keeps meaning every score (docs/scoring.md)."""
    from ntscale.types import ScoreStatus

    llr = [v for n, v in scores.items() if n.startswith("llr")]
    if not llr:
        return
    snv = np.isin(status, [int(ScoreStatus[s]) for s in SNV_SCORED])
    no_llr = np.all(np.isnan(np.stack(llr)), axis=0)
    status[snv & no_llr] = ScoreStatus.NO_LLR_N_IN_KMER
