"""Small input writers shared by the scoring tests (FASTA, VCF, random DNA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam


def write_fasta(path: Path, contigs: dict[str, str]) -> Path:
    """A plain FASTA with a .fai (60 bp lines)."""
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def write_vcf(path: Path, contigs: dict[str, int], records: list[tuple]) -> Path:
    """A sites-only VCF (text; any allele, even malformed ones): records are
    (contig, pos1, id, ref, alts). A path ending in .gz is bgzipped and tabix-indexed."""
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={name},length={length}>" for name, length in contigs.items()]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    for contig, pos1, vid, ref, alts in records:
        alt = ",".join(alts) if alts else "."
        lines.append(f"{contig}\t{pos1}\t{vid or '.'}\t{ref}\t{alt}\t.\t.\t.")
    text = "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        plain = Path(str(path)[:-3])
        plain.write_text(text)
        pysam.tabix_compress(str(plain), str(path), force=True)
        pysam.tabix_index(str(path), preset="vcf", force=True)
    else:
        Path(path).write_text(text)
    return Path(path)


def random_dna(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("ACGT"), size=n))
