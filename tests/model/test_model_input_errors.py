"""Errors of the loaders and of NTv3's `apply` on bad input, each naming the file or model,
the key or argument, and the reason: checkpoint folders whose JSON holds a bad value (the
loaders, end to end), hyperparams.json that is not an object, and NTv3 calls that misuse
tokens, outputs or species."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model import get_preset, init_model, load, read_checkpoint_info
from ntscale.model.ntv3 import describe_ntv3, init_ntv3, load_ntv3
from ntscale.model.ntv3_config import NTv3Config

POST = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference" / "post"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    cfg = get_preset("codon_nt").replace(name="c", num_layers=1, embed_dim=16, num_heads=2,
                                         key_size=8, ffn_dim=16)  # fmt: skip
    folder = tmp_path_factory.mktemp("ckpt") / "c"
    init_model(cfg, seed=1).save(folder)
    return folder


def _copy_with_hp(saved: Path, tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "bad"
    shutil.copytree(saved, folder)
    (hp,) = folder.rglob("hyperparams.json")
    hp.write_text(text)
    return folder


def test_loading_a_checkpoint_with_a_bad_hyperparameter_names_file_and_key(saved, tmp_path):
    (hp,) = saved.rglob("hyperparams.json")
    values = json.loads(hp.read_text())
    folder = _copy_with_hp(saved, tmp_path, json.dumps({**values, "attention_heads": "two"}))
    where = str(folder / hp.relative_to(saved))
    with pytest.raises(CheckpointError) as err:
        load(folder)
    assert str(err.value) == (
        f"{where}: hyperparameter 'attention_heads' must be a number (int), got 'two'"
    )
    with pytest.raises(CheckpointError, match="'attention_heads'"):
        read_checkpoint_info(folder)  # the describe path reads the same file


def test_hyperparams_that_are_not_an_object_are_refused(saved, tmp_path):
    folder = _copy_with_hp(saved, tmp_path, "[1, 2]")
    with pytest.raises(CheckpointError, match="hyperparams.json: expected a JSON object, got list"):
        load(folder)
    (folder / "jax_model" / "hyperparams.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="hyperparams.json: cannot read hyperparameters"):
        load(folder)


def test_ntv3_folder_with_a_bad_config_value_names_file_and_key(tmp_path):
    folder = tmp_path / "post"
    shutil.copytree(POST, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["keep_target_center_fraction"] = "3/8"
    (folder / "config.json").write_text(json.dumps(cfg))
    msg = f"{folder / 'config.json'}: config key 'keep_target_center_fraction' must be a number"
    with pytest.raises(CheckpointError, match=msg):
        load_ntv3(folder)
    with pytest.raises(CheckpointError, match="'keep_target_center_fraction'"):
        describe_ntv3(folder)


@pytest.fixture(scope="module")
def post():
    return load_ntv3(POST)


def test_post_trained_apply_misuse_is_named(post):
    tokens = np.zeros((1, 16), np.int32)
    with pytest.raises(ConfigError, match=r"post: tokens must be \[B, T\], got shape \(16,\)"):
        post.apply(tokens[0], species="human")
    with pytest.raises(ConfigError, match=r"post: unknown output\(s\) \['tracks'\]"):
        post.apply(tokens, species="human", outputs=("bigwig", "tracks"))
    with pytest.raises(ConfigError, match="post: post-trained NTv3 needs a species"):
        post.apply(tokens, outputs=("logits",))
    with pytest.raises(ConfigError, match="input length 18 is not a positive multiple of 2\\^2"):
        post.apply(np.zeros((1, 18), np.int32), species="human")


def test_pre_trained_apply_refuses_a_species_and_runs_without():
    pre = init_ntv3(NTv3Config(name="p", num_downsamples=2, num_layers=1, num_heads=2,
                               key_size=8, embed_dim=16, conv_init_embed_dim=16, ffn_dim=16,
                               token_embed_dim=4))  # fmt: skip
    tokens = np.full((2, 8), 6, np.int32)
    with pytest.raises(ConfigError, match="p: a pre-trained NTv3 model takes no species"):
        pre.apply(tokens, species="human", outputs=("logits",))
    out = pre.apply(tokens, outputs=("logits",))
    assert out["logits"].shape == (2, 8, pre.config.vocab_size)
    np.testing.assert_allclose(out["logits"][0], out["logits"][1], rtol=1e-6)  # same rows
