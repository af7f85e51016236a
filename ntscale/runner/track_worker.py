"""The track worker: one wild-type pass per tile, per-base LLR summaries written per unit."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from ntscale.config import STRAND_SETS
from ntscale.runner.job import UnitResult
from ntscale.runner.pass_runner import PassRunner, RowCount
from ntscale.runner.worker_setup import ModelWorker

if TYPE_CHECKING:
    from ntscale.runner.track_job import TrackJob


class TrackWorker(ModelWorker):
    """Runs track units: the shared set-up (`ModelWorker`, input: the FASTA) plus the
    pass runner."""

    def __init__(self, job: TrackJob) -> None:
        super().__init__(job)
        self.runner = PassRunner(
            self.model,
            (),
            batch_size=job.run.batch_size,
            lock=self.device,
            sharding=self.sharding,
        )

    def __call__(self, unit: int) -> UnitResult:
        from ntscale.scoring.passes import PassPlan
        from ntscale.tokenizer import reverse_complement
        from ntscale.types import ScoreStatus

        t0 = time.perf_counter()
        job, tok = self.job, self.model.tokenizer
        a, b = job.unit_range(unit)
        n = b - a
        strands = STRAND_SETS[job.config.strands]
        contig_col = np.empty(n, dtype=object)
        pos = np.zeros(n, np.int64)
        ref = np.full(n, "N", dtype=object)
        status = np.full(n, int(ScoreStatus.OK), np.uint8)
        llr = np.full((n, 3), np.nan, np.float64)
        logp = np.full(n, np.nan, np.float64)
        plan, tiles = PassPlan(), []
        for contig, s, e, row in job.segments(a, b):
            bases = np.arange(s, e)
            rows = np.arange(row, row + e - s) - a
            contig_col[rows], pos[rows] = contig, bases
            ref[rows] = list(self.input().fetch(contig, s, e).upper())
            which = job.tiles.tile_of(contig, bases)
            # Not in any N-free tile: an N or another IUPAC letter (the gap index's runs).
            status[rows[which < 0]] = ScoreStatus.ALLELE_NOT_ACGT
            for k in np.unique(which[which >= 0]):
                tile = job.tiles.tile(int(k))
                ws, we = tile.start, tile.end
                seq = self.input().fetch(contig, ws, we).upper()
                sel = rows[which == k]
                pids = []
                for strand in strands:
                    sseq = seq if strand == "+" else reverse_complement(seq)
                    ids = tok.encode(sseq)
                    if len(ids) > job.max_tokens:  # an N-free tile never is: the plan's budget
                        raise RuntimeError(f"tile {contig}:{ws}-{we} over the token budget")
                    pid = plan.add(("ref", contig, strand, ws), ids)
                    plan.keep_table(pid)
                    pids.append((pid, tok.token_spans(sseq), strand == "-"))
                tiles.append((ws, seq, sel, pids))
        rows = RowCount()
        results, model_seconds = self.runner.run(plan.passes, rows)
        for ws, seq, sel, pids in tiles:
            per_base = _tile_values(seq, pos[sel] - ws, results, pids)
            llr[sel], logp[sel] = per_base
        bad = ~np.isfinite(logp) & (status == ScoreStatus.OK)
        status[bad] = ScoreStatus.ALLELE_NOT_ACGT  # N (or no table entry): no values
        with np.errstate(invalid="ignore"):
            scores = {
                "llr_min": np.min(llr, axis=1),
                "llr_mean": np.mean(llr, axis=1),
                "llr_max": np.max(llr, axis=1),
                "logp_wt": logp,
            }
        variants = {
            "contig": contig_col.astype(str),
            "pos": pos,
            "id": np.full(n, "", dtype=str),
            "ref": ref.astype(str),
            "alt": np.full(n, ".", dtype=str),
            "status": status,
        }
        nbytes = self.writer.write_variant_unit(unit, variants=variants, scores=scores)
        self.writer.mark_done(unit, part="variants")
        counts = Counter(ScoreStatus(int(x)).name.lower() for x in status)
        return UnitResult(
            unit=unit,
            n_rows=n,
            status_counts=dict(counts),
            bp=n,
            model_seconds=model_seconds,
            seconds=time.perf_counter() - t0,
            bytes_written=int(nbytes),
            device_rows=rows.device,
            useful_rows=rows.useful,
        )


def _tile_values(
    seq: str, offsets: np.ndarray, results: list, pids: list
) -> tuple[np.ndarray, np.ndarray]:
    """([m, 3] per-ALT LLR, [m] logp_wt) of bases at `offsets` of one tile, strand means."""
    from ntscale.scoring.calibration import COMPLEMENT_CODES as _COMP
    from ntscale.scoring.calibration import codes

    c = codes(seq)[offsets].astype(np.int64)
    good = c >= 0
    c = np.where(good, c, 0)
    alts = (c[:, None] + np.arange(1, 4)[None, :]) % 4  # ALT order: the next bases in ACGT
    llr = np.zeros((len(offsets), 3), np.float64)
    logp = np.zeros(len(offsets), np.float64)
    n = len(seq)
    for pid, (starts, _lengths), rev in pids:
        table = results[pid].full_table
        q = n - 1 - offsets if rev else offsets
        i = np.searchsorted(starts, q, side="right") - 1
        j = q - starts[i]
        r, a = (_COMP[c], _COMP[alts]) if rev else (c, alts)
        rows = table[i + 1, j]  # [m, 4]
        ref_lp = rows[np.arange(len(q)), r]
        llr += np.take_along_axis(rows, a, axis=1) - ref_lp[:, None]
        logp += ref_lp
    llr /= len(pids)
    logp /= len(pids)
    llr[~good] = np.nan
    logp[~good] = np.nan
    return llr, logp


__all__ = ["TrackWorker"]
