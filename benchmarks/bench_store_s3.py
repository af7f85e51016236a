"""Writer throughput to an S3 API (moto's server on 127.0.0.1) against a local disk.

The same pooled units as `bench_store.py` (random normal float32 embeddings), written by one
writer process through zarr -> fsspec -> s3fs -> HTTP to a local S3-compatible server that
this script starts (moto, `pip install "moto[server]"`) and stops by pid. MB/s counts the
uncompressed bytes handed to `write_window_unit`, including the done mark. The server is a
Python process on the same 2 cores, so this measures ntscale's client path and request
count per unit, not a real object store's bandwidth (a real bucket adds network latency
per request and removes the server's CPU from this machine).

    .venv/bin/python benchmarks/bench_store_s3.py --units 16 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

import ntscale.store as st
from ntscale.types import WindowStatus


def _window_rows(lo: int, n: int) -> dict[str, np.ndarray]:
    return {
        "contig_index": np.zeros(n, np.int32),
        "start": np.arange(lo, lo + n, dtype=np.int64) * 12282,
        "end": np.arange(lo, lo + n, dtype=np.int64) * 12282 + 12282,
        "strand": np.zeros(n, np.int8),
        "haplotype": np.full(n, -1, np.int32),
        "n_tokens": np.full(n, 2048, np.int32),
        "n_variants": np.zeros(n, np.int32),
        "frac_n": np.zeros(n, np.float32),
        "status": np.full(n, int(WindowStatus.OK), np.uint8),
        "sequence_id": np.arange(lo, lo + n, dtype=np.uint64) + 1,  # a field since schema v2
    }


def _start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


def _write(url: str, layout: st.StoreLayout, units: int, mean: np.ndarray) -> dict[str, float]:
    t0 = time.perf_counter()
    writer = st.create_or_open(url, layout, fingerprint={}, attrs={}, contigs=[("chr1", 10**9)])
    create_s = time.perf_counter() - t0
    written, t0 = 0, time.perf_counter()
    for k in range(units):
        lo, hi = layout.window_rows(k)
        # the writer's form: {kind: [L, n, D]}, layers stacked in layout order
        emb = {"mean": np.stack([mean[: hi - lo] + layer for layer in layout.layers]),
               "cls": np.stack([mean[: hi - lo] - layer for layer in layout.layers])}  # fmt: skip
        written += writer.write_window_unit(k, windows=_window_rows(lo, hi - lo), embeddings=emb)
        writer.mark_done(k)
    seconds = time.perf_counter() - t0
    return {"MB": written / 1e6, "create s": create_s, "s": seconds,
            "MB/s": written / 1e6 / seconds, "s/unit": seconds / units}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=16)
    p.add_argument("--unit-windows", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--codec", default="zstd")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    proc, endpoint = _start_moto()
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x"})
    os.environ.update({"AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        import s3fs

        s3fs.S3FileSystem().mkdir("bench")
        layout = st.StoreLayout(
            n_windows=args.units * args.unit_windows, unit_windows=args.unit_windows,
            layers=tuple(range(1, args.layers + 1)), embed_dim=args.dim, cls=True,
            codec=args.codec,
        )  # fmt: skip
        mean = np.random.default_rng(0).standard_normal((args.unit_windows, args.dim), np.float32)
        print(f"# {os.cpu_count()} CPUs, one writer, codec {args.codec}, {args.units} units of "
              f"{args.unit_windows} windows x {args.layers} layers x D={args.dim} mean+cls, "
              f"medians of {args.repeat}")  # fmt: skip
        print("| target | MB written | store create s | write s | MB/s | s/unit |")
        print("|---|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("local disk", "S3 (moto, 127.0.0.1)"):
                runs = []
                for i in range(args.repeat):
                    url = f"{tmp}/l{i}.zarr" if name == "local disk" else f"s3://bench/s{i}.zarr"
                    runs.append(_write(url, layout, args.units, mean))
                    if name == "local disk":
                        shutil.rmtree(url)
                r = {k: float(np.median([x[k] for x in runs])) for k in runs[0]}
                print(f"| {name} | {r['MB']:.1f} | {r['create s']:.2f} | {r['s']:.2f} | "
                      f"{r['MB/s']:.0f} | {r['s/unit']:.3f} |")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
