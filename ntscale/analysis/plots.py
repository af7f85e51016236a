"""Matplotlib figures of the analysis results (Agg backend: no display needed).

Every function takes small, already computed results (never a dask array), draws one
figure, saves it as PNG at `path` and returns the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: reports are made on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ntscale.analysis.pca import PcaResult  # noqa: E402
from ntscale.analysis.variants import ScoreDistribution  # noqa: E402

DPI = 110


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def plot_status_counts(counts: dict[str, int], path: Path, *, title: str) -> Path:
    """Bar chart of rows per status."""
    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(counts)
    ax.barh(names, [counts[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(counts[n], i, f" {counts[n]:,}", va="center", fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title(title)
    ax.invert_yaxis()
    return _save(fig, path)


def row_groups(strand: np.ndarray, haplotype: np.ndarray | None = None) -> np.ndarray:
    """[W] label telling windows apart beyond their position: strand, and the haplotype
    when the store has haplotype windows (e.g. "+", "- HG00096:1")."""
    labels = np.asarray(strand, dtype=str).astype(object)
    if haplotype is not None:
        hap = np.asarray(haplotype, dtype=str)
        if np.any((hap != "reference") & (hap != "")):
            labels = labels + " " + np.where(hap == "", "?", hap)
    return labels.astype(str)


def _group_colours(groups: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    return {g: cmap(i % cmap.N) for i, g in enumerate(groups)}


def plot_norm_along_genome(
    contig: np.ndarray,
    start: np.ndarray,
    norm: np.ndarray,
    path: Path,
    *,
    layer: int,
    group: np.ndarray | None = None,
) -> Path:
    """Mean-embedding norm of each embedded window against its start, one panel per contig,
    coloured by `group` (strand, and haplotype when there are haplotype windows)."""
    contigs = [c for c in dict.fromkeys(contig.tolist()) if c]
    group = np.full(contig.shape, "windows") if group is None else np.asarray(group, dtype=str)
    groups = [g for g in dict.fromkeys(group[np.isfinite(norm)].tolist())]
    colours = _group_colours(groups)
    n = max(len(contigs), 1)
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.8), squeeze=False)
    for ax, c in zip(axes[:, 0], contigs, strict=False):
        for g in groups:
            rows = (contig == c) & np.isfinite(norm) & (group == g)
            if rows.any():
                ax.plot(start[rows] / 1e6, norm[rows], ".", ms=3, color=colours[g], label=g)
        ax.set_ylabel(f"{c}\nnorm")
    axes[-1, 0].set_xlabel("window start (Mbp)")
    axes[0, 0].set_title(f"mean-embedding L2 norm along the genome (layer {layer})")
    if len(groups) > 1:
        title = "strand / haplotype" if any(" " in g for g in groups) else "strand"
        # Beside the panels, in columns of at most 12: many tracks (16 haplotype/strand
        # groups) never cover the title or the points.
        axes[0, 0].legend(fontsize=7, markerscale=2, title=title, title_fontsize=7,
                          loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                          ncol=-(-len(groups) // 12))  # fmt: skip
    _position_axis(axes[-1, 0], start[np.isfinite(norm)] if len(start) else start)
    axes[-1, 0].set_xlabel(axes[-1, 0].get_xlabel().replace("(Mbp)", f"({_unit(start)})"))
    return _save(fig, path)


def _unit(pos: np.ndarray) -> str:
    """Mbp for spans of a Mbp or more, else kb (no 0.001-Mbp tick labels)."""
    pos = np.asarray(pos, np.float64)
    span = float(pos.max() - pos.min()) if pos.size else 0.0
    return "Mbp" if span >= 1e6 else "kb"


def _position_axis(ax: plt.Axes, pos: np.ndarray) -> None:
    """Re-label a position axis drawn in Mbp in kb when the span is under a Mbp."""
    if _unit(pos) == "kb":
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x * 1e3:,.0f}"))


def _break_gaps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN between points farther apart than 1.5 bin steps: a line does not bridge a gap
    between regions (or a stretch with no variant)."""
    if x.size < 3:
        return x, y
    step = np.median(np.diff(x))
    gaps = np.flatnonzero(np.diff(x) > 1.5 * step) + 1
    return np.insert(x.astype(float), gaps, np.nan), np.insert(y.astype(float), gaps, np.nan)


def _scatter_groups(ax: plt.Axes, x: np.ndarray, y: np.ndarray, labels: np.ndarray) -> None:
    names = list(dict.fromkeys(labels.tolist()))
    colours = _group_colours(names)
    for name in names:
        rows = labels == name
        ax.scatter(x[rows], y[rows], s=8, color=colours[name], label=name)
    if len(names) <= 25:
        ax.legend(fontsize=7, markerscale=1.5, loc="best")


