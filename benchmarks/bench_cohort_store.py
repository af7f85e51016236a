"""Forward passes, store bytes and wall time of one cohort embedding run, for comparing
checkouts (e.g. main before the cohort store vs after): the bundled 300-sample chr20
slice (tests/data/dedup), tiny v2 model, CPU.

    python benchmarks/bench_cohort_store.py --checkout /path/to/ntscale --out /tmp/x.zarr \
        [--window 600] [--unit-windows 64]

Runs `python -m ntscale embed` from the given checkout (PYTHONPATH) and prints one JSON
line: forward passes and rows from the store's `last_run`, bytes on disk of the store and
of its `embedding_mean` chunks, and the run's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", type=Path, default=HERE)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--window", type=int, default=600)
    ap.add_argument("--unit-windows", type=int, default=64)
    args = ap.parse_args()
    bed = args.out.with_suffix(".bed")
    bed.write_text("20\t1100000\t1130000\n")
    shutil.rmtree(args.out, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "ntscale", "embed", "--no-progress",
        "--fasta", str(HERE / "examples/data/chr20_2mb.fa.gz"),
        "--model", str(HERE / "examples/checkpoints/nt-v2-tiny"),
        "--vcf", str(HERE / "tests/data/dedup/chr20_300.vcf.gz"),
        "--regions", str(bed), "--window", str(args.window), "--layers", "2",
        "--unit-windows", str(args.unit_windows), "--dtype", "fp32", "--out", str(args.out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(args.checkout), "JAX_PLATFORMS": "cpu"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=args.checkout)
    seconds = time.perf_counter() - t0
    attrs = json.loads((args.out / "zarr.json").read_text())["attributes"]
    run = attrs["last_run"]
    print(
        json.dumps(
            {
                "checkout": str(args.checkout),
                "schema_version": attrs["schema_version"],
                "window_bp": args.window,
                "unit_windows": args.unit_windows,
                "rows": run["windows_run"],
                "forward_passes": run["forward_windows"],
                "store_bytes": disk_bytes(args.out),
                "embedding_mean_bytes": disk_bytes(args.out / "embedding_mean"),
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
