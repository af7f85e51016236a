"""The one jitted forward path: programs cached per process, the cuDNN -> XLA fallback.

Embedding (pooling on the device) and scoring (SNV tables, variant-token pooling) both run
the model through `CompiledForward`. A program is the jitted `forward` followed by an
optional `post(outputs, tokens, *extras)` that reduces the outputs on the device before
the transfer; `extras` are per-batch arrays the post-function needs (pooling weights,
unmasked tokens of a masked pass). Programs are cached in this module, keyed by what
shapes the computation (config, dtype, attention, layers, logits, post), never by the
parameters, which are an argument: a second worker or job of the same process reuses
compiled programs, and a dropped model's parameters are not kept alive by the cache.

Inside a program, jax.jit compiles once per input shape: callers should pad token lengths
to a few buckets (`bucket_length`) and keep the batch size fixed (pad the last batch).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from ntscale.model.forward import forward
from ntscale.model.precision import AttentionImpl, matmul_context

if TYPE_CHECKING:
    from ntscale.model.ntmodel import NTModel

log = logging.getLogger(__name__)


class Placement(Protocol, Hashable):
    """Puts one call's inputs on devices: `place(model, tokens, extras)` returns
    (params, tokens, extras) as the jitted program takes them (`ntscale.model.sharding`)."""

    def place(self, model: NTModel, tokens: np.ndarray, extras: tuple) -> tuple[Any, Any, tuple]:
        """(params, tokens, extras) on this placement's devices."""
        ...


Post = Callable[..., Any]
"""`post(outputs, tokens, *extras) -> pytree`, pure jnp; hashable (compared by value or
identity) because it is part of the program's cache key."""


def bucket_length(n_tokens: int, max_tokens: int, *, step: int = 128) -> int:
    """Padded token length for a sequence of `n_tokens`: next multiple of `step`, capped.

    Raises:
        ValueError: `n_tokens` exceeds `max_tokens` or is not positive.
    """
    if n_tokens <= 0 or n_tokens > max_tokens:
        raise ValueError(f"n_tokens must be in 1..{max_tokens}, got {n_tokens}")
    return min(-(-n_tokens // step) * step, max_tokens)


class Program:
    """One jitted forward (+ post) for fixed settings; no parameters inside.

    Attributes:
        attention: the implementation that runs ("chunked" after a cuDNN fallback).
        traces: how many times the function was traced, i.e. programs compiled (one per
            distinct input shape and attention implementation).
    """

    def __init__(self, model: NTModel, layers: tuple[int, ...], logits: bool, post: Post | None):
        # settings only, never the model: the cache must not keep parameters alive
        self._settings = (model.config, model.precision, layers, logits, post)
        self.attention: AttentionImpl = model.attention
        self.traces = 0
        self.shapes: set[tuple[Any, ...]] = set()
        self.lock = threading.Lock()
        self.jitted = self._build(self.attention)

    def _build(self, attention: AttentionImpl) -> Callable[..., Any]:
        config, precision, layers, logits, post = self._settings

        def run(params: Any, tokens: jax.Array, *extras: Any) -> Any:
            self.traces += 1  # a Python side effect: runs once per trace, not per call
            out = forward(
                params,
                tokens,
                config=config,
                precision=precision,
                attention=attention,
                layers=layers,
                logits=logits,
            )
            return post(out, tokens, *extras) if post is not None else out

        return jax.jit(run)

    def fall_back(self, jitted: Callable[..., Any], shape: Any, error: Exception) -> None:
        """Replace a cuDNN program that failed to compile by the chunked attention's (once,
        for every user): XLA's own would materialise the whole score tensor."""
        with self.lock:
            if self.jitted is jitted and self.attention == "cudnn":
                log.warning(
                    "cuDNN attention failed to compile for %s (%s); using chunked attention",
                    shape,
                    error,
                )
                self.attention = "chunked"
                self.jitted = self._build("chunked")


_PROGRAMS: dict[Hashable, Program] = {}
_PROGRAMS_LOCK = threading.Lock()


def program_for(
    model: NTModel, layers: tuple[int, ...], logits: bool, post: Post | None
) -> Program:
    """The process's program for this model shape and these outputs (created on first use)."""
    key = (model.config, model.dtype, model.attention, layers, bool(logits), post)
    with _PROGRAMS_LOCK:
        if key not in _PROGRAMS:
            _PROGRAMS[key] = Program(model, layers, bool(logits), post)
        return _PROGRAMS[key]


def compilations() -> int:
    """Programs compiled in this process so far (traces of every cached program)."""
    with _PROGRAMS_LOCK:
        return sum(p.traces for p in _PROGRAMS.values())


def _shape(x: Any) -> Any:
    return None if x is None else tuple(np.shape(x))


class CompiledForward:
    """A model's parameters bound to a cached `Program`; one compiled program per shape.

    Calling it returns numpy arrays (blocks until done); `dispatch` returns device arrays
    without waiting, so a caller can overlap host work with the device.
    """

    def __init__(
        self, model: NTModel, layers: tuple[int, ...], logits: bool, post: Post | None
    ) -> None:
        self._model = model
        self.layers, self.logits, self.post = layers, logits, post
        self.program = program_for(model, layers, logits, post)

    @property
    def attention(self) -> AttentionImpl:
        """The attention implementation that runs ("chunked" after a cuDNN fallback)."""
        return self.program.attention

    def dispatch(self, tokens: np.ndarray, *extras: Any, placement: Placement | None = None) -> Any:
        """Start the forward pass on tokens [B, T] (and the post's extras); device arrays.

        `placement` (hashable; `ntscale.model.sharding`) puts the parameters, tokens and
        extras on devices (e.g. split over a mesh); None: the model's one device.
        """
        model, program = self._model, self.program
        tokens = model.check_tokens(tokens)
        params, placed = model.params, jnp.asarray(tokens)
        if placement is not None:
            params, placed, extras = placement.place(model, tokens, extras)
        shape = (tokens.shape, *(_shape(x) for x in extras), placement)
        with program.lock:
            first = shape not in program.shapes
            program.shapes.add(shape)
            jitted, attention = program.jitted, program.attention
        if first:
            log.info(
                "compiling %s forward for batch %d x %d tokens (layers %s, logits %s)",
                model.name,
                tokens.shape[0],
                tokens.shape[1],
                self.layers,
                self.logits,
            )
        with matmul_context(model.precision):
            try:
                return jitted(params, placed, *extras)
            except Exception as e:  # cuDNN rejects some shapes/GPUs at compile time
                if not (first and attention == "cudnn"):
                    raise
                program.fall_back(jitted, tokens.shape, e)
                return program.jitted(params, placed, *extras)

    def __call__(self, tokens: np.ndarray, *extras: Any) -> Any:
        """Run on tokens [B, T] int32 (and the post's extras); numpy outputs."""
        return jax.device_get(self.dispatch(tokens, *extras))

    def compile_seconds(self, batch: int, n_tokens: int) -> float:
        """Compile (without running) the program for one shape (no extras); seconds taken."""
        t0 = time.perf_counter()
        spec = jax.ShapeDtypeStruct((batch, n_tokens), jnp.int32)
        with matmul_context(self._model.precision):
            self.program.jitted.lower(self._model.params, spec).compile()
        return time.perf_counter() - t0


__all__ = [
    "CompiledForward",
    "Placement",
    "Post",
    "Program",
    "bucket_length",
    "compilations",
    "program_for",
]
