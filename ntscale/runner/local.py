"""Run a job's units in this process, without Ray (tests, laptops, small jobs).

Two units are in flight at once on a small thread pool: while one unit holds the model
(the worker serialises device work with a lock), the other reads, tokenizes or writes,
so host work overlaps device work the same way it does inside a Ray actor.
SIGINT/SIGTERM stop dispatching; the units in flight finish, then `Interrupted` is raised.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ntscale.config import ExecutionConfig
from ntscale.runner.interrupt import catch_signals
from ntscale.runner.job import Job, UnitWorker
from ntscale.runner.progress import start_progress


def run_local(
    job: Job,
    *,
    progress: bool = False,
    max_in_flight_per_actor: int = ExecutionConfig.max_in_flight_per_actor,
    label: str = "units",
    worker: UnitWorker | None = None,
) -> dict:
    """Run every pending unit of `job` here; return the run summary.

    Args:
        job: the job to run (its store is created or resumed by `job.prepare()`).
        progress: draw a progress bar (CLI only).
        max_in_flight_per_actor: units processed concurrently (host/device overlap), as
            on one Ray actor (this process is the only "actor"); 1 = strictly serial.
        label: progress bar label.
        worker: an already opened worker of this job (benchmarks reuse a warm one).
    """
    pending = [int(u) for u in job.prepare()]
    total = job.n_units()
    tracker = start_progress(job, pending, enabled=progress, label=label)
    try:
        with catch_signals() as stop:
            if pending and not stop:
                worker = worker or job.open_worker()
                _run_pending(
                    worker, pending, tracker, stop, in_flight=max(1, max_in_flight_per_actor)
                )
            if stop:
                raise stop.interrupted(done=job.n_done(), total=total)
    finally:
        tracker.close()
    return job.finish(tracker.results, seconds=tracker.elapsed) | {"progress": tracker.summary()}


def _run_pending(worker: UnitWorker, pending: list[int], tracker, stop, *, in_flight: int) -> None:
    """Run units on a small pool until all are done or `stop` is set (then drain, no new ones)."""
    pool = ThreadPoolExecutor(max_workers=in_flight)
    try:
        queue = list(reversed(pending))
        running: set = set()
        while running or (queue and not stop):
            while queue and not stop and len(running) < in_flight:
                running.add(pool.submit(worker, queue.pop()))
            # A timeout, so that a signal is noticed while long units run.
            finished, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                tracker.update(fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
