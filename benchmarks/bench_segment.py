"""Per-base runs (`ntscale segment`): throughput of a tiny SegmentNT on CPU, stitching cost.

    .venv/bin/python benchmarks/bench_segment.py                  # 200 kb of the chr20 slice
    .venv/bin/python benchmarks/bench_segment.py --bp 1000000 --layers 2 --dim 32

1. Model only: `SegmentModel.predict` on batches of windows of 6, 12 and 30 kb (tiny
   random SegmentNT of the published head shape, fp32), compile time apart from the
   steady state (windows/s, bases/s of forward).
2. End to end: `run_local` of a PerBaseJob over a region of the bundled chr20 slice
   (30 kb windows, half overlap): bases valued per second, forward windows, the store size.
3. Exports: bigWig of every track and the BED of called elements of that store.
4. `--export-genome`: bigWig export alone of the whole chr20 slice (3.96 Mbp x 14 tracks)
   from a store filled with smooth synthetic values (no model run), serial (one process)
   against one process per track.

The real sizes (SegmentNT = NT-v2 500M backbone + a U-Net of 1,024/2,048 channels) need a
GPU: `ntscale segment --fasta GENOME --model segment_nt --out OUT --dtype bf16
--batch-size 4 --ray auto` (docs/model.md, "SegmentNT, AgroNT, Codon-NT").
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ntscale.config import PerBaseConfig, build_config
from ntscale.model import get_preset, init_model
from ntscale.model.perbase import SegmentModel
from ntscale.runner.local import run_local
from ntscale.runner.perbase_job import PerBaseJob
from ntscale.store.perbase_export import export_bed, export_bigwig

FASTA = Path(__file__).resolve().parents[1] / "tests/data/shared/data/human_chr20/20.fa.gz"


def _model(layers: int, dim: int):
    cfg = get_preset("segment_nt").replace(
        name="segbench", num_layers=layers, embed_dim=dim, num_heads=2, key_size=dim // 2,
        ffn_dim=2 * dim,
    )  # fmt: skip
    return init_model(cfg, seed=0)


def bench_forward(model, batch: int) -> None:
    seg = SegmentModel(model)
    rng = np.random.default_rng(0)
    for window in (6_000, 12_000, 30_000):
        seqs = ["".join(rng.choice(list("ACGT"), window)) for _ in range(batch)]
        t0 = time.perf_counter()
        seg.predict(seqs)
        first = time.perf_counter() - t0
        t0, reps = time.perf_counter(), 3
        for _ in range(reps):
            seg.predict(seqs)
        dt = (time.perf_counter() - t0) / reps
        print(f"forward {window:>6} bp x {batch}: first call {first:6.2f} s, then {dt:6.3f} s "
              f"-> {batch / dt:6.2f} windows/s, {batch * window / dt / 1e3:8.1f} kb/s")  # fmt: skip


def bench_run(model, bp: int, batch: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_segment_"))
    try:
        model.save(work / "model")
        bed = work / "r.bed"
        bed.write_text(f"20\t1000000\t{1000000 + bp}\n")
        cfg = build_config(
            PerBaseConfig,
            {"fasta": str(FASTA), "model": str(work / "model"), "out": str(work / "s.zarr"),
             "regions": str(bed), "unit_windows": 8, "batch_size": batch, "progress": False},
        )  # fmt: skip
        t0 = time.perf_counter()
        job = PerBaseJob.plan_from_config(cfg)
        plan_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = run_local(job)
        run_s = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in (work / "s.zarr").rglob("*") if f.is_file())
        run = summary["run"]
        print(f"run {bp:,} bp: plan {plan_s:.2f} s, run {run_s:.1f} s (compile included), "
              f"{bp / run_s:,.0f} bases/s, {len(job.plan.win_start)} windows of "
              f"{job.run.window_bp:,} bp (stride {job.stride_bp:,}), model {run['model_seconds']} s"
              f", store {size / 1e6:.2f} MB ({size / bp:.2f} B/base, float16 x 14)")  # fmt: skip
        t0 = time.perf_counter()
        export_bigwig(cfg.out, work / "t")
        bw_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, n = export_bed(cfg.out, work / "calls.bed", thresholds=0.55)
        bed_s = time.perf_counter() - t0
        print(f"exports: 14 bigWigs {bw_s:.1f} s; BED {bed_s:.1f} s ({n:,} elements at 0.55, "
              "random weights call far more than a trained model)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_export_genome(processes: int) -> None:
    """bigWig of every track of a whole-slice store of synthetic values (no forward)."""
    from ntscale.store import open_writer

    work = Path(tempfile.mkdtemp(prefix="bench_segment_bw_"))
    try:
        _model(1, 16).save(work / "model")
        cfg = build_config(
            PerBaseConfig,
            {"fasta": str(FASTA), "model": str(work / "model"), "out": str(work / "s.zarr"),
             "unit_windows": 32, "progress": False},
        )  # fmt: skip
        job = PerBaseJob.plan_from_config(cfg)
        job.prepare()
        writer = open_writer(job.store_url)
        rng = np.random.default_rng(0)
        n_tracks = len(job.spec.track_names)
        for unit in range(job.n_units()):
            a, b = job.unit_range(unit)
            walk = np.cumsum(rng.normal(0, 0.05, (b - a, n_tracks)), axis=0)
            writer.write_base_unit(unit, 1 / (1 + np.exp(-walk)))
            writer.mark_done(unit, part="bases")
        n = job.plan.n_bases
        for procs in (1, processes):
            t0 = time.perf_counter()
            export_bigwig(cfg.out, work / f"p{procs}", processes=procs)
            dt = time.perf_counter() - t0
            print(f"bigWig export {n:,} bases x {n_tracks} tracks, {procs} process(es): "
                  f"{dt:.1f} s ({n * n_tracks / dt / 1e6:.2f} M values/s)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bp", type=int, default=200_000)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument(
        "--export-genome",
        action="store_true",
        help="only the whole-slice bigWig export (synthetic values)",
    )
    ap.add_argument("--processes", type=int, default=2)
    a = ap.parse_args()
    if a.export_genome:
        bench_export_genome(a.processes)
        return
    model = _model(a.layers, a.dim)
    bench_forward(model, a.batch)
    bench_run(model, a.bp, a.batch)


if __name__ == "__main__":
    main()
