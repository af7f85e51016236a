"""NTv3 building blocks checked against plain numpy: convolutions (layouts, SAME padding,
the stride-2 transposed convolution), adaptive layer norm and gates, pad-block masking,
the U-Net's shapes, heads, the model API and the memory plan."""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import (
    NTv3Model,
    forward_memory_bytes,
    init_ntv3,
    param_shapes,
    params_digest,
)
from ntscale.model.ntv3_config import NTv3Config
from ntscale.model.ntv3_modules import (
    _Ctx,
    adaptive_norm,
    conv1d,
    conv1d_transpose,
    down_block,
    transformer_block,
    up_block,
)
from ntscale.model.precision import precision_policy

CFG = NTv3Config(
    name="unit", num_downsamples=2, num_heads=2, key_size=4, token_embed_dim=4,
    conv_init_embed_dim=8, embed_dim=12, ffn_dim=16, num_layers=1,
)  # fmt: skip
POST = dataclasses.replace(
    CFG,
    name="unit_post",
    conv_init_embed_dim=12,
    conditions_vocab_size=9,
    species_to_token_id={"<pad>": 1, "a": 6, "b": 7, "c": 8},
    bigwigs_per_species={"a": ("t0", "t1", "t2"), "b": (), "c": ("u0",)},
    bed_elements_names=("e0", "e1"),
    keep_target_center_fraction=0.5,
)
CTX = _Ctx(CFG, precision_policy("float32"), "xla")
RNG = np.random.default_rng(0)


def _apply(fn, *args):
    """Init with random params (seed 1) and apply a function of the blocks.

    Compiled (jit), as the model runs: op by op, each of a block's ops is compiled alone."""
    f = hk.without_apply_rng(hk.transform(fn))
    params = jax.jit(f.init)(jax.random.PRNGKey(1), *args)
    params = jax.tree_util.tree_map(lambda p: p + 0.3 * jnp.ones_like(p), params)
    return jax.jit(f.apply)(params, *args), params


def test_conv1d_is_a_same_padded_correlation():
    x = RNG.standard_normal((2, 9, 3)).astype(np.float32)
    out, params = _apply(lambda x: conv1d(CTX, x, 5, 5, name="c"), x)
    w, b = np.asarray(params["c"]["w"]), np.asarray(params["c"]["b"])  # [k, in, out]
    xp = np.pad(x, ((0, 0), (2, 2), (0, 0)))
    want = np.stack([np.einsum("bki,kio->bo", xp[:, t : t + 5], w) for t in range(9)], 1) + b
    np.testing.assert_allclose(out, want, atol=1e-5)


@pytest.mark.parametrize("stride,k", [(2, 5), (1, 1)])
def test_conv1d_transpose_matches_a_dilated_correlation(stride, k):
    """[B, T, in] -> [B, stride*T, out]: insert stride-1 zeros, pad (XLA's SAME rule for a
    transposed convolution), correlate with w[k, out, in] (kernel not flipped)."""
    t = 6
    x = RNG.standard_normal((2, t, 3)).astype(np.float32)
    out, params = _apply(lambda x: conv1d_transpose(CTX, x, 4, k, stride=stride, name="u"), x)
    w, b = np.asarray(params["u"]["w"]), np.asarray(params["u"]["b"])
    dil = np.zeros((2, (t - 1) * stride + 1, 3), np.float32)
    dil[:, ::stride] = x
    pad_len = k + stride - 2
    pad_a = k - 1 if stride > k - 1 else int(np.ceil(pad_len / 2))
    xp = np.pad(dil, ((0, 0), (pad_a, pad_len - pad_a), (0, 0)))
    n = stride * t
    want = np.stack([np.einsum("bki,koi->bo", xp[:, s : s + k], w) for s in range(n)], 1) + b
    assert out.shape == (2, n, 4)
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_adaptive_norm_is_layer_norm_times_one_plus_scale_plus_shift():
    x = RNG.standard_normal((2, 5, 6)).astype(np.float32)
    cond = RNG.standard_normal((2, 4)).astype(np.float32)
    out, params = _apply(lambda x, c: adaptive_norm(CTX, x, c, eps=1e-5, name="n"), x, cond)
    ln = params["n"]
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * np.asarray(ln["scale"]) + np.asarray(ln["offset"])
    mod = cond @ np.asarray(params["n_mod"]["w"]) + np.asarray(params["n_mod"]["b"])
    shift, scale = mod[:, None, :6], mod[:, None, 6:]  # shift first, then scale
    np.testing.assert_allclose(out, y * (1 + scale) + shift, atol=1e-4)
    plain, p2 = _apply(lambda x: adaptive_norm(CTX, x, None, eps=1e-5, name="n"), x)
    assert "n_mod" not in p2
    np.testing.assert_allclose(plain, y, atol=1e-4)


def test_down_and_up_blocks_change_length_and_width():
    x = RNG.standard_normal((2, 16, 8)).astype(np.float32)
    down, p = _apply(lambda x: down_block(CTX, x, None, 10, name="d"), x)
    assert down.shape == (2, 8, 10)
    assert {"d/conv", "d/conv_ln", "d/res", "d/res_ln"} == set(p)
    up, p = _apply(lambda x: up_block(CTX, x, None, 6, name="u"), x)
    assert up.shape == (2, 32, 6)
    assert p["u/conv"]["w"].shape == (5, 6, 8) and p["u/res"]["w"].shape == (1, 6, 6)


