"""Shared helpers of the per-base tests: a tiny SegmentNT checkpoint, configs, the centre rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ntscale.config import PerBaseConfig, build_config
from ntscale.model import get_preset, init_model

CHR20 = (
    Path(__file__).resolve().parents[1] / "data" / "shared" / "data" / "human_chr20" / "20.fa.gz"
)


def tiny_segment_checkpoint(folder: Path, *, seed: int = 7) -> Path:
    """A 1-layer SegmentNT of the published layout (D 16, the 14 features), saved."""
    cfg = get_preset("segment_nt").replace(
        name="segtiny", num_layers=1, embed_dim=16, num_heads=2, key_size=8, ffn_dim=32
    )
    init_model(cfg, seed=seed).save(folder)
    return folder


def perbase_config(model: Path, out: Path, **overrides) -> PerBaseConfig:
    values = {
        "fasta": str(CHR20),
        "model": str(model),
        "out": str(out),
        "window_bp": 480,
        "unit_windows": 4,
        "batch_size": 4,
        "progress": False,
    }
    values.update(overrides)
    return build_config(PerBaseConfig, values, source="test")


def owning_window(starts: np.ndarray, ends: np.ndarray, pos: int) -> int:
    """Index of the window whose centre is nearest to `pos` among those holding it (ties:
    the left one): the stitching rule, written independently of the planner."""
    holds = np.flatnonzero((starts <= pos) & (pos < ends))
    centres = (starts[holds] + ends[holds]) / 2.0
    dist = np.abs(pos + 0.5 - centres)
    return int(holds[np.argmin(dist)])
