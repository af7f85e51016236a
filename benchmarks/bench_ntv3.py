"""NTv3 memory per window and forward speed vs window length and batch size.

Memory is XLA's plan for the compiled forward (`forward_memory_bytes`: scratch + outputs
+ float32 parameters), so it needs no run; --time also runs each shape (compile time
reported apart from steady-state seconds per forward).

CPU, tiny shapes (docs/benchmarks.md, "NTv3"):

    .venv/bin/python benchmarks/bench_ntv3.py --tiny --lengths 8192,32768,131072 \
        --batches 1,4 --time

GPU, a published checkpoint (downloaded to the hub cache first: `ntscale download NAME`):

    .venv/bin/python benchmarks/bench_ntv3.py --model NTv3_100M_post --dtype bf16 \
        --lengths 131072,524288,1048576 --batches 1,2,4 --time
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from ntscale.model.ntv3 import forward_memory_bytes, init_ntv3, load_ntv3
from ntscale.model.ntv3_config import NTv3Config

TINY = NTv3Config(
    name="tiny7", num_downsamples=7, num_heads=4, key_size=16, token_embed_dim=16,
    conv_init_embed_dim=32, embed_dim=64, ffn_dim=128, num_layers=2,
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="published NTv3 name or HF-layout folder")
    ap.add_argument("--tiny", action="store_true", help="random weights of TINY's shapes")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--lengths", default="8192,32768")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--outputs", default="embedding")
    ap.add_argument("--time", action="store_true", help="also run each shape (2 iterations)")
    a = ap.parse_args()
    model = init_ntv3(TINY, dtype=a.dtype) if a.tiny or not a.model else load_ntv3(a.model, a.dtype)
    c = model.config
    species = next((s for s in c.track_heads if c.tracks_of(s)), None) if c.post_trained else None
    outputs = tuple(a.outputs.split(","))
    rows = []
    for length in (int(x) for x in a.lengths.split(",")):
        for batch in (int(x) for x in a.batches.split(",")):
            mem = forward_memory_bytes(model, batch=batch, length=length, outputs=outputs)
            window_mib = (mem["temp"] + mem["output"]) / batch / 2**20
            row = {"length": length, "batch": batch, **mem,
                   "total_mib": round(sum(mem.values()) / 2**20, 1),
                   "per_window_mib": round(window_mib, 1)}  # fmt: skip
            if a.time:
                tokens = np.random.default_rng(0).integers(6, 10, (batch, length)).astype(np.int32)
                t0 = time.perf_counter()
                model.apply(tokens, species=species, outputs=outputs)
                row["first_s"] = round(time.perf_counter() - t0, 3)
                t0 = time.perf_counter()
                model.apply(tokens, species=species, outputs=outputs)
                row["steady_s"] = round(time.perf_counter() - t0, 3)
                row["bases_per_s"] = round(batch * length / row["steady_s"])
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"model": repr(model), "machine": platform.processor() or platform.machine()}))


if __name__ == "__main__":
    main()
