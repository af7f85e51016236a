"""Hyperparameter files (model/config.py, checkpoint_hf.py): official hyperparams.json and
Hugging Face config.json against the presets of the published models, both directions,
and every refusal naming the file and the key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model import PRESETS, config_from_hyperparams, get_preset, read_checkpoint_info
from ntscale.model.checkpoint_hf import config_from_hf, read_hf_config
from ntscale.model.config import config_to_hyperparams

# The published Hugging Face config.json values of the NT models (InstaDeepAI repositories):
# hidden size, layers, heads, intermediate size, vocabulary, max_position_embeddings.
HF_PUBLISHED = {
    "500M_human_ref": (1280, 24, 20, 5120, 4105, 1002, "absolute"),
    "500M_1000G": (1280, 24, 20, 5120, 4105, 1002, "absolute"),
    "2B5_1000G": (2560, 32, 20, 10240, 4105, 1002, "absolute"),
    "2B5_multi_species": (2560, 32, 20, 10240, 4105, 1002, "absolute"),
    "50M_multi_species_v2": (512, 12, 16, 2048, 4107, 2050, "rotary"),
    "100M_multi_species_v2": (512, 22, 16, 2048, 4107, 2050, "rotary"),
    "250M_multi_species_v2": (768, 24, 16, 3072, 4107, 2050, "rotary"),
    "500M_multi_species_v2": (1024, 29, 16, 4096, 4107, 2050, "rotary"),
}


def _hf_config(name: str) -> dict:
    dim, layers, heads, ffn, vocab, mpe, pos = HF_PUBLISHED[name]
    rotary = pos == "rotary"
    cfg = {
        "model_type": "esm", "hidden_size": dim, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": ffn, "vocab_size": vocab,
        "max_position_embeddings": mpe, "position_embedding_type": pos,
        "token_dropout": not rotary, "layer_norm_eps": 1e-12, "pad_token_id": 1,
        "mask_token_id": 2, "emb_layer_norm_before": False, "tie_word_embeddings": False,
    }  # fmt: skip
    if rotary:
        cfg["add_bias_fc"] = False
    return cfg


@pytest.mark.parametrize("name", list(HF_PUBLISHED))
def test_published_hf_configs_give_the_presets(name: str) -> None:
    config = config_from_hf(_hf_config(name), name=name, path="config.json")
    # HF files carry eps 1e-12; the official JAX files (and so the presets) 1e-5
    assert config == get_preset(name).replace(layer_norm_eps=1e-12)


def test_preset_families_match_the_published_architectures() -> None:
    for config in PRESETS.values():
        assert config.key_size == config.embed_dim // config.num_heads
        if config.version == "v1":  # ESM-style: learned positions, GELU FFN with biases
            assert (config.positional, config.ffn_activation, config.use_glu) == (
                "learned", "gelu-no-approx", False
            )  # fmt: skip
            assert config.ffn_bias and config.token_dropout
            assert (config.masking_ratio, config.masking_prob) == (0.15, 0.8)
        else:  # rotary positions, SwiGLU without FFN biases
            assert (config.positional, config.ffn_activation, config.use_glu) == (
                "rotary", "swish", True
            )  # fmt: skip
            assert not config.ffn_bias and not config.token_dropout
    assert get_preset("500m_HUMAN_REF") is PRESETS["500M_human_ref"]  # names: any case
    assert {get_preset(n).key_size for n in PRESETS} == {64, 128, 32, 48, 75}


def test_reference_fixture_parameter_count(ref_dir: Path) -> None:
    # the reference wrote its own parameter count into the v1 fixture's hyperparams.json
    hp = json.loads((ref_dir / "v1_model" / "jax_model" / "hyperparams.json").read_text())
    info = read_checkpoint_info(ref_dir / "v1_model")
    assert info.config.num_params == hp["model_num_parameters"] == 604_617


@pytest.mark.parametrize("name", [*PRESETS, "micro"])
def test_hyperparams_round_trip(name: str, micro_cfg) -> None:
    config = micro_cfg["v2"].replace(layer_norm_eps=1e-12) if name == "micro" else PRESETS[name]
    hp = config_to_hyperparams(config)
    assert ("layer_norm_eps" in hp) == (name == "micro")  # only when not the reference's 1e-5
    assert json.loads(json.dumps(hp)) == hp  # plain JSON
    assert config_from_hyperparams(hp, name=config.name, path="hp.json") == config


def test_v1_files_without_the_v2_keys_take_the_reference_defaults() -> None:
    hp = {"embed_dim": 64, "attention_heads": 4, "num_layers": 2, "ffn_embed_dim": 128,
          "alphabet_size": 4105, "max_positions": 56}  # fmt: skip
    config = config_from_hyperparams(hp, name="old", path="hp.json")
    assert config.version == "v1" and config.positional == "learned"
    assert config.ffn_activation == "gelu-no-approx" and config.ffn_bias and not config.use_glu
    assert config.key_size == 16 and config.layer_norm_eps == 1e-5
    assert not config.token_dropout and config.masking_ratio == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"add_bias_kv": True}, "hp.json: add_bias_kv=true is not supported"),
        ({"mask_before_attention": True}, "hp.json: mask_before_attention=true is not supported"),
        (
            {"positional_embedding": "alibi"},
            "hp.json: positional_embedding 'alibi' is not supported",
        ),
        ({"ffn_activation_name": "tanh"}, "hp.json: ffn_activation 'tanh' is not supported"),
        ({"num_layers": 0}, "hp.json: num_layers must be positive, got 0"),
        ({"key_size": 15, "use_rotary_embedding": True}, "hp.json: rotary embeddings need an even"),
    ],
)
def test_unsupported_hyperparameters_name_the_file(change: dict, message: str) -> None:
    hp = {**config_to_hyperparams(get_preset("500M_human_ref")), **change}
    with pytest.raises(CheckpointError, match=re.escape(message)):
        config_from_hyperparams(hp, name="x", path="hp.json")


@pytest.mark.parametrize(
    ("pos", "mpe", "max_tokens"),
    [("absolute", 1002, 1000), ("rotary", 2050, 2048), ("rotary", 66, 64), ("rotary", 100, 100)],
)
def test_max_tokens_from_max_position_embeddings(pos: str, mpe: int, max_tokens: int) -> None:
    # ESM's +2 offset is removed for learned positions, and for rotary ones when that gives a
    # multiple of 64 (how the hub's NT v2 files are written); otherwise the value is kept
    cfg = {**_hf_config("50M_multi_species_v2"), "position_embedding_type": pos,
           "max_position_embeddings": mpe}  # fmt: skip
    assert config_from_hf(cfg, name="m", path="c.json").max_tokens == max_tokens


def test_hf_defaults() -> None:
    cfg = {k: v for k, v in _hf_config("500M_human_ref").items()
           if k not in ("layer_norm_eps", "token_dropout", "position_embedding_type")}  # fmt: skip
    config = config_from_hf(cfg, name="m", path="c.json")
    assert config.positional == "learned" and config.layer_norm_eps == 1e-12
    assert not config.token_dropout and config.masking_ratio == 0.0  # no dropout rescaling
    rotary = {**_hf_config("50M_multi_species_v2")}
    del rotary["add_bias_fc"]
    assert config_from_hf(rotary, name="m", path="c.json").ffn_bias is False  # GLU: no bias


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_size": None}, "c.json: config key 'hidden_size' is missing"),
        ({"position_embedding_type": "alibi"}, "position_embedding_type 'alibi' is not supported"),
        ({"emb_layer_norm_before": True}, "c.json: emb_layer_norm_before=true is not supported"),
        ({"num_hidden_layers": 0}, "c.json: num_layers must be positive, got 0"),
    ],
)
def test_unsupported_hf_configs_name_the_file(change: dict, message: str) -> None:
    cfg = {**_hf_config("500M_1000G"), **change}
    cfg = {k: v for k, v in cfg.items() if v is not None}
    with pytest.raises(CheckpointError, match=re.escape(message)):
        config_from_hf(cfg, name="m", path="c.json")


def test_hf_config_file_must_be_a_json_object(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(
        CheckpointError,
        match=re.escape(f"{tmp_path / 'config.json'}: expected a JSON object, got list"),
    ):
        read_hf_config(tmp_path, name="m")
    (tmp_path / "config.json").write_text('{"hidden_size": ')
    with pytest.raises(CheckpointError, match=re.escape("config.json: cannot read config: ")):
        read_hf_config(tmp_path, name="m")


def test_hyperparams_file_must_be_a_json_object(micro_ckpt: Path) -> None:
    path = micro_ckpt / "jax_model" / "hyperparams.json"
    path.write_text('"just a string"')
    with pytest.raises(
        CheckpointError, match=re.escape(f"{path}: expected a JSON object, got str")
    ):
        read_checkpoint_info(micro_ckpt)


def test_config_values_are_checked_on_replace(micro_cfg) -> None:
    with pytest.raises(
        ConfigError, match=re.escape("model version must be 'v1' or 'v2', got 'v3'")
    ):
        micro_cfg["v2"].replace(version="v3")
    with pytest.raises(ConfigError, match=re.escape("positional must be 'learned' or 'rotary'")):
        micro_cfg["v1"].replace(positional="alibi")
    with pytest.raises(ConfigError, match=re.escape("vocab_size must be positive, got -1")):
        micro_cfg["v1"].replace(vocab_size=-1)
    with pytest.raises(AttributeError):
        micro_cfg["v1"].num_layers = 5  # frozen
