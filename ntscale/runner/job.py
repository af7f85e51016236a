"""The contract between a job (embed, score) and the executors (local, Ray).

A job is a small picklable description of a run. The driver calls `prepare()` once
(creates or verifies the output store, metadata first) and gets back the unit ids still
to do; each executing process calls `open_worker()` once (opens its own files, loads the
model) and then calls the worker with unit ids. A worker writes its unit's chunks, marks
the unit done, and returns a tiny `UnitResult`. Nothing large crosses process boundaries.
`runner/job_base.py:JobBase` is the part every job shares (units, store, resume, finish).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class UnitResult:
    """What a worker reports back for one unit (kept small: it travels through Ray)."""

    unit: int
    n_rows: int
    status_counts: dict[str, int] = field(default_factory=dict)
    bp: int = 0
    model_seconds: float = 0.0
    seconds: float = 0.0
    bytes_written: int = 0
    forward_windows: int = 0  # forward passes (distinct sequences) run; n_rows when no dedup
    device_rows: int = 0  # batch rows the device ran, padding rows included
    useful_rows: int = 0  # of those, rows that held a sequence


def device_row_summary(results: Iterable[UnitResult]) -> dict:
    """Device rows run vs useful rows of a run, for `last_run` (padding is the difference)."""
    run = sum(r.device_rows for r in results)
    useful = sum(r.useful_rows for r in results)
    return {
        "device_rows": run,
        "useful_rows": useful,
        "device_rows_per_useful": round(run / useful, 4) if useful else None,
    }


class UnitWorker(Protocol):
    """Runs units inside one process; holds the open files and the loaded model."""

    def __call__(self, unit: int) -> UnitResult: ...


class Job(Protocol):
    """A run split into independent, chunk-aligned work units."""

    @property
    def store_url(self) -> str: ...

    def prepare(self) -> np.ndarray:
        """Create or verify the store (driver only); return the unit ids not yet done."""
        ...

    def n_units(self) -> int: ...

    def n_done(self) -> int:
        """Units marked done in the store now (driver; after an interrupt, for the message)."""
        ...

    def unit_rows(self, unit: int) -> int:
        """Number of rows (windows or variants) in a unit, for progress reporting."""
        ...

    def unit_bp(self, unit: int) -> int:
        """Reference bp covered by a unit, for progress reporting (0 where meaningless)."""
        ...

    def open_worker(self) -> UnitWorker:
        """Open files and load the model in the calling process (actor or local)."""
        ...

    def finish(self, results: Iterable[UnitResult], *, seconds: float) -> dict:
        """Write the run summary to the store (driver only) and return it."""
        ...


def row_run_summary(results: Iterable[UnitResult], seconds: float, *, rows: str) -> dict:
    """The `last_run` record of a run whose rows carry a status (score and track jobs).

    Args:
        results: the units this run ran.
        seconds: the run's wall time.
        rows: what one row is ("variants", "bases"); names the count and the rate.
    """
    results = list(results)
    n = sum(r.n_rows for r in results)
    statuses: Counter[str] = Counter()
    for r in results:
        statuses.update(r.status_counts)
    return {
        "units_run": len(results),
        f"{rows}_run": n,
        "by_status": dict(statuses),
        "seconds": round(seconds, 3),
        "model_seconds": round(sum(r.model_seconds for r in results), 3),
        f"{rows}_per_second": round(n / seconds, 3) if seconds > 0 else None,
        **device_row_summary(results),
    }


def count_units(n_rows: int, per_unit: int) -> int:
    """Work units of `per_unit` consecutive rows (the last may be short) over `n_rows`."""
    return (n_rows + per_unit - 1) // per_unit


def unit_span(unit: int, per_unit: int, n_rows: int) -> tuple[int, int]:
    """Rows [a, b) of one work unit: the store chunk it owns."""
    return unit * per_unit, min((unit + 1) * per_unit, n_rows)
