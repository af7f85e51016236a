"""NTv3 functional tracks and genome annotation as a per-base model (`PerBaseModel`).

Tracks: the post-trained model's bigWig predictions of one species (softplus values) and
its BED annotation as probabilities (softmax class 1 of each element), chosen by name.

The heads only predict the centre of their input (`keep_target_center_fraction`). So that
every base of a window gets a value, `predict` places the window in the centre of a longer
input padded with N on both sides (N is a model token), the shortest multiple of
2^num_downsamples whose centre crop holds the whole window; the window's values are read
from the crop. Interior windows thus see N context beyond their edges, exactly as windows
at interval ends do: a base's value depends only on its window, which the per-base job
stitches from the window centres. Cost: about 1 / fraction x the window's bases per forward
(2.7x for the reference's 0.375).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import NTv3Model
from ntscale.model.ntv3_config import NTv3Config, get_ntv3, is_ntv3_name
from ntscale.model.perbase import PerBaseSpec
from ntscale.tokenizer.ntv3 import NTV3_N, tokenize_bases

DEFAULT_WINDOW_BP = 32_768
BED_PREFIX = "bed."


def padded_length(config: NTv3Config, window_bp: int) -> tuple[int, int]:
    """(input length M, left pad) with M a multiple of 2^n whose centre crop
    [c//2, M - c//2) holds `window_bp` bases starting at the left pad."""
    block = config.block_bp
    m = max(block, -(-window_bp // block) * block)
    while True:
        lo, hi = config.crop_bounds(m)
        if hi - lo >= window_bp:
            return m, lo
        m += block


def select_tracks(
    config: NTv3Config, species: str | None, names: Sequence[str] | None
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    """(bigWig track ids, BED element ids, output names) of a selection.

    Names are bigWig track names of the species or "bed.<element>"; default: every track
    of the species, then every element.

    Raises:
        ConfigError: pre-trained model, no species, or an unknown name (names it).
    """
    if not config.post_trained:
        raise ConfigError(f"{config.name}: tracks need a post-trained NTv3 model")
    if species is None:
        raise ConfigError(f"{config.name}: give --species for NTv3 tracks")
    tracks = config.tracks_of(species)
    beds = config.bed_elements_names
    if names is None:
        names = [*tracks, *(BED_PREFIX + e for e in beds)]
    t_index = {n: i for i, n in enumerate(tracks)}
    b_index = {BED_PREFIX + n: i for i, n in enumerate(beds)}
    unknown = [n for n in names if n not in t_index and n not in b_index]
    if unknown:
        raise ConfigError(
            f"{config.name}: unknown track(s) {unknown[:5]} for {species!r}: use its bigWig "
            f"tracks (e.g. {list(tracks[:3])}) or 'bed.<element>' (e.g. "
            f"{[BED_PREFIX + e for e in beds[:3]]})"
        )
    bw = tuple(t_index[n] for n in names if n in t_index)
    bd = tuple(b_index[n] for n in names if n in b_index)
    # outputs: bigWig tracks first, then elements, in the order given within each kind
    out = tuple([n for n in names if n in t_index] + [n for n in names if n in b_index])
    return bw, bd, out


def ntv3_perbase_spec(
    config: NTv3Config, *, species: str | None, tracks: Sequence[str] | None
) -> PerBaseSpec:
    """The per-base spec of an NTv3 track selection (no parameters needed)."""
    _, _, names = select_tracks(config, species, tracks)
    context = get_ntv3(config.name).context_bp if is_ntv3_name(config.name) else 2**20
    top = int(context * config.keep_target_center_fraction) // config.block_bp * config.block_bp
    top = max(top, config.block_bp)
    return PerBaseSpec(
        track_names=names,
        multiple_bp=1,
        min_window_bp=1,
        max_window_bp=top,
        default_window_bp=min(DEFAULT_WINDOW_BP, top),
        accepts_n=True,
    )


class NTv3TrackModel:
    """An NTv3 post-trained model as a `PerBaseModel` for one species and track selection."""

    def __init__(
        self, model: NTv3Model, *, species: str | None, tracks: Sequence[str] | None = None
    ) -> None:
        self.model = model
        self.name, self.digest = model.name, model.digest
        self.species = species
        self._bw, self._bed, _ = select_tracks(model.config, species, tracks)
        self.spec = ntv3_perbase_spec(model.config, species=species, tracks=tracks)
        self._lock = threading.Lock()

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        """[B, N, n_tracks] float32 values of B windows of N bp (N allowed).

        Raises:
            ValueError: windows of unequal length.
        """
        lengths = {len(s) for s in sequences}
        if len(lengths) != 1:
            raise ValueError(f"windows of one batch must have one length, got {sorted(lengths)}")
        (n,) = lengths
        c = self.model.config
        m, left = padded_length(c, n)
        tokens = np.full((len(sequences), m), NTV3_N, np.int32)
        for i, s in enumerate(sequences):
            tokens[i, left : left + n] = tokenize_bases(s)
        outputs = (("bigwig",) if self._bw else ()) + (("bed",) if self._bed else ())
        with self._lock:
            out = self.model.apply(
                tokens, species=self.species, outputs=outputs, tracks=self._track_names()
            )
        lo, _ = c.crop_bounds(m)
        start = left - lo  # window offset inside the cropped head output
        parts = []
        if self._bw:
            parts.append(out["bigwig"][:, start : start + n])
        if self._bed:
            logits = out["bed"][:, start : start + n][:, :, list(self._bed)]  # [B, N, A, 2]
            parts.append(_class1_probability(logits))
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def _track_names(self) -> tuple[str, ...] | None:
        if not self._bw:
            return None
        names = self.model.config.tracks_of(self.species)
        return tuple(names[i] for i in self._bw)


def _class1_probability(logits: np.ndarray) -> np.ndarray:
    """softmax(logits)[..., 1] over the last axis (2 classes): 1 / (1 + e^(l0 - l1)) as
    e^-log(1 + e^(l0 - l1)), which does not overflow for confident heads (|l0 - l1| > 88
    in float32)."""
    return np.exp(-np.logaddexp(0.0, logits[..., 0] - logits[..., 1]))
