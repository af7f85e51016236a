"""`ntscale report` and build_report: figures, JSON numbers equal to numpy, one HTML page."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pysam
import pytest

import ntscale.store as st
from ntscale.analysis import build_report, render_html
from ntscale.cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EMBED_FIGURES = {"window_status", "embedding_norm", "pca", "pc_correlations"}
VARIANT_FIGURES = {"variant_status", "scores_by_type", "scores_by_status", "scores_along_genome"}


@pytest.fixture(scope="module")
def embed_report(embed_store, tmp_path_factory, dask_client):
    out = tmp_path_factory.mktemp("embed_report")
    ds = st.open(str(embed_store))
    return ds, build_report(ds, out, store=str(embed_store), n_components=4), out


@pytest.fixture(scope="module")
def cli_reports(embed_store, score_store, tmp_path_factory) -> dict[str, Path]:
    """`ntscale report` run on both stores (dask's threaded scheduler, as by default)."""
    outs = {}
    for name, store in (("embed", embed_store), ("score", score_store)):
        out = tmp_path_factory.mktemp(f"cli_{name}")
        main(["report", str(store), "--out", str(out), "--components", "4", "--top", "5"])
        outs[name] = out
    return outs


def _assert_png(path: str | Path) -> None:
    data = Path(path).read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000, path


def test_embed_report_figures_exist(embed_report):
    _, report, out = embed_report
    assert set(report["figures"]) == EMBED_FIGURES
    for path in report["figures"].values():
        assert Path(path).parent == out
        _assert_png(path)
    assert "variants" not in report


def test_embed_report_numbers_equal_numpy(embed_report, example_inputs):
    ds, report, _ = embed_report
    section = report["windows"]
    _, counts = np.unique(ds["status"].values.astype(str), return_counts=True)
    assert sum(section["status_counts"].values()) == ds.sizes["window"] == section["n"]
    assert section["status_counts"] == {"OK": 18, "SKIPPED_ALL_N": 2}
    assert counts.tolist() == [18, 2]
    # PCA: numpy's exact SVD of the same centred matrix.
    ok = np.isin(ds["status"].values.astype(str), ["OK", "SHRUNK_TO_TOKEN_BUDGET"])
    x = np.asarray(ds["embedding_mean"].sel(layer=2).values, dtype=np.float64)[ok]
    xc = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    variance = s**2 / (x.shape[0] - 1)
    pca = section["pca"]
    assert pca["layer"] == section["layer"] == 2 and pca["n_windows"] == 18
    np.testing.assert_allclose(pca["explained_variance"], variance[:4], rtol=1e-6)
    np.testing.assert_allclose(
        pca["explained_variance_ratio"], variance[:4] / variance.sum(), rtol=1e-6
    )
    # GC correlation: GC recomputed with pysam, PC scores from numpy (|r|: sign is a choice).
    with pysam.FastaFile(str(example_inputs["fasta"])) as fa:
        gc = []
        for i in np.flatnonzero(ok):
            seq = fa.fetch("20", int(ds["start"][i]), int(ds["end"][i])).upper()
            gc.append((seq.count("G") + seq.count("C")) / sum(seq.count(b) for b in "ACGT"))
    for j in range(4):
        r = np.corrcoef(u[:, j] * s[j], gc)[0, 1]
        assert abs(pca["correlations"]["gc"][j]) == pytest.approx(abs(r), abs=1e-6)
    assert pca["correlations"]["frac_n"] == [None] * 4  # no N in embedded windows
    assert section["mean_gc"] == pytest.approx(np.mean(gc))
    assert section["gc_source"] == str(example_inputs["fasta"])
    (contig,) = section["per_contig"]
    assert contig["contig"] == "20" and contig["windows"] == 20
    # Both strands read the same bases and the all-N windows have no GC: same mean.
    assert contig["mean_gc"] == pytest.approx(np.mean(gc), rel=1e-9)


def test_embed_report_metadata_and_throughput(embed_report):
    ds, report, _ = embed_report
    meta = report["metadata"]
    assert meta["job"] == "embed" and meta["model"] == "nt-v2-tiny"
    assert meta["fasta"] == "chr20_2mb.fa.gz" and meta["dtype"] == "fp32"
    assert meta["windows"]["window_bp"] == 600
    assert report["throughput"] == ds.attrs["last_run"]
    json.dumps(report)  # JSON-ready as returned


def test_html_is_self_contained(embed_report):
    _, report, _ = embed_report
    page = render_html(report)
    images = re.findall(
        r'<img class="plot" alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page
    )
    assert {alt for alt, _ in images} == EMBED_FIGURES
    for alt, data in images:
        assert base64.b64decode(data) == Path(report["figures"][alt]).read_bytes()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert 'id="throughput"' in page and "windows_per_second" in page


def test_cli_report_on_embed_store(cli_reports, embed_store):
    out = cli_reports["embed"]
    report = json.loads((out / "report.json").read_text())
    assert report["store"] == str(embed_store)
    assert set(report["figures"]) == EMBED_FIGURES
    page = (out / "report.html").read_text()
    assert page.count('<img class="plot"') == len(EMBED_FIGURES)
    for name in EMBED_FIGURES:
        _assert_png(out / f"{name}.png")


def test_cli_report_on_score_store(cli_reports, score_store):
    out = cli_reports["score"]
    report = json.loads((out / "report.json").read_text())
    assert set(report["figures"]) == VARIANT_FIGURES and "windows" not in report
    for name in VARIANT_FIGURES:
        _assert_png(out / f"{name}.png")
    ds = st.open(str(score_store))
    section = report["variants"]
    assert section["n"] == ds.sizes["variant"]
    ref, alt = ds["variant_ref"].values.tolist(), ds["variant_alt"].values.tolist()
    n_indel = sum(len(r) != len(a) for r, a in zip(ref, alt, strict=True))
    assert section["type_counts"] == {"SNV": len(ref) - n_indel, "indel": n_indel}
    assert section["status_counts"] == {"ok": len(ref) - n_indel, "no_llr_not_snv": n_indel}
    x = ds["score_l2_mean_layer_2"].values.astype(np.float64)
    is_snv = np.array([len(r) == len(a) == 1 for r, a in zip(ref, alt, strict=True)])
    by_type = {r["group"]: r for r in section["distributions"]["l2_mean_layer_2"]["by_type"]}
    assert by_type["SNV"]["mean"] == pytest.approx(x[is_snv].mean(), rel=1e-9)
    assert by_type["indel"]["max"] == pytest.approx(x[~is_snv].max())
    top = section["top"]
    assert top["score"] == "llr_masked" and len(top["rows"]) == 5
    llr = ds["score_llr_masked"].values.astype(np.float64)
    expected = llr[np.argsort(-np.nan_to_num(np.abs(llr), nan=-1.0), kind="stable")[:5]]
    assert [r["llr_masked"] for r in top["rows"]] == pytest.approx(expected.tolist())
    page = (out / "report.html").read_text()
    assert 'id="top-variants"' in page and top["rows"][0]["id"] in page


def test_cli_report_default_out_and_layer(embed_store, tmp_path, capsys):
    store = tmp_path / "copy.zarr"
    shutil.copytree(embed_store, store)
    main(["report", str(store), "--layer", "1", "--components", "2"])
    out = tmp_path / "copy.zarr.report"
    report = json.loads((out / "report.json").read_text())
    assert report["windows"]["pca"]["layer"] == 1
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out


def test_cli_report_errors(embed_store, score_store, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["report", str(embed_store), "--out", str(tmp_path / "r"), "--layer", "9"])
    assert e.value.code != 0
    assert "layer 9 is not in the store; it has layers [1, 2]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", str(score_store), "--out", str(tmp_path / "s"), "--score", "cadd"])
    assert "score 'cadd' is not in the store" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path / "nothing.zarr"), "--out", str(tmp_path / "n")])
    assert "nothing.zarr" in capsys.readouterr().err
