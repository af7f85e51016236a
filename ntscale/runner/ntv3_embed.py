"""`ntscale embed` with an NTv3 model, as a job on the shared path (`JobBase`).

Windows tile the N-free parts of the genome in multiples of the model's 2^num_downsamples
bases (the last window of a stretch end-aligned; a stretch shorter than one block keeps
its row, status `too_short`, never embedded). Rows are windows; unit k owns windows
[k * unit_windows, (k + 1) * unit_windows) and writes one chunk of every window array:
`embeddings_mean` (mean over the window's bases of the final, base-resolution embedding,
stored as the model's last layer) and, with `per_token`, every base's embedding (float16,
one token per base, NaN past a window's own length). Runs resume after a kill, run on
Ray with the same bytes, checksum their units and have a dry run, as NT runs do.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ntscale.config import EmbedConfig
from ntscale.errors import ConfigError
from ntscale.runner.faults import before_unit
from ntscale.runner.job import UnitResult
from ntscale.runner.job_base import JobBase
from ntscale.runner.ntv3_job import (
    NTv3Worker,
    RowCounter,
    check_options,
    ntv3_attrs,
    ntv3_fingerprint,
    plan_ntv3_run,
)

if TYPE_CHECKING:
    from ntscale.genome.block_windows import BlockWindows
    from ntscale.store import StoreLayout

log = logging.getLogger(__name__)

# EmbedConfig settings NTv3 embedding does not use, with the values that mean "not given"
UNUSED = {
    "layers": (), "regions": None, "exclude_contigs": (), "min_contig_bp": 0, "vcf": None,
    "samples": (), "stride_bp": None, "strands": "forward", "cls": False, "revision": None,
}  # fmt: skip


def plan_ntv3_windows(
    fasta: Any, *, window_bp: int, block_bp: int, include: tuple[str, ...]
) -> BlockWindows:
    """Windows over the N-free intervals of the FASTA's (chosen) contigs."""
    from ntscale.genome.block_windows import nfree_intervals, plan_block_windows
    from ntscale.genome.gaps import load_gap_index

    contigs = [(n, L) for n, L in fasta.contigs if not include or n in include]
    missing = sorted(set(include) - {n for n, _ in contigs})
    if missing:
        raise ConfigError(f"{fasta.path}: contig(s) {missing} not in the FASTA")
    gaps = load_gap_index(fasta, cache=False)
    return plan_block_windows(
        nfree_intervals(contigs, gaps.runs), window_bp=window_bp, block_bp=block_bp
    )


@dataclass(frozen=True, kw_only=True)
class NTv3EmbedJob(JobBase):
    """A planned NTv3 embedding run (see the module docstring)."""

    KIND: ClassVar[str] = "ntv3_embed"
    AXIS: ClassVar[str] = "windows"
    ROWS: ClassVar[str] = "windows"

    config: EmbedConfig
    plan: BlockWindows

    @classmethod
    def plan_from_config(cls, config: EmbedConfig, *, command_line: str = "") -> NTv3EmbedJob:
        """Describe the model (no weights), plan the windows of the N-free genome."""
        from ntscale.genome import FastaSource

        check_options(config, UNUSED, "embed")
        run = plan_ntv3_run(config, default_batch=1)
        fasta = FastaSource(config.fasta)
        plan = plan_ntv3_windows(
            fasta,
            window_bp=run.window_bp,
            block_bp=run.model.config.block_bp,
            include=config.include_contigs,
        )
        return cls(
            config=config,
            run=run,
            plan=plan,
            contigs=tuple(fasta.contigs),
            fai_digest=fasta.fai_digest(),
            command_line=command_line,
        )

    @property
    def n_rows(self) -> int:
        return self.plan.n_windows

    @property
    def unit_size(self) -> int:
        return self.config.unit_windows

    def unit_bp(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return int((self.plan.end[a:b] - self.plan.start[a:b]).sum())

    @property
    def embed_dim(self) -> int:
        return int(self.run.model.config.conv_init_embed_dim)

    @property
    def max_len(self) -> int:
        """Longest embedded window (the per-base arrays' token axis)."""
        ok = self.plan.status == "ok"
        return max(int(self.plan.lengths()[ok].max(initial=0)), 1)

    def layout(self) -> StoreLayout:
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=self.plan.n_windows,
            unit_windows=self.unit_size,
            layers=self.run.layers,
            embed_dim=self.embed_dim,
            per_token=self.config.per_token,
            max_tokens=self.max_len,
        )

    def own_fingerprint(self) -> dict:
        p = self.plan
        text = "".join(f"{c}\t{s}\t{e}\n" for c, s, e in zip(p.contig, p.start, p.end, strict=True))
        return {
            **ntv3_fingerprint(self),
            "windows_digest": hashlib.sha256(text.encode()).hexdigest(),
            "per_token": self.config.per_token,
            "unit_windows": self.config.unit_windows,
        }

    def own_attrs(self) -> dict:
        ok = self.plan.status == "ok"
        return {
            "ntv3": ntv3_attrs(self),
            "windows": {
                "window_bp": self.run.window_bp,
                "n_windows": self.plan.n_windows,
                "embedded": int(ok.sum()),
                "too_short": int((~ok).sum()),
                "bases": int(self.plan.covered_bp()),
                "tiling": "N-free intervals tiled by multiples of block_bp; last window "
                "end-aligned",
                "pooling": "mean over the window's bases of the final (base-resolution) "
                "embedding, stored as the model's last layer",
                "per_token": "one token per base, float16, NaN past the window's length"
                if self.config.per_token
                else None,
            },
        }

    def open_worker(self) -> NTv3EmbedWorker:
        return NTv3EmbedWorker(self)


