"""Driver cost of planning a scoring run, by VCF size: planning time, driver peak RSS, the
size of the pickled job that Ray ships to every actor, and an actor's peak RSS for one unit.

Two plans: "stream" (an indexed VCF: the driver keeps unit boundaries, each actor reads its
unit's rows) and "whole" (the whole variant table and its windows in the job, the path of
an unindexed VCF). The actor figure is a fresh process that unpickles the job and builds
one middle unit's rows and windows (`ScoreJob.unit_table`), without loading the model.

A synthetic bgzipped, tabix-indexed VCF of N biallelic SNVs on the bundled chr20 slice
(REF from the FASTA; positions step through the slice, a different ALT on each pass, so up
to ~5.8 M rows are distinct and later ones are duplicate records, kept with a status). Each
size is planned in a fresh process so its peak RSS is its own.

    .venv/bin/python benchmarks/bench_score_plan.py --variants 100000,1000000 --modes stream,whole
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


def peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure_actor(job_file: Path) -> dict:
    """An actor's side: unpickle the job, build one middle unit's rows and windows."""
    t0 = time.perf_counter()
    job = pickle.loads(job_file.read_bytes())
    unit = job.n_units() // 2
    table, windows, off = job.unit_table(unit)
    assert windows.status[off : off + job.unit_rows(unit)].shape[0] == job.unit_rows(unit)
    return {"actor_s": round(time.perf_counter() - t0, 2), "actor_peak_rss_MB": peak_rss_mb()}


def measure(vcf: Path, out: Path, mode: str, job_file: Path) -> dict:
    from ntscale.config import ScoreConfig, build_config
    from ntscale.runner.score_job import ScoreJob

    cfg = build_config(
        ScoreConfig,
        {"fasta": str(FASTA), "vcf": str(vcf), "model": str(MODEL), "out": str(out),
         "window_bp": 300, "unit_variants": 256, "dtype": "fp32", "progress": False},
    )  # fmt: skip
    t0 = time.perf_counter()
    job = ScoreJob.plan_from_config(cfg, stream=mode == "stream")
    plan_s = time.perf_counter() - t0
    shipped = pickle.dumps(job, protocol=5)
    job_file.write_bytes(shipped)
    return {
        "rows": job.n_variants,
        "plan_s": round(plan_s, 1),
        "driver_peak_rss_MB": peak_rss_mb(),
        "job_pickle_MB": round(len(shipped) / 1e6, 3),
    }


def run_one(*args: str) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True,
        env=os.environ,
    )  # fmt: skip
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="100000,1000000")
    p.add_argument("--modes", default="stream,whole")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: plan one VCF
    p.add_argument("--actor", help=argparse.SUPPRESS)  # internal: one unit of a pickled job
    args = p.parse_args()
    if args.one:
        vcf, out, mode, job_file = args.one.split(",")
        print(json.dumps(measure(Path(vcf), Path(out), mode, Path(job_file))))
        return
    if args.actor:
        print(json.dumps(measure_actor(Path(args.actor))))
        return
    print(
        "| variants | plan | VCF.gz MB | plan s | driver peak RSS MB | job pickle (per actor) MB "
        "| actor peak RSS MB (one unit, no model) | actor s (unpickle + one unit) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.variants.split(",")):
            vcf = write_vcf(Path(tmp) / f"v{n}.vcf", n)
            size = vcf.stat().st_size / 1e6
            for mode in args.modes.split(","):
                job_file = Path(tmp) / f"job{n}{mode}.pkl"
                r = run_one("--one", f"{vcf},{tmp}/s{n}{mode}.zarr,{mode},{job_file}")
                a = run_one("--actor", str(job_file))
                job_file.unlink()
                print(f"| {n:,} | {mode} | {size:.0f} | {r['plan_s']} | "
                      f"{r['driver_peak_rss_MB']:,} | {r['job_pickle_MB']} | "
                      f"{a['actor_peak_rss_MB']:,} | {a['actor_s']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
