"""`ntscale score` with an NTv3 model: single-base masked LLR and predicted-track deltas of
the SNVs of a VCF, one row per ALT allele, into a Zarr store (an xarray Dataset).

Per SNV: a window centred on it (a multiple of 2^n bases, shifted inside the contig at
its ends) -> masked-REF forward (MLM logits at the variant) and, post-trained, REF and
ALT forwards (bigWig tracks of one species) -> scores. REF windows shared by several
variants run once. Rows that cannot be scored keep their row with a status (indels and
MNVs: NO_LLR_NOT_SNV with NaN scores -- NTv3 deltas of indels are not built yet).

This path runs in one process (no Ray, no resume): the store is written at the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ntscale.errors import ConfigError
from ntscale.scoring.ntv3_scores import (
    masked_llr,
    parse_ntv3_scores,
    track_deltas,
    variant_window,
)
from ntscale.tokenizer.ntv3 import BASE_IDS, NTV3_MASK, tokenize_bases
from ntscale.types import ScoreStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class NTv3ScoreConfig:
    """One NTv3 scoring run.

    Attributes:
        fasta, vcf, model, out: inputs, the model source and the Zarr store to create.
        scores: subset of ("llr_masked", "track_delta").
        window_bp: window length (default: the published model's trained context; a
            checkpoint folder needs it given). Rounded down to a multiple of 2^n.
        species: post-trained models: the species conditioning every block (and the
            bigWig head); required for them.
        track_names: bigWig tracks to score (default: every track of the species).
        batch_size: windows per forward pass.
        dtype: compute dtype.
    """

    fasta: str
    vcf: str
    model: str
    out: str
    scores: tuple[str, ...] = ("llr_masked",)
    window_bp: int | None = None
    species: str | None = None
    track_names: tuple[str, ...] | None = None
    batch_size: int = 8
    dtype: str = "float32"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "scores", parse_ntv3_scores(self.scores))
        except ValueError as e:
            raise ConfigError(str(e)) from e
        if self.batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if self.window_bp is not None and self.window_bp <= 0:
            raise ConfigError(f"window_bp must be positive, got {self.window_bp}")


def default_window_bp(model_name: str) -> int | None:
    """The trained context of a published NTv3 name, else None."""
    from ntscale.model.ntv3_config import get_ntv3, is_ntv3_name

    return get_ntv3(model_name).context_bp if is_ntv3_name(model_name) else None


def _batched(model: Any, tokens: list[np.ndarray], batch_size: int, **kw: Any) -> list[dict]:
    """Forward passes over equal-length token rows in fixed [batch_size, T] batches (the
    last padded by repeating its first row), one output dict per row."""
    out: list[dict] = []
    for k in range(0, len(tokens), batch_size):
        rows = tokens[k : k + batch_size]
        batch = np.stack(rows + [rows[0]] * (batch_size - len(rows)))
        res = model.apply(batch, **kw)
        out.extend({key: v[j] for key, v in res.items()} for j in range(len(rows)))
    return out


def score_ntv3(config: NTv3ScoreConfig, *, model: Any = None) -> dict[str, Any]:
    """Score the VCF's SNVs and write the store.

    Args:
        config: the run.
        model: an already loaded `NTv3Model` (tests); default: load `config.model`.

    Returns:
        A summary: rows, status counts, forward windows, seconds.

    Raises:
        ConfigError: bad species/track/score settings for this model, or no window length.
        InputError: unreadable FASTA/VCF (names the file and record).
    """
    from ntscale.genome import FastaSource
    from ntscale.genome.variant_table import read_variant_table
    from ntscale.model.ntv3 import load_ntv3

    t0 = time.perf_counter()
    model = model or load_ntv3(config.model, dtype=config.dtype)
    c = model.config
    if "track_delta" in config.scores and not c.post_trained:
        raise ConfigError(f"{c.name}: track_delta needs a post-trained NTv3 model (tracks)")
    species = config.species
    if c.post_trained and species is None:
        valid = sorted(s for s in c.species_to_token_id if not s.startswith("<"))
        raise ConfigError(f"{c.name}: give --species (one of {', '.join(valid)})")
    tracks: tuple[str, ...] = ()
    if "track_delta" in config.scores:
        model.track_ids(species, config.track_names)  # checks the names now
        tracks = tuple(config.track_names or c.tracks_of(species))
        if not tracks:
            raise ConfigError(f"{c.name}: species {species!r} has no bigWig tracks")
    window_bp = config.window_bp or default_window_bp(model.name)
    if window_bp is None:
        raise ConfigError(f"{model.name}: give --window-bp (not a published NTv3 name)")
    fasta = FastaSource(config.fasta)
    table = read_variant_table(config.vcf, contigs=fasta.contigs)
    n = table.n_variants
    status = table.status.copy()
    llr = np.full(n, np.nan, np.float32)
    d_sum = np.full((n, len(tracks)), np.nan, np.float32)
    d_max = np.full((n, len(tracks)), np.nan, np.float32)
    start = np.full(n, -1, np.int64)
    end = np.full(n, -1, np.int64)

    jobs = []  # (row, window key, variant offset, ref id, alt id)
    windows: dict[tuple[str, int, int], np.ndarray] = {}
    for i in np.flatnonzero(table.is_snv() & (status == ScoreStatus.OK)):
        contig, pos = str(table.contig[i]), int(table.pos[i])
        length = fasta.contig_length(contig)
        try:
            a, b = variant_window(pos, length, window_bp, c.block_bp)
        except ValueError:
            status[i] = ScoreStatus.ALLELE_EXCEEDS_WINDOW
            continue
        key = (contig, a, b)
        if key not in windows:
            windows[key] = tokenize_bases(fasta.fetch(contig, a, b), where=f"{contig}:{a}-{b}")
        off = pos - a
        if windows[key][off] != BASE_IDS[str(table.ref[i])]:
            status[i] = ScoreStatus.REF_MISMATCH
            continue
        if off != (b - a) // 2:
            status[i] = ScoreStatus.OFF_CENTRE
        start[i], end[i] = a, b
        jobs.append((i, key, off, BASE_IDS[str(table.ref[i])], BASE_IDS[str(table.alt[i])]))

    kw = {"species": species} if c.post_trained else {}
    n_forward = 0
    by_length: dict[int, list[tuple]] = {}
    for job in jobs:
        by_length.setdefault(job[1][2] - job[1][1], []).append(job)
    for group in by_length.values():
        if "llr_masked" in config.scores:
            masked = []
            for _, key, off, _, _ in group:
                tok = windows[key].copy()
                tok[off] = NTV3_MASK
                masked.append(tok)
            outs = _batched(model, masked, config.batch_size, outputs=("logits",), **kw)
            n_forward += len(masked)
            for (i, _, off, ref_id, alt_id), o in zip(group, outs, strict=True):
                llr[i] = masked_llr(o["logits"][off], ref_id, alt_id)
        if "track_delta" in config.scores:
            keys = sorted({job[1] for job in group})
            alts = []
            for _, key, off, _, alt_id in group:
                tok = windows[key].copy()
                tok[off] = alt_id
                alts.append(tok)
            opts = dict(outputs=("bigwig",), tracks=tracks, **kw)
            ref_out = _batched(model, [windows[k] for k in keys], config.batch_size, **opts)
            alt_out = _batched(model, alts, config.batch_size, **opts)
            n_forward += len(keys) + len(alts)
            ref_tracks = {k: o["bigwig"] for k, o in zip(keys, ref_out, strict=True)}
            for (i, key, _, _, _), o in zip(group, alt_out, strict=True):
                d_sum[i], d_max[i] = track_deltas(ref_tracks[key], o["bigwig"])

    _write(config, model, table, status, start, end, llr, d_sum, d_max, tracks, window_bp)
    seconds = time.perf_counter() - t0
    codes, counts = np.unique(status, return_counts=True)
    summary = {
        "rows": n,
        "status_counts": {
            ScoreStatus(int(s)).name.lower(): int(k) for s, k in zip(codes, counts, strict=True)
        },
        "forward_windows": n_forward,
        "window_bp": window_bp,
        "seconds": round(seconds, 3),
    }
    log.info("NTv3 scores: %s", summary)
    return summary


def _write(
    config: NTv3ScoreConfig,
    model: Any,
    table: Any,
    status: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    llr: np.ndarray,
    d_sum: np.ndarray,
    d_max: np.ndarray,
    tracks: tuple[str, ...],
    window_bp: int,
) -> None:
    import xarray as xr

    from ntscale import __version__

    data: dict[str, Any] = {
        "window_start": ("variant", start),
        "window_end": ("variant", end),
    }
    if "llr_masked" in config.scores:
        data["llr_masked"] = ("variant", llr)
    if "track_delta" in config.scores:
        data["track_delta_sum"] = (("variant", "track"), d_sum)
        data["track_delta_max"] = (("variant", "track"), d_max)
    coords: dict[str, Any] = {
        "contig": ("variant", table.contig.astype(str)),
        "pos": ("variant", table.pos),
        "id": ("variant", table.id.astype(str)),
        "ref": ("variant", table.ref.astype(str)),
        "alt": ("variant", table.alt.astype(str)),
        "status": ("variant", np.array([ScoreStatus(int(s)).name for s in status])),
    }
    if tracks:
        coords["track"] = ("track", np.array(tracks))
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        kind="score_ntv3",
        ntscale_version=__version__,
        model=model.name,
        model_digest=model.digest,
        dtype=model.precision.name,
        species=config.species,
        window_bp=int(window_bp),
        block_bp=int(model.config.block_bp),
        scores=list(config.scores),
        vcf=Path(config.vcf).name,
        fasta=Path(config.fasta).name,
        llr_masked="log p(ALT) - log p(REF) at the variant base, masked, in a REF window",
        track_delta="sum / max over the heads' output bases of |ALT - REF| predicted track",
    )
    ds.to_zarr(config.out, mode="w-", consolidated=True)
