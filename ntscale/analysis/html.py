"""One self-contained HTML page from a report dict: figures inlined as base64 PNG data URIs,
no scripts, no external resources (it opens offline, from an e-mail or a bucket)."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
code { font-size: 0.9em; }
"""

CAPTIONS = {
    "window_status": "Windows by status (every planned window keeps its row).",
    "embedding_norm": "L2 norm of each embedded window's mean embedding along each contig.",
    "pca": "PCA of the window embeddings (dask randomized SVD): PC1 vs PC2 by contig and "
    "by GC content, and the variance explained.",
    "pc_correlations": "Pearson correlation of each PC's scores with GC content and N fraction "
    "(blank bars: the covariate is constant over the windows).",
    "variant_status": "Rows (variants, or bases of a track store) by status; rows that were "
    "not scored keep theirs.",
    "scores_by_type": "Score distributions by variant type (finite scores only).",
    "scores_by_status": "Score distributions by variant status (finite scores only).",
    "scores_along_genome": "Mean and maximum |score| per bin along the genome.",
}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) if value else "—"
    if isinstance(value, dict):  # a setting group: "key: value" lines, not a JSON dump
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) if value else "—"
    return str(value)


def _cell(value: Any) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    cls = ' class="num"' if numeric else ""
    return f"<td{cls}>{html.escape(_fmt(value))}</td>"


def _kv_table(items: dict[str, Any], table_id: str) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in items.items())
    return f'<table id="{table_id}">{rows}</table>'


def _records_table(records: list[dict[str, Any]], table_id: str) -> str:
    if not records:
        return "<p>(none)</p>"
    cols = list(records[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in cols) + "</tr>" for r in records)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def _figure(name: str, path: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    caption = html.escape(CAPTIONS.get(name, name))
    return (
        f'<figure id="fig-{name}"><img class="plot" alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
    )


def _windows_html(section: dict[str, Any], figures: dict[str, str]) -> list[str]:
    parts = ["<h2>Windows</h2>"]
    parts.append(_kv_table({"windows": section["n"], **section["status_counts"]}, "window-status"))
    gc = section.get("gc_source")
    parts.append(
        f"<p>GC content from <code>{html.escape(gc)}</code>.</p>"
        if gc
        else "<p>No GC content: the run's FASTA was not found (pass <code>--fasta</code>).</p>"
    )
    parts.append("<h3>Per contig</h3>")
    parts.append(_records_table(section["per_contig"], "per-contig"))
    for name in ("window_status", "embedding_norm"):
        if name in figures:
            parts.append(_figure(name, figures[name]))
    pca = section.get("pca", {})
    parts.append(f"<h2>Embedding PCA (layer {section['layer']})</h2>")
    if "skipped" in pca:
        parts.append(f"<p>PCA skipped: {html.escape(pca['skipped'])}</p>")
        return parts
    rows = [
        {"PC": i + 1, "explained_variance": v, "explained_variance_ratio": r}
        | {f"r({k})": c[i] for k, c in pca["correlations"].items()}
        for i, (v, r) in enumerate(
            zip(pca["explained_variance"], pca["explained_variance_ratio"], strict=True)
        )
    ]
    parts.append(
        f"<p>{pca['n_windows']:,} embedded windows; total variance "
        f"{_fmt(pca['total_variance'])}.</p>"
    )
    parts.append(_records_table(rows, "pca"))
    for name in ("pca", "pc_correlations"):
        if name in figures:
            parts.append(_figure(name, figures[name]))
    return parts


def _variants_html(section: dict[str, Any], figures: dict[str, str]) -> list[str]:
    rows = section.get("rows", "variants")  # a track store's rows are bases
    parts = [f"<h2>{rows.capitalize()}</h2>"]
    parts.append(_kv_table({rows: section["n"], **section["status_counts"]}, "variant-status"))
    if section.get("type_counts"):
        parts.append(_kv_table(section["type_counts"], "variant-types"))
    if "variant_status" in figures:
        parts.append(_figure("variant_status", figures["variant_status"]))
    for score, dist in section.get("distributions", {}).items():
        parts.append(f"<h3>{html.escape(score)}</h3>")
        if dist.get("by_type"):
            parts.append(_records_table(dist["by_type"], f"dist-type-{html.escape(score)}"))
        parts.append(_records_table(dist["by_status"], f"dist-status-{html.escape(score)}"))
    for name in ("scores_by_type", "scores_by_status", "scores_along_genome"):
        if name in figures:
            parts.append(_figure(name, figures[name]))
    top = section.get("top")
    if top:
        parts.append(f"<h2>Top {len(top['rows'])} {rows} by |{html.escape(top['score'])}|</h2>")
        parts.append(_records_table(top["rows"], "top-variants"))
    return parts


def _coverage_html(cov: dict[str, Any]) -> list[str]:
    from ntscale.genome.coverage import format_coverage

    parts = ["<h2>Coverage</h2>", f"<p>{html.escape(format_coverage(cov))}</p>"]
    if cov.get("uncovered"):
        parts.append(_records_table(cov["uncovered"], "uncovered"))
    return parts


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML document (figures read from their PNG paths and inlined)."""
    figures = report.get("figures", {})
    title = f"ntscale report: {report.get('store', '')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Generated {html.escape(str(report.get('generated', '')))}.</p>",
        "<h2>Run</h2>",
        _kv_table(report.get("metadata", {}), "metadata"),
        "<h2>Throughput (last run)</h2>",
        _kv_table(report.get("throughput", {}), "throughput")
        if report.get("throughput")
        else "<p>(no run summary in the store)</p>",
    ]
    if report.get("coverage"):
        parts += _coverage_html(report["coverage"])
    if "windows" in report:
        parts += _windows_html(report["windows"], figures)
    if "variants" in report:
        parts += _variants_html(report["variants"], figures)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write `render_html(report)` to `path` (UTF-8) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out
