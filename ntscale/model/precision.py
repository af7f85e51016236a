"""Compute precision and attention backend, chosen in one place.

The reference sets a global Haiku mixed-precision policy as an import side effect; here
the policy is a value returned by `precision_policy` and passed to the forward pass, so
two models with different dtypes can live in one process.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp

from ntscale.errors import ConfigError

DTypeName = Literal["float32", "bfloat16"]
_ALIASES = {
    "float32": "float32",
    "fp32": "float32",
    "f32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


@dataclass(frozen=True, kw_only=True)
class Precision:
    """How the forward pass computes.

    Attributes:
        name: "float32" or "bfloat16".
        compute_dtype: dtype of matmul inputs and of weight matrices on device.
        matmul_precision: `jax.default_matmul_precision` value used while tracing
            ("float32" forbids TF32/bf16 passes on GPU so float32 means float32).
    LayerNorm statistics, softmax, the residual stream, biases and outputs are always
    float32; only matmul operands (and the attention's Q/K/V) use `compute_dtype`.
    """

    name: DTypeName
    compute_dtype: jnp.dtype
    matmul_precision: str | None


def normalize_dtype(dtype: str) -> DTypeName:
    """Map "fp32"/"bf16"/... to "float32"/"bfloat16".

    Raises:
        ConfigError: unknown dtype name.
    """
    key = str(dtype).lower()
    if key not in _ALIASES:
        raise ConfigError(f"dtype must be one of {sorted(_ALIASES)}, got {dtype!r}")
    return _ALIASES[key]  # type: ignore[return-value]


def precision_policy(dtype: str) -> Precision:
    """The mixed-precision policy for a dtype name ("float32", "bfloat16", "fp32", "bf16")."""
    name = normalize_dtype(dtype)
    if name == "float32":
        return Precision(
            name=name, compute_dtype=jnp.dtype(jnp.float32), matmul_precision="float32"
        )
    return Precision(name=name, compute_dtype=jnp.dtype(jnp.bfloat16), matmul_precision=None)


def matmul_context(precision: Precision) -> Any:
    """The context every jitted forward is traced and run in: the policy's matmul precision
    (float32 forbids TF32/bf16 passes on GPU), or nothing for bf16."""
    prec = precision.matmul_precision
    return jax.default_matmul_precision(prec) if prec else contextlib.nullcontext()


AttentionImpl = Literal["xla", "cudnn", "chunked", "headwise"]
ATTENTION_IMPLS: tuple[str, ...] = ("xla", "cudnn", "chunked", "headwise")
BLOCKED_IMPLS: tuple[str, ...] = ("chunked", "headwise")
"""The two schedules of `ntscale.model.attention.chunked_attention`."""


def attention_backend(precision: Precision, platform: str | None = None) -> AttentionImpl:
    """Which attention implementation to use.

    cuDNN's fused kernel (`jax.nn.dot_product_attention`) needs a GPU and 16-bit inputs.
    Everywhere else the blocked online-softmax attention of `ntscale.model.attention` runs:
    on CPU one head of one row per block ("headwise", whose scores stay in cache: 1.25-2.3x
    faster there), on GPU in float32 and TPU every row and head per block ("chunked", few
    large operations). XLA's implementation ("xla", still available when asked for)
    materialises the whole [B, H, T, T] score tensor, 7 GB at 2,048 tokens x batch 8, and on
    CPU is slower too. Softmax is float32 in all of them.
    """
    platform = platform or jax.default_backend()
    if platform in ("gpu", "cuda") and precision.name == "bfloat16":
        return "cudnn"
    return "headwise" if platform == "cpu" else "chunked"
