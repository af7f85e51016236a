"""Cohort scale on a simulated 3,202-genome cohort (issue 22): distinct windows, host, plan RSS.

Make the cohort first (scripts/simulate_cohort.py; ~1.5 min on 2 cores):

    python scripts/simulate_cohort.py --fasta 20.fa.gz --start 60000 --length 5000000 \\
        --samples 3202 --seed 22 --out /tmp/cohort/sim
    python benchmarks/bench_cohort.py --cohort /tmp/cohort/sim --fasta 20.fa.gz \\
        --json benchmarks/results/cohort.json

Parts (each one JSON section):
1. `distinct`: per haplotype-run window (12,222 bp, `ntscale embed --vcf`'s default for
   NT-v2) over the whole simulated stretch, the number of distinct haplotype sequences at
   the first 300, 1,000 and 3,202 samples. Counted without ntscale's grouping: the window's
   allele matrix [haplotypes, records] from the VCZ, `numpy.unique(axis=0)`. The simulated
   records are SNVs (multi-allelic included) at distinct positions with distinct alleles,
   so distinct allele rows <=> distinct sequences; `--check-every` windows are also built
   as byte strings (reference with every haplotype's alleles written in) and their distinct
   strings counted, which must agree.
2. `host`: genotypes on disk -> token batch of one window with all haplotypes, one process:
   `reader.query` (VCF, BCF via cyvcf2; VCZ via zarr) -> `group_haplotypes`
   (genome/hap_patterns.py) -> one `build_haplotype` per pattern -> `encode_batch` padded
   to 2,048 tokens; windows/s per CPU second (process time) and per wall second.
2b. `worker` (not in the default parts): the same windows through the cohort worker's own
   host path (`WindowSource.fetch_haplotype_patterns` -> `distinct_tokens` -> batch).
2c. `device_rows` (not in the default parts): device rows run / useful rows of the
   worker's batches over `--rows-windows` windows at 1, 7 and 64 (the default) windows
   per unit, at the batch table's CPU and GPU batch sizes (issue 28).
3. `plan_rss`: peak RSS and wall time of a fresh process that plans an embed job
   (`EmbedJob.plan_from_config`) over the whole FASTA contig with the first 300 and with
   all 3,202 samples (the plan's rows: window x haplotype before the cohort planner,
   genomic windows after it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ntscale.genome import FastaSource, HaplotypePolicy, open_variant_reader  # noqa: E402
from ntscale.genome.hap_patterns import group_haplotypes  # noqa: E402
from ntscale.genome.haplotypes import build_haplotype, check_ref  # noqa: E402
from ntscale.genome.windows import default_window_bp  # noqa: E402
from ntscale.tokenizer import get_tokenizer  # noqa: E402

MAX_TOKENS = 2048
FORMATS = {"vcf": ".vcf.gz", "bcf": ".bcf", "vcz": ".vcz"}
WINDOW_BP = default_window_bp(MAX_TOKENS, reserve_tokens=10)  # 12,222: embed --vcf default


def windows(summary: dict) -> list[tuple[int, int]]:
    """Haplotype-run windows tiling the simulated stretch."""
    s0 = summary["spec"]["start"]
    e0 = s0 + summary["spec"]["length"]
    return [(s, min(s + WINDOW_BP, e0)) for s in range(s0, e0, WINDOW_BP)]


def allele_rows(gt: np.ndarray, n_samples: int) -> np.ndarray:
    """[2 n, R] alleles of the first n samples' haplotypes (h = 2 sample + phase)."""
    g = gt[:, :n_samples, :]
    return g.transpose(1, 2, 0).reshape(2 * n_samples, g.shape[0])


def distinct_strings(ref: str, start: int, records, gt: np.ndarray, n: int) -> int:
    """Distinct window sequences, built as bytes (SNV records only) and hashed."""
    base = np.frombuffer(ref.encode(), np.uint8)
    rows = allele_rows(gt, n)
    seen = set()
    alleles = [np.frombuffer(("".join([r.ref, *r.alts])).encode(), np.uint8) for r in records]
    cols = np.array([r.start - start for r in records], np.int64)
    for h in range(rows.shape[0]):
        seq = base.copy()
        for j, a in enumerate(rows[h]):
            if a > 0:
                seq[cols[j]] = alleles[j][a]
        seen.add(hashlib.blake2b(seq.tobytes(), digest_size=16).digest())
    return len(seen)


