"""NTv3 branches of the job commands: `score` (and `embed`) with an NTv3 model run the
single-base NTv3 paths (`ntscale.runner.ntv3_score`, `ntscale.runner.ntv3_embed`)."""

from __future__ import annotations

from typing import Any

import typer

from ntscale.errors import ConfigError

NTV3_SCORE_KEYS = {
    "fasta", "vcf", "model", "out", "scores", "window_bp", "species", "track_names",
    "batch_size", "dtype", "progress",
}  # fmt: skip


def is_ntv3_model(source: str | None) -> bool:
    """Whether a --model value is a published NTv3 name or a folder of an NTv3 config."""
    from ntscale.model.ntv3 import is_ntv3_source

    return is_ntv3_source(source)


def reject_ntv3_options(settings: dict) -> None:
    """ConfigError if NTv3-only options were given for another model."""
    given = [k for k in ("species", "track_names") if settings.get(k) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} apply to NTv3 models only")


def _split(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(v).strip() for v in items if str(v).strip())


def check_keys(settings: dict, allowed: set[str], *, command: str) -> None:
    """ConfigError naming the given settings an NTv3 `command` does not use."""
    other = sorted(k for k, v in settings.items() if v is not None and k not in allowed)
    if other:
        raise ConfigError(
            f"{command} with an NTv3 model takes {', '.join(sorted(allowed))}; "
            f"{', '.join(other)} do not apply to it"
        )


def need(settings: dict, *keys: str, command: str) -> None:
    """ConfigError naming the missing required settings."""
    missing = [k for k in keys if not settings.get(k)]
    if missing:
        raise ConfigError(f"{command} with an NTv3 model needs {', '.join(missing)}")


def run_ntv3_score(settings: dict, *, dry_run: bool) -> None:
    """`ntscale score --model NTv3_...`: masked LLR / track deltas into a Zarr store."""
    from ntscale.runner.ntv3_score import NTv3ScoreConfig, score_ntv3

    check_keys(settings, NTV3_SCORE_KEYS, command="score")
    need(settings, "fasta", "vcf", "out", command="score")
    if dry_run:
        raise ConfigError("--dry-run is not available for NTv3 scoring yet")
    window = settings.get("window_bp")
    cfg = NTv3ScoreConfig(
        fasta=settings["fasta"],
        vcf=settings["vcf"],
        model=settings["model"],
        out=settings["out"],
        scores=_split(settings.get("scores")) or ("llr_masked",),
        window_bp=None if window in (None, "max") else int(window),
        species=settings.get("species"),
        track_names=_split(settings.get("track_names")),
        batch_size=int(settings.get("batch_size") or 8),
        dtype=settings.get("dtype") or "float32",
    )
    summary = score_ntv3(cfg)
    counts = ", ".join(f"{k} {v}" for k, v in summary["status_counts"].items())
    typer.echo(f"{summary['rows']} variants ({counts}) -> {cfg.out}")


NTV3_EMBED_KEYS = {
    "fasta", "model", "out", "window_bp", "species", "per_token", "include_contigs",
    "batch_size", "dtype", "progress",
}  # fmt: skip


def run_ntv3_embed(settings: dict, *, dry_run: bool) -> None:
    """`ntscale embed --model NTv3_...`: pooled (and, with --per-token, per-base)
    embeddings of block-rounded windows over the N-free genome into a Zarr store."""
    from ntscale.runner.ntv3_embed import NTv3EmbedConfig, embed_ntv3

    check_keys(settings, NTV3_EMBED_KEYS, command="embed")
    need(settings, "fasta", "out", command="embed")
    if dry_run:
        raise ConfigError("--dry-run is not available for NTv3 embedding yet")
    window = settings.get("window_bp")
    cfg = NTv3EmbedConfig(
        fasta=settings["fasta"],
        model=settings["model"],
        out=settings["out"],
        window_bp=None if window in (None, "max") else int(window),
        species=settings.get("species"),
        per_base=bool(settings.get("per_token")),
        include_contigs=_split(settings.get("include_contigs")) or (),
        batch_size=int(settings.get("batch_size") or 1),
        dtype=settings.get("dtype") or "float32",
    )
    s = embed_ntv3(cfg)
    typer.echo(
        f"{s['windows']} windows ({s['embedded']} embedded, {s['too_short']} too short), "
        f"{s['bases']:,} bases -> {cfg.out}"
    )
