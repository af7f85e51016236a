"""End-to-end embedding throughput vs model-only throughput, host capacity, writer MB/s.

Issue figures (docs/benchmarks.md):
  1. pipeline overhead: `ntscale embed` windows/s (local executor: fetch, tokenize, forward,
     pool, write, mark done) against the same model's forward-only windows/s on the same
     batches; the overhead must stay under 10%;
  2. host capacity: windows/s that ONE core prepares (read FASTA, apply haplotypes,
     tokenize into padded batches) and writes (pool, compress, store) with the model taken
     out; it must exceed the fastest GPU target (v2-50M at >= 1000 windows/s);
  3. writer throughput (MB/s) for pooled and per-token outputs.

Defaults fit this 2-core CPU machine (v2-50M shape, random weights, short windows); on a
GPU run e.g. `--window 12282 --batch 16 --dtype bf16 --windows 2048`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FASTA = REPO / "examples/data/chr20_2mb.fa.gz"
VCF = REPO / "examples/data/chr20_2mb.vcf.gz"


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    import jax

    dev = jax.devices()[0]
    return f"{os.cpu_count()} CPUs ({cpu}), JAX device {dev.platform}:{dev.device_kind}"


def write_bed(path: Path, n_windows: int, window: int) -> None:
    start = 1_000_000
    path.write_text(f"20\t{start}\t{start + n_windows * window}\n")


def bench_pipeline(args, tmp: Path) -> dict:
    """End-to-end run of the local executor vs the forward pass alone on the same batches."""
    from ntscale.config import EmbedConfig, build_config
    from ntscale.model import bucket_length, init_model
    from ntscale.runner.embed_job import EmbedJob
    from ntscale.runner.local import run_local

    ckpt = tmp / "model"
    model = init_model(args.preset, seed=0, dtype="float32")
    model.save(ckpt)
    bed = tmp / "r.bed"
    write_bed(bed, args.windows, args.window)
    cfg = build_config(
        EmbedConfig,
        {
            "fasta": str(FASTA),
            "model": str(ckpt),
            "out": str(tmp / "e2e.zarr"),
            "regions": str(bed),
            "window_bp": args.window,
            "unit_windows": args.unit,
            "batch_size": args.batch,
            "dtype": args.dtype,
            "progress": False,
        },
    )
    job = EmbedJob.plan_from_config(cfg)
    job.prepare()
    # Warm-up: compile the program for this (B, T) once, outside both timings.
    worker = job.open_worker()
    tok = worker.tokenizer
    fwd = worker.forward
    t_len = bucket_length(args.window // 6 + 1, job.max_tokens)
    batch = np.full((args.batch, t_len), tok.pad_id, np.int32)
    rng = np.random.default_rng(0)
    batch[:, : args.window // 6 + 1] = rng.integers(6, 4102, (args.batch, args.window // 6 + 1))
    batch[:, 0] = tok.cls_id
    fwd(batch)

    n_batches = -(-args.windows // args.batch)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        fwd(batch)
    model_wps = n_batches * args.batch / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    summary = run_local(job, worker=worker)
    e2e_s = time.perf_counter() - t0
    e2e_wps = summary["run"]["windows_run"] / e2e_s
    return {
        "preset": args.preset,
        "dtype": args.dtype,
        "window_bp": args.window,
        "tokens_bucket": t_len,
        "batch": args.batch,
        "windows": summary["run"]["windows_run"],
        "model_only_windows_per_s": round(model_wps, 3),
        "end_to_end_windows_per_s": round(e2e_wps, 3),
        "overhead_pct": round(100 * (1 - e2e_wps / model_wps), 1),
        "note": "both timed on a warm worker (model loaded, program compiled)",
    }


def bench_host(args, tmp: Path) -> dict:
    """One core: prepare (read, haplotype, tokenize) and write (pool, store) without a model."""
    from ntscale.genome import (
        WindowSource,
        haplotype_names,
        plan_windows,
        vcf_samples,
        with_haplotypes,
    )
    from ntscale.store import StoreLayout, create_or_open
    from ntscale.tokenizer import get_tokenizer

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tok = get_tokenizer("v2")
    window = 12_252
    plan = plan_windows([("20", 2_000_000)], window_bp=window, regions=None)
    plan_rows = np.arange(5, min(plan.n_windows, 5 + args.host_windows))  # past the N run
    out = {}
    for label, vcf in (("reference", None), ("haplotypes", VCF)):
        p = plan
        rows = plan_rows
        if vcf is not None:
            samples = vcf_samples(str(vcf))
            names = haplotype_names(samples)
            p = with_haplotypes(plan, len(names), names)
            rows = np.arange(5 * len(names), 5 * len(names) + args.host_windows)
        src = WindowSource(str(FASTA), tokenizer=tok, max_tokens=2048, vcf_path=vcf and str(vcf))
        t0 = time.perf_counter()
        seqs = src.fetch_rows(p, rows)
        for k in range(0, len(seqs), 16):
            tok.encode_batch([s.sequence for s in seqs[k : k + 16]], length=2048)
        out[f"prepare_{label}_windows_per_s"] = round(len(rows) / (time.perf_counter() - t0), 1)

    # write: pooled (mean, 1 layer x 512) and per-token (2048 x 512 float16), 256-window units
    n, d = 256, 512
    for label, per_token, units in (("pooled", False, 8), ("per_token", True, 2)):
        layout = StoreLayout(
            n_windows=n * units, unit_windows=n, layers=(12,), embed_dim=d,
            per_token=per_token, max_tokens=2048,
        )  # fmt: skip
        w = create_or_open(
            str(tmp / f"w_{label}.zarr"), layout, fingerprint={"b": 1}, attrs={},
            contigs=[("20", 2_000_000)],
        )  # fmt: skip
        rng = np.random.default_rng(0)
        # the writer's form: {kind: [L, n, ...]} (L = 1 here)
        emb = {"mean": rng.standard_normal((1, n, d)).astype(np.float32)}
        if per_token:
            emb["tokens"] = rng.standard_normal((1, n, 2048, d)).astype(np.float16)
        rows = {
            "contig_index": np.zeros(n, np.int32), "start": np.arange(n, dtype=np.int64),
            "end": np.arange(n, dtype=np.int64) + 1, "strand": np.zeros(n, np.int8),
            "haplotype": np.full(n, -1, np.int32), "n_tokens": np.full(n, 2048, np.int32),
            "frac_n": np.zeros(n, np.float32), "n_variants": np.zeros(n, np.int32),
            "status": np.zeros(n, np.uint8), "sequence_id": np.arange(n, dtype=np.uint64),
        }  # fmt: skip
        t0 = time.perf_counter()
        nbytes = 0
        for u in range(units):
            nbytes += w.write_window_unit(u, windows=rows, embeddings=emb)
            w.mark_done(u)
        secs = time.perf_counter() - t0
        out[f"write_{label}_MB_per_s"] = round(nbytes / 1e6 / secs, 1)
        out[f"write_{label}_windows_per_s"] = round(n * units / secs, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="50M_multi_species_v2")
    p.add_argument("--window", type=int, default=1_530, help="bp per window (256 tokens)")
    p.add_argument("--windows", type=int, default=32, help="windows in the timed run")
    p.add_argument("--unit", type=int, default=8, help="windows per unit")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--dtype", default="fp32", choices=["bf16", "fp32"])
    p.add_argument("--host-windows", type=int, default=400)
    p.add_argument("--skip-pipeline", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        result = {"machine": machine()}
        if not args.skip_pipeline:  # first: the host benchmark pins this process to one core
            result["pipeline"] = bench_pipeline(args, Path(d))
        result["host_one_core"] = bench_host(args, Path(d))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
