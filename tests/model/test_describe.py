"""describe(): name, digest and hyperparameters without loading the parameters."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from safetensors.numpy import load_file, save_file

from ntscale.errors import CheckpointError
from ntscale.model import HUB_REPOS, ModelInfo, describe, load, read_checkpoint_info
from ntscale.model.checkpoint import PYTREE

HF_SHA = "f4be3bc25b48b5192bcc25fe8984ad8617e812f7189d96ac4af4877390112d71"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _same_as_load(info: ModelInfo, model) -> None:
    assert isinstance(info, ModelInfo)
    assert (info.name, info.digest, info.config) == (model.name, model.digest, model.config)
    assert str(info.path) == model.source


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_official_layout_matches_load(which, ref_dir, models):
    info = describe(ref_dir / f"{which}_model")
    _same_as_load(info, models(which))
    assert info.path.name == "jax_model"
    # the folder itself, its jax_model/ and an explicit name resolve like load does
    assert describe(ref_dir / f"{which}_model" / "jax_model") == info
    assert describe(ref_dir / f"{which}_model", name="x").name == "x"


def test_hf_layout_matches_load(hf_dir, models):
    info = describe(hf_dir)
    _same_as_load(info, models("hf"))
    assert info.digest == HF_SHA and info.config.layer_norm_eps == 1e-12


def test_hf_shards_digest_matches_load(hf_dir, tmp_path):
    state = load_file(hf_dir / "model.safetensors")
    out = tmp_path / "sharded"
    out.mkdir()
    shutil.copy(hf_dir / "config.json", out)
    keys = sorted(state)
    weight_map = {}
    for i, part in enumerate((keys[::2], keys[1::2])):
        fname = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: state[k] for k in part}, out / fname)
        weight_map.update(dict.fromkeys(part, fname))
    (out / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert describe(out).digest == load(out).digest != HF_SHA


def test_parameters_are_not_read(micro_ckpt):
    """A corrupt parameter file still describes (only its bytes are hashed); load fails."""
    good = describe(micro_ckpt)
    pt = micro_ckpt / "jax_model" / PYTREE
    pt.write_bytes(pt.read_bytes()[:100])
    info = read_checkpoint_info(micro_ckpt)
    assert info.config == good.config and info.digest != good.digest
    with pytest.raises(CheckpointError, match="cannot read parameters"):
        load(micro_ckpt)


def test_model_info_is_frozen(micro_ckpt):
    info = describe(micro_ckpt)
    assert info.name == "micro" and info.config.num_layers == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "other"  # type: ignore[misc]


def test_published_name_from_offline_cache(tmp_path, micro_ckpt, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "hf/hub" / ("models--" + HUB_REPOS["50M_multi_species_v2"].replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs/main").write_text(COMMIT)
    shutil.copytree(micro_ckpt / "jax_model", root / "snapshots" / COMMIT / "jax_model")
    info = describe("50m_multi_species_V2")
    _same_as_load(info, load("50M_multi_species_v2"))
    assert info.name == "50M_multi_species_v2" and info.config.num_layers == 3
    with pytest.raises(
        CheckpointError,
        match=r"hub repository 'someone/absent'.*"
        r"HF_HUB_OFFLINE is set",
    ):
        describe("someone/absent")


def test_errors_name_the_source(tmp_path, micro_ckpt):
    with pytest.raises(CheckpointError, match=r"'no-such-model' is not a checkpoint folder"):
        describe("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty: not a checkpoint: expected jax_model/"):
        describe(tmp_path / "empty")
    (micro_ckpt / "jax_model/hyperparams.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"hyperparams.json: expected a JSON object"):
        describe(micro_ckpt)


def test_hf_without_weights(hf_dir, tmp_path):
    out = tmp_path / "noweights"
    out.mkdir()
    shutil.copy(hf_dir / "config.json", out)
    with pytest.raises(CheckpointError, match=r"config.json found but no model.safetensors"):
        describe(out)
    (out / "config.json").write_text("[]")
    with pytest.raises(CheckpointError, match=r"config.json: expected a JSON object, got list"):
        describe(out)


def test_describe_is_cheap_on_memory(micro_ckpt):
    """ModelInfo holds no arrays: only the name, digest, config, path and the files' key."""
    info = describe(micro_ckpt)
    fields = {f.name for f in dataclasses.fields(info)}
    assert fields == {"name", "digest", "config", "path", "digest_key"}
    assert isinstance(info.path, Path)
    ((path, size, _, _),) = info.digest_key  # one parameter file: (path, size, mtime, inode)
    assert path.endswith("pytree_ckpt.joblib") and size > 0
