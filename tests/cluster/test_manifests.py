"""The cluster files parse and carry what a GPU run needs: GPUs, the ntscale[gpu] install,
an `ntscale embed|score ... --ray auto` entrypoint that the real CLI accepts."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
import yaml

from ntscale.runner import submit as sub

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def _load_all(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((CLUSTER / name).read_text()) if d]


def _cli_command(name: str):
    from ntscale.cli.main import _register_commands, app

    _register_commands()
    group = typer.main.get_command(app)
    if name not in group.commands:
        pytest.skip(f"`ntscale {name}` is not in the tree yet")
    return group.commands[name]


def _check_entrypoint(words: list[str]) -> None:
    """An ntscale embed/score command with `--ray auto` that the command's parser accepts."""
    assert words[0] == "ntscale" and words[1] in ("embed", "score"), words
    assert words[words.index("--ray") + 1] == "auto"
    out = words[words.index("--out") + 1]
    assert out.startswith(("s3://", "gs://")), "a cluster run writes to an object store"
    ctx = _cli_command(words[1]).make_context(words[1], words[2:])
    assert ctx.params["ray"] == "auto"


# --- Ray cluster launcher (AWS) -------------------------------------------------------------


@pytest.fixture(scope="module")
def aws() -> dict:
    (cfg,) = _load_all("aws-gpu.yaml")
    return cfg


def test_aws_config_passes_rays_own_schema(aws):
    from ray.autoscaler._private.util import validate_config

    validate_config(aws)
    assert aws["provider"]["type"] == "aws"


def test_aws_gpu_workers_and_cpu_only_head(aws):
    types = aws["available_node_types"]
    head = types[aws["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # no model actor on the head
    workers = {k: v for k, v in types.items() if k != aws["head_node_type"]}
    assert workers and all(v["resources"]["GPU"] >= 1 for v in workers.values())
    instance = {v["node_config"]["InstanceType"].split(".")[0] for v in workers.values()}
    assert instance <= {"g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en"}
    assert sum(v["min_workers"] for v in workers.values()) >= 1
    assert all(v["max_workers"] <= aws["max_workers"] for v in workers.values())


def test_aws_setup_installs_ntscale_gpu_with_a_pinned_ray(aws):
    setup = " ".join(aws["setup_commands"])
    assert '"ntscale[gpu]' in setup
    assert '"ray[default]==2.60.0"' in setup
    assert "s3fs" in setup  # s3:// stores need the fsspec back end
    assert "/data/ref/" in setup  # the FASTA at the same path on every node
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = " ".join(aws[key])
        assert "RAY_USAGE_STATS_ENABLED=0" in start
        assert "ray start" in start
    assert "--dashboard-port=8265" in " ".join(aws["head_start_ray_commands"])


# --- KubeRay RayJob -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rayjob() -> dict:
    docs = _load_all("kuberay-rayjob.yaml")
    (job,) = [d for d in docs if d["kind"] == "RayJob"]
    return job


def _containers(template: dict) -> list[dict]:
    return template["spec"]["containers"]


def test_rayjob_kind_and_lifecycle(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1"
    spec = rayjob["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["submissionMode"] in ("K8sJobMode", "HTTPMode")
    assert spec["rayClusterSpec"]["rayVersion"] == "2.60.0"


def test_rayjob_gpu_workers(rayjob):
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    head = _containers(cluster["headGroupSpec"]["template"])
    assert all("nvidia.com/gpu" not in c["resources"]["limits"] for c in head)
    groups = cluster["workerGroupSpecs"]
    assert groups
    for group in groups:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        for c in _containers(group["template"]):
            limits, requests = c["resources"]["limits"], c["resources"]["requests"]
            assert int(limits["nvidia.com/gpu"]) >= 1
            assert limits["nvidia.com/gpu"] == requests["nvidia.com/gpu"]
            env = {e["name"]: e["value"] for e in c["env"]}
            assert 0 < float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) < 1


def test_rayjob_image_and_reference_on_every_pod(rayjob):
    cluster = rayjob["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"]]
    templates += [g["template"] for g in cluster["workerGroupSpecs"]]
    images = {c["image"] for t in templates for c in _containers(t)}
    assert len(images) == 1 and "ntscale" in images.pop()
    for t in templates:
        staged = " ".join(" ".join(ic["command"]) for ic in t["spec"]["initContainers"])
        assert "/data/ref/" in staged
        mounts = {m["mountPath"] for c in _containers(t) for m in c["volumeMounts"]}
        assert "/data" in mounts


def test_rayjob_runtime_env_and_entrypoint(rayjob):
    spec = rayjob["spec"]
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    for key, value in sub.JOB_ENV_VARS.items():
        assert runtime_env["env_vars"][key] == value
    words = shlex.split(spec["entrypoint"])
    assert "--fasta" in words and words[words.index("--fasta") + 1].startswith("/data/ref/")
    _check_entrypoint(words)


def test_dockerfile_installs_the_gpu_extra():
    text = (CLUSTER / "Dockerfile").read_text()
    assert 'pip install --no-cache-dir -e "/opt/ntscale[gpu]"' in text
    assert "rayproject/ray:2.60.0-py311-gpu" in text
    assert ".venv" in (CLUSTER / "Dockerfile.dockerignore").read_text().split()


# --- ntscale submit settings ----------------------------------------------------------------


def test_submit_yaml_loads():
    cfg = sub.load_submit_config(CLUSTER / "submit.yaml")
    assert cfg.address == "http://127.0.0.1:8265"
    assert cfg.entrypoint_num_gpus == 0
    env = sub.build_runtime_env(env_vars=cfg.env_vars, address=cfg.address)
    assert env["env_vars"]["RAY_USAGE_STATS_ENABLED"] == "0"


def test_readme_commands_are_accepted_by_the_cli():
    """Every `ntscale submit ... -- embed ...` in the cluster README parses."""
    blocks = (CLUSTER / "README.md").read_text().split("```")[1::2]  # fenced code only
    blocks = [b for b in blocks if not b.startswith("text")]  # diagrams
    commands = [
        line.strip()
        for block in blocks
        for line in _join_continued(block).splitlines()
        if line.strip().startswith("ntscale submit") and " -- embed " in line
    ]
    assert len(commands) >= 2
    for line in commands:
        words = shlex.split(line)
        inner = words[words.index("--") + 1 :]
        ep = shlex.split(sub.build_entrypoint(inner))
        _check_entrypoint(ep)


def _join_continued(text: str) -> str:
    return text.replace("\\\n", " ")
