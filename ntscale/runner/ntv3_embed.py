"""`ntscale embed` with an NTv3 model: windows over the N-free parts of a genome, rounded to
the model's 2^num_downsamples rule, mean-pooled base-resolution embeddings per window and,
opt-in, the per-base embeddings (float16, one chunk per window) into a Zarr store.

The store is an xarray Dataset: `embedding_mean` [window, dim] float32, optional
`embedding_base` [window, base, dim] float16 (NaN past a window's own length), window
coordinates contig/start/end/status ("ok", or "too_short" for N-free stretches shorter
than one block: kept as rows, never embedded). One process, no resume (see docs/model.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ntscale.errors import ConfigError
from ntscale.genome.block_windows import BlockWindows, nfree_intervals, plan_block_windows
from ntscale.runner.ntv3_score import default_window_bp
from ntscale.tokenizer.ntv3 import tokenize_bases

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class NTv3EmbedConfig:
    """One NTv3 embedding run.

    Attributes:
        fasta, model, out: the genome, the model source and the Zarr store to create.
        window_bp: window length (default: the published model's trained context; rounded
            down to a multiple of 2^n; shorter N-free stretches get shorter windows).
        species: post-trained models: the conditioning species (required for them).
        per_base: also store per-base embeddings (float16; 2 x dim bytes per base).
        include_contigs: contigs to embed (default: all).
        batch_size: windows per forward pass (see docs/model.md for memory per window).
        dtype: compute dtype.
    """

    fasta: str
    model: str
    out: str
    window_bp: int | None = None
    species: str | None = None
    per_base: bool = False
    include_contigs: tuple[str, ...] = ()
    batch_size: int = 1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if self.window_bp is not None and self.window_bp <= 0:
            raise ConfigError(f"window_bp must be positive, got {self.window_bp}")


def plan_ntv3_windows(
    fasta: Any, *, window_bp: int, block_bp: int, include: tuple[str, ...]
) -> BlockWindows:
    """Windows over the N-free intervals of the FASTA's (chosen) contigs."""
    from ntscale.genome.gaps import load_gap_index

    contigs = [(n, L) for n, L in fasta.contigs if not include or n in include]
    missing = sorted(set(include) - {n for n, _ in contigs})
    if missing:
        raise ConfigError(f"{fasta.path}: contig(s) {missing} not in the FASTA")
    gaps = load_gap_index(fasta, cache=False)
    return plan_block_windows(
        nfree_intervals(contigs, gaps.runs), window_bp=window_bp, block_bp=block_bp
    )


def embed_ntv3(config: NTv3EmbedConfig, *, model: Any = None) -> dict[str, Any]:
    """Plan, embed and write the store.

    Returns:
        A summary: windows, embedded windows, bases, forward passes, seconds.

    Raises:
        ConfigError: species misuse, no window length, or a window shorter than a block.
    """
    import zarr

    from ntscale.genome import FastaSource
    from ntscale.model.ntv3 import load_ntv3

    t0 = time.perf_counter()
    model = model or load_ntv3(config.model, dtype=config.dtype)
    c = model.config
    if c.post_trained and config.species is None:
        raise ConfigError(f"{c.name}: give --species (post-trained NTv3 is conditioned)")
    window_bp = config.window_bp or default_window_bp(model.name)
    if window_bp is None:
        raise ConfigError(f"{model.name}: give --window-bp (not a published NTv3 name)")
    if window_bp < c.block_bp:
        raise ConfigError(f"window_bp {window_bp} is shorter than one block ({c.block_bp} bp)")
    fasta = FastaSource(config.fasta)
    plan = plan_ntv3_windows(
        fasta, window_bp=window_bp, block_bp=c.block_bp, include=config.include_contigs
    )
    n, dim = plan.n_windows, c.conv_init_embed_dim
    max_len = int(plan.lengths()[plan.status == "ok"].max(initial=0))
    _create_store(config, model, plan, window_bp, max_len)
    group = zarr.open_group(config.out, mode="r+")
    per_base = group["embedding_base"] if config.per_base else None
    means = np.full((n, dim), np.nan, np.float32)
    kw = {"species": config.species} if c.post_trained else {}
    ok = np.flatnonzero(plan.status == "ok")
    by_length: dict[int, list[int]] = {}
    for i in ok:
        by_length.setdefault(int(plan.end[i] - plan.start[i]), []).append(int(i))
    model_seconds = 0.0
    for length, rows in sorted(by_length.items()):
        for k in range(0, len(rows), config.batch_size):
            idx = rows[k : k + config.batch_size]
            toks = [
                tokenize_bases(
                    fasta.fetch(str(plan.contig[i]), int(plan.start[i]), int(plan.end[i])),
                    where=f"{plan.contig[i]}:{plan.start[i]}-{plan.end[i]}",
                )
                for i in idx
            ]
            batch = np.stack(toks + [toks[0]] * (config.batch_size - len(toks)))
            tm = time.perf_counter()
            emb = model.apply(batch, outputs=("embedding",), **kw)["embedding"]
            model_seconds += time.perf_counter() - tm
            for j, i in enumerate(idx):
                means[i] = emb[j].mean(axis=0)
                if per_base is not None:
                    per_base[i, :length] = emb[j].astype(np.float16)
    group["embedding_mean"][:] = means
    zarr.consolidate_metadata(config.out)
    seconds = time.perf_counter() - t0
    summary = {
        "windows": n,
        "embedded": int(ok.size),
        "too_short": int(n - ok.size),
        "bases": plan.covered_bp(),
        "window_bases": int(plan.lengths()[ok].sum()),
        "window_bp": int(window_bp),
        "seconds": round(seconds, 3),
        "model_seconds": round(model_seconds, 3),
    }
    log.info("NTv3 embed: %s", summary)
    return summary


def _create_store(
    config: NTv3EmbedConfig, model: Any, plan: BlockWindows, window_bp: int, max_len: int
) -> None:
    """Coordinates, NaN-filled embedding_mean (and per-base array) and attributes."""
    import xarray as xr
    import zarr

    from ntscale import __version__

    dim = model.config.conv_init_embed_dim
    ds = xr.Dataset(
        {"embedding_mean": (("window", "dim"), np.full((plan.n_windows, dim), np.nan, np.float32))},
        coords={
            "contig": ("window", plan.contig.astype(str)),
            "start": ("window", plan.start),
            "end": ("window", plan.end),
            "status": ("window", plan.status.astype(str)),
        },
    )
    ds.attrs.update(
        kind="embed_ntv3",
        ntscale_version=__version__,
        model=model.name,
        model_digest=model.digest,
        dtype=model.precision.name,
        species=config.species,
        window_bp=int(window_bp),
        block_bp=int(model.config.block_bp),
        pooling="mean over the window's bases of the final (base-resolution) embedding",
        windows="N-free intervals tiled by multiples of block_bp; last window end-aligned",
    )
    ds.to_zarr(config.out, mode="w-", consolidated=False)
    if config.per_base:
        zarr.open_group(config.out, mode="r+").create_array(
            "embedding_base",
            shape=(plan.n_windows, max(max_len, 1), dim),
            chunks=(1, max(max_len, 1), dim),
            dtype="float16",
            fill_value=np.nan,
            dimension_names=("window", "base", "dim"),
        )
