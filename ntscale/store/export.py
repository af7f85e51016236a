"""Export a store's variant scores: the input VCF annotated in place, a TSV/Parquet table.

The VCF (`export_vcf`, in `ntscale.store.vcf_annotate`) keeps every input record and adds
the scores as `NTS_*` INFO fields (Number=A); the table has one row per ALT.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ntscale.errors import StoreError
from ntscale.store.reader import open as open_store
from ntscale.store.reader import store_summary
from ntscale.store.score_columns import (
    add_calibrated_columns,
    add_sign_columns,
    provenance_lines,
)

log = logging.getLogger(__name__)

STATUS_FIELD = "NTS_STATUS"  # the VCF's per-ALT status field (ntscale.store.vcf_annotate)


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


TABLE_NAMES = {"contig": "chrom", "pos1": "pos"}  # TraitGym's and GPN's column names


def table_provenance(attrs: dict) -> dict[str, str]:
    """What made the scores (model, digest, window, preset, ...): `ntscale...` key -> value."""
    out = {}
    for line in provenance_lines(attrs):
        key, _, value = line[2:].partition("=")
        out[key] = value
    return out


def export_table(url: str, path: str | Path, *, scored_only: bool = False) -> Path:
    """Write one row per ALT, in the store's (= the input's) order, as TSV, CSV or Parquet.

    Columns: chrom, pos (1-based), id, ref, alt, status, then the scores (TSV/CSV: NaN as
    an empty field). Provenance (`table_provenance`) goes into the Parquet schema metadata
    (key `ntscale`, JSON) and into `##ntscale...=` comment lines above a TSV/CSV header
    (read with `pandas.read_csv(path, sep="\t", comment="#")`). `scored_only` keeps the
    rows whose status carries scores (`ScoreStatus.scored`).

    Raises:
        StoreError: bad suffix, incomplete store, or the file cannot be written.
    """
    import json

    path = Path(path)
    frame = variant_frame(url).rename(columns=TABLE_NAMES)
    attrs = dict(open_store(url).attrs)
    if scored_only:
        frame = frame[frame["status"].isin(scored_status_names())].reset_index(drop=True)
    prov = table_provenance(attrs)
    try:
        if path.suffix in (".tsv", ".csv"):
            sep = "\t" if path.suffix == ".tsv" else ","
            with open(path, "w", newline="") as f:
                f.writelines(f"##{k}={v}\n" for k, v in prov.items())
                frame.to_csv(f, sep=sep, index=False, na_rep="", float_format="%.7g")
        elif path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = dict(table.schema.metadata or {})
            meta[b"ntscale"] = json.dumps(prov).encode()
            pq.write_table(table.replace_schema_metadata(meta), path)
        else:
            raise StoreError(f"table path {str(path)!r} must end in .tsv, .csv or .parquet")
    except OSError as e:
        raise StoreError(f"cannot write table {str(path)!r}: {e}") from e
    log.info("wrote %d variant rows to %s", len(frame), path)
    return path


def scored_status_names() -> list[str]:
    """Status names of rows that carry scores (codes below 10; docs/scoring.md)."""
    from ntscale.types import ScoreStatus

    return [s.name.lower() for s in ScoreStatus if s.scored]


def export_vcf(
    url: str, path: str | Path, *, vcf: str | Path | None = None, drop_genotypes: bool = False
) -> Path:
    """The input VCF annotated in place with the scores (`ntscale.store.vcf_annotate`)."""
    from ntscale.store.vcf_annotate import annotate_vcf

    return annotate_vcf(url, path, vcf=vcf, drop_genotypes=drop_genotypes)


__all__ = [
    "STATUS_FIELD",
    "export_table",
    "export_vcf",
    "scored_status_names",
    "table_provenance",
    "variant_frame",
]
