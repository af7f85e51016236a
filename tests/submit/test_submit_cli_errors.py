"""`ntscale submit` with no cluster: one-line errors, and --dry-run showing what would be sent."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import time

import pytest
from raytest import VENV_BIN, _free_port

from ntscale import submit as sub
from ntscale.cli.main import main
from ntscale.errors import ClusterError
from ntscale.submit.runtime_env import JOB_ENV_VARS


def test_unreachable_address_fails_fast_with_the_fix():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterError, match="cannot reach the Ray dashboard at http://127.0.0.1"):
        sub.job_status(url, "raysubmit_x")
    t0 = time.monotonic()
    res = subprocess.run(
        [str(VENV_BIN / "ntscale"), "submit", "--address", url, "--", "embed", "--fasta", "x"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert time.monotonic() - t0 < 15
    assert res.returncode == 2
    assert f"cannot reach the Ray dashboard at {url}" in res.stderr
    assert "ray start --head --dashboard-host 0.0.0.0 --dashboard-port 8265" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_argument_errors():
    run = [str(VENV_BIN / "ntscale"), "submit", "--env", "NOEQUALS", "--", "embed"]
    res = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2
    assert "error: --env 'NOEQUALS' is not KEY=VALUE" in res.stderr
    res = subprocess.run(run[:2], capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2
    assert "nothing to submit" in res.stderr


def _dry_run(capsys, *args: str) -> dict:
    """Run `ntscale submit --dry-run ARGS` in this process (it returns: exit 0); its JSON."""
    main(["submit", "--dry-run", *args])
    return json.loads(capsys.readouterr().out)


def test_dry_run_shows_the_submission_and_sends_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = tmp_path / "submit.yaml"
    cfg.write_text(
        "address: 10.0.0.9:8265\nenv_vars: {A: from-file, B: from-file}\n"
        "entrypoint_num_cpus: 0\nmetadata: {team: genomics}\npip: [a]\n"
    )
    words = ["embed", "--fasta", "/d/hg 38.fa", "--out", "s3://b/x.zarr"]
    plan = _dry_run(
        capsys, "--config", str(cfg), "--env", "B=flag", "--pip", "b", "--job-id", "mine",
        "--", *words,
    )  # fmt: skip
    assert plan == {
        "address": "http://10.0.0.9:8265",
        "entrypoint": shlex.join(["ntscale", *words, "--ray", "auto"]),
        "runtime_env": {
            "env_vars": {**JOB_ENV_VARS, "A": "from-file", "B": "flag"},
            "pip": ["b"],
        },
        "job_id": "mine",
        "entrypoint_num_cpus": 0,
        "entrypoint_num_gpus": None,
        "metadata": {"team": "genomics"},
    }


def test_dry_run_entrypoint_is_the_planned_one(capsys):
    """The CLI prints the Submission that `submit_job` would send, field for field."""
    words = ["--raw", "--", "python", "-c", "print('two words')"]
    plan = _dry_run(capsys, "--address", "http://127.0.0.1:1", *words)
    planned = sub.plan_submission(
        ["python", "-c", "print('two words')"],
        sub.SubmitConfig(address="http://127.0.0.1:1"),
        raw=True,
    )
    assert plan == json.loads(json.dumps(dataclasses.asdict(planned), default=dict))
    assert shlex.split(plan["entrypoint"]) == ["python", "-c", "print('two words')"]


def test_dry_run_still_refuses_what_a_submission_would(capsys):
    with pytest.raises(SystemExit) as done:
        main(["submit", "--dry-run", "--", "embed", "--out", "rel.zarr"])
    assert done.value.code == 2
    assert "error: --out 'rel.zarr' is relative" in capsys.readouterr().err
