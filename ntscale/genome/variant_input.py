"""Variant inputs of `ntscale score` beyond a plain VCF path: stdin, tables, regions, renames.

`score` reads a VCF/BCF by path. Everything else is turned into one VCF first, the
*prepared input*, which the run then reads like any VCF (streamed when sorted, annotated
by `--vcf-out`):

- `--vcf -`: the VCF (or BCF) on standard input.
- a variant table, `.tsv`, `.csv` (optionally `.gz`) or `.parquet`, with columns `chrom`,
  `pos` (1-based, as TraitGym and GPN write them), `ref`, `alt` (and optionally `id`):
  one VCF record per table row, in table order, so the store's rows (one per ALT) are
  aligned row for row with the table.
- `--contig-map`: VCF contigs renamed to the FASTA's (`FASTA=VCF,...` as for `embed`, or
  `auto`: add or strip a `chr` prefix where that names a FASTA contig).
- `--regions BED`: only records overlapping a region (FASTA names, 0-based half-open).

Records keep every field (INFO, FORMAT, genotypes). The prepared VCF is bgzipped and
written where the caller says (`ScoreJob`: beside the store, `<out>.inputs/`), rewritten
only when its content changes, so a resumed run sees the same file; it is tabix-indexed
when sorted. `describe_input` records what was given, for the store's attributes.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ntscale.errors import InputError

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".tsv", ".csv", ".tsv.gz", ".csv.gz", ".parquet")
TABLE_COLUMNS = ("chrom", "pos", "ref", "alt")
PREPARED_NAME = "variants.vcf.gz"


def is_table(path: str) -> bool:
    """Whether `path` names a variant table (by its suffix), not a VCF/BCF."""
    return str(path).lower().endswith(TABLE_SUFFIXES)


def needs_preparing(vcf: str, *, regions: str | None, contig_map: object) -> bool:
    """Whether the input must be turned into a prepared VCF (anything but a plain path)."""
    return vcf == "-" or is_table(vcf) or bool(regions) or bool(contig_map)


def read_table(path: str | Path) -> list[tuple[str, int, str, str, str]]:
    """(chrom, pos1, id, ref, alt) of every row of a variant table, in table order.

    Raises:
        InputError: unreadable file, missing columns, or a row with a bad position/allele.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError("variant table not found", path=path)
    try:
        if str(path).lower().endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if ".tsv" in path.name.lower() else ","
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment=None)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the variant table ({e})", path=path) from e
    frame.columns = [str(c).strip().lower().lstrip("#") for c in frame.columns]
    missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"the variant table lacks column(s) {', '.join(missing)}; it needs chrom, pos "
            f"(1-based), ref, alt (columns found: {', '.join(map(str, frame.columns[:8]))})",
            path=path,
        )
    ids = frame["id"].astype(str).tolist() if "id" in frame.columns else [""] * len(frame)
    rows = []
    for i, (c, p, r, a, name) in enumerate(
        zip(frame["chrom"], frame["pos"], frame["ref"], frame["alt"], ids, strict=True)
    ):
        try:
            pos1 = int(p)
        except (TypeError, ValueError):
            pos1 = 0
        ref, alt = str(r).strip().upper(), str(a).strip().upper()
        if pos1 < 1 or not ref or not alt or any(x in "\t ;" for x in ref + alt):
            raise InputError(
                f"bad variant (chrom {c!r}, pos {p!r}, ref {r!r}, alt {a!r}): pos must be a "
                "1-based integer and ref/alt non-empty alleles",
                path=path,
                record=f"table row {i + 1}",
            )
        rows.append((str(c), pos1, name if name not in ("", "nan", "None") else ".", ref, alt))
    return rows


def contig_renamer(
    contig_map: Mapping[str, str] | str | None, fasta_contigs: Sequence[str]
) -> dict[str, str]:
    """VCF name -> FASTA name, from a FASTA=VCF mapping or 'auto' (empty: no renaming)."""
    if not contig_map:
        return {}
    if isinstance(contig_map, Mapping):
        return {vcf: fa for fa, vcf in contig_map.items()}
    out = {}
    for fa in fasta_contigs:
        out["chr" + fa if not fa.startswith("chr") else fa[3:]] = fa
    return out


def _in_regions(regions: dict[str, tuple[np.ndarray, np.ndarray]], c: str, s: int, e: int) -> bool:
    if c not in regions:
        return False
    rs, re_ = regions[c]
    j = int(np.searchsorted(rs, max(e, s + 1), side="left")) - 1
    return j >= 0 and int(re_[j]) > s


