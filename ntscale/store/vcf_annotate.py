"""The input VCF annotated in place with a score store's values (`ntscale score --vcf-out`).

Every input record is written back as it was (ID, QUAL, FILTER, INFO, FORMAT and
genotypes, in input order, multi-allelic records whole), with the scores added as INFO
fields named `NTS_<score>` (Number=A, Float: one value per ALT, `.` where a score is NaN)
and `NTS_STATUS` (Number=A, String: each ALT's status). A record without an ALT (`.`)
has no per-ALT value and gets no NTS_ field. The header gains the fields' definitions and
`##ntscale...` provenance lines (model, digest, window, preset, command). The output is
bgzipped VCF (`.vcf.gz`; `.gz` is appended to any other name) with a .tbi index, or BCF
(`.bcf`) with a .csi index; an unsorted input is written but not indexed (logged).
`drop_genotypes` writes the records without samples.

Rows of the store follow the input's records one per ALT (ntscale.genome.variant_table);
each record is checked against its rows (contig, position, REF, ALTs) as it is written, so
an input edited since the run is refused, not mis-annotated.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pysam
import pysam.bcftools

from ntscale.errors import InputError, StoreError
from ntscale.store.reader import open as open_store
from ntscale.store.reader import variant_status_names
from ntscale.store.score_columns import provenance_lines

log = logging.getLogger(__name__)

PREFIX = "NTS_"
STATUS_FIELD = f"{PREFIX}STATUS"
BASE_COLUMNS = ("contig", "pos1", "id", "ref", "alt", "status")


def info_id(score: str) -> str:
    """The INFO ID of a score column: NTS_<name> (e.g. NTS_llr_masked)."""
    return f"{PREFIX}{score}"


def output_path(path: str | Path) -> Path:
    """`.bcf` stays BCF; anything else is bgzipped VCF, `.gz` appended when missing."""
    path = Path(path)
    if path.suffix == ".bcf" or path.name.endswith(".gz"):
        return path
    return path.with_name(path.name + ".gz")


def input_vcf(attrs: dict, vcf: str | Path | None) -> Path:
    """The VCF the store was scored from: `vcf` if given, else the run's `vcf` setting."""
    given = vcf or (attrs.get("config") or {}).get("vcf")
    if not given or given == "-":
        raise StoreError(
            "the store does not name an input VCF file to annotate (scored from stdin?); "
            "give it: export_vcf(url, path, vcf=INPUT)"
        )
    path = Path(given)
    if not path.is_file():
        raise StoreError(
            f"input VCF {str(path)!r} of the store is not there; --vcf-out writes the input's "
            "records annotated in place, so it needs that file (pass vcf=... to export_vcf)"
        )
    return path


def _add_header(header: pysam.VariantHeader, attrs: dict, score_cols: list[str]) -> None:
    docs = dict((attrs.get("scoring") or {}).get("score_docs", {}))
    names = ",".join(v for _, v in sorted(variant_status_names(attrs).items()))
    wanted = [(STATUS_FIELD, "String", f"ntscale scoring status of each ALT, one of: {names}")]
    for col in score_cols:
        kind = next((k for k in sorted(docs, key=len, reverse=True) if col.startswith(k)), None)
        desc = docs.get(kind, "ntscale variant score") if kind else "ntscale variant score"
        wanted.append((info_id(col), "Float", f"ntscale {col}: {desc}".replace('"', "'")))
    for key, kind, desc in wanted:
        have = header.info.get(key)
        if have is not None:
            if have.number != "A" or have.type != kind:
                raise StoreError(
                    f"the input VCF already defines INFO {key} as Number={have.number}, "
                    f"Type={have.type}; ntscale needs Number=A, Type={kind} (remove it first: "
                    f"`bcftools annotate -x INFO/{key}`)"
                )
            continue
        header.info.add(key, "A", kind, desc)
    model = attrs.get("model") or {}
    header.add_line(f"##ntscaleVersion={attrs.get('ntscale_version', '')}")
    if model:
        header.add_line(
            f"##ntscaleModel={model.get('name')} digest={model.get('checkpoint_digest')}"
        )
    for line in provenance_lines(attrs):
        header.add_line(line)


def _row_alts(rec: pysam.VariantRecord) -> list[str]:
    """The store's rows of a record: one per ALT, '.' for a record without one (as
    `ntscale.genome.variant_table` reads them; compared case-insensitively)."""
    return [(a or ".").upper() for a in (rec.alts or (None,))]