class NTv3EmbedWorker(NTv3Worker):
    """Runs NTv3 embedding units: windows of one length batched together."""

    def __call__(self, unit: int) -> UnitResult:
        from ntscale.tokenizer.distinct import digest_to_id, token_digest
        from ntscale.tokenizer.ntv3 import tokenize_bases
        from ntscale.types import WindowStatus

        before_unit(unit)
        rows = RowCounter()
        job, plan = self.job, self.job.plan
        a, b = job.unit_range(unit)
        n, dim, per_base = b - a, job.embed_dim, job.config.per_token
        mean = np.full((n, dim), np.nan, np.float32)
        tokens = np.full((n, job.max_len, dim), np.nan, np.float16) if per_base else None
        status = np.where(
            plan.status[a:b] == "ok", int(WindowStatus.OK), int(WindowStatus.TOO_SHORT)
        ).astype(np.uint8)
        sequence_id = np.zeros(n, np.uint64)
        by_length: dict[int, list[int]] = {}
        ids: dict[int, np.ndarray] = {}
        for i in np.flatnonzero(status == WindowStatus.OK):
            r = a + int(i)
            c, s, e = str(plan.contig[r]), int(plan.start[r]), int(plan.end[r])
            ids[int(i)] = tokenize_bases(self.input().fetch(c, s, e), where=f"{c}:{s}-{e}")
            sequence_id[i] = digest_to_id(token_digest(ids[int(i)]))
            by_length.setdefault(e - s, []).append(int(i))
        for length, idx in sorted(by_length.items()):
            outs = self.batched([ids[i] for i in idx], rows, outputs=("embedding",))
            for i, o in zip(idx, outs, strict=True):
                emb = o["embedding"]
                mean[i] = emb.astype(np.float32).mean(axis=0)
                if tokens is not None:
                    tokens[i, :length] = emb.astype(np.float16)
        lengths = (plan.end[a:b] - plan.start[a:b]).astype(np.int32)
        windows = {
            "contig": plan.contig[a:b].astype(str),
            "start": plan.start[a:b],
            "end": plan.end[a:b],
            "strand": np.full(n, "+"),
            "haplotype": np.full(n, "reference"),
            "n_tokens": np.where(status == WindowStatus.OK, lengths, 0).astype(np.int32),
            "frac_n": np.zeros(n, np.float32),
            "n_variants": np.zeros(n, np.int32),
            "status": status,
            "sequence_id": sequence_id,
        }
        embeddings: dict[str, np.ndarray] = {"mean": mean[None]}
        if tokens is not None:
            embeddings["tokens"] = tokens[None]
        nbytes = self.writer.write_window_unit(unit, windows=windows, embeddings=embeddings)
        self.writer.mark_done(unit)
        names = [WindowStatus(int(x)).name.lower() for x in status]
        return rows.result(unit, names, nbytes, bp=int(lengths[status == WindowStatus.OK].sum()))


__all__ = ["NTv3EmbedJob", "NTv3EmbedWorker", "plan_ntv3_windows"]
