"""Where a run's process overhead goes: interpreter + imports, checkpoint load (and its
digest), and compiling the forward, each timed once in a fresh process.

    .venv/bin/python benchmarks/bench_overhead.py --model examples/checkpoints/nt-v2-tiny
    .venv/bin/python benchmarks/bench_overhead.py --preset 50M_multi_species_v2

Prints one JSON row (and appends it to --out).
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="checkpoint folder (else --preset, random)")
    p.add_argument("--preset", default="50M_multi_species_v2")
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    row: dict = {"bench": "overhead"}
    t0 = time.perf_counter()
    import jax

    row["import_jax_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    import ntscale.cli.main  # noqa: F401  (what `ntscale embed` imports up front)
    import ntscale.runner.embed_job  # noqa: F401

    row["import_ntscale_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    jax.devices()
    row["backend_init_s"] = round(time.perf_counter() - t0, 3)
    from ntscale.model import checkpoint_digest as digest_cache
    from ntscale.model import get_preset, init_model, load

    t0 = time.perf_counter()
    if args.model:
        model = load(args.model, dtype="float32")
        row["model"] = args.model
    else:
        model = init_model(get_preset(args.preset), seed=0, dtype="float32")
        row["model"] = f"random {args.preset}"
    jax.block_until_ready(model.params)
    row["load_s"] = round(time.perf_counter() - t0, 3)
    row["hashes"] = digest_cache.hash_count
    fn = model.compiled((model.config.num_layers,), False, post=None)
    row["compile_s"] = round(fn.compile_seconds(args.batch, args.tokens), 3)
    row.update(tokens=args.tokens, batch=args.batch, attention=fn.attention)
    row["process_total_s"] = round(time.perf_counter() - T_START, 3)
    row["load_avg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(row))
    if args.out:
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
