"""Cost of the input integrity checks at planning time: the .fai check and the FASTA identity.

    .venv/bin/python benchmarks/bench_integrity.py                  # 100 Mbp, 2 layouts
    .venv/bin/python benchmarks/bench_integrity.py --genome-mbp 300

A seeded synthetic genome is written twice in a temporary folder, plain and BGZF: once as
25 chromosome-sized contigs and once as 20,000 scaffolds (the contig count of a draft
assembly). Reported per file, best of 3 after a warm-up (files in the page cache):
`check_fai` (a header read per contig; BGZF through the .gzi), `fasta_identity`
(size, mtime, 256 sampled 4 KiB blocks) and, for scale, a full sha256 of the file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pysam

from ntscale.genome.fai_check import check_fai
from ntscale.genome.fasta import index_paths
from ntscale.genome.identity import fasta_identity, file_sha256


def write_genome(path: Path, total_bp: int, n_contigs: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    size = total_bp // n_contigs
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as fh:
        for i in range(n_contigs):
            seq = letters[rng.integers(0, 4, size)].tobytes()
            fh.write(f">c{i} synthetic\n".encode())
            fh.write(b"\n".join(seq[j : j + 60] for j in range(0, size, 60)) + b"\n")
    return path


def best_of(fn, n: int = 3) -> float:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genome-mbp", type=float, default=100)
    args = ap.parse_args()
    total = int(args.genome_mbp * 1e6)
    print("| layout | contigs | file MB | check_fai s | fasta_identity s | full sha256 s |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n_contigs in (25, 20_000):
            plain = write_genome(Path(tmp) / f"g{n_contigs}.fa", total, n_contigs)
            bgzf = Path(str(plain) + ".gz")
            pysam.tabix_compress(str(plain), str(bgzf), force=True)
            for path, layout in ((plain, "plain"), (bgzf, "BGZF")):
                pysam.faidx(str(path))
                fai, gzi = index_paths(path)
                t_fai = best_of(lambda p=path, f=fai, g=gzi: check_fai(p, f, g))
                t_id = best_of(lambda p=path: fasta_identity(p, "x"))
                t_sha = best_of(lambda p=path: file_sha256(p), n=1)
                mb = path.stat().st_size / 1e6
                print(
                    f"| {layout} | {n_contigs:,} | {mb:,.0f} | {t_fai:.3f} | {t_id:.4f} | "
                    f"{t_sha:.2f} |"
                )


if __name__ == "__main__":
    main()
