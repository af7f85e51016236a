"""NTv3 tracks as a per-base model: the N-padded input whose centre crop holds the window,
values read from the heads, track selection by name, the per-base dispatch (spec from the
config alone, the model from a source), source detection and describe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import describe_ntv3, init_ntv3, is_ntv3_source, load_ntv3
from ntscale.model.ntv3_config import NTv3Config
from ntscale.model.ntv3_perbase import (
    NTv3TrackModel,
    ntv3_perbase_spec,
    padded_length,
    select_tracks,
)
from ntscale.model.perbase import open_perbase_model, perbase_spec
from ntscale.tokenizer.ntv3 import NTV3_N, tokenize_bases

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"
POST = DATA / "post"
TINY_V2 = Path(__file__).resolve().parents[2] / "examples" / "checkpoints" / "nt-v2-tiny"


@pytest.fixture(scope="module")
def post():
    return load_ntv3(POST)


def test_padding_puts_the_window_inside_the_crop(post):
    c = post.config  # 2 downsamples, centre fraction 0.375
    for n in (1, 3, 24, 100, 512):
        m, left = padded_length(c, n)
        lo, hi = c.crop_bounds(m)
        assert m % c.block_bp == 0 and lo == left and left + n <= hi
        if m > c.block_bp:  # the shortest such input
            lo2, hi2 = c.crop_bounds(m - c.block_bp)
            assert hi2 - lo2 < n


def test_predict_reads_the_crop_of_an_n_padded_input(post):
    model = post
    tm = NTv3TrackModel(model, species="mouse", tracks=("m_h3k27ac", "bed.intron"))
    seq = "ACGTTGCAAC" * 3
    got = tm.predict([seq, seq[::-1]])
    assert got.shape == (2, 30, 2) and tm.spec.track_names == ("m_h3k27ac", "bed.intron")
    m, left = padded_length(model.config, 30)
    tokens = np.full((1, m), NTV3_N, np.int32)
    tokens[0, left : left + 30] = tokenize_bases(seq)
    out = model.apply(tokens, species="mouse", outputs=("bigwig", "bed"))
    lo, _ = model.config.crop_bounds(m)
    s = left - lo
    np.testing.assert_allclose(got[0, :, 0], out["bigwig"][0, s : s + 30, 1], atol=1e-5)
    bed = out["bed"][0, s : s + 30, 1]  # element 1 = intron, [30, 2]
    p1 = np.exp(bed[:, 1]) / np.exp(bed).sum(-1)
    np.testing.assert_allclose(got[0, :, 1], p1, atol=1e-5)
    with pytest.raises(ValueError, match="one length"):
        tm.predict(["ACGT", "ACG"])


def test_track_selection_errors(post):
    post = post.config
    assert select_tracks(post, "fly", None)[2] == ("bed.exon", "bed.intron", "bed.promoter")
    with pytest.raises(ConfigError, match="unknown track.*'h_dnase'"):
        select_tracks(post, "mouse", ("h_dnase",))
    with pytest.raises(ConfigError, match="give --species"):
        select_tracks(post, None, None)
    with pytest.raises(ConfigError, match="post-trained"):
        NTv3TrackModel(init_ntv3(NTv3Config(name="p", num_downsamples=2)), species=None)


def test_without_a_crop_the_input_is_the_window_rounded_up():
    c = dataclasses.replace(load_ntv3(POST).config, keep_target_center_fraction=1.0)
    assert padded_length(c, 16) == (16, 0)
    assert padded_length(c, 17) == (20, 0)  # next multiple of 2^2, N on the right


def test_spec_from_the_config_alone(post):
    spec = perbase_spec(post.config, species="human", tracks=("bed.exon", "h_ctcf"))
    assert spec.track_names == ("h_ctcf", "bed.exon")  # tracks first, then elements
    assert spec.accepts_n and spec.multiple_bp == 1
    spec.check_window(1000)
    published = dataclasses.replace(post.config, name="NTv3_100M_post_131kb")
    top = ntv3_perbase_spec(published, species="human", tracks=None).max_window_bp
    assert top == int(131072 * 0.375) // 4 * 4  # the trained context's centre
    with pytest.raises(ConfigError, match="window of 60,000 bp"):
        ntv3_perbase_spec(published, species="human", tracks=None).check_window(60_000)


def test_perbase_dispatch_opens_ntv3_tracks(post):
    opened = open_perbase_model(str(POST), species="mouse", tracks=("m_atac",))
    assert isinstance(opened, NTv3TrackModel)
    assert opened.spec.track_names == ("m_atac",) and opened.digest == post.digest
    values = opened.predict(["ACGTN" * 8])
    assert values.shape == (1, 40, 1) and np.isfinite(values).all()


def test_species_and_tracks_refused_for_other_families():
    from ntscale.model import describe

    info = describe(str(TINY_V2))
    with pytest.raises(ConfigError, match="apply to NTv3 models"):
        perbase_spec(info.config, species="human")


def test_source_detection(tmp_path):
    assert is_ntv3_source(POST) and is_ntv3_source("ntv3_100m_post")
    assert not is_ntv3_source(TINY_V2) and not is_ntv3_source(None)
    assert not is_ntv3_source(tmp_path)
    (tmp_path / "config.json").write_text('{"num_downsamples": 2, "deconv_upsample_type": "x"}')
    assert not is_ntv3_source(tmp_path)  # an NTv3 config we cannot read is not ours


def test_describe_matches_load(post):
    info = describe_ntv3(POST)
    assert info.name == post.name == "post" and info.digest == post.digest
    assert info.config == post.config and info.path == POST


def test_rows_are_independent_of_their_batch(post):
    rng = np.random.default_rng(9)
    seqs = ["".join(rng.choice(list("ACGT"), 32)) for _ in range(3)]
    tm = NTv3TrackModel(post, species="human")
    together = tm.predict(seqs)
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(tm.predict([s])[0], together[i], atol=1e-5)


def test_pre_trained_models_have_no_tracks():
    pre = init_ntv3(NTv3Config(name="p", num_downsamples=2))
    with pytest.raises(ConfigError, match="post-trained"):
        ntv3_perbase_spec(pre.config, species="human", tracks=None)
