"""A run report: every analysis of a store, its figures (PNG) and numbers (JSON-ready dict).

`build_report` runs whatever applies to the store (window summaries, GC, PCA for an
embedding store; distributions, top variants, scores along the genome for a variant store)
on the active dask scheduler (a `dask.distributed.Client` if one is open) and writes the
figures into `out_dir`. `ntscale.analysis.html.write_html` turns the result into one page.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ntscale.analysis import pca as pca_mod
from ntscale.analysis import plots
from ntscale.analysis import variants as var
from ntscale.analysis import windows as win
from ntscale.errors import InputError

logger = logging.getLogger(__name__)

ATTR_KEYS = ("job", "ntscale_version", "schema_version", "created", "command_line")


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and NaN -> JSON-ready Python values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in list(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame, index: str) -> list[dict[str, Any]]:
    return _plain(frame.reset_index().rename(columns={"index": index}).to_dict("records"))


def run_metadata(ds: xr.Dataset) -> dict[str, Any]:
    """The run's identity from the root attributes: job, model, inputs, settings, created."""
    attrs = dict(ds.attrs)
    meta: dict[str, Any] = {k: attrs.get(k) for k in ATTR_KEYS if k in attrs}
    model = attrs.get("model") or {}
    meta["model"] = model.get("name") if isinstance(model, dict) else model
    for key in ("fasta", "vcf"):
        item = attrs.get(key)
        meta[key] = item.get("name") if isinstance(item, dict) else item
    for key in ("windows", "scoring"):
        if isinstance(attrs.get(key), dict):
            meta[key] = attrs[key]
    dtype = (attrs.get("fingerprint") or {}).get("dtype")
    if dtype:
        meta["dtype"] = dtype
    return _plain(meta)


def _window_section(
    ds: xr.Dataset,
    out_dir: Path,
    *,
    fasta: str | os.PathLike[str] | None,
    layer: int | None,
    n_components: int,
) -> tuple[dict[str, Any], dict[str, Path]]:
    figs: dict[str, Path] = {}
    layer = win.pick_layer(ds, layer)
    source = win.resolve_fasta(dict(ds.attrs), fasta)
    gc = None
    section: dict[str, Any] = {"n": int(ds.sizes["window"]), "layer": layer}
    section["status_counts"] = win.status_counts(ds)
    section["gc_source"] = str(source.path) if source else None
    if source is not None:
        seq = win.sequence_stats(ds, source)
        gc = seq["gc"].values
        ok = win.embedded_mask(ds)
        section["mean_gc"] = _plain(float(np.nanmean(gc[ok])) if ok.any() else float("nan"))
    per_contig = win.contig_summary(ds, layer=layer, gc=gc)
    section["per_contig"] = _records(per_contig, "contig")
    figs["window_status"] = plots.plot_status_counts(
        section["status_counts"], out_dir / "window_status.png", title="windows by status"
    )
    norms = win.window_norms(ds, layer).data.compute()
    # strands (and haplotypes) must be told apart in the norm and PCA figures
    group = plots.row_groups(np.asarray(ds["strand"].values), np.asarray(ds["haplotype"].values))
    figs["embedding_norm"] = plots.plot_norm_along_genome(
        np.asarray(ds["contig"].values),
        np.asarray(ds["start"].values),
        np.where(win.embedded_mask(ds), norms, np.nan),
        out_dir / "embedding_norm.png",
        layer=layer,
        group=group,
    )
    try:
        result = pca_mod.embedding_pca(ds, layer=layer, n_components=n_components)
    except InputError as e:
        section["pca"] = {"skipped": str(e)}
        return section, figs
    covariates = {"frac_n": np.asarray(ds["frac_n"].values, dtype=np.float64)}
    if gc is not None:
        covariates = {"gc": gc, **covariates}
    corr = pca_mod.pc_correlations(result, covariates)
    section["pca"] = _plain(
        {
            "layer": result.layer,
            "n_windows": int(result.window_index.shape[0]),
            "n_components": int(result.scores.shape[1]),
            "explained_variance": result.explained_variance,
            "explained_variance_ratio": result.explained_variance_ratio,
            "total_variance": result.total_variance,
            "correlations": corr,
        }
    )
    figs["pca"] = plots.plot_pca(
        result, np.asarray(ds["contig"].values), gc, out_dir / "pca.png", group=group
    )
    figs["pc_correlations"] = plots.plot_pc_correlations(corr, out_dir / "pc_correlations.png")
    return section, figs


