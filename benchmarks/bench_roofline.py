"""Roofline accounting of the forward on this CPU: measured fp32 GEMM peak, FLOPs per
window, and each engine's achieved FLOP/s and fraction of that peak (issue 28).

    .venv/bin/python benchmarks/bench_roofline.py --hf-python /tmp/hfenv/bin/python \
        [--ref-python /tmp/refenv/bin/python --ref-src /tmp/nucleotide-transformer] \
        --tokens 512 1024 2048 --batch 1 2 8

What it measures, each in its own child process (engines as `bench_side_by_side.py` runs
them, whose child programs and weights it reuses):

- ``peak``: sustained fp32 GEMM FLOP/s of one large square matmul (--gemm-n), in JAX (the
  ntscale environment) and in torch (--hf-python), wall and per CPU second.
- ``gemm_floor``: the forward's own matmuls only (QKV, scores, values, output projection,
  FFN; no layer norm, softmax, activation or masking), chained layer by layer at the
  window shape, in JAX and in torch: what a forward made of nothing but these GEMMs would
  take on this CPU with each library's kernels.
- ``forward``: each engine's windows/s (best batch time), achieved FLOP/s of the model's
  FLOPs (`forward_flops`), its fraction of the best measured peak and of the best floor.
- ``bound``: per shape, the most any engine could gain over transformers if it ran at the
  measured peak (or at the GEMM floor): transformers' time / that time.

FLOPs count multiply-adds as 2: per layer 2*T*D*3HK (QKV) + 2*T*T*HK (scores) +
2*T*T*HK (values) + 2*T*HK*D (output) + 2*T*D*F(*2 with GLU) + 2*T*F*D (FFN); the LM head
when logits are computed. Elementwise work is not counted (it is the overhead the
fractions show). JSON rows go to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_side_by_side import (  # noqa: E402  (the engines' child programs and weights)
    COMMON,
    NTSCALE,
    REFERENCE,
    TRANSFORMERS,
    run_child,
    write_weights,
)


@dataclass(frozen=True)
class Shape:
    """The dimensions that set a forward's FLOPs."""

    layers: int
    embed_dim: int
    num_heads: int
    key_size: int
    ffn_dim: int
    vocab: int
    glu: bool = False


def forward_flops(shape: Shape, tokens: int, *, logits: bool = False) -> dict[str, int]:
    """FLOPs of one window's forward by part (multiply-add = 2), and their total."""
    t, d, f = tokens, shape.embed_dim, shape.ffn_dim
    hk = shape.num_heads * shape.key_size
    per_layer = {
        "qkv": 2 * t * d * 3 * hk,
        "scores": 2 * t * t * hk,
        "values": 2 * t * t * hk,
        "out_proj": 2 * t * hk * d,
        "ffn": 2 * t * d * f * (2 if shape.glu else 1) + 2 * t * f * d,
    }
    parts = {k: v * shape.layers for k, v in per_layer.items()}
    parts["lm_head"] = 2 * t * d * d + 2 * t * d * shape.vocab if logits else 0
    parts["total"] = sum(parts.values())
    return parts


# Child programs: each reads a JSON job from argv[1] and prints one JSON line.
TIMING = r"""
import json, resource, sys, time
import numpy as np
job = json.loads(sys.argv[1])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def best_of(run, iters):
    run()
    walls, cpus = [], []
    for _ in range(iters):
        c, t = cpu(), time.perf_counter()
        run()
        walls.append(time.perf_counter() - t); cpus.append(cpu() - c)
    return min(walls), sorted(walls)[len(walls) // 2], min(cpus)
def floor_dims():
    s = job["shape"]
    return (job["batch"], job["tokens"], s["embed_dim"], s["num_heads"], s["key_size"],
            s["ffn_dim"], s["layers"])
def emit(engine, peak, floor):
    n = job["gemm_n"]
    row = {"engine": engine, "gemm_n": n, "peak_gflops": round(2 * n**3 / peak[0] / 1e9, 2),
           "peak_gflops_per_cpu_s": round(2 * n**3 / peak[2] / 1e9, 2)}
    row["floor_s"] = [{"tokens": t, "batch": b, "best_s": round(w, 4), "median_s": round(m, 4),
                       "cpu_s": round(c, 4)} for (t, b), (w, m, c) in floor]
    print(json.dumps(row))
"""

