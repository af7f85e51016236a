"""NTv3 tracks as per-base values, by hand: padded input lengths and crops of a made-up
config, the order of a track selection, the window bounds of published and unpublished
names, the class-1 probability at extreme logits, and selections that are columns of the
full prediction (a species without tracks included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import load_ntv3
from ntscale.model.ntv3_config import NTv3Config
from ntscale.model.ntv3_perbase import (
    NTv3TrackModel,
    _class1_probability,
    ntv3_perbase_spec,
    padded_length,
    select_tracks,
)

POST = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference" / "post"
SPECIES = {"<unk>": 0, "<pad>": 1, "human": 6, "mouse": 7}


def _post(name: str = "made_up", **over) -> NTv3Config:
    values = dict(
        name=name, num_downsamples=3, keep_target_center_fraction=0.5, conditions_vocab_size=8,
        species_to_token_id=SPECIES, bigwigs_per_species={"human": ("h1", "h2"), "mouse": ("m1",)},
        bed_elements_names=("exon", "intron"), conv_init_embed_dim=64, embed_dim=64,
    )  # fmt: skip
    values.update(over)
    return NTv3Config(**values)


@pytest.mark.parametrize(
    ("window", "want"),
    [
        (1, (8, 2)),  # L = 8: crop int(0.5 * 8) = 4 -> [2, 6) holds 1 base
        (4, (8, 2)),  # [2, 6) holds exactly 4
        (5, (16, 4)),  # L = 16 -> [4, 12): 8 bases
        (8, (16, 4)),
        (10, (24, 6)),  # L = 16 holds 8 < 10; L = 24 -> [6, 18): 12 bases
        (12, (24, 6)),
        (13, (32, 8)),
    ],
)
def test_padded_length_by_hand(window, want):
    assert padded_length(_post(), window) == want


def test_without_a_crop_the_pad_is_zero_and_the_length_rounds_up():
    cfg = _post(keep_target_center_fraction=1.0)
    assert [padded_length(cfg, n) for n in (1, 8, 9, 17)] == [(8, 0), (8, 0), (16, 0), (24, 0)]


def test_crop_bounds_of_the_reference_fraction_by_hand():
    cfg = _post(keep_target_center_fraction=0.375)
    assert cfg.crop_bounds(24) == (7, 17)  # int(0.625 * 24) = 15 -> 7 per side
    assert cfg.crop_bounds(128) == (40, 88)  # 80 cropped


def test_selection_puts_tracks_before_elements_in_the_given_order():
    cfg = _post()
    assert select_tracks(cfg, "human", ["bed.intron", "h2", "h1"]) == (
        (1, 0), (1,), ("h2", "h1", "bed.intron")
    )  # fmt: skip
    assert select_tracks(cfg, "mouse", None) == ((0,), (0, 1), ("m1", "bed.exon", "bed.intron"))
    with pytest.raises(ConfigError, match=r"unknown track\(s\) \['h1'\] for 'mouse'.*\['m1'\]"):
        select_tracks(cfg, "mouse", ["h1"])
    with pytest.raises(ConfigError, match="'exon'"):  # elements need their prefix
        select_tracks(cfg, "human", ["exon"])


@pytest.mark.parametrize(
    ("name", "over", "top", "default"),
    [
        # published: 131,072 bp trained context x 0.375 = 49,152 (a multiple of 128)
        ("NTv3_100M_post_131kb", {"num_downsamples": 7, "keep_target_center_fraction": 0.375},
         49_152, 32_768),
        # unpublished: 2^20 x 0.375 = 393,216
        ("mine", {"num_downsamples": 7, "keep_target_center_fraction": 0.375}, 393_216, 32_768),
        # 2^20 x 0.01 = 10,485 -> 81 blocks of 128 = 10,368, below the default window
        ("mine", {"num_downsamples": 7, "keep_target_center_fraction": 0.01}, 10_368, 10_368),
        # a fraction so small that no block fits: one block
        ("mine", {"keep_target_center_fraction": 1e-7}, 8, 8),
    ],
)  # fmt: skip
def test_longest_window_is_the_centre_of_the_trained_context(name, over, top, default):
    spec = ntv3_perbase_spec(_post(name, **over), species="human", tracks=None)
    assert (spec.max_window_bp, spec.default_window_bp) == (top, default)
    assert spec.multiple_bp == spec.min_window_bp == 1 and spec.accepts_n
    assert spec.track_names == ("h1", "h2", "bed.exon", "bed.intron")


def test_class1_probability_by_hand_and_at_extreme_logits():
    ln3 = np.log(3.0)
    logits = np.array([[0.0, 0.0], [0.0, ln3], [ln3, 0.0]], np.float32)
    np.testing.assert_allclose(_class1_probability(logits), [0.5, 0.75, 0.25], rtol=1e-6)
    extreme = np.array([[300.0, -300.0], [-300.0, 300.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow on the way
        np.testing.assert_array_equal(_class1_probability(extreme), [0.0, 1.0])


@pytest.fixture(scope="module")
def post():
    return load_ntv3(POST)


def test_a_selection_is_columns_of_the_full_prediction(post):
    seq = "ACGTTGCAACGGTA" * 3
    full = NTv3TrackModel(post, species="mouse")
    names = full.spec.track_names
    assert names == ("m_atac", "m_h3k27ac", "bed.exon", "bed.intron", "bed.promoter")
    every = full.predict([seq])
    only_bed = NTv3TrackModel(post, species="mouse", tracks=("bed.promoter", "bed.exon"))
    np.testing.assert_allclose(
        only_bed.predict([seq])[0], every[0][:, [4, 2]], rtol=1e-5, atol=1e-6
    )
    only_track = NTv3TrackModel(post, species="mouse", tracks=("m_h3k27ac",))
    np.testing.assert_allclose(only_track.predict([seq])[0, :, 0], every[0, :, 1], rtol=1e-5)
    assert (every[0, :, 2:] > 0).all() and (every[0, :, 2:] < 1).all()


def test_a_species_without_tracks_gets_the_elements_only(post):
    fly = NTv3TrackModel(post, species="fly")
    assert fly.spec.track_names == ("bed.exon", "bed.intron", "bed.promoter")
    assert fly.predict(["ACGT" * 5]).shape == (1, 20, 3)
    with pytest.raises(ConfigError, match="for 'fly'"):
        NTv3TrackModel(post, species="fly", tracks=("h_dnase",))
