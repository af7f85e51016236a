"""run_local: units in the given order, done units skipped, two in flight, errors and
signals surface, and the summary the CLI prints adds up."""

from __future__ import annotations

import signal
import threading

import pytest
from toyjob import ToyJob, unit_bp, unit_rows

from ntscale.errors import Interrupted
from ntscale.runner.local import run_local


def test_serial_run_follows_the_pending_order_and_skips_done_units():
    job = ToyJob(6, done={0, 3})
    summary = run_local(job, max_in_flight_per_actor=1)
    assert job.started == [1, 2, 4, 5]  # prepare's order, done units never run
    assert job.opened == 1  # one worker for the whole run
    assert summary["units"] == [1, 2, 4, 5]
    results, seconds = job.finish_args
    assert [r.unit for r in results] == [1, 2, 4, 5] and seconds >= 0
    progress = summary["progress"]
    assert progress["units_done"] == 4
    assert progress["rows_done"] == 2 + 3 + 5 + 6  # unit u has u + 1 rows
    assert progress["bp_done"] == sum(unit_bp(u) for u in (1, 2, 4, 5))
    assert progress["model_seconds"] == 4 * 0.25
    assert progress["status_counts"] == {"OK": 1 + 2 + 4 + 5, "SKIPPED": 4}


def test_nothing_pending_opens_no_worker():
    job = ToyJob(3, done={0, 1, 2})
    summary = run_local(job)
    assert job.opened == 0 and job.started == []
    assert summary["units"] == [] and summary["progress"]["rows_done"] == 0


def test_two_units_run_at_once_never_more():
    # both of the first two units wait for each other: a serial executor would time out
    barrier = threading.Barrier(2, timeout=10)

    def meet(unit: int) -> None:
        if unit < 2:
            barrier.wait()

    job = ToyJob(5, hook=meet, delay_s=0.02)
    summary = run_local(job, max_in_flight_per_actor=2)
    assert sorted(job.finished) == [0, 1, 2, 3, 4] and job.max_running == 2
    assert summary["progress"]["rows_done"] == sum(unit_rows(u) for u in range(5))


def test_a_failing_unit_raises_its_own_error_and_dispatches_no_more():
    job = ToyJob(6, fail_unit=2)
    with pytest.raises(ValueError, match="toy unit 2 failed on purpose"):
        run_local(job, max_in_flight_per_actor=1)
    assert job.started == [0, 1, 2] and job.finish_args is None


def test_worker_setup_error_reaches_the_caller():
    with pytest.raises(RuntimeError, match="no model here"):
        run_local(ToyJob(2, setup_error="no model here"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_lets_the_unit_in_flight_finish_then_stops(signum, code):
    def interrupt(unit: int) -> None:
        if unit == 1:
            signal.raise_signal(signum)  # as Ctrl-C or `kill` would, while unit 1 runs

    job = ToyJob(5, done={0}, hook=interrupt)
    before = signal.getsignal(signum)
    with pytest.raises(Interrupted) as err:
        run_local(job, max_in_flight_per_actor=1)
    assert job.finished == [1]  # the unit in flight finished; none was started after it
    assert err.value.exit_code == code
    assert str(err.value) == "interrupted: 2 of 5 units done; run the same command to resume"
    assert signal.getsignal(signum) is before  # the caller's handler is back


def test_a_warm_worker_is_reused_instead_of_opening_another():
    job = ToyJob(3)
    warm = job.open_worker()  # benchmarks keep one worker (model loaded, jitted) across runs
    run_local(job, worker=warm, max_in_flight_per_actor=1)
    run_local(ToyJob(3), worker=warm, max_in_flight_per_actor=1)  # another run of the same shape
    assert job.opened == 1 and job.finished == [0, 1, 2, 0, 1, 2]
