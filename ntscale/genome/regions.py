"""BED regions: read, validate against the FASTA contig table, sort and merge.

BED is 0-based half-open, like ntscale; `track`, `browser` and `#` lines are ignored and
only the first three columns are read. Errors name the file, the line and the contig.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path

from ntscale.errors import InputError, MissingInputError
from ntscale.genome.windows import merge_regions
from ntscale.types import Region


def _open_text(path: Path):  # noqa: ANN202 - text file handle
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path)


def read_bed(
    path: str | os.PathLike[str],
    contigs: Sequence[tuple[str, int]] | None = None,
    *,
    merge: bool = True,
) -> list[Region]:
    """Read BED intervals (plain or gzip), checked against `contigs` when given.

    Args:
        path: BED file; columns chrom, start, end (more columns are ignored).
        contigs: (name, length) of the FASTA contigs; regions are checked against them and
            sorted in their order.
        merge: sort and merge overlapping or adjacent regions.

    Returns:
        The regions (sorted and merged if `merge`).

    Raises:
        MissingInputError: the file does not exist.
        InputError: a malformed line, start > end, negative start, unknown contig or an end
            past the contig end (names the file, line number and value).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingInputError("BED file not found", path=p)
    lengths = dict(contigs) if contigs is not None else None
    names = [name for name, _ in contigs] if contigs is not None else []
    regions: list[Region] = []
    with _open_text(p) as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.rstrip("\r\n")
            if not text.strip() or text.startswith(("#", "track", "browser")):
                continue
            fields = text.split("\t")
            if len(fields) < 3:
                fields = text.split()
            where = f"line {lineno}"
            if len(fields) < 3:
                raise InputError(
                    f"expected at least 3 tab-separated columns (chrom, start, end), got "
                    f"{len(fields)}: {text!r}",
                    path=p,
                    record=where,
                )
            contig, start_s, end_s = fields[0], fields[1], fields[2]
            try:
                start, end = int(start_s), int(end_s)
            except ValueError:
                raise InputError(
                    f"start and end must be integers, got {start_s!r} and {end_s!r}",
                    path=p,
                    record=where,
                ) from None
            if start < 0:
                raise InputError(f"negative start {start}", path=p, record=where)
            if start > end:
                raise InputError(f"start {start} > end {end}", path=p, record=where)
            if lengths is not None:
                if contig not in lengths:
                    shown = ", ".join(repr(n) for n in names[:5])
                    raise InputError(
                        f"unknown contig {contig!r}; the FASTA has {len(names)} contig(s): "
                        f"{shown}{' ...' if len(names) > 5 else ''}",
                        path=p,
                        record=where,
                    )
                if end > lengths[contig]:
                    raise InputError(
                        f"end {end} is past the end of contig {contig!r} ({lengths[contig]:,} bp)",
                        path=p,
                        record=where,
                    )
            if end > start:
                regions.append(Region(contig, start, end))
    if merge:
        order = names or list(dict.fromkeys(r.contig for r in regions))
        regions = merge_regions(regions, order)
    return regions
