"""SIGINT/SIGTERM to a real `ntscale embed` process: exit 130/143, one line, resumable store."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from test_resume import done_count, embed_cmd

pytestmark = pytest.mark.slow

N_UNITS = 5  # 6 kb / 600 bp windows / 2 windows per unit


def interrupt_run(
    cmd: list[str], out, signum: int, *, delay: str = "0.5", group: bool = False
) -> tuple[int, str]:
    """Start `cmd`, send `signum` once a unit is done, return (exit code, stderr).

    group: send it to the whole process group, as a terminal's Ctrl-C does (the driver and
    every child it started in its group), not only to the driver.
    """
    env = dict(os.environ, NTSCALE_FAULT_UNIT_DELAY=delay, RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while done_count(out) < 1 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err


def resume_to_completion(cmd: list[str], out) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert done_count(out) == N_UNITS


def test_local_run_interrupted_exits_130_refuses_an_edited_input_and_resumes(example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1006000\n")
    out = tmp_path / "int.zarr"
    cmd = embed_cmd(example, out, bed)
    rc, err = interrupt_run(cmd, out, signal.SIGINT, group=True)  # Ctrl-C: the whole group
    assert rc == 130, err
    done = done_count(out)
    assert 1 <= done < N_UNITS, err
    assert f"interrupted: {done} of {N_UNITS} units done; run the same command to resume" in err
    # issue 26: the warning said once, by the driver (no child handling the signal too)
    assert err.count("SIGINT received: dispatching no more units") == 1, err
    assert "Traceback" not in err
    # The BED edited in place between the interrupted run and its re-run: refused by name.
    bed.write_text("20\t1100000\t1106000\n")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "inputs.regions.sha256" in r.stderr and "Traceback" not in r.stderr
    assert done_count(out) == done
    bed.write_text("20\t1000000\t1006000\n")  # the original content resumes
    resume_to_completion(cmd, out)


@pytest.mark.ray
def test_ray_run_terminated_exits_143_and_resumes(example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1006000\n")
    out = tmp_path / "int_ray.zarr"
    cmd = [*embed_cmd(example, out, bed), "--ray", "local", "--max-actors", "1"]
    # Long units: a loaded machine must not finish the run before the driver reacts.
    rc, err = interrupt_run(cmd, out, signal.SIGTERM, delay="2.5")
    assert rc == 143, err
    done = done_count(out)
    assert 1 <= done < N_UNITS, err
    assert f"interrupted: {done} of {N_UNITS} units done; run the same command to resume" in err
    assert "Traceback" not in err
    resume_to_completion(cmd, out)
