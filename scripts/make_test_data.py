"""Make the trimmed chr20 test data in tests/data/shared/data/human_chr20/ (deterministic).

    .venv/bin/python scripts/make_test_data.py --source /path/to/shared [--out DIR]

The tests need real human sequence and real 1000 Genomes records, but not the whole 18 MB
chromosome or all 300 samples. This script keeps what they read:
  20.fa.gz (+ .fai, .gzi)       bases 0-4,020,000 of GRCh37 chr20 as contig "20" (BGZF), so
                                every VCF record (20:1,000,226-3,999,849) keeps its position
  reference.vcf.gz (+ .csi)     every record of the 1000 Genomes VCF, sample HG00096 only
The other files of that folder are copied unchanged by hand (see PROVENANCE.md).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pysam

CONTIG = "20"
FASTA_BP = 4_020_000  # past the last record (3,999,849) by more than one v2 window
SAMPLES = ("HG00096",)
LINE_BP = 60


def write_fasta(src: Path, out: Path) -> None:
    with pysam.FastaFile(str(src)) as fa:
        seq = fa.fetch(CONTIG, 0, FASTA_BP)
    plain = out.with_suffix("")
    with open(plain, "w") as fh:
        fh.write(f">{CONTIG}\n")
        for i in range(0, len(seq), LINE_BP):
            fh.write(seq[i : i + LINE_BP] + "\n")
    pysam.tabix_compress(str(plain), str(out), force=True)
    os.remove(plain)
    pysam.faidx(str(out))


def write_vcf(src: Path, out: Path) -> None:
    with pysam.VariantFile(str(src)) as vin:
        vin.subset_samples(list(SAMPLES))
        tmp = out.with_suffix("")
        with pysam.VariantFile(str(tmp), "w", header=vin.header) as vout:
            for rec in vin:
                vout.write(rec)
    pysam.tabix_compress(str(tmp), str(out), force=True)
    os.remove(tmp)
    pysam.tabix_index(str(out), preset="vcf", csi=True, force=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="the shared data folder")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "tests/data/shared/data/human_chr20",
    )
    args = ap.parse_args()
    data = args.source / "data" / "human_chr20"
    args.out.mkdir(parents=True, exist_ok=True)
    write_fasta(data / "20.fa.gz", args.out / "20.fa.gz")
    write_vcf(data / "reference.vcf.gz", args.out / "reference.vcf.gz")
    for p in sorted(args.out.iterdir()):
        print(f"{p.name}\t{p.stat().st_size:,} bytes")  # script output, not library


if __name__ == "__main__":
    main()
