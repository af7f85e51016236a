"""Presets, dtype policy, bucketing and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.model import (
    HUB_REPOS,
    PRESETS,
    bucket_length,
    get_preset,
    precision_policy,
    preset_names,
)
from ntscale.model.precision import attention_backend

SHAPES = {  # layers, dim, heads, ffn, vocab, max tokens
    "500M_human_ref": (24, 1280, 20, 5120, 4105, 1000),
    "500M_1000G": (24, 1280, 20, 5120, 4105, 1000),
    "2B5_1000G": (32, 2560, 20, 10240, 4105, 1000),
    "2B5_multi_species": (32, 2560, 20, 10240, 4105, 1000),
    "50M_multi_species_v2": (12, 512, 16, 2048, 4107, 2048),
    "100M_multi_species_v2": (22, 512, 16, 2048, 4107, 2048),
    "250M_multi_species_v2": (24, 768, 16, 3072, 4107, 2048),
    "500M_multi_species_v2": (29, 1024, 16, 4096, 4107, 2048),
    "segment_nt": (29, 1024, 16, 4096, 4107, 8333),
    "segment_nt_multi_species": (29, 1024, 16, 4096, 4107, 8333),
    "1B_agro_nt": (40, 1500, 20, 5120, 4105, 1024),
    "codon_nt": (12, 512, 16, 2048, 75, 2048),
}
V1_FAMILY = {"500M_human_ref", "500M_1000G", "2B5_1000G", "2B5_multi_species", "1B_agro_nt"}


def test_presets_of_the_published_models():
    assert preset_names() == tuple(SHAPES)
    assert set(HUB_REPOS) == set(PRESETS)
    for name, shape in SHAPES.items():
        c = get_preset(name)
        assert (
            c.num_layers,
            c.embed_dim,
            c.num_heads,
            c.ffn_dim,
            c.vocab_size,
            c.max_tokens,
        ) == shape
        assert c.key_size * c.num_heads == c.embed_dim
        assert c.version == ("v1" if name in V1_FAMILY else "v2")
        assert HUB_REPOS[name].startswith("InstaDeepAI/")
        assert c.k == (3 if name == "codon_nt" else 6)
        assert bool(c.features) == name.startswith("segment_nt")


@pytest.mark.parametrize(
    ("name", "count", "nominal"),
    [
        ("500M_human_ref", 485_698_825, 500e6),
        ("2B5_multi_species", 2_547_800_585, 2.5e9),
        ("50M_multi_species_v2", 54_855_179, 50e6),
        ("100M_multi_species_v2", 96_839_179, 100e6),
        ("250M_multi_species_v2", 233_545_995, 250e6),
        ("500M_multi_species_v2", 496_245_771, 500e6),
    ],
)
def test_parameter_counts(name, count, nominal):
    # pinned: the official layout's parameters (no unused HF extras); close to the name
    assert get_preset(name).num_params == count
    assert abs(count / nominal - 1) < 0.1


def test_unknown_preset_lists_names():
    with pytest.raises(
        ConfigError,
        match=r"unknown model 'NT-42'; published models are: "
        r"500M_human_ref, 500M_1000G",
    ):
        get_preset("NT-42")


def test_invalid_config_values(micro_cfg):
    with pytest.raises(ConfigError, match=r"ffn_activation 'tanh' is not supported"):
        micro_cfg["v2"].replace(ffn_activation="tanh")
    with pytest.raises(ConfigError, match=r"num_layers must be positive, got 0"):
        micro_cfg["v2"].replace(num_layers=0)
    with pytest.raises(ConfigError, match=r"rotary embeddings need an even key_size, got 15"):
        micro_cfg["v2"].replace(key_size=15)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("fp32", "float32"), ("float32", "float32"), ("bf16", "bfloat16"), ("BFloat16", "bfloat16")],
)
def test_dtype_aliases(alias, name):
    assert precision_policy(alias).name == name


def test_unknown_dtype():
    with pytest.raises(ConfigError, match=r"dtype must be one of .* got 'fp16'"):
        precision_policy("fp16")


def test_attention_backend_choice():
    assert attention_backend(precision_policy("bf16"), "gpu") == "cudnn"
    assert attention_backend(precision_policy("fp32"), "gpu") == "chunked"
    assert attention_backend(precision_policy("bf16"), "cpu") == "headwise"
    assert attention_backend(precision_policy("fp32"), "cpu") == "headwise"


@pytest.mark.parametrize(
    ("n", "max_tokens", "want"),
    [
        (1, 2048, 128),
        (128, 2048, 128),
        (129, 2048, 256),
        (2000, 2048, 2048),
        (2048, 2048, 2048),
        (999, 1000, 1000),
        (897, 1000, 1000),
        (10, 56, 56),
    ],
)
def test_bucket_length(n, max_tokens, want):
    assert bucket_length(n, max_tokens) == want


def test_bucket_length_rejects_too_many_tokens():
    with pytest.raises(ValueError, match=r"n_tokens must be in 1..2048, got 2049"):
        bucket_length(2049, 2048)


def test_token_validation(models):
    model = models("v1")
    with pytest.raises(ValueError, match=r"57 tokens per row exceed the model's maximum 56"):
        model.apply(np.full((1, 57), 1, np.int32))
    with pytest.raises(
        ValueError,
        match=r"token ids must be in 0..4104 for v1_model, got "
        r"3..4106",
    ):
        model.apply(np.array([[3, 4106]], np.int32))  # <bos> is not a v1 embedding row
    with pytest.raises(ValueError, match=r"tokens must be an integer array \[B, T\]"):
        model.apply(np.zeros(5, np.int32))
    with pytest.raises(ConfigError, match=r"layers must be in 1..2 for v1_model, got \[0, 3\]"):
        model.apply(np.array([[3, 10]], np.int32), layers=(0, 1, 3))
