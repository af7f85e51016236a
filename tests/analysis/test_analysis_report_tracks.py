"""The report on a track store and on many tracks (issue 23, point 11): bases, not
"variants of type other"; no line across the stretch between two regions; kb ticks for a
small region; settings as text, not a JSON dump; a 16-group legend off the title."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ntscale.store as st  # noqa: E402
from ntscale.analysis import (  # noqa: E402
    build_report,
    plots,  # noqa: E402
    write_html,
)
from ntscale.analysis.html import _fmt  # noqa: E402
from ntscale.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def track_store(tmp_path_factory: pytest.TempPathFactory, example_inputs) -> Path:
    d = tmp_path_factory.mktemp("tracks")
    bed = d / "r.bed"
    bed.write_text("20\t1000000\t1000600\n20\t1005000\t1005600\n")  # two regions, 4.4 kb apart
    out = d / "t.zarr"
    try:
        main(["score", "--fasta", str(example_inputs["fasta"]), "--model",
              str(example_inputs["model"]), "--out", str(out), "--tracks", str(d / "t"),
              "--regions", str(bed), "--window", "600", "--dtype", "fp32",
              "--no-progress"])  # fmt: skip
    except SystemExit as e:
        assert e.code in (0, None)
    return out


def test_a_track_store_reports_bases(track_store: Path, tmp_path: Path) -> None:
    report = build_report(st.open(str(track_store)), tmp_path / "fig", store=str(track_store))
    sec = report["variants"]
    assert sec["rows"] == "bases" and sec["n"] == 1200
    assert sec["type_counts"] == {} and "scores_by_type" not in report["figures"]
    assert "type" not in sec["top"]["rows"][0]  # no "other" type column for bases
    page = write_html(report, tmp_path / "r.html").read_text()
    assert "<h2>Bases</h2>" in page and "variant-types" not in page
    assert "other" not in page.split("<h2>Bases</h2>")[1].split("<h2>")[0]


def test_scores_along_the_genome_do_not_bridge_gaps(monkeypatch, tmp_path: Path) -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, 50.0, 51.0, 52.0])
    y = np.arange(7.0)
    bx, by = plots._break_gaps(x, y)
    assert np.isnan(bx).sum() == 1 and np.isnan(bx[4]) and np.isnan(by[4])
    assert bx[~np.isnan(bx)].tolist() == x.tolist()
    same = plots._break_gaps(x[:4], y[:4])
    assert not np.isnan(same[0]).any()


def test_small_spans_are_labelled_in_kb() -> None:
    assert plots._unit(np.array([1_000_000, 1_005_600])) == "kb"
    assert plots._unit(np.array([0, 2_000_000])) == "Mbp"
    fig, ax = plt.subplots()
    ax.plot([1.0, 1.0056], [0, 1])
    plots._position_axis(ax, np.array([1_000_000, 1_005_600]))
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all("." not in s for s in labels)  # 1,000, 1,002, ... (kb), not 1.002
    plt.close(fig)


def test_settings_are_text_not_json() -> None:
    assert _fmt({"window_bp": 600, "strands": "both"}) == "window_bp: 600; strands: both"
    assert _fmt([1, 2]) == "1, 2" and _fmt([]) == "—" and _fmt({}) == "—"


def test_a_16_group_legend_stays_off_the_title_and_the_points(tmp_path: Path) -> None:
    n = 400
    rng = np.random.default_rng(0)
    groups = np.array([f"HG{k // 2:05d}:{k % 2} {'+-'[k % 2]}" for k in range(16)])[
        rng.integers(0, 16, n)
    ]
    path = plots.plot_norm_along_genome(
        np.full(n, "20"), np.arange(n) * 1000, rng.normal(10, 1, n), tmp_path / "n.png",
        layer=2, group=groups,
    )  # fmt: skip
    assert path.is_file()
    kept = {}  # the same call again, keeping the figure to measure it

    def keep(fig, p):  # noqa: ANN001
        kept["fig"] = fig
        fig.savefig(p)
        return p

    import ntscale.analysis.plots as mod

    orig = mod._save
    mod._save = keep
    try:
        plots.plot_norm_along_genome(
            np.full(n, "20"), np.arange(n) * 1000, rng.normal(10, 1, n), tmp_path / "m.png",
            layer=2, group=groups,
        )  # fmt: skip
    finally:
        mod._save = orig
    fig = kept["fig"]
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(r)
    title = ax.title.get_window_extent(r)
    panel = ax.get_window_extent(r)
    assert not legend.overlaps(title) and legend.x0 >= panel.x1  # beside the panel
    assert len(ax.get_legend().get_texts()) == 16
    plt.close(fig)
