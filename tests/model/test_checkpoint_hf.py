"""Hugging Face layout: single file, shards with an index, key variants, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from esm_names import esm_state
from safetensors.numpy import load_file, save_file

from ntscale.errors import CheckpointError
from ntscale.model import file_digest, load

HF_SHA = "f4be3bc25b48b5192bcc25fe8984ad8617e812f7189d96ac4af4877390112d71"


def _copy_config(hf_dir: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    shutil.copy(hf_dir / "config.json", out)
    return out


def test_hf_config_and_digest(models):
    model = models("hf")
    cfg = model.config
    assert cfg.version == "v1" and cfg.positional == "learned"
    assert cfg.layer_norm_eps == 1e-12  # HF config value wins over the official 1e-5
    assert cfg.max_tokens == 64 and cfg.token_dropout
    assert model.digest == HF_SHA


def test_sharded_safetensors_with_index(hf_dir, tmp_path, models, expected):
    state = load_file(hf_dir / "model.safetensors")
    out = _copy_config(hf_dir, tmp_path / "sharded")
    keys = sorted(state)
    shards = {
        "model-00001-of-00002.safetensors": keys[::2],
        "model-00002-of-00002.safetensors": keys[1::2],
    }
    weight_map = {}
    for fname, names in shards.items():
        save_file({k: state[k] for k in names}, out / fname)
        weight_map.update({k: fname for k in names})
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    model = load(out)
    assert model.digest == file_digest([out / f for f in sorted(shards)])
    tokens, nonpad, logits, _ = expected("hf")
    np.testing.assert_allclose(
        model.apply(tokens)["logits"][nonpad], logits[nonpad], rtol=1e-4, atol=1e-4
    )


def test_weight_bias_layer_norm_names_and_no_unused_keys(hf_dir, tmp_path, models, expected):
    """Published NT files use LayerNorm weight/bias and may lack contact_head/position_ids."""
    state = load_file(hf_dir / "model.safetensors")
    renamed = {
        k.replace(".gamma", ".weight").replace(".beta", ".bias"): v
        for k, v in state.items()
        if "contact_head" not in k
    }
    renamed["esm.embeddings.position_ids"] = np.arange(66, dtype=np.int64)[None]
    out = _copy_config(hf_dir, tmp_path / "renamed")
    save_file(renamed, out / "model.safetensors")
    tokens = expected("hf")[0]
    np.testing.assert_array_equal(
        load(out).apply(tokens)["logits"], models("hf").apply(tokens)["logits"]
    )


def test_unexpected_hf_key_is_named(hf_dir, tmp_path):
    state = load_file(hf_dir / "model.safetensors")
    state["esm.encoder.layer.0.attention.self.distance_embedding.weight"] = np.zeros(3, "f4")
    out = _copy_config(hf_dir, tmp_path / "extra")
    save_file(state, out / "model.safetensors")
    with pytest.raises(
        CheckpointError,
        match=r"unexpected 1 key\(s\): esm.encoder.layer.0."
        r"attention.self.distance_embedding.weight",
    ):
        load(out)


def test_missing_hf_key_is_named(hf_dir, tmp_path):
    state = load_file(hf_dir / "model.safetensors")
    del state["lm_head.dense.weight"]
    out = _copy_config(hf_dir, tmp_path / "missing")
    save_file(state, out / "model.safetensors")
    with pytest.raises(
        CheckpointError,
        match=r"missing 1 parameter\(s\): "
        r"esm_transformer/~/esm_roberta_lm_head/~/lm_head_fc_1:w",
    ):
        load(out)


def test_wrong_hf_shape_is_named(hf_dir, tmp_path):
    state = load_file(hf_dir / "model.safetensors")
    state["esm.encoder.layer.1.intermediate.dense.weight"] = np.zeros((100, 64), "f4")
    out = _copy_config(hf_dir, tmp_path / "shape")
    save_file(state, out / "model.safetensors")
    with pytest.raises(
        CheckpointError,
        match=r"attention_layer_1/~/fc1:w has shape "
        r"\(64, 100\), expected \(64, 128\)",
    ):
        load(out)


def test_missing_shard_is_named(hf_dir, tmp_path):
    out = _copy_config(hf_dir, tmp_path / "lost")
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"lm_head.bias": "model-00002.safetensors"}})
    )
    with pytest.raises(CheckpointError, match=r"shard file\(s\) missing: .*model-00002"):
        load(out)


def test_corrupt_safetensors(hf_dir, tmp_path):
    out = _copy_config(hf_dir, tmp_path / "corrupt")
    (out / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match=r"model.safetensors: cannot read safetensors"):
        load(out)


def test_unsupported_hf_position_type(hf_dir, tmp_path):
    out = _copy_config(hf_dir, tmp_path / "alibi")
    cfg = json.loads((out / "config.json").read_text())
    cfg["position_embedding_type"] = "relative_key"
    (out / "config.json").write_text(json.dumps(cfg))
    shutil.copy(hf_dir / "model.safetensors", out)
    with pytest.raises(
        CheckpointError,
        match=r"position_embedding_type 'relative_key' is "
        r"not supported",
    ):
        load(out)


def _to_hf_v2(flat: dict, n_layers: int) -> dict[str, np.ndarray]:
    """Official v2 params under HF NT-v2 names, with the unused arrays such exports carry."""
    out = esm_state(flat, n_layers)
    for i in range(n_layers):
        out[f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq"] = np.ones(8, "f4")
    out["esm.embeddings.position_embeddings.weight"] = np.zeros((66, 32), "f4")  # unused
    return out


def test_hf_v2_rotary_glu_layout(tmp_path, micro_cfg):
    from ntscale.model import init_model

    cfg = micro_cfg["v2"]
    model = init_model(cfg, seed=8)
    out = tmp_path / "hf_v2"
    out.mkdir()
    save_file(_to_hf_v2(model.official_params(), cfg.num_layers), out / "model.safetensors")
    (out / "config.json").write_text(
        json.dumps(
            {
                "model_type": "esm",
                "hidden_size": 32,
                "num_hidden_layers": 3,
                "num_attention_heads": 2,
                "intermediate_size": 48,
                "vocab_size": 4107,
                "max_position_embeddings": 66,
                "position_embedding_type": "rotary",
                "add_bias_fc": False,
                "token_dropout": False,
                "layer_norm_eps": 1e-5,
                "pad_token_id": 1,
                "mask_token_id": 2,
                "tie_word_embeddings": False,
            }
        )
    )
    hf = load(out)
    assert hf.config == cfg.replace(name="hf_v2")
    tokens = np.array([[3, 7, 8, 9, 10, 1, 1], [3, 4102, 4103, 2, 1, 1, 1]], np.int32)
    np.testing.assert_array_equal(
        hf.apply(tokens, layers=(2,))["embeddings"][2],
        model.apply(tokens, layers=(2,))["embeddings"][2],
    )
