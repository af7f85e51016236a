"""The rest of the NT family end to end: AgroNT and Codon-NT `embed` and `score` on the
bundled chr20 data, `ntscale segment` with its bigWig and BED outputs, `models` names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyBigWig
import pysam
import pytest
import xarray as xr
from cli_helpers import FASTA, REGION, invoke

import ntscale.store as store
from ntscale.model import get_preset, init_model, load

FAMILY = Path(__file__).resolve().parents[1] / "data" / "nt_family"
WINDOW = {"agro_nt": 138, "codon_nt": 300}  # AgroNT fixture: 24 tokens -> 23 6-mers


@pytest.mark.parametrize("family", ["agro_nt", "codon_nt"])
def test_embed_runs_end_to_end(family, region_bed, tmp_path):
    out = tmp_path / "e.zarr"
    res = invoke("embed", "--fasta", FASTA, "--model", FAMILY / family / "model", "--out", out,
                 "--regions", region_bed, "--window", str(WINDOW[family]), "--layers", "1,2",
                 "--no-progress")  # fmt: skip
    assert res.code == 0, res.err
    ds = store.open(str(out))
    model = load(FAMILY / family / "model")
    assert ds.embedding_mean.shape[0] == 2 and ds.embedding_mean.shape[2] == model.config.embed_dim
    assert (ds.status.values == "OK").all()
    assert np.isfinite(ds.embedding_mean.values).all()
    # the tokens a window got follow the checkpoint's k (Codon-NT: 3-mers)
    k = model.config.k
    n = ds.n_tokens.values[0]
    assert n == (ds.end.values[0] - ds.start.values[0]) // k + 1
    # equal to a direct forward of the first window (mean over its tokens, layer 2)
    seq = pysam.FastaFile(str(FASTA)).fetch(REGION[0], int(ds.start[0]), int(ds.end[0]))
    tokens = model.tokenizer.encode_batch([seq.upper()])
    direct = model.apply(tokens, layers=(2,), logits=False)["embeddings"][2][0, 1:].mean(0)
    np.testing.assert_allclose(ds.embedding_mean.sel(layer=2).values[0], direct, atol=1e-4)


@pytest.mark.parametrize("family", ["agro_nt", "codon_nt"])
def test_score_runs_end_to_end(family, small_vcf, tmp_path):
    out = tmp_path / "s.zarr"
    res = invoke("score", "--fasta", FASTA, "--vcf", small_vcf, "--model",
                 FAMILY / family / "model", "--out", out, "--window", str(WINDOW[family]),
                 "--scores", "llr,l2,cosine", "--no-progress")  # fmt: skip
    assert res.code == 0, res.err
    ds = store.open(str(out))
    status = dict(zip(ds.variant_id.values, ds.variant_status.values, strict=False))
    assert status["s1"] == "ok" and status["d1"] == "no_llr_not_snv"  # distances only
    ok = np.isin(ds.variant_status.values, ["ok", "no_llr_not_snv"])
    snv = ok & np.isin(ds.variant_id.values, ["s1", "s2"])
    assert np.isfinite(ds.score_llr_wt.values[snv]).all()
    assert np.isfinite(ds.score_llr_masked.values[snv]).all()
    assert np.isfinite(ds.score_l2_mean_layer_2.values[ok]).all()


def test_codon_nt_llr_is_a_3mer_log_ratio(tmp_path, small_vcf):
    """llr_wt of an SNV = log p(alt 3-mer) - log p(ref 3-mer) at its token, by hand."""
    out = tmp_path / "s.zarr"
    model_dir = FAMILY / "codon_nt" / "model"
    res = invoke("score", "--fasta", FASTA, "--vcf", small_vcf, "--model", model_dir, "--out",
                 out, "--window", "300", "--scores", "llr_wt", "--no-progress")  # fmt: skip
    assert res.code == 0, res.err
    ds = store.open(str(out))
    row = list(ds.variant_id.values).index("s1")
    pos = int(ds.variant_pos.values[row])
    model = load(model_dir)
    fa = pysam.FastaFile(str(FASTA))
    # the centred window: the variant's 3-mer holds it; try every frame start of a
    # 300 bp window with the variant near the centre and take the one ntscale used
    best = None
    for start in range(pos - 153, pos - 144):
        seq = fa.fetch("20", start, start + 300).upper()
        tok = model.tokenizer
        starts, lengths = tok.token_spans(seq)
        t = int(np.searchsorted(starts, pos - start, side="right")) - 1
        j = pos - start - int(starts[t])
        ref = seq[starts[t] : starts[t] + 3]
        alt = ref[:j] + str(ds.variant_alt.values[row]) + ref[j + 1 :]
        logits = model.apply(tok.encode_batch([seq]), logits=True)["logits"][0, t + 1]
        logp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        llr = logp[tok.token_to_id(alt)] - logp[tok.token_to_id(ref)]
        if best is None or abs(llr - float(ds.score_llr_wt.values[row])) < best:
            best = abs(llr - float(ds.score_llr_wt.values[row]))
    assert best < 1e-4


@pytest.fixture(scope="module")
def tiny_segment(tmp_path_factory):
    cfg = get_preset("segment_nt").replace(name="segtiny", num_layers=1, embed_dim=16,
                                           num_heads=2, key_size=8, ffn_dim=32)  # fmt: skip
    folder = tmp_path_factory.mktemp("seg")
    init_model(cfg, seed=11).save(folder)
    return folder


def test_segment_command_writes_store_bigwig_and_bed(tiny_segment, tmp_path):
    bed_in = tmp_path / "r.bed"
    bed_in.write_text("20\t1000000\t1002400\n20\t1500000\t1501000\n")
    out, prefix, bed = tmp_path / "seg.zarr", tmp_path / "tracks" / "t", tmp_path / "calls.bed"
    res = invoke("segment", "--fasta", FASTA, "--model", tiny_segment, "--out", out,
                 "--regions", bed_in, "--window", "480", "--unit-windows", "2", "--bigwig",
                 prefix, "--bed", bed, "--threshold", "0.55", "--no-progress")  # fmt: skip
    assert res.code == 0, res.err
    assert "3,400 of 3,400 real bases valued (100.0000%)" in res.out
    ds = xr.open_zarr(out)
    values = ds.perbase_values.values.astype(np.float32)
    assert values.shape == (3400, 14) and np.isfinite(values).all()
    bw = pyBigWig.open(f"{prefix}.exon.bw")
    exon = list(ds.track.values).index("exon")
    got = np.array(bw.values("20", 1_500_000, 1_501_000))
    np.testing.assert_allclose(got, values[2400:, exon], rtol=1e-6)
    bw.close()
    gz = pysam.tabix_index(str(bed), preset="bed", force=True)
    rows = list(pysam.TabixFile(gz).fetch("20", 0, 2_000_000, parser=pysam.asBed()))
    assert rows and {r.name for r in rows} <= set(ds.track.values)
    for r in rows[:50]:  # every base of a called element is at or above the threshold
        j = list(ds.track.values).index(r.name)
        lo = r.start - (1_000_000 if r.start < 1_002_400 else 1_500_000 - 2400)
        assert (values[lo : lo + r.end - r.start, j] >= 0.55).all()


def test_segment_refuses_a_model_without_head(tmp_path, region_bed):
    res = invoke("segment", "--fasta", FASTA, "--model", FAMILY / "codon_nt" / "model",
                 "--out", tmp_path / "x.zarr", "--regions", region_bed)  # fmt: skip
    assert res.code != 0
    assert "no per-base head" in res.error_line()


def test_models_lists_the_family():
    res = invoke("models")
    assert res.code == 0
    for name in ("segment_nt", "segment_nt_multi_species", "1B_agro_nt", "codon_nt"):
        assert name in res.out


def test_published_family_names_load_from_the_hub_cache(tmp_path, monkeypatch):
    """`codon_nt` resolves to its InstaDeepAI repository and loads offline from the cache
    (the fixture's official-layout files stand in for the published ones)."""
    import shutil

    from ntscale.model.config import HUB_REPOS

    repo = HUB_REPOS["codon_nt"]
    assert repo == "InstaDeepAI/nucleotide-transformer-v2-50m-3mer-multi-species"
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = tmp_path / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    shutil.copytree(FAMILY / "codon_nt" / "model" / "jax_model",
                    folder / "snapshots" / commit / "jax_model")  # fmt: skip
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load("codon_nt")
    assert model.name == "codon_nt" and model.config.k == 3 and model.tokenizer.k == 3
    res = invoke("models", "--json")
    rows = {r["name"]: r for r in json.loads(res.out)}
    assert rows["codon_nt"]["cached"] is True
    assert rows["segment_nt"]["cached"] is False