def test_conditioned_blocks_add_modulations_and_gates():
    x = RNG.standard_normal((2, 8, 8)).astype(np.float32)
    cond = RNG.standard_normal((2, 4)).astype(np.float32)
    _, p = _apply(lambda x, c: down_block(CTX, x, c, 10, name="d"), x, cond)
    assert p["d/conv_ln_mod"]["w"].shape == (4, 16)  # 2 x input width
    assert p["d/res_ln_mod"]["w"].shape == (4, 20) and p["d/res_gate"]["w"].shape == (4, 10)


def _attention(x, valid):
    rot = (jnp.ones((x.shape[1], 4)), jnp.zeros((x.shape[1], 4)))  # no rotation
    return transformer_block(CTX, x, None, block_valid=valid, rotary=rot, name="l")


def test_masked_blocks_do_not_reach_the_valid_ones():
    x = RNG.standard_normal((1, 6, 12)).astype(np.float32)
    valid = jnp.array([[True, True, True, True, False, False]])
    out, _ = _apply(_attention, x, valid)
    y = x.copy()
    y[:, 4:] = RNG.standard_normal((1, 2, 12))
    out2, _ = _apply(_attention, y, valid)
    np.testing.assert_allclose(out[:, :4], out2[:, :4], atol=1e-5)
    everything, _ = _apply(_attention, x, jnp.ones((1, 6), bool))
    unmasked, _ = _apply(lambda x: _attention(x, None), x)
    np.testing.assert_allclose(everything, unmasked, atol=1e-5)
    assert np.abs(everything[:, :4] - out[:, :4]).max() > 1e-4


def test_param_tree_of_a_post_trained_config():
    shapes = param_shapes(POST)
    assert shapes["species_embed"]["embeddings"] == (9, 4)
    assert shapes["bigwig_0/head"]["w"] == (12, 3) and shapes["bigwig_2/head"]["w"] == (12, 1)
    assert "bigwig_1/head" not in shapes  # species b has no tracks: no head
    assert shapes["bed/head"]["w"] == (12, 4)  # 2 elements x 2 classes
    assert shapes["species_head"]["w"] == (12, 9)
    assert shapes["layer_0/ffn_gate"]["w"] == (4, 12)
    assert shapes["layer_0/fc1"] == {"w": (12, 32)}  # no FFN bias
    assert "species_embed" not in param_shapes(CFG)


def test_outputs_are_the_requested_ones_with_their_shapes():
    model = init_ntv3(POST, seed=2)
    tokens = RNG.integers(6, 11, size=(2, 16)).astype(np.int32)
    out = model.apply(tokens, species="a", outputs=("bigwig", "bed", "species_logits"))
    assert set(out) == {"bigwig", "bed", "species_logits"}
    assert out["bigwig"].shape == (2, 8, 3) and (out["bigwig"] >= 0).all()  # softplus
    assert out["bed"].shape == (2, 8, 2, 2) and out["species_logits"].shape == (2, 9)
    assert all(v.dtype == np.float32 for v in out.values())
    none = model.apply(tokens, species="b", outputs=("bigwig",))["bigwig"]
    assert none.shape == (2, 8, 0)
    c = model.apply(tokens, species="c", outputs=("bigwig", "transformer"))
    assert c["bigwig"].shape == (2, 8, 1) and c["transformer"].shape == (2, 4, 12)


def test_model_api():
    model = init_ntv3(CFG, seed=4)
    assert "unit" in repr(model) and "pre" in repr(model) and model.name == "unit"
    assert model.digest == params_digest(model.params) == init_ntv3(CFG, seed=4).digest
    assert model.digest != init_ntv3(CFG, seed=5).digest
    tokens = np.full((1, 8), 6, np.int32)
    model.apply(tokens, outputs=("logits",))
    n = len(model._compiled)
    model.apply(np.full((2, 16), 7, np.int32), outputs=("logits",))
    assert len(model._compiled) == n  # one jitted function per output set, any shape
    bf16 = NTv3Model(CFG, model.params, dtype="bf16")
    assert bf16.precision.name == "bfloat16" and bf16.digest == model.digest


def test_track_ids_by_name():
    model = init_ntv3(POST, seed=2)
    assert model.track_ids("a", None) is None
    assert model.track_ids("a", ("t2", "t0")) == (2, 0)
    with pytest.raises(ConfigError, match="'u0'"):
        model.track_ids("a", ("u0",))


def test_memory_grows_with_batch_and_window():
    c = dataclasses.replace(CFG, num_downsamples=3, conv_init_embed_dim=16, embed_dim=16)
    model = init_ntv3(c)
    small = forward_memory_bytes(model, batch=1, length=256)
    assert small["params"] == 4 * sum(v.size for ps in model.params.values() for v in ps.values())
    assert small["output"] == 256 * 16 * 4  # one float32 embedding per base
    wide = forward_memory_bytes(model, batch=1, length=1024)
    many = forward_memory_bytes(model, batch=4, length=256)
    assert wide["temp"] > 2 * small["temp"] and many["temp"] > 2 * small["temp"]
    post = forward_memory_bytes(init_ntv3(POST), batch=1, length=64, outputs=("bigwig",))
    assert post["output"] == 32 * 3 * 4  # the centre half, 3 tracks
    with pytest.raises(ConfigError, match="multiple"):
        forward_memory_bytes(model, batch=1, length=100)
