"""Cohort haplotype runs: forward passes saved by running each distinct window once.

    .venv/bin/python benchmarks/bench_dedup.py                      # bundled 30 kb slice
    .venv/bin/python benchmarks/bench_dedup.py --vcf /path/reference.vcf.gz \\
        --region 20:1000000-4000000 --e2e-windows 3

1. Host side, every window of the region (12,252 bp, the haplotype-run default for NT-v2):
   the rows (window x haplotype) of each window are prepared the per-row way (fetch_rows +
   encode_batch of every row) and the deduplicating way (fetch_rows + distinct_tokens), timed
   separately; reported: rows, distinct sequences, distinct per window (median, p90, max),
   and how the distinct count grows with the number of samples (first n samples).
2. End to end with the tiny model on CPU: `run_local` on the first `--e2e-windows` windows,
   once with dedup and once without (fresh stores, compile included in both), and a check
   that the two stores hold the same bytes.
3. A projection for a 3,202-sample chr20 run at the NT-v2-500M rate (~200 windows/s on an
   H100, docs/benchmarks.md): distinct windows extrapolated from the sample-growth fit.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ntscale.config import EmbedConfig, build_config
from ntscale.genome import (
    WindowSource,
    default_window_bp,
    haplotype_names,
    plan_windows,
    vcf_samples,
    with_haplotypes,
)
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.tokenizer import get_tokenizer
from ntscale.tokenizer.distinct import distinct_tokens
from ntscale.types import Region

ROOT = Path(__file__).resolve().parents[1]
MAX_TOKENS = 2048
CHR20_BP = 63_025_520  # GRCh37 chromosome 20
COHORT_SAMPLES = 3_202  # 1000 Genomes high-coverage cohort
V2_500M_WINDOWS_PER_S = 200.0  # one H100, 12 kb windows (docs/benchmarks.md, DESIGN.md)


def parse_region(text: str) -> Region:
    contig, span = text.replace(",", "").split(":")
    start, end = (int(x) for x in span.split("-"))
    return Region(contig, start, end)


def host_side(fasta: Path, vcf: Path, region: Region, window_bp: int, steps: list[int]) -> dict:
    """Prepare every row per row and per distinct sequence; count distinct windows."""
    samples = vcf_samples(str(vcf), None)
    names = haplotype_names(samples)
    tok = get_tokenizer("v2")
    src = WindowSource(fasta, tokenizer=tok, max_tokens=MAX_TOKENS, vcf_path=vcf)
    plan = plan_windows(
        src.contigs, window_bp=window_bp, stride_bp=window_bp, regions=[region], last_window="drop"
    )
    hplan = with_haplotypes(plan, len(names), names)
    h = len(names)
    fetch_s = per_row_s = distinct_s = 0.0
    distinct, growth = [], {n: 0 for n in steps}
    for w in range(plan.n_windows):
        rows = np.arange(w * h, (w + 1) * h)
        t0 = time.perf_counter()
        seqs = [s.sequence for s in src.fetch_rows(hplan, rows)]  # haplotypes built once
        t1 = time.perf_counter()
        tok.encode_batch(seqs)  # per row: every row tokenized
        t2 = time.perf_counter()
        d = distinct_tokens(tok, seqs)  # dedup: equal strings tokenized once, digests
        t3 = time.perf_counter()
        fetch_s += t1 - t0
        per_row_s += t2 - t1
        distinct_s += t3 - t2
        distinct.append(len(d.ids))
        for n in steps:  # the first n samples' haplotypes
            growth[n] += len(np.unique(d.inverse[: 2 * n]))
    n_rows = plan.n_windows * h
    counts = np.asarray(distinct)
    return {
        "samples": len(samples),
        "windows": plan.n_windows,
        "rows": n_rows,
        "distinct": int(counts.sum()),
        "median": float(np.median(counts)),
        "p90": float(np.percentile(counts, 90)),
        "max": int(counts.max()),
        "fetch_rows_per_s": n_rows / fetch_s,
        "per_row_rows_per_s": n_rows / (fetch_s + per_row_s),
        "dedup_rows_per_s": n_rows / (fetch_s + distinct_s),
        "dedup_distinct_per_s": counts.sum() / (fetch_s + distinct_s),
        "tokenize_per_row_s": per_row_s,
        "tokenize_dedup_s": distinct_s,
        "growth": growth,
    }


def end_to_end(fasta: Path, vcf: Path, region: Region, window_bp: int, *, windows: int, batch: int):
    """run_local with and without dedup on the first `windows` windows of the region."""
    samples = vcf_samples(str(vcf), None)
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench_dedup") as tmp:
        bed = Path(tmp) / "r.bed"
        bed.write_text(f"{region.contig}\t{region.start}\t{region.start + windows * window_bp}\n")
        for dedup in (True, False):
            cfg = build_config(
                EmbedConfig,
                {
                    "fasta": str(fasta),
                    "vcf": str(vcf),
                    "model": str(ROOT / "examples" / "checkpoints" / "nt-v2-tiny"),
                    "out": str(Path(tmp) / f"dedup{int(dedup)}.zarr"),
                    "regions": str(bed),
                    "window_bp": window_bp,
                    "unit_windows": 2 * len(samples),  # one window's haplotypes per unit
                    "batch_size": batch,
                    "dtype": "fp32",
                    "progress": False,
                    "dedup": dedup,
                },
            )
            t0 = time.perf_counter()
            run = run_local(EmbedJob.plan_from_config(cfg))["run"]
            run["wall_seconds"] = time.perf_counter() - t0
            out[dedup] = run
        same = _same_store(Path(tmp) / "dedup1.zarr", Path(tmp) / "dedup0.zarr")
        shutil.rmtree(tmp, ignore_errors=True)
    return out, same


def _same_store(a: Path, b: Path) -> bool:
    def files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and str(p.relative_to(root)) != "zarr.json"  # root attrs: times
        }

    return files(a) == files(b)


def growth_exponent(growth: dict[int, int]) -> float:
    """Least-squares b of distinct = a * samples^b over the sample steps."""
    n = np.log(np.array(sorted(growth), float))
    d = np.log(np.array([growth[k] for k in sorted(growth)], float))
    return float(np.polyfit(n, d, 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fasta", type=Path, default=ROOT / "examples/data/chr20_2mb.fa.gz")
    ap.add_argument("--vcf", type=Path, default=ROOT / "tests/data/dedup/chr20_300.vcf.gz")
    ap.add_argument("--region", default="20:1100000-1130000")
    ap.add_argument("--window", type=int, default=default_window_bp(MAX_TOKENS, reserve_tokens=5))
    ap.add_argument("--e2e-windows", type=int, default=2, help="0: host side only")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", default="25,50,100,200,300", help="sample counts for the growth")
    args = ap.parse_args()
    region = parse_region(args.region)
    steps = [int(x) for x in args.steps.split(",")]

    host = host_side(args.fasta, args.vcf, region, args.window, steps)
    print(
        f"host: {host['samples']} samples, {host['windows']} windows of {args.window} bp, "
        f"{host['rows']} rows, {host['distinct']} distinct "
        f"({host['rows'] / host['distinct']:.2f}x fewer forward passes); distinct per window "
        f"median {host['median']:.0f}, p90 {host['p90']:.0f}, max {host['max']}"
    )
    print(
        f"host prepare (fetch + tokenize): per row {host['per_row_rows_per_s']:.0f} rows/s; "
        f"dedup {host['dedup_rows_per_s']:.0f} rows/s = {host['dedup_distinct_per_s']:.0f} "
        f"distinct/s (fetch alone {host['fetch_rows_per_s']:.0f} rows/s; tokenize "
        f"{host['tokenize_per_row_s']:.1f} s per row vs {host['tokenize_dedup_s']:.1f} s dedup)"
    )
    b = growth_exponent(host["growth"])
    print(f"growth (samples -> distinct): {host['growth']}  fit exponent b = {b:.3f}")

    if args.e2e_windows > 0:
        runs, same = end_to_end(
            args.fasta, args.vcf, region, args.window, windows=args.e2e_windows, batch=args.batch
        )
        for dedup, r in runs.items():
            print(
                f"e2e dedup={dedup}: {r['windows_run']} rows, {r['forward_windows']} forward "
                f"passes, {r['wall_seconds']:.1f} s wall ({r['seconds']:.1f} s run, "
                f"{r['model_seconds']:.1f} s model): {r['windows_run'] / r['seconds']:.1f} "
                f"rows/s, {r['forward_windows'] / r['seconds']:.1f} forward/s"
            )
        speed_up = runs[False]["seconds"] / runs[True]["seconds"]
        print(f"e2e speed-up {speed_up:.2f}x; stores equal: {same}")

    windows = math.ceil(CHR20_BP / args.window)
    rows = windows * 2 * COHORT_SAMPLES
    per_window_300 = host["distinct"] / host["windows"]
    per_window = per_window_300 * (COHORT_SAMPLES / host["samples"]) ** b
    hours = rows / V2_500M_WINDOWS_PER_S / 3600
    hours_dedup = windows * per_window / V2_500M_WINDOWS_PER_S / 3600
    print(
        f"projection chr20 x {COHORT_SAMPLES} samples ({windows} windows, {rows:,} rows) at "
        f"{V2_500M_WINDOWS_PER_S:.0f} windows/s: {hours:.1f} GPU-hours per row; with dedup "
        f"~{per_window:.0f} distinct per window (extrapolated) -> {hours_dedup:.1f} GPU-hours "
        f"({hours / hours_dedup:.1f}x)"
    )


if __name__ == "__main__":
    main()
