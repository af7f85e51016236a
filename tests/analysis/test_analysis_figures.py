"""Figures (analysis/plots.py): real PNG files of the expected size, and the panels, titles,
labels and legends each figure is drawn with (inspected before the figure is saved)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from ntscale.analysis import plots
from ntscale.analysis.pca import PcaResult
from ntscale.analysis.variants import ScoreDistribution


def _pca() -> PcaResult:
    rng = np.random.default_rng(5)
    return PcaResult(
        layer=6,
        window_index=np.array([0, 1, 2, 4, 5]),
        scores=rng.standard_normal((5, 2)),
        components=np.eye(2, 3),
        explained_variance=np.array([3.0, 1.5]),
        explained_variance_ratio=np.array([0.6, 0.3]),
        total_variance=5.0,
    )


def test_status_counts_png_is_written_at_the_set_size(tmp_path: Path) -> None:
    open_before = set(plots.plt.get_fignums())
    path = plots.plot_status_counts({"OK": 1234, "PENDING": 2}, tmp_path / "a" / "s.png",
                                    title="windows by status")  # fmt: skip
    assert path == tmp_path / "a" / "s.png"  # parent folder created
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(path).shape[:2]
    assert (width, height) == (6 * plots.DPI, 3 * plots.DPI)  # figsize (6, 3) inches
    assert set(plots.plt.get_fignums()) == open_before  # the figure is closed after saving


def test_status_counts_bars_are_labelled(keep, tmp_path: Path) -> None:
    plots.plot_status_counts({"OK": 1234, "SKIPPED_ALL_N": 2}, tmp_path / "s.png", title="t")
    ax = keep[0].axes[0]
    assert [t.get_text() for t in ax.texts] == [" 1,234", " 2"]
    assert [p.get_width() for p in ax.patches] == [1234, 2]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["OK", "SKIPPED_ALL_N"]
    assert ax.get_title() == "t" and ax.get_xlabel() == "rows"


@pytest.mark.parametrize(
    ("with_gc", "group", "titles"),
    [
        (False, None, ["PCA by contig (layer 6)", "explained variance"]),
        (True, None, ["PCA by contig (layer 6)", "PCA by GC content", "explained variance"]),
        (
            True,
            ["+", "-", "+", "x", "-", "+"],
            ["PCA by contig (layer 6)", "PCA by strand", "PCA by GC content", "explained variance"],
        ),
        # one group only: no group panel
        (False, ["+"] * 6, ["PCA by contig (layer 6)", "explained variance"]),
    ],
)
def test_pca_panels(keep, tmp_path: Path, with_gc: bool, group, titles: list[str]) -> None:
    contig = np.array(["chr1", "chr1", "chr2", "chr9", "chr2", "chr2"])
    gc = np.linspace(0.3, 0.6, 6) if with_gc else None
    plots.plot_pca(_pca(), contig, gc, tmp_path / "p.png", group=group)
    panels = [ax for ax in keep[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == titles
    assert panels[0].get_xlabel() == "PC1 (60.0%)" and panels[0].get_ylabel() == "PC2 (30.0%)"
    # by contig: the windows of the PCA (rows 0, 1, 2, 4, 5), so chr9 (row 3) is absent
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert legend == ["chr1", "chr2"]
    scree = panels[-1]
    assert [p.get_height() for p in scree.patches] == pytest.approx([60.0, 30.0])
    assert scree.lines[0].get_ydata().tolist() == pytest.approx([60.0, 90.0])  # cumulative
    if with_gc:
        assert any(ax.get_ylabel() == "GC fraction" for ax in keep[0].axes)  # its colour bar


def test_distributions_one_panel_per_score_and_no_empty_groups(keep, tmp_path: Path) -> None:
    edges = np.linspace(-2, 2, 5)
    dists = [
        ScoreDistribution(score=f"s{i}", bin_edges=edges, stats=pd.DataFrame(),
                          histograms={"SNV": np.array([1, 2, 0, 1]), "other": np.zeros(4, int)})
        for i in range(4)
    ]  # fmt: skip
    plots.plot_distributions(dists, tmp_path / "d.png", by="variant type")
    fig = keep[0]
    assert fig.axes[0].get_gridspec().get_geometry() == (2, 3)  # 4 scores: 2 rows of 3
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_xlabel() for ax in drawn] == ["s0", "s1", "s2", "s3"]
    assert sum(not ax.axison for ax in fig.axes) == 2  # the unused cells are blank
    assert [t.get_text() for t in drawn[0].get_legend().get_texts()] == ["SNV (4)"]
    assert fig.get_suptitle() == "score distributions by variant type"


def test_scores_along_one_contig_use_its_own_positions(keep, tmp_path: Path) -> None:
    frame = pd.DataFrame({"contig": ["chr20"] * 3, "start": [1e6, 2e6, 3e6],
                          "end": [2e6, 3e6, 4e6], "genome_start": [0, 1e6, 2e6],
                          "n": [4, 1, 2], "mean": [0.5, -1.0, 0.25],
                          "max_abs": [2.0, 1.0, 0.5]})  # fmt: skip
    plots.plot_scores_along_genome({"llr": frame}, tmp_path / "g.png")
    fig = keep[0]
    mean_ax, max_ax = fig.axes[0], fig.axes[1]
    assert max_ax.get_xlabel() == "chr20 position (Mbp)"
    assert mean_ax.lines[0].get_xdata().tolist() == [1.0, 2.0, 3.0]  # contig Mbp, not offsets
    assert mean_ax.lines[0].get_ydata().tolist() == [0.5, -1.0, 0.25]
    assert max_ax.lines[0].get_ydata().tolist() == [2.0, 1.0, 0.5]
    assert not any(ax.child_axes for ax in fig.axes)  # no contig-name axis for one contig
    assert not [ln for ax in fig.axes for ln in ax.lines if ln.get_linestyle() == ":"]


def test_row_groups_mark_unwritten_haplotypes() -> None:
    groups = plots.row_groups(np.array(["+", "-", "."]), np.array(["S:0", "reference", ""]))
    assert groups.tolist() == ["+ S:0", "- reference", ". ?"]
    assert plots.row_groups(np.array(["+", "-"])).tolist() == ["+", "-"]
