"""resolve_run: a config's settings made concrete against the checkpoint, checked once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import pytest

from ntscale.config import EmbedConfig, ScoreConfig, TrackConfig, build_config
from ntscale.errors import ConfigError
from ntscale.model import ModelInfo, get_preset
from ntscale.runner.precision import dtype_for_backend
from ntscale.runner.run_plan import RunPlan, resolve_run

FILES = {"fasta": "g.fa", "model": "m", "out": "o.zarr"}


def info(preset: str = "50M_multi_species_v2") -> ModelInfo:
    """A model description from a preset: no checkpoint file is read."""
    return ModelInfo(name=preset, digest="d" * 64, config=get_preset(preset), path=Path("."))


def embed(**values) -> EmbedConfig:
    return build_config(EmbedConfig, FILES | values)


def score(**values) -> ScoreConfig:
    return build_config(ScoreConfig, FILES | {"vcf": "v.vcf"} | values)


def tracks(**values) -> TrackConfig:
    return build_config(TrackConfig, FILES | {"regions": "r.bed", "tracks": "t"} | values)


def test_defaults_come_from_the_checkpoint():
    # v2: 2,048 tokens = CLS + 2,047 6-mers; v1: CLS + 999 6-mers (DESIGN.md "Windows")
    plan = resolve_run(embed(dtype="fp32"), info())
    assert (plan.window_bp, plan.stride_bp) == (2047 * 6, 2047 * 6) == (12282, 12282)
    assert plan.layers == (12,)  # the last of 50M_multi_species_v2's 12 layers
    assert (plan.max_tokens, plan.embed_dim) == (2048, 512)
    assert plan.strands == ("+",) and plan.dtype == "fp32"
    assert resolve_run(embed(), info("500M_human_ref")).window_bp == 999 * 6 == 5994
    assert resolve_run(embed(), info("500M_human_ref")).layers == (24,)


def test_haplotype_windows_reserve_ten_tokens():
    # indels change a haplotype's token count: ntscale embed --vcf leaves 10 tokens spare
    assert resolve_run(embed(vcf="v.vcf"), info()).window_bp == (2048 - 1 - 10) * 6 == 12222
    # scoring keeps the whole window (its ref/alt windows keep a fixed length)
    assert resolve_run(score(), info()).window_bp == 12282


def test_window_max_and_explicit():
    assert resolve_run(embed(window_bp="max"), info()).window_bp == 12282
    plan = resolve_run(embed(window_bp=600), info())
    assert (plan.window_bp, plan.stride_bp) == (600, 600)
    assert resolve_run(embed(window_bp=600, stride_bp=150), info()).stride_bp == 150
    assert resolve_run(score(window_bp="600"), info()).window_bp == 600


def test_window_longer_than_the_model_takes_is_refused():
    with pytest.raises(ConfigError, match=r"--window 12,288 bp needs 2,049 tokens.*12,282 bp"):
        resolve_run(embed(window_bp=12288), info())
    with pytest.raises(ConfigError, match=r"at most 5,994 bp"):
        resolve_run(tracks(window_bp=6000), info("500M_human_ref"))


def test_stride_only_for_embedding_runs():
    # score and track windows are placed per variant / tile, not by a stride
    assert resolve_run(score(window_bp=600), info()).stride_bp is None
    assert resolve_run(tracks(window_bp=600), info()).stride_bp is None


def test_layers_sorted_distinct_and_checked_against_the_model():
    assert resolve_run(embed(layers=[12, 6, 6]), info()).layers == (6, 12)
    assert resolve_run(score(layers=[3, 1]), info()).layers == (1, 3)
    for bad, shown in (([13], r"\[13\]"), ([0, 4], r"\[0\]"), ([-1, 14], r"\[-1, 14\]")):
        with pytest.raises(ConfigError, match=rf"layers {shown} do not exist in model 'm'"):
            resolve_run(embed(layers=bad), info())
    with pytest.raises(ConfigError, match=r"it has layers 1\.\.24"):
        resolve_run(score(layers=[25]), info("500M_human_ref"))
    # a track run keeps no embeddings
    assert resolve_run(tracks(), info()).layers == ()


def test_layer_zero_is_a_config_value_until_the_model_is_known():
    # checked once, at resolve time, where the model's layer count is known
    assert embed(layers=[0]).layers == (0,)


def test_dtype_auto_becomes_the_hardware_dtype():
    want = dtype_for_backend(jax.default_backend())  # fp32 on the CPU test machines
    assert resolve_run(embed(), info()).dtype == want
    assert resolve_run(score(dtype="bf16"), info()).dtype == "bf16"
    assert resolve_run(tracks(dtype="fp32"), info()).dtype == "fp32"


def test_strands():
    assert resolve_run(embed(strands="both"), info()).strands == ("+", "-")
    assert resolve_run(score(strands="reverse"), info()).strands == ("-",)


def test_model_attrs_are_made_from_the_typed_description():
    plan = resolve_run(embed(dtype="bf16"), info())
    attrs = plan.model_attrs(source="50M_multi_species_v2")
    assert attrs["name"] == "50M_multi_species_v2" and attrs["checkpoint_digest"] == "d" * 64
    assert attrs["dtype"] == "bf16" and attrs["source"] == "50M_multi_species_v2"
    hyper = attrs["hyperparameters"]
    assert (hyper["num_layers"], hyper["max_tokens"], hyper["embed_dim"]) == (12, 2048, 512)


def test_run_plan_is_frozen():
    plan = resolve_run(embed(), info())
    assert isinstance(plan, RunPlan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.window_bp = 6  # type: ignore[misc]