def part_distinct(cohort: Path, fasta: Path, summary: dict, sizes: list[int], every: int) -> dict:
    reader = open_variant_reader(cohort.with_name(cohort.name + ".vcz"))
    fa = FastaSource(fasta)
    contig = summary["spec"]["contig"]
    per: dict[int, list[int]] = {n: [] for n in sizes}
    records_per_window, checked = [], 0
    for k, (s, e) in enumerate(windows(summary)):
        v = reader.query(contig, s, e)
        records_per_window.append(len(v.records))
        assert all(len(r.ref) == 1 and all(len(a) == 1 for a in r.alts) for r in v.records)
        for n in sizes:
            rows = allele_rows(v.gt, n)
            count = 1 if rows.shape[1] == 0 else int(np.unique(rows, axis=0).shape[0])
            per[n].append(count)
            if every and k % every == 0:
                got = distinct_strings(fa.fetch(contig, s, e), s, v.records, v.gt, n)
                assert got == count, (s, n, got, count)
                checked += 1
    out = {
        "window_bp": WINDOW_BP,
        "windows": len(records_per_window),
        "checked_by_strings": checked,
    }
    out["records_per_window"] = _stats(records_per_window)
    for n in sizes:
        c = np.array(per[n])
        out[str(n)] = {**_stats(c), "haplotypes": 2 * n, "total_distinct": int(c.sum())}
    return out


def _stats(x) -> dict:
    a = np.asarray(x, np.float64)
    return {
        "mean": round(float(a.mean()), 1),
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "max": int(a.max()),
        "min": int(a.min()),
    }


def prepare_window(reader, fa: FastaSource, tok, contig: str, s: int, e: int) -> tuple[int, int]:
    """Genotypes -> patterns -> one sequence per pattern -> padded token batch [P, T]."""
    v = reader.query(contig, s, e)
    ref = fa.fetch(contig, s, e)
    policy = HaplotypePolicy()
    ok = check_ref(v, ref, s, policy=policy, fasta=str(fa.path))
    groups = group_haplotypes(v.gt, v.phased)
    seqs = []
    for h in groups.first.tolist():
        sample, phase = divmod(h, 2)
        hap = build_haplotype(
            v,
            ok,
            sample,
            phase,
            sample=reader.samples[sample],
            ref_seq=ref,
            ref_start=s,
            start=s,
            end=e,
            policy=policy,
        )
        seqs.append(hap.sequence)
    batch = tok.encode_batch(seqs, MAX_TOKENS)
    return groups.n_patterns, int(batch.shape[0])


def worker_window(src, tok, contig: str, s: int, e: int) -> int:
    """The cohort worker's host path for one window (runner/embed_worker.py, `_cohort_unit`):
    `WindowSource.fetch_haplotype_patterns` -> `distinct_tokens` -> padded [P, 2,048] batch."""
    from ntscale.tokenizer.distinct import distinct_tokens

    seqs, _ = src.fetch_haplotype_patterns(contig, s, e)
    distinct = distinct_tokens(tok, [x.sequence for x in seqs])
    batch = np.full((len(distinct.ids), MAX_TOKENS), tok.pad_id, np.int32)
    for k, ids in enumerate(distinct.ids):
        batch[k, : ids.shape[0]] = ids
    return len(distinct.ids)


def part_worker(
    cohort: Path, fasta: Path, summary: dict, n_windows: int, offset: int, extra: Path | None
) -> dict:
    """Windows per CPU second of the worker's own host path, per input format (and
    `extra`, e.g. bench_cohort_gvl.py's biallelic split VCF, as "host_vcf")."""
    from ntscale.genome import WindowSource

    tok = get_tokenizer("v2")
    contig = summary["spec"]["contig"]
    chosen = windows(summary)[offset : offset + n_windows]
    out: dict = {"windows": len(chosen), "first_window": list(chosen[0])}
    inputs = {f: cohort.with_name(cohort.name + x) for f, x in FORMATS.items()}
    if extra is not None:
        inputs["host_vcf"] = extra
    for fmt, path in inputs.items():
        src = WindowSource(fasta, tokenizer=tok, max_tokens=MAX_TOKENS, vcf_path=path)
        distinct = 0
        t_cpu, t_wall = time.process_time(), time.perf_counter()
        for s, e in chosen:
            distinct += worker_window(src, tok, contig, s, e)
        cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
        out[fmt] = {
            "windows_per_cpu_s": round(len(chosen) / cpu, 2),
            "windows_per_wall_s": round(len(chosen) / wall, 2),
            "cpu_s_per_window": round(cpu / len(chosen), 4),
            "distinct_per_window": round(distinct / len(chosen), 1),
        }
        print("worker", fmt, json.dumps(out[fmt]), flush=True)
    return out


