"""NTv3 configs: config.json parsing, the published registry, the 2^n rule, centre crop,
species and track lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model.ntv3_config import (
    NTV3_MODELS,
    NTv3Config,
    get_ntv3,
    is_ntv3_config,
    is_ntv3_name,
    ntv3_config_from_hf,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"


def _post() -> NTv3Config:
    cfg = json.loads((DATA / "post" / "config.json").read_text())
    return ntv3_config_from_hf(cfg, name="tiny_post", path="post/config.json")


def test_registry_lists_the_published_names():
    expected = {
        "NTv3_8M_pre", "NTv3_100M_pre", "NTv3_650M_pre",
        "NTv3_8M_pre_8kb", "NTv3_100M_pre_8kb", "NTv3_650M_pre_8kb",
        "NTv3_5downsample_pre", "NTv3_5downsample_pre_8kb",
        "NTv3_100M_post", "NTv3_650M_post", "NTv3_100M_post_131kb", "NTv3_650M_post_131kb",
        "NTv3_5downsample_post", "NTv3_5downsample_post_131kb",
    }  # fmt: skip
    assert set(NTV3_MODELS) == expected


@pytest.mark.parametrize(
    "name,stage,n,context",
    [
        ("NTv3_8M_pre", "pre", 7, 2**20),
        ("NTv3_650M_pre_8kb", "pre", 7, 8192),
        ("NTv3_5downsample_pre", "pre", 5, 2**20),
        ("NTv3_100M_post", "post", 7, 2**20),
        ("NTv3_650M_post_131kb", "post", 7, 131072),
        ("NTv3_5downsample_post_131kb", "post", 5, 131072),
    ],
)
def test_registry_entries(name, stage, n, context):
    entry = get_ntv3(name.lower())
    assert (entry.name, entry.stage, entry.num_downsamples, entry.context_bp) == (
        name,
        stage,
        n,
        context,
    )
    assert entry.repo == f"InstaDeepAI/{name}"
    assert entry.context_bp % 2**entry.num_downsamples == 0
    assert ("bigwig" in entry.heads) == (stage == "post")
    assert is_ntv3_name(name.upper())


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ConfigError, match="NTv3_100M_post"):
        get_ntv3("NTv3_1B_pre")
    assert not is_ntv3_name("50M_multi_species_v2")


def test_parse_pre_config():
    cfg = json.loads((DATA / "pre" / "config.json").read_text())
    assert is_ntv3_config(cfg)
    c = ntv3_config_from_hf(cfg, name="tiny", path="x")
    assert not c.post_trained
    assert c.filter_list == (16, 18, 21, 24)  # the reference's int(linspace) widths
    assert (c.block_bp, c.key_size, c.vocab_size) == (8, 12, 11)


def test_parse_alternate_keys_and_key_size_default():
    c = ntv3_config_from_hf(
        {"num_downsamples": 2, "hidden_size": 32, "num_attention_heads": 4,
         "intermediate_size": 64, "num_hidden_layers": 3, "vocab_size": 11},
        name="alt", path="x",
    )  # fmt: skip
    assert (c.embed_dim, c.num_heads, c.key_size, c.ffn_dim, c.num_layers) == (32, 4, 8, 64, 3)


def test_parse_rejects_unsupported_settings():
    with pytest.raises(CheckpointError, match="repeat\\+conv"):
        ntv3_config_from_hf(
            {"num_downsamples": 2, "deconv_upsample_type": "repeat+conv"}, name="x", path="c.json"
        )
    with pytest.raises(CheckpointError, match="one condition"):
        ntv3_config_from_hf(
            {"num_downsamples": 2, "conditions_vocab_size": [3, 4]}, name="x", path="c.json"
        )
    with pytest.raises(CheckpointError, match="c.json: .*conv_init_embed_dim == embed_dim"):
        ntv3_config_from_hf(
            {"num_downsamples": 2, "conditions_vocab_size": [8], "embed_dim": 32,
             "conv_init_embed_dim": 16, "species_to_token_id": {"a": 6},
             "bigwigs_per_species": {"a": ["t"]}},
            name="x", path="c.json",
        )  # fmt: skip
    assert not is_ntv3_config({"model_type": "esm", "hidden_size": 512})


@pytest.mark.parametrize("length", [64, 128, 1000, 32768])
@pytest.mark.parametrize("fraction", [1.0, 0.375, 0.5, 0.1])
def test_crop_bounds_follow_the_reference_rule(length, fraction):
    c = NTv3Config(name="x", keep_target_center_fraction=fraction)
    lo, hi = c.crop_bounds(length)
    crop = int((1 - fraction) * length)
    assert (lo, hi) == (crop // 2, length - crop // 2)
    assert 0 <= lo <= hi <= length


def test_crop_of_the_documented_example():
    # docs: 32,768 bases at 0.375 keep int(32768 * 0.375) = 12,288
    lo, hi = NTv3Config(name="x", keep_target_center_fraction=0.375).crop_bounds(2**15)
    assert hi - lo == 12288


def test_length_rule():
    c = NTv3Config(name="m", num_downsamples=7)
    c.check_length(128 * 3)
    for bad in (0, 100, 129):
        with pytest.raises(ConfigError, match="2\\^7 = 128"):
            c.check_length(bad)


def test_bad_values_rejected():
    with pytest.raises(ConfigError, match="keep_target_center_fraction"):
        NTv3Config(name="x", keep_target_center_fraction=0.0)
    with pytest.raises(ConfigError, match="num_downsamples"):
        NTv3Config(name="x", num_downsamples=-1)


def test_species_heads_and_tracks():
    c = _post()
    assert c.post_trained
    assert c.track_heads == ("human", "mouse", "fly")  # by species token
    assert c.species_token("mouse") == 7
    assert c.head_index("human") == 0 and c.head_index("mouse") == 1
    assert c.head_index("fly") is None  # a species without tracks has no head
    assert c.tracks_of("mouse") == ("m_atac", "m_h3k27ac")
    assert c.tracks_of("fly") == ()
    with pytest.raises(ConfigError, match="unknown species '<pad>'"):
        c.species_token("<pad>")  # special tokens are not species


def test_pre_trained_takes_no_species():
    with pytest.raises(ConfigError, match="takes no species"):
        NTv3Config(name="p").species_token("human")


def test_ntv3_config_detection():
    assert is_ntv3_config({"num_downsamples": 7})
    assert is_ntv3_config({"model_type": "NTv3PostTrained"})
    assert not is_ntv3_config({"model_type": "segment_nt", "num_layers": 3})


def test_published_entries_share_the_block_rule():
    for entry in NTV3_MODELS.values():
        block = 2**entry.num_downsamples
        assert entry.context_bp % block == 0, entry.name
        assert entry.heads[0] == "mlm"


def test_post_config_fields_from_the_fixture():
    c = _post()
    assert c.conditions_vocab_size == 9 and c.num_species_special_tokens == 6
    assert c.keep_target_center_fraction == 0.375
    assert c.bed_elements_names == ("exon", "intron", "promoter")
    assert c.bigwigs_per_species["human"] == ("h_dnase", "h_h3k4me3", "h_ctcf")
    assert c.species_to_token_id["fly"] == 8 and c.filter_list == (24, 24, 24)
    assert (c.key_size, c.num_layers, c.ffn_dim, c.layer_norm_eps) == (12, 2, 32, 1e-5)


def test_missing_keys_take_the_reference_defaults():
    c = ntv3_config_from_hf({"model_type": "ntv3"}, name="d", path="x")
    assert (c.num_downsamples, c.embed_dim, c.num_heads, c.key_size) == (8, 512, 16, 32)
    assert (c.vocab_size, c.pad_token_id, c.mask_token_id) == (11, 1, 2)
    assert not c.post_trained and c.use_skip_connection
