"""Data parallelism over one host's devices: one jitted program, each batch split by rows.

A worker that owns N local devices (a TPU host's chips, several GPUs, or N forced CPU
devices in tests) runs every batch as one SPMD program over a 1-D `jax.sharding.Mesh`
whose axis is "batch": the parameters are replicated on every device
(`NamedSharding(mesh, P())`), the tokens and the post-function's extras are split along
their first axis (`NamedSharding(mesh, P("batch"))`), and XLA's sharding propagation keeps
each row's computation on the device that holds the row. The forward pass and every
reduction of `ntscale.scoring.reduce` are row-wise, so the program has no collective.

A batch whose row count does not divide by N is padded with copies of its last row (real
tokens: no all-pad rows to make NaNs) and the outputs cut back to the rows given, so a
caller keeps any batch size; rows per device = ceil(B / N).

Shapes: B rows per batch, T tokens, N devices; B_pad = N * ceil(B / N).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ntscale.errors import ConfigError

if TYPE_CHECKING:
    from ntscale.model.compiled import CompiledForward
    from ntscale.model.ntmodel import NTModel

BATCH_AXIS = "batch"


def local_devices(n: int) -> list[jax.Device]:
    """The first `n` devices of this process (JAX's default backend).

    Raises:
        ConfigError: `n` is not positive or the process has fewer devices.
    """
    have = jax.local_devices()
    if n < 1 or n > len(have):
        raise ConfigError(
            f"devices_per_actor {n} does not fit the {len(have)} {jax.default_backend()} "
            f"device(s) of this process (pid-local devices: {[str(d) for d in have]}); "
            f"pass --devices-per-actor between 1 and {len(have)}"
        )
    return list(have[:n])


def padded_rows(rows: int, n_devices: int) -> int:
    """The smallest multiple of `n_devices` that holds `rows` (B -> B_pad)."""
    return -(-rows // n_devices) * n_devices


def pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
    """`x` [B, ...] with its last row repeated up to `rows` rows ([rows, ...])."""
    if x.shape[0] == rows:
        return x
    return np.concatenate([x, np.repeat(x[-1:], rows - x.shape[0], axis=0)])


class BatchSharding:
    """A mesh over N local devices: replicated parameters, inputs split along the batch.

    Hashable by its devices, so it is part of a compiled program's shape key
    (`CompiledForward.dispatch(placement=...)`). It keeps one replicated copy of each
    model's parameters (one model per worker in practice).
    """

    def __init__(self, devices: Sequence[jax.Device]) -> None:
        if not devices:
            raise ValueError("a batch sharding needs at least one device")
        self.devices = tuple(devices)
        self.mesh = Mesh(np.array(self.devices), (BATCH_AXIS,))
        self.replicated = NamedSharding(self.mesh, P())
        self.rows = NamedSharding(self.mesh, P(BATCH_AXIS))
        self._params: dict[int, tuple[NTModel, Any]] = {}
        self._forwards: dict[int, tuple[CompiledForward, ShardedForward]] = {}
        self._lock = threading.Lock()

    @property
    def n_devices(self) -> int:
        """N, the devices a batch is split over."""
        return len(self.devices)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BatchSharding) and other.devices == self.devices

    def __hash__(self) -> int:
        return hash((BatchSharding, tuple(d.id for d in self.devices)))

    def __repr__(self) -> str:
        return f"BatchSharding({[str(d) for d in self.devices]})"

    def params(self, model: NTModel) -> Any:
        """`model`'s parameters replicated on every device (copied once per model)."""
        with self._lock:
            held = self._params.get(id(model))
            if held is None or held[0] is not model:
                held = self._params[id(model)] = (
                    model,
                    jax.device_put(model.params, self.replicated),
                )
            return held[1]

    def place(self, model: NTModel, tokens: np.ndarray, extras: tuple) -> tuple[Any, Any, tuple]:
        """(replicated params, tokens [B_pad, T] split by rows, extras split by rows).

        The caller pads the rows first (`ShardedForward`); a None extra stays None.
        """
        if tokens.shape[0] % self.n_devices:
            raise ValueError(
                f"{tokens.shape[0]} rows do not divide over {self.n_devices} devices; "
                "pad them first (ShardedForward does)"
            )
        placed = tuple(None if x is None else jax.device_put(x, self.rows) for x in extras)
        return self.params(model), jax.device_put(tokens, self.rows), placed

    def wrap(self, forward: CompiledForward) -> ShardedForward:
        """`forward` run over this mesh (one wrapper per compiled forward, cached)."""
        with self._lock:
            held = self._forwards.get(id(forward))
            if held is None or held[0] is not forward:
                held = self._forwards[id(forward)] = (forward, ShardedForward(forward, self))
            return held[1]


class ShardedForward:
    """A `CompiledForward` run over a `BatchSharding`: same calls, same outputs.

    Batches of any row count: padded to B_pad rows for the devices, outputs cut back to B.
    """

    def __init__(self, forward: CompiledForward, sharding: BatchSharding) -> None:
        self.forward = forward
        self.sharding = sharding

    @property
    def attention(self) -> str:
        """The attention implementation that runs (the wrapped forward's)."""
        return self.forward.attention

    def dispatch(self, tokens: np.ndarray, *extras: Any) -> tuple[Any, int]:
        """Start the pass on tokens [B, T] (+ extras [B, ...]); (device outputs [B_pad, ...], B)."""
        tokens = np.asarray(tokens)
        rows = tokens.shape[0]
        n = padded_rows(rows, self.sharding.n_devices)
        padded = tuple(None if x is None else pad_rows(np.asarray(x), n) for x in extras)
        out = self.forward.dispatch(pad_rows(tokens, n), *padded, placement=self.sharding)
        return out, rows

    def __call__(self, tokens: np.ndarray, *extras: Any) -> Any:
        """Run on tokens [B, T] int32 (and the post's extras); numpy outputs of B rows."""
        out, rows = self.dispatch(tokens, *extras)
        return cut_rows(jax.device_get(out), rows)


def cut_rows(outputs: Any, rows: int) -> Any:
    """Every array of an output pytree cut to its first `rows` rows (the padding dropped)."""
    return jax.tree_util.tree_map(lambda a: a[:rows], outputs)


def batch_sharding(n_devices: int) -> BatchSharding | None:
    """The mesh over this process's first `n_devices` devices; None for one device (the
    one-device path runs unchanged)."""
    return None if n_devices == 1 else BatchSharding(local_devices(n_devices))


__all__ = [
    "BATCH_AXIS",
    "BatchSharding",
    "ShardedForward",
    "batch_sharding",
    "cut_rows",
    "local_devices",
    "pad_rows",
    "padded_rows",
]
