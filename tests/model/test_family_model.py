"""SegmentNT head, YaRN rule, per-base spec, and the new hyperparameter keys (k, key_dim,
rescaling_factor, features) in both checkpoint layouts."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model import get_preset, init_model, load
from ntscale.model.checkpoint_hf import config_from_hf
from ntscale.model.config import (
    SEGMENT_FEATURES,
    YARN_BASE_TOKENS,
    YARN_TRAIN_TOKENS,
    config_from_hyperparams,
    config_to_hyperparams,
    rotary_base,
    yarn_factor,
)
from ntscale.model.params import init_official, official_shapes
from ntscale.model.perbase import PerBaseSpec, SegmentModel, perbase_spec
from ntscale.model.precision import precision_policy
from ntscale.model.segment_head import UNetHead, check_unet_tokens, head_shapes


def tiny_segment(**changes):
    cfg = get_preset("segment_nt").replace(
        name="seg", num_layers=1, embed_dim=16, num_heads=2, key_size=8, ffn_dim=32
    )
    return cfg.replace(**changes)


def test_head_parameter_names_and_shapes_are_the_haiku_modules():
    cfg = tiny_segment()

    def fn(x):
        return UNetHead(cfg, precision=precision_policy("fp32"))(x)

    params = hk.transform(fn).init(jax.random.PRNGKey(0), jnp.zeros((1, 9, 16)))
    got = {m: {n: tuple(a.shape) for n, a in leaves.items()} for m, leaves in params.items()}
    assert got == head_shapes(cfg)
    # the published scope names: u_net_head/~/unet1_d_segmentation_head/~/...
    assert any(m.startswith("u_net_head/~/unet1_d_segmentation_head/~/upsample") for m in got)
    assert got["u_net_head/~/fc"] == {"w": (16, 6 * 2 * 14), "b": (6 * 2 * 14,)}


@pytest.mark.parametrize("n", [0, 1, 2, 6, 30])
def test_unet_token_rule_refuses_counts_not_divisible_by_four(n):
    with pytest.raises(ValueError, match="divisible by 4"):
        check_unet_tokens(n)


@pytest.mark.parametrize("n", [4, 8, 5000, 8332])
def test_unet_token_rule_accepts_multiples_of_four(n):
    check_unet_tokens(n)


def test_yarn_factor_follows_the_reference_window_rule():
    cfg = tiny_segment()
    s = YARN_TRAIN_TOKENS / YARN_BASE_TOKENS
    assert yarn_factor(cfg, 33) == pytest.approx(s)
    assert yarn_factor(cfg, YARN_TRAIN_TOKENS) == pytest.approx(s)
    assert yarn_factor(cfg, 8333) == pytest.approx(8333 / 2048)
    assert yarn_factor(cfg.replace(rescaling_factor=None), 8333) is None
    k = cfg.key_size
    assert rotary_base(cfg, 33) == pytest.approx(10000 * s ** (k / (k - 2)))
    assert rotary_base(cfg.replace(rescaling_factor=None), 9000) == 10000
    assert rotary_base(cfg.replace(rescaling_factor=1.0), 33) == pytest.approx(10000)


def test_a_longer_window_changes_the_rotary_base_but_not_the_shorter_ones():
    cfg = tiny_segment()
    assert rotary_base(cfg, 5001) == rotary_base(cfg, 100)
    assert rotary_base(cfg, 5005) > rotary_base(cfg, 5001)


def test_segment_preset_shape_and_parameter_count():
    cfg = get_preset("segment_nt")
    assert cfg.features == SEGMENT_FEATURES and len(cfg.features) == 14
    assert cfg.is_segmentation and cfg.max_tokens == 8333
    head = sum(int(np.prod(s)) for leaves in head_shapes(cfg).values() for s in leaves.values())
    backbone = cfg.replace(features=()).num_params
    assert cfg.num_params == backbone + head
    assert head > 20e6  # the U-Net is a large head (convolutions of 1024 and 2048 channels)


def test_num_params_counts_every_initialised_parameter():
    cfg = tiny_segment()
    flat = init_official(cfg, seed=1)
    assert sum(a.size for leaves in flat.values() for a in leaves.values()) == cfg.num_params
    assert set(official_shapes(cfg)) == set(flat)


@pytest.mark.parametrize(
    "cfg",
    [
        tiny_segment(),
        get_preset("1B_agro_nt").replace(
            num_layers=1, embed_dim=24, num_heads=4, key_size=8, ffn_dim=16, max_tokens=20
        ),  # fmt: skip
        get_preset("codon_nt").replace(
            num_layers=1, embed_dim=16, num_heads=2, key_size=8, ffn_dim=16
        ),  # fmt: skip
    ],
    ids=["segment", "agro", "codon"],
)
def test_hyperparams_round_trip(cfg):
    hp = config_to_hyperparams(cfg)
    back = config_from_hyperparams(hp, name=cfg.name, path="hp.json")
    assert back == cfg
    assert hp["k_for_kmers"] == cfg.k
    if cfg.key_size != cfg.embed_dim // cfg.num_heads:
        assert hp["key_dim"] == cfg.key_size


def test_key_dim_wins_over_key_size_as_in_the_reference():
    hp = config_to_hyperparams(get_preset("codon_nt").replace(num_layers=1))
    hp.update(key_size=32, key_dim=16)
    assert config_from_hyperparams(hp, name="x", path="p").key_size == 16


def test_vocabulary_size_comes_from_the_tokenizer_when_k_is_given():
    hp = config_to_hyperparams(get_preset("codon_nt"))
    hp["alphabet_size"] = 4107  # a stale value: the reference ignores it too
    assert config_from_hyperparams(hp, name="x", path="p").vocab_size == 75


def test_segment_checkpoint_saves_and_loads_with_its_head(tmp_path):
    model = init_model(tiny_segment(), seed=4)
    model.save(tmp_path / "seg")
    again = load(tmp_path / "seg")
    assert again.config == model.config.replace(name="seg")
    seq = "ACGT" * 24  # 96 bp = 16 tokens
    np.testing.assert_array_equal(
        SegmentModel(again).predict([seq]), SegmentModel(model).predict([seq])
    )


def test_segment_predict_shapes_and_refusals():
    seg = SegmentModel(init_model(tiny_segment(), seed=2))
    out = seg.predict(["ACGTAC" * 8, "TTTTGG" * 8])
    assert out.shape == (2, 48, 14) and out.dtype == np.float32
    assert ((out > 0) & (out < 1)).all()
    with pytest.raises(ValueError, match="one length"):
        seg.predict(["A" * 24, "A" * 48])
    with pytest.raises(ConfigError, match="multiple of 24"):
        seg.predict(["A" * 30])
    with pytest.raises(ValueError, match="must not contain N"):
        seg.predict(["A" * 20 + "N" + "A" * 3])


def test_segment_model_needs_a_head():
    plain = get_preset("codon_nt").replace(num_layers=1, embed_dim=16, num_heads=2, key_size=8)
    with pytest.raises(ConfigError, match="no segmentation head"):
        SegmentModel(init_model(plain))


def test_perbase_spec_of_segment_nt():
    spec = perbase_spec(get_preset("segment_nt"))
    assert spec.multiple_bp == 24 and spec.default_window_bp == 30_000
    assert spec.max_window_bp == 49_992  # 8,332 6-mers
    spec.check_window(30_000)
    spec.check_window(49_992)
    for bad in (30_006, 50_016, 12):
        with pytest.raises(ConfigError):
            spec.check_window(bad)
    with pytest.raises(ConfigError, match="no per-base head"):
        perbase_spec(get_preset("500M_multi_species_v2"))


def test_perbase_spec_is_frozen_and_compares_by_value():
    a = PerBaseSpec(track_names=("x",), multiple_bp=2, min_window_bp=2, max_window_bp=8,
                    default_window_bp=4)  # fmt: skip
    assert a == PerBaseSpec(track_names=("x",), multiple_bp=2, min_window_bp=2,
                            max_window_bp=8, default_window_bp=4)  # fmt: skip
    with pytest.raises(AttributeError):
        a.multiple_bp = 3  # type: ignore[misc]


def _hf_config(**over):
    cfg = {
        "hidden_size": 16,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "intermediate_size": 32,
        "vocab_size": 75,
        "max_position_embeddings": 2050,
        "position_embedding_type": "rotary",
    }
    cfg.update(over)
    return cfg


def test_hf_config_of_codon_nt_gets_k_from_its_vocabulary():
    cfg = config_from_hf(_hf_config(), name="codon", path="config.json")
    assert (cfg.k, cfg.vocab_size, cfg.version) == (3, 75, "v2")
    assert config_from_hf(_hf_config(vocab_size=4107), name="v2", path="c").k == 6


def test_hf_segment_nt_is_refused_with_the_fix():
    with pytest.raises(CheckpointError, match="official layout"):
        config_from_hf(_hf_config(num_features=14), name="seg", path="config.json")


@pytest.mark.parametrize("bad", [{"k": 0}, {"k": 9}, {"rescaling_factor": 0.0}])
def test_config_rejects_bad_new_fields(bad):
    with pytest.raises(ConfigError):
        tiny_segment(**bad)


def test_a_head_needs_a_rotary_backbone():
    with pytest.raises(ConfigError, match="rotary"):
        get_preset("500M_human_ref").replace(features=("exon",))


def test_segment_backbone_is_the_plain_forward_of_the_same_parameters():
    model = init_model(tiny_segment(), seed=8)
    tokens = model.tokenizer.encode_batch(["ACGGTA" * 8, "TTGACA" * 8])
    out = SegmentModel(model).forward_tokens(tokens)
    plain = model.apply(tokens, layers=(1,), logits=False)["embeddings"][1]
    np.testing.assert_allclose(out["final"], plain, rtol=1e-5, atol=1e-5)
    assert out["logits"].shape == (2, 48, 14, 2)
    np.testing.assert_allclose(
        out["probabilities"], 1 / (1 + np.exp(out["logits"][..., 0] - out["logits"][..., 1])),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def test_a_window_gives_the_same_values_alone_and_in_a_batch():
    seg = SegmentModel(init_model(tiny_segment(), seed=9))
    rng = np.random.default_rng(3)
    a, b = ("".join(rng.choice(list("ACGT"), 96)) for _ in range(2))
    alone = seg.predict([a])[0]
    np.testing.assert_allclose(seg.predict([a, b])[0], alone, atol=1e-5)
    np.testing.assert_allclose(seg.predict([b, a, a])[2], alone, atol=1e-5)
