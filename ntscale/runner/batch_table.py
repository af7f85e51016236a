"""Windows per forward batch by device, dtype and window length, unless the user sets it.

A fixed batch of 8 was a poor CPU default: on the 2-core CPU of issue 28, batch 2 ran 30%
more windows per second than batch 8 at 1,024 tokens (the activations of 8 windows leave
the caches; XLA's CPU matmuls are already efficient at 2 x 1,024 rows). Accelerators want
large batches to fill the device. Re-measured after the attention ran rows one at a time
(issue 28, second round; 4 layers of the 12 x 512 v1 shape, CPU s per window, best of 4,
load ~10): 1,000 tokens, batch 1/2/4/8: 0.55 / 0.46 / 0.54 / 0.55; 512 tokens: 0.194 /
0.192 / 0.194 / 0.21, so the CPU rows stand. The table holds measured (CPU) or usual
(GPU/TPU) values; the resolved value is recorded in the store
(`config.execution.batch_size`) and a user's `--batch-size` / `batch_size:` always wins.
"""

from __future__ import annotations

from collections.abc import Callable

from ntscale.runner.precision import ACCELERATORS

# (largest window tokens, batch) rows, first match wins; tokens include CLS
CPU_TABLE: tuple[tuple[int, int], ...] = ((256, 8), (512, 4), (1 << 30, 2))
ACCELERATOR_TABLE: tuple[tuple[int, int], ...] = ((512, 64), (1024, 32), (1 << 30, 16))


def table_batch_size(*, platform: str, dtype: str, tokens: int) -> int:
    """The table's batch for windows of up to `tokens` tokens on a JAX platform.

    float32 on an accelerator takes half the bf16 batch (twice the activation memory).
    """
    accelerator = platform.lower() in ACCELERATORS
    table = ACCELERATOR_TABLE if accelerator else CPU_TABLE
    batch = next(b for limit, b in table if tokens <= limit)
    if accelerator and dtype in ("fp32", "float32"):
        batch = max(batch // 2, 1)
    return batch


def resolve_batch_size(
    requested: int | None, *, platform: Callable[[], str], dtype: str, tokens: int
) -> int:
    """The user's batch size if given, else the table's (`platform` is only called then)."""
    if requested is not None:
        return requested
    return table_batch_size(platform=platform(), dtype=dtype, tokens=tokens)


__all__ = ["CPU_TABLE", "ACCELERATOR_TABLE", "resolve_batch_size", "table_batch_size"]
