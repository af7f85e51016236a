"""run_ray on the session's real local Ray (2 CPUs): units spread over actors in other
processes, summaries per node, a unit's own error back with where it ran; plus the
executor's pure helpers (loopback addresses, error unwrapping, start-failure message)."""

from __future__ import annotations

import os
import signal

import pytest
import toyjob
from toyjob import ToyJob, unit_bp, unit_rows

from ntscale.errors import ClusterError, Interrupted
from ntscale.runner import ray as ray_exec
from ntscale.runner.faults import EXIT_ONCE
from ntscale.runner.ray import run_ray


@pytest.fixture
def toy_ray(ray_session):
    """The shared Ray session, with the toy job shipped to actors by value (the actors'
    Python path does not include tests/)."""
    ray_session.cloudpickle.register_pickle_by_value(toyjob)
    yield ray_session
    ray_session.cloudpickle.unregister_pickle_by_value(toyjob)


@pytest.mark.ray
def test_units_run_once_each_on_actors_and_sum_up_per_node(toy_ray):
    job = ToyJob(7, done={2})
    summary = run_ray(job, max_actors=2, label="windows")
    todo = [0, 1, 3, 4, 5, 6]
    assert summary["units"] == todo  # finish() got every pending unit's result, once
    results, _ = job.finish_args
    assert sorted(r.unit for r in results) == todo
    pids = {r.forward_windows for r in results}  # the toy worker reports its process id
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    node = toy_ray.get_runtime_context().get_node_id()
    assert summary["units_by_node"] == {node: len(todo)}
    progress = summary["progress"]
    assert progress["rows_done"] == sum(unit_rows(u) for u in todo)
    assert progress["bp_done"] == sum(unit_bp(u) for u in todo)
    assert progress["status_counts"] == {"OK": sum(todo), "SKIPPED": len(todo)}
    assert toy_ray.is_initialized()  # a session the caller started stays up


@pytest.mark.ray
def test_a_failing_unit_raises_its_own_error_naming_unit_and_actor(toy_ray):
    with pytest.raises(ValueError, match="toy unit 1 failed on purpose") as err:
        run_ray(ToyJob(3, fail_unit=1), max_actors=1)
    assert "while running unit 1 on Ray actor 0" in getattr(err.value, "__notes__", [])


@pytest.mark.ray
def test_actor_slots_follow_the_cluster_cpus(toy_ray):
    assert toy_ray.cluster_resources().get("GPU", 0) == 0

    def slots(cpus: int, cap: int | None = None) -> tuple[int, str, dict]:
        p = ray_exec._actor_placement(cpus_per_actor=cpus, max_actors=cap)
        return p.n_actors, p.kind, p.options

    assert slots(1) == (2, "cpu", {"num_cpus": 1})
    assert slots(2) == (1, "cpu", {"num_cpus": 2})
    assert slots(4)[0] == 1  # at least one
    assert slots(1, cap=1)[0] == 1
    assert ray_exec.cluster_backend("local") == "cpu"


def test_nothing_pending_returns_without_starting_ray(monkeypatch):
    for key, value in ray_exec.RAY_ENV.items():  # run_ray sets these; restore them after
        monkeypatch.setenv(key, value)
    job = ToyJob(3, done={0, 1, 2})
    summary = run_ray(job, address="127.0.0.1:1")  # unreachable: it must not even try
    assert summary["units"] == [] and summary["progress"]["units_done"] == 0
    assert job.opened == 0


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:6379", True),
        ("ray://127.0.0.2:10001", True),
        ("localhost:6379", True),
        ("[::1]:6379", True),
        ("10.0.0.5:6379", False),
        ("head.example.org:6379", False),
        ("local", False),
        (None, False),
    ],
)
def test_loopback_addresses(address, loopback):
    assert ray_exec._is_loopback(address) is loopback


def test_auto_address_is_read_from_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert ray_exec._is_loopback("auto")
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    assert not ray_exec._is_loopback("auto")


def test_a_task_error_is_unwrapped_to_the_workers_exception():
    cause = KeyError("chr7")

    class TaskError(Exception):
        def __init__(self) -> None:
            super().__init__("wrapped")
            self.cause = cause

    assert ray_exec._cause(TaskError()) is cause
    plain = RuntimeError("no cause attribute")
    assert ray_exec._cause(plain) is plain


def test_start_failure_names_the_process_and_the_reason():
    text = (
        "The actor died unexpectedly before finishing this task.\n"
        "\tclass_name: UnitActor\n\tpid: 987654321\n\tip: 127.0.0.1\n"
        "Worker exit detail: Worker exits unexpectedly. Worker exits with an exit code 1."
    )
    err = ray_exec._start_failure(RuntimeError(text), 3)
    assert isinstance(err, ClusterError)
    message = str(err)
    assert message.startswith(
        "Ray actors died before they were ready 3 times in a row; the last "
        "(pid 987654321 on 127.0.0.1): Worker exits unexpectedly; "
    )
    # no such worker's log on this machine: say where to look instead of inventing a tail
    assert message.endswith("its log is on its node under Ray's session folder (logs/worker-*.err)")


def test_start_failure_without_a_pid_keeps_the_first_line():
    err = ray_exec._start_failure(RuntimeError("actor gone\nmore detail"), 3)
    assert "the last: actor gone; its log is on its node" in str(err)


