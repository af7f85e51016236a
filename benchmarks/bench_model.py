"""Forward-pass throughput and compile time of the NT model (random weights or a checkpoint).

Defaults are small enough for a laptop CPU. The GPU measurement of the issue is:

    .venv/bin/python benchmarks/bench_model.py --preset 500M_multi_species_v2 \
        --tokens 2048 --batch 16 --dtype bf16 --iters 20
    .venv/bin/python benchmarks/bench_model.py --preset 50M_multi_species_v2 \
        --tokens 2048 --batch 16 --dtype bf16 --iters 50

It reports: parameter set-up time (random init or checkpoint load), compile time of the
jitted program (separately), and steady-state windows/s, with the runner's fast path
(mean-pooled last-layer embeddings computed on device, only [B, D] copied back), plus an
estimate of achieved TFLOP/s (matmuls + attention, forward only).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from ntscale.model import get_preset, init_model, load


def mean_pool(outputs, tokens):
    keep = (tokens != 1)[..., None].astype(jnp.float32)
    return {k: (v * keep).sum(1) / keep.sum(1) for k, v in outputs["embeddings"].items()}


def flops_per_window(cfg, t: int, logits: bool) -> float:
    d, f, hk = cfg.embed_dim, cfg.ffn_dim, cfg.num_heads * cfg.key_size
    fc1 = 2 * f if cfg.use_glu else f
    per_token = 2 * (3 * d * hk + hk * d + d * fc1 + f * d)
    attention = 2 * 2 * t * hk  # QK^T and AV, per token per layer
    total = cfg.num_layers * t * (per_token + attention)
    if logits:
        total += t * 2 * (d * d + d * cfg.vocab_size)
    return float(total)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="50M_multi_species_v2", help="published model shape")
    p.add_argument("--checkpoint", default=None, help="load this checkpoint instead")
    p.add_argument("--tokens", type=int, default=512, help="tokens per window (T)")
    p.add_argument("--batch", type=int, default=2, help="windows per batch (B)")
    p.add_argument("--dtype", default="bf16", help="float32|bfloat16 (fp32|bf16)")
    p.add_argument("--iters", type=int, default=3, help="timed batches")
    p.add_argument("--layers", type=int, nargs="*", default=None, help="default: last layer")
    p.add_argument("--logits", action="store_true", help="also compute and copy back logits")
    p.add_argument(
        "--attention",
        default=None,
        choices=["chunked", "xla", "cudnn"],
        help="default: cuDNN on GPU in bf16, else chunked",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args()

    t0 = time.perf_counter()
    if args.checkpoint:
        model = load(args.checkpoint, dtype=args.dtype, attention=args.attention)
    else:
        model = init_model(
            get_preset(args.preset), seed=0, dtype=args.dtype, attention=args.attention
        )
    jax.block_until_ready(model.params)
    setup_s = time.perf_counter() - t0
    cfg = model.config
    layers = tuple(args.layers) if args.layers else (cfg.num_layers,)
    fast = model.compiled(layers, args.logits, post=None if args.logits else mean_pool)
    compile_s = fast.compile_seconds(args.batch, args.tokens)

    rng = np.random.default_rng(0)
    tokens = rng.integers(6, 4102, (args.batch, args.tokens)).astype(np.int32)
    tokens[:, 0] = 3
    fast(tokens)  # warm-up (first call also pays dispatch set-up)
    t1 = time.perf_counter()
    for _ in range(args.iters):
        fast(tokens)
    run_s = time.perf_counter() - t1
    windows_s = args.batch * args.iters / run_s
    tflops = windows_s * flops_per_window(cfg, args.tokens, args.logits) / 1e12
    result = {
        "model": model.name,
        "params_m": round(cfg.num_params / 1e6, 1),
        "dtype": model.dtype,
        "attention": fast.attention,
        "batch": args.batch,
        "tokens": args.tokens,
        "layers": list(layers),
        "logits": args.logits,
        "setup_s": round(setup_s, 2),
        "compile_s": round(compile_s, 2),
        "windows_per_s": round(windows_s, 3),
        "tflops": round(tflops, 4),
        "device": str(jax.devices()[0].device_kind),
        "backend": jax.default_backend(),
        "host": platform.processor() or platform.machine(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>14}: {v}")


if __name__ == "__main__":
    main()
