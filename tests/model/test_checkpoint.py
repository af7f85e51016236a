"""Official JAX layout: reading, digests, writing, and every checkpoint error message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest

from ntscale.errors import CheckpointError
from ntscale.model import (
    file_digest,
    init_model,
    init_official,
    load,
    read_checkpoint,
    save_checkpoint,
)

TINY_SHA = "fa9618569b477c0999845dc0a7fde8348066845644681e4e542fa19993233b62"


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_digest_is_sha256_of_the_parameter_file(which, models, ref_meta):
    assert models(which).digest == ref_meta[which]["checkpoint_sha256"]


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_config_read_from_hyperparams(which, models, ref_meta):
    cfg, want = models(which).config, ref_meta[which]["config"]
    assert cfg.version == which
    assert (cfg.num_layers, cfg.embed_dim, cfg.num_heads, cfg.key_size) == (2, 64, 4, 16)
    assert cfg.ffn_dim == want["ffn_embed_dim"] and cfg.vocab_size == want["alphabet_size"]
    assert cfg.max_tokens == 56 and cfg.layer_norm_eps == 1e-5
    assert cfg.positional == ("learned" if which == "v1" else "rotary")
    assert cfg.token_dropout is (which == "v1") and cfg.use_glu is (which == "v2")
    assert cfg.num_params == ref_meta[which]["n_params"]
    assert models(which).name == f"{which}_model"


def test_bundled_tiny_checkpoint(repo_root):
    model = load(repo_root / "examples/checkpoints/nt-v2-tiny")
    assert model.digest == TINY_SHA
    assert model.name == "nt-v2-tiny"
    assert model.config.max_tokens == 2048 and model.config.version == "v2"
    tokens = model.tokenizer.encode_batch(["ACGTAC" * 2047], length=2048)  # 12,282 bp
    assert tokens.shape == (1, 2048)
    out = model.apply(tokens, layers=(1, 2), logits=False)
    assert np.isfinite(out["embeddings"][2]).all()


def test_make_tiny_checkpoint_is_reproducible(repo_root, tmp_path):
    import runpy
    import sys

    argv = sys.argv
    sys.argv = ["make_tiny_checkpoint.py", "--out", str(tmp_path / "tiny")]
    try:
        runpy.run_path(str(repo_root / "scripts/make_tiny_checkpoint.py"), run_name="__main__")
    finally:
        sys.argv = argv
    assert file_digest([tmp_path / "tiny/jax_model/pytree_ckpt.joblib"]) == TINY_SHA


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_save_load_roundtrip_gives_identical_outputs(version, micro_cfg, tmp_path):
    cfg = micro_cfg[version]
    model = init_model(cfg, seed=5)
    path = model.save(tmp_path / "ckpt")
    again = load(tmp_path / "ckpt")
    assert again.digest == file_digest([path])
    assert again.config == cfg.replace(name="ckpt")
    tokens = np.full((2, 20), 1, np.int32)
    tokens[:, 0] = 3
    tokens[0, 1:15] = np.arange(10, 24)
    tokens[1, 1:7] = [4100, 2, 4101, 4102, 4103, 4104]
    a = model.apply(tokens, layers=(1, 2, 3))
    b = again.apply(tokens, layers=(1, 2, 3))
    np.testing.assert_array_equal(a["logits"], b["logits"])
    for layer in (1, 2, 3):
        np.testing.assert_array_equal(a["embeddings"][layer], b["embeddings"][layer])


def test_save_is_deterministic(tmp_path, micro_cfg):
    micro = micro_cfg["v2"]
    flat = init_official(micro, seed=1)
    p1 = save_checkpoint(flat, micro, tmp_path / "a")
    p2 = save_checkpoint(flat, micro, tmp_path / "b")
    assert p1.read_bytes() == p2.read_bytes()
    hp = json.loads((tmp_path / "a/jax_model/hyperparams.json").read_text())
    assert hp["use_rotary_embedding"] is True and hp["num_layers"] == 3
    assert "layer_norm_eps" not in hp  # reference keys only when the value is the default


def test_jax_model_folder_and_renamed_paths_are_accepted(micro_ckpt, tmp_path):
    base = load(micro_ckpt)
    direct = load(micro_ckpt / "jax_model")
    assert direct.name == "micro" and direct.digest == base.digest
    raw = joblib.load(micro_ckpt / "jax_model/pytree_ckpt.joblib")
    swaps = [
        ("esm_transformer", "my_model"),
        ("/mha_layer_norm", "/self_attention_layer_norm"),
        ("/mha/", "/self_attention/"),
        ("esm_roberta_lm_head", "roberta_lm_head"),
    ]
    renamed = {}
    for key, value in raw.items():
        for old, new in swaps:
            key = key.replace(old, new)
        renamed[key] = value
    assert any("self_attention/query" in k for k in renamed)
    out = tmp_path / "renamed/jax_model"
    out.mkdir(parents=True)
    shutil.copy(micro_ckpt / "jax_model/hyperparams.json", out)
    joblib.dump(renamed, out / "pytree_ckpt.joblib")
    tokens = np.array([[3, 10, 11, 12, 1]], np.int32)
    np.testing.assert_array_equal(
        load(tmp_path / "renamed").apply(tokens)["logits"], base.apply(tokens)["logits"]
    )


def _rewrite(ckpt: Path, edit) -> None:
    path = ckpt / "jax_model/pytree_ckpt.joblib"
    raw = joblib.load(path)
    edit(raw)
    joblib.dump(raw, path)


def test_missing_key_is_named(micro_ckpt):
    _rewrite(micro_ckpt, lambda p: p["esm_transformer/attention_layer_1/~/mha/key"].pop("b"))
    with pytest.raises(
        CheckpointError,
        match=r"missing 1 parameter\(s\): "
        r"esm_transformer/attention_layer_1/~/mha/key:b",
    ):
        load(micro_ckpt)


def test_unexpected_key_is_named(micro_ckpt):
    def edit(p):
        p["esm_transformer/attention_layer_0/~/fc1"]["b"] = np.zeros(96, np.float32)

    _rewrite(micro_ckpt, edit)
    with pytest.raises(
        CheckpointError,
        match=r"unexpected 1 parameter\(s\): "
        r"esm_transformer/attention_layer_0/~/fc1:b",
    ):
        load(micro_ckpt)


def test_wrong_shape_is_named(micro_ckpt):
    def edit(p):
        p["esm_transformer/~/embed"]["embeddings"] = np.zeros((4105, 32), np.float32)

    _rewrite(micro_ckpt, edit)
    with pytest.raises(
        CheckpointError,
        match=r"esm_transformer/~/embed:embeddings has shape "
        r"\(4105, 32\), expected \(4107, 32\)",
    ):
        load(micro_ckpt)


def test_hyperparams_disagreeing_with_weights(micro_ckpt):
    hp_path = micro_ckpt / "jax_model/hyperparams.json"
    hp = json.loads(hp_path.read_text())
    hp["num_layers"] = 4
    hp_path.write_text(json.dumps(hp))
    with pytest.raises(
        CheckpointError,
        match=r"4 layers.*missing 14 parameter\(s\): "
        r"esm_transformer/attention_layer_3",
    ):
        load(micro_ckpt)


def test_corrupt_parameter_file(micro_ckpt):
    path = micro_ckpt / "jax_model/pytree_ckpt.joblib"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"pytree_ckpt.joblib: cannot read parameters"):
        load(micro_ckpt)


def test_parameter_file_of_the_wrong_type(micro_ckpt):
    joblib.dump([1, 2, 3], micro_ckpt / "jax_model/pytree_ckpt.joblib")
    with pytest.raises(
        CheckpointError,
        match=r"expected a dict of module path -> dict of "
        r"arrays, got list",
    ):
        load(micro_ckpt)


def test_bad_hyperparams_json(micro_ckpt):
    (micro_ckpt / "jax_model/hyperparams.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"hyperparams.json: cannot read hyperparameters"):
        load(micro_ckpt)


def test_missing_hyperparameter(micro_ckpt):
    hp_path = micro_ckpt / "jax_model/hyperparams.json"
    hp = json.loads(hp_path.read_text())
    del hp["embed_dim"]
    hp_path.write_text(json.dumps(hp))
    with pytest.raises(CheckpointError, match=r"hyperparameter 'embed_dim' is missing"):
        load(micro_ckpt)


def test_unsupported_feature(micro_ckpt):
    hp_path = micro_ckpt / "jax_model/hyperparams.json"
    hp = json.loads(hp_path.read_text())
    hp["emb_layer_norm_before"] = True
    hp_path.write_text(json.dumps(hp))
    with pytest.raises(CheckpointError, match=r"emb_layer_norm_before=true is not supported"):
        load(micro_ckpt)


def test_folder_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        CheckpointError,
        match=r"empty: not a checkpoint: expected "
        r"jax_model/hyperparams.json",
    ):
        load(tmp_path / "empty")
    with pytest.raises(CheckpointError, match=r"checkpoint folder does not exist"):
        read_checkpoint(tmp_path / "nowhere")


def test_save_refuses_params_that_do_not_match(tmp_path, micro_cfg):
    micro = micro_cfg["v2"]
    flat = init_official(micro, seed=0)
    del flat["esm_transformer/~/embed"]
    with pytest.raises(
        CheckpointError,
        match=r"save_checkpoint.*missing 1 parameter\(s\): "
        r"esm_transformer/~/embed:embeddings",
    ):
        save_checkpoint(flat, micro, tmp_path / "bad")
