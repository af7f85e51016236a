"""Throughput of the 6-mer tokenizer vs a plain-Python loop of the same algorithm.

Input: a random sequence (default 1 Mbp) cut into 12 kb chunks, tokenized into a padded
int32 batch, from Python str and from bytes, without Ns and with ~1% isolated Ns (the worst
case: every N splits a segment). Isolated Ns add tokens (about 2,350 per 12 kb chunk at 1%),
so the N variant pads to the longest row unless --length-n is given.

    .venv/bin/python benchmarks/bench_tokenizer.py [--mbp 1] [--chunk-bp 12000] [--length 2048]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from ntscale.tokenizer import get_tokenizer


def python_loop_batch(chunks: list[str], length: int | None, vocab: dict[str, int]) -> np.ndarray:
    """The same algorithm, written the obvious way: split on N, slice 6-mers, dict look-up."""
    cls, pad, n_id = vocab["<cls>"], vocab["<pad>"], vocab["N"]
    rows = []
    for seq in chunks:
        ids = [cls]
        for i, piece in enumerate(seq.split("N")):
            if i:
                ids.append(n_id)
            full = len(piece) - len(piece) % 6
            ids.extend(vocab[piece[j : j + 6]] for j in range(0, full, 6))
            ids.extend(vocab[ch] for ch in piece[full:])
        rows.append(ids)
    width = length or max(map(len, rows))
    out = np.full((len(rows), width), pad, np.int32)
    for r, ids in enumerate(rows):
        out[r, : len(ids)] = ids
    return out


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mbp", type=float, default=1.0)
    ap.add_argument("--chunk-bp", type=int, default=12_000)
    ap.add_argument("--length", type=int, default=2048, help="tokens per row, no-N variant")
    ap.add_argument("--length-n", type=int, default=None, help="tokens per row, N variant")
    ap.add_argument("--n-fraction", type=float, default=0.01)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--version", default="v2")
    args = ap.parse_args()

    tok = get_tokenizer(args.version)
    vocab = {t: i for i, t in enumerate(tok.vocab)}
    rng = np.random.default_rng(0)
    total = int(args.mbp * 1e6)
    letters = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, total)]
    with_n = letters.copy()
    with_n[rng.random(total) < args.n_fraction] = ord("N")

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"# {args.mbp} Mbp in {args.chunk_bp} bp chunks, tokenizer {args.version}, CPU {cpu}")
    print(
        f"{'variant':<16}{'input':<7}{'T':>6}{'ours Mbp/s':>12}{'loop Mbp/s':>12}{'speed-up':>10}"
    )
    for name, arr, length in (("no N", letters, args.length), ("~1% N", with_n, args.length_n)):
        text = arr.tobytes().decode("ascii")
        chunks = [text[i : i + args.chunk_bp] for i in range(0, total, args.chunk_bp)]
        bchunks = [c.encode() for c in chunks]
        loop_out = python_loop_batch(chunks, length, vocab)
        t_loop = best_of(lambda c=chunks, n=length: python_loop_batch(c, n, vocab), 3)
        for kind, data in (("str", chunks), ("bytes", bchunks)):
            ours = tok.encode_batch(data, length)
            np.testing.assert_array_equal(ours, loop_out)
            t = best_of(lambda d=data, n=length: tok.encode_batch(d, n), args.repeats)
            print(
                f"{name:<16}{kind:<7}{ours.shape[1]:>6}{total / t / 1e6:>12.0f}"
                f"{total / t_loop / 1e6:>12.1f}{t_loop / t:>10.1f}"
            )


if __name__ == "__main__":
    main()
