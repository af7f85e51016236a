"""Make the bundled example data in examples/data/ from the shared real data (deterministic).

    .venv/bin/python scripts/make_example_data.py --shared /path/to/shared [--out examples/data]

Writes:
  chr20_2mb.fa.gz (+ .fai, .gzi)  first 2,000,000 bp of GRCh37 chr20 as contig "20" (BGZF),
                                  so VCF positions stay valid
  chr20_2mb.vcf.gz (+ .csi)       20:1,000,000-2,000,000 of the 1000 Genomes phased VCF,
                                  4 samples, header and records otherwise unchanged
  regions.bed                     3 small regions inside the slice
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pysam

CONTIG = "20"
FASTA_BP = 2_000_000
VCF_START1, VCF_END1 = 1_000_000, 2_000_000  # 1-based inclusive, as in a region string
SAMPLES = ("HG00096", "HG00097", "HG00099", "HG00100")
LINE_BP = 60
BED = (
    "# ntscale example regions (0-based half-open)\n"
    "20\t1000000\t1030000\tdense_variants\n"
    "20\t1500000\t1512282\tone_v2_window\n"
    "20\t1990000\t2000000\tslice_end\n"
)


def write_fasta(src: Path, out: Path) -> None:
    with pysam.FastaFile(str(src)) as fa:
        seq = fa.fetch(CONTIG, 0, FASTA_BP)
    plain = out.with_suffix("")  # chr20_2mb.fa
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
        header = vin.header
        tmp = out.with_suffix("")  # chr20_2mb.vcf
        with pysam.VariantFile(str(tmp), "w", header=header) as vout:
            for rec in vin.fetch(CONTIG, VCF_START1 - 1, VCF_END1):
                if rec.start >= VCF_START1 - 1 and rec.stop <= FASTA_BP:
                    vout.write(rec)
    pysam.tabix_compress(str(tmp), str(out), force=True)
    os.remove(tmp)
    pysam.tabix_index(str(out), preset="vcf", csi=True, force=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, required=True, help="the full real-data folder")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples/data"
    )
    args = ap.parse_args()
    data = args.shared / "data" / "human_chr20"
    args.out.mkdir(parents=True, exist_ok=True)
    write_fasta(data / "20.fa.gz", args.out / "chr20_2mb.fa.gz")
    write_vcf(data / "reference.vcf.gz", args.out / "chr20_2mb.vcf.gz")
    (args.out / "regions.bed").write_text(BED)
    for p in sorted(args.out.iterdir()):
        print(f"{p.name}\t{p.stat().st_size:,} bytes")  # script output, not library


if __name__ == "__main__":
    main()
