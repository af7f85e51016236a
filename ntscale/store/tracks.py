"""Genome tracks from a track store (`ntscale score --tracks`): bigWig, bedGraph on request.

One file per track (`llr_min`, `llr_mean`, `llr_max`, `logp_wt`): PREFIX.<track>.bw
(pyBigWig: binary, indexed, zoom levels; opens in IGV and the UCSC browser). With
`bedgraph=True` (`--bedgraph`) also PREFIX.<track>.bedGraph.gz: contig, 0-based start, end,
value (6 significant digits), consecutive bases with the same printed value merged into
one line, bgzipped and tabix-indexed (.tbi), so `tabix FILE 20:1000-2000` reads a slice.
Bases without a value (N or another IUPAC letter) are left out of both.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ntscale.errors import StoreError
from ntscale.store.reader import open as open_store
from ntscale.store.reader import store_summary

log = logging.getLogger(__name__)


def track_prefix(prefix: str | Path) -> Path:
    """Where PREFIX.<track>.bw goes: a prefix naming a folder (a trailing "/" or an existing
    folder) writes inside it, as <folder>/tracks.<track>.bw."""
    text = str(prefix)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return Path(text) / "tracks"
    return Path(text)


def export_tracks(url: str, prefix: str | Path, *, bedgraph: bool = False) -> list[Path]:
    """Write every track of a complete track store as bigWig (and bgzipped bedGraph):
    PREFIX.<track>.bw (.bedGraph.gz); a folder prefix writes inside it, see `track_prefix`.

    Returns:
        The files written (bigWig, then the bedGraph.gz with `bedgraph`, per track).

    Raises:
        StoreError: not a track store, units pending, or a file cannot be written.
    """
    import pyBigWig

    ds = open_store(url)
    if ds.attrs.get("job") != "tracks":
        raise StoreError(f"store {url!r} is not a track store (made by `ntscale score --tracks`)")
    part = store_summary(url)["variants"]
    if part["units_done"] < part["units_total"]:
        raise StoreError(
            f"store {url!r} is incomplete ({part['units_done']} of {part['units_total']} units "
            "done); run the same `ntscale score --tracks` command again, then export"
        )
    prefix = track_prefix(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    contigs = [(str(c), int(n)) for c, n in ds.attrs["contigs"] if int(n) > 0]
    order = {c: i for i, (c, _) in enumerate(contigs)}
    frame = pd.DataFrame(
        {
            "contig": ds["variant_contig"].values.astype(str),
            "start": np.asarray(ds["variant_pos"].values, np.int64),
        }
    )
    frame["_c"] = frame["contig"].map(order)
    frame = frame.sort_values(["_c", "start"], kind="stable")
    written = []
    for name in ds.attrs["scoring"]["score_names"]:
        values = np.asarray(ds[f"score_{name}"].values, np.float64)[frame.index.to_numpy()]
        keep = np.isfinite(values)
        rows = frame[keep].assign(end=lambda f: f["start"] + 1, value=values[keep])
        bw_path = Path(f"{prefix}.{name}.bw")
        try:
            bw = pyBigWig.open(str(bw_path), "w")
            bw.addHeader(contigs, maxZooms=10)
            for contig, part_rows in rows.groupby("_c", sort=True):
                name_c = contigs[int(contig)][0]
                bw.addEntries(
                    [name_c] * len(part_rows),
                    part_rows["start"].to_list(),
                    ends=part_rows["end"].to_list(),
                    values=part_rows["value"].astype(float).to_list(),
                )
            bw.close()
            written.append(bw_path)
            if bedgraph:
                written.append(write_bedgraph(rows, Path(f"{prefix}.{name}.bedGraph")))
        except (OSError, RuntimeError) as e:
            raise StoreError(f"cannot write track {name} at {prefix}: {e}") from e
        log.info("track %s: %d bases -> %s", name, int(keep.sum()), written[-1])
    return written


def merge_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """Join consecutive bases (same contig, touching) whose printed values are equal.

    `rows` has contig, start, end and value, sorted by contig and start; the result has the
    same columns with `value` as printed text (6 significant digits, as bedGraph keeps it).
    """
    text = np.array([f"{v:.6g}" for v in rows["value"].to_numpy()], dtype=object)
    contig = rows["contig"].to_numpy()
    start, end = rows["start"].to_numpy(), rows["end"].to_numpy()
    new = np.ones(len(rows), bool)
    new[1:] = (contig[1:] != contig[:-1]) | (start[1:] != end[:-1]) | (text[1:] != text[:-1])
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:], [len(rows)])) - 1
    return pd.DataFrame(
        {"contig": contig[first], "start": start[first], "end": end[last], "value": text[first]}
    )


def write_bedgraph(rows: pd.DataFrame, path: Path) -> Path:
    """Write merged runs as PATH.gz (bgzip) with a tabix index; return the .gz path."""
    import pysam

    merge_runs(rows).to_csv(path, sep="\t", header=False, index=False)
    gz = Path(pysam.tabix_index(str(path), preset="bed", force=True, keep_original=False))
    return gz


__all__ = ["export_tracks", "merge_runs", "write_bedgraph"]
