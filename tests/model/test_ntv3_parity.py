"""NTv3 parity with the reference implementation (fixtures: tests/data/ntv3_reference,
see its PROVENANCE.md): pre-trained MLM logits and embeddings, post-trained species
conditioning, bigWig and BED heads, centre crop; float32 at 1e-4 and a measured bf16 bound."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import NTv3Model, load_ntv3

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"
SPECIES = {6: "human", 7: "mouse", 8: "fly"}
FP32_ATOL = 1e-4
BF16_REL = 0.03  # measured: <= 0.012 x max|ref| on these files, 0.020 on development seeds
POST_OUTPUTS = ("logits", "embedding", "transformer", "species_logits", "bigwig", "bed")


@pytest.fixture(scope="module")
def pre_io():
    return dict(np.load(DATA / "pre_io.npz"))


@pytest.fixture(scope="module")
def post_io():
    return dict(np.load(DATA / "post_io.npz"))


@pytest.fixture(scope="module")
def pre_model():
    return load_ntv3(DATA / "pre")


@pytest.fixture(scope="module")
def post_model():
    return load_ntv3(DATA / "post")


@pytest.fixture(scope="module")
def post_rows(post_model, post_io):
    return _post_rows(post_model, post_io)


def _post_rows(model, io, outputs=POST_OUTPUTS):
    """One forward per row (one species per call, as runs use the model)."""
    return [
        model.apply(io["tokens"][i : i + 1], species=SPECIES[int(s)], outputs=outputs)
        for i, s in enumerate(io["species_tokens"])
    ]


def test_pre_fp32_matches_reference(pre_model, pre_io):
    out = pre_model.apply(pre_io["tokens"], outputs=("logits", "embedding", "transformer"))
    np.testing.assert_allclose(out["logits"], pre_io["logits"], atol=FP32_ATOL, rtol=0)
    np.testing.assert_allclose(out["embedding"], pre_io["embedding"], atol=FP32_ATOL, rtol=0)
    np.testing.assert_allclose(
        out["transformer"], pre_io["after_transformer_embedding"], atol=FP32_ATOL, rtol=0
    )


def test_pre_shapes_are_base_resolution(pre_model, pre_io):
    out = pre_model.apply(pre_io["tokens"], outputs=("logits", "embedding", "transformer"))
    b, t = pre_io["tokens"].shape
    c = pre_model.config
    assert out["logits"].shape == (b, t, c.vocab_size)
    assert out["embedding"].shape == (b, t, c.conv_init_embed_dim)
    assert out["transformer"].shape == (b, t // c.block_bp, c.embed_dim)


def test_pre_pad_blocks_are_masked(pre_model, pre_io):
    """Row 1 ends in three pad-only blocks, which the reference masks out of attention: the
    same weights without the mask (pad id pointed at an unused token) miss the reference."""
    unmasked = NTv3Model(dataclasses.replace(pre_model.config, pad_token_id=0), pre_model.params)
    tokens = pre_io["tokens"][1:2]
    out = unmasked.apply(tokens, outputs=("logits",))["logits"]
    assert np.abs(out - pre_io["logits"][1:2]).max() > 1e-2
    masked = pre_model.apply(tokens, outputs=("logits",))["logits"]
    np.testing.assert_allclose(masked, pre_io["logits"][1:2], atol=FP32_ATOL, rtol=0)


def test_pre_bf16_within_measured_bound(pre_io):
    model = load_ntv3(DATA / "pre", dtype="bf16")
    out = model.apply(pre_io["tokens"], outputs=("logits", "embedding", "transformer"))
    for key, ref_key in (
        ("logits", "logits"),
        ("embedding", "embedding"),
        ("transformer", "after_transformer_embedding"),
    ):
        ref = pre_io[ref_key]
        err = np.abs(out[key] - ref).max()
        assert err <= BF16_REL * np.abs(ref).max(), (key, err)
        assert err > 0  # it really computed in bf16


def test_pre_batch_independent(pre_model, pre_io):
    both = pre_model.apply(pre_io["tokens"], outputs=("logits",))["logits"]
    one = pre_model.apply(pre_io["tokens"][1:], outputs=("logits",))["logits"]
    np.testing.assert_allclose(both[1:], one, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "key,ref_key",
    [
        ("logits", "logits"),
        ("embedding", "embedding"),
        ("transformer", "after_transformer_embedding"),
        ("species_logits", "species_logits"),
        ("bed", "bed"),
    ],
)
def test_post_fp32_matches_reference(post_rows, post_io, key, ref_key):
    rows = post_rows
    got = np.concatenate([r[key] for r in rows])
    np.testing.assert_allclose(got, post_io[ref_key], atol=FP32_ATOL, rtol=0)


def test_post_bigwig_heads_match_reference(post_model, post_rows, post_io):
    """Each species' head gives its own tracks; the reference pads to the widest head with
    zeros, and a species without tracks (fly) gets none."""
    rows = post_rows
    for i, row in enumerate(rows):
        species = SPECIES[int(post_io["species_tokens"][i])]
        ref = post_io["bigwig"][i : i + 1]
        n = len(post_model.config.tracks_of(species))
        assert row["bigwig"].shape == (1, ref.shape[1], n)
        np.testing.assert_allclose(row["bigwig"], ref[..., :n], atol=FP32_ATOL, rtol=0)
        assert not np.any(ref[..., n:])
    assert rows[2]["bigwig"].shape[-1] == 0


def test_post_centre_crop(post_model, post_io):
    out = post_model.apply(post_io["tokens"][:1], species="human", outputs=("bigwig", "bed"))
    lo, hi = post_model.config.crop_bounds(post_io["tokens"].shape[1])
    assert (lo, hi) == (20, 44)  # int((1 - 0.375) * 64) = 40 cropped, 20 per side
    assert out["bigwig"].shape[1] == out["bed"].shape[1] == hi - lo == post_io["bigwig"].shape[1]


def test_post_species_conditions_every_output(post_model, post_io):
    tokens = post_io["tokens"][:1]
    human = post_model.apply(tokens, species="human", outputs=("logits", "embedding", "bed"))
    mouse = post_model.apply(tokens, species="mouse", outputs=("logits", "embedding", "bed"))
    for key in human:
        assert np.abs(human[key] - mouse[key]).max() > 1e-3, key
    np.testing.assert_allclose(human["logits"], post_io["logits"][:1], atol=FP32_ATOL, rtol=0)


def test_post_track_subset_by_name(post_model, post_io):
    tokens = post_io["tokens"][:1]
    names = post_model.config.tracks_of("human")
    full = post_model.apply(tokens, species="human", outputs=("bigwig",))["bigwig"]
    pick = (names[2], names[0])
    sub = post_model.apply(tokens, species="human", outputs=("bigwig",), tracks=pick)["bigwig"]
    np.testing.assert_allclose(sub, full[..., [2, 0]], atol=1e-6, rtol=0)
    with pytest.raises(ConfigError, match="not predicted for 'human'"):
        post_model.apply(tokens, species="human", outputs=("bigwig",), tracks=("m_atac",))


def test_post_bf16_within_measured_bound(post_io):
    model = load_ntv3(DATA / "post", dtype="bfloat16")
    rows = _post_rows(model, post_io, outputs=("logits", "embedding", "bed", "species_logits"))
    for key in ("logits", "embedding", "bed", "species_logits"):
        got = np.concatenate([r[key] for r in rows])
        ref = post_io[key]
        err = np.abs(got - ref).max()
        assert 0 < err <= BF16_REL * np.abs(ref).max(), (key, err)


def test_post_needs_species_and_pre_refuses_one(post_model, pre_model, post_io):
    tokens = post_io["tokens"][:1]
    with pytest.raises(ConfigError, match="needs a species"):
        post_model.apply(tokens)
    with pytest.raises(ConfigError, match="unknown species 'zebra'"):
        post_model.apply(tokens, species="zebra")
    with pytest.raises(ConfigError, match="takes no species"):
        pre_model.apply(tokens, species="human")


def test_length_rule_and_outputs_checked(pre_model):
    with pytest.raises(ConfigError, match="not a positive multiple of 2\\^3 = 8"):
        pre_model.apply(np.full((1, 60), 6, np.int32))
    with pytest.raises(ConfigError, match="unknown output"):
        pre_model.apply(np.full((1, 64), 6, np.int32), outputs=("tracks",))
    with pytest.raises(ConfigError, match="tokens must be"):
        pre_model.apply(np.full((64,), 6, np.int32))