def plot_pca(
    pca: PcaResult,
    contig: np.ndarray,
    gc: np.ndarray | None,
    path: Path,
    *,
    group: np.ndarray | None = None,
) -> Path:
    """PC1 vs PC2 coloured by contig, by strand/haplotype (`group`, when it has more than
    one value) and by GC content (when known), and the scree plot."""
    groups = None if group is None else np.asarray(group, dtype=str)[pca.window_index]
    show_groups = groups is not None and len(set(groups.tolist())) > 1
    panels = 2 + int(gc is not None) + int(show_groups)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8))
    pc = pca.scores
    y = pc[:, 1] if pc.shape[1] > 1 else np.zeros(pc.shape[0])
    ratio = pca.explained_variance_ratio
    xlabel = f"PC1 ({100 * ratio[0]:.1f}%)"
    ylabel = f"PC2 ({100 * ratio[1]:.1f}%)" if ratio.shape[0] > 1 else "PC2"
    ax = axes[0]
    _scatter_groups(ax, pc[:, 0], y, np.asarray(contig)[pca.window_index].astype(str))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"PCA by contig (layer {pca.layer})")
    i = 1
    if show_groups:
        ax = axes[i]
        _scatter_groups(ax, pc[:, 0], y, groups)
        what = "strand / haplotype" if any(" " in g for g in groups.tolist()) else "strand"
        ax.set(xlabel=xlabel, ylabel=ylabel, title=f"PCA by {what}")
        i += 1
    if gc is not None:
        ax = axes[i]
        sc = ax.scatter(pc[:, 0], y, c=gc[pca.window_index], s=8, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="GC fraction")
        ax.set(xlabel=xlabel, ylabel=ylabel, title="PCA by GC content")
    ax = axes[-1]
    k = np.arange(1, ratio.shape[0] + 1)
    ax.bar(k, 100 * ratio, color="tab:blue")
    ax.plot(k, 100 * np.cumsum(ratio), "o-", color="tab:orange", label="cumulative")
    ax.set(xlabel="PC", ylabel="% of variance", title="explained variance")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_pc_correlations(correlations: dict[str, list[float]], path: Path) -> Path:
    """Correlation of each PC with each covariate (GC, N fraction), grouped bars.

    A covariate with no defined correlation (constant, e.g. no N in any window) gets no
    bars and no legend entry; the title says so.
    """
    values = {n: np.asarray(v, dtype=float) for n, v in correlations.items()}
    names = [n for n, v in values.items() if np.isfinite(v).any()]
    left_out = [n for n in values if n not in names]
    k = len(next(iter(values.values()))) if values else 0
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * k + 2), 3))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        offset = (i - (len(names) - 1) / 2) * width
        ax.bar(np.arange(1, k + 1) + offset, np.nan_to_num(values[name]), width, label=name)
    ax.axhline(0, color="black", lw=0.5)
    title = "PC correlations"
    if left_out:
        title += f"\n({', '.join(left_out)}: constant, not shown)"
    ax.set(xlabel="PC", ylabel="Pearson r", ylim=(-1, 1))
    ax.set_title(title, fontsize=9)
    if names:
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_distributions(dists: list[ScoreDistribution], path: Path, *, by: str) -> Path:
    """One panel per score: step histograms of the groups (types or statuses)."""
    n = max(len(dists), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, dist in zip(axes.ravel(), dists, strict=False):
        for group, counts in dist.histograms.items():
            if counts.sum() == 0:
                continue
            ax.stairs(counts, dist.bin_edges, label=f"{group} ({int(counts.sum()):,})")
        ax.set_yscale("symlog", linthresh=1)
        ax.set(xlabel=dist.score, ylabel="variants")
        ax.legend(fontsize=6)
    fig.suptitle(f"score distributions by {by}")
    return _save(fig, path)


def plot_scores_along_genome(binned: dict[str, pd.DataFrame], path: Path) -> Path:
    """Per score two panels, one quantity each: the mean (signed) and the max |score| per
    genome bin, along the contigs laid end to end with their boundaries and names marked."""
    frames = [f for f in binned.values() if len(f)]
    # contig -> (first, last) position along the concatenation, in plotting order
    spans: dict[str, list[float]] = {}
    for frame in frames:
        for c, g in frame.groupby("contig", sort=False):
            lo, hi = (
                float(g["genome_start"].min()),
                float((g["genome_start"] + g["end"] - g["start"]).max()),
            )
            old = spans.setdefault(str(c), [lo, hi])
            spans[str(c)] = [min(old[0], lo), max(old[1], hi)]
    one = len(spans) == 1
    n = max(len(binned), 1)
    fig, axes = plt.subplots(2 * n, 1, figsize=(9, 2.6 * n + 0.8), squeeze=False, sharex=True)
    colours = _group_colours(list(spans))
    for k, (name, frame) in enumerate(binned.items()):
        ax_mean, ax_max = axes[2 * k, 0], axes[2 * k + 1, 0]
        for ax, column, label in ((ax_mean, "mean", "mean"), (ax_max, "max_abs", "max |score|")):
            for c in spans:
                rows = frame["contig"].astype(str) == c if len(frame) else []
                if len(frame) and rows.any():
                    sub = frame[rows]
                    x = (sub["start"] if one else sub["genome_start"]).to_numpy() / 1e6
                    style = "-" if column == "mean" else "."
                    y = sub[column].to_numpy()
                    if column == "mean":
                        x, y = _break_gaps(x, y)
                    ax.plot(x, y, style, ms=3, lw=0.8, color=colours[c])
            ax.set_ylabel(f"{name}\n{label}", fontsize=7)
            if column == "mean":
                ax.axhline(0, color="grey", lw=0.5)
            if not one:
                for lo, _ in spans.values():
                    ax.axvline(lo / 1e6, color="grey", lw=0.6, ls=":")
    if not one and spans:
        top = axes[0, 0].secondary_xaxis("top")
        top.set_xticks([(lo + hi) / 2e6 for lo, hi in spans.values()], labels=list(spans))
        top.tick_params(labelsize=7, length=0)
    if one:
        lo, hi = next(iter(spans.values()))
        unit = _unit(np.array([lo, hi]))
        xlabel = f"{next(iter(spans))} position ({unit})"
        _position_axis(axes[-1, 0], np.array([lo, hi]))
    else:
        xlabel = "position along the contigs laid end to end (Mbp; dotted lines: contig starts)"
    axes[-1, 0].set_xlabel(xlabel)
    fig.suptitle("variant scores along the genome (binned): mean and max |score|")
    return _save(fig, path)
