"""Report figures: contigs apart and labelled, one quantity per axis, strands/haplotypes
told apart, no empty legend entries. The figures are inspected before they are saved."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntscale.analysis import plots


def _binned() -> pd.DataFrame:
    rows, offset = [], 0
    for contig, length in (("chr1", 4e6), ("chr2", 2e6)):
        for s in np.arange(0, length, 5e5):
            rows.append({"contig": contig, "start": s, "end": s + 5e5, "genome_start": offset + s,
                         "n": 3, "mean": -0.5, "max_abs": 2.0})  # fmt: skip
        offset += length
    return pd.DataFrame(rows)


def test_scores_along_genome_mark_contigs_and_keep_one_quantity_per_axis(keep, tmp_path):
    plots.plot_scores_along_genome({"llr": _binned(), "l2": _binned()}, tmp_path / "g.png")
    fig = keep[0]
    main = [ax for ax in fig.axes if ax.get_ylabel()]
    assert [ax.get_ylabel() for ax in main] == [
        "llr\nmean", "llr\nmax |score|", "l2\nmean", "l2\nmax |score|"
    ]  # fmt: skip
    for ax in main:  # contig boundary lines at each contig's start (Mbp)
        starts = sorted(
            {round(line.get_xdata()[0], 3) for line in ax.lines if line.get_linestyle() == ":"}
        )
        assert starts == [0.0, 4.0]
    fig.canvas.draw()
    tops = [child for ax in fig.axes for child in ax.child_axes]  # the contig-name axis
    labels = [t.get_text() for ax in tops for t in ax.get_xticklabels()]
    assert labels == ["chr1", "chr2"]


def test_norm_plot_tells_strands_and_haplotypes_apart(keep, tmp_path):
    strand = np.array(["+", "-"] * 4)
    hap = np.array(["reference"] * 4 + ["S:0", "S:1"] * 2)
    group = plots.row_groups(strand, hap)
    assert group.tolist()[:2] == ["+ reference", "- reference"] and group[4] == "+ S:0"
    assert plots.row_groups(strand, np.array(["reference"] * 8)).tolist() == strand.tolist()
    norm = np.arange(8, dtype=float)
    norm[1] = np.nan  # a skipped window: no point
    plots.plot_norm_along_genome(np.array(["c"] * 8), np.arange(8) * 1e3, norm,
                                 tmp_path / "n.png", layer=1, group=group)  # fmt: skip
    legend = keep[0].axes[0].get_legend()
    assert sorted(t.get_text() for t in legend.get_texts()) == [
        "+ S:0", "+ reference", "- S:1", "- reference"
    ]  # fmt: skip


def test_pc_correlations_leave_out_an_undefined_covariate(keep, tmp_path):
    plots.plot_pc_correlations({"gc": [0.4, -0.1], "frac_n": [np.nan, np.nan]}, tmp_path / "c.png")
    ax = keep[0].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gc"]
    assert "frac_n: constant, not shown" in ax.get_title()
