"""Per-window and per-contig summaries of an embedding store, computed out of core with dask.

The small per-window coordinates (contig, start, end, status, ...) are numpy arrays in the
Dataset; the embeddings stay dask arrays and are only ever reduced (norms, means), one chunk
(work unit) at a time, so a whole-genome store never has to fit in memory.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from ntscale.errors import InputError
from ntscale.genome.fasta import FastaSource
from ntscale.types import WindowStatus

logger = logging.getLogger(__name__)

# Windows with embeddings: a forward pass ran (a shrunk window still has one).
EMBEDDED_STATUSES = (WindowStatus.OK.name, WindowStatus.SHRUNK_TO_TOKEN_BUDGET.name)


def status_name(code: int | str) -> str:
    """Name of a window status (the store keeps names; a code, e.g. 0, gives 'OK')."""
    if isinstance(code, str):
        return code
    try:
        return WindowStatus(int(code)).name
    except ValueError:
        return str(int(code))


def _labels(values: Any) -> np.ndarray:
    # The store's strings come back as numpy StringDType; plain str for np.isin/pandas.
    return np.asarray(np.asarray(values).tolist(), dtype=str)


def embedded_mask(ds: xr.Dataset) -> np.ndarray:
    """[W] bool: windows whose embeddings were computed (status OK or SHRUNK)."""
    return np.isin(_labels(ds["status"].values), EMBEDDED_STATUSES)


def pick_layer(ds: xr.Dataset, layer: int | None = None) -> int:
    """The layer to analyse: `layer` if the store has it, else the store's last layer.

    Raises:
        InputError: the store has no embeddings, or not that layer.
    """
    if "embedding_mean" not in ds:
        raise InputError("the store has no window embeddings (a variant-scores store?)")
    layers = [int(v) for v in ds["layer"].values]
    if layer is None:
        return layers[-1]
    if int(layer) not in layers:
        raise InputError(f"layer {layer!r} is not in the store; it has layers {layers}")
    return int(layer)


def window_norms(ds: xr.Dataset, layer: int) -> xr.DataArray:
    """Lazy [W] L2 norm of each window's mean embedding at `layer` (NaN without data)."""
    emb = ds["embedding_mean"].sel(layer=layer)
    return np.sqrt((emb**2).sum("dim", skipna=False)).rename("embedding_norm")


def status_counts(ds: xr.Dataset) -> dict[str, int]:
    """Windows per status name, over every row of the store."""
    names, counts = np.unique(_labels(ds["status"].values), return_counts=True)
    return {str(c): int(k) for c, k in zip(names, counts, strict=True)}


