"""Fixtures for runner tests: the bundled example inputs, small embed configs, a real Ray."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import leakcheck
import pytest

from ntscale.config import EmbedConfig, build_config

RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="session")
def example(repo_root: Path) -> dict[str, Path]:
    data = repo_root / "examples" / "data"
    return {
        "fasta": data / "chr20_2mb.fa.gz",
        "vcf": data / "chr20_2mb.vcf.gz",
        "bed": data / "regions.bed",
        "model": repo_root / "examples" / "checkpoints" / "nt-v2-tiny",
    }


@pytest.fixture
def small_config(example, tmp_path):
    """Factory for a quick embed config: short windows over a small region of chr20."""

    def make(**overrides) -> EmbedConfig:
        bed = tmp_path / "small.bed"
        # 59,400-61,200 crosses the end of chr20's leading N run (first base at 60,000),
        # so some windows are all N and one is shrunk; 1,000,000-1,004,000 is plain sequence.
        bed.write_text("20\t59400\t61200\n20\t1000000\t1004000\n")
        values = {
            "fasta": str(example["fasta"]),
            "model": str(example["model"]),
            "out": str(tmp_path / "out.zarr"),
            "regions": str(bed),
            "window_bp": 600,
            "layers": [1, 2],
            "unit_windows": 3,
            "batch_size": 2,
            "dtype": "fp32",
            "progress": False,
        }
        values.update(overrides)
        return build_config(EmbedConfig, values)

    return make


@pytest.fixture(scope="session")
def ray_session():
    """One real single-node Ray on 127.0.0.1 with 2 CPUs, shared by the session's tests."""
    import ray

    os.environ.update(RAY_ENV)
    temp_dir = tempfile.mkdtemp(prefix="ntsr", dir="/tmp")  # short: Ray's socket paths
    leakcheck.register_dir(temp_dir)  # its processes are the suite's (session-end check)
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp_dir,
        _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": RAY_ENV},
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)
