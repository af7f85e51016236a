"""Pickle trust: safetensors/torch before joblib, joblib from other hub owners only on request."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from ntscale.cli.main import main
from ntscale.errors import CheckpointError
from ntscale.model import describe, load

COMMIT = "0123456789abcdef0123456789abcdef01234567"
HF_BIN = Path(__file__).parents[1] / "data" / "nt_hf_v1_bin"


@pytest.fixture()
def offline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NTSCALE_TRUST_PICKLE", raising=False)
    return tmp_path / "hf"


def cached_repo(home: Path, repo: str, *, jax_from: Path | None, hf: bool = False) -> Path:
    """A repository laid out in the hub cache as huggingface_hub stores it."""
    root = home / "hub" / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs/main").write_text(COMMIT)
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    if jax_from is not None:
        shutil.copytree(jax_from / "jax_model", snap / "jax_model")
    if hf:
        for f in ("config.json", "pytorch_model.bin"):
            shutil.copy(HF_BIN / f, snap / f)
    return snap


def test_local_folder_with_both_reads_the_torch_weights_not_the_pickle(tmp_path, micro_ckpt):
    both = tmp_path / "both"
    shutil.copytree(micro_ckpt, both)
    for f in ("config.json", "pytorch_model.bin"):
        shutil.copy(HF_BIN / f, both / f)
    assert describe(both).digest == describe(HF_BIN).digest != describe(micro_ckpt).digest


def test_unpickling_a_local_joblib_is_logged_naming_the_file(micro_ckpt, caplog):
    with caplog.at_level(logging.WARNING, logger="ntscale.model.checkpoint"):
        load(micro_ckpt)
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        m.startswith(f"unpickling {micro_ckpt / 'jax_model' / 'pytree_ckpt.joblib'}") for m in msgs
    )


def test_other_owners_pickle_needs_trust(offline_home, micro_ckpt, monkeypatch):
    cached_repo(offline_home, "someone/micro", jax_from=micro_ckpt)
    with pytest.raises(CheckpointError) as e:
        describe("someone/micro")
    msg = str(e.value)
    assert "hub repository 'someone/micro' has no safetensors or PyTorch weights" in msg
    assert "pass --trust-pickle (or set NTSCALE_TRUST_PICKLE=1)" in msg
    monkeypatch.setenv("NTSCALE_TRUST_PICKLE", "1")
    assert describe("someone/micro").digest == describe(micro_ckpt).digest


def test_instadeep_pickle_is_trusted(offline_home, micro_ckpt):
    cached_repo(offline_home, "InstaDeepAI/micro-test", jax_from=micro_ckpt)
    assert describe("InstaDeepAI/micro-test").digest == describe(micro_ckpt).digest


def test_other_owners_repo_with_both_uses_the_torch_weights(offline_home, micro_ckpt):
    cached_repo(offline_home, "someone/both", jax_from=micro_ckpt, hf=True)
    assert describe("someone/both").digest == describe(HF_BIN).digest


def test_cli_trust_pickle_flag(offline_home, micro_ckpt, tmp_path, capsys):
    cached_repo(offline_home, "someone/micro", jax_from=micro_ckpt)
    args = ["embed", "--model", "someone/micro", "--fasta", str(tmp_path / "missing.fa")]
    args += ["--out", str(tmp_path / "o.zarr")]
    with pytest.raises(SystemExit):
        main(args)
    assert "pass --trust-pickle" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--trust-pickle"])
    err = capsys.readouterr().err
    assert "trust-pickle" not in err and "FASTA file not found" in err  # the model resolved
