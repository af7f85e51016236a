"""How many windows a haplotype plan splits so that every haplotype fits the tokens.

    .venv/bin/python benchmarks/hap_splits.py FASTA VCF CONTIG:START-END [--samples A,B]

Plans the region gap-aware with NT-v2's 2,048-token limit, for several reserved token
counts, without and with the VCF's per-haplotype indel bounds (`ntscale.genome.hap_budget`),
and prints the window counts and the splits (docs/genome.md has the figures).
"""

from __future__ import annotations

import argparse
import time

from ntscale.genome import FastaSource, default_window_bp, plan_windows
from ntscale.genome.gaps import load_gap_index
from ntscale.genome.hap_budget import insertion_sites
from ntscale.types import Region


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fasta")
    ap.add_argument("vcf")
    ap.add_argument("region", help="CONTIG:START-END, 0-based half-open")
    ap.add_argument("--samples", default=None)
    args = ap.parse_args()
    contig, span = args.region.split(":")
    region = Region(contig, *(int(x.replace(",", "")) for x in span.split("-")))
    fasta = FastaSource(args.fasta)
    samples = args.samples.split(",") if args.samples else None
    t0 = time.perf_counter()
    sites = insertion_sites(args.vcf, [contig], {contig: contig}, samples=samples)
    read_s = time.perf_counter() - t0
    n_sites = len(sites[contig][0]) if contig in sites else 0
    print(f"{n_sites:,} indel sites read in {read_s:.2f} s")
    for reserve in (0, 5, 10, 20):
        window = default_window_bp(2048, reserve_tokens=reserve)
        kw = {"window_bp": window, "regions": [region], "gaps": load_gap_index(fasta),
              "max_tokens": 2048}  # fmt: skip
        plain = plan_windows(fasta.contigs, **kw)
        split = plan_windows(fasta.contigs, insertions=sites, **kw)
        n_split = split.summary.n_split_for_insertions
        print(f"reserve {reserve:>2} tokens, window {window:,} bp: {plain.n_windows:,} "
              f"windows -> {split.n_windows:,} ({n_split} split)")  # fmt: skip


if __name__ == "__main__":
    main()
