"""The scoring worker: one process's model, FASTA and store writer; runs variant units.

Per unit: fetch each row's window(s) (pysam) -> build ref/alt sequences per strand ->
tokenize -> register the forward passes it needs in a `PassPlan` (shared by key) ->
run the passes in fixed-shape batches, reductions on the device -> combine scores ->
write the unit's rows -> mark it done.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter

import numpy as np

from ntscale.runner.job import UnitResult

log = logging.getLogger(__name__)

# Jitted scoring programs, shared by every worker of this process with the same model
# shape: params are an argument, so a new worker (a resumed or second job) reuses them.
_JIT_CACHE: dict[tuple, object] = {}
_JIT_LOCK = threading.Lock()


class PassRunner:
    """Runs a list of passes through the model in batches of fixed shape.

    Batch rows are sorted by token length and padded to `bucket_length` buckets; the
    number of pooled token sets per row is padded to a power of two, so only a few
    programs are compiled per (embeddings?, table?) flavour.
    """

    def __init__(
        self,
        model: object,
        layers: tuple[int, ...],
        *,
        batch_size: int,
        lock: threading.Lock | None = None,
    ) -> None:
        self.model = model
        self.layers = layers
        self.batch_size = batch_size
        self.lock = lock or threading.Lock()

    def _fn(self, embed: bool, table: bool):
        m = self.model
        key = (m.config, m.dtype, m.attention, self.layers if embed else (), embed, table)
        with _JIT_LOCK:
            if key not in _JIT_CACHE:
                _JIT_CACHE[key] = self._make_fn(embed, table)
        return _JIT_CACHE[key]

    def _make_fn(self, embed: bool, table: bool):
        import jax

        from ntscale.model.forward import forward
        from ntscale.scoring import reduce_outputs

        # capture settings only, never the model (its params would stay alive in the cache)
        cfg, prec, att = self.model.config, self.model.precision, self.model.attention
        tok = self.model.tokenizer
        ids = {
            "pad_id": tok.pad_id,
            "cls_id": tok.cls_id,
            "kmer_offset": int(tok.kmer_ids[0]),
            "letter_ids": dict(tok.letter_ids),
        }
        layers = self.layers if embed else ()

        def run(params, tokens, weights, table_tokens):
            out = forward(
                params,
                tokens,
                config=cfg,
                precision=prec,
                attention=att,
                layers=layers,
                logits=table,
            )
            return reduce_outputs(
                out, tokens, weights, table=table, table_tokens=table_tokens, **ids
            )

        return jax.jit(run)

    def run(self, passes: list) -> tuple[list, float]:
        """One `PassResult` per pass (same order), and the seconds spent on the device."""
        import jax

        from ntscale.model import bucket_length
        from ntscale.scoring.passes import PassResult

        results: list = [None] * len(passes)
        groups: dict[tuple[bool, bool], list[int]] = {}
        for i, p in enumerate(passes):
            groups.setdefault((p.embed, p.table), []).append(i)
        pad = self.model.tokenizer.pad_id
        max_tokens = self.model.config.max_tokens
        prec = self.model.precision.matmul_precision
        B = self.batch_size
        model_seconds = 0.0
        for (embed, table), ids in groups.items():
            fn = self._fn(embed, table)
            ids.sort(key=lambda i: len(passes[i].tokens))
            for k in range(0, len(ids), B):
                chunk = ids[k : k + B]
                T = bucket_length(max(len(passes[i].tokens) for i in chunk), max_tokens)
                tokens = np.full((B, T), pad, np.int32)
                weights = table_tokens = None
                if embed:
                    G = 1 << max(0, (max(len(passes[i].pools) for i in chunk) - 1).bit_length())
                    weights = np.zeros((B, G, T), np.float32)
                if table:
                    table_tokens = np.full((B, T), pad, np.int32)
                for j, i in enumerate(chunk):
                    p = passes[i]
                    tokens[j, : len(p.tokens)] = p.tokens
                    if table:
                        ref = p.tokens if p.table_tokens is None else p.table_tokens
                        table_tokens[j, : len(ref)] = ref
                    for g, w in enumerate(p.pools):
                        weights[j, g, : len(w)] = w
                ctx = jax.default_matmul_precision(prec) if prec else contextlib.nullcontext()
                with self.lock:
                    t0 = time.perf_counter()
                    with ctx:
                        out = jax.device_get(fn(self.model.params, tokens, weights, table_tokens))
                    model_seconds += time.perf_counter() - t0
                for j, i in enumerate(chunk):
                    p = passes[i]
                    res = PassResult()
                    if embed:
                        n = len(p.pools)
                        res.mean = {L: np.asarray(v[j]) for L, v in out["mean"].items()}
                        res.pooled = {L: np.asarray(v[j, :n]) for L, v in out["pooled"].items()}
                    if table:
                        res.table = {t: np.asarray(out["table"][j, t]) for t in p.table_rows}
                    results[i] = res
        return results, model_seconds


class ScoreWorker:
    """Holds the model, the FASTA and the store writer in one process."""

    def __init__(self, job: object) -> None:
        from ntscale.model import load
        from ntscale.store import open_writer

        c = job.config
        self.job = job
        t0 = time.perf_counter()
        self.model = load(c.model, dtype="bfloat16" if c.execution.dtype == "bf16" else "float32")
        self.tokenizer = self.model.tokenizer
        log.info("model %s loaded in %.1f s", self.model.name, time.perf_counter() - t0)
        self.writer = open_writer(job.store_url)
        self._device = threading.Lock()  # one unit on the device at a time; host work overlaps
        self._count = threading.Lock()
        self._local = threading.local()  # pysam handles are not thread-safe: one per thread
        self.passes_run = 0  # forward passes (batch rows) run by this worker, all units
        self.runner = PassRunner(
            self.model, job.layers, batch_size=c.execution.batch_size, lock=self._device
        )

    def _fasta(self):
        fasta = getattr(self._local, "fasta", None)
        if fasta is None:
            from ntscale.genome import FastaSource

            fasta = self._local.fasta = FastaSource(self.job.config.fasta)
        return fasta

    def __call__(self, unit: int) -> UnitResult:
        from ntscale.genome.variant_table import ScoreStatus
        from ntscale.scoring.passes import PassPlan, combine_scores

        t0 = time.perf_counter()
        job = self.job
        a, b = job.unit_range(unit)
        status = job.windows.status[a:b].copy()
        plan, items = PassPlan(by_content=job.config.share_windows), []
        for r in range(b - a):
            if ScoreStatus(int(status[r])).scored:
                status[r] = self._plan_row(a + r, r, plan, items, int(status[r]))
        results, model_seconds = self.runner.run(plan.passes)
        with self._count:
            self.passes_run += len(plan)
        scores = combine_scores(items, results, n_rows=b - a, names=job.names, layers=job.layers)
        t = job.table
        variants = {
            "contig": t.contig[a:b],
            "pos": t.pos[a:b],
            "id": t.id[a:b],
            "ref": t.ref[a:b],
            "alt": t.alt[a:b],
            "status": status,
        }
        nbytes = self.writer.write_variant_unit(unit, variants=variants, scores=scores)
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

    def _plan_row(self, row: int, r: int, plan: object, items: list, status: int) -> int:
        """Build one row's windows and register its passes; returns its final status."""
        from ntscale.genome.variant_table import ScoreStatus
        from ntscale.genome.variant_windows import variant_sequences
        from ntscale.scoring import complement, token_at, token_weights
        from ntscale.scoring.passes import Item
        from ntscale.tokenizer import reverse_complement

        job, tok = self.job, self.tokenizer
        t, w = job.table, job.windows
        contig, pos = str(t.contig[row]), int(t.pos[row])
        ref, alt = str(t.ref[row]), str(t.alt[row])
        snv = len(ref) == 1 and len(alt) == 1
        distances = "l2" in job.kinds or "cosine" in job.kinds
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
            r_iv, a_iv = (o, o + len(ref)), (o, o + len(alt))
            rb, ab = ref, alt
            if strand == "-":
                rseq, aseq = reverse_complement(rseq), reverse_complement(aseq)
                r_iv = (len(rseq) - r_iv[1], len(rseq) - r_iv[0])
                a_iv = (len(aseq) - a_iv[1], len(aseq) - a_iv[0])
                if snv:
                    rb, ab = complement(ref), complement(alt)
            rtok = tok.encode(rseq)
            atok = tok.encode(aseq) if distances else None
            if len(rtok) > job.max_tokens or (atok is not None and len(atok) > job.max_tokens):
                return int(ScoreStatus.OVER_TOKEN_LIMIT)
            staged.append((j, ws, we, rseq, aseq, rtok, atok, r_iv, a_iv, rb, ab))
        for j, ws, we, rseq, aseq, rtok, atok, r_iv, a_iv, rb, ab in staged:
            ref_key = ("ref", contig, j, ws, we, *share)
            ref_pass = plan.add(ref_key, rtok)
            fields: dict = {"row": r, "strand": j, "ref_pass": ref_pass}
            starts, lengths = tok.token_spans(rseq) if distances or snv else (None, None)
            if distances:
                fields["ref_pool"] = plan.pool(ref_pass, token_weights(starts, lengths, *r_iv))
                alt_pass = plan.add(("alt", contig, j, ws, we, pos, ref, alt, *share), atok)
                a_starts, a_lengths = tok.token_spans(aseq)
                fields["alt_pass"] = alt_pass
                fields["alt_pool"] = plan.pool(alt_pass, token_weights(a_starts, a_lengths, *a_iv))
            if snv:
                token, offset = token_at(starts, lengths, r_iv[0])
                fields.update(token=token, offset=offset, ref_base=rb, alt_base=ab)
                if "llr_wt" in job.kinds:
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
        return status
