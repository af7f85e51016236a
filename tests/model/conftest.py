"""Fixtures of the model tests: the reference golden files and small checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ntscale.model import NTConfig, get_preset, init_official, load, save_checkpoint


@pytest.fixture(scope="session")
def ref_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "nt_reference"


@pytest.fixture(scope="session")
def hf_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "nt_hf_v1"


@pytest.fixture(scope="session")
def ref_meta(ref_dir: Path) -> dict:
    return json.loads((ref_dir / "meta.json").read_text())


@pytest.fixture(scope="session")
def models(ref_dir: Path, hf_dir: Path):
    """float32 and bf16 models of the three fixture checkpoints, loaded once."""
    cache = {}

    def get(which: str, dtype: str = "float32"):
        key = (which, dtype)
        if key not in cache:
            src = hf_dir if which == "hf" else ref_dir / f"{which}_model"
            cache[key] = load(src, dtype=dtype)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def expected(ref_dir: Path, hf_dir: Path):
    """Expected outputs as (tokens, nonpad mask, logits, {layer: embeddings})."""

    def get(which: str):
        if which == "hf":
            z = np.load(hf_dir / "expected_outputs.npz")
            layers = {i: z[f"hidden_state_{i}"] for i in (1, 2)}
            return z["tokens"], z["attention_mask"].astype(bool), z["logits"], layers
        z = np.load(ref_dir / f"{which}_forward.npz")
        layers = {i: z[f"embeddings_{i}"] for i in (1, 2)}
        return z["tokens"], z["nonpad_mask"], z["logits"], layers

    return get


# Family choices from the published presets, sizes made tiny.
MICRO = get_preset("50M_multi_species_v2").replace(
    name="micro", num_layers=3, embed_dim=32, num_heads=2, key_size=16, ffn_dim=48, max_tokens=64
)
MICRO_V1 = get_preset("500M_human_ref").replace(
    name="micro_v1", num_layers=3, embed_dim=32, num_heads=2, key_size=16, ffn_dim=48, max_tokens=64
)


@pytest.fixture(scope="session")
def micro_cfg() -> dict[str, NTConfig]:
    """Small configs by version: 3 layers, so scans and middle layers are exercised."""
    return {"v2": MICRO, "v1": MICRO_V1}


@pytest.fixture()
def micro_ckpt(tmp_path: Path) -> Path:
    """A 3-layer v2 checkpoint in the official layout, written to tmp_path."""
    save_checkpoint(init_official(MICRO, seed=3), MICRO, tmp_path / "micro")
    return tmp_path / "micro"
