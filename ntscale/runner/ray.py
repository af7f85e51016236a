"""Run a job's units on a Ray cluster: one actor per GPU (or per CPU slot), bounded dispatch.

The driver only sends unit ids. Each actor opens its own files and model once, runs units
with host work overlapping device work (two calls in flight per actor, device work
serialised inside the worker), writes its own store chunks, and returns a tiny
`UnitResult`. An actor that dies has its units retried on a replacement actor; a driver
that dies leaves a store that the same command resumes. This is the only module that
imports Ray.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque

from ntscale.errors import ClusterError, NtscaleError
from ntscale.runner.faults import forwarded_env
from ntscale.runner.job import Job
from ntscale.runner.progress import start_progress

log = logging.getLogger(__name__)

# Every Ray process we start must bind to loopback unless the user points us at a cluster,
# and must not phone home (facts measured on the project's machines).
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
_SCALE_CHECK_SECONDS = 10.0


class UnitActor:
    """A Ray actor owning one worker (files + model) for the whole run."""

    def __init__(self, job: Job, index: int, cpus: int, gpu_memory_fraction: float) -> None:
        import ray

        gpu_ids = ray.get_gpu_ids()
        if not gpu_ids and hasattr(os, "sched_setaffinity"):
            # Pin CPU actors to their own cores before JAX starts its thread pool:
            # two JAX actors on 2 cores ran 7-16% faster pinned than sharing.
            allowed = sorted(os.sched_getaffinity(0))
            if len(allowed) >= cpus * 2:
                first = (index * cpus) % len(allowed)
                os.sched_setaffinity(0, {allowed[(first + i) % len(allowed)] for i in range(cpus)})
        # JAX preallocates most of a GPU by default; leave room for other processes.
        os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", str(gpu_memory_fraction))
        self._worker = job.open_worker()
        self.index = index

    def ready(self) -> int:
        return self.index

    def run(self, unit: int):
        return self._worker(unit)


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; return True when this call started it (and must stop it)."""
    import ray

    for k, v in RAY_ENV.items():
        os.environ.setdefault(k, v)
    if ray.is_initialized():
        return False
    try:
        if address in (None, "", "local"):
            ray.init(
                address="local",
                num_cpus=num_cpus,
                include_dashboard=False,
                runtime_env={"env_vars": dict(RAY_ENV)},
                log_to_driver=True,
            )
        else:
            # Inside a submitted job Ray refuses to merge a driver runtime_env with the job's.
            ray.init(address=address, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(
            f"cannot connect to the Ray cluster at {address!r}: {e}. Start one with "
            "`ray start --head` (or pass the address of a running head node, e.g. auto)"
        ) from e
    return True


def _actor_slots(*, cpus_per_actor: int, max_actors: int | None) -> tuple[int, bool]:
    """How many actors the cluster has room for now, and whether they take a GPU each."""
    import ray

    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    n = gpus if gpus > 0 else int(res.get("CPU", 1) // max(1, cpus_per_actor))
    n = max(1, n)
    if max_actors:
        n = min(n, max_actors)
    return n, gpus > 0


def run_ray(
    job: Job,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    max_actors: int | None = None,
    cpus_per_actor: int = 1,
    gpu_memory_fraction: float = 0.9,
    in_flight_per_actor: int = 2,
    max_unit_retries: int = 3,
    progress: bool = False,
    label: str = "units",
) -> dict:
    """Run every pending unit of `job` on Ray actors; return the run summary.

    Args:
        job: the job; pickled once into Ray's object store and shared by all actors.
        address: None/"local" starts a private single-node Ray on this machine; "auto" or
            "HOST:PORT" joins a running cluster (inside `ntscale submit` jobs: "auto").
        num_cpus: CPUs of a private local Ray (default: all).
        max_actors: cap on actors; default one per GPU, else one per `cpus_per_actor` CPUs.
        in_flight_per_actor: units queued on each actor (backpressure bound).
        max_unit_retries: how often a unit is retried after its actor died.
    """
    import ray
    from ray.exceptions import (
        ActorDiedError,
        ActorUnavailableError,
        RayActorError,
        RayTaskError,
    )

    pending_ids = [int(u) for u in job.prepare()]
    tracker = start_progress(job, pending_ids, enabled=progress, label=label)
    if not pending_ids:
        tracker.close()
        return job.finish([], seconds=0.0) | {"progress": tracker.summary()}

    started = _connect(address, num_cpus)
    try:
        job_ref = ray.put(job)
        n_slots, use_gpu = _actor_slots(cpus_per_actor=cpus_per_actor, max_actors=max_actors)
        n_slots = min(n_slots, len(pending_ids))
        resources = {"num_gpus": 1} if use_gpu else {"num_cpus": cpus_per_actor}
        actor_cls = ray.remote(UnitActor).options(
            max_concurrency=max(1, in_flight_per_actor),
            max_restarts=0,
            runtime_env={"env_vars": {**RAY_ENV, **forwarded_env()}},
            **resources,
        )

        def spawn(i: int):
            return actor_cls.remote(job_ref, i, cpus_per_actor, gpu_memory_fraction)

        actors = {i: spawn(i) for i in range(n_slots)}
        next_index = n_slots
        load: Counter[int] = Counter()
        queue = deque(pending_ids)
        in_flight: dict = {}
        retries: Counter[int] = Counter()
        last_scale_check = time.monotonic()
        log.info(
            "running %d units on %d %s actors", len(queue), len(actors), "GPU" if use_gpu else "CPU"
        )

        while queue or in_flight:
            for i in sorted(actors):
                while queue and load[i] < in_flight_per_actor:
                    unit = queue.popleft()
                    in_flight[actors[i].run.remote(unit)] = (unit, i)
                    load[i] += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                unit, i = in_flight.pop(ref)
                load[i] -= 1
                try:
                    tracker.update(ray.get(ref))
                except (ActorDiedError, ActorUnavailableError, RayActorError) as e:
                    retries[unit] += 1
                    if retries[unit] > max_unit_retries:
                        raise ClusterError(
                            f"unit {unit} failed {retries[unit]} times because its actor died; "
                            f"last error: {e}"
                        ) from e
                    log.warning("actor %d died on unit %d; retrying on a new actor", i, unit)
                    queue.appendleft(unit)
                    if i in actors:  # the first failure seen from this actor replaces it
                        _kill_quietly(actors.pop(i))
                        actors[next_index] = spawn(next_index)
                        next_index += 1
                except RayTaskError as e:
                    cause = e.as_instanceof_cause()
                    if isinstance(cause, NtscaleError):
                        raise cause.__class__(*cause.args) from e
                    raise
            if time.monotonic() - last_scale_check > _SCALE_CHECK_SECONDS:
                last_scale_check = time.monotonic()
                # Pick up nodes added to the cluster since the start (autoscaling).
                want, _ = _actor_slots(cpus_per_actor=cpus_per_actor, max_actors=max_actors)
                while len(actors) < min(want, len(actors) + len(queue)):
                    actors[next_index] = spawn(next_index)
                    log.info("cluster grew: started actor %d", next_index)
                    next_index += 1
        for a in actors.values():
            _kill_quietly(a)
    finally:
        tracker.close()
        if started:
            ray.shutdown()
    return job.finish(tracker.results, seconds=tracker.elapsed) | {"progress": tracker.summary()}


def _kill_quietly(actor) -> None:
    import ray

    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already dead: nothing to stop
        log.debug("actor already gone", exc_info=True)
