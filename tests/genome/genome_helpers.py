"""Helpers for genome tests: write tiny FASTA and VCF files (imported by the test modules)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pysam


def write_fasta(path: Path, contigs: dict[str, str], line_bp: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), line_bp):
                fh.write(seq[i : i + line_bp] + "\n")
    return path


def random_seq(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def write_vcf(
    path: Path,
    contigs: dict[str, int],
    samples: Sequence[str],
    records: Sequence[tuple],
    *,
    index: bool = True,
    compress: bool = True,
) -> Path:
    """Write a VCF. records: (contig, pos1, ref, alts tuple, [GT strings per sample]).

    GT strings are written verbatim ("0|1", "1/0", ".|.", "1"), so any genotype shape can be
    tested. Returns the .vcf.gz path (or .vcf with compress=False).
    """
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append(
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        )
    )
    for i, (contig, pos1, ref, alts, gts) in enumerate(records):
        lines.append(
            "\t".join(
                [
                    contig,
                    str(pos1),
                    f"v{i}",
                    ref,
                    ",".join(alts) or ".",
                    ".",
                    "PASS",
                    ".",
                    "GT",
                    *gts,
                ]
            )
        )
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    plain.write_text("\n".join(lines) + "\n")
    if not compress:
        return plain
    gz = plain.with_name(plain.name + ".gz")
    pysam.tabix_compress(str(plain), str(gz), force=True)
    if index:
        pysam.tabix_index(str(gz), preset="vcf", force=True)
    return gz


def to_bcf(vcf: Path, bcf: Path) -> Path:
    """Copy a VCF's header and records into an (unindexed) BCF file."""
    with (
        pysam.VariantFile(str(vcf)) as src,
        pysam.VariantFile(str(bcf), "wb", header=src.header) as out,
    ):
        for rec in src:
            out.write(rec)
    return bcf
