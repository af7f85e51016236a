"""`segment --vcf` storage: each distinct window sequence once vs one copy per haplotype.

    .venv/bin/python benchmarks/bench_segment_haplotypes.py --samples 500
    .venv/bin/python benchmarks/bench_segment_haplotypes.py --samples 3202 --no-dense

Runs a tiny SegmentNT (1 layer, D 16, the 14 published tracks) over the 30 kb of the
bundled 3,202-sample simulated cohort (`tests/data/cohort/sim3202.vcf.gz`, 20:1,100,001-
1,130,000) for the first `--samples` samples, and reports: forward passes, haplotype
value rows stored (`hap_row`) against the dense layout's bases x haplotypes, the bytes on
disk of the haplotype arrays, and the dense layout's bytes: uncompressed (computed) and,
unless `--no-dense`, compressed as the old layout stored them (zstd, chunks of one unit's
bases; here x 256 haplotypes to bound memory), written from `haplotype_perbase`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ntscale.config import PerBaseConfig, build_config
from ntscale.model import get_preset, init_model
from ntscale.runner.local import run_local
from ntscale.runner.perbase_job import PerBaseJob
from ntscale.store import haplotype_perbase, store_summary

ROOT = Path(__file__).resolve().parents[1]
FASTA = ROOT / "examples/data/chr20_2mb.fa.gz"
VCF = ROOT / "tests/data/cohort/sim3202.vcf.gz"
HAP_ARRAYS = ("hap_perbase_values", "hap_segment_start", "hap_segment_end", "hap_segment_row")


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def dense_bytes(url: Path, out: Path, unit_bases: int) -> tuple[int, float]:
    """Bytes on disk of the dense [base, haplotype, track] array (zstd), and seconds."""
    import zarr

    from ntscale.store import backend

    view = haplotype_perbase(url, block_haplotypes=256)
    t0 = time.perf_counter()
    arr = zarr.create_array(str(out), shape=view.shape, chunks=(unit_bases, 256, view.shape[2]),
                            dtype=view.dtype, fill_value=np.nan,
                            compressors=backend.compressors("zstd"))  # fmt: skip
    for lo in range(0, view.shape[0], unit_bases):
        for h in range(0, view.shape[1], 256):
            arr[lo : lo + unit_bases, h : h + 256] = view[lo : lo + unit_bases, h : h + 256].values
    return _disk(out), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--window", type=int, default=6000)
    ap.add_argument("--unit-windows", type=int, default=4)
    ap.add_argument("--no-dense", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import pysam

    names = list(pysam.VariantFile(str(VCF)).header.samples)[: args.samples]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg_model = get_preset("segment_nt").replace(
            name="segtiny", num_layers=1, embed_dim=16, num_heads=2, key_size=8, ffn_dim=32
        )
        init_model(cfg_model, seed=0).save(work / "model")
        (work / "r.bed").write_text("20\t1100000\t1130000\n")
        cfg = build_config(PerBaseConfig, {
            "fasta": str(FASTA), "model": str(work / "model"), "out": str(work / "s.zarr"),
            "regions": str(work / "r.bed"), "vcf": str(VCF), "samples": tuple(names),
            "window_bp": args.window, "unit_windows": args.unit_windows, "batch_size": 8,
            "progress": False}, source="bench")  # fmt: skip
        job = PerBaseJob.plan_from_config(cfg)
        t0 = time.perf_counter()
        summary = run_local(job)
        seconds = time.perf_counter() - t0
        bases = store_summary(str(work / "s.zarr"))["bases"]
        h, n = bases["haplotypes"], bases["rows"]
        n_tracks = len(job.spec.track_names)
        stored = sum(_disk(work / "s.zarr" / a) for a in HAP_ARRAYS)
        out = {
            "samples": len(names),
            "haplotypes": h,
            "bases": n,
            "window_bp": args.window,
            "unit_bases": job.unit_size,
            "run_seconds": round(seconds, 1),
            "forward_passes": summary["run"]["forward_passes"],
            "hap_rows_stored": bases["haplotype_rows_stored"],
            "dense_rows": n * h,
            "row_ratio": round(bases["haplotype_rows_stored"] / (n * h), 5),
            "hap_bytes_on_disk": stored,
            "reference_values_on_disk": _disk(work / "s.zarr" / "perbase_values"),
            "dense_bytes_uncompressed": n * h * n_tracks * 2,
        }
        if not args.no_dense:
            dense, dense_s = dense_bytes(work / "s.zarr", work / "dense.zarr", job.unit_size)
            out["dense_bytes_on_disk"] = dense
            out["dense_write_seconds"] = round(dense_s, 1)
            out["disk_ratio_dedup_vs_dense"] = round(stored / dense, 4)
        print(json.dumps(out, indent=1))
        if args.json:
            args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
