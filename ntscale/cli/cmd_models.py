"""`ntscale models` and `ntscale download`: the published models, and fetching them ahead of a run.

On an offline cluster, `ntscale download NAME --cache-dir DIR` on a machine with network, then
HF_HUB_CACHE=DIR (and HF_HUB_OFFLINE=1) on the cluster, makes every published name load
from the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ntscale.cli.main import app
from ntscale.errors import ConfigError

Opt = typer.Option

CacheDirOpt = Annotated[
    str | None,
    Opt(
        "--cache-dir",
        help="Hugging Face hub cache folder (default: HF_HUB_CACHE, else HF_HOME/hub, "
        "else ~/.cache/huggingface/hub).",
    ),
]


def model_rows(cache_dir: str | None) -> list[dict]:
    """One row per published model: size, longest window, and whether it is cached here."""
    from ntscale.genome.windows import default_window_bp
    from ntscale.model import HUB_REPOS, PRESETS
    from ntscale.model.hub import cached_checkpoint

    rows = []
    for name, cfg in PRESETS.items():
        folder = cached_checkpoint(HUB_REPOS[name], cache_dir=cache_dir)
        rows.append(
            {
                "name": name,
                "version": cfg.version,
                "layers": cfg.num_layers,
                "embed_dim": cfg.embed_dim,
                "params": cfg.num_params,
                "fp32_bytes": 4 * cfg.num_params,
                "max_tokens": cfg.max_tokens,
                "max_window_bp": default_window_bp(cfg.max_tokens, k=cfg.k),
                "repo": HUB_REPOS[name],
                "cached": folder is not None,
                "path": str(folder) if folder is not None else None,
            }
        )
    return rows + ntv3_rows(cache_dir)


def ntv3_rows(cache_dir: str | None) -> list[dict]:
    """NTv3 rows: documented size, downsamples, trained context (one token per base) and
    heads; layer widths are read from each checkpoint's config.json, so layers is None."""
    from ntscale.model.hub import cached_checkpoint
    from ntscale.model.ntv3_config import NTV3_MODELS

    rows = []
    for name, m in NTV3_MODELS.items():
        folder = cached_checkpoint(m.repo, cache_dir=cache_dir)
        rows.append(
            {
                "name": name,
                "version": "ntv3",
                "family": "ntv3",
                "stage": m.stage,
                "layers": None,
                "params": int(m.params_m * 1e6),
                "fp32_bytes": int(4 * m.params_m * 1e6),
                "max_tokens": m.context_bp,
                "max_window_bp": m.context_bp,
                "num_downsamples": m.num_downsamples,
                "block_bp": 2**m.num_downsamples,
                "heads": list(m.heads),
                "repo": m.repo,
                "cached": folder is not None,
                "path": str(folder) if folder is not None else None,
            }
        )
    return rows


@app.command()
def models(
    cache_dir: CacheDirOpt = None,
    as_json: Annotated[bool, Opt("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the published models: size, longest window, whether cached locally."""
    from ntscale.model.hub import hub_cache_dir

    rows = model_rows(cache_dir)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(24, *(len(r["name"]) + 1 for r in rows))
    head = f"{'name':<{width}}{'ver':<5}{'layers':>7}{'params':>9}{'fp32':>9}{'tokens':>8}"
    typer.echo(head + f"{'window bp':>11}  {'cached':<7}hub repository")
    for r in rows:
        layers = r["layers"] or "-"  # NTv3: widths come from the checkpoint's config.json
        typer.echo(
            f"{r['name']:<{width}}{r['version']:<5}{layers:>7}{r['params'] / 1e6:>8.0f}M"
            f"{r['fp32_bytes'] / 1e9:>7.1f}GB{r['max_tokens']:>8,}{r['max_window_bp']:>11,}  "
            + f"{'yes' if r['cached'] else 'no':<7}{r['repo']}"
        )
    typer.echo(f"hub cache folder: {Path(cache_dir) if cache_dir else hub_cache_dir()}")


@app.command()
def download(
    names: Annotated[
        list[str], typer.Argument(help="Published model names (see `ntscale models`) or repo ids.")
    ],
    cache_dir: CacheDirOpt = None,
    revision: Annotated[
        str | None, Opt("--revision", help="Hub commit or tag to fetch (default: main).")
    ] = None,
) -> None:
    """Fetch published checkpoints into the hub cache ahead of a run (resumable)."""
    from tqdm import tqdm

    from ntscale.model import HUB_REPOS, PRESETS
    from ntscale.model.hub import cached_checkpoint, download_checkpoint
    from ntscale.model.ntv3_config import NTV3_MODELS

    repos = {**HUB_REPOS, **{k: m.repo for k, m in NTV3_MODELS.items()}}
    targets = []
    for name in names:
        published = next((k for k in repos if k.lower() == name.lower()), None)
        if published is None and name.count("/") != 1:
            raise ConfigError(
                f"unknown model {name!r}: give a published name "
                f"({', '.join([*PRESETS, *NTV3_MODELS])}) or a hub repository id owner/name"
            )
        targets.append((published or name, repos[published] if published else name))
    for name, repo in targets:
        if cached_checkpoint(repo, cache_dir=cache_dir, revision=revision) is not None:
            typer.echo(f"{name}: already cached", err=True)
        else:
            typer.echo(f"{name}: downloading {repo} (resumable)", err=True)
        model_name = name if name != repo else None
        # a plain tqdm bar per file, on a terminal or in a batch log alike
        folder = download_checkpoint(
            repo, model_name=model_name, cache_dir=cache_dir, tqdm_class=tqdm, revision=revision
        )
        typer.echo(f"{name}\t{folder}")
