"""Write tests/data/dedup/: all 300 samples of the 1000 Genomes VCF on a 30 kb slice of chr20.

The slice lies inside 20:1,000,000-2,000,000, so the bundled examples/data/chr20_2mb.fa.gz is
its FASTA. Usage (the source VCF is a path argument; nothing is downloaded):

    python scripts/make_dedup_test_data.py --vcf /path/to/reference.vcf.gz --out tests/data/dedup
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pysam

CONTIG = "20"
START, END = 1_100_000, 1_130_000  # 0-based half-open; records whose start lies inside


def write_slice(src: Path, out: Path) -> int:
    """Copy the records starting in [START, END) with every sample; returns the record count."""
    tmp = out.with_suffix("")  # plain VCF next to the output, removed after compression
    n = 0
    with pysam.VariantFile(str(src)) as vin:
        with pysam.VariantFile(str(tmp), "w", header=vin.header) as vout:
            for rec in vin.fetch(CONTIG, START, END):
                if START <= rec.start < END:
                    vout.write(rec)
                    n += 1
    pysam.tabix_compress(str(tmp), str(out), force=True)
    tmp.unlink()
    pysam.tabix_index(str(out), preset="vcf", csi=True, force=True)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vcf", required=True, type=Path, help="reference.vcf.gz (300 samples)")
    ap.add_argument("--out", default=Path("tests/data/dedup"), type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    n = write_slice(args.vcf, args.out / "chr20_300.vcf.gz")
    print(f"{n} records written to {args.out / 'chr20_300.vcf.gz'}")


if __name__ == "__main__":
    main()
