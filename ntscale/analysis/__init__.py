"""Downstream analysis of ntscale stores with dask/xarray, out of core.

Every function takes the Dataset of `ntscale.store.open(url)` and reduces its dask arrays
chunk by chunk on the active dask scheduler (threads by default; a `dask.distributed`
Client if one is open), so whole-genome stores never need to fit in memory.

- windows: `contig_summary`, `status_counts`, `window_norms`, `sequence_stats` (GC, N
  fraction from the FASTA), `resolve_fasta`
- pca: `embedding_pca` (dask randomized SVD), `pc_correlations`
- variants: `variant_types`, `score_distribution`, `top_variants`, `scores_along_genome`
- report: `build_report` (figures + numbers); html: `write_html` (one self-contained page)
"""

from ntscale.analysis.html import render_html, write_html
from ntscale.analysis.pca import PcaResult, embedding_pca, pc_correlations
from ntscale.analysis.report import build_report
from ntscale.analysis.variants import (
    ScoreDistribution,
    score_distribution,
    score_names,
    scores_along_genome,
    top_variants,
    variant_status_labels,
    variant_types,
)
from ntscale.analysis.windows import (
    contig_summary,
    embedded_mask,
    resolve_fasta,
    sequence_stats,
    status_counts,
    window_norms,
)

__all__ = [
    "PcaResult",
    "ScoreDistribution",
    "build_report",
    "contig_summary",
    "embedded_mask",
    "embedding_pca",
    "pc_correlations",
    "render_html",
    "resolve_fasta",
    "score_distribution",
    "score_names",
    "scores_along_genome",
    "sequence_stats",
    "status_counts",
    "top_variants",
    "variant_status_labels",
    "variant_types",
    "window_norms",
    "write_html",
]
