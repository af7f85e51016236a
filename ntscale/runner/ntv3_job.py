"""What NTv3 `embed` and `score` jobs share on the common job path (`JobBase`).

An NTv3 run is an ordinary job: the driver plans rows and units, `prepare` creates (or
resumes) the store with its lease and fingerprint, workers (local or Ray actors) write one
unit's chunks, checksum and mark it done, and `finish` records the run. This module holds
the NTv3 parts both jobs use once: the run plan (model described without its weights,
window length, species), the root attributes, and the worker's set-up (the model loaded
in the run's dtype, the store writer, per-thread FASTA handles, fixed-shape batches).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ntscale.errors import ConfigError
from ntscale.runner.job import UnitResult
from ntscale.runner.run_plan import RunPlan

log = logging.getLogger(__name__)


def default_window_bp(model_name: str) -> int | None:
    """The trained context of a published NTv3 name, else None."""
    from ntscale.model.ntv3_config import get_ntv3, is_ntv3_name

    return get_ntv3(model_name).context_bp if is_ntv3_name(model_name) else None


def plan_ntv3_run(config: Any, *, default_batch: int) -> RunPlan:
    """The run plan of an NTv3 embed or score config (no parameters loaded).

    The window is the config's (rounded down to whole blocks of 2^num_downsamples bases)
    or the published name's trained context; `layers` holds the model's last layer (NTv3
    stores its final, base-resolution embedding only).

    Raises:
        ConfigError: post-trained model without species (or species for a pre-trained
            one), no window length, or a window shorter than one block.
    """
    from ntscale.model.ntv3 import describe_ntv3
    from ntscale.runner.precision import resolve_dtype

    info = describe_ntv3(config.model)
    c = info.config
    if c.post_trained and config.species is None:
        valid = sorted(s for s in c.species_to_token_id if not s.startswith("<"))
        raise ConfigError(f"{c.name}: give --species (one of {', '.join(valid)})")
    if config.species is not None:
        c.species_token(config.species)  # refuses a pre-trained model or an unknown species
    window = config.window_bp or default_window_bp(info.name)
    if window is None:
        raise ConfigError(f"{info.name}: give --window-bp (not a published NTv3 name)")
    if window < c.block_bp:
        raise ConfigError(f"window_bp {window} is shorter than one block ({c.block_bp} bp)")
    window = window // c.block_bp * c.block_bp
    return RunPlan(
        model=info,
        dtype=resolve_dtype(config.execution).dtype,
        window_bp=int(window),
        stride_bp=None,
        layers=(int(c.num_layers),),
        strands=("+",),
        batch_size=config.execution.batch_size or default_batch,
    )


def ntv3_attrs(job: Any) -> dict:
    """The `ntv3` root attribute of an NTv3 store (one place for embed and score)."""
    c = job.run.model.config
    return {
        "species": job.config.species,
        "window_bp": int(job.run.window_bp),
        "block_bp": int(c.block_bp),
        "num_downsamples": int(c.num_downsamples),
        "tokens": "one token per base (A, C, G, T, N)",
    }


def ntv3_fingerprint(job: Any) -> dict:
    """Keys of the resume fingerprint every NTv3 job adds."""
    return {
        "species": job.config.species,
        "batch_size": job.run.batch_size,
        "ntv3": True,
    }


def check_options(config: Any, allowed_defaults: dict[str, Any], command: str) -> None:
    """ConfigError naming the settings an NTv3 `command` cannot honour (given, not default)."""
    bad = [k for k, v in allowed_defaults.items() if getattr(config, k) != v]
    if bad:
        raise ConfigError(f"{command} with an NTv3 model does not take {', '.join(sorted(bad))}")


class NTv3Worker:
    """Set-up shared by the NTv3 workers: the model, the store writer, FASTA handles.

    Attributes:
        job: the job whose units this worker runs.
        model: the loaded `NTv3Model` in the run's dtype (`model=` for tests).
        writer: the store writer.
        device: lock held while a batch runs.
    """

    def __init__(self, job: Any, model: Any = None) -> None:
        from ntscale.model.checkpoint_digest import remember
        from ntscale.model.ntv3 import load_ntv3
        from ntscale.store import open_writer

        self.job = job
        t0 = time.perf_counter()
        info = job.run.model
        if getattr(info, "digest_key", None):
            remember(info.digest_key, info.digest)
        dtype = "bfloat16" if job.run.dtype == "bf16" else "float32"
        self.model = model or load_ntv3(job.config.model, dtype=dtype)
        log.info("NTv3 %s ready in %.1f s", self.model.name, time.perf_counter() - t0)
        self.writer = open_writer(job.store_url)
        self.device = threading.Lock()
        self._local = threading.local()
        self.kw = {"species": job.config.species} if self.model.config.post_trained else {}

    def input(self) -> Any:
        """This thread's FASTA handle (htslib handles are not thread-safe)."""
        handle = getattr(self._local, "input", None)
        if handle is None:
            from ntscale.genome import FastaSource

            handle = self._local.input = FastaSource(self.job.config.fasta)
        return handle

    def batched(
        self, tokens: list[np.ndarray], count: Callable[[int, int, float], None], **kw: Any
    ) -> list[dict]:
        """Forward passes of equal-length token rows in fixed [batch, T] batches (a short
        last batch filled with copies of its first row), one output dict per row;
        `count(device_rows, useful_rows, seconds)` is told each batch."""
        size = self.job.run.batch_size
        out: list[dict] = []
        for k in range(0, len(tokens), size):
            rows = tokens[k : k + size]
            batch = np.stack(rows + [rows[0]] * (size - len(rows)))
            with self.device:
                t0 = time.perf_counter()
                res = self.model.apply(batch, **self.kw, **kw)
                count(size, len(rows), time.perf_counter() - t0)
            out.extend({key: np.asarray(v[j]) for key, v in res.items()} for j in range(len(rows)))
        return out


class RowCounter:
    """Device rows, useful rows and model seconds of one unit's batches; its `UnitResult`."""

    def __init__(self) -> None:
        self.device = self.useful = 0
        self.seconds = 0.0
        self.t0 = time.perf_counter()

    def __call__(self, device: int, useful: int, seconds: float) -> None:
        self.device += device
        self.useful += useful
        self.seconds += seconds

    def result(self, unit: int, statuses: list[str], nbytes: int, *, bp: int = 0) -> UnitResult:
        """The unit's report: its rows' status names (lower case), bytes and bp written."""
        from collections import Counter

        return UnitResult(
            unit=unit,
            n_rows=len(statuses),
            status_counts=dict(Counter(statuses)),
            bp=bp,
            model_seconds=self.seconds,
            seconds=time.perf_counter() - self.t0,
            bytes_written=int(nbytes),
            forward_windows=self.useful,
            device_rows=self.device,
            useful_rows=self.useful,
        )


__all__ = [
    "NTv3Worker",
    "RowCounter",
    "check_options",
    "default_window_bp",
    "ntv3_attrs",
    "ntv3_fingerprint",
    "plan_ntv3_run",
]
