"""Genome input throughput on one core: FASTA -> padded token batches, and haplotype windows.

    .venv/bin/python benchmarks/bench_genome.py --shared DIR   # DIR: the full real-data folder
    .venv/bin/python benchmarks/bench_genome.py --shared DIR --genome-mbp 100 --hap-samples 300

1. A synthetic genome (seeded random ACGT, 5 contigs, a few N runs and soft-masked stretches)
   is written as plain FASTA and as BGZF in a temporary folder; the whole genome is planned in
   12,282 bp windows and run through WindowSource.fetch_rows + Tokenizer.encode_batch
   (2,048 tokens, v2) in units of 64 windows. Reported: Mbp/s end to end.
2. Haplotype windows per second on the real 1000 Genomes VCF (300 phased samples) over
   20:1,000,000-2,000,000: fetch_rows (VCF query once per reference window, haplotypes
   built, token counts) and then encode_batch.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pysam

from ntscale.genome import WindowSource, plan_units, plan_windows, with_haplotypes
from ntscale.tokenizer import get_tokenizer
from ntscale.types import Region

MAX_TOKENS = 2048
WINDOW_BP = 12_282
UNIT = 64


def make_genome(folder: Path, total_mbp: float, seed: int = 0) -> Path:
    """Write a seeded synthetic genome (plain FASTA) of about `total_mbp` Mbp."""
    rng = np.random.default_rng(seed)
    total = int(total_mbp * 1_000_000)
    sizes = [total // 2, total // 4, total // 8, total // 16]
    sizes.append(total - sum(sizes))
    path = folder / "synthetic.fa"
    letters = np.frombuffer(b"ACGT", np.uint8)
    with open(path, "wb") as fh:
        for i, n in enumerate(sizes):
            seq = letters[rng.integers(0, 4, n)]
            for _ in range(max(1, n // 5_000_000)):  # N runs of 1-50 kb
                a = int(rng.integers(0, n))
                seq[a : a + int(rng.integers(1_000, 50_000))] = ord("N")
            for _ in range(max(1, n // 1_000_000)):  # soft-masked repeats
                a = int(rng.integers(0, n))
                seq[a : a + 5_000] |= 0x20
            fh.write(f">chr{i + 1}\n".encode())
            body = seq.tobytes()
            fh.write(b"\n".join(body[j : j + 60] for j in range(0, n, 60)) + b"\n")
    return path


def bench_fasta(fasta: Path, label: str) -> float:
    src = WindowSource(fasta, tokenizer="v2", max_tokens=MAX_TOKENS)
    tok = get_tokenizer("v2")
    plan = plan_windows(src.contigs, window_bp=WINDOW_BP)
    t0 = time.perf_counter()
    bp = 0
    for u in plan_units(plan.n_windows, UNIT).tolist():
        rows = np.arange(u, min(u + UNIT, plan.n_windows))
        windows = src.fetch_rows(plan, rows)
        batch = tok.encode_batch([w.sequence for w in windows], length=MAX_TOKENS)
        assert batch.shape == (len(rows), MAX_TOKENS)
        bp += sum(int(plan.end[r] - plan.start[r]) for r in rows.tolist())
    dt = time.perf_counter() - t0
    mbps = bp / dt / 1e6
    print(f"{label}: {plan.n_windows} windows, {bp / 1e6:.1f} Mbp in {dt:.2f} s = {mbps:.1f} Mbp/s")
    return mbps


def bench_haplotypes(shared: Path, n_samples: int, region_bp: int) -> float:
    data = shared / "data" / "human_chr20"
    vcf_samples = list(pysam.VariantFile(str(data / "reference.vcf.gz")).header.samples)
    samples = vcf_samples[:n_samples]
    src = WindowSource(
        data / "20.fa.gz",
        tokenizer="v2",
        max_tokens=MAX_TOKENS,
        vcf_path=data / "reference.vcf.gz",
        samples=samples,
    )
    tok = get_tokenizer("v2")
    plan = plan_windows(
        src.contigs, window_bp=WINDOW_BP, regions=[Region("20", 1_000_000, 1_000_000 + region_bp)]
    )
    hp = with_haplotypes(plan, len(src.haplotype_names), src.haplotype_names)
    t0 = time.perf_counter()
    n_var = 0
    for u in plan_units(hp.n_windows, UNIT).tolist():
        rows = np.arange(u, min(u + UNIT, hp.n_windows))
        windows = src.fetch_rows(hp, rows)
        tok.encode_batch([w.sequence for w in windows], length=MAX_TOKENS)
        n_var += sum(w.n_variants for w in windows)
    dt = time.perf_counter() - t0
    rate = hp.n_windows / dt
    print(
        f"haplotypes: {len(samples)} samples x 2 x {plan.n_windows} windows = {hp.n_windows} "
        f"haplotype windows ({n_var} alleles applied) in {dt:.2f} s = {rate:.0f} windows/s "
        f"({rate * WINDOW_BP / 1e6:.1f} Mbp/s)"
    )
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genome-mbp", type=float, default=20.0, help="synthetic genome size")
    ap.add_argument("--hap-samples", type=int, default=32, help="VCF samples (max 300)")
    ap.add_argument("--hap-region-bp", type=int, default=1_000_000)
    ap.add_argument(
        "--shared",
        type=Path,
        required=True,
        help="the full real-data folder (data/human_chr20 with all 300 VCF samples); the "
        "test slice in tests/data has one sample only",
    )
    args = ap.parse_args()
    random.seed(0)
    print(f"cpus: {os.cpu_count()}; one process")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        plain = make_genome(Path(tmp), args.genome_mbp)
        bgz = Path(tmp) / "synthetic.fa.gz"
        pysam.tabix_compress(str(plain), str(bgz))
        print(f"made {args.genome_mbp} Mbp genome in {time.perf_counter() - t0:.1f} s")
        bench_fasta(plain, "FASTA plain -> tokens")
        bench_fasta(bgz, "FASTA BGZF  -> tokens")
    bench_haplotypes(args.shared, args.hap_samples, args.hap_region_bp)


if __name__ == "__main__":
    main()
