"""Published names -> hub repositories; offline behaviour with a private HF cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ntscale.errors import CheckpointError
from ntscale.model import HUB_REPOS, load
from ntscale.model.hub import hub_cache_dir, hub_offline

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def offline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


def _cached_snapshot(home: Path, repo: str) -> Path:
    """Lay out a repository in the hub cache the way huggingface_hub stores it."""
    root = home / "hub" / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs/main").write_text(COMMIT)
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    return snap


def test_env_is_read_at_call_time(offline_home):
    assert hub_offline()
    assert hub_cache_dir() == offline_home / "hub"


def test_offline_and_not_cached_names_model_and_cache(offline_home):
    with pytest.raises(CheckpointError) as info:
        load("50M_multi_species_v2")
    msg = str(info.value)
    assert "'50M_multi_species_v2'" in msg
    assert HUB_REPOS["50M_multi_species_v2"] in msg
    assert f"cache folder {offline_home / 'hub'}" in msg
    assert "HF_HUB_OFFLINE is set" in msg


def test_offline_repo_id_not_cached(offline_home):
    with pytest.raises(
        CheckpointError,
        match=r"hub repository 'someone/some-model'.*"
        r"HF_HUB_OFFLINE is set",
    ):
        load("someone/some-model")


def test_published_name_loads_from_cache_offline(offline_home, micro_ckpt):
    repo = HUB_REPOS["50M_multi_species_v2"]
    snap = _cached_snapshot(offline_home, repo)
    shutil.copytree(micro_ckpt / "jax_model", snap / "jax_model")
    model = load("50m_MULTI_species_v2")  # names are case-insensitive
    assert model.name == "50M_multi_species_v2"
    assert model.config.num_layers == 3  # the checkpoint's own hyperparameters win
    assert model.digest == load(micro_ckpt).digest


def test_cached_hf_layout_is_the_fallback(offline_home, hf_dir, models, expected):
    snap = _cached_snapshot(offline_home, "someone/nt-hf")
    for f in ("config.json", "model.safetensors"):
        shutil.copy(hf_dir / f, snap / f)
    tokens = expected("hf")[0]
    model = load("someone/nt-hf")
    assert model.name == "nt-hf"
    np.testing.assert_array_equal(
        model.apply(tokens)["logits"], models("hf").apply(tokens)["logits"]
    )


def test_unknown_source_lists_published_models(tmp_path):
    with pytest.raises(
        CheckpointError,
        match=r"'no-such-model' is not a checkpoint folder, "
        r"a published model \(500M_human_ref, .*500M_multi_species_v2, .*codon_nt\)",
    ):
        load("no-such-model")
