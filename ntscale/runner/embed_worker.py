"""The embedding worker: one process's model, window source and store writer.

Per unit: fetch sequences (pysam, haplotypes applied) -> tokenize -> one forward pass per
distinct token sequence in fixed-shape batches -> pool on the device -> write the unit's
chunks -> mark done.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from ntscale.runner.faults import before_unit
from ntscale.runner.job import UnitResult
from ntscale.runner.worker_setup import ModelWorker
from ntscale.types import Strand, WindowStatus

if TYPE_CHECKING:
    from ntscale.genome import WindowSource
    from ntscale.runner.embed_job import EmbedJob

_SKIPPED = (WindowStatus.SKIPPED_ALL_N, WindowStatus.SKIPPED_HAPLOTYPE)


class EmbedWorker(ModelWorker):
    """Runs window units: the shared set-up (`ModelWorker`, input: a `WindowSource`) plus
    the forward pass with window pooling on the device."""

    def __init__(self, job: EmbedJob) -> None:
        from ntscale.genome import HaplotypePolicy
        from ntscale.scoring.reduce import WindowPooling

        super().__init__(job)
        c = job.config
        self.policy = HaplotypePolicy(unphased=c.unphased, ref_mismatch=c.ref_mismatch)
        post = WindowPooling(
            layers=tuple(job.layers),
            pad_id=self.tokenizer.pad_id,
            cls_id=self.tokenizer.cls_id,
            cls=c.cls,
            per_token=c.per_token,
        )
        self.forward = self.compiled(job.layers, False, post=post)
        self.batch_size = job.run.batch_size

    def open_input(self) -> WindowSource:
        """This thread's window source (FASTA, VCF haplotypes, tokenizer)."""
        from ntscale.genome import WindowSource

        job, c = self.job, self.job.config
        return WindowSource(
            c.fasta,
            tokenizer=self.tokenizer,
            max_tokens=job.max_tokens,
            vcf_path=c.vcf,
            samples=list(job.samples) or None,
            policy=self.policy,
            contig_map=c.contig_map or None,
        )

    def __call__(self, unit: int) -> UnitResult:
        from ntscale.tokenizer.distinct import distinct_tokens

        before_unit(unit)
        t0 = time.perf_counter()
        job, c = self.job, self.job.config
        if job.cohort:
            return self._cohort_unit(unit, t0)
        a, b = job.unit_range(unit)
        rows = np.arange(a, b)
        seqs = self.input().fetch_rows(job.plan, rows)
        n = len(rows)
        status = np.array([int(s.status) for s in seqs], dtype=np.uint8)
        todo = np.array([i for i, s in enumerate(seqs) if s.status not in _SKIPPED], np.int64)

        # Host work first: one entry per distinct final token sequence of the unit (all of
        # its haplotypes, strands and the reference), in fixed-shape batches.
        distinct = distinct_tokens(self.tokenizer, [seqs[i].sequence for i in todo], dedup=c.dedup)
        batches = self._batches(distinct.ids)
        sequence_id = np.zeros(n, np.uint64)
        sequence_id[todo] = distinct.sequence_ids

        model_seconds, res = self._forward(batches, len(distinct.ids))
        device_rows = sum(batch.shape[0] for _, batch in batches)
        out = self._empty(n)  # skipped rows stay NaN
        for kind, values in res.items():  # scatter each distinct output to its rows
            out[kind][todo] = values[distinct.inverse]

        windows = {
            "contig_index": job.plan.contig_index[a:b],
            "start": job.plan.start[a:b],
            "end": np.array([s.end for s in seqs], dtype=np.int64),
            "strand": job.plan.strand[a:b],
            "haplotype": job.plan.haplotype[a:b],
            "n_tokens": np.array([s.n_tokens for s in seqs], dtype=np.int32),
            "frac_n": np.array([s.frac_n for s in seqs], dtype=np.float32),
            "n_variants": np.array([s.n_variants for s in seqs], dtype=np.int32),
            "status": status,
            "sequence_id": sequence_id,
        }
        # the writer takes the stored layout, layer axis first: {kind: [L, n, ...]}
        embeddings = {kind: np.moveaxis(values, 1, 0) for kind, values in out.items()}
        nbytes = self.writer.write_window_unit(unit, windows=windows, embeddings=embeddings)
        self.writer.mark_done(unit)
        counts = Counter(WindowStatus(int(s)).name.lower() for s in status)
        return UnitResult(
            unit=unit,
            n_rows=n,
            status_counts=dict(counts),
            bp=int((windows["end"] - windows["start"]).sum()),
            model_seconds=model_seconds,
            seconds=time.perf_counter() - t0,
            bytes_written=int(nbytes),
            forward_windows=len(distinct.ids),
            device_rows=device_rows,
            useful_rows=len(distinct.ids),
        )

    def _cohort_unit(self, unit: int, t0: float) -> UnitResult:
        """One unit of a cohort store: its window rows with every haplotype.

        Per window row, the haplotypes are grouped by genotype pattern and one sequence is
        built per pattern; the unit's distinct token sequences (patterns of all its rows
        and strands) get one forward pass each and one slot each on the sequence axis, in
        first-occurrence order (window row, then haplotype).
        """
        from ntscale.tokenizer.distinct import distinct_tokens

        job, c = self.job, self.job.config
        plan, src = job.plan, self.input()
        a, b = job.unit_range(unit)
        n, h = b - a, len(job.haplotype_names)
        patterns: list[list] = []  # per row: WindowSequence per pattern
        inverse = np.zeros((n, h), np.int64)  # per row: pattern of each haplotype
        for i, row in enumerate(range(a, b)):
            seqs, inv = src.fetch_haplotype_patterns(
                plan.contigs[int(plan.contig_index[row])],
                int(plan.start[row]),
                int(plan.end[row]),
                strand=Strand(int(plan.strand[row])),
            )
            patterns.append(seqs)
            inverse[i] = inv
        # what the store keeps per (window, haplotype), by way of each row's patterns
        fields = {
            "status": lambda s: int(s.status),
            "n_variants": lambda s: s.n_variants,
            "hap_end": lambda s: s.end,
        }
        haplotypes = {
            name: np.stack(
                [np.array([get(s) for s in row])[inverse[i]] for i, row in enumerate(patterns)]
            )
            if n
            else np.zeros((0, h), np.int64)
            for name, get in fields.items()
        }
        # one entry per pattern of each row; its distinct token sequences are stored
        todo = [
            (i, p)
            for i, row in enumerate(patterns)
            for p in range(len(row))
            if row[p].status not in _SKIPPED
        ]
        distinct = distinct_tokens(self.tokenizer, [patterns[i][p].sequence for i, p in todo])
        of_pattern = [np.full(len(row), -1, np.int64) for row in patterns]
        for (i, p), d in zip(todo, distinct.inverse.tolist(), strict=True):
            of_pattern[i][p] = d
        index = np.zeros((n, h), np.int64)
        for i in range(n):
            index[i] = of_pattern[i][inverse[i]]
        haplotypes["sequence_index"] = index
        d = len(distinct.ids)
        first = np.full(d, -1, np.int64)  # the first entry of each distinct sequence
        for k in range(len(todo) - 1, -1, -1):
            first[distinct.inverse[k]] = k
        seq_of = [patterns[todo[k][0]][todo[k][1]] for k in first.tolist()]
        sequences = {
            "n_tokens": np.array([s.n_tokens for s in seq_of], np.int32),
            "frac_n": np.array([s.frac_n for s in seq_of], np.float32),
            "sequence_id": distinct.sequence_ids[first] if d else np.zeros(0, np.uint64),
        }
        if c.dedup:
            batches = self._batches(distinct.ids)
            model_seconds, res = self._forward(batches, d)
            n_forward = d
        else:
            # check mode: one pass per haplotype with a sequence; the store keeps the
            # first haplotype's output of each sequence (equal values when dedup is right)
            flat = index.reshape(-1)
            rows = np.flatnonzero(flat >= 0)
            batches = self._batches([distinct.ids[k] for k in flat[rows].tolist()])
            model_seconds, per_row = self._forward(batches, rows.size)
            _, at = np.unique(flat[rows], return_index=True)
            res = {kind: values[at] for kind, values in per_row.items()}
            n_forward = int(rows.size)
        windows = {
            "contig_index": plan.contig_index[a:b],
            "start": plan.start[a:b],
            "end": plan.end[a:b],
            "strand": plan.strand[a:b],
        }
        embeddings = {kind: np.moveaxis(values, 1, 0) for kind, values in res.items()}
        nbytes = self.writer.write_cohort_unit(
            unit, windows=windows, haplotypes=haplotypes, sequences=sequences, embeddings=embeddings
        )
        self.writer.mark_done(unit)
        counts = Counter(WindowStatus(int(s)).name.lower() for s in haplotypes["status"].ravel())
        return UnitResult(
            unit=unit,
            n_rows=n * h,
            status_counts=dict(counts),
            bp=int((windows["end"] - windows["start"]).sum()) * h,
            model_seconds=model_seconds,
            seconds=time.perf_counter() - t0,
            bytes_written=int(nbytes),
            forward_windows=n_forward,
            device_rows=sum(batch.shape[0] for _, batch in batches),
            useful_rows=n_forward,
        )

    def _batches(self, ids: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """[B, T] batches of the distinct sequences, grouped by padded length.

        Grouping by each sequence's own bucket (not the batch's longest) makes a sequence's
        padded shape depend on its tokens alone, whichever rows share its batch. The last
        batch of a length has `batch_rows` rows (a power of two), not B.

        Returns:
            (indices into `ids` [<= B], tokens [B', T] int32, B' = batch_rows(...)) per batch.
        """
        from ntscale.model import bucket_length
        from ntscale.scoring.batches import batch_rows

        B, pad, max_tokens = self.batch_size, self.tokenizer.pad_id, self.job.max_tokens
        by_length: dict[int, list[int]] = {}
        for d, row in enumerate(ids):
            by_length.setdefault(bucket_length(len(row), max_tokens), []).append(d)
        batches = []
        for length in sorted(by_length):
            members = by_length[length]
            for k in range(0, len(members), B):
                idx = np.array(members[k : k + B], np.int64)
                batch = np.full((batch_rows(len(idx), B), length), pad, np.int32)
                for j, d in enumerate(idx):
                    batch[j, : len(ids[d])] = ids[d]
                batches.append((idx, batch))
        return batches

    def _empty(self, n: int) -> dict[str, np.ndarray]:
        """NaN-filled {kind: [n, L, ...]} arrays for n rows ("mean", "cls", "tokens" as
        configured), layers in `job.layers` order."""
        job, c = self.job, self.job.config
        L, D, T = len(job.layers), job.embed_dim, job.max_tokens
        out = {"mean": np.full((n, L, D), np.nan, np.float32)}
        if c.cls:
            out["cls"] = np.full((n, L, D), np.nan, np.float32)
        if c.per_token:
            out["tokens"] = np.full((n, L, T, D), np.nan, np.float16)
        return out

    def _forward(
        self, batches: list[tuple[np.ndarray, np.ndarray]], n_distinct: int
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Run the batches (device lock held per batch); outputs per distinct sequence.

        Returns:
            (model seconds, kind -> [n_distinct, L, ...] arrays, layers in `job.layers`
            order); per-token rows are NaN past each sequence's own tokens.
        """
        res = self._empty(n_distinct)
        model_seconds = 0.0
        pad = self.tokenizer.pad_id
        for idx, batch in batches:
            with self.device:
                tm = time.perf_counter()
                got = {kind: np.asarray(v) for kind, v in self.forward(batch).items()}
                model_seconds += time.perf_counter() - tm
            m = len(idx)
            for kind in res.keys() - {"tokens"}:
                res[kind][idx] = got[kind][:m]
            if "tokens" in res:
                n_tok = (batch[:m] != pad).sum(axis=1)
                for j, d in enumerate(idx):  # positions past a window's tokens stay NaN
                    res["tokens"][d, :, : n_tok[j]] = got["tokens"][j, :, : n_tok[j]]
        return model_seconds, res
