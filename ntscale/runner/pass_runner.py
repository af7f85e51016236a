"""Runs a unit's planned scoring passes through the model's one jitted forward path.

Batching is `ntscale.scoring.batches` (pure); the reductions on the device are
`ScoringReduction` (a post-function of `NTModel.compiled`, so the programs, the cuDNN
fallback and the precision context are the model's); this module holds the device lock
and times the device work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ntscale.model import CompiledForward, NTModel
    from ntscale.model.sharding import BatchSharding, ShardedForward
    from ntscale.scoring.batches import Flavour
    from ntscale.scoring.passes import Pass, PassResult


@dataclass
class RowCount:
    """Device rows run and useful rows (rows holding a pass), summed over `run` calls;
    one per unit, owned by the calling thread."""

    device: int = 0
    useful: int = 0


class PassRunner:
    """Runs lists of passes through one model in fixed-shape batches."""

    def __init__(
        self,
        model: NTModel,
        layers: tuple[int, ...],
        *,
        batch_size: int,
        lock: threading.Lock | None = None,
        sharding: BatchSharding | None = None,
    ) -> None:
        self.model = model
        self.layers = layers
        self.batch_size = batch_size
        self.lock = lock or threading.Lock()
        self.sharding = sharding  # split each batch over several devices (None: one)

    def forward(self, flavour: Flavour) -> CompiledForward | ShardedForward:
        """The compiled forward (+ reductions) for one flavour of passes."""
        from ntscale.scoring.reduce import ScoringReduction

        post = ScoringReduction.for_tokenizer(
            self.model.tokenizer, table=flavour.table, token_embeddings=flavour.token_embeddings
        )
        layers = self.layers if flavour.embed else ()
        forward = self.model.compiled(layers, flavour.table, post=post)
        return forward if self.sharding is None else self.sharding.wrap(forward)

    def run(
        self, passes: list[Pass], rows: RowCount | None = None
    ) -> tuple[list[PassResult], float]:
        """One `PassResult` per pass (same order), and the seconds spent on the device;
        the batches' device rows and useful rows are added to `rows` when given."""
        from ntscale.scoring.batches import pack_passes, unpack_batch

        results: list = [None] * len(passes)
        model_seconds = 0.0
        batches = pack_passes(
            passes,
            batch_size=self.batch_size,
            pad_id=self.model.tokenizer.pad_id,
            max_tokens=self.model.config.max_tokens,
        )
        for batch in batches:  # made one at a time
            fn = self.forward(batch.flavour)
            with self.lock:
                t0 = time.perf_counter()
                out = fn(batch.tokens, batch.weights, batch.table_tokens)
                model_seconds += time.perf_counter() - t0
            if rows is not None:
                rows.device += batch.device_rows
                rows.useful += len(batch.members)
            for i, res in zip(batch.members, unpack_batch(batch, out, passes), strict=True):
                results[i] = res
        return results, model_seconds


__all__ = ["PassRunner", "RowCount"]
