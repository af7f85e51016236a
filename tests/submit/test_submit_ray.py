"""`ntscale submit` / `ntscale jobs` against a real Ray head started on 127.0.0.1."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest
from raytest import VENV_BIN  # tests/cluster is on sys.path (conftest)

from ntscale import __version__
from ntscale import submit as sub
from ntscale.cli.main import main
from ntscale.errors import ClusterError

pytestmark = [pytest.mark.ray, pytest.mark.slow]

JOB_RE = re.compile(r"^job: (\S+)$", re.MULTILINE)


def _job_id(stdout: str) -> str:
    m = JOB_RE.search(stdout)
    assert m, f"no job id printed in:\n{stdout}"
    return m.group(1)


def test_submit_version_succeeds_and_jobs_commands_see_it(run_cli, ray_head):
    res = run_cli("submit", "--address", ray_head.dashboard_url, "--", "--version")
    assert res.returncode == 0, res.stderr
    job_id = _job_id(res.stdout)
    assert job_id.startswith("raysubmit_")
    assert f"ntscale {__version__}" in res.stdout  # the job's logs came back
    assert f"job {job_id} SUCCEEDED" in res.stdout
    assert "entrypoint: ntscale --version" in res.stderr

    status = run_cli("jobs", "status", job_id, "--address", ray_head.dashboard_url)
    assert status.returncode == 0
    assert status.stdout.splitlines()[0] == f"{job_id} SUCCEEDED"

    logs = run_cli("jobs", "logs", job_id, "--address", ray_head.dashboard_url)
    assert f"ntscale {__version__}" in logs.stdout

    listed = run_cli("jobs", "list", "--address", ray_head.dashboard_url)
    row = next(line for line in listed.stdout.splitlines() if line.startswith(job_id))
    assert "SUCCEEDED" in row and row.endswith("ntscale --version")


def test_the_entrypoint_ray_runs_is_the_one_shown(run_cli, ray_head, head_env, capsys):
    """The dry run, the `entrypoint:` line and the job Ray stored agree to the character,
    and the job's shell sees the words as given (quotes, spaces, `$` kept)."""
    url = ray_head.dashboard_url
    words = ["--raw", "--", "echo", "two  words", "it's", "$HOME"]
    main(["submit", "--dry-run", "--address", url, *words])
    planned = json.loads(capsys.readouterr().out)["entrypoint"]
    res = run_cli("submit", "--address", url, *words)
    assert res.returncode == 0, res.stderr
    shown = re.search(r"^entrypoint: (.*)$", res.stderr, re.MULTILINE).group(1)
    stored = sub.job_status(url, _job_id(res.stdout)).entrypoint
    assert planned == shown == stored == """echo 'two  words' 'it'"'"'s' '$HOME'"""
    assert "two  words it's $HOME" in res.stdout.splitlines()


def test_failed_job_exits_nonzero_with_its_last_20_log_lines(run_cli, ray_head, head_env):
    code = "import sys\nfor i in range(30): print(f'line {i}')\nsys.exit(3)"
    res = run_cli(
        "submit", "--address", ray_head.dashboard_url, "--raw", "--", sys.executable, "-c", code
    )
    assert res.returncode == 2
    job_id = _job_id(res.stdout)
    assert f"error: job {job_id} FAILED" in res.stderr
    assert "last 20 log lines:" in res.stderr
    for i in range(10, 30):
        assert f"  | line {i}\n" in res.stderr
    assert "  | line 9\n" not in res.stderr
    assert f"ntscale jobs logs {job_id}" in res.stderr
    assert sub.job_status(ray_head.dashboard_url, job_id).status == "FAILED"


def test_failed_ntscale_command_fails_the_job(run_cli, ray_head):
    res = run_cli("submit", "--address", ray_head.dashboard_url, "--", "no-such-command")
    assert res.returncode == 2
    assert "FAILED" in res.stderr
    assert "no-such-command" in res.stderr


def test_stop_a_running_job(run_cli, ray_head, head_env):
    url = ray_head.dashboard_url
    res = run_cli("submit", "--address", url, "--no-wait", "--raw", "--", "sleep", "600")
    assert res.returncode == 0, res.stderr
    job_id = _job_id(res.stdout)
    assert f"ntscale jobs logs {job_id} --follow" in res.stderr
    deadline = time.monotonic() + 60
    while sub.job_status(url, job_id).status != "RUNNING":
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.3)
    stopped = run_cli("jobs", "stop", job_id, "--address", url)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"{job_id} STOPPED"
    assert sub.job_status(url, job_id).status == "STOPPED"
    followed = run_cli("jobs", "logs", job_id, "--follow", "--address", url)
    assert followed.returncode == 2
    assert f"job {job_id} STOPPED" in followed.stderr


