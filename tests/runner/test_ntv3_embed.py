"""NTv3 embedding jobs on the shared job path: every N-free base in a window, pooled means
and per-base rows equal to a direct forward of the window, independent of batch and unit
size; a killed run resumes to identical bytes; verify finds a damaged unit."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest
from ntv3_helpers import kill_resume_compare

from ntscale.config import EmbedConfig, ExecutionConfig
from ntscale.errors import ConfigError
from ntscale.model.ntv3 import load_ntv3
from ntscale.runner.local import run_local
from ntscale.runner.ntv3_embed import NTv3EmbedJob
from ntscale.store import open as open_store
from ntscale.store.verify import verify
from ntscale.tokenizer.ntv3 import tokenize_bases

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"
POST = str(DATA / "post")


def _genome(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(5)
    dna = lambda n: "".join(rng.choice(list("ACGTacgt"), size=n))  # noqa: E731
    seqs = {
        "c1": dna(150) + "N" * 20 + dna(70) + "NN" + dna(3) + "N" * 5 + dna(41),
        "c2": dna(64),
    }
    path = tmp_path / "g.fa"
    if not path.exists():
        path.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
        pysam.faidx(str(path))
    return path, seqs


@pytest.fixture(scope="module")
def post_model():
    return load_ntv3(DATA / "post")


def _config(tmp_path, name="e.zarr", batch_size=None, **kw) -> EmbedConfig:
    fasta, _ = _genome(tmp_path)
    ex = ExecutionConfig(batch_size=batch_size, progress=False)
    kw.setdefault("model", POST)
    return EmbedConfig(fasta=str(fasta), out=str(tmp_path / name), execution=ex, **kw)


def _run(tmp_path, name="e.zarr", **kw):
    cfg = _config(tmp_path, name, **kw)
    summary = run_local(NTv3EmbedJob.plan_from_config(cfg), progress=False)
    return open_store(cfg.out), summary, _genome(tmp_path)[1]


def test_windows_and_means_equal_direct_forwards(tmp_path, post_model):
    ds, summary, seqs = _run(
        tmp_path, window_bp=64, species="human", per_token=True, batch_size=3, unit_windows=2
    )
    status = ds["status"].values
    assert (status == "TOO_SHORT").sum() == 1  # the 3 bp piece
    ok = status == "OK"
    assert summary["run"]["by_status"] == {"ok": int(ok.sum()), "too_short": 1}
    n_bases = sum(len(s) - s.upper().count("N") for s in seqs.values())
    covered = set()
    for c, a, b in zip(ds["contig"].values[ok], ds["start"].values[ok], ds["end"].values[ok],
                       strict=True):  # fmt: skip
        covered |= {(c, p) for p in range(a, b)}
        assert "N" not in seqs[c][a:b].upper() and (b - a) % 4 == 0
    assert len(covered) == n_bases - 3
    mean = ds["embedding_mean"].values[0]
    tokens = ds["embedding_tokens"].values[0]
    for i in np.flatnonzero(ok):
        c, a, b = str(ds["contig"].values[i]), int(ds["start"][i]), int(ds["end"][i])
        ids = tokenize_bases(seqs[c][a:b])[None]
        emb = post_model.apply(ids, species="human", outputs=("embedding",))["embedding"][0]
        np.testing.assert_allclose(mean[i], emb.mean(0), atol=1e-5)
        np.testing.assert_allclose(tokens[i, : b - a], emb, atol=2e-2, rtol=2e-3)  # float16
        assert np.isnan(tokens[i, b - a :]).all()
        assert int(ds["n_tokens"][i]) == b - a and int(ds["sequence_id"][i]) != 0
    assert np.isnan(mean[~ok]).all()
    assert ds.attrs["job"] == "ntv3_embed" and ds.attrs["ntv3"]["species"] == "human"
    assert ds.attrs["ntv3"]["window_bp"] == 64 and list(ds["layer"].values) == [2]


def test_batch_unit_size_and_species(tmp_path):
    kw = dict(window_bp=64, species="mouse")
    one, _, _ = _run(tmp_path, "a.zarr", unit_windows=1, **kw)
    four, _, _ = _run(tmp_path, "b.zarr", batch_size=4, unit_windows=5, **kw)
    np.testing.assert_allclose(
        one["embedding_mean"].values, four["embedding_mean"].values, atol=1e-5
    )
    human, _, _ = _run(tmp_path, "c.zarr", window_bp=64, species="human")
    diff = np.nanmax(np.abs(human["embedding_mean"].values - one["embedding_mean"].values))
    assert diff > 1e-3
    assert "embedding_tokens" not in one


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="give --species"):
        _run(tmp_path, window_bp=64)
    with pytest.raises(ConfigError, match="give --window-bp"):
        _run(tmp_path, species="human")
    with pytest.raises(ConfigError, match="shorter than one block"):
        _run(tmp_path, window_bp=2, species="human")
    with pytest.raises(ConfigError, match="not in the FASTA"):
        _run(tmp_path, window_bp=64, species="human", include_contigs=("chrZ",))
    with pytest.raises(ConfigError, match="unknown species 'cat'"):
        _run(tmp_path, window_bp=64, species="cat")
    with pytest.raises(ConfigError, match="does not take cls, layers"):
        _run(tmp_path, window_bp=64, species="human", cls=True, layers=(1,))
    with pytest.raises(ConfigError, match="pre-trained NTv3 model takes no species"):
        _run(tmp_path, window_bp=64, species="human", model=str(DATA / "pre"))
    assert not (tmp_path / "e.zarr").exists()


def test_window_rounded_down_to_blocks(tmp_path):
    cfg = _config(tmp_path, window_bp=66, species="human")
    job = NTv3EmbedJob.plan_from_config(cfg)
    assert job.run.window_bp == 64
    assert ((job.plan.end - job.plan.start)[job.plan.status == "ok"] % 4 == 0).all()


def _embed_cmd(tmp_path: Path, out: Path) -> list[str]:
    fasta, _ = _genome(tmp_path)
    return [
        sys.executable, "-m", "ntscale", "embed", "--fasta", str(fasta), "--model", POST,
        "--out", str(out), "--window-bp", "16", "--species", "human", "--per-token",
        "--unit-windows", "2", "--batch-size", "2", "--dtype", "fp32", "--no-progress",
    ]  # fmt: skip


@pytest.mark.slow
def test_killed_run_resumes_to_identical_bytes(tmp_path):
    cfg = _config(tmp_path, "x.zarr", window_bp=16, species="human", unit_windows=2)
    total = NTv3EmbedJob.plan_from_config(cfg).n_units()
    kill_resume_compare(lambda out: _embed_cmd(tmp_path, out), tmp_path, part="windows",
                        total=total)  # fmt: skip


def test_verify_finds_a_damaged_unit(tmp_path):
    _run(tmp_path, "v.zarr", window_bp=64, species="human", unit_windows=2)
    report = verify(str(tmp_path / "v.zarr"))
    assert report["ok"], report
    copy = tmp_path / "copy.zarr"
    shutil.copytree(tmp_path / "v.zarr", copy)
    chunk = next(p for p in sorted((copy / "embedding_mean" / "c").rglob("*")) if p.is_file())
    chunk.write_bytes(b"garbage")
    report = verify(str(copy))
    assert not report["ok"]
    assert report["windows"]["damaged"], report
