"""Workflow 4: analyse ntscale stores with xarray + dask on a dask.distributed LocalCluster.

    python workflows/analyse.py                                  # the stores of workflows 1-2
    python workflows/analyse.py --embed out/workflows/genome.zarr --scores out/workflows/scores.zarr
    python workflows/analyse.py --embed s3://bucket/grch38.zarr --fasta GRCh38.fa --workers 8

Every step reads the store lazily and reduces it chunk by chunk on the cluster's workers, so
the same script runs on a whole-genome store that does not fit in memory. It prints the
numbers, saves a few figures and writes the same HTML report as `ntscale report`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from dask.distributed import Client, LocalCluster

import ntscale.analysis as an
import ntscale.store as st
from ntscale.analysis import plots
from ntscale.errors import StoreError


def analyse_embeddings(url: str, fasta: str | None, out: Path) -> None:
    ds = st.open(url)  # lazy: dims layer x window x dim, one dask chunk per work unit
    print(ds)
    layer = int(ds["layer"].values[-1])

    # Windows per contig and status, mean embedding norm (a dask reduction per chunk).
    print(an.contig_summary(ds, layer=layer).to_string())

    # GC content and N fraction of every window, read from the FASTA on the workers.
    source = an.resolve_fasta(dict(ds.attrs), fasta)
    gc = an.sequence_stats(ds, source)["gc"].values if source else None

    # PCA of the embedded windows with dask's randomized SVD, and what the PCs track.
    pca = an.embedding_pca(ds, layer=layer, n_components=10)
    print("explained variance ratio:", np.round(pca.explained_variance_ratio, 4))
    covariates = {"frac_n": ds["frac_n"].values}
    if gc is not None:
        covariates["gc"] = gc
    for name, r in an.pc_correlations(pca, covariates).items():
        print(f"corr(PC, {name}):", np.round(r, 3))
    plots.plot_pca(pca, ds["contig"].values, gc, out / "pca.png")

    # Plain xarray works too: mean embedding per 100 kbp bin of the '+' strand, lazily.
    ok = an.embedded_mask(ds) & (ds["strand"].values == "+")
    emb = ds["embedding_mean"].sel(layer=layer).isel(window=np.flatnonzero(ok))
    per_bin = emb.groupby((emb["start"] // 100_000).rename("bin_100kb")).mean().compute()
    print("mean embedding per 100 kbp bin:", dict(per_bin.sizes))


def analyse_scores(url: str, out: Path) -> None:
    ds = st.open(url)
    names = an.score_names(ds)
    print(f"{ds.sizes['variant']:,} variants; scores: {names}")
    types = an.variant_types(ds)
    for name in names[:2]:
        print(an.score_distribution(ds, name, types).stats.to_string())
    print(an.top_variants(ds, names[0], n=10).to_string(index=False))
    binned = an.scores_along_genome(ds, names[0], n_bins=100)
    plots.plot_scores_along_genome({names[0]: binned}, out / "scores_along_genome.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--embed", default="out/workflows/genome.zarr", help="embedding store")
    p.add_argument("--scores", default="out/workflows/scores.zarr", help="variant store")
    p.add_argument("--fasta", default=None, help="FASTA for GC (default: the run's own)")
    p.add_argument("--out", default="out/workflows/analysis", help="figures and reports")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster),
    ):
        for url, kind in ((args.embed, "embed"), (args.scores, "scores")):
            try:
                st.store_summary(url)
            except StoreError as e:
                print(f"skipping {url}: {e} (run workflow 1 or 2 first)")
                continue
            if kind == "embed":
                analyse_embeddings(url, args.fasta, out)
            else:
                analyse_scores(url, out)
            report = an.build_report(st.open(url), out / kind, store=url, fasta=args.fasta)
            print("report:", an.write_html(report, out / kind / "report.html"))


if __name__ == "__main__":
    main()
