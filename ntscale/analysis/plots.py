"""Matplotlib figures of the analysis results (Agg backend: no display needed).

Every function takes small, already computed results (never a dask array), draws one
figure, saves it as PNG at `path` and returns the path.
"""

from __future__ import annotations

from pathlib import Path

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


def plot_norm_along_genome(
    contig: np.ndarray, start: np.ndarray, norm: np.ndarray, path: Path, *, layer: int
) -> Path:
    """Mean-embedding norm of each embedded window against its start, one panel per contig."""
    contigs = [c for c in dict.fromkeys(contig.tolist()) if c]
    n = max(len(contigs), 1)
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.6), squeeze=False)
    for ax, c in zip(axes[:, 0], contigs, strict=False):
        rows = (contig == c) & np.isfinite(norm)
        ax.plot(start[rows] / 1e6, norm[rows], ".", ms=3, color="tab:green")
        ax.set_ylabel(f"{c}\nnorm")
    axes[-1, 0].set_xlabel("window start (Mbp)")
    axes[0, 0].set_title(f"mean-embedding L2 norm along the genome (layer {layer})")
    return _save(fig, path)


def plot_pca(pca: PcaResult, contig: np.ndarray, gc: np.ndarray | None, path: Path) -> Path:
    """PC1 vs PC2 coloured by contig and (when known) by GC content, and the scree plot."""
    panels = 3 if gc is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8))
    pc = pca.scores
    y = pc[:, 1] if pc.shape[1] > 1 else np.zeros(pc.shape[0])
    ratio = pca.explained_variance_ratio
    xlabel = f"PC1 ({100 * ratio[0]:.1f}%)"
    ylabel = f"PC2 ({100 * ratio[1]:.1f}%)" if ratio.shape[0] > 1 else "PC2"
    ax = axes[0]
    names = contig[pca.window_index]
    for c in dict.fromkeys(names.tolist()):
        rows = names == c
        ax.scatter(pc[rows, 0], y[rows], s=8, label=c)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"PCA by contig (layer {pca.layer})")
    if len(set(names.tolist())) <= 25:
        ax.legend(fontsize=7, markerscale=1.5, loc="best")
    if gc is not None:
        ax = axes[1]
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
    """Correlation of each PC with each covariate (GC, N fraction), grouped bars."""
    names = list(correlations)
    k = len(next(iter(correlations.values()))) if names else 0
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * k + 2), 3))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = np.nan_to_num(np.asarray(correlations[name], dtype=float))
        ax.bar(np.arange(1, k + 1) + (i - (len(names) - 1) / 2) * width, values, width, label=name)
    ax.axhline(0, color="black", lw=0.5)
    ax.set(xlabel="PC", ylabel="Pearson r", ylim=(-1, 1), title="PC correlations")
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
    """Per score: mean and max |score| per genome bin against the bin's genome position."""
    n = max(len(binned), 1)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.7 * n + 0.6), squeeze=False, sharex=True)
    contigs = {c for f in binned.values() if len(f) for c in f["contig"]}
    one = len(contigs) == 1
    for ax, (name, frame) in zip(axes[:, 0], binned.items(), strict=False):
        if len(frame):
            x = frame["start" if one else "genome_start"].to_numpy() / 1e6
            ax.plot(x, frame["max_abs"], ".", ms=3, color="tab:red", label="max |score|")
            ax.plot(x, frame["mean"], "-", lw=0.8, color="tab:blue", label="mean")
        ax.set_ylabel(name, fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    xlabel = f"{next(iter(contigs))} position" if one else "position along the contigs"
    axes[-1, 0].set_xlabel(f"{xlabel} (Mbp)")
    axes[0, 0].set_title("variant scores along the genome (binned)")
    return _save(fig, path)
