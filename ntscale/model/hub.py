"""Download published checkpoints from the Hugging Face hub (cached, resumable).

The official JAX files (``jax_model/``) are preferred; a repository without them falls
back to its safetensors weights. Environment variables are read at call time
(``HF_HUB_OFFLINE``, ``HF_HUB_CACHE``, ``HF_HOME``), so a process can switch them.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from huggingface_hub import constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from ntscale.errors import CheckpointError
from ntscale.model.checkpoint import HYPERPARAMS, PYTREE

log = logging.getLogger(__name__)

_HF_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json"]
# PyTorch weights only where a repository has no safetensors (they are never both fetched).
_HF_BIN_PATTERNS = ["config.json", "pytorch_model*.bin", "pytorch_model*.bin.index.json"]
# Seconds to wait for a TCP connection to the hub before calling it unreachable.
PROBE_TIMEOUT_S = 3.0


def hub_cache_dir() -> Path:
    """The hub cache folder in effect now (HF_HUB_CACHE, else HF_HOME/hub, else default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    """Whether hub access is disabled (HF_HUB_OFFLINE set to a true value)."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is None:
        return bool(constants.HF_HUB_OFFLINE)
    return value.strip().lower() in ("1", "true", "yes", "on")


def hub_endpoint() -> str:
    """The hub URL in effect now (HF_ENDPOINT, else huggingface_hub's default)."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_unreachable(endpoint: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the hub cannot be reached (one TCP connect, a few seconds at most), or None.

    huggingface_hub retries an unreachable hub with back-off for ~20 s per file before it
    gives up; one short probe first turns "no network" into an immediate, clear error.
    Behind a proxy the hub's own address says nothing, so no verdict is given (None).
    """
    url = urlsplit(endpoint)
    proxies = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    if url.scheme == "http":
        proxies += ("HTTP_PROXY", "http_proxy")
    if any(os.environ.get(v) for v in proxies) or not url.hostname:
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    return None


# Owners whose published jax_model/*.joblib pickles are loaded without --trust-pickle.
TRUSTED_OWNERS = ("InstaDeepAI",)
TRUST_PICKLE_ENV = "NTSCALE_TRUST_PICKLE"


def pickle_trusted(repo_id: str) -> bool:
    """Whether a hub repository's joblib pickle may be loaded (its owner, or the user says so)."""
    if repo_id.split("/")[0] in TRUSTED_OWNERS:
        return True
    return os.environ.get(TRUST_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _untrusted_pickle_error(repo_id: str) -> CheckpointError:
    return CheckpointError(
        f"hub repository {repo_id!r} has no safetensors or PyTorch weights, only a joblib "
        f"pickle (jax_model/{PYTREE}), and a pickle can run any code when loaded; only "
        f"{', '.join(TRUSTED_OWNERS)} repositories are trusted by default. If you trust "
        f"{repo_id.split('/')[0]!r}, pass --trust-pickle (or set {TRUST_PICKLE_ENV}=1)"
    )


def _hf_layout(repo_id: str, kwargs: dict[str, Any]) -> Path | None:
    """The repository's Hugging Face layout folder, if it has weights (None otherwise)."""
    for patterns in (_HF_PATTERNS, _HF_BIN_PATTERNS):
        folder = Path(snapshot_download(repo_id, allow_patterns=patterns, **kwargs))
        if (folder / "config.json").is_file() and (
            any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
        ):
            return folder
    return None


def _fetch(
    repo_id: str,
    *,
    cache: Path,
    endpoint: str,
    local_only: bool,
    tqdm_class: Any = None,
    revision: str | None = None,
) -> Path:
    """The checkpoint folder of a repository.

    The published (trusted) owners' official JAX files come first, else their Hugging Face
    layout. Any other repository's safetensors/PyTorch weights come first, and its joblib
    pickle is used only if the user trusts it (a pickle can run code when loaded).
    """
    kwargs: dict[str, Any] = {
        "cache_dir": cache,
        "local_files_only": local_only,
        "endpoint": endpoint,
    }
    if revision is not None:
        kwargs["revision"] = revision
    if tqdm_class is not None:
        kwargs["tqdm_class"] = tqdm_class
    trusted_owner = repo_id.split("/")[0] in TRUSTED_OWNERS
    if not trusted_owner:
        folder = _hf_layout(repo_id, kwargs)
        if folder is not None:
            return folder
        if not pickle_trusted(repo_id):
            raise _untrusted_pickle_error(repo_id)
    try:
        hp = hf_hub_download(repo_id, f"jax_model/{HYPERPARAMS}", **kwargs)
        hf_hub_download(repo_id, f"jax_model/{PYTREE}", **kwargs)
        log.info("checkpoint %s at %s", repo_id, Path(hp).parent)
        return Path(hp).parent.parent
    except (EntryNotFoundError, OSError) as e:
        # Online, only "no such file" means "try the other layout"; offline, any miss does.
        if not trusted_owner or (not local_only and not isinstance(e, EntryNotFoundError)):
            raise
        log.info("%s: no jax_model/ found; trying the Hugging Face layout", repo_id)
    folder = _hf_layout(repo_id, kwargs)
    if folder is None:
        raise EntryNotFoundError(f"no checkpoint files of {repo_id} in {cache} or on the hub")
    return folder


def cached_checkpoint(
    repo_id: str, *, cache_dir: str | Path | None = None, revision: str | None = None
) -> Path | None:
    """The local folder of a repository's checkpoint if the hub cache holds it (no network)."""
    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    try:
        return _fetch(
            repo_id, cache=cache, endpoint=hub_endpoint(), local_only=True, revision=revision
        )
    except CheckpointError:  # found, but refused (an untrusted pickle): say so, do not hide it
        raise
    except (EntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        return None


def cached_revisions(repo_id: str, cache: Path) -> list[str]:
    """The refs (branches, tags) and commits a hub cache holds of a repository, for errors."""
    root = cache / ("models--" + repo_id.replace("/", "--"))
    refs = sorted(str(p.relative_to(root / "refs")) for p in root.glob("refs/**/*") if p.is_file())
    return refs + sorted(p.name for p in root.glob("snapshots/*") if p.is_dir())


def snapshot_commit(folder: Path) -> str | None:
    """The commit a hub cache folder holds (`.../snapshots/<commit>/...`), else None."""
    parts = Path(folder).parts
    if "snapshots" in parts:
        i = len(parts) - 1 - parts[::-1].index("snapshots")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


def download_checkpoint(
    repo_id: str,
    *,
    model_name: str | None = None,
    cache_dir: str | Path | None = None,
    tqdm_class: Any = None,
    revision: str | None = None,
) -> Path:
    """Find a hub checkpoint in the cache, else download it (resumable), and return its folder.

    The cache is tried first, so a cached model never touches the network. Offline
    (HF_HUB_OFFLINE) or with the hub unreachable, a model that is not cached fails at once.

    Args:
        repo_id: hub repository, e.g. "InstaDeepAI/nucleotide-transformer-v2-50m-multi-species".
        model_name: published model name, for error messages.
        cache_dir: hub cache folder (default: the one in effect, see `hub_cache_dir`).
        tqdm_class: progress bar class for the file transfers (the CLI passes one; default:
            huggingface_hub's, which draws only on a terminal).

    Raises:
        CheckpointError: offline or unreachable and not cached, or no checkpoint files;
            one line naming the model, the repository, the cache folder and the fix.
    """
    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    endpoint = hub_endpoint()
    what = f"model {model_name!r} ({repo_id})" if model_name else f"hub repository {repo_id!r}"
    if revision is not None:
        what += f" at revision {revision!r}"
    rev = f" --revision {revision}" if revision is not None else ""
    fetch = f"`ntscale download {model_name or repo_id}{rev}`"
    found = cached_checkpoint(repo_id, cache_dir=cache, revision=revision)
    if found is not None:
        return found
    if hub_offline():
        held = cached_revisions(repo_id, cache) if revision is not None else []
        holds = f" (it holds revisions: {', '.join(held)})" if held else ""
        raise CheckpointError(
            f"{what} is not in the hub cache folder {cache}{holds} and HF_HUB_OFFLINE is set: "
            f"run {fetch} where there is network (with --cache-dir DIR to fill a folder you "
            "can copy), then point HF_HUB_CACHE=DIR at that cache here, or pass a local "
            "checkpoint folder as --model"
        )
    reason = hub_unreachable(endpoint)
    if reason is not None:
        raise CheckpointError(
            f"cannot reach the Hugging Face hub at {endpoint} ({reason}) for {what}, and it "
            f"is not in the cache folder {cache}: run {fetch} on a machine with network and "
            "copy the cache folder (or point HF_HUB_CACHE at it), pass a local checkpoint "
            "folder as --model, or set HF_HUB_OFFLINE=1 to use only the cache without trying "
            "the network"
        )
    try:
        return _fetch(
            repo_id,
            cache=cache,
            endpoint=endpoint,
            local_only=False,
            tqdm_class=tqdm_class,
            revision=revision,
        )
    except (EntryNotFoundError, HfHubHTTPError, OSError, ValueError) as e:
        cause = " ".join(str(e).split())[:300]
        raise CheckpointError(
            f"cannot get {what} from the Hugging Face hub at {endpoint} (cache folder "
            f"{cache}): check the network/proxy and the repository name, or pass a local "
            f"folder. Cause: {type(e).__name__}: {cause}"
        ) from e
