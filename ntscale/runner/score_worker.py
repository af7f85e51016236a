"""The scoring worker: one process's model, FASTA and store writer; runs variant units.

Per unit: fetch each row's window(s) (pysam) -> build ref/alt sequences per strand ->
tokenize -> register the forward passes it needs in a `PassPlan` (shared by key) ->
run the passes in fixed-shape batches, reductions on the device -> combine scores ->
write the unit's rows -> mark it done.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np

from ntscale.runner.job import UnitResult
from ntscale.runner.pass_runner import PassRunner
from ntscale.runner.score_calibration import BACKGROUND_ARRAY, TileBackgrounds
from ntscale.runner.worker_setup import ModelWorker
from ntscale.scoring.scores import POSITION_NAMES

ROW_INFO = (*POSITION_NAMES, "stratum_llr_wt")
"""Per-row values stored beside the scores that are not scores (filled by the worker)."""

ACGT = frozenset("ACGT")

FLAT_ROWS = 32
"""Rows planned and run together when token embeddings come back for flattened distances."""


class ScoreWorker(ModelWorker):
    """Runs variant units: the shared set-up (`ModelWorker`, input: the FASTA) plus the
    pass runner and the calibration's tile owners."""

    def __init__(self, job: object) -> None:
        super().__init__(job)
        self._count = threading.Lock()
        self.passes_run = 0  # forward passes (batch rows) run by this worker, all units
        self._owners: dict | None = None  # calibration: tile -> owning row
        self.runner = PassRunner(
            self.model, job.layers, batch_size=job.config.execution.batch_size, lock=self.device
        )

    def encode(self, seq: str) -> np.ndarray:
        """Token ids of a window as this job tokenizes it (collapse_n or not)."""
        from ntscale.tokenizer import collapse_n_kmers

        tok = self.tokenizer
        return tok.encode(collapse_n_kmers(seq) if self.job.config.collapse_n else seq)

    def spans(self, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """(starts, lengths) of the tokens of `encode(seq)` after CLS, in `seq`."""
        from ntscale.tokenizer import collapsed_spans

        if self.job.config.collapse_n:
            return collapsed_spans(len(seq))
        return self.tokenizer.token_spans(seq)

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
        # Flattened distances bring every token's embedding to the host: plan and run the
        # unit in slices of rows so that only a slice's embeddings are held at once.
        step = FLAT_ROWS if {"flat", "aligned"} & set(job.kinds) else b - a
        background: list = []  # calibration: (llr, stratum) of the owned tiles
        for lo in range(0, b - a, step):
            hi = min(lo + step, b - a)
            plan, items, positions = PassPlan(by_content=job.config.share_windows), [], {}
            for r in range(lo, hi):
                if ScoreStatus(int(status[r])).scored:
                    code = self._plan_row(
                        (t, w), off + r, r - lo, plan, items, int(status[r]), positions
                    )
                    status[r] = code
            tiles = None
            if job.config.calibrate:
                tiles = TileBackgrounds(self, (a, b))
                tiles.plan(plan, range(a + lo, a + hi))
            results, seconds = self.runner.run(plan.passes)
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
        )

    def _plan_row(
        self,
        rows: tuple,
        row: int,
        r: int,
        plan: object,
        items: list,
        status: int,
        positions: dict,
    ) -> int:
        """Build one row's windows and register its passes; returns its final status.

        `rows` is (table, windows) holding the row at index `row`.

        `positions[r]` gets (bp from the window's centre position, base inside its token)
        of an SNV or MNV on the first strand.
        """
        from ntscale.genome.variant_windows import K, centre_offset, variant_sequences
        from ntscale.runner.score_calibration import row_stratum
        from ntscale.scoring import complement, token_at, token_weights
        from ntscale.scoring.passes import Item
        from ntscale.scoring.scores import aligned_pairs
        from ntscale.tokenizer import reverse_complement
        from ntscale.types import ScoreStatus

        job, tok = self.job, self.tokenizer
        t, w = rows
        contig, pos = str(t.contig[row]), int(t.pos[row])
        ref, alt = str(t.ref[row]), str(t.alt[row])
        snv = len(ref) == 1 and len(alt) == 1
        mnv = len(ref) == len(alt) and len(ref) > 1
        strand0 = w.strands[0]
        one_kmer = 0  # strands on which an MNV lies inside one 6-mer
        distances = any(k in job.kinds for k in ("l2", "cosine", "flat", "aligned"))
        flat = "flat" in job.kinds or "aligned" in job.kinds
        encode, spans = self.encode, self.spans

        share = () if job.config.share_windows else (row,)
        staged = []
        short = False
        fetched: dict[tuple[int, int], object] = {}
        for j, strand in enumerate(w.strands):
            ws, we = int(w.start[row, j]), int(w.end[row, j])
            vs = fetched.get((ws, we))
            if vs is None:
                vs = fetched[(ws, we)] = variant_sequences(
                    self._fasta(), contig, ws, we, pos=pos, ref=ref, alt=alt
                )
            if not vs.ref_matches:
                return int(ScoreStatus.REF_MISMATCH)
            short |= vs.short
            rseq, aseq, o = vs.ref_seq, vs.alt_seq, vs.offset
            ao = vs.alt_offset
            r_iv, a_iv = (o, o + len(ref)), (ao, ao + len(alt))
            rb, ab = ref, alt
            if strand == "-":
                rseq, aseq = reverse_complement(rseq), reverse_complement(aseq)
                r_iv = (len(rseq) - r_iv[1], len(rseq) - r_iv[0])
                a_iv = (len(aseq) - a_iv[1], len(aseq) - a_iv[0])
                if snv:
                    rb, ab = complement(ref), complement(alt)
            rtok = encode(rseq)
            atok = encode(aseq) if distances else None
            if len(rtok) > job.max_tokens or (atok is not None and len(atok) > job.max_tokens):
                return int(ScoreStatus.OVER_TOKEN_LIMIT)
            staged.append((j, ws, we, rseq, aseq, rtok, atok, r_iv, a_iv, rb, ab))
        for j, ws, we, rseq, aseq, rtok, atok, r_iv, a_iv, rb, ab in staged:
            ref_key = ("ref", contig, j, ws, we, *share)
            ref_pass = plan.add(ref_key, rtok)
            fields: dict = {"row": r, "strand": j, "ref_pass": ref_pass}
            starts, lengths = spans(rseq) if distances or snv or mnv else (None, None)
            if distances:
                fields["ref_pool"] = plan.pool(ref_pass, token_weights(starts, lengths, *r_iv))
                alt_pass = plan.add(("alt", contig, j, ws, we, pos, ref, alt, *share), atok)
                if flat:
                    plan.keep_tokens(ref_pass)
                    plan.keep_tokens(alt_pass)
                a_starts, a_lengths = spans(aseq)
                if "aligned" in job.kinds:
                    fields["aligned"] = aligned_pairs(
                        (starts, lengths), (a_starts, a_lengths), r_iv, a_iv
                    )
                fields["alt_pass"] = alt_pass
                fields["alt_pool"] = plan.pool(alt_pass, token_weights(a_starts, a_lengths, *a_iv))
            token = offset = last = -1
            if snv or mnv:
                try:
                    token, offset = token_at(starts, lengths, r_iv[0])
                    last, _ = token_at(starts, lengths, r_iv[1] - 1)
                except ValueError:  # collapse_n on a short contig: SNV in the dropped tail
                    token = -1
                if j == 0 and token >= 0:
                    stratum = np.nan
                    if job.config.calibrate and snv and int(lengths[token - 1]) == K:
                        fwd = fetched[(ws, we)]
                        stratum = row_stratum(fwd.ref_seq, fwd.offset, ref, alt, offset)
                    shift = pos - ws - centre_offset(w.window_bp, strand0 == "-")
                    positions[r] = (shift, offset, stratum)
            if mnv and token >= 0:
                # an MNV inside one 6-mer: the masked LLR of the whole 6-mer
                s0 = int(starts[token - 1])
                rk, ak = rseq[s0 : s0 + K], aseq[s0 : s0 + K]
                if last == token and int(lengths[token - 1]) == K and set(rk + ak) <= ACGT:
                    fields.update(ref_kmer=tok.token_to_id(rk), alt_kmer=tok.token_to_id(ak))
                    one_kmer += 1
                else:
                    token = -1
            if token >= 0 and (snv or mnv):
                fields.update(token=token, offset=offset)
                if snv:
                    fields.update(ref_base=rb, alt_base=ab)
                if snv and "llr_wt" in job.kinds:
                    plan.read_table(ref_pass, token)
                if "llr_masked" in job.kinds:
                    masked = rtok.copy()
                    masked[token] = tok.mask_id
                    mpass = plan.add(
                        ("masked", contig, j, ws, we, token, *share), masked, table_tokens=rtok
                    )
                    plan.read_table(mpass, token)
                    fields["masked_pass"] = mpass
            items.append(Item(**fields))
        if short:
            return int(ScoreStatus.ALT_WINDOW_SHORT)
        if one_kmer == len(staged) and status == ScoreStatus.NO_LLR_NOT_SNV:
            return int(ScoreStatus.MNV_ONE_KMER)
        return status
