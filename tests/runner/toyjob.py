"""A small pure-Python job for the executor tests: units of known rows, bp and statuses.

It follows the Job/UnitWorker contract (ntscale.runner.job) without a model or a store,
so the executors' own behaviour (order, concurrency, errors, interrupts, summaries) is
checked in isolation; the real jobs are run end to end by the embed and score tests.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from ntscale.runner import faults
from ntscale.runner.job import UnitResult


def unit_rows(unit: int) -> int:
    """Rows of unit u: u + 1 (so every unit's count is different)."""
    return unit + 1


def unit_bp(unit: int) -> int:
    return 1000 * (unit + 1)


class ToyWorker:
    """Runs a unit: records it, calls the job's hook, reports rows/bp/statuses."""

    def __init__(self, job: ToyJob) -> None:
        self.job = job

    def __call__(self, unit: int) -> UnitResult:
        job = self.job
        with job.lock:
            job.started.append(unit)
            job.running += 1
            job.max_running = max(job.max_running, job.running)
        try:
            if job.faults:
                faults.before_unit(unit)  # NTSCALE_FAULT_* of the environment
            if unit == job.interrupt_unit:
                # Ctrl-C at the driver while this unit runs (in an actor: another process)
                os.kill(job.driver_pid, signal.SIGINT)
            if job.hook is not None:
                job.hook(unit)
            if unit == job.fail_unit:
                raise ValueError(f"toy unit {unit} failed on purpose")
            if job.delay_s:
                time.sleep(job.delay_s)
        finally:
            with job.lock:
                job.running -= 1
        with job.lock:
            job.finished.append(unit)
        rows = unit_rows(unit)
        return UnitResult(
            unit=unit,
            n_rows=rows,
            bp=unit_bp(unit),
            status_counts={"OK": rows - 1, "SKIPPED": 1},
            model_seconds=0.25,
            # the pid of the process that ran the unit (Ray tests: one pid per actor)
            forward_windows=os.getpid(),
        )


class ToyJob:
    """`n` units; `done` are already done by an "earlier run"; `fail_unit` raises in its
    worker; `setup_error` raises in `open_worker`; `hook(unit)` runs at the start of a unit;
    `faults` applies ntscale.runner.faults there; `interrupt_unit` sends SIGINT to the
    process that made the job (the driver) when it starts."""

    store_url = "toy://"

    def __init__(
        self,
        n: int,
        *,
        done: Iterable[int] = (),
        fail_unit: int | None = None,
        setup_error: str | None = None,
        hook: Callable[[int], None] | None = None,
        delay_s: float = 0.0,
        faults: bool = False,
        interrupt_unit: int | None = None,
    ) -> None:
        self.n = n
        self.done = set(done)
        self.fail_unit = fail_unit
        self.setup_error = setup_error
        self.hook = hook
        self.delay_s = delay_s
        self.faults = faults
        self.interrupt_unit = interrupt_unit
        self.driver_pid = os.getpid()
        self.started: list[int] = []
        self.finished: list[int] = []
        self.running = 0
        self.max_running = 0
        self.opened = 0
        self.lock = threading.Lock()
        self.finish_args: tuple[list[UnitResult], float] | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["lock"]  # a lock does not pickle; each process gets its own
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lock = threading.Lock()

    def prepare(self) -> np.ndarray:
        return np.array([u for u in range(self.n) if u not in self.done], np.int64)

    def n_units(self) -> int:
        return self.n

    def n_done(self) -> int:
        return len(self.done) + len(self.finished)

    def unit_rows(self, unit: int) -> int:
        return unit_rows(unit)

    def unit_bp(self, unit: int) -> int:
        return unit_bp(unit)

    def open_worker(self) -> ToyWorker:
        if self.setup_error:
            raise RuntimeError(self.setup_error)
        self.opened += 1
        return ToyWorker(self)

    def finish(self, results: Iterable[UnitResult], *, seconds: float) -> dict:
        results = list(results)
        self.finish_args = (results, seconds)
        return {"units": sorted(r.unit for r in results)}
