"""Export a store's variant scores: a bgzipped, tabix-indexed VCF and a TSV/Parquet table.

The VCF is sites-only with one record per scored row (multi-allelic input records come
out split, one ALT per line, like `bcftools norm -m -`), sorted by contig (store order)
and position. INFO carries `NTS_STATUS` (the row's status name) and one Float field per
score, named as the store's score arrays; a NaN score is left out of the record (missing).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from ntscale.errors import StoreError
from ntscale.store.reader import open as open_store
from ntscale.store.reader import store_summary, variant_status_names
from ntscale.store.score_columns import (
    add_calibrated_columns,
    add_sign_columns,
    provenance_lines,
)

log = logging.getLogger(__name__)

STATUS_FIELD = "NTS_STATUS"


def _str(values: np.ndarray) -> np.ndarray:
    # numpy StringDType (as the store reads) -> plain str for pandas
    return np.asarray(np.asarray(values).tolist(), dtype=object)


def variant_frame(url: str, *, require_complete: bool = True) -> pd.DataFrame:
    """One row per variant row of the store: contig, pos1, id, ref, alt, status, scores.

    Args:
        url: a store with a variant part.
        require_complete: refuse a store whose variant units are not all done.

    Raises:
        StoreError: no variant part, or units still pending (resume the run first).
    """
    ds = open_store(url)
    if "variant_pos" not in ds.coords:
        raise StoreError(f"store {url!r} holds no variant scores (not made by `ntscale score`)")
    part = store_summary(url)["variants"]
    if require_complete and part["units_done"] < part["units_total"]:
        raise StoreError(
            f"store {url!r} is incomplete: {part['units_total'] - part['units_done']} of "
            f"{part['units_total']} variant units are not done yet; run the same "
            "`ntscale score` command again to finish it, then export"
        )
    frame = pd.DataFrame(
        {
            "contig": _str(ds["variant_contig"].values),
            "pos1": np.asarray(ds["variant_pos"].values) + 1,
            "id": _str(ds["variant_id"].values),
            "ref": _str(ds["variant_ref"].values),
            "alt": _str(ds["variant_alt"].values),
            "status": _str(ds["variant_status"].values),
        }
    )
    for var in ds.data_vars:
        if str(var).startswith("score_"):
            frame[str(var)[len("score_") :]] = np.asarray(ds[var].values, np.float32)
    return add_calibrated_columns(add_sign_columns(frame), dict(ds.attrs))


def export_table(url: str, path: str | Path) -> Path:
    """Write the variant frame as TSV (NaN as empty) or Parquet, by the file's suffix.

    Raises:
        StoreError: bad suffix, incomplete store, or the file cannot be written.
    """
    path = Path(path)
    frame = variant_frame(url)
    try:
        if path.suffix == ".tsv":
            frame.to_csv(path, sep="\t", index=False, na_rep="", float_format="%.7g")
        elif path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            raise StoreError(f"table path {str(path)!r} must end in .tsv or .parquet")
    except OSError as e:
        raise StoreError(f"cannot write table {str(path)!r}: {e}") from e
    log.info("wrote %d variant rows to %s", len(frame), path)
    return path


def _header(ds_attrs: dict, score_cols: list[str], contigs: list) -> list[str]:
    docs = dict((ds_attrs.get("scoring") or {}).get("score_docs", {}))
    names = variant_status_names(ds_attrs)
    lines = ["##fileformat=VCFv4.2", f"##source=ntscale {ds_attrs.get('ntscale_version', '')}"]
    model = ds_attrs.get("model") or {}
    if model:
        lines.append(f"##ntscale_model={model.get('name')} digest={model.get('checkpoint_digest')}")
    lines += provenance_lines(ds_attrs)
    for name, length in contigs:
        lines.append(f"##contig=<ID={name},length={length}>" if length else f"##contig=<ID={name}>")
    status_list = ",".join(v for k, v in sorted(names.items()))
    lines.append(
        f'##INFO=<ID={STATUS_FIELD},Number=1,Type=String,Description="ntscale '
        f'scoring status, one of: {status_list}">'
    )
    for col in score_cols:
        kind = next((k for k in sorted(docs, key=len, reverse=True) if col.startswith(k)), None)
        desc = docs.get(kind, "ntscale variant score") if kind else "ntscale variant score"
        desc = desc.replace('"', "'")
        lines.append(f'##INFO=<ID={col},Number=1,Type=Float,Description="{desc}">')
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    return lines


def _fmt(x: float) -> str | None:
    return None if math.isnan(x) else f"{x:.7g}"


def export_vcf(url: str, path: str | Path) -> Path:
    """Write a bgzipped VCF of the store's variants with scores as INFO, plus its .tbi index.

    Args:
        url: a complete score store.
        path: output path; ".gz" is appended if missing.

    Returns:
        The VCF path (the index is the same path + ".tbi").

    Raises:
        StoreError: incomplete store or the file cannot be written.
    """
    path = Path(path)
    if not path.name.endswith(".gz"):
        path = path.with_name(path.name + ".gz")
    frame = variant_frame(url)
    ds = open_store(url)
    contigs = [tuple(c) for c in ds.attrs["contigs"]]
    order = {name: i for i, (name, _) in enumerate(contigs)}
    frame = frame.assign(_c=frame["contig"].map(order), _row=np.arange(len(frame)))
    frame = frame.sort_values(["_c", "pos1", "_row"], kind="stable")
    score_cols = [
        c
        for c in frame.columns
        if c not in ("contig", "pos1", "id", "ref", "alt", "status", "_c", "_row")
    ]
    lines = _header(ds.attrs, score_cols, contigs)
    values = {c: frame[c].to_numpy(np.float64) for c in score_cols}
    for k, row in enumerate(frame.itertuples(index=False)):
        info = [f"{STATUS_FIELD}={row.status}"]
        for c in score_cols:
            v = _fmt(values[c][k])
            if v is not None:
                info.append(f"{c}={v}")
        lines.append(
            f"{row.contig}\t{row.pos1}\t{row.id or '.'}\t{row.ref}\t{row.alt}\t.\t.\t"
            + ";".join(info)
        )
    plain = path.with_name(path.name + ".tmp.vcf")
    try:
        plain.write_text("\n".join(lines) + "\n")
        pysam.tabix_compress(str(plain), str(path), force=True)
        pysam.tabix_index(str(path), preset="vcf", force=True)
    except OSError as e:
        raise StoreError(f"cannot write VCF {str(path)!r}: {e}") from e
    finally:
        plain.unlink(missing_ok=True)
    log.info("wrote %d variant records to %s (+ .tbi)", len(frame), path)
    return path


__all__ = ["STATUS_FIELD", "export_table", "export_vcf", "variant_frame"]
