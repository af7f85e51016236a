"""Published names -> hub repositories; offline behaviour with a private HF cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ntscale.errors import CheckpointError
from ntscale.model import HUB_REPOS, load
from ntscale.model.hub import hub_cache_dir, hub_offline

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def offline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


def _cached_snapshot(home: Path, repo: str) -> Path:
    """Lay out a repository in the hub cache the way huggingface_hub stores it."""
    root = home / "hub" / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs/main").write_text(COMMIT)
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    return snap


def test_env_is_read_at_call_time(offline_home):
    assert hub_offline()
    assert hub_cache_dir() == offline_home / "hub"


def test_offline_and_not_cached_names_model_and_cache(offline_home):
    with pytest.raises(CheckpointError) as info:
        load("50M_multi_species_v2")
    msg = str(info.value)
    assert "'50M_multi_species_v2'" in msg
    assert HUB_REPOS["50M_multi_species_v2"] in msg
    assert f"cache folder {offline_home / 'hub'}" in msg
    assert "HF_HUB_OFFLINE is set" in msg
    # issue 23.9: every option the message names exists where it names it
    assert "--cache-dir/HF_HUB_CACHE" not in msg  # embed/score have no --cache-dir
    assert "`ntscale download 50M_multi_species_v2` where there is network (with --cache-dir" in msg
    assert "HF_HUB_CACHE=DIR" in msg and "as --model" in msg
    from ntscale.cli.main import cli_command

    download = cli_command().commands["download"]
    assert "--cache-dir" in {o for p in download.params for o in p.opts}


def test_offline_repo_id_not_cached(offline_home):
    with pytest.raises(
        CheckpointError,
        match=r"hub repository 'someone/some-model'.*"
        r"HF_HUB_OFFLINE is set",
    ):
        load("someone/some-model")


def test_published_name_loads_from_cache_offline(offline_home, micro_ckpt):
    repo = HUB_REPOS["50M_multi_species_v2"]
    snap = _cached_snapshot(offline_home, repo)
    shutil.copytree(micro_ckpt / "jax_model", snap / "jax_model")
    model = load("50m_MULTI_species_v2")  # names are case-insensitive
    assert model.name == "50M_multi_species_v2"
    assert model.config.num_layers == 3  # the checkpoint's own hyperparameters win
    assert model.digest == load(micro_ckpt).digest


def test_cached_hf_layout_is_the_fallback(offline_home, hf_dir, models, expected):
    snap = _cached_snapshot(offline_home, "someone/nt-hf")
    for f in ("config.json", "model.safetensors"):
        shutil.copy(hf_dir / f, snap / f)
    tokens = expected("hf")[0]
    model = load("someone/nt-hf")
    assert model.name == "nt-hf"
    np.testing.assert_array_equal(
        model.apply(tokens)["logits"], models("hf").apply(tokens)["logits"]
    )


def test_unknown_source_lists_published_models(tmp_path):
    with pytest.raises(
        CheckpointError,
        match=r"'no-such-model' is not a checkpoint folder, "
        r"a published model \(500M_human_ref, .*500M_multi_species_v2, .*codon_nt\)",
    ):
        load("no-such-model")


def test_describe_for_plan_uses_published_shapes_only_when_not_cached(offline_home, micro_ckpt):
    """Issue 23.9: a dry run of a published name needs no download."""
    from ntscale.model import PRESETS, describe
    from ntscale.model.ntmodel import NOT_DOWNLOADED, describe_for_plan

    info = describe_for_plan("50m_multi_species_v2")  # not cached, offline: no error
    assert info.name == "50M_multi_species_v2" and info.digest == NOT_DOWNLOADED
    assert info.config == PRESETS["50M_multi_species_v2"]
    assert str(info.path) == f"hub:{HUB_REPOS['50M_multi_species_v2']}"
    snap = _cached_snapshot(offline_home, HUB_REPOS["50M_multi_species_v2"])
    shutil.copytree(micro_ckpt / "jax_model", snap / "jax_model")
    cached = describe_for_plan("50M_multi_species_v2")  # cached: the real description
    assert cached.digest == describe("50M_multi_species_v2").digest != NOT_DOWNLOADED
    assert cached.config.num_layers == 3
    assert describe_for_plan(micro_ckpt).digest == describe(micro_ckpt).digest  # a folder
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE is set"):
        describe_for_plan("someone/not-cached")  # repo ids have no published shapes


def test_revision_picks_that_snapshot_and_its_commit_is_recorded(offline_home, micro_ckpt):
    """Issue 23.9: --revision COMMIT loads that commit's files; the commit is recorded."""
    from ntscale.config import EmbedConfig, build_config
    from ntscale.model import describe
    from ntscale.model.hub import snapshot_commit
    from ntscale.runner.run_plan import resolve_run

    repo = HUB_REPOS["50M_multi_species_v2"]
    main = _cached_snapshot(offline_home, repo)  # refs/main -> COMMIT
    shutil.copytree(micro_ckpt / "jax_model", main / "jax_model")
    other = "fedcba9876543210fedcba9876543210fedcba98"
    old = main.parent / other
    shutil.copytree(micro_ckpt / "jax_model", old / "jax_model")
    (old / "jax_model" / "extra.txt").write_text("a different commit")
    now = describe("50M_multi_species_v2")
    then = describe("50M_multi_species_v2", revision=other)
    assert snapshot_commit(now.path) == COMMIT and snapshot_commit(then.path) == other
    assert load("50M_multi_species_v2", revision=other).digest == then.digest
    values = {"fasta": "g.fa", "model": "50M_multi_species_v2", "out": "o", "revision": other}
    plan = resolve_run(build_config(EmbedConfig, values), then)
    assert plan.model_attrs(source="50M_multi_species_v2")["commit"] == other
    with pytest.raises(CheckpointError, match=r"at revision 'v9'.*HF_HUB_OFFLINE is set"):
        describe("50M_multi_species_v2", revision="v9")  # a tag not in the cache
    with pytest.raises(CheckpointError, match="applies to a published model name or a hub"):
        describe(micro_ckpt, revision=other)
    assert snapshot_commit(Path("/some/folder")) is None
