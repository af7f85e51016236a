"""Writer throughput of the ntscale Zarr store, per codec, for pooled and per-token outputs.

Runs one writer process (what one Ray actor does) over `--units` work units, with random
normal embeddings (float mantissas are noise either way; real embeddings compress about
as poorly). MB/s counts uncompressed array bytes handed to `write_window_unit`; `ratio` is
those bytes over the bytes on disk. Also times reading the per-token store with dask.

    .venv/bin/python benchmarks/bench_store.py            # small default sizes
    .venv/bin/python benchmarks/bench_store.py --units 16 --unit-windows 512 --token-units 8
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import ntscale.store as st
from ntscale.store.checksum import unit_digest
from ntscale.types import WindowStatus


def _window_rows(lo: int, n: int) -> dict[str, np.ndarray]:
    return {
        "contig_index": np.zeros(n, np.int32),
        "start": np.arange(lo, lo + n, dtype=np.int64) * 12282,
        "end": np.arange(lo, lo + n, dtype=np.int64) * 12282 + 12282,
        "strand": np.zeros(n, np.int8),
        "haplotype": np.full(n, -1, np.int32),
        "n_tokens": np.full(n, 2048, np.int32),
        "frac_n": np.zeros(n, np.float32),
        "n_variants": np.zeros(n, np.int32),
        "status": np.full(n, int(WindowStatus.OK), np.uint8),
        "sequence_id": np.arange(lo, lo + n, dtype=np.uint64) + 1,  # a field since schema v2
    }


def _disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench(
    root: Path, name: str, layout: st.StoreLayout, units: int, rng: np.random.Generator
) -> dict[str, float]:
    url = str(root / f"{name}.zarr")
    writer = st.create_or_open(url, layout, fingerprint={}, attrs={}, contigs=[("chr1", 10**9)])
    d, u = layout.embed_dim, layout.unit_windows
    # Data made once and reused: the benchmark times the store, not the random generator.
    mean = rng.standard_normal((u, d), dtype=np.float32)
    tokens = (
        rng.standard_normal((u, layout.max_tokens, d), dtype=np.float32).astype(np.float16)
        if layout.per_token
        else None
    )
    written, t0 = 0, time.perf_counter()
    for k in range(units):
        lo, hi = layout.window_rows(k)
        # the writer's form: {kind: [L, n, ...]}, layers stacked in layout order
        emb = {"mean": np.stack([mean[: hi - lo] + layer for layer in layout.layers])}
        if layout.cls:
            emb["cls"] = np.stack([mean[: hi - lo] - layer for layer in layout.layers])
        if tokens is not None:
            emb["tokens"] = np.stack([tokens[: hi - lo]] * len(layout.layers))
        written += writer.write_window_unit(k, windows=_window_rows(lo, hi - lo), embeddings=emb)
        writer.mark_done(k)
    seconds = time.perf_counter() - t0
    # The per-unit checksum alone (included in the write above), on the last unit's arrays.
    t1 = time.perf_counter()
    unit_digest(emb)
    checksum_s = (time.perf_counter() - t1) * units
    out = {
        "MB": written / 1e6,
        "s": seconds,
        "MB/s": written / 1e6 / seconds,
        "ratio": written / _disk_bytes(Path(url)),
        "checksum %": 100 * checksum_s / seconds,
    }
    if layout.per_token:
        ds = st.open(url)
        t0 = time.perf_counter()
        ds.embedding_tokens.isel(window=slice(0, units * u)).sum().compute()
        out["read MB/s"] = written / 1e6 / (time.perf_counter() - t0)
    st.finalize(url)
    shutil.rmtree(url)
    return out


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.median([r[key] for r in runs])) for key in runs[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=8, help="pooled units written per codec")
    p.add_argument("--unit-windows", type=int, default=256, help="windows per pooled unit")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--tokens", type=int, default=2048, help="T of the per-token arrays")
    p.add_argument("--token-units", type=int, default=4, help="per-token units per codec")
    p.add_argument("--token-unit-windows", type=int, default=8)
    p.add_argument("--codecs", default="zstd,blosc,none")
    p.add_argument("--repeat", type=int, default=3, help="runs per row; medians are printed")
    p.add_argument("--dir", default=None, help="folder for the stores (default: a tmp dir)")
    args = p.parse_args()

    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln),
        platform.processor(),
    )
    print(
        f"# machine: {os.cpu_count()} CPUs, {cpu}, no GPU used; one writer process, "
        f"medians of {args.repeat} runs"
    )
    rng = np.random.default_rng(0)
    layers = tuple(range(1, args.layers + 1))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        print(
            f"\n## pooled: {args.layers} layers x D={args.dim} mean+cls float32, "
            f"{args.unit_windows} windows/unit, {args.units} units"
        )
        print(
            "| codec | MB written | s | MB/s | ratio | checksum % of s |\n|---|---|---|---|---|---|"
        )
        for codec in args.codecs.split(","):
            lay = st.StoreLayout(
                n_windows=args.units * args.unit_windows,
                unit_windows=args.unit_windows,
                layers=layers,
                embed_dim=args.dim,
                cls=True,
                codec=codec,
            )
            r = _median(
                [bench(root, f"pooled-{codec}", lay, args.units, rng) for _ in range(args.repeat)]
            )
            print(
                f"| {codec} | {r['MB']:.1f} | {r['s']:.2f} | {r['MB/s']:.0f} | {r['ratio']:.2f} "
                f"| {r['checksum %']:.1f} |"
            )

        print(
            f"\n## per-token: 1 layer x T={args.tokens} x D={args.dim} float16 (+ mean), "
            f"{args.token_unit_windows} windows/unit = 1 shard, {args.token_units} units"
        )
        print(
            "| codec | MB written | s | MB/s | ratio | dask read MB/s | checksum % of s |\n"
            "|---|---|---|---|---|---|---|"
        )
        for codec in args.codecs.split(","):
            lay = st.StoreLayout(
                n_windows=args.token_units * args.token_unit_windows,
                unit_windows=args.token_unit_windows,
                layers=(1,),
                embed_dim=args.dim,
                per_token=True,
                max_tokens=args.tokens,
                codec=codec,
            )
            r = _median(
                [
                    bench(root, f"tokens-{codec}", lay, args.token_units, rng)
                    for _ in range(args.repeat)
                ]
            )
            print(
                f"| {codec} | {r['MB']:.1f} | {r['s']:.2f} | {r['MB/s']:.0f} | "
                f"{r['ratio']:.2f} | {r['read MB/s']:.0f} | {r['checksum %']:.1f} |"
            )


if __name__ == "__main__":
    main()
