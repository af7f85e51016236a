"""Run a job's units on a Ray cluster: one actor per GPU, TPU host or CPU slot, bounded dispatch.

The driver only sends unit ids. Each actor opens its own files and model once, runs units
with host work overlapping device work (two calls in flight per actor, device work
serialised inside the worker), writes its own store chunks, and returns a tiny
`UnitResult`. An actor that dies has its units retried on a replacement actor; a driver
that dies leaves a store that the same command resumes; SIGINT/SIGTERM kill the actors
(their units stay unmarked) and raise `Interrupted`. This is the only runner module that
imports Ray (the Ray Jobs client, ntscale/submit/, is the other Ray user).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from ntscale.config import ExecutionConfig
from ntscale.errors import ClusterError
from ntscale.runner.faults import forwarded_env
from ntscale.runner.interrupt import catch_signals
from ntscale.runner.job import Job
from ntscale.runner.progress import start_progress

log = logging.getLogger(__name__)

# Every Ray process we start must bind to loopback unless the user points us at a cluster,
# and must not phone home (facts measured on the project's machines).
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
SCALE_CHECK_ENV = "NTSCALE_SCALE_CHECK_SECONDS"
"""How often (seconds, default 10) the driver looks for nodes added to the cluster."""
# Actors dying before they are ready this many times in a row is a set-up problem (a bad
# XLA flag, a driver/library mismatch), not bad luck: stop and show why.
MAX_START_FAILURES = 3
_LOG_LINES = 20


class UnitActor:
    """A Ray actor owning one worker (files + model) for the whole run."""

    def __init__(
        self, job: Job, index: int, cpus_per_actor: int, gpu_memory_fraction: float
    ) -> None:
        import ray

        accelerators = ray.get_runtime_context().get_accelerator_ids()
        owns_device = any(accelerators.get(k) for k in ("GPU", "TPU"))
        if not owns_device and hasattr(os, "sched_setaffinity"):
            # Pin CPU actors to their own cores before JAX starts its thread pool:
            # two JAX actors on 2 cores ran 7-16% faster pinned than sharing.
            allowed = sorted(os.sched_getaffinity(0))
            if len(allowed) >= cpus_per_actor * 2:
                first = (index * cpus_per_actor) % len(allowed)
                cores = {allowed[(first + i) % len(allowed)] for i in range(cpus_per_actor)}
                os.sched_setaffinity(0, cores)
        # JAX preallocates most of a GPU by default; leave room for other processes.
        os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", str(gpu_memory_fraction))
        self.index = index
        self.node_id = ray.get_runtime_context().get_node_id()
        # A set-up error (bad checkpoint, unreadable FASTA) is kept and raised by ready(),
        # so the driver gets the real exception instead of an opaque "actor died".
        self._error: BaseException | None = None
        try:
            self._worker = job.open_worker()
        except Exception as e:
            self._error = e

    def ready(self) -> tuple[int, str, int]:
        """(actor index, Ray node id, pid) once the worker is set up; raises its set-up error."""
        if self._error is not None:
            raise self._error
        return self.index, self.node_id, os.getpid()

    def run(self, unit: int):
        if self._error is not None:
            raise self._error
        return self._worker(unit)


def _is_loopback(address: str | None) -> bool:
    """True for a cluster address on this machine's loopback (127.x, localhost, ::1)."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS")
    if not address or address == "local":
        return False
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _prepare_env(address: str | None) -> None:
    """Set the driver's Ray environment; call before Ray is first imported (Ray reads it then)."""
    if _is_loopback(address):
        # A driver joining a cluster on 127.0.0.1 stays on loopback: with multi-node mode
        # on, Ray resolves 127.0.0.1 to this machine's network address and connects there.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    for k, v in RAY_ENV.items():
        os.environ.setdefault(k, v)


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; return True when this call started it (and must stop it)."""
    _prepare_env(address)
    import ray

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


def cluster_backend(address: str) -> str:
    """'tpu', 'gpu' or 'cpu': what the actors of the Ray cluster at `address` would run on."""
    return cluster_hardware(address)[0]


def cluster_hardware(address: str) -> tuple[str, int]:
    """(backend, devices per host) of the Ray cluster at `address`.

    'tpu' when a node advertises Ray's `TPU` resource (devices: the fewest chips of a TPU
    host, so one actor fits on every host), else 'gpu' when one has GPUs (the fewest of a
    GPU node), else ('cpu', 1). Used once at plan time to resolve dtype "auto" and
    `devices_per_actor` (runner/run_plan.py); a connection made here is closed again, so
    `run_ray` connects as usual.
    """
    import ray

    started = _connect(address, None)
    try:
        return _hardware(_alive_nodes())
    finally:
        if started:
            ray.shutdown()


def _alive_nodes() -> list[dict]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive", n.get("alive", True))]


def _hardware(nodes: list[dict]) -> tuple[str, int]:
    for kind in ("TPU", "GPU"):
        counts = [int(n["Resources"].get(kind, 0)) for n in nodes]
        counts = [c for c in counts if c > 0]
        if counts:
            return kind.lower(), min(counts)
    return "cpu", 1


@dataclass(frozen=True)
class Placement:
    """Where actors go: how many fit now, on what, and the Ray options each asks for.

    Attributes:
        n_actors: actors the cluster has room for now (at least 1, capped by max_actors).
        kind: "tpu" (one actor per `devices_per_actor` chips: per host by default), "gpu"
            or "cpu".
        options: `ray.remote(...).options` resources (and the TPU accelerator-type label
            selector where the TPU nodes carry Ray's `ray.io/accelerator-type` label).
    """

    n_actors: int
    kind: str
    options: dict


ACCELERATOR_LABEL = "ray.io/accelerator-type"


def _actor_placement(
    *, cpus_per_actor: int, max_actors: int | None, devices_per_actor: int = 1
) -> Placement:
    """The actors the cluster has room for now and the resources each takes."""
    return placement_for(
        _alive_nodes(),
        cpus_per_actor=cpus_per_actor,
        max_actors=max_actors,
        devices_per_actor=devices_per_actor,
    )


def placement_for(
    nodes: list[dict], *, cpus_per_actor: int, max_actors: int | None, devices_per_actor: int
) -> Placement:
    """`Placement` on these nodes (`ray.nodes()` entries: "Resources", "Labels").

    TPU nodes first (`TPU` resource: `devices_per_actor` chips per actor, all of a host by
    default, so one actor per host), else GPU nodes (`devices_per_actor` GPUs each), else
    `cpus_per_actor` CPUs each.
    """
    kind, _ = _hardware(nodes)
    per_node = {"tpu": "TPU", "gpu": "GPU", "cpu": "CPU"}[kind]
    size = cpus_per_actor if kind == "cpu" else devices_per_actor
    n = sum(int(node["Resources"].get(per_node, 0) // max(1, size)) for node in nodes)
    if kind == "tpu":
        options: dict = {"resources": {"TPU": devices_per_actor}, "num_cpus": cpus_per_actor}
        labels = {
            (node.get("Labels") or {}).get(ACCELERATOR_LABEL)
            for node in nodes
            if node["Resources"].get("TPU", 0) > 0
        }
        if len(labels) == 1 and None not in labels:
            options["label_selector"] = {ACCELERATOR_LABEL: labels.pop()}
    elif kind == "gpu":
        options = {"num_gpus": devices_per_actor}
    else:
        options = {"num_cpus": cpus_per_actor}
    n = max(1, n)
    if max_actors:
        n = min(n, max_actors)
    return Placement(n, kind, options)


def run_ray(
    job: Job,
    *,
    address: str | None = ExecutionConfig.ray,
    num_cpus: int | None = None,
    max_actors: int | None = ExecutionConfig.max_actors,
    cpus_per_actor: int = ExecutionConfig.cpus_per_actor,
    gpu_memory_fraction: float = ExecutionConfig.gpu_memory_fraction,
    max_in_flight_per_actor: int = ExecutionConfig.max_in_flight_per_actor,
    max_unit_retries: int = ExecutionConfig.max_unit_retries,
    actor_start_timeout: float = ExecutionConfig.actor_start_timeout,
    progress: bool = False,
    label: str = "units",
) -> dict:
    """Run every pending unit of `job` on Ray actors; return the run summary.

    The settings have `ExecutionConfig`'s names and defaults (defined there, once).

    Args:
        job: the job; pickled once into Ray's object store and shared by all actors.
        address: `ExecutionConfig.ray` (`--ray`): None/"local" starts a private single-node
            Ray on this machine; "auto" or "HOST:PORT" joins a running cluster (inside
            `ntscale submit` jobs: "auto"). Not named `ray`: that is the module here.
        num_cpus: CPUs of a private local Ray (default: all).
        max_actors: cap on actors; default one per TPU host (or per `devices_per_actor`
            chips), else one per `devices_per_actor` GPUs, else one per `cpus_per_actor`
            CPUs. The devices per actor come from the job's run plan
            (`job.run.devices_per_actor`, 1 for jobs without one).
        max_in_flight_per_actor: units queued on each actor (backpressure bound).
        max_unit_retries: how often a unit is retried after its actor died.
        actor_start_timeout: seconds without any started actor (nor progress) before the
            run stops, naming the resources an actor needs.
    """
    _prepare_env(address)
    import ray
    from ray.exceptions import (
        ActorDiedError,
        ActorUnavailableError,
        RayActorError,
        RayTaskError,
    )

    scale_check_s = float(os.environ.get(SCALE_CHECK_ENV) or 10.0)
    pending_ids = [int(u) for u in job.prepare()]
    tracker = start_progress(job, pending_ids, enabled=progress, label=label)
    if not pending_ids:
        tracker.close()
        return job.finish([], seconds=0.0) | {"progress": tracker.summary()}

    started = _connect(address, num_cpus)
    actors: dict[int, object] = {}
    total = job.n_units()
    # After _connect: ray.init installs its own SIGTERM handler, which this one overrides;
    # the old one is back once the actors are killed and Ray is shut down.
    then = "stopping the actors; their units in flight are redone on resume"
    with catch_signals(then=then) as stop:
        try:
            job_ref = ray.put(job)
            # devices each actor drives as one program (resolved with the run plan)
            devices = getattr(getattr(job, "run", None), "devices_per_actor", 1)
            place = _actor_placement(
                cpus_per_actor=cpus_per_actor, max_actors=max_actors, devices_per_actor=devices
            )
            n_slots = min(place.n_actors, len(pending_ids))
            resources = place.options
            actor_cls = ray.remote(UnitActor).options(
                max_concurrency=max(1, max_in_flight_per_actor),
                max_restarts=0,
                runtime_env={"env_vars": {**RAY_ENV, **forwarded_env()}},
                **resources,
            )
            starting: dict = {}  # ready() ref -> actor index
            ready_actors: set[int] = set()
            next_index = 0

            def spawn() -> None:
                nonlocal next_index
                i, next_index = next_index, next_index + 1
                actors[i] = actor_cls.remote(job_ref, i, cpus_per_actor, gpu_memory_fraction)
                starting[actors[i].ready.remote()] = i

            def retire(i: int) -> None:
                ready_actors.discard(i)
                _kill_quietly(actors.pop(i))

            for _ in range(n_slots):
                spawn()
            load: Counter[int] = Counter()
            queue = deque(pending_ids)
            in_flight: dict = {}
            retries: Counter[int] = Counter()
            start_failures = 0  # consecutive actors that died before they were ready
            # Which node each actor is on, and how many units each node ran (run summary).
            actor_node: dict[int, str] = {}
            units_by_node: Counter[str] = Counter()
            last_scale_check = last_progress = time.monotonic()
            log.info(
                "running %d units on %d %s actors (%d device(s) each)",
                len(queue),
                n_slots,
                place.kind.upper(),
                devices,
            )

            while queue or in_flight:
                if stop:  # units in flight die with their actors, unmarked: redone on resume
                    for a in actors.values():
                        _kill_quietly(a)
                    # Their calls fail once the processes are gone: only then is the count final.
                    if in_flight:
                        ray.wait(list(in_flight), num_returns=len(in_flight), timeout=10.0)
                    raise stop.interrupted(done=job.n_done(), total=total)
                for i in sorted(ready_actors):
                    while queue and load[i] < max_in_flight_per_actor:
                        unit = queue.popleft()
                        in_flight[actors[i].run.remote(unit)] = (unit, i)
                        load[i] += 1
                ready, _ = ray.wait([*in_flight, *starting], num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref in starting:
                        i = starting.pop(ref)
                        try:
                            _, node_id, pid = ray.get(ref)
                            ready_actors.add(i)
                            actor_node[i] = node_id
                            log.info("actor %d ready on node %s (pid %d)", i, node_id, pid)
                        except RayTaskError as e:  # the worker's set-up raised: same on every actor
                            raise _cause(e) from e
                        except RayActorError as e:  # the process died while starting
                            start_failures += 1
                            if start_failures >= MAX_START_FAILURES:
                                raise _start_failure(e, start_failures) from e
                            log.warning("actor %d died while starting (%s); replacing it", i, e)
                            retire(i)
                            spawn()
                        else:
                            start_failures = 0
                        continue
                    unit, i = in_flight.pop(ref)
                    load[i] -= 1
                    try:
                        tracker.update(ray.get(ref))
                        last_progress = time.monotonic()
                        units_by_node[actor_node.get(i, "?")] += 1
                        log.debug("unit %d done by actor %d on node %s", unit, i, actor_node.get(i))
                    except RayTaskError as e:
                        err = _cause(e)
                        err.add_note(f"while running unit {unit} on Ray actor {i}")
                        raise err from e
                    except (ActorDiedError, ActorUnavailableError, RayActorError) as e:
                        queue.appendleft(unit)
                        if i not in actors:  # its actor already failed another unit: no blame
                            continue
                        retries[unit] += 1
                        if retries[unit] > max_unit_retries:
                            raise ClusterError(
                                f"unit {unit} was running when its actor died "
                                f"{retries[unit]} times; last error: {e}"
                            ) from e
                        log.warning("actor %d died on unit %d; retrying on a new actor", i, unit)
                        retire(i)
                        spawn()
                now = time.monotonic()
                if not ready_actors and not in_flight and now - last_progress > actor_start_timeout:
                    raise ClusterError(
                        f"no Ray actor could start within {actor_start_timeout:.0f} s; each needs "
                        f"{resources} and the cluster has {ray.cluster_resources()}"
                    )
                if now - last_scale_check > scale_check_s:
                    last_scale_check = now
                    # Pick up nodes added to the cluster since the start (autoscaling).
                    want = _actor_placement(
                        cpus_per_actor=cpus_per_actor,
                        max_actors=max_actors,
                        devices_per_actor=devices,
                    ).n_actors
                    while len(actors) < min(want, len(actors) + len(queue)):
                        spawn()
                        log.info("cluster grew: started actor %d", next_index - 1)
        finally:
            for a in actors.values():
                _kill_quietly(a)
            tracker.close()
            if started:
                ray.shutdown()
    nodes = dict(sorted(units_by_node.items()))
    log.info("units per node: %s", nodes)
    summary = job.finish(tracker.results, seconds=tracker.elapsed)
    return summary | {"progress": tracker.summary(), "units_by_node": nodes}


def _start_failure(err: BaseException, n: int) -> ClusterError:
    """The error for actors that keep dying at start-up, with the last one's log lines."""
    text = str(err)
    pid = re.search(r"\bpid: (\d+)", text)
    ip = re.search(r"\bip: (\S+)", text)
    exit_detail = re.search(r"Worker exit detail: ([^.]*)", text)
    where = f" (pid {pid.group(1)} on {ip.group(1) if ip else '?'})" if pid else ""
    reason = exit_detail.group(1) if exit_detail else text.splitlines()[0]
    lines = _worker_log_tail(pid.group(1)) if pid else []
    tail = (
        f"; last {len(lines)} lines of its log:\n" + "\n".join(f"  | {x}" for x in lines)
        if lines
        else "; its log is on its node under Ray's session folder (logs/worker-*.err)"
    )
    return ClusterError(
        f"Ray actors died before they were ready {n} times in a row; the last{where}: "
        f"{reason}{tail}"
    )


def _worker_log_tail(pid: str) -> list[str]:
    """Last lines of a dead worker's stderr/stdout, when its node is this machine."""
    try:
        import ray._private.worker as rw  # no public API gives the logs folder

        folder = Path(rw.global_worker.node.get_logs_dir_path())
    except Exception:  # a remote node, or Ray internals changed: no tail, not an error
        return []
    lines: list[str] = []
    for path in sorted(folder.glob(f"worker-*-{pid}.*")):
        if path.suffix in (".err", ".out"):
            text = path.read_text(errors="replace").splitlines()
            lines += [x for x in text if x.strip() and not x.startswith(":")]  # Ray's markers
    return lines[-_LOG_LINES:]


def _cause(err: BaseException) -> BaseException:
    """The exception a worker raised, unwrapped from Ray's task error (attributes intact)."""
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, BaseException) else err


def _kill_quietly(actor) -> None:
    import ray

    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already dead: nothing to stop
        log.debug("actor already gone", exc_info=True)
