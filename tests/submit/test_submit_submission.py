"""One submission, planned once from the settings: address, entrypoint, env and resources."""

from __future__ import annotations

import dataclasses

import pytest
from raytest import _free_port

from ntscale.errors import ClusterError, ConfigError
from ntscale.submit.runtime_env import JOB_ENV_VARS, LOOPBACK_ENV_VARS
from ntscale.submit.settings import SubmitConfig
from ntscale.submit.submission import Submission, plan_submission, submit_job


def test_a_plan_carries_every_setting(tmp_path):
    config = SubmitConfig(
        address="10.0.0.9:8265/",
        working_dir=str(tmp_path),
        env_vars={"A": "1"},
        pip=["ntscale==0.1.0"],
        runtime_env={"excludes": ["big/"]},
        entrypoint_num_cpus=0,
        entrypoint_num_gpus=0.5,
        metadata={"team": "genomics"},
    )
    plan = plan_submission(["embed", "--out", "/o.zarr"], config, job_id="mine")
    assert plan == Submission(
        address="http://10.0.0.9:8265",
        entrypoint="ntscale embed --out /o.zarr --ray auto",
        runtime_env={
            "excludes": ["big/"],
            "env_vars": {**JOB_ENV_VARS, "A": "1"},
            "working_dir": str(tmp_path),
            "pip": ["ntscale==0.1.0"],
        },
        job_id="mine",
        entrypoint_num_cpus=0,
        entrypoint_num_gpus=0.5,
        metadata={"team": "genomics"},
    )


def test_the_resolved_address_decides_the_loopback_env(monkeypatch):
    """RAY_ADDRESS counts like a flag: a loopback head gets the loopback variables."""
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:8265")
    plan = plan_submission(["--version"], SubmitConfig())
    assert plan.address == "http://127.0.0.1:8265"
    assert plan.runtime_env["env_vars"] == {**JOB_ENV_VARS, **LOOPBACK_ENV_VARS}
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.9:8265")
    plan = plan_submission(["--version"], SubmitConfig())
    assert plan.runtime_env["env_vars"] == JOB_ENV_VARS


def test_raw_commands_and_defaults():
    plan = plan_submission(["nvidia-smi", "-L"], SubmitConfig(address="h:8265"), raw=True)
    assert plan.entrypoint == "nvidia-smi -L"
    assert (plan.job_id, plan.entrypoint_num_cpus, plan.entrypoint_num_gpus) == (
        None,
        None,
        None,
    )
    assert plan.metadata == {}


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        ([], SubmitConfig(address="h:8265"), "nothing to submit"),
        (["embed"], SubmitConfig(address="auto"), "needs the cluster's dashboard URL"),
        (["embed"], SubmitConfig(address="h:1", working_dir="/no/such/dir"), "is not a folder"),
        (["embed", "--ray=local"], SubmitConfig(address="h:1"), "`--ray local` in a submitted"),
    ],
)
def test_a_bad_submission_is_refused_before_anything_is_sent(args, config, message):
    with pytest.raises(ConfigError, match=message):
        plan_submission(args, config)


def test_a_plan_is_frozen():
    plan = plan_submission(["--version"], SubmitConfig(address="h:8265"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.entrypoint = "rm -rf /"  # type: ignore[misc]


def test_sending_to_no_cluster_fails_fast_with_the_fix():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterError, match=f"cannot reach the Ray dashboard at {url}"):
        submit_job(Submission(address=url, entrypoint="ntscale --version"))
