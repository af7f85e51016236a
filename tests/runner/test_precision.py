"""Default compute dtype: "auto" is resolved once (bf16 on GPU/TPU, fp32 on CPU) and recorded."""

from __future__ import annotations

import jax
import pytest

from ntscale.config import ExecutionConfig
from ntscale.errors import ConfigError, StoreError
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.runner.precision import dtype_for_backend, resolve_dtype, run_backend
from ntscale.store import open as open_store


def test_backend_to_dtype():
    assert [dtype_for_backend(b) for b in ("gpu", "cuda", "rocm", "tpu", "TPU")] == ["bf16"] * 5
    assert dtype_for_backend("cpu") == "fp32"


def test_default_is_auto_and_explicit_choices_stay():
    assert ExecutionConfig().dtype == "auto"
    for dtype in ("bf16", "fp32"):
        assert resolve_dtype(ExecutionConfig(dtype=dtype)).dtype == dtype
    want = dtype_for_backend(jax.default_backend())
    assert resolve_dtype(ExecutionConfig()).dtype == want
    assert resolve_dtype(ExecutionConfig(ray="local")).dtype == want


def test_auto_is_recorded_as_the_concrete_dtype(small_config):
    want = dtype_for_backend(jax.default_backend())  # fp32 on the CPU test machines
    cfg = small_config(dtype="auto")
    job = EmbedJob.plan_from_config(cfg)
    assert job.run.dtype == want and job.fingerprint()["dtype"] == want
    run_local(job)
    attrs = open_store(cfg.out).attrs
    assert attrs["model"]["dtype"] == want and attrs["fingerprint"]["dtype"] == want
    # the same run spelled with the concrete dtype resumes the store; the other one is refused
    again = run_local(EmbedJob.plan_from_config(small_config(dtype=want)))
    assert again["run"]["units_run"] == 0
    other = "bf16" if want == "fp32" else "fp32"
    with pytest.raises(StoreError, match="dtype"):
        EmbedJob.plan_from_config(small_config(dtype=other)).prepare()


def test_unknown_dtype_lists_the_choices(small_config):
    with pytest.raises(ConfigError, match=r"dtype must be one of auto, bf16, fp32; got 'fp16'"):
        small_config(dtype="fp16")


@pytest.mark.ray
def test_ray_cluster_backend_is_asked_of_the_cluster(ray_session):
    # the session's Ray has CPUs only: its actors would run on CPU
    address = ray_session.get_runtime_context().gcs_address
    assert run_backend(ExecutionConfig(ray=address)) == "cpu"
    assert resolve_dtype(ExecutionConfig(ray=address)).dtype == "fp32"
    assert ray_session.is_initialized()  # a connection it did not open stays open