def part_device_rows(
    cohort: Path, fasta: Path, summary: dict, n_windows: int, offset: int, unit_sizes: list[int]
) -> dict:
    """Device rows run / useful rows of the cohort worker's batches (issue 28).

    The distinct token sequences of `n_windows` consecutive windows come from the worker's
    host path; they are cut into units of u windows and each unit's batches are made by
    the worker's own `EmbedWorker._batches` (buckets by length, short last batch padded
    to a power of two) at the batch sizes of `runner/batch_table.py` for 2,048-token
    windows. No forward pass runs: rows are counted, not timed.
    """
    from types import SimpleNamespace

    from ntscale.genome import WindowSource
    from ntscale.runner.batch_table import table_batch_size
    from ntscale.runner.embed_worker import EmbedWorker
    from ntscale.tokenizer.distinct import distinct_tokens

    tok = get_tokenizer("v2")
    contig = summary["spec"]["contig"]
    chosen = windows(summary)[offset : offset + n_windows]
    src = WindowSource(
        fasta, tokenizer=tok, max_tokens=MAX_TOKENS, vcf_path=cohort.with_name(cohort.name + ".vcz")
    )
    per_window = [
        [x.sequence for x in src.fetch_haplotype_patterns(contig, s, e)[0]] for s, e in chosen
    ]
    sizes = {
        "cpu": table_batch_size(platform="cpu", dtype="fp32", tokens=MAX_TOKENS),
        "gpu_bf16": table_batch_size(platform="gpu", dtype="bf16", tokens=MAX_TOKENS),
        "gpu_fp32": table_batch_size(platform="gpu", dtype="fp32", tokens=MAX_TOKENS),
    }
    out: dict = {"windows": len(chosen), "batch_sizes": sizes, "units": {}}
    for u in unit_sizes:
        row: dict = {}
        for name, b in sizes.items():
            fake = SimpleNamespace(
                batch_size=b, tokenizer=tok, job=SimpleNamespace(max_tokens=MAX_TOKENS)
            )
            run = useful = 0
            for k in range(0, len(per_window), u):
                seqs = [x for w in per_window[k : k + u] for x in w]
                ids = distinct_tokens(tok, seqs).ids
                run += sum(batch.shape[0] for _, batch in EmbedWorker._batches(fake, ids))
                useful += len(ids)
            row[name] = {
                "device_rows": run,
                "useful_rows": useful,
                "device_rows_per_useful": round(run / useful, 4),
            }
        out["units"][str(u)] = row
        print("device_rows unit_windows", u, json.dumps(row), flush=True)
    return out


def part_host(
    cohort: Path, fasta: Path, summary: dict, n_windows: int, offset: int, extra: Path | None
) -> dict:
    fa = FastaSource(fasta)
    tok = get_tokenizer("v2")
    contig = summary["spec"]["contig"]
    chosen = windows(summary)[offset : offset + n_windows]
    out = {"windows": len(chosen), "first_window": list(chosen[0]), "window_bp": WINDOW_BP}
    inputs = {f: cohort.with_name(cohort.name + x) for f, x in FORMATS.items()}
    if extra is not None:
        inputs["host_vcf"] = extra  # e.g. bench_cohort_gvl.py's biallelic split
    for fmt, path in inputs.items():
        reader = open_variant_reader(path)  # a fresh reader per pass: no warm chunk cache
        t0 = time.process_time()
        for s, e in chosen:
            reader.query(contig, s, e)
        read_cpu = time.process_time() - t0
        reader = open_variant_reader(path)
        patterns = 0
        t_cpu, t_wall = time.process_time(), time.perf_counter()
        for s, e in chosen:
            patterns += prepare_window(reader, fa, tok, contig, s, e)[0]
        cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
        out[fmt] = {
            "windows_per_cpu_s": round(len(chosen) / cpu, 2),
            "windows_per_wall_s": round(len(chosen) / wall, 2),
            "cpu_s_per_window": round(cpu / len(chosen), 4),
            "read_only_cpu_s_per_window": round(read_cpu / len(chosen), 4),
            "distinct_per_window": round(patterns / len(chosen), 1),
            "distinct_per_cpu_s": round(patterns / cpu, 1),
        }
        print(fmt, json.dumps(out[fmt]), flush=True)
    return out