def _variant_section(
    ds: xr.Dataset, out_dir: Path, *, score: str | None, top_n: int
) -> tuple[dict[str, Any], dict[str, Path]]:
    figs: dict[str, Path] = {}
    names = var.score_names(ds)
    types = var.variant_types(ds)
    statuses = var.variant_status_labels(ds)
    kinds, kind_counts = np.unique(types, return_counts=True)
    section: dict[str, Any] = {
        "n": int(ds.sizes["variant"]),
        "status_counts": var.status_counts(ds),
        "type_counts": {str(k): int(n) for k, n in zip(kinds, kind_counts, strict=True)},
        "scores": names,
    }
    figs["variant_status"] = plots.plot_status_counts(
        section["status_counts"], out_dir / "variant_status.png", title="variants by status"
    )
    if not names:
        return section, figs
    if score is not None and score not in names:
        raise InputError(f"score {score!r} is not in the store; it has {names}")
    by_type = [var.score_distribution(ds, n, types) for n in names]
    by_status = [var.score_distribution(ds, n, statuses) for n in names]
    section["distributions"] = {
        d.score: {"by_type": _records(d.stats, "group"), "by_status": _records(s.stats, "group")}
        for d, s in zip(by_type, by_status, strict=True)
    }
    figs["scores_by_type"] = plots.plot_distributions(
        by_type, out_dir / "scores_by_type.png", by="variant type"
    )
    figs["scores_by_status"] = plots.plot_distributions(
        by_status, out_dir / "scores_by_status.png", by="status"
    )
    primary = score or names[0]
    top = var.top_variants(ds, primary, n=top_n, by="abs")
    section["top"] = {"score": primary, "by": "abs", "rows": _plain(top.to_dict("records"))}
    binned = {n: var.scores_along_genome(ds, n) for n in names}
    figs["scores_along_genome"] = plots.plot_scores_along_genome(
        binned, out_dir / "scores_along_genome.png"
    )
    return section, figs


def build_report(
    ds: xr.Dataset,
    out_dir: str | os.PathLike[str],
    *,
    store: str = "",
    fasta: str | os.PathLike[str] | None = None,
    layer: int | None = None,
    score: str | None = None,
    top_n: int = 20,
    n_components: int = 10,
) -> dict[str, Any]:
    """Analyse a store and write its figures to `out_dir`.

    Args:
        ds: the store, from `ntscale.store.open`.
        out_dir: folder for the PNG figures (created).
        store: the store's URL, for the page's title.
        fasta: FASTA for GC content (default: the run's recorded FASTA, if it still
            resolves and has the store's .fai digest; otherwise no GC).
        layer: embedding layer to analyse (default: the last).
        score: score of the top-variants table (default: the store's first score).
        top_n: rows of the top-variants table.
        n_components: principal components to compute.

    Returns:
        JSON-ready dict: store, generated, metadata, throughput (the run's `last_run`),
        `windows` and/or `variants` sections, and `figures` (name -> PNG path).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if "sequence_index" in ds.variables:
        # cohort store: report on one row per (window, haplotype), as before schema 3
        from ntscale.store import haplotype_rows

        ds = haplotype_rows(ds)
    report: dict[str, Any] = {
        "store": str(store),
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "metadata": run_metadata(ds),
        "throughput": _plain(dict(ds.attrs.get("last_run") or {})),
    }
    if ds.attrs.get("coverage"):  # embed stores: real bases in an embedded window
        report["coverage"] = _plain(dict(ds.attrs["coverage"]))
    figures: dict[str, Path] = {}
    if ds.sizes.get("window", 0) and "embedding_mean" in ds:
        report["windows"], figs = _window_section(
            ds, out, fasta=fasta, layer=layer, n_components=n_components
        )
        figures.update(figs)
    if ds.sizes.get("variant", 0):
        report["variants"], figs = _variant_section(ds, out, score=score, top_n=top_n)
        figures.update(figs)
    if "windows" not in report and "variants" not in report:
        raise InputError(
            "the store has neither windows nor variants to report on", path=store or None
        )
    report["figures"] = {k: str(v) for k, v in figures.items()}
    return report
