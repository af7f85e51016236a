"""Per-base models: the interface the per-base store uses, and SegmentNT behind it.

A *per-base model* turns DNA windows into values for every base and every track:
`predict(sequences) -> [B, N, n_tracks] float32` for B windows of N bp each. The per-base
job (`ntscale segment`) only needs that call and a `PerBaseSpec` saying which window lengths
the model accepts, so another model (NTv3 tracks, LLR tracks) plugs in by implementing
`PerBaseModel`; nothing in the store or runner knows about U-Nets or tokens.

SegmentNT (`SegmentModel`): NT-v2 backbone + the U-Net head of `segment_head`, jitted once
per (batch, tokens) shape. Its windows are N-free, a multiple of 24 bp (6-mers, token count
divisible by 4), at most 50 kb; inputs longer than the training 30 kb use the YaRN factor
n_tokens / 2048 (`config.yarn_factor`), shorter ones the checkpoint's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import haiku as hk
import jax
import numpy as np

from ntscale.errors import ConfigError
from ntscale.model.modules import NucleotideTransformer
from ntscale.model.precision import matmul_context
from ntscale.model.segment_head import (
    BASES_PER_TOKEN,
    UNET_DEPTH,
    UNetHead,
    check_unet_tokens,
    probabilities,
)

if TYPE_CHECKING:
    from ntscale.model.ntmodel import NTModel


@dataclass(frozen=True, kw_only=True)
class PerBaseSpec:
    """Which windows a per-base model accepts and what it returns.

    Attributes:
        track_names: one name per output track (the last axis of `predict`).
        multiple_bp: every window length is a multiple of this (SegmentNT 24).
        min_window_bp: shortest window (an N-free interval shorter than this is not valued).
        max_window_bp: longest window the model accepts.
        default_window_bp: window length used unless the user asks otherwise.
        accepts_n: whether a window may contain N (SegmentNT: no).
    """

    track_names: tuple[str, ...]
    multiple_bp: int
    min_window_bp: int
    max_window_bp: int
    default_window_bp: int
    accepts_n: bool = False

    def check_window(self, window_bp: int) -> None:
        """Refuse a window length the model cannot take.

        Raises:
            ConfigError: names the length and the valid range / multiple.
        """
        ok = (
            self.min_window_bp <= window_bp <= self.max_window_bp
            and window_bp % self.multiple_bp == 0
        )
        if not ok:
            raise ConfigError(
                f"window of {window_bp:,} bp is not accepted: use a multiple of "
                f"{self.multiple_bp} bp between {self.min_window_bp:,} and "
                f"{self.max_window_bp:,} bp (default {self.default_window_bp:,})"
            )


@runtime_checkable
class PerBaseModel(Protocol):
    """What the per-base job needs from a model (SegmentNT, NTv3 tracks, ...)."""

    name: str
    digest: str
    spec: PerBaseSpec

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        """[B, N, n_tracks] float32 values for B windows of equal length N bp (no N)."""
        ...


def perbase_spec(
    config: Any, *, species: str | None = None, tracks: Sequence[str] | None = None
) -> PerBaseSpec:
    """The `PerBaseSpec` of a model from its hyperparameters alone (no parameters loaded).

    The one place a per-base family is recognised: SegmentNT (an `NTConfig` with
    `features`) and NTv3 post-trained tracks (an `NTv3Config`: `species` and the `tracks`
    chosen by name). Another family adds its branch here and in `open_perbase_model`.

    Raises:
        ConfigError: the model has no per-base head, or species/tracks do not fit it.
    """
    from ntscale.model.ntv3_config import NTv3Config

    if isinstance(config, NTv3Config):
        from ntscale.model.ntv3_perbase import ntv3_perbase_spec

        return ntv3_perbase_spec(config, species=species, tracks=tracks)
    if species is not None or tracks is not None:
        raise ConfigError(
            f"species and track names apply to NTv3 models, not {getattr(config, 'name', '')!r}"
        )
    features = tuple(getattr(config, "features", ()) or ())
    if not features:
        raise ConfigError(
            f"model {getattr(config, 'name', config)!r} has no per-base head (no 'features' "
            "in its hyperparameters): use segment_nt or segment_nt_multi_species"
        )
    multiple = BASES_PER_TOKEN * 2**UNET_DEPTH
    top = (config.max_tokens - 1) // 2**UNET_DEPTH * multiple
    return PerBaseSpec(
        track_names=features,
        multiple_bp=multiple,
        min_window_bp=multiple,
        max_window_bp=top,
        default_window_bp=min(SegmentModel.DEFAULT_WINDOW_BP, top),
    )


def open_perbase_model(
    source: str,
    *,
    dtype: str = "float32",
    species: str | None = None,
    tracks: Sequence[str] | None = None,
) -> PerBaseModel:
    """Load a per-base model (SegmentNT, NTv3 tracks) for `predict` (a worker calls this
    once).

    Raises:
        CheckpointError: unreadable checkpoint; ConfigError: no per-base head.
    """
    from ntscale.model.ntmodel import load
    from ntscale.model.ntv3 import is_ntv3_source, load_ntv3

    if is_ntv3_source(source):
        from ntscale.model.ntv3_perbase import NTv3TrackModel

        return NTv3TrackModel(load_ntv3(source, dtype=dtype), species=species, tracks=tracks)

    return SegmentModel(load(source, dtype=dtype))


def segment_forward(
    params: Any, tokens: jax.Array, *, config: Any, precision: Any, attention: Any
) -> dict[str, jax.Array]:
    """Backbone + U-Net head on tokens [B, T]: logits [B, 6(T-1), F, 2], probabilities
    [B, 6(T-1), F] and the final embeddings [B, T, D]."""

    def fn(tok: jax.Array) -> dict[str, jax.Array]:
        net = NucleotideTransformer(config, precision=precision, attention=attention)
        last = config.num_layers
        final = net(tok, layers=(last,), logits=False)["embeddings"][last]
        logits = UNetHead(config, precision=precision)(final)
        return {"logits": logits, "probabilities": probabilities(logits), "final": final}

    return hk.without_apply_rng(hk.transform(fn)).apply(params, tokens)


class SegmentModel:
    """SegmentNT as a `PerBaseModel`: 14 element probabilities per base.

    Attributes:
        model: the loaded `NTModel` (its config has `features`).
        spec: windows of a multiple of 24 bp, 24 bp .. 49,992 bp (50 kb), default 30 kb.
    """

    DEFAULT_WINDOW_BP = 30_000
    MULTIPLE_BP = BASES_PER_TOKEN * 2**UNET_DEPTH

    def __init__(self, model: NTModel) -> None:
        if not model.config.features:
            raise ConfigError(
                f"model {model.name!r} has no segmentation head (no 'features' in its "
                "hyperparameters): use segment_nt or segment_nt_multi_species"
            )
        self.model = model
        self.name, self.digest = model.name, model.digest
        self.spec = perbase_spec(model.config)
        self._lock = threading.Lock()
        self._jitted: Any = None

    def _fn(self) -> Any:
        with self._lock:
            if self._jitted is None:
                c, m = self.model.config, self.model
                self._jitted = jax.jit(
                    lambda p, t: segment_forward(
                        p, t, config=c, precision=m.precision, attention=m.attention
                    )
                )
            return self._jitted

    def forward_tokens(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        """Run on tokens [B, T] (CLS first, T - 1 divisible by 4); numpy float32 outputs."""
        tokens = self.model.check_tokens(tokens)
        check_unet_tokens(tokens.shape[1] - 1)
        with matmul_context(self.model.precision):
            out = self._fn()(self.model.params, tokens)
        return {k: np.asarray(v, np.float32) for k, v in jax.device_get(out).items()}

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        """[B, N, F] probabilities for B N-free windows of equal length N (a multiple of 24).

        Raises:
            ValueError: unequal lengths, a length the head cannot take, or an N.
        """
        lengths = {len(s) for s in sequences}
        if len(lengths) != 1:
            raise ValueError(f"windows of one batch must have one length, got {sorted(lengths)}")
        (n_bp,) = lengths
        self.spec.check_window(n_bp)
        tokens = self.model.tokenizer.encode_batch(list(sequences))
        if tokens.shape[1] != n_bp // BASES_PER_TOKEN + 1:
            raise ValueError("SegmentNT windows must not contain N (or other non-ACGT letters)")
        return self.forward_tokens(tokens)["probabilities"]


__all__ = [
    "PerBaseModel",
    "PerBaseSpec",
    "SegmentModel",
    "open_perbase_model",
    "perbase_spec",
    "segment_forward",
]
