"""The cluster files parse and carry what a GPU run needs: GPUs, the ntscale[gpu] install,
an `ntscale embed|score ... --ray auto` entrypoint that the real CLI accepts."""

from __future__ import annotations

import copy
import gzip
import shlex
import tomllib
from pathlib import Path

import pytest
import typer
import yaml

from ntscale import submit as sub
from ntscale.submit.runtime_env import JOB_ENV_VARS

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
KUBERAY_CRD = Path(__file__).resolve().parents[1] / "data/kuberay/ray.io_rayjobs.v1.7.0.yaml.gz"


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


def test_aws_setup_installs_ntscale_from_the_checkout_with_a_pinned_ray(aws):
    setup = " ".join(aws["setup_commands"])
    # No package index has an ntscale release: install the checkout that file_mounts copies.
    (src,) = [remote for remote, local in aws["file_mounts"].items() if local == "."]
    assert f'"{src}[gpu,cloud]"' in setup
    assert "ntscale[gpu]==" not in setup
    assert '"ray[default]==2.60.0"' in setup
    assert ".venv" in aws["rsync_exclude"] and ".git" in aws["rsync_exclude"]
    extras = tomllib.loads((CLUSTER.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(r.startswith("s3fs") for r in extras["cloud"])  # s3:// stores
    assert "/data/ref/" in setup  # the FASTA at the same path on every node
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = " ".join(aws[key])
        assert "RAY_USAGE_STATS_ENABLED=0" in start
        assert "ray start" in start
    assert "--dashboard-port=8265" in " ".join(aws["head_start_ray_commands"])


def test_aws_head_can_launch_workers(aws):
    """head_setup_commands replaces the launcher's default `pip install boto3`: the head's
    autoscaler needs boto3 in the environment whose `ray start` runs it."""
    head_setup = " ".join(aws["head_setup_commands"])
    assert "boto3" in head_setup
    venv_bin = head_setup.split("pip install")[0].strip().rsplit("/", 1)[0]
    assert venv_bin == "~/ntscale-venv/bin"
    start = [c for c in aws["head_start_ray_commands"] if "ray start" in c]
    assert start and all(f"{venv_bin}/ray start" in c for c in start)


def test_aws_header_matches_min_workers(aws):
    """The header states how workers start; it must agree with min_workers."""
    header = (CLUSTER / "aws-gpu.yaml").read_text().split("cluster_name:")[0]
    assert "come on demand" not in header
    planned = aws["available_node_types"]["gpu_a10g"]["min_workers"]
    assert f"min_workers ({planned})" in header


# --- KubeRay RayJob -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rayjob() -> dict:
    docs = _load_all("kuberay-rayjob.yaml")
    (job,) = [d for d in docs if d["kind"] == "RayJob"]
    return job


def _containers(template: dict) -> list[dict]:
    return template["spec"]["containers"]


def _strict(schema: object) -> object:
    """The CRD schema as `kubectl apply` enforces it: unknown fields are errors (strict field
    validation) unless the schema says x-kubernetes-preserve-unknown-fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def rayjob_schema() -> dict:
    crd = yaml.safe_load(gzip.decompress(KUBERAY_CRD.read_bytes()))
    assert crd["spec"]["names"]["kind"] == "RayJob"
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return _strict(v1["schema"]["openAPIV3Schema"])


def test_rayjob_passes_the_kuberay_crd_schema(rayjob, rayjob_schema):
    import jsonschema

    jsonschema.validate(rayjob, rayjob_schema)


def test_crd_schema_check_catches_mistakes(rayjob, rayjob_schema):
    """The schema check fails on a misspelled field and on a wrong type."""
    import jsonschema

    typo = copy.deepcopy(rayjob)
    typo["spec"]["backofLimit"] = typo["spec"].pop("backoffLimit")
    with pytest.raises(jsonschema.ValidationError, match="backofLimit"):
        jsonschema.validate(typo, rayjob_schema)
    wrong = copy.deepcopy(rayjob)
    wrong["spec"]["rayClusterSpec"]["authOptions"]["mode"] = "open"
    with pytest.raises(jsonschema.ValidationError, match="open"):
        jsonschema.validate(wrong, rayjob_schema)


def test_rayjob_header_states_the_kuberay_version_its_fields_need(rayjob):
    """authOptions needs KubeRay 1.6, backoffLimit 1.2 (tests/data/kuberay/PROVENANCE.md)."""
    text = (CLUSTER / "kuberay-rayjob.yaml").read_text()
    readme = (CLUSTER / "README.md").read_text()
    assert "authOptions" in rayjob["spec"]["rayClusterSpec"]
    assert ">= 1.6" in text and "KubeRay operator (>= 1.6)" in readme
    assert ">= 1.1" not in text and ">= 1.1" not in readme
    # Resuming a finished RayJob needs delete then apply, in the file and the README.
    resubmit = (
        "kubectl delete rayjob ntscale-grch38 && kubectl apply -f cluster/kuberay-rayjob.yaml"
    )
    assert resubmit in text and resubmit in readme


def test_rayjob_kind_and_lifecycle(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1"
    spec = rayjob["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["rayClusterSpec"]["authOptions"]["mode"] == "token"  # Jobs API not open
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
        # The planned size starts up front (README, "Sizing"), never scaled below it.
        assert group["minReplicas"] == group["replicas"] <= group["maxReplicas"]
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
    for key, value in JOB_ENV_VARS.items():
        assert runtime_env["env_vars"][key] == value
    words = shlex.split(spec["entrypoint"])
    assert "--fasta" in words and words[words.index("--fasta") + 1].startswith("/data/ref/")
    _check_entrypoint(words)


def test_dockerfile_installs_the_accelerators_extra_without_upgrading_ray():
    text = (CLUSTER / "Dockerfile").read_text()
    (run,) = [r.split("\n\n")[0] for r in text.split("\nRUN ")[1:] if "pip install" in r]
    pins, install = run.split("&&")[:2]
    # The base image's Ray version becomes a constraint of the install.
    assert "ray.__version__" in pins and "> /tmp/ray-constraint.txt" in pins
    assert '-c /tmp/ray-constraint.txt -e "/opt/ntscale[${ACCELERATOR},cloud]"' in install
    assert "ntscale --version" in run
    assert "import jax" in run and "jax.devices()" in run
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