def _vcf_lines(source: str) -> Iterator[str]:
    """Header then record lines (no newline) of a VCF/BCF path or '-' (stdin), via pysam."""
    import pysam

    try:
        vf = pysam.VariantFile(source)  # "-" reads standard input
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the input as VCF/BCF ({e})", path=source) from e
    with vf:
        yield from str(vf.header).rstrip("\n").split("\n")
        i = 0
        try:
            for i, rec in enumerate(vf, start=1):  # noqa: B007 - the count names a bad line
                yield str(rec).rstrip("\n")
        except (OSError, ValueError) as e:
            raise InputError(f"malformed VCF record ({e})", path=source,
                             record=f"data line {i + 1}") from e  # fmt: skip


def _table_lines(path: str, fasta_contigs: Sequence[tuple[str, int]]) -> Iterator[str]:
    yield "##fileformat=VCFv4.2"
    yield f"##ntscaleVariantTable={Path(path).name}"
    for name, length in fasta_contigs:
        yield f"##contig=<ID={name},length={length}>"
    yield "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    for c, pos1, name, ref, alt in read_table(path):
        yield f"{c}\t{pos1}\t{name}\t{ref}\t{alt}\t.\t.\t."


def prepare_variants(
    vcf: str,
    *,
    dest: Path,
    fasta_contigs: Sequence[tuple[str, int]],
    regions: Sequence[tuple[str, int, int]] = (),
    contig_map: Mapping[str, str] | str | None = None,
) -> Path:
    """Write the prepared input VCF (module docstring) at `dest/variants.vcf.gz`; its path.

    Raises:
        InputError: unreadable input, a bad table row, or no record left (names the file).
    """
    import pysam

    rename = contig_renamer(contig_map, [c for c, _ in fasta_contigs])
    by_contig: dict[str, list[tuple[int, int]]] = {}
    for c, s, e in regions:
        by_contig.setdefault(c, []).append((s, e))
    spans = {
        c: (np.array([s for s, _ in v]), np.array([e for _, e in v])) for c, v in by_contig.items()
    }
    lines = _table_lines(vcf, fasta_contigs) if is_table(vcf) else _vcf_lines(vcf)
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest, suffix=".vcf")
    kept = total = 0
    last: tuple[str, int] | None = None
    ordered = True
    order: dict[str, int] = {}
    with os.fdopen(fd, "w") as out:
        for line in lines:
            if line.startswith("#"):
                if rename and line.startswith("##contig=<ID="):
                    name = line[len("##contig=<ID=") :].split(",")[0].rstrip(">")
                    line = line.replace(f"<ID={name}", f"<ID={rename.get(name, name)}", 1)
                out.write(line + "\n")
                continue
            total += 1
            cols = line.split("\t", 5)
            c = rename.get(cols[0], cols[0])
            start = int(cols[1]) - 1
            if spans and not _in_regions(spans, c, start, start + len(cols[3])):
                continue
            cols[0] = c
            out.write("\t".join(cols) + "\n")
            kept += 1
            key = (order.setdefault(c, len(order)), start)
            ordered = ordered and (last is None or key >= last)
            last = key
    if kept == 0:
        os.unlink(tmp)
        what = "in the --regions" if spans else "in the input"
        raise InputError(f"no variant record {what} ({total} record(s) read)", path=vcf)
    final = dest / PREPARED_NAME
    gz = Path(tmp + ".gz")
    pysam.tabix_compress(tmp, str(gz), force=True)
    os.unlink(tmp)
    if final.is_file() and _digest(final) == _digest(gz):
        gz.unlink()  # the same content: keep the old file (and its identity) for a resume
    else:
        shutil.move(gz, final)
        for idx in (".tbi", ".csi"):
            Path(f"{final}{idx}").unlink(missing_ok=True)
        if ordered:
            pysam.tabix_index(str(final), preset="vcf", force=True)
    log.info("prepared input: %d of %d record(s) of %s -> %s", kept, total, vcf, final)
    return final


def _digest(path: Path) -> str:
    with gzip.open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


__all__ = [
    "PREPARED_NAME",
    "TABLE_SUFFIXES",
    "contig_renamer",
    "is_table",
    "needs_preparing",
    "prepare_variants",
    "read_table",
]
