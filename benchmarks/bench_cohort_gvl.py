"""GenVarLoader building the haplotype windows of bench_cohort.py's host part, for comparison.

Runs in its own virtual environment (GenVarLoader pulls polars, numba, awkward, ...; it is
not an ntscale dependency) and imports nothing from ntscale:

    python -m venv /tmp/gvl && /tmp/gvl/bin/pip install genvarloader
    GVL_NUM_THREADS=1 /tmp/gvl/bin/python benchmarks/bench_cohort_gvl.py \\
        --cohort /tmp/cohort/sim --fasta /tmp/ref/20.fa.gz --json benchmarks/results/cohort_gvl.json

GenVarLoader wants biallelic records, so the script first writes `<out>/split.vcf.gz`: the
cohort's records overlapping the chosen windows, multi-allelic ones split into one record
per ALT (a haplotype carries ALT k in record k); bench_cohort.py `--host-vcf` then times
ntscale on that same file. GenVarLoader writes a cache next to the FASTA
(`<fasta>.gvlfa`): pass a copy of the FASTA in a scratch folder. Timed separately:
`gvl.write` (VCF -> GVL dataset: a one-off conversion per cohort and region set) and
reconstructing every haplotype (6,404 at 3,202 samples) of each window from the dataset,
one thread. Each window's distinct haplotype strings are counted from GenVarLoader's
output, for a cross-check with ntscale's groups.

Side by side in one run: `--ntscale-python <project venv python>` times ntscale's worker
path (bench_cohort.py --parts worker: VCF, BCF, VCZ and the split VCF) in a child process
just before and just after GenVarLoader's reconstruction, on the same windows and the same
machine load; `--reuse-split` keeps an existing split VCF (writing it takes minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

WINDOW_BP = 12_222  # ntscale embed --vcf's haplotype window for NT-v2 (bench_cohort.py)


def split_vcf(src: Path, out: Path, contig: str, windows: list[tuple[int, int]]) -> int:
    """Records overlapping the windows, multi-allelic ones split per ALT; returns records."""
    import pysam

    n = 0
    with pysam.VariantFile(str(src)) as vin:
        header = vin.header
        with pysam.VariantFile(str(out), "wz", header=header) as vout:
            seen = set()
            for s, e in windows:
                for rec in vin.fetch(contig, s, e):
                    key = (rec.pos, rec.ref, rec.alts)
                    if key in seen:
                        continue
                    seen.add(key)
                    for k, alt in enumerate(rec.alts, start=1):
                        new = vout.new_record(
                            contig=rec.chrom, start=rec.start, alleles=(rec.ref, alt)
                        )
                        for name, call in rec.samples.items():
                            gt = call["GT"]
                            new.samples[name]["GT"] = tuple(int(a == k) for a in gt)
                            new.samples[name].phased = call.phased
                        vout.write(new)
                        n += 1
    pysam.tabix_index(str(out), preset="vcf", csi=True, force=True)
    return n


def ntscale_worker(py: str, args: argparse.Namespace, split: Path) -> dict:
    """bench_cohort.py --parts worker in the project's environment (a child process)."""
    script = Path(__file__).resolve().with_name("bench_cohort.py")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "w.json"
        cmd = [py, str(script), "--cohort", str(args.cohort), "--fasta", str(args.fasta)]
        cmd += ["--parts", "worker", "--host-windows", str(args.windows)]
        cmd += ["--host-offset", str(args.offset), "--host-vcf", str(split), "--json", str(out)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        got = json.loads(out.read_text())
    return {"load": got["machine"].rsplit("load ", 1)[-1], **got["worker"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, required=True)
    ap.add_argument("--fasta", type=Path, required=True)
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--offset", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("/tmp/cohort/gvl"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--ntscale-python", help="also time ntscale's worker path with this python")
    ap.add_argument("--reuse-split", action="store_true", help="keep <out>/split.vcf.gz")
    args = ap.parse_args()
    import genoray
    import genvarloader as gvl
    import polars as pl

    summary = json.loads(args.cohort.with_name(args.cohort.name + ".json").read_text())
    contig = summary["spec"]["contig"]
    s0, n_bp = summary["spec"]["start"], summary["spec"]["length"]
    all_windows = [(s, min(s + WINDOW_BP, s0 + n_bp)) for s in range(s0, s0 + n_bp, WINDOW_BP)]
    chosen = all_windows[args.offset : args.offset + args.windows]
    args.out.mkdir(parents=True, exist_ok=True)
    split = args.out / "split.vcf.gz"
    t = time.perf_counter()
    if args.reuse_split and split.is_file():
        import pysam

        with pysam.VariantFile(str(split)) as v:
            n_records = sum(1 for _ in v)
    else:
        n_records = split_vcf(
            args.cohort.with_name(args.cohort.name + ".vcf.gz"), split, contig, chosen
        )
    split_s = time.perf_counter() - t
    sides = {}
    if args.ntscale_python:
        sides["ntscale_before"] = ntscale_worker(args.ntscale_python, args, split)
    bed = pl.DataFrame(
        {
            "chrom": [contig] * len(chosen),
            "chromStart": [s for s, _ in chosen],
            "chromEnd": [e for _, e in chosen],
        }
    )
    ds_path = args.out / "windows.gvl"
    c0, w0 = time.process_time(), time.perf_counter()
    gvl.write(ds_path, bed, variants=genoray.VCF(split), overwrite=True)
    write_cpu, write_wall = time.process_time() - c0, time.perf_counter() - w0
    ds = gvl.Dataset.open(ds_path, reference=args.fasta).with_seqs("haplotypes")
    ds = ds.with_len(WINDOW_BP)
    ds[0]  # compile / warm (numba), not timed
    c0, w0 = time.process_time(), time.perf_counter()
    for r in range(len(chosen)):
        haps = ds[r]  # [samples, ploidy, length] S1: every haplotype of the window
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if args.ntscale_python:
        sides["ntscale_after"] = ntscale_worker(args.ntscale_python, args, split)
    distinct = []  # counted after the timing: one digest per haplotype string
    for r in range(len(chosen)):
        haps = np.asarray(ds[r])
        rows = np.ascontiguousarray(haps.reshape(-1, haps.shape[-1]))
        distinct.append(
            len({hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows})
        )
    result = {
        "genvarloader": gvl.__version__ if hasattr(gvl, "__version__") else "?",
        "threads": os.environ.get("GVL_NUM_THREADS", "default"),
        "load": round(os.getloadavg()[0], 1),
        "windows": len(chosen),
        "first_window": list(chosen[0]),
        "haplotypes": int(haps.shape[0] * haps.shape[1]),
        "split_records": n_records,
        "split_s": round(split_s, 1),
        "write": {"cpu_s": round(write_cpu, 2), "wall_s": round(write_wall, 2)},
        "reconstruct": {
            "windows_per_cpu_s": round(len(chosen) / cpu, 2),
            "windows_per_wall_s": round(len(chosen) / wall, 2),
            "cpu_s_per_window": round(cpu / len(chosen), 4),
        },
        "distinct_per_window": distinct,
        **sides,
    }
    print(json.dumps(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
