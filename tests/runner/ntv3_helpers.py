"""Inputs of the NTv3 job tests: the tiny post-trained fixture, the bundled chr20 FASTA and
a VCF of SNVs and indels read from it (so every REF matches)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POST = ROOT / "tests" / "data" / "ntv3_reference" / "post"
FASTA = ROOT / "examples" / "data" / "chr20_2mb.fa.gz"


def chr20_vcf(tmp_path: Path, *, n: int = 12, indel_every: int = 4) -> Path:
    """`n` rows from 20:1,000,001 on, 25 bp apart: SNVs, every `indel_every`-th a 2-base
    deletion (REF = 3 bases from the FASTA, ALT = its first base)."""
    from ntscale.genome import FastaSource

    seq = FastaSource(str(FASTA)).fetch("20", 1_000_000, 1_000_000 + 25 * n + 10).upper()
    alt = {"A": "C", "C": "G", "G": "T", "T": "A"}
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=20,length=2000000>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]  # fmt: skip
    for k in range(n):
        off = 3 + 25 * k
        ref = seq[off : off + 3] if k % indel_every == 0 else seq[off]
        allele = ref[0] if k % indel_every == 0 else alt[ref]
        lines.append(f"20\t{1_000_001 + off}\tv{k}\t{ref}\t{allele}\t.\tPASS\t.")
    path = tmp_path / "v.vcf"
    path.write_text("\n".join(lines) + "\n")
    return path
