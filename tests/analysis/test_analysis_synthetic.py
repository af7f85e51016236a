"""Analyses of small stores whose every value is set by hand (written with the store's own
writer, no model): two contigs, every window status, an unfinished unit, and a variant store
with ties, NaNs and every variant type. Expected numbers are worked out in the comments."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import ntscale.store as st
from ntscale.analysis import pca as pca_mod
from ntscale.analysis import variants as var
from ntscale.analysis import windows as win
from ntscale.analysis.info import format_info, store_info

NAN = float("nan")
CONTIGS = [("chrA", 1_000), ("chrB", 500), ("chrC", 100)]
# Windows of units 0 and 1 (unit 2, rows 8-9, is never written: PENDING, contig "").
# contig, start, end, strand, status, frac_n, layer-3 mean embedding (norm)
WINDOWS = [
    ("chrA", 0, 100, "+", "OK", 0.0, [1, 0, 0]),  # 1
    ("chrA", 100, 200, "+", "OK", 0.0, [0, 2, 0]),  # 2
    ("chrA", 200, 300, "+", "SKIPPED_ALL_N", 1.0, None),
    ("chrA", 0, 90, "-", "SHRUNK_TO_TOKEN_BUDGET", 0.1, [2, 2, 1]),  # 3
    ("chrB", 0, 100, "+", "OK", 0.2, [3, 4, 0]),  # 5
    ("chrB", 100, 200, "+", "OK", 0.0, [0, 0, 2]),  # 2
    ("chrB", 200, 300, "+", "SKIPPED_HAPLOTYPE", 0.0, None),
    ("chrB", 300, 400, "+", "OK", 0.0, [1, 2, 2]),  # 3
]
# chrA: G*25 A*75 | C*50 T*50 | N*100 | A...; chrB: N*20 G*80 | (AT)*...
FASTA = {
    "chrA": "G" * 25 + "A" * 75 + "C" * 50 + "T" * 50 + "N" * 100 + "A" * 700,
    "chrB": "N" * 20 + "G" * 80 + "AT" * 200,
    "chrC": "ACGT" * 25,
}


def _window_unit(unit: int) -> tuple[dict, dict]:
    rows = WINDOWS[4 * unit : 4 * unit + 4]
    cols = list(zip(*rows, strict=True))
    windows = {
        "contig": np.array(cols[0]), "start": np.array(cols[1]), "end": np.array(cols[2]),
        "strand": np.array(cols[3]), "haplotype": np.full(4, "reference"),
        "n_tokens": np.full(4, 17), "frac_n": np.array(cols[5]), "n_variants": np.zeros(4),
        "status": np.array(cols[4]), "sequence_id": np.arange(4) + 1,
    }  # fmt: skip
    l3 = np.array([e if e is not None else [NAN] * 3 for e in cols[6]], np.float32)
    return windows, {"mean": np.stack([10 * l3, l3])}  # layers (1, 3): [L, n, D]


@pytest.fixture(scope="module")
def embed_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = str(tmp_path_factory.mktemp("synthetic") / "emb.zarr")
    layout = st.StoreLayout(n_windows=10, unit_windows=4, layers=(1, 3), embed_dim=3)
    attrs = {
        "job": "embed",
        "model": {"name": "nt-hand", "source": "examples/hand", "dtype": "float32"},
        "fasta": {"name": "hand.fa"},
        "windows": {
            "window_bp": 100,
            "stride_bp": 100,
            "strands": "both",
            "gap_aware": False,
            "n_planned": 10,
        },  # fmt: skip
        "config": {"layers": [], "window_mode": "tiled"},
        "command_line": "ntscale embed --fasta hand.fa",
    }
    writer = st.create_or_open(url, layout, fingerprint={}, attrs=attrs, contigs=CONTIGS)
    for unit in (0, 1):
        windows, embeddings = _window_unit(unit)
        writer.write_window_unit(unit, windows=windows, embeddings=embeddings)
        writer.mark_done(unit)
    return url


@pytest.fixture(scope="module")
def eds(embed_url: str):
    return st.open(embed_url)


def test_status_counts_include_unwritten_rows(eds) -> None:
    assert win.status_counts(eds) == {
        "OK": 5, "PENDING": 2, "SHRUNK_TO_TOKEN_BUDGET": 1, "SKIPPED_ALL_N": 1,
        "SKIPPED_HAPLOTYPE": 1,
    }  # fmt: skip
    # a shrunk window had a forward pass: it counts as embedded
    assert win.embedded_mask(eds).tolist() == [True, True, False, True, True, True, False,
                                               True, False, False]  # fmt: skip
    assert win.status_name(1) == "SHRUNK_TO_TOKEN_BUDGET" and win.status_name("OK") == "OK"
    assert win.status_name(99) == "99"


def test_contig_summary_by_hand(eds) -> None:
    table = win.contig_summary(eds, layer=3)
    assert list(table.index) == ["chrA", "chrB"]  # unwritten rows (no contig) left out
    assert table["windows"].tolist() == [4, 4]
    assert table["bp"].tolist() == [390, 400]  # the shrunk window spans 90 bp
    assert table["status_OK"].tolist() == [2, 3]
    assert table["status_SHRUNK_TO_TOKEN_BUDGET"].tolist() == [1, 0]
    assert table["status_SKIPPED_ALL_N"].tolist() == [1, 0]
    assert table["status_SKIPPED_HAPLOTYPE"].tolist() == [0, 1]
    assert "status_PENDING" not in table.columns
    np.testing.assert_allclose(table["mean_frac_n"], [1.1 / 4, 0.2 / 4], rtol=1e-6)
    # norms of the embedded windows: chrA 1, 2, 3; chrB 5, 2, 3
    np.testing.assert_allclose(table["mean_embedding_norm"], [2.0, 10 / 3], rtol=1e-6)
    default = win.contig_summary(eds)  # the store's last layer: 3
    np.testing.assert_allclose(default["mean_embedding_norm"], [2.0, 10 / 3], rtol=1e-6)
    np.testing.assert_allclose(
        win.contig_summary(eds, layer=1)["mean_embedding_norm"], [20.0, 100 / 3], rtol=1e-6
    )


def test_window_norms_by_hand(eds) -> None:
    norms = win.window_norms(eds, 3).values
    np.testing.assert_allclose(norms[[0, 1, 3, 4, 5, 7]], [1, 2, 3, 5, 2, 3], rtol=1e-6)
    assert np.isnan(norms[[2, 6, 8, 9]]).all()


def test_sequence_stats_by_hand(eds, tmp_path: Path) -> None:
    fasta = tmp_path / "hand.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in FASTA.items()))
    stats = win.sequence_stats(eds, fasta, chunk_windows=2)
    gc, n_frac = stats["gc"].values, stats["n_fraction"].values
    np.testing.assert_allclose(gc[[0, 1, 3, 4, 5, 7]], [0.25, 0.5, 25 / 90, 1.0, 0.0, 0.0])
    assert np.isnan(gc[2])  # all N: no A/C/G/T to count
    np.testing.assert_allclose(n_frac[:8], [0, 0, 1, 0, 0.2, 0, 0, 0])
    assert np.isnan(gc[8:]).all() and np.isnan(n_frac[8:]).all()  # unwritten rows
    source = win.resolve_fasta(dict(eds.attrs), fasta)  # no digest recorded: accepted
    assert source is not None and source.path == fasta
    assert win.resolve_fasta(dict(eds.attrs)) is None  # no FASTA recorded in the config


def test_pca_invariants(eds) -> None:
    result = pca_mod.embedding_pca(eds, layer=3, n_components=10)
    assert result.window_index.tolist() == [0, 1, 3, 4, 5, 7]
    assert result.scores.shape == (6, 3)  # capped at D = 3
    x = np.array([w[6] for w in WINDOWS if w[6] is not None], np.float64)
    xc = x - x.mean(axis=0)
    total = float((xc**2).sum() / 5)
    # with every component kept, the PCs share out the whole variance
    assert result.total_variance == pytest.approx(total, rel=1e-12)
    assert result.explained_variance.sum() == pytest.approx(total, rel=1e-9)
    assert result.explained_variance_ratio.sum() == pytest.approx(1.0, rel=1e-9)
    assert np.all(np.diff(result.explained_variance) <= 1e-12)  # largest first
    # PC scores are uncorrelated, with the explained variances as their variances
    cov = np.cov(result.scores, rowvar=False)
    np.testing.assert_allclose(cov, np.diag(result.explained_variance), atol=1e-9)
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(3), atol=1e-9)
    # the scores rebuild the centred data exactly
    np.testing.assert_allclose(result.scores @ result.components, xc, atol=1e-9)


def test_store_info_of_an_unfinished_store(embed_url: str) -> None:
    info = store_info(embed_url)
    assert info["state"] == "incomplete: running or interrupted"
    assert info["settings"] == {
        "window_bp": 100, "stride_bp": 100, "strands": "both", "gap_aware": False,
        "layers": [1, 3], "window_mode": "tiled",
    }  # fmt: skip
    assert info["inputs"] == {"fasta": "hand.fa", "vcf": None}
    assert info["variants"] is None and info["coverage"] is None
    assert format_info(info).splitlines() == [
        f"store: {embed_url}  (incomplete: running or interrupted)",
        "job: embed",
        "model: nt-hand (float32), from examples/hand",
        "inputs: fasta hand.fa",
        "settings: window_bp=100, stride_bp=100, strands=both, gap_aware=False, "
        "layers=[1, 3], window_mode=tiled",
        "windows: 8 of 10 rows done, units 2/3",
        "  by status: OK 5, PENDING 2, SHRUNK_TO_TOKEN_BUDGET 1, SKIPPED_ALL_N 1, "
        "SKIPPED_HAPLOTYPE 1",
        "coverage: not recorded yet (written when a run finishes)",
        "last run: none finished yet",
    ]


def test_format_info_lists_at_most_ten_holes_and_the_last_run(embed_url: str) -> None:
    info = store_info(embed_url)
    holes = [{"contig": "chrA", "start": 100 * i, "end": 100 * i + 50, "track": "+",
              "reason": "SKIPPED_ALL_N"} for i in range(12)]  # fmt: skip
    info["coverage"] = {
        "fraction_covered": 0.5, "real_bases_covered": 600, "real_bases_total": 1_200,
        "tracks": 2, "n_bases_requested": 0, "uncovered_bp": 600,
        "uncovered_by_reason": {"SKIPPED_ALL_N": 600}, "uncovered": holes,
        "n_uncovered_intervals": 12,
    }  # fmt: skip
    info["last_run"] = {"units_run": 2, "windows_run": 8, "seconds": 1.5, "model_seconds": 0.5,
                        "windows_per_second": 5.3}  # fmt: skip
    lines = format_info(info).splitlines()
    at = lines.index(
        "coverage: 50.000% of real bases in an embedded window (600 of 1,200 bp over 2 "
        "track(s); 0 N bp requested, not embedded); uncovered: SKIPPED_ALL_N: 600 bp"
    )
    assert lines[at + 1] == "  uncovered chrA:0-50 (+): SKIPPED_ALL_N"
    assert lines[at + 10] == "  uncovered chrA:900-950 (+): SKIPPED_ALL_N"
    assert lines[at + 11] == "  ... 2 more (--json lists 100)"
    assert lines[-1] == "last run: 2 units, 8 windows in 1.5 s (model 0.5 s), 5.3 windows/s"


# Variant rows (unit_variants 3: blocks 0-2, 3-5, 6): contig, pos, ref, alt, status, score.
VARIANTS = [
    ("chrA", 100, "A", "G", "ok", 1.0),  # SNV
    ("chrA", 200, "AT", "A", "ok", -3.0),  # indel
    ("chrB", 50, "AC", "GT", "ok", 2.0),  # MNV
    ("chrB", 60, "A", "<DEL>", "skipped_symbolic", NAN),  # other
    ("chrA", 300, "C", "T", "ok", -3.0),  # SNV, |score| ties with row 1
    ("chrB", 0, "G", "A", "ok", 0.5),  # SNV
    ("chrA", 150, "T", "C", "ok", 4.0),  # SNV
]


@pytest.fixture(scope="module")
def vds(tmp_path_factory: pytest.TempPathFactory):
    url = str(tmp_path_factory.mktemp("synthetic") / "var.zarr")
    layout = st.StoreLayout(n_windows=0, unit_windows=1, n_variants=7, unit_variants=3,
                            score_names=("s",))  # fmt: skip
    writer = st.create_or_open(url, layout, fingerprint={}, attrs={"job": "score"},
                               contigs=CONTIGS)  # fmt: skip
    for unit in range(3):
        lo, hi = layout.variant_rows(unit)
        cols = list(zip(*VARIANTS[lo:hi], strict=True))
        variants = {"contig": np.array(cols[0]), "pos": np.array(cols[1]),
                    "id": np.array([f"v{i}" for i in range(lo, hi)]), "ref": np.array(cols[2]),
                    "alt": np.array(cols[3]), "status": np.array(cols[4])}  # fmt: skip
        writer.write_variant_unit(unit, variants=variants, scores={"s": np.array(cols[5])})
        writer.mark_done(unit, part="variants")
    return st.open(url)


def test_variant_types_and_statuses(vds) -> None:
    assert var.variant_types(vds).tolist() == ["SNV", "indel", "MNV", "other", "SNV", "SNV", "SNV"]
    assert var.status_counts(vds) == {"ok": 6, "skipped_symbolic": 1}
    assert var.score_names(vds) == ["s"]


def test_score_distribution_by_hand(vds) -> None:
    dist = var.score_distribution(vds, "s", var.variant_types(vds), bins=7)
    np.testing.assert_array_equal(dist.bin_edges, np.arange(-3.0, 5.0))  # finite min -3, max 4
    snv = dist.stats.loc["SNV"]  # 1, -3, 0.5, 4: mean 0.625, squared deviations sum 24.6875
    assert (snv["n"], snv["n_finite"]) == (4, 4)
    assert snv["mean"] == pytest.approx(0.625)
    assert snv["std"] == pytest.approx(math.sqrt(24.6875 / 3))
    assert (snv["min"], snv["max"]) == (-3.0, 4.0)
    other = dist.stats.loc["other"]
    assert (other["n"], other["n_finite"]) == (1, 0) and np.isnan(other["mean"])
    indel = dist.stats.loc["indel"]
    assert indel["mean"] == -3.0 and np.isnan(indel["std"])  # one value: no spread
    # -3 -> [-3, -2), 0.5 -> [0, 1), 1 -> [1, 2), 4 -> the last bin (closed on the right)
    assert dist.histograms["SNV"].tolist() == [1, 0, 0, 1, 1, 0, 1]
    assert dist.histograms["other"].sum() == 0
    assert list(dist.stats.index) == ["SNV", "indel", "MNV", "other"]  # first-seen order


@pytest.mark.parametrize(
    ("by", "rows"),
    [("abs", [6, 1, 4]), ("max", [6, 2, 0]), ("min", [1, 4, 5])],
)
def test_top_variants_break_ties_by_row_across_blocks(vds, by: str, rows: list[int]) -> None:
    top = var.top_variants(vds, "s", n=3, by=by)
    assert top["row"].tolist() == rows
    assert top["pos1"].tolist() == [VARIANTS[r][1] + 1 for r in rows]
    assert top["s"].tolist() == [VARIANTS[r][5] for r in rows]
    assert top["id"].tolist() == [f"v{r}" for r in rows]


def test_top_variants_never_return_more_than_the_finite_rows(vds) -> None:
    top = var.top_variants(vds, "s", n=50)
    assert len(top) == 6 and 3 not in top["row"].tolist()  # the NaN row is never selected


def test_scores_along_genome_by_hand(vds) -> None:
    # chrA spans 100-300 (201 bp), chrB 0-60 (61 bp), end to end 262 bp: 2 bins of 131 bp.
    # Bin 0 (chrA 100-231): rows 0, 1, 6 = 1, -3, 4. Bin 1 starts at chrA 231 and runs on
    # into chrB: rows 4, 5, 2 = -3, 0.5, 2 (row 3 is NaN). chrC has no variants.
    frame = var.scores_along_genome(vds, "s", n_bins=2)
    assert frame["contig"].tolist() == ["chrA", "chrA"]
    assert frame["start"].tolist() == [100, 231] and frame["end"].tolist() == [231, 301]
    assert frame["genome_start"].tolist() == [0, 131]
    assert frame["n"].tolist() == [3, 3]
    np.testing.assert_allclose(frame["mean"], [2 / 3, -0.5 / 3])
    assert frame["max_abs"].tolist() == [4.0, 3.0]


def test_report_of_the_hand_made_embedding_store(eds, tmp_path: Path) -> None:
    from ntscale.analysis import build_report

    fasta = tmp_path / "hand.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in FASTA.items()))
    report = build_report(eds, tmp_path / "rep", store="emb.zarr", fasta=fasta, n_components=2)
    assert report["store"] == "emb.zarr" and "variants" not in report
    assert report["metadata"]["model"] == "nt-hand" and report["metadata"]["fasta"] == "hand.fa"
    assert report["metadata"]["vcf"] is None and report["throughput"] == {}
    section = report["windows"]
    assert (section["n"], section["layer"], section["gc_source"]) == (10, 3, str(fasta))
    # GC of the six embedded windows: 0.25, 0.5, 25/90, 1, 0, 0
    assert section["mean_gc"] == pytest.approx((1.75 + 25 / 90) / 6)
    assert [r["contig"] for r in section["per_contig"]] == ["chrA", "chrB"]
    assert section["per_contig"][0]["mean_gc"] == pytest.approx((0.75 + 25 / 90) / 3)
    pca = section["pca"]
    assert (pca["n_windows"], pca["n_components"]) == (6, 2)
    assert sorted(pca["correlations"]) == ["frac_n", "gc"]
    assert set(report["figures"]) == {"window_status", "embedding_norm", "pca", "pc_correlations"}
    for path in report["figures"].values():
        assert Path(path).parent == tmp_path / "rep" and Path(path).stat().st_size > 0


def test_report_skips_pca_with_too_few_windows(eds, tmp_path: Path) -> None:
    from ntscale.analysis import build_report

    report = build_report(eds.isel(window=slice(0, 3)), tmp_path / "rep")
    assert report["windows"]["pca"] == {
        "skipped": "PCA needs at least 3 embedded windows; layer 3 has 2"
    }
    assert "pca" not in report["figures"] and report["windows"]["gc_source"] is None


def test_report_of_the_hand_made_variant_store(vds, tmp_path: Path) -> None:
    from ntscale.analysis import build_report
    from ntscale.errors import InputError

    report = build_report(vds, tmp_path / "rep", top_n=2)
    section = report["variants"]
    assert section["type_counts"] == {"MNV": 1, "SNV": 4, "indel": 1, "other": 1}
    assert section["status_counts"] == {"ok": 6, "skipped_symbolic": 1}
    snv = next(r for r in section["distributions"]["s"]["by_type"] if r["group"] == "SNV")
    assert snv["mean"] == pytest.approx(0.625) and snv["n_finite"] == 4
    other = next(r for r in section["distributions"]["s"]["by_type"] if r["group"] == "other")
    assert other["mean"] is None  # NaN -> JSON null
    assert [r["row"] for r in section["top"]["rows"]] == [6, 1]
    assert set(report["figures"]) == {"variant_status", "scores_by_type", "scores_by_status",
                                      "scores_along_genome"}  # fmt: skip
    message = "score 'nope' is not in the store; it has ['s']"
    with pytest.raises(InputError, match=re.escape(message)):
        build_report(vds, tmp_path / "rep2", score="nope")


def test_report_of_an_empty_store_is_refused(tmp_path: Path) -> None:
    from ntscale.analysis import build_report
    from ntscale.errors import InputError

    url = str(tmp_path / "empty.zarr")
    st.create_or_open(url, st.StoreLayout(n_windows=0, unit_windows=1), fingerprint={},
                      attrs={}, contigs=CONTIGS)  # fmt: skip
    with pytest.raises(InputError, match="the store has neither windows nor variants"):
        build_report(st.open(url), tmp_path / "rep", store=url)
