"""Bad values in a checkpoint's JSON (official hyperparams.json, HF config.json, NTv3
config.json) are refused with the file, the key and the value, not a bare ValueError."""

from __future__ import annotations

import pytest

from ntscale.errors import CheckpointError
from ntscale.model.checkpoint_hf import config_from_hf
from ntscale.model.config import PRESETS, config_from_hyperparams, config_to_hyperparams
from ntscale.model.ntv3_config import ntv3_config_from_hf

HP = "/ckpt/jax_model/hyperparams.json"
CFG = "/ckpt/config.json"
HF_NT = {
    "position_embedding_type": "rotary",
    "max_position_embeddings": 2050,
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "vocab_size": 4107,
}


def _hp(**over) -> dict:
    hp = config_to_hyperparams(PRESETS["50M_multi_species_v2"])
    hp.update(over)
    return hp


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("num_layers", "twelve", "int"),
        ("embed_dim", [512], "int"),
        ("max_positions", "2k", "int"),
        ("k_for_kmers", "six", "int"),
        ("layer_norm_eps", "tiny", "float"),
        ("rescaling_factor", "2.4x", "float"),
        ("pad_token_id", {}, "int"),
    ],
)
def test_hyperparams_value_that_is_not_a_number_is_named(key, value, kind):
    with pytest.raises(CheckpointError) as err:
        config_from_hyperparams(_hp(**{key: value}), name="m", path=HP)
    msg = str(err.value)
    assert msg.startswith(f"{HP}: hyperparameter {key!r}")
    assert f"({kind}), got {value!r}" in msg


def test_hyperparams_null_required_key_reads_as_missing():
    with pytest.raises(CheckpointError, match=f"{HP}: hyperparameter 'ffn_embed_dim' is missing"):
        config_from_hyperparams(_hp(ffn_embed_dim=None), name="m", path=HP)


def test_hyperparams_null_optional_keys_take_their_defaults():
    cfg = config_from_hyperparams(
        _hp(key_size=None, layer_norm_eps=None, rescaling_factor=None), name="m", path=HP
    )
    assert cfg.key_size == 512 // 16  # embed_dim // heads
    assert cfg.layer_norm_eps == 1e-5 and cfg.rescaling_factor is None


def test_numbers_written_as_strings_still_read():
    cfg = config_from_hyperparams(_hp(num_layers="3", layer_norm_eps="1e-6"), name="m", path=HP)
    assert cfg.num_layers == 3 and cfg.layer_norm_eps == 1e-6


def test_hyperparams_k_out_of_range_names_the_file():
    with pytest.raises(CheckpointError, match=f"{HP}: k-mer length must be in 1..8, got 9"):
        config_from_hyperparams(_hp(k_for_kmers=9), name="m", path=HP)


@pytest.mark.parametrize("bad", ["exon", 14, {"exon": 1}])
def test_features_must_be_a_list_of_names(bad):
    with pytest.raises(CheckpointError, match=f"{HP}: 'features' must be a list of names"):
        config_from_hyperparams(_hp(features=bad), name="m", path=HP)


def test_hf_config_bad_value_names_the_config_key():
    with pytest.raises(CheckpointError, match=f"{CFG}: config key 'hidden_size' must be a number"):
        config_from_hf({**HF_NT, "hidden_size": "wide"}, name="m", path=CFG)
    with pytest.raises(CheckpointError, match=f"{CFG}: config key 'vocab_size' is missing"):
        config_from_hf({**HF_NT, "vocab_size": None}, name="m", path=CFG)
    cfg = config_from_hf(HF_NT, name="m", path=CFG)
    assert (cfg.embed_dim, cfg.num_layers, cfg.max_tokens) == (64, 2, 2048)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"num_layers": "12 layers"}, "config key 'num_layers' must be a number \\(int\\)"),
        ({"num_hidden_layers": "x"}, "config key 'num_hidden_layers' must be"),
        ({"keep_target_center_fraction": "half"}, "'keep_target_center_fraction' must be"),
        ({"conditions_vocab_size": ["many"]}, "'conditions_vocab_size' must be a number"),
        ({"bed_elements_names": "exon"}, "'bed_elements_names' must be a list of names"),
        ({"bigwigs_per_species": {"human": "dnase"}}, "bigwigs_per_species\\['human'\\] must be"),
        ({"bigwigs_per_species": ["human"]}, "'bigwigs_per_species' must map species"),
    ],
)
def test_ntv3_config_bad_values_are_named(over, message):
    with pytest.raises(CheckpointError, match=f"{CFG}: .*{message}"):
        ntv3_config_from_hf({"num_downsamples": 7, **over}, name="m", path=CFG)


def test_ntv3_alternate_key_is_the_one_named_and_read():
    cfg = ntv3_config_from_hf(
        {
            "num_downsamples": 3,
            "num_hidden_layers": "4",
            "hidden_size": 64,
            "num_attention_heads": 8,
        },
        name="m",
        path=CFG,
    )
    assert (cfg.num_layers, cfg.embed_dim, cfg.key_size) == (4, 64, 8)
