"""`calibrate` implies the tiled wild-type scan (issue 23, point 5): window_mode tiled and
llr_wt filled in when not given; a window_mode given otherwise is still refused."""

from __future__ import annotations

import pytest

from ntscale.config import ScoreConfig, build_config
from ntscale.errors import ConfigError

BASE = {"fasta": "g.fa", "vcf": "v.vcf", "model": "m", "out": "o"}


def test_calibrate_alone_means_tiled_llr_wt() -> None:
    cfg = build_config(ScoreConfig, BASE | {"calibrate": True})
    assert cfg.window_mode == "tiled" and tuple(cfg.scores) == ("llr_wt",)


def test_llr_wt_is_added_to_other_scores_and_kept_when_there() -> None:
    cfg = build_config(ScoreConfig, BASE | {"calibrate": True, "scores": ["l2"]})
    assert tuple(cfg.scores) == ("l2", "llr_wt")
    cfg = build_config(ScoreConfig, BASE | {"calibrate": True, "scores": ["llr", "l2"]})
    assert tuple(cfg.scores) == ("llr", "l2")  # llr = llr_masked + llr_wt


def test_an_explicit_centred_window_is_still_refused() -> None:
    with pytest.raises(ConfigError, match="calibrate needs the wild-type tiled scan"):
        build_config(ScoreConfig, BASE | {"calibrate": True, "window_mode": "centred"})


def test_without_calibrate_nothing_is_implied() -> None:
    cfg = build_config(ScoreConfig, BASE)
    assert cfg.window_mode == "centred" and tuple(cfg.scores) == ("llr", "l2", "cosine")
