"""Submission helpers that need no cluster: entrypoints, addresses, runtime envs, configs."""

from __future__ import annotations

import subprocess
import time

import pytest
from raytest import VENV_BIN, _free_port

from ntscale import submit as sub
from ntscale.errors import ClusterError, ConfigError


def test_embed_gets_ray_auto_appended():
    ep = sub.build_entrypoint(["embed", "--fasta", "/data/hg 38.fa", "--out", "s3://b/x.zarr"])
    assert ep == "ntscale embed --fasta '/data/hg 38.fa' --out s3://b/x.zarr --ray auto"


@pytest.mark.parametrize("words", [["--ray", "10.0.0.1:6379"], ["--ray=auto"]])
def test_existing_ray_option_is_kept(words):
    assert sub.build_entrypoint(["score", *words]) == "ntscale score " + " ".join(words)


@pytest.mark.parametrize("words", [["--ray", "local"], ["--ray=local"]])
def test_ray_local_is_refused_in_a_job(words):
    with pytest.raises(ConfigError, match="`--ray local` in a submitted job would start"):
        sub.build_entrypoint(["embed", *words])


def test_other_commands_and_raw_are_left_alone():
    assert sub.build_entrypoint(["--version"]) == "ntscale --version"
    assert sub.build_entrypoint(["-v", "embed"]) == "ntscale -v embed --ray auto"
    assert sub.build_entrypoint(["nvidia-smi", "-L"], raw=True) == "nvidia-smi -L"


def test_empty_and_recursive_submissions_are_refused():
    with pytest.raises(ConfigError, match="nothing to submit: give the ntscale command"):
        sub.build_entrypoint([])
    with pytest.raises(ConfigError, match="`ntscale submit` cannot run inside a Ray job"):
        sub.build_entrypoint(["submit", "--", "embed"])
    with pytest.raises(ConfigError, match="`ntscale jobs` cannot run inside a Ray job"):
        sub.build_entrypoint(["jobs", "list"])


def test_loopback_detection():
    assert sub.is_loopback("http://127.0.0.1:8265") and sub.is_loopback("localhost:8265")
    assert not sub.is_loopback("http://10.0.0.5:8265")


def test_address_resolution(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert sub.resolve_address(None) == "http://127.0.0.1:8265"
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:8265")
    assert sub.resolve_address(None) == "http://10.1.2.3:8265"
    assert sub.resolve_address("https://ray.example.org/") == "https://ray.example.org"
    for bad in ("auto", "ray://head:10001"):
        with pytest.raises(ConfigError, match="needs the cluster's dashboard URL"):
            sub.resolve_address(bad)
    with pytest.raises(ConfigError, match="is not a dashboard URL"):
        sub.resolve_address("ftp://head:21")


def test_runtime_env_defaults_and_overrides(tmp_path):
    base = {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1",
        "NTSCALE_LOG_LEVEL": "INFO",
    }
    assert sub.build_runtime_env() == {"env_vars": base}
    assert sub.build_runtime_env(address="http://10.0.0.5:8265") == {"env_vars": base}
    env = sub.build_runtime_env(
        address="http://127.0.0.1:8265",
        working_dir=str(tmp_path),
        env_vars={"RAY_USAGE_STATS_ENABLED": "1", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9"},
        pip=["ntscale[gpu]==0.1.0"],
        base={"env_vars": {"A": "1"}, "excludes": ["big/"]},
    )
    assert env["working_dir"] == str(tmp_path)
    assert env["excludes"] == ["big/"]  # a config's excludes win over the defaults
    assert env["pip"] == ["ntscale[gpu]==0.1.0"]
    assert env["env_vars"] == {
        "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1",
        "NTSCALE_LOG_LEVEL": "INFO",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "1",
        "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9",
        "A": "1",
    }
    assert ".venv" in sub.build_runtime_env(working_dir=str(tmp_path))["excludes"]
    url = "s3://bucket/code.zip"
    assert sub.build_runtime_env(working_dir=url)["working_dir"] == url
    with pytest.raises(ConfigError, match="--working-dir '.*nope' is not a folder"):
        sub.build_runtime_env(working_dir=str(tmp_path / "nope"))


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
