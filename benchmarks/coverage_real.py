"""Coverage of real bases on a real FASTA, gap-aware vs blind planning, and the N-scan speed.

    .venv/bin/python benchmarks/coverage_real.py FASTA [--max-tokens 2048] [--strands both]

For each plan (gap-aware, then the old blind tiling), every window is fetched with the real
WindowSource (pysam, tokenizer, token budget: what a run embeds) and the coverage record is
computed from the fetched statuses and ends, as `ntscale embed` does at the end of a run.
The N-run scan is timed without the cache (one core).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ntscale.genome import WindowSource, default_window_bp, plan_windows
from ntscale.genome.coverage import compute_coverage, format_coverage
from ntscale.genome.gaps import load_gap_index
from ntscale.types import WindowStatus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fasta")
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--strands", default="both", choices=("forward", "both"))
    args = ap.parse_args()
    src = WindowSource(args.fasta, tokenizer="v2", max_tokens=args.max_tokens)
    total = sum(length for _, length in src.contigs)
    t0 = time.perf_counter()
    gaps = load_gap_index(src.fasta, cache=False)
    scan_s = time.perf_counter() - t0
    print(
        f"N scan: {total:,} bp in {scan_s:.2f} s = {total / scan_s / 1e6:.1f} Mbp/s; "
        f"{gaps.n_runs():,} runs, {gaps.total_n_bases():,} N bp; 3.1 Gbp would take "
        f"{3.1e9 / (total / scan_s):.0f} s"
    )
    strands = ("+", "-") if args.strands == "both" else ("+",)
    window_bp = default_window_bp(args.max_tokens)
    for label, aware in (("gap-aware", True), ("blind", False)):
        plan = plan_windows(
            src.contigs, window_bp=window_bp, strands=strands, gaps=gaps, gap_aware=aware,
            max_tokens=args.max_tokens,
        )  # fmt: skip
        t0 = time.perf_counter()
        rows = src.fetch_rows(plan, np.arange(plan.n_windows))
        fetch_s = time.perf_counter() - t0
        status = np.array([int(r.status) for r in rows])
        end = np.array([r.end for r in rows], np.int64)
        cov = compute_coverage(
            plan,
            contig_index=plan.contig_index,
            start=plan.start,
            end=end,
            strand=plan.strand,
            haplotype=plan.haplotype,
            status=status,
        )
        codes, n = np.unique(status, return_counts=True)
        counts = {WindowStatus(int(c)).name: int(k) for c, k in zip(codes, n, strict=True)}
        print(f"{label}: {plan.n_windows:,} windows (fetched in {fetch_s:.1f} s), "
              f"statuses {counts}")  # fmt: skip
        print("  " + format_coverage(cov))


if __name__ == "__main__":
    main()
