"""NTv3 embedding runs: every N-free base in a window, pooled means and per-base rows equal
to a direct forward of the window, independent of batch size; memory plan of a forward."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest
import xarray as xr

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import load_ntv3
from ntscale.runner.ntv3_embed import NTv3EmbedConfig, embed_ntv3
from ntscale.tokenizer.ntv3 import tokenize_bases

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"


def _genome(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(5)
    dna = lambda n: "".join(rng.choice(list("ACGTacgt"), size=n))  # noqa: E731
    seqs = {
        "c1": dna(150) + "N" * 20 + dna(70) + "NN" + dna(3) + "N" * 5 + dna(41),
        "c2": dna(64),
    }
    path = tmp_path / "g.fa"
    path.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    pysam.faidx(str(path))
    return path, seqs


@pytest.fixture(scope="module")
def post_model():
    return load_ntv3(DATA / "post")


def _run(tmp_path, model, name="e.zarr", **kw):
    fasta, seqs = _genome(tmp_path)
    cfg = NTv3EmbedConfig(fasta=str(fasta), model="m", out=str(tmp_path / name), **kw)
    summary = embed_ntv3(cfg, model=model)
    return xr.open_zarr(cfg.out), summary, seqs


def test_windows_and_means_equal_direct_forwards(tmp_path, post_model):
    ds, summary, seqs = _run(
        tmp_path, post_model, window_bp=64, species="human", per_base=True, batch_size=3
    )
    status = ds["status"].values
    assert summary["too_short"] == 1 and (status == "too_short").sum() == 1  # the 3 bp piece
    ok = status == "ok"
    # every non-N base is in a window except the too-short piece
    n_bases = sum(len(s) - s.upper().count("N") for s in seqs.values())
    covered = set()
    for c, a, b in zip(ds["contig"].values[ok], ds["start"].values[ok], ds["end"].values[ok],
                       strict=True):  # fmt: skip
        covered |= {(c, p) for p in range(a, b)}
        assert "N" not in seqs[c][a:b].upper() and (b - a) % 4 == 0
    assert len(covered) == n_bases - 3
    for i in np.flatnonzero(ok):
        c, a, b = str(ds["contig"].values[i]), int(ds["start"][i]), int(ds["end"][i])
        tokens = tokenize_bases(seqs[c][a:b])[None]
        emb = post_model.apply(tokens, species="human", outputs=("embedding",))["embedding"][0]
        np.testing.assert_allclose(ds["embedding_mean"].values[i], emb.mean(0), atol=1e-5)
        base = ds["embedding_base"].values[i]
        np.testing.assert_allclose(base[: b - a], emb, atol=2e-2, rtol=2e-3)  # float16
        assert np.isnan(base[b - a :]).all()
    assert np.isnan(ds["embedding_mean"].values[~ok]).all()
    assert ds.attrs["window_bp"] == 64 and ds.attrs["species"] == "human"


def test_batch_size_and_species(tmp_path, post_model):
    one, _, _ = _run(tmp_path, post_model, "a.zarr", window_bp=64, species="mouse")
    four, _, _ = _run(tmp_path, post_model, "b.zarr", window_bp=64, species="mouse",
                      batch_size=4)  # fmt: skip
    np.testing.assert_allclose(
        one["embedding_mean"].values, four["embedding_mean"].values, atol=1e-5
    )
    human, _, _ = _run(tmp_path, post_model, "c.zarr", window_bp=64, species="human")
    assert np.nanmax(np.abs(human["embedding_mean"].values - one["embedding_mean"].values)) > 1e-3
    assert "embedding_base" not in one


def test_errors(tmp_path, post_model):
    with pytest.raises(ConfigError, match="give --species"):
        _run(tmp_path, post_model, window_bp=64)
    with pytest.raises(ConfigError, match="give --window-bp"):
        _run(tmp_path, post_model, species="human")
    with pytest.raises(ConfigError, match="shorter than one block"):
        _run(tmp_path, post_model, window_bp=2, species="human")
    with pytest.raises(ConfigError, match="not in the FASTA"):
        _run(tmp_path, post_model, window_bp=64, species="human", include_contigs=("chrZ",))
    with pytest.raises(ConfigError, match="batch_size"):
        NTv3EmbedConfig(fasta="f", model="m", out="o", batch_size=0)
