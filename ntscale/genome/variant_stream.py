"""Scoring units read from an indexed VCF: the driver keeps unit boundaries, not the table.

The driver makes one streaming pass over a sorted, indexed VCF/BCF (`scan_variant_units`):
it counts the rows (one per ALT), hashes them for the store's fingerprint and records,
for every unit of `unit_variants` rows, where its first row lies: the contig, the 0-based
start of its record, and how many rows at that (contig, start) come before it. Memory is
O(units), not O(variants). A worker then reads only its unit's rows (`read_unit_table`):
an index query from that start, the rows of the earlier records at the same start fed
first so that duplicate records get the same status as in a whole-file read, then the
unit's rows. Both go through `variant_table`'s row builder, so the rows, statuses and
windows are the ones `read_variant_table` gives for the same rows.

A VCF without an index, with a stale one, or unsorted is not streamed: the caller
reads it whole.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntscale.errors import InputError
from ntscale.genome.variant_table import (
    RowBuilder,
    VariantTable,
    check_contigs,
    open_vcf,
    record_alleles,
    vcf_records,
)

log = logging.getLogger(__name__)


def vcf_index(path: str | Path) -> Path | None:
    """The tabix/CSI index next to a bgzipped VCF or a BCF, if there is one."""
    path = Path(path)
    for suffix in (".tbi", ".csi"):
        idx = path.with_name(path.name + suffix)
        if idx.is_file():
            return idx
    return None


@dataclass(frozen=True, kw_only=True, eq=False)
class VariantUnits:
    """Where each unit's rows start in a sorted, indexed VCF (one entry per unit).

    Attributes:
        path: the VCF.
        unit_variants: rows per unit (the last unit may hold fewer).
        n_variants, n_records: rows (one per ALT) and data lines of the file.
        contigs: contigs that have records, in file order.
        contig: [U] int32 index into `contigs` of each unit's first row.
        start: [U] int64 0-based start of the record holding the unit's first row.
        skip: [U] int64 rows at (contig, start) in file order before the unit's first row.
        record: [U] int64 index of the first record at (contig, start).
        extra_contigs: VCF contigs the FASTA lacks, in order of appearance.
        digest: sha256 of every row's contig, start, REF and ALT (as `table_digest`).
    """

    path: str
    unit_variants: int
    n_variants: int
    n_records: int
    contigs: tuple[str, ...]
    contig: np.ndarray
    start: np.ndarray
    skip: np.ndarray
    record: np.ndarray
    extra_contigs: tuple[str, ...]
    digest: str

    def unit_range(self, unit: int) -> tuple[int, int]:
        u = self.unit_variants
        return unit * u, min((unit + 1) * u, self.n_variants)


def scan_variant_units(
    path: str | Path, *, contigs: Iterable[tuple[str, int]], unit_variants: int
) -> VariantUnits | None:
    """One streaming pass: unit boundaries, counts and digest; None when not streamable.

    Returns None for a VCF without an index, with an index older than the file, or with
    records out of order (the caller then reads the whole table). Raises the same errors
    as `read_variant_table` for a missing or malformed file, no records, or no contig in
    common with the FASTA.
    """
    path = Path(path)
    lengths = dict(contigs)
    index = vcf_index(path)
    if index is None:
        return None
    if path.is_file() and int(index.stat().st_mtime) < int(path.stat().st_mtime):
        # a stale index would send workers to the wrong rows: read the file whole instead
        # (whole seconds, as htslib's own "index older than data" check: copies and
        # checkouts write both files within the same second)
        log.warning("%s: index %s is older than the VCF; reading it whole", path, index.name)
        return None
    h = hashlib.sha256()
    order: dict[str, int] = {}
    extra: dict[str, None] = {}
    bounds: list[tuple[int, int, int, int]] = []
    n_rows = n_records = 0
    cur_contig, cur_start, at_start, first_rec = None, -1, 0, 0
    all_extra = True
    with open_vcf(path) as vf:
        for i, rec in vcf_records(vf, path):
            n_records = i + 1
            contig, start = rec.contig, int(rec.start)
            if contig != cur_contig:
                if contig in order:
                    log.info("%s: contigs not in blocks; reading it whole", path.name)
                    return None
                order[contig] = len(order)
                cur_contig, cur_start = contig, -1
                if contig not in lengths:
                    extra.setdefault(contig)
                else:
                    all_extra = False
            if start != cur_start:
                if start < cur_start:
                    log.info("%s: records not sorted; reading it whole", path.name)
                    return None
                cur_start, at_start, first_rec = start, 0, i
            ref, alts = record_alleles(rec)
            for alt in alts:
                if n_rows % unit_variants == 0:
                    bounds.append((order[contig], start, at_start, first_rec))
                h.update(f"{contig}\t{start}\t{ref}\t{alt}\n".encode())
                n_rows += 1
                at_start += 1
    check_contigs(path, n_rows=n_rows, extra=list(extra), lengths=lengths, all_extra=all_extra)
    b = np.array(bounds, dtype=np.int64).reshape(-1, 4)
    log.info("%s: %d records, %d ALT rows, %d units", path.name, n_records, n_rows, len(b))
    return VariantUnits(
        path=str(path),
        unit_variants=unit_variants,
        n_variants=n_rows,
        n_records=n_records,
        contigs=tuple(order),
        contig=b[:, 0].astype(np.int32),
        start=b[:, 1].copy(),
        skip=b[:, 2].copy(),
        record=b[:, 3].copy(),
        extra_contigs=tuple(extra),
        digest=h.hexdigest(),
    )


def read_unit_table(
    units: VariantUnits, unit: int, *, contigs: Iterable[tuple[str, int]]
) -> VariantTable:
    """The rows of one unit, as `read_variant_table` gives them, read by index query."""
    path = Path(units.path)
    a, b = units.unit_range(unit)
    skip, start = int(units.skip[unit]), int(units.start[unit])
    need = skip + (b - a)
    rows = RowBuilder(dict(contigs))
    i = int(units.record[unit])
    with open_vcf(path) as vf:
        for k, name in enumerate(units.contigs[int(units.contig[unit]) :]):
            query = vf.fetch(name, start) if k == 0 else vf.fetch(name)
            for _, rec in vcf_records(query, path, first=i):
                if k == 0 and rec.start < start:
                    continue  # an earlier record whose REF overlaps the start
                rows.add(i, rec)
                i += 1
                if len(rows) >= need:
                    break
            if len(rows) >= need:
                break
    if len(rows) < need:
        raise InputError(
            f"the VCF holds {max(0, len(rows) - skip)} of the {b - a} rows planned for this "
            "unit (changed since planning?); start the run again",
            path=path,
            record=f"{units.contigs[int(units.contig[unit])]}:{start + 1}",
        )
    return rows.table(units.n_records, slice(skip, need))


__all__ = ["VariantUnits", "read_unit_table", "scan_variant_units", "vcf_index"]
