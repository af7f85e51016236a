"""What every worker process holds: the model in the job's dtype, the store writer, the
device lock and per-thread input handles; the embed, score and track workers add the rest.

A worker runs units from several threads (the local executor's prefetch, a Ray actor's
concurrent calls): host work overlaps, the device lock lets one unit's batches on the
device at a time, and each thread opens its own htslib handles (they are not thread-safe).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ntscale.runner.job_base import JobBase

log = logging.getLogger(__name__)


class ModelWorker:
    """Base of the workers: set-up shared by embedding, scoring and tracks.

    Attributes:
        job: the job whose units this worker runs (`job.config.model`, `job.run.dtype`,
            `job.config.fasta` and `job.store_url` are read here).
        model: the loaded `NTModel` in the run plan's concrete compute dtype.
        tokenizer: the model's tokenizer.
        writer: the store writer (`ntscale.store.open_writer`).
        device: lock held while a batch runs on the device.
        sharding: the mesh over the worker's `job.run.devices_per_actor` local devices
            (`ntscale.model.sharding`); None when it drives one device.
    """

    def __init__(self, job: JobBase) -> None:
        from ntscale.model import load
        from ntscale.model.checkpoint_digest import remember
        from ntscale.model.sharding import batch_sharding
        from ntscale.store import open_writer

        c = job.config
        self.job = job
        t0 = time.perf_counter()
        # the driver hashed the checkpoint when it planned the run: the same files (same
        # path, size, mtime and inode here) reuse its digest instead of hashing again
        info = job.run.model
        if info.digest_key:
            remember(info.digest_key, info.digest)
        self.model = load(c.model, dtype=job.run.dtype, revision=getattr(c, "revision", None))
        self.tokenizer = self.model.tokenizer
        log.info("model %s loaded in %.1f s", self.model.name, time.perf_counter() - t0)
        self.writer = open_writer(job.store_url)
        self.device = threading.Lock()
        self._local = threading.local()
        devices = getattr(job.run, "devices_per_actor", 1)
        self.sharding = batch_sharding(devices)
        if self.sharding is not None:
            log.info("batches split over %d devices: %s", devices, self.sharding)

    def compiled(self, layers: tuple[int, ...], logits: bool, post: Any = None) -> Any:
        """The model's compiled forward, run over the worker's devices (`sharding`)."""
        forward = self.model.compiled(layers, logits, post=post)
        return forward if self.sharding is None else self.sharding.wrap(forward)

    def open_input(self) -> Any:
        """A new input handle for the calling thread (default: the job's FASTA)."""
        from ntscale.genome import FastaSource

        return FastaSource(self.job.config.fasta)

    def input(self) -> Any:
        """This thread's input handle, opened on first use."""
        handle = getattr(self._local, "input", None)
        if handle is None:
            handle = self._local.input = self.open_input()
        return handle


__all__ = ["ModelWorker"]