def contig_summary(
    ds: xr.Dataset, *, layer: int | None = None, gc: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per contig: windows, bp spanned, counts by status, mean frac N, mean norm.

    Args:
        ds: an embedding store opened with `ntscale.store.open`.
        layer: layer of the mean embedding norm (default: the store's last layer).
        gc: optional [W] GC fraction per window (adds a `mean_gc` column).

    Returns:
        DataFrame indexed by contig (store order), columns `windows`, `bp`,
        `status_<NAME>` for each status present, `mean_frac_n`, `mean_embedding_norm`
        (over embedded windows only), and `mean_gc` if `gc` was given.
    """
    layer = pick_layer(ds, layer)
    norms = window_norms(ds, layer).data.compute()  # [W] floats: one per window
    frame = pd.DataFrame(
        {
            "contig": np.asarray(ds["contig"].values),
            "bp": np.asarray(ds["end"].values) - np.asarray(ds["start"].values),
            "status": _labels(ds["status"].values),
            "frac_n": np.asarray(ds["frac_n"].values, dtype=np.float64),
            "norm": np.where(embedded_mask(ds), norms, np.nan),
        }
    )
    if gc is not None:
        frame["gc"] = gc
    frame = frame[frame["contig"] != ""]  # unwritten rows have no contig
    order = list(dict.fromkeys(frame["contig"]))
    grouped = frame.groupby("contig", sort=False)
    out = pd.DataFrame(index=pd.Index(order, name="contig"))
    out["windows"] = grouped.size()
    out["bp"] = grouped["bp"].sum()
    counts = frame.pivot_table(index="contig", columns="status", aggfunc="size", fill_value=0)
    for name in counts.columns:
        out[f"status_{name}"] = counts[name].reindex(order).astype(int)
    out["mean_frac_n"] = grouped["frac_n"].mean()
    out["mean_embedding_norm"] = grouped["norm"].mean()
    if gc is not None:
        out["mean_gc"] = grouped["gc"].mean()
    return out


def _sequence_stats_block(
    fasta: FastaSource, contig: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """[n, 2] (GC fraction of A/C/G/T, fraction of other letters) for each interval."""
    out = np.full((contig.shape[0], 2), np.nan)
    for i, (c, s, e) in enumerate(zip(contig, start, end, strict=True)):
        if not c or e <= s:
            continue
        seq = np.frombuffer(fasta.fetch(str(c), int(s), int(e)).upper().encode(), np.uint8)
        acgt = np.isin(seq, np.frombuffer(b"ACGT", np.uint8))
        gc = np.isin(seq, np.frombuffer(b"GC", np.uint8)).sum()
        n_acgt = int(acgt.sum())
        out[i, 0] = gc / n_acgt if n_acgt else np.nan
        out[i, 1] = 1.0 - n_acgt / seq.shape[0]
    return out


def sequence_stats(
    ds: xr.Dataset, fasta: str | os.PathLike[str] | FastaSource, *, chunk_windows: int = 4096
) -> xr.Dataset:
    """GC content and N fraction of every window's reference interval, read from the FASTA.

    GC is (G+C)/(A+C+G+T), Ns excluded; N fraction is the share of non-A/C/G/T letters.
    Both are of the reference interval [start, end): a '-' window has the same values as
    its '+' twin, and a haplotype window gets its reference interval's values (its own
    alleles are not applied). The FASTA is read in dask tasks of `chunk_windows` windows,
    each of which opens the file itself (FastaSource pickles by path).

    Returns:
        Dataset with `gc` and `n_fraction` (window), NaN for unwritten rows and for windows
        without any A/C/G/T (gc).

    Raises:
        InputError: the FASTA lacks a contig of the store, or a window lies outside it.
    """
    source = fasta if isinstance(fasta, FastaSource) else FastaSource(fasta)
    contig = np.asarray(ds["contig"].values)
    start = np.asarray(ds["start"].values)
    end = np.asarray(ds["end"].values)
    known = set(source.contig_names)
    missing = sorted({str(c) for c in contig if c and c not in known})
    if missing:
        raise InputError(
            f"the FASTA has no contig(s) {missing[:5]!r} that the store has; pass the FASTA "
            "the store was made from (--fasta)",
            path=source.path,
        )
    # Strands and haplotypes repeat reference intervals: read each interval once.
    keys = pd.MultiIndex.from_arrays([contig, start, end])
    codes, uniques = pd.factorize(keys)
    u_contig = np.asarray(uniques.get_level_values(0), dtype=object)
    u_start = np.asarray(uniques.get_level_values(1), dtype=np.int64)
    u_end = np.asarray(uniques.get_level_values(2), dtype=np.int64)
    n = u_start.shape[0]
    if n == 0:
        values = np.zeros((0, 2))
    else:
        chunks = (chunk_windows,)
        blocks = da.map_blocks(
            lambda c, s, e: _sequence_stats_block(source, c, s, e),
            da.from_array(u_contig, chunks=chunks),
            da.from_array(u_start, chunks=chunks),
            da.from_array(u_end, chunks=chunks),
            new_axis=1,
            chunks=(da.from_array(u_start, chunks=chunks).chunks[0], (2,)),
            dtype=np.float64,
            meta=np.empty((0, 2)),
        )
        values = blocks.compute()[codes]
    return xr.Dataset({"gc": ("window", values[:, 0]), "n_fraction": ("window", values[:, 1])})


def resolve_fasta(
    attrs: dict[str, Any], fasta: str | os.PathLike[str] | None = None
) -> FastaSource | None:
    """The FASTA to read GC from: `fasta` if given, else the path the run recorded.

    The run's config records the FASTA path as it was given (relative to the folder the
    run started in). A recorded path is used only when it exists and its .fai digest
    equals the store's, so a different genome of the same name is never used silently.

    Returns:
        A FastaSource, or None when no FASTA was given and the recorded one is not usable.

    Raises:
        InputError: `fasta` was given but its contig table differs from the store's.
    """
    expected = (attrs.get("fasta") or {}).get("fai_digest")
    if fasta is not None:
        source = FastaSource(fasta)
        if expected and source.fai_digest() != expected:
            raise InputError(
                "this FASTA's contig table (.fai) differs from the one the store was made "
                f"from ({(attrs.get('fasta') or {}).get('name')!r}); pass that FASTA",
                path=source.path,
            )
        return source
    recorded = (attrs.get("config") or {}).get("fasta")
    if not recorded or not Path(recorded).is_file():
        logger.info("recorded FASTA %r not found: no GC content", recorded)
        return None
    try:
        source = FastaSource(recorded)
    except InputError as e:
        logger.info("recorded FASTA %r not usable (%s): no GC content", recorded, e)
        return None
    if expected and source.fai_digest() != expected:
        logger.info("recorded FASTA %r has another .fai digest: no GC content", recorded)
        return None
    return source