_PLAN = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from ntscale.config import EmbedConfig, build_config
from ntscale.runner.embed_job import EmbedJob
t = time.perf_counter()
cfg = build_config(EmbedConfig, {cfg!r})
job = EmbedJob.plan_from_config(cfg)
haps = len(getattr(job, "haplotype_names", ()))
print(json.dumps({{"plan_windows": int(job.plan.n_windows), "haplotypes": haps,
    "plan_s": round(time.perf_counter() - t, 2),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def part_plan_rss(cohort: Path, fasta: Path, sizes: list[int], out_dir: Path) -> dict:
    vcf = cohort.with_name(cohort.name + ".vcf.gz")
    names = [
        line.split("\t")[0]
        for line in cohort.with_name(cohort.name + ".samples.tsv").read_text().splitlines()[1:]
    ]
    res = {}
    for n in sizes:
        cfg = {
            "fasta": str(fasta),
            "model": str(ROOT / "examples" / "checkpoints" / "nt-v2-tiny"),
            "vcf": str(vcf),
            "samples": names[:n],
            "out": str(out_dir / f"plan{n}.zarr"),
            "progress": False,
        }
        code = _PLAN.format(root=str(ROOT), cfg=cfg)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        res[str(n)] = json.loads(done.stdout.strip().splitlines()[-1])
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, required=True, help="simulate_cohort.py --out prefix")
    ap.add_argument("--fasta", type=Path, required=True, help="the FASTA the cohort was made on")
    ap.add_argument("--sizes", default="300,1000,3202")
    ap.add_argument(
        "--check-every", type=int, default=25, help="also count strings every k windows"
    )
    ap.add_argument("--host-windows", type=int, default=20)
    ap.add_argument("--host-offset", type=int, default=100, help="first window of the host part")
    ap.add_argument("--parts", default="distinct,host,plan_rss")
    ap.add_argument("--rows-windows", type=int, default=128, help="windows of the device_rows part")
    ap.add_argument("--host-vcf", type=Path, help="also time this VCF (same windows)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    summary = json.loads(args.cohort.with_name(args.cohort.name + ".json").read_text())
    sizes = [int(x) for x in args.sizes.split(",")]
    parts = args.parts.split(",")
    result: dict = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "cohort": {
            k: summary[k] for k in ("spec", "populations", "records", "multiallelic", "not_acgt")
        },
    }
    if "distinct" in parts:
        result["distinct"] = part_distinct(
            args.cohort, args.fasta, summary, sizes, args.check_every
        )
        print(json.dumps(result["distinct"]), flush=True)
    if "host" in parts:
        result["host"] = part_host(
            args.cohort, args.fasta, summary, args.host_windows, args.host_offset, args.host_vcf
        )
        print(json.dumps(result["host"]), flush=True)
    if "worker" in parts:
        result["worker"] = part_worker(
            args.cohort, args.fasta, summary, args.host_windows, args.host_offset, args.host_vcf
        )
    if "device_rows" in parts:
        result["device_rows"] = part_device_rows(
            args.cohort, args.fasta, summary, args.rows_windows, args.host_offset, [1, 7, 64]
        )
    if "plan_rss" in parts:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            result["plan_rss"] = part_plan_rss(
                args.cohort, args.fasta, [sizes[0], sizes[-1]], Path(tmp)
            )
        print(json.dumps(result["plan_rss"]), flush=True)
    result["load_after"] = round(os.getloadavg()[0], 1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
