"""SegmentNT's U-Net head and per-base spec with values worked out by hand: the layout of
the fc outputs on bases, the CLS row left out, the token rule inside the module, the
YaRN factor as nothing but a rotary base change, and the window bounds of a small model."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.model import get_preset, init_model
from ntscale.model.config import rotary_base
from ntscale.model.perbase import PerBaseModel, SegmentModel, perbase_spec
from ntscale.model.precision import precision_policy
from ntscale.model.segment_head import HEAD, UNetHead, probabilities

F = 3  # features of the small head below
D = 8


def _cfg(**changes):
    cfg = get_preset("segment_nt").replace(
        name="seg", num_layers=1, embed_dim=D, num_heads=2, key_size=4, ffn_dim=16,
        features=("exon", "intron", "CTCF-bound"),
    )  # fmt: skip
    return cfg.replace(**changes)


def _head():
    cfg = _cfg()
    return hk.without_apply_rng(
        hk.transform(lambda x: UNetHead(cfg, precision=precision_policy("fp32"))(x))
    )


def _params(x):
    return _head().init(jax.random.PRNGKey(1), x)


def test_fc_outputs_are_laid_out_base_then_feature_then_class():
    # with every U-Net weight zero the head is its fc bias: swish(0) = 0 everywhere, so
    # logits[b, 6t + j, f, c] must be bias[j * 2F + f * 2 + c] for every token t
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 9, D)), jnp.float32)
    params = jax.tree_util.tree_map(jnp.zeros_like, _params(x))
    bias = jnp.arange(6 * 2 * F, dtype=jnp.float32)
    params[f"{HEAD}/~/fc"]["b"] = bias
    logits = np.asarray(_head().apply(params, x))
    assert logits.shape == (2, 8 * 6, F, 2)
    for t in (0, 3, 7):
        for j in range(6):
            for f in range(F):
                for c in range(2):
                    assert logits[1, 6 * t + j, f, c] == j * 2 * F + f * 2 + c


def test_the_cls_row_does_not_reach_the_logits():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 13, D)).astype(np.float32)
    params = _params(jnp.asarray(x))
    other = x.copy()
    other[:, 0] = rng.normal(size=D) * 100
    a, b = (np.asarray(_head().apply(params, jnp.asarray(v))) for v in (x, other))
    np.testing.assert_array_equal(a, b)
    changed = x.copy()
    changed[:, 5] += 1.0  # a DNA token does reach them (the test above can fail)
    assert not np.allclose(np.asarray(_head().apply(params, jnp.asarray(changed))), a)


@pytest.mark.parametrize("tokens", [6, 10, 2])
def test_the_module_refuses_a_token_count_the_unet_cannot_halve(tokens):
    x = jnp.zeros((1, tokens, D))
    with pytest.raises(ValueError, match=f"divisible by 4 .*got {tokens - 1}"):
        _params(x)


def test_probabilities_are_class_one_of_a_two_way_softmax():
    ln3 = float(np.log(3.0))
    logits = jnp.array([[0.0, 0.0], [0.0, ln3], [ln3, 0.0], [-500.0, 500.0], [500.0, -500.0]])
    got = np.asarray(probabilities(logits[:, None, :]))[:, 0]
    np.testing.assert_allclose(got, [0.5, 0.75, 0.25, 1.0, 0.0], atol=1e-6)
    assert np.isfinite(got).all()


def test_yarn_is_the_plain_rotary_forward_at_the_rescaled_base():
    seq = "ACGTTG" * 8  # 8 tokens + CLS
    yarn = init_model(_cfg(rescaling_factor=3.0), seed=5)
    tokens = yarn.tokenizer.encode_batch([seq])
    t = tokens.shape[1]
    base = rotary_base(yarn.config, t)
    assert base == pytest.approx(10000 * 3.0 ** (4 / 2))  # key size 4: s^(K / (K - 2))
    plain = init_model(_cfg(rescaling_factor=None, rotary_base=base), seed=5)
    unscaled = init_model(_cfg(rescaling_factor=None), seed=5)
    got = yarn.apply(tokens, layers=(1,), logits=False)["embeddings"][1]
    want = plain.apply(tokens, layers=(1,), logits=False)["embeddings"][1]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    other = unscaled.apply(tokens, layers=(1,), logits=False)["embeddings"][1]
    assert np.abs(got - other).max() > 1e-4  # the factor changes the values


def test_segment_model_is_a_perbase_model_with_its_features_as_tracks():
    seg = SegmentModel(init_model(_cfg(), seed=3))
    assert isinstance(seg, PerBaseModel)
    assert seg.spec.track_names == ("exon", "intron", "CTCF-bound")
    assert seg.predict(["ACGTAC" * 4]).shape == (1, 24, 3)


def test_forward_tokens_refuses_tokens_the_head_cannot_take():
    seg = SegmentModel(init_model(_cfg(), seed=3))
    tokens = seg.model.tokenizer.encode_batch(["ACGTAC" * 5])  # 5 DNA tokens
    with pytest.raises(ValueError, match="got 5"):
        seg.forward_tokens(tokens)


def test_window_bounds_of_a_small_model_by_hand():
    # max_tokens 101: 100 DNA tokens -> 100 // 4 = 25 U-Net steps of 24 bp = 600 bp
    spec = perbase_spec(_cfg(max_tokens=101))
    assert (spec.multiple_bp, spec.min_window_bp, spec.max_window_bp) == (24, 24, 600)
    assert spec.default_window_bp == 600 and not spec.accepts_n
    spec.check_window(24)
    spec.check_window(600)
    msg = "window of 624 bp is not accepted: use a multiple of 24 bp between 24 and 600 bp"
    with pytest.raises(ConfigError, match=f"{msg} \\(default 600\\)"):
        spec.check_window(624)
    with pytest.raises(ConfigError, match="window of 0 bp"):
        spec.check_window(0)
    # 99 DNA tokens: the last incomplete group of 4 is not usable
    assert perbase_spec(_cfg(max_tokens=100)).max_window_bp == 24 * 24
