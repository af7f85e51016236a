"""Peak memory and speed of the attention implementations (chunked vs XLA) in the forward.

Each (implementation, tokens, batch) runs in its own child process so its peak resident
memory (ru_maxrss) is its own. The model is a published shape (default NT-v2-50M: 512 dim,
16 heads) cut to a few layers, random weights, float32, mean-pooled last layer copied back
(the runner's fast path). The issue's attention-bound case:

    .venv/bin/python benchmarks/bench_attention.py --tokens 2048 --batch 8 --layers 1

Writes one JSON row per case to --out (JSON lines) and prints them.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def child(args: argparse.Namespace) -> dict:
    """One case in this process: compile, warm up, time `iters` batches."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ntscale.model import get_preset, init_model

    cfg = get_preset(args.preset).replace(num_layers=args.layers)
    model = init_model(cfg, seed=0, dtype="float32", attention=args.impl)

    def mean_pool(outputs, tokens):
        keep = (tokens != cfg.pad_token_id)[..., None].astype(jnp.float32)
        return {k: (v * keep).sum(1) / keep.sum(1) for k, v in outputs["embeddings"].items()}

    fast = model.compiled((cfg.num_layers,), False, post=mean_pool)
    rng = np.random.default_rng(0)
    tokens = rng.integers(6, cfg.vocab_size, (args.batch, args.tokens)).astype(np.int32)
    tokens[:, 0] = 3  # <cls>
    t0 = time.perf_counter()
    fast(tokens)
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(args.iters):
        t1 = time.perf_counter()
        fast(tokens)
        times.append(time.perf_counter() - t1)
    best = min(times)
    return {
        "bench": "attention",
        "impl": fast.attention,
        "preset": args.preset,
        "layers": args.layers,
        "tokens": args.tokens,
        "batch": args.batch,
        "first_call_s": round(first_s, 3),
        "batch_s": [round(x, 3) for x in times],
        "windows_per_s_best": round(args.batch / best, 3),
        "windows_per_s_median": round(args.batch / sorted(times)[len(times) // 2], 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
        "jax": jax.__version__,
        "host": platform.processor() or platform.machine(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="50M_multi_species_v2")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--tokens", type=int, nargs="+", default=[2048])
    p.add_argument("--batch", type=int, nargs="+", default=[8])
    p.add_argument("--impl", nargs="+", default=["xla", "chunked"])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.tokens, args.batch, args.impl = args.tokens[0], args.batch[0], args.impl[0]
        print(json.dumps(child(args)))
        return
    for tokens in args.tokens:
        for batch in args.batch:
            for impl in args.impl:  # interleaved: both implementations per shape in turn
                cmd = [sys.executable, __file__, "--child", "--preset", args.preset]
                cmd += ["--layers", str(args.layers), "--tokens", str(tokens)]
                cmd += ["--batch", str(batch), "--impl", impl, "--iters", str(args.iters)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                row["load_avg"] = round(__import__("os").getloadavg()[0], 2)
                print(json.dumps(row), flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
