"""The variants to score: one row per ALT allele of a VCF/BCF, each with a status.

Reading is cheap (coordinates and alleles only; samples are dropped) so that the driver
can plan a whole VCF. pysam reads here, not cyvcf2 as for genotypes (genome/vcf.py): its
`drop_samples` never parses the sample columns, which is faster than cyvcf2 and lets a VCF
whose genotypes htslib rejects still be scored (docs/dependencies.md). Checks that need no
sequence are made here (symbolic or missing ALT, non-ACGT letters, unknown contig, REF
past the contig end, duplicates); the sequence-dependent ones (REF mismatch, token limit)
are made by the scoring worker. Every input ALT keeps exactly one row, whatever its
status.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from ntscale.errors import InputError, MissingInputError
from ntscale.genome.vcf import is_symbolic
from ntscale.types import ScoreStatus, score_status_names  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

_ACGT = re.compile(r"^[ACGT]+$")
_LETTERS = re.compile(r"^[ACGTNRYSWKMBDHVU]+$")


@dataclass(frozen=True, kw_only=True, eq=False)
class VariantTable:
    """One row per ALT allele, in VCF order. `pos` is 0-based (the VCF POS - 1).

    Attributes:
        contig, id, ref, alt: [N] str arrays (alleles upper-cased; id "" when '.').
        pos: [N] int64 0-based start of REF.
        record: [N] int64 0-based index of the VCF data line the row comes from.
        status: [N] uint8 `ScoreStatus` from the sequence-free checks; OK or
            NO_LLR_NOT_SNV for rows still to be scored.
        n_records: VCF data lines read.
        extra_contigs: contigs of the VCF that the FASTA lacks, in order of appearance.
    """

    contig: np.ndarray
    pos: np.ndarray
    id: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    record: np.ndarray
    status: np.ndarray
    n_records: int
    extra_contigs: tuple[str, ...]

    @property
    def n_variants(self) -> int:
        return int(self.pos.shape[0])

    def is_snv(self) -> np.ndarray:
        """[N] bool: REF and ALT are single bases."""
        return (np.char.str_len(self.ref) == 1) & (np.char.str_len(self.alt) == 1)

    def counts(self) -> dict[str, int]:
        """Rows per status name (for logs and summaries)."""
        codes, n = np.unique(self.status, return_counts=True)
        return {ScoreStatus(int(c)).name.lower(): int(k) for c, k in zip(codes, n, strict=True)}


def _allele_status(ref: str, alt: str | None) -> ScoreStatus:
    if alt is None or alt == ".":
        return ScoreStatus.MISSING_ALT
    if is_symbolic(alt):
        return ScoreStatus.SYMBOLIC_ALLELE
    if not _LETTERS.match(ref) or not _LETTERS.match(alt):
        return ScoreStatus.SYMBOLIC_ALLELE  # anything else htslib let through
    if not _ACGT.match(ref) or not _ACGT.match(alt):
        return ScoreStatus.ALLELE_NOT_ACGT
    if len(ref) == 1 and len(alt) == 1:
        return ScoreStatus.OK
    return ScoreStatus.NO_LLR_NOT_SNV


def open_vcf(path: Path) -> pysam.VariantFile:
    if not path.is_file():
        raise MissingInputError("VCF file not found", path=path)
    try:
        return pysam.VariantFile(str(path), drop_samples=True)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the file as VCF/BCF ({e})", path=path) from e


def vcf_records(
    it: Iterable[pysam.VariantRecord], path: Path, *, first: int = 0
) -> Iterable[tuple[int, pysam.VariantRecord]]:
    """(record index, record) from `it`, counting from `first`; malformed lines -> InputError."""
    i = first - 1
    it = iter(it)
    while True:
        try:
            rec = next(it)
        except StopIteration:
            return
        except (OSError, ValueError) as e:
            raise InputError(
                f"malformed VCF record ({e}); fix or remove the line",
                path=path,
                record=f"data line {i + 2} (after the record at data line {i + 1})",
            ) from e
        i += 1
        yield i, rec


def record_alleles(rec: pysam.VariantRecord) -> tuple[str, list[str]]:
    """REF (upper case) and one ALT per row ('.' when missing; symbolic ones kept as is)."""
    ref = (rec.ref or "").upper()
    alts = []
    for alt in rec.alts or (None,):
        if alt is not None and _LETTERS.match(alt.upper()):
            alt = alt.upper()  # VCF alleles are case-insensitive; symbolic ones kept
        alts.append(alt or ".")
    return ref, alts


class RowBuilder:
    """Rows with their sequence-free statuses, built record by record (one per ALT)."""

    FIELDS = ("contig", "pos", "id", "ref", "alt", "record", "status")

    def __init__(self, lengths: dict[str, int]) -> None:
        self.lengths = lengths
        self.rows: dict[str, list] = {k: [] for k in self.FIELDS}
        self.seen: set[tuple[str, int, str, str]] = set()
        self.extra: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self.rows["pos"])

    def add(self, i: int, rec: pysam.VariantRecord) -> None:
        contig, start = rec.contig, int(rec.start)
        ref, alts = record_alleles(rec)
        for alt in alts:
            status = _allele_status(ref, None if alt == "." else alt)
            if contig not in self.lengths:
                self.extra.setdefault(contig)
                if status.scored:
                    status = ScoreStatus.CONTIG_NOT_IN_FASTA
            elif status.scored and start + len(ref) > self.lengths[contig]:
                status = ScoreStatus.OUTSIDE_CONTIG
            key = (contig, start, ref, alt)
            if status.scored:
                if key in self.seen:
                    status = ScoreStatus.DUPLICATE_RECORD
                self.seen.add(key)
            rows = self.rows
            rows["contig"].append(contig)
            rows["pos"].append(start)
            rows["id"].append("" if rec.id in (None, ".") else str(rec.id))
            rows["ref"].append(ref)
            rows["alt"].append(alt)
            rows["record"].append(i)
            rows["status"].append(int(status))

    def table(self, n_records: int, rows: slice = slice(None)) -> VariantTable:
        """The rows (or a slice of them) as a `VariantTable`."""
        r = self.rows
        return VariantTable(
            contig=np.array(r["contig"][rows], dtype=str),
            pos=np.array(r["pos"][rows], dtype=np.int64),
            id=np.array(r["id"][rows], dtype=str),
            ref=np.array(r["ref"][rows], dtype=str),
            alt=np.array(r["alt"][rows], dtype=str),
            record=np.array(r["record"][rows], dtype=np.int64),
            status=np.array(r["status"][rows], dtype=np.uint8),
            n_records=n_records,
            extra_contigs=tuple(self.extra),
        )


def read_variant_table(path: str | Path, *, contigs: Iterable[tuple[str, int]]) -> VariantTable:
    """Read every record of a VCF/BCF into one row per ALT, with sequence-free statuses.

    Args:
        path: VCF (plain or bgzipped) or BCF; no index needed, samples are ignored.
        contigs: (name, length) of the FASTA's contigs.

    Returns:
        The variant table (rows in file order; ALTs of one record in ALT order).

    Raises:
        MissingInputError: the file does not exist.
        InputError: the file is not VCF/BCF or a record is malformed (names the line).
    """
    path = Path(path)
    lengths = dict(contigs)
    rows = RowBuilder(lengths)
    n_records = 0
    with open_vcf(path) as vf:
        for i, rec in vcf_records(vf, path):
            n_records = i + 1
            rows.add(i, rec)
    table = rows.table(n_records)
    check_contigs(path, n_rows=table.n_variants, extra=list(rows.extra), lengths=lengths,
                  all_extra=set(rows.extra) >= set(rows.rows["contig"]))  # fmt: skip
    log.info(
        "%s: %d records, %d ALT rows, %s", path.name, n_records, table.n_variants, table.counts()
    )
    return table


def check_contigs(
    path: Path, *, n_rows: int, extra: list[str], lengths: dict[str, int], all_extra: bool
) -> None:
    """Refuse a VCF with no rows, or whose contigs are all missing from the FASTA."""
    if n_rows == 0:
        raise InputError("the VCF has no records to score", path=path)
    if extra and all_extra:
        raise InputError(_no_common_contig(extra, list(lengths)), path=path)


def _no_common_contig(vcf_names: list[str], fasta_names: list[str]) -> str:
    """Why nothing can be scored (no VCF contig in the FASTA), with the likely fix."""
    fasta = set(fasta_names)

    def chr_variant(name: str) -> str:
        return name[3:] if name.startswith("chr") else "chr" + name

    by_chr = [c for c in vcf_names if chr_variant(c) in fasta]
    shown_vcf = ", ".join(repr(c) for c in vcf_names[:5])
    shown_fa = ", ".join(repr(c) for c in fasta_names[:5])
    if by_chr:
        fix = (
            f"the names differ only by a 'chr' prefix (VCF {by_chr[0]!r}, FASTA "
            f"{chr_variant(by_chr[0])!r}); rename the VCF's contigs, e.g. `bcftools annotate "
            "--rename-chrs MAP.txt` with lines 'VCF_NAME FASTA_NAME' (score has no "
            "contig_map; embed does)"
        )
    else:
        fix = "check that the VCF was called on this reference (or rename its contigs)"
    return (
        f"no VCF contig is in the FASTA, so nothing can be scored (VCF: {shown_vcf}; "
        f"FASTA: {shown_fa}); {fix}"
    )


__all__ = [
    "RowBuilder",
    "ScoreStatus",
    "VariantTable",
    "check_contigs",
    "open_vcf",
    "read_variant_table",
    "record_alleles",
    "score_status_names",
    "vcf_records",
]