def test_job_gets_runtime_env_and_can_join_its_cluster(run_cli, ray_head, head_env, tmp_path):
    """The job sees the env vars (defaults, --config, --env) and `ray.init('auto')` finds
    the cluster it runs in, which is what `--ray auto` relies on."""
    cfg = tmp_path / "submit.yaml"
    cfg.write_text(
        f"address: {ray_head.dashboard_url}\n"
        "env_vars: {FROM_CONFIG: c1, OVERRIDDEN: config}\n"
        "entrypoint_num_cpus: 0\n"
        "metadata: {team: genomics}\n"
    )
    workdir = tmp_path / "wd"
    workdir.mkdir()
    (workdir / "probe.py").write_text(
        "import os, ray\n"
        "for k in ('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', 'RAY_USAGE_STATS_ENABLED',\n"
        "          'FROM_CONFIG', 'OVERRIDDEN'):\n"
        "    print(f'{k}={os.environ.get(k)}')\n"
        # The same call shape as the Ray executor: its own runtime_env naming the same keys.
        "ray.init(address='auto', logging_level='ERROR', runtime_env={'env_vars': {\n"
        "    'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER': '0', 'RAY_USAGE_STATS_ENABLED': '0'}})\n"
        "print('cluster_cpus=%d' % ray.cluster_resources()['CPU'])\n"
        "@ray.remote(num_cpus=1)\n"
        "def probe():\n"
        "    return os.environ.get('FROM_CONFIG'), os.path.exists('probe.py')\n"
        "print('task_sees=%s,%s' % ray.get(probe.remote()))\n"
    )
    res = run_cli(
        "submit", "--config", str(cfg), "--working-dir", str(workdir),
        "--env", "OVERRIDDEN=cli", "--raw", "--", "python", "probe.py",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr + res.stdout
    for line in (
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0",
        "RAY_USAGE_STATS_ENABLED=0",
        "FROM_CONFIG=c1",
        "OVERRIDDEN=cli",
        "cluster_cpus=2",
        "task_sees=c1,True",  # the job's env and working dir reach its tasks/actors
    ):
        assert line in res.stdout.splitlines(), res.stdout
    info = sub.connect(ray_head.dashboard_url).get_job_info(_job_id(res.stdout))
    assert info.metadata == {"team": "genomics"}


def test_unknown_job_id_is_a_clear_error(run_cli, ray_head, head_env):
    res = run_cli("jobs", "status", "raysubmit_nope", "--address", ray_head.dashboard_url)
    assert res.returncode == 2
    assert "no job 'raysubmit_nope' on the cluster at" in res.stderr
    assert "ntscale jobs list" in res.stderr
    with pytest.raises(ClusterError, match="no job 'raysubmit_nope'"):
        sub.stop_job(ray_head.dashboard_url, "raysubmit_nope")


@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_missing_or_wrong_auth_token_is_a_clear_error(run_cli, ray_head, tmp_path, token):
    env = {"RAY_AUTH_TOKEN": token, "RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")}
    res = run_cli("jobs", "list", "--address", ray_head.dashboard_url, env=env)
    assert res.returncode == 2
    assert f"the Ray cluster at {ray_head.dashboard_url} refused this machine's credentials" in (
        res.stderr
    )
    assert "`ray get-auth-token` on the head" in res.stderr
    assert "Traceback" not in res.stderr


def test_runtime_env_failure_shows_the_real_reason(run_cli, ray_head, tmp_path):
    """A code package the head never received: Ray's first line says only "Failed to set up
    runtime environment"; the whole message and the agent's ERROR lines name the package."""
    package = "gcs://_ray_pkg_00000000deadbeef.zip"
    cfg = tmp_path / "submit.yaml"
    cfg.write_text(f"runtime_env: {{working_dir: '{package}'}}\n")
    res = run_cli(
        "submit", "--address", ray_head.dashboard_url, "--config", str(cfg), "--", "--version"
    )
    assert res.returncode == 2
    job_id = _job_id(res.stdout)
    head, *rest = res.stderr.split("runtime-env agent log (ERROR lines):\n")
    assert f"error: job {job_id} FAILED: runtime_env setup failed" in head
    assert f"  > OSError: Failed to download runtime_env file package {package}" in head
    assert rest, res.stderr
    agent = [line for line in rest[0].splitlines() if line.startswith("  ! ")]
    assert any("[127.0.0.1 runtime_env_agent.log]" in a and package in a for a in agent)
    assert f"ntscale jobs logs {job_id}" in res.stderr


def _default_sigint() -> None:
    """(in the child, before exec) SIGINT back to its default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("words", "signum", "code"),
    [(["submit"], signal.SIGINT, 130), (["jobs", "logs"], signal.SIGTERM, 143)],
)
def test_interrupted_follow_leaves_the_job_running(ray_head, head_env, words, signum, code):
    """Ctrl-C (or SIGTERM) on `submit` / `jobs logs --follow` stops following, not the job."""
    url = ray_head.dashboard_url
    if words == ["submit"]:
        args = ["submit", "--address", url, "--raw", "--", "sleep", "600"]
        job_id = None
    else:
        job_id = sub.submit_job(sub.Submission(address=url, entrypoint="sleep 600"))
        args = ["jobs", "logs", job_id, "--follow", "--address", url]
    proc = subprocess.Popen(
        [str(VENV_BIN / "ntscale"), *args],
        env=ray_head.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background (`cmd &`) runs with SIGINT
        # ignored, which children inherit, and Python then never raises KeyboardInterrupt
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while job_id is None or sub.job_status(url, job_id).status != "RUNNING":
            assert time.monotonic() < deadline and proc.poll() is None, "job never started"
            if job_id is None:
                job_id = _job_id(proc.stdout.readline())
            time.sleep(0.3)
        time.sleep(1.0)  # the client is now following the logs
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert f"stopped following; job {job_id} keeps running" in err
        assert f"ntscale jobs stop {job_id}" in err
        assert sub.job_status(url, job_id).status == "RUNNING"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if job_id is not None:
            sub.stop_job(url, job_id)