def _records(vf: pysam.VariantFile, path: Path):  # noqa: ANN202 - (index, record) pairs
    i = 0
    try:
        for i, rec in enumerate(vf):  # noqa: B007 - the count names a bad line
            yield i, rec
    except (OSError, ValueError) as e:
        raise InputError(f"malformed VCF record ({e})", path=path,
                         record=f"data line {i + 2}") from e  # fmt: skip


def _check_rows(i: int, rec: pysam.VariantRecord, alts: list[str], rows, vcf: Path) -> None:
    """Refuse a record whose store rows differ (the input changed since the run)."""
    ref = (rec.ref or "").upper()
    got = [(str(c), int(p), str(r).upper(), str(a).upper()) for c, p, r, a in rows]
    want = [(rec.contig, int(rec.pos), ref, a) for a in alts]
    if got != want:
        raise StoreError(
            f"input VCF {str(vcf)!r}, data line {i + 1}: {want[0][:3]} does not match the "
            f"store's rows {got[:1]}; the file changed since it was scored (score it again)"
        )


def annotate_vcf(
    url: str,
    path: str | Path,
    *,
    vcf: str | Path | None = None,
    drop_genotypes: bool = False,
) -> Path:
    """Write the input VCF's records with the store's scores as NTS_* INFO fields.

    Args:
        url: a complete score store.
        path: output: `.bcf` (BCF) or bgzipped VCF (`.gz` appended if missing).
        vcf: the input VCF (default: the run's `vcf` setting, read from the store).
        drop_genotypes: leave the samples out (sites only).

    Returns:
        The written path (index: + ".tbi" for VCF, + ".csi" for BCF, when sorted).

    Raises:
        StoreError: incomplete store, input missing or changed, or an unwritable path.
    """
    from ntscale.store.export import variant_frame

    frame = variant_frame(url)
    attrs = dict(open_store(url).attrs)
    src = input_vcf(attrs, vcf)
    out_path = output_path(path)
    # numeric columns only (a stratum's readable label stays in the tables: its commas and
    # spaces are not INFO values)
    score_cols = [c for c in frame.columns if c not in BASE_COLUMNS and frame[c].dtype.kind == "f"]
    base = list(zip(frame["contig"], frame["pos1"], frame["ref"], frame["alt"], strict=True))
    status = frame["status"].to_numpy()
    values = {c: frame[c].to_numpy(np.float64) for c in score_cols}
    row = 0
    try:
        try:
            vf = pysam.VariantFile(str(src))
        except ValueError as e:
            raise InputError(f"cannot read the file as VCF/BCF ({e})", path=src) from e
        with vf:
            if drop_genotypes:
                vf.subset_samples([])  # the header's sample list too (drop_samples keeps it)
            header = vf.header
            _add_header(header, attrs, score_cols)
            mode = "wb" if out_path.suffix == ".bcf" else "wz"
            try:
                out = pysam.VariantFile(str(out_path), mode, header=header)
            except ValueError as e:  # pysam's word for a path it cannot open
                raise OSError(str(e)) from e
            with out:
                for i, rec in _records(vf, src):
                    alts = _row_alts(rec)
                    rows = slice(row, row + len(alts))
                    _check_rows(i, rec, alts, base[rows], src)
                    row += len(alts)
                    # ids of the writer's header (htslib may add keys while reading, e.g.
                    # for symbolic alleles; an untranslated record is then refused)
                    rec.translate(out.header)
                    if rec.alts:
                        rec.info[STATUS_FIELD] = tuple(str(s) for s in status[rows])
                        for c in score_cols:
                            v = [None if math.isnan(x) else float(x) for x in values[c][rows]]
                            if any(x is not None for x in v):
                                rec.info[info_id(c)] = tuple(v)
                    out.write(rec)
    except OSError as e:
        raise StoreError(f"cannot write VCF {str(out_path)!r}: {e}") from e
    if row != len(frame):
        raise StoreError(
            f"input VCF {str(src)!r} has {row} ALT rows, the store {len(frame)}; the file "
            "changed since it was scored (score it again)"
        )
    _index(out_path)
    log.info("annotated %d rows of %s into %s", row, src, out_path)
    return out_path


def _index(path: Path) -> None:
    """A .tbi (VCF) or .csi (BCF) index; an unsorted file is left without one (logged)."""
    try:
        if path.suffix == ".bcf":
            pysam.bcftools.index("--force", str(path))
        else:
            pysam.tabix_index(str(path), preset="vcf", force=True)
    except (OSError, pysam.utils.SamtoolsError) as e:
        log.warning("%s is not indexed (records not sorted by position?): %s", path, e)


__all__ = ["STATUS_FIELD", "annotate_vcf", "info_id", "output_path"]