GEMM_JAX = (
    TIMING
    + r"""
import jax, jax.numpy as jnp
rng = np.random.default_rng(0)
n = job["gemm_n"]
a = jnp.asarray(rng.standard_normal((n, n), dtype=np.float32))
mm = jax.jit(lambda x: x @ x)
peak = best_of(lambda: mm(a).block_until_ready(), job["iters"])
@jax.jit
def chain(x, wqkv, wo, w1, w2):
    b, t, d, h, k, f, layers = floor_dims()
    for _ in range(layers):
        qkv = (x @ wqkv).reshape(b, t, 3, h, k).transpose(2, 0, 3, 1, 4)
        s = jnp.einsum("bhqd,bhcd->bhqc", qkv[0], qkv[1]) * (1.0 / t)
        o = jnp.einsum("bhqc,bhcd->bhqd", s, qkv[2]).transpose(0, 2, 1, 3).reshape(b, t, h * k)
        x = x + o @ wo
        x = x + (x @ w1) @ w2
    return x
floor = []
for t, b in job["floor_shapes"]:
    job.update(tokens=t, batch=b)
    bb, tt, d, h, k, f, _ = floor_dims()
    w = [jnp.asarray(rng.standard_normal(sh, dtype=np.float32) / np.sqrt(sh[0]))
         for sh in ((d, 3 * h * k), (h * k, d), (d, f), (f, d))]
    x = jnp.asarray(rng.standard_normal((bb, tt, d), dtype=np.float32))
    floor.append(((t, b), best_of(lambda: chain(x, *w).block_until_ready(), job["iters"])))
emit("jax", peak, floor)
"""
)

GEMM_TORCH = (
    TIMING
    + r"""
import torch
torch.set_num_threads(job["threads"])
g = torch.Generator().manual_seed(0)
n = job["gemm_n"]
a = torch.randn(n, n, generator=g)
with torch.inference_mode():
    peak = best_of(lambda: a @ a, job["iters"])
    def chain(x, wqkv, wo, w1, w2):
        b, t, d, h, k, f, layers = floor_dims()
        for _ in range(layers):
            q, kk, v = (x @ wqkv).reshape(b, t, 3, h, k).permute(2, 0, 3, 1, 4)
            s = (q @ kk.transpose(-1, -2)) * (1.0 / t)
            o = (s @ v).transpose(1, 2).reshape(b, t, h * k)
            x = x + o @ wo
            x = x + (x @ w1) @ w2
        return x
    floor = []
    for t, b in job["floor_shapes"]:
        job.update(tokens=t, batch=b)
        bb, tt, d, h, k, f, _ = floor_dims()
        w = [torch.randn(*sh, generator=g) / sh[0] ** 0.5
             for sh in ((d, 3 * h * k), (h * k, d), (d, f), (f, d))]
        x = torch.randn(bb, tt, d, generator=g)
        floor.append(((t, b), best_of(lambda: chain(x, *w), job["iters"])))
emit("torch", peak, floor)
"""
)


def shape_of(meta: dict, layers: int) -> Shape:
    """The FLOP-relevant dimensions of `bench_side_by_side`'s model (v1: no GLU)."""
    hp = meta["hp"]
    return Shape(
        layers=layers,
        embed_dim=hp["embed_dim"],
        num_heads=hp["attention_heads"],
        key_size=hp["key_size"],
        ffn_dim=hp["ffn_embed_dim"],
        vocab=meta["vocab"],
    )


def forward_row(
    row: dict,
    flops: dict[str, int],
    peak: float,
    floor_s: float | None,
    peak_per_cpu_s: float | None = None,
) -> dict:
    """A forward row's achieved FLOP/s and fractions of the peak and of the GEMM floor; with
    `peak_per_cpu_s`, also FLOP per CPU second against the peak's (steadier under load)."""
    batch_s = row["batch"] / row["windows_per_s_best"]
    achieved = flops["total"] * row["batch"] / batch_s
    out = {
        "flops_per_window": flops["total"],
        "flops_parts": flops,
        "achieved_gflops": round(achieved / 1e9, 2),
        "fraction_of_peak": round(achieved / peak, 3),
    }
    if floor_s:
        out["fraction_of_gemm_floor"] = round(floor_s / batch_s, 3)
    if peak_per_cpu_s and row.get("batch_cpu_s"):
        per_cpu = flops["total"] * row["batch"] / min(row["batch_cpu_s"])
        out["achieved_gflops_per_cpu_s"] = round(per_cpu / 1e9, 2)
        out["fraction_of_peak_per_cpu_s"] = round(per_cpu / peak_per_cpu_s, 3)
    return out


