"""Run a job's units in this process, without Ray (tests, laptops, small jobs).

Two units are in flight at once on a small thread pool: while one unit holds the model
(the worker serialises device work with a lock), the other reads, tokenizes or writes,
so host work overlaps device work the same way it does inside a Ray actor.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ntscale.runner.job import Job, UnitWorker
from ntscale.runner.progress import start_progress


def run_local(
    job: Job,
    *,
    progress: bool = False,
    in_flight: int = 2,
    label: str = "units",
    worker: UnitWorker | None = None,
) -> dict:
    """Run every pending unit of `job` here; return the run summary.

    Args:
        job: the job to run (its store is created or resumed by `job.prepare()`).
        progress: draw a progress bar (CLI only).
        in_flight: units processed concurrently (host/device overlap); 1 = strictly serial.
        label: progress bar label.
        worker: an already opened worker of this job (benchmarks reuse a warm one).
    """
    pending = [int(u) for u in job.prepare()]
    tracker = start_progress(job, pending, enabled=progress, label=label)
    try:
        if pending:
            worker = worker or job.open_worker()
            with ThreadPoolExecutor(max_workers=max(1, in_flight)) as pool:
                queue = list(reversed(pending))
                running = set()
                while queue or running:
                    while queue and len(running) < max(1, in_flight):
                        running.add(pool.submit(worker, queue.pop()))
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        tracker.update(fut.result())
    finally:
        tracker.close()
    return job.finish(tracker.results, seconds=tracker.elapsed) | {"progress": tracker.summary()}