@pytest.mark.ray
def test_an_actor_killed_mid_unit_is_replaced_and_the_unit_redone(toy_ray, tmp_path, monkeypatch):
    marker = tmp_path / "crashed"
    monkeypatch.setenv(EXIT_ONCE, str(marker))  # forwarded to the actors (NTSCALE_*)
    job = ToyJob(4, faults=True)
    summary = run_ray(job, max_actors=1)
    _, unit, _, pid = marker.read_text().split()
    assert int(unit) in (0, 1)  # the first unit to start (of the actor's two) killed it
    assert summary["units"] == [0, 1, 2, 3]  # ... and was redone with the others, once each
    dead = int(pid)
    assert dead not in {r.forward_windows for r in job.finish_args[0]}  # by another process


@pytest.mark.ray
def test_a_unit_whose_actors_keep_dying_stops_the_run(toy_ray, tmp_path, monkeypatch):
    monkeypatch.setenv(EXIT_ONCE, str(tmp_path / "crashed"))
    with pytest.raises(ClusterError, match=r"unit [01] was running when its actor died 1 times"):
        run_ray(ToyJob(2, faults=True), max_actors=1, max_unit_retries=0)


@pytest.mark.ray
def test_actors_that_cannot_be_placed_stop_the_run_naming_the_resources(toy_ray):
    # 3 CPUs per actor on a 2-CPU Ray: the actor never starts
    with pytest.raises(ClusterError) as err:
        run_ray(ToyJob(2), cpus_per_actor=3, actor_start_timeout=2.0)
    message = str(err.value)
    assert message.startswith("no Ray actor could start within 2 s; each needs {'num_cpus': 3}")
    assert "'CPU': 2.0" in message


@pytest.mark.ray
def test_ctrl_c_at_the_driver_kills_the_actors_and_says_how_to_resume(toy_ray):
    before = signal.getsignal(signal.SIGINT)
    job = ToyJob(5, done={0}, interrupt_unit=2, delay_s=0.5)
    with pytest.raises(Interrupted) as err:
        run_ray(job, max_actors=1)
    assert err.value.exit_code == 130
    assert str(err.value) == "interrupted: 1 of 5 units done; run the same command to resume"
    assert signal.getsignal(signal.SIGINT) is before
    assert toy_ray.is_initialized()  # the caller's Ray session survives; only actors died


def _node(resources: dict, labels: dict | None = None, alive: bool = True) -> dict:
    return {"Alive": alive, "Resources": resources, "Labels": labels or {}}


TPU_LABEL = {ray_exec.ACCELERATOR_LABEL: "TPU-V6E"}


def test_tpu_hosts_get_one_actor_each_with_all_their_chips():
    nodes = [_node({"CPU": 180, "TPU": 8}, TPU_LABEL), _node({"CPU": 180, "TPU": 8}, TPU_LABEL)]
    nodes.append(_node({"CPU": 4}))  # the head: no TPU, no actor
    p = ray_exec.placement_for(nodes, cpus_per_actor=1, max_actors=None, devices_per_actor=8)
    assert (p.n_actors, p.kind) == (2, "tpu")
    assert p.options == {
        "resources": {"TPU": 8},
        "num_cpus": 1,
        "label_selector": {ray_exec.ACCELERATOR_LABEL: "TPU-V6E"},
    }
    assert ray_exec._hardware(nodes) == ("tpu", 8)
    from ray._common.ray_option_utils import validate_actor_options

    validate_actor_options(p.options, in_options=True)  # Ray accepts these actor options


def test_tpu_chips_can_be_split_and_unlabelled_hosts_get_no_selector():
    nodes = [_node({"TPU": 4}), _node({"TPU": 4}, TPU_LABEL)]
    p = ray_exec.placement_for(nodes, cpus_per_actor=2, max_actors=3, devices_per_actor=1)
    assert (p.n_actors, p.kind) == (3, "tpu")  # 8 chips, capped at 3
    assert "label_selector" not in p.options and p.options["resources"] == {"TPU": 1}


def test_gpu_nodes_take_devices_per_actor_gpus_each():
    nodes = [_node({"CPU": 32, "GPU": 8}), _node({"CPU": 32, "GPU": 4})]
    p = ray_exec.placement_for(nodes, cpus_per_actor=1, max_actors=None, devices_per_actor=4)
    assert (p.n_actors, p.kind, p.options) == (3, "gpu", {"num_gpus": 4})
    one = ray_exec.placement_for(nodes, cpus_per_actor=1, max_actors=None, devices_per_actor=1)
    assert one.n_actors == 12  # one per GPU, as before
    assert ray_exec._hardware(nodes) == ("gpu", 4)  # the smaller node bounds the default


def test_a_cpu_cluster_has_no_devices_to_split():
    nodes = [_node({"CPU": 3}), _node({"CPU": 16, "TPU": 0})]
    assert ray_exec._hardware(nodes) == ("cpu", 1)
    p = ray_exec.placement_for(nodes, cpus_per_actor=2, max_actors=None, devices_per_actor=1)
    assert (p.n_actors, p.kind, p.options) == (9, "cpu", {"num_cpus": 2})
