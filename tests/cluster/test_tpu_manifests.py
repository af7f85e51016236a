"""The TPU cluster files: a GKE TPU RayJob (KubeRay CRD schema), a `ray up` file for TPU VMs
(Ray's validate_config and its TPU type rules), the Dockerfile's accelerator argument and
the `tpu` extra. None of them ran on a real TPU (docs/scaling.md)."""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
import yaml
from test_manifests import CLUSTER, _check_entrypoint, _containers, _load_all
from test_manifests import rayjob_schema as rayjob_schema  # the CRD schema fixture

from ntscale.submit.runtime_env import JOB_ENV_VARS

TPU_SELECTORS = ("cloud.google.com/gke-tpu-accelerator", "cloud.google.com/gke-tpu-topology")


@pytest.fixture(scope="module")
def tpu_job() -> dict:
    (job,) = [d for d in _load_all("kuberay-tpu-rayjob.yaml") if d["kind"] == "RayJob"]
    return job


def test_tpu_rayjob_passes_the_kuberay_crd_schema(tpu_job, rayjob_schema):
    import jsonschema

    jsonschema.validate(tpu_job, rayjob_schema)


def test_tpu_rayjob_lifecycle_matches_the_gpu_one(tpu_job):
    spec = tpu_job["spec"]
    assert tpu_job["apiVersion"] == "ray.io/v1"
    assert spec["shutdownAfterJobFinishes"] is True and spec["backoffLimit"] == 0
    assert spec["rayClusterSpec"]["authOptions"]["mode"] == "token"
    assert spec["rayClusterSpec"]["rayVersion"] == "2.60.0"
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    for key, value in JOB_ENV_VARS.items():
        assert runtime_env["env_vars"][key] == value


def _chips(topology: str) -> int:
    n = 1
    for d in topology.split("x"):
        n *= int(d)
    return n


def test_tpu_workers_take_whole_hosts_on_tpu_node_pools(tpu_job):
    cluster = tpu_job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    head = _containers(cluster["headGroupSpec"]["template"])
    assert all("google.com/tpu" not in c["resources"]["limits"] for c in head)
    (group,) = cluster["workerGroupSpecs"]
    assert group["minReplicas"] == group["replicas"] <= group["maxReplicas"]
    assert group["numOfHosts"] == 1  # single-host slices: one pod, one actor per host
    pod = group["template"]["spec"]
    selectors = pod["nodeSelector"]
    assert set(TPU_SELECTORS) <= set(selectors)
    assert re.fullmatch(
        r"tpu-v\d+[a-z]*(-lite)?-(slice|podslice|device)", selectors[TPU_SELECTORS[0]]
    )
    chips = _chips(selectors[TPU_SELECTORS[1]])
    assert {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    (worker,) = _containers(group["template"])
    limits, requests = worker["resources"]["limits"], worker["resources"]["requests"]
    assert int(limits["google.com/tpu"]) == int(requests["google.com/tpu"]) == chips == 8
    # Ray's TPU resource equals the host's chips: exactly one all-chip actor per host
    resources = yaml.safe_load(yaml.safe_load(group["rayStartParams"]["resources"]))
    assert resources == {"TPU": chips}
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in {e["name"] for e in worker["env"]}


def test_tpu_rayjob_uses_the_tpu_image_and_a_dividing_batch(tpu_job):
    cluster = tpu_job["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"]]
    templates += [g["template"] for g in cluster["workerGroupSpecs"]]
    images = {c["image"] for t in templates for c in _containers(t)}
    assert images == {"YOUR_REGISTRY/ntscale:0.1.0-tpu"}
    words = shlex.split(tpu_job["spec"]["entrypoint"])
    _check_entrypoint(words)
    assert words[words.index("--out") + 1].startswith("gs://")
    batch = int(words[words.index("--batch-size") + 1])
    unit = int(words[words.index("--unit-windows") + 1])
    assert batch % 8 == 0 and unit % batch == 0 and unit >= 2 * batch
    for t in templates:
        staged = " ".join(" ".join(ic["command"]) for ic in t["spec"]["initContainers"])
        assert "gs://YOUR_BUCKET/ref/" in staged and "/data/ref/" in staged


@pytest.fixture(scope="module")
def tpu_vms() -> dict:
    (cfg,) = _load_all("gcp-tpu.yaml")
    return cfg


def test_tpu_vm_config_passes_rays_own_schema(tpu_vms):
    from ray.autoscaler._private.util import validate_config

    validate_config(tpu_vms)
    assert tpu_vms["provider"]["type"] == "gcp"


def test_tpu_vm_workers_are_valid_single_host_tpus_with_one_actor_each(tpu_vms):
    from ray._private.accelerators import tpu
    from ray._private.accelerators.tpu import TPUAcceleratorManager

    types = tpu_vms["available_node_types"]
    head = types[tpu_vms["head_node_type"]]
    assert head["resources"] == {"CPU": 0} and "machineType" in head["node_config"]
    workers = {k: v for k, v in types.items() if k != tpu_vms["head_node_type"]}
    assert workers
    for name, node in workers.items():
        kind = node["node_config"]["acceleratorType"]
        assert "machineType" not in node["node_config"], name  # a TPU VM, not a GCE VM
        assert TPUAcceleratorManager.is_valid_tpu_accelerator_type(kind), kind
        cores = int(kind.split("-")[1])
        chips = cores // tpu.get_tpu_cores_per_chip(kind)
        assert chips <= tpu.get_num_tpu_visible_chips_per_host(kind), "one host per node"
        assert node["resources"] == {"TPU": chips}
        assert node["node_config"]["runtimeVersion"]
        assert node["min_workers"] >= 1 and node["max_workers"] <= tpu_vms["max_workers"]


def test_tpu_vm_setup_installs_the_tpu_extra_with_a_pinned_ray(tpu_vms):
    setup = " ".join(tpu_vms["setup_commands"])
    (src,) = [remote for remote, local in tpu_vms["file_mounts"].items() if local == "."]
    assert f'"{src}[tpu,cloud]"' in setup and '"ray[default]==2.60.0"' in setup
    assert "--python 3.11" in setup  # ntscale's floor, whatever the TPU image ships
    assert "/data/ref/" in setup
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert "RAY_USAGE_STATS_ENABLED=0" in " ".join(tpu_vms[key])


def test_tpu_extra_sits_beside_gpu():
    extras = tomllib.loads((CLUSTER.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(r.startswith("jax[tpu]") for r in extras["tpu"])
    assert any(r.startswith("jax[cuda12]") for r in extras["gpu"])


def test_dockerfile_takes_the_accelerator_as_a_build_argument():
    text = (CLUSTER / "Dockerfile").read_text()
    assert "ARG ACCELERATOR=gpu" in text
    bases = dict(re.findall(r"^FROM (\S+) AS base-(\w+)$", text, flags=re.M))
    assert {v: k for k, v in bases.items()} == {
        "gpu": "rayproject/ray:2.60.0-py311-gpu",
        "tpu": "rayproject/ray:2.60.0-py311",
    }
    assert "FROM base-${ACCELERATOR}" in text
    assert "--build-arg ACCELERATOR=tpu" in text  # the header says how
    assert "ntscale[${ACCELERATOR},cloud]" in text
