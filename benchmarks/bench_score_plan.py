"""Driver cost of planning a scoring run, by VCF size: planning time, driver peak RSS and the
size of the pickled job that Ray ships to every actor (which holds the whole variant table).

A synthetic bgzipped, tabix-indexed VCF of N biallelic SNVs on the bundled chr20 slice
(REF from the FASTA; positions step through the slice, a different ALT on each pass, so up
to ~5.8 M rows are distinct and later ones are duplicate records, kept with a status). Each
size is planned in a fresh process so its peak RSS is its own.

    .venv/bin/python benchmarks/bench_score_plan.py --variants 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASTA = ROOT / "examples" / "data" / "chr20_2mb.fa.gz"
MODEL = ROOT / "examples" / "checkpoints" / "nt-v2-tiny"
FIRST, SPAN = 60_001, 1_900_000  # past chr20's leading N run


def write_vcf(path: Path, n: int) -> Path:
    import pysam

    seq = pysam.FastaFile(str(FASTA)).fetch("20").upper()
    alts = {"A": "CGT", "C": "GTA", "G": "TAC", "T": "ACG", "N": "ACG"}
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n##contig=<ID=20,length=2000000>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        lines = []
        for i in range(n):
            pos = FIRST + i % SPAN
            ref = seq[pos - 1]
            lines.append(f"20\t{pos}\t.\t{ref}\t{alts[ref][(i // SPAN) % 3]}\t.\tPASS\t.\n")
            if len(lines) == 100_000:
                fh.writelines(lines)
                lines = []
        fh.writelines(lines)
    # Positions wrap around every SPAN records: sort so that tabix can index the file.
    sorted_path = path.with_suffix(".sorted.vcf")
    subprocess.run(
        f"(grep '^#' {path}; grep -v '^#' {path} | sort -k2,2n -s) > {sorted_path}",
        shell=True, check=True,
    )  # fmt: skip
    path.unlink()
    return Path(pysam.tabix_index(str(sorted_path), preset="vcf", force=True))


def measure(vcf: Path, out: Path) -> dict:
    from ntscale.config import ScoreConfig, build_config
    from ntscale.runner.score_job import ScoreJob

    cfg = build_config(
        ScoreConfig,
        {"fasta": str(FASTA), "vcf": str(vcf), "model": str(MODEL), "out": str(out),
         "window_bp": 300, "unit_variants": 256, "dtype": "fp32", "progress": False},
    )  # fmt: skip
    t0 = time.perf_counter()
    job = ScoreJob.plan_from_config(cfg)
    plan_s = time.perf_counter() - t0
    shipped = len(pickle.dumps(job, protocol=5))
    return {
        "rows": job.n_variants,
        "plan_s": round(plan_s, 1),
        "driver_peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "job_pickle_MB": round(shipped / 1e6, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="100000,1000000")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one VCF
    args = p.parse_args()
    if args.one:
        vcf, out = args.one.split(",")
        print(json.dumps(measure(Path(vcf), Path(out))))
        return
    print("| variants | VCF.gz MB | plan s | driver peak RSS MB | job pickle (per actor) MB |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.variants.split(",")):
            vcf = write_vcf(Path(tmp) / f"v{n}.vcf", n)
            res = subprocess.run(
                [sys.executable, __file__, "--one", f"{vcf},{tmp}/s{n}.zarr"],
                capture_output=True, text=True, check=True, env=os.environ,
            )  # fmt: skip
            r = json.loads(res.stdout.strip().splitlines()[-1])
            size = vcf.stat().st_size / 1e6
            print(f"| {n:,} | {size:.0f} | {r['plan_s']} | {r['driver_peak_rss_MB']:,} | "
                  f"{r['job_pickle_MB']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