def bounds(rows: list[dict], peak: float, floors: dict) -> list[dict]:
    """Per shape: transformers' best batch time over (a) the time at the measured peak and
    (b) the best GEMM floor, i.e. the most any engine could gain over it on this CPU."""
    out = []
    shapes = sorted({(r["tokens"], r["batch"]) for r in rows})
    for tokens, batch in shapes:
        cell = {r["engine"]: r for r in rows if (r["tokens"], r["batch"]) == (tokens, batch)}
        best = {e: r["batch"] / r["windows_per_s_best"] for e, r in cell.items()}
        row = {"kind": "bound", "tokens": tokens, "batch": batch}
        at_peak = cell[next(iter(cell))]["flops_per_window"] * batch / peak
        row["seconds_at_peak"] = round(at_peak, 4)
        floor = floors.get((tokens, batch))
        if floor:
            row["seconds_at_gemm_floor"] = round(floor, 4)
        if "transformers" in best:
            row["max_speedup_vs_transformers_at_peak"] = round(best["transformers"] / at_peak, 3)
            if floor:
                row["max_speedup_vs_transformers_at_floor"] = round(best["transformers"] / floor, 3)
            if "ntscale" in best:
                row["ntscale_vs_transformers"] = round(best["transformers"] / best["ntscale"], 3)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the measurements; the JSON rows (also appended to --out)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref-python", help="Python of a throwaway env with jax, dm-haiku")
    p.add_argument("--ref-src", help="checkout of instadeepai/nucleotide-transformer")
    p.add_argument("--hf-python", help="Python of a throwaway env with torch, transformers")
    p.add_argument("--tokens", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 2, 8])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--gemm-n", type=int, default=2048, help="side of the square peak matmul")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/roofline.jsonl")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ntscale-roofline-"))
    ckpt, state, meta = write_weights(work, args.layers, max(max(args.tokens), 1000))
    shape = shape_of(meta, args.layers)
    threads = str(args.threads)
    base_env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    nt_env = dict(base_env, PYTHONPATH=str(ROOT))
    shapes = [(t, b) for t in args.tokens for b in args.batch]
    load = lambda: round(os.getloadavg()[0], 2)  # noqa: E731
    common = {"iters": args.iters, "threads": args.threads, "layers": args.layers}
    gemm_job = {**common, "gemm_n": args.gemm_n, "floor_shapes": shapes}
    gemm_job["shape"] = shape.__dict__
    rows: list[dict] = []

    def keep(row: dict) -> None:
        row["load_avg"] = load()
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")

    libs = [("jax", sys.executable, GEMM_JAX, nt_env)]
    if args.hf_python:
        libs.append(("torch", args.hf_python, GEMM_TORCH, base_env))
    floors: dict[tuple[int, int], float] = {}
    peaks: list[float] = []
    peaks_cpu: list[float] = []
    for name, python, code, env in libs:
        got = run_child(python, code, gemm_job, env=env, cwd=str(work))
        if "error" in got:
            raise SystemExit(f"{name} GEMM child failed: {got['error']}")
        keep({"kind": "peak", **got})
        peaks.append(got["peak_gflops"] * 1e9)
        peaks_cpu.append(got["peak_gflops_per_cpu_s"] * 1e9)
        for f in got["floor_s"]:
            key = (f["tokens"], f["batch"])
            floors[key] = min(floors.get(key, f["best_s"]), f["best_s"])
    peak = max(peaks)

    engines = [("ntscale", sys.executable, NTSCALE, nt_env)]
    if args.ref_python and args.ref_src:
        engines.append(("reference", args.ref_python, COMMON + REFERENCE,
                        dict(base_env, PYTHONPATH=args.ref_src)))  # fmt: skip
    if args.hf_python:
        engines.append(("transformers", args.hf_python, COMMON + TRANSFORMERS, base_env))
    forwards = []
    for tokens, batch in shapes:
        flops = forward_flops(shape, tokens)
        for name, python, code, env in engines:  # interleaved, shape by shape
            job = {**meta, **common, "tokens": tokens, "batch": batch}
            job.update(ckpt=str(ckpt), state=str(state))
            got = run_child(python, code, job, env=env, cwd=str(work))
            row = {"kind": "forward", "engine": name, "tokens": tokens, "batch": batch, **got}
            if "error" not in got:
                floor = floors.get((tokens, batch))
                row.update(forward_row(got, flops, peak, floor, max(peaks_cpu)))
                forwards.append(row)
            keep(row)
    for row in bounds(forwards, peak, floors):
        keep(row)
    print(summary(rows))
    return rows


def summary(rows: list[dict]) -> str:
    """A markdown table per shape: GFLOP per window, each engine's achieved GFLOP/s (% of
    peak), and the most any engine could gain over transformers at the peak / the floor."""
    fwd = [r for r in rows if r.get("kind") == "forward" and "error" not in r]
    lines = [
        "| tokens x batch | GFLOP/window | ntscale | reference | transformers | "
        "max gain vs transformers (peak / GEMM floor) | ntscale vs transformers |",
        "|---|---:|---|---|---|---:|---:|",
    ]
    for b in (r for r in rows if r.get("kind") == "bound"):
        cell = {
            r["engine"]: r for r in fwd if (r["tokens"], r["batch"]) == (b["tokens"], b["batch"])
        }
        gflop = next(iter(cell.values()))["flops_per_window"] / 1e9
        cols = [
            f"{cell[e]['achieved_gflops']:.0f} ({100 * cell[e]['fraction_of_peak']:.0f}%)"
            if e in cell else "-"
            for e in ("ntscale", "reference", "transformers")
        ]  # fmt: skip
        gain = (f"{b.get('max_speedup_vs_transformers_at_peak', '-')} / "
                f"{b.get('max_speedup_vs_transformers_at_floor', '-')}")  # fmt: skip
        lines.append(
            f"| {b['tokens']} x {b['batch']} | {gflop:.1f} | " + " | ".join(cols)
            + f" | {gain} | {b.get('ntscale_vs_transformers', '-')} |"
        )  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
