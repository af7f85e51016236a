"""The compute dtype of a run: "auto" becomes bf16 on GPU/TPU and fp32 on CPU, once, at plan time.

bf16 halves memory traffic on accelerators, but on CPU it is slower than fp32 and costs
accuracy (median LLR error ~0.006 against fp32), so the default follows the hardware that will
run the model. The resolved value, never "auto", goes into the job config, and from there
into the store attributes and the resume fingerprint: a store always says what ran.
"""

from __future__ import annotations

from dataclasses import replace

from ntscale.config import ExecutionConfig

ACCELERATORS = ("gpu", "cuda", "rocm", "tpu")


def dtype_for_backend(backend: str) -> str:
    """The default compute dtype on a JAX backend ("gpu", "tpu", "cpu", ...)."""
    return "bf16" if backend.lower() in ACCELERATORS else "fp32"


def run_backend(execution: ExecutionConfig) -> str:
    """The JAX backend the model will run on: this process's, or a Ray cluster's actors'."""
    return run_hardware(execution)[0]


def run_hardware(execution: ExecutionConfig) -> tuple[str, int]:
    """(JAX backend, local devices per host) where the model will run.

    This process's devices for a local run or a private Ray (same machine); a cluster's
    actors' for an address (TPU chips per TPU host, GPUs per GPU node, 1 on CPU).
    """
    if execution.ray in (None, "", "local"):
        import jax  # a private Ray runs on this machine: its backend is ours

        return jax.default_backend(), jax.local_device_count()
    from ntscale.runner.ray import cluster_hardware

    return cluster_hardware(execution.ray)


def resolve_dtype(execution: ExecutionConfig) -> ExecutionConfig:
    """`execution` with dtype "auto" replaced by the concrete dtype for where the run goes."""
    if execution.dtype != "auto":
        return execution
    return replace(execution, dtype=dtype_for_backend(run_backend(execution)))
