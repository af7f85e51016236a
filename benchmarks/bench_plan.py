"""Planning a GRCh38-sized genome: `ntscale embed --dry-run` time and peak memory.

    .venv/bin/python benchmarks/bench_plan.py [--strands both] [--repeats 3]

A synthetic genome with GRCh38's 24 primary chromosome lengths (3.1 Gbp) is described by
a .fai and an N-run index only (the FASTA file itself is empty: planning never reads
sequence, and the index is taken from the cache, keyed by the fake FASTA's identity):
telomere gaps of 10 kb at both ends, a 3 Mbp centromere gap, 30 gaps of 100-50,000 bp and
100 isolated runs of 1-6 N per chromosome (~3,200 runs). Measured in a fresh process
each time (the CLI as a user runs it): wall time and peak RSS of `ntscale embed --dry-run`
with the bundled tiny checkpoint (same 2,048-token limit as every NT-v2 model), and, in
this process after jax is imported, the planning alone (`plan_from_config` + the dry-run
description) and the end-of-run coverage computation over the full plan.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ntscale.genome import FastaSource
from ntscale.genome.gaps import GapIndex, _save, cache_paths, fasta_identity

# GRCh38 primary assembly chromosome lengths (bp).
GRCH38 = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555,
    "chr5": 181_538_259, "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636,
    "chr9": 138_394_717, "chr10": 133_797_422, "chr11": 135_086_622, "chr12": 133_275_309,
    "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189, "chr16": 90_338_345,
    "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616, "chr20": 64_444_167,
    "chr21": 46_709_983, "chr22": 50_818_468, "chrX": 156_040_895, "chrY": 57_227_415,
}  # fmt: skip
REPO = Path(__file__).resolve().parents[1]


def synthetic_runs(length: int, rng: np.random.Generator) -> np.ndarray:
    """[R, 2] disjoint N runs of one chromosome (see the module docstring)."""
    runs = [(0, 10_000), (length - 10_000, length)]
    mid = length // 2
    runs.append((mid - 1_500_000, mid + 1_500_000))
    for _ in range(30):
        s = int(rng.integers(20_000, length - 60_000))
        runs.append((s, s + int(rng.integers(100, 50_001))))
    for _ in range(100):
        s = int(rng.integers(20_000, length - 20_000))
        runs.append((s, s + int(rng.integers(1, 7))))
    runs.sort()
    merged: list[list[int]] = []
    for s, e in runs:  # overlapping random runs are merged, as a scan would find them
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return np.array(merged, np.int64)


def make_genome(folder: Path, cache: Path) -> tuple[Path, int, int]:
    fasta = folder / "grch38_like.fa"
    fasta.write_bytes(b"")
    with open(str(fasta) + ".fai", "w") as fh:
        for name, length in GRCH38.items():
            fh.write(f"{name}\t{length}\t0\t60\t61\n")
    rng = np.random.default_rng(38)
    runs = {name: synthetic_runs(length, rng) for name, length in GRCH38.items()}
    os.environ["NTSCALE_GAP_CACHE"] = str(cache)
    src = FastaSource(fasta)
    index = GapIndex(runs=runs, identity=fasta_identity(src))
    _save(index, cache_paths(fasta)[0])
    return fasta, index.n_runs(), index.total_n_bases()


def time_dry_run(fasta: Path, out: Path, strands: str) -> dict:
    cmd = [
        sys.executable, "-c",
        "import resource, sys, time; t = time.perf_counter(); "
        "from ntscale.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('BENCH', time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)",
        "embed", "--fasta", str(fasta), "--model", str(REPO / "examples/checkpoints/nt-v2-tiny"),
        "--out", str(out), "--strands", strands, "--dry-run", "--json",
    ]  # fmt: skip
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    line = [x for x in r.stderr.splitlines() if x.startswith("BENCH")][-1].split()
    plan = json.loads(r.stdout)
    return {
        "process_wall_s": round(wall, 2),
        "in_process_s": round(float(line[1]), 2),
        "peak_rss_mb": round(int(line[2]) / 1024, 1),
        "windows": plan["windows"],
        "real_bases": plan["real_bases"],
    }


def time_coverage(fasta: Path, strands: str) -> dict:
    from ntscale.config import EmbedConfig, build_config
    from ntscale.genome.coverage import compute_coverage
    from ntscale.runner.embed_job import EmbedJob

    cfg = build_config(
        EmbedConfig,
        {
            "fasta": str(fasta),
            "model": str(REPO / "examples/checkpoints/nt-v2-tiny"),
            "out": "unused.zarr",
            "strands": strands,
        },
    )
    import ntscale.model  # noqa: F401 - imports jax + haiku first: time the planning alone
    from ntscale.runner.plan_report import describe_embed_plan

    t0 = time.perf_counter()
    job = EmbedJob.plan_from_config(cfg)
    describe_embed_plan(job)
    plan_s = time.perf_counter() - t0
    plan = job.plan
    t0 = time.perf_counter()
    cov = compute_coverage(
        plan,
        contig_index=plan.contig_index,
        start=plan.start,
        end=plan.end,
        strand=plan.strand,
        haplotype=plan.haplotype,
        status=np.zeros(plan.n_windows, np.uint8),
    )
    return {
        "plan_and_describe_s": round(plan_s, 2),
        "coverage_s": round(time.perf_counter() - t0, 2),
        "fraction_covered": cov["fraction_covered"],
        "peak_rss_mb_after": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strands", default="both")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fasta, n_runs, n_bases = make_genome(folder, folder / "cache")
        print(f"genome: {len(GRCH38)} contigs, {sum(GRCH38.values()):,} bp, "
              f"{n_runs:,} N runs, {n_bases:,} N bp")  # fmt: skip
        for i in range(args.repeats):
            print("dry run", i + 1, time_dry_run(fasta, folder / "x.zarr", args.strands))
        print("in process, jax imported", time_coverage(fasta, args.strands))


if __name__ == "__main__":
    main()
