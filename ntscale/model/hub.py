"""Download published checkpoints from the Hugging Face hub (cached, resumable).

The official JAX files (``jax_model/``) are preferred; a repository without them falls
back to its safetensors weights. Environment variables are read at call time
(``HF_HUB_OFFLINE``, ``HF_HUB_CACHE``, ``HF_HOME``), so a process can switch them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from huggingface_hub import constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from ntscale.errors import CheckpointError
from ntscale.model.checkpoint import HYPERPARAMS, PYTREE

log = logging.getLogger(__name__)

_HF_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json"]
# PyTorch weights only where a repository has no safetensors (they are never both fetched).
_HF_BIN_PATTERNS = ["config.json", "pytorch_model*.bin", "pytorch_model*.bin.index.json"]


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


# Owners whose published jax_model/*.joblib pickles are loaded without --trust-pickle.
TRUSTED_OWNERS = ("InstaDeepAI",)
TRUST_PICKLE_ENV = "NTSCALE_TRUST_PICKLE"


def pickle_trusted(repo_id: str) -> bool:
    """Whether a hub repository's joblib pickle may be loaded (its owner, or the user says so)."""
    if repo_id.split("/")[0] in TRUSTED_OWNERS:
        return True
    return os.environ.get(TRUST_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _untrusted_pickle_error(repo_id: str, what: str) -> CheckpointError:
    return CheckpointError(
        f"{what} has no safetensors or PyTorch weights, only a joblib pickle "
        f"(jax_model/{PYTREE}), and a pickle can run any code when loaded; only "
        f"{', '.join(TRUSTED_OWNERS)} repositories are trusted by default. If you trust "
        f"{repo_id.split('/')[0]!r}, pass --trust-pickle (or set {TRUST_PICKLE_ENV}=1)"
    )


def download_checkpoint(repo_id: str, *, model_name: str | None = None) -> Path:
    """Fetch a hub checkpoint (or find it in the cache) and return its local folder.

    Args:
        repo_id: hub repository, e.g. "InstaDeepAI/nucleotide-transformer-v2-50m-multi-species".
        model_name: published model name, for error messages.

    Raises:
        CheckpointError: offline and not cached, unreachable, or no checkpoint files;
            the message names the model, the repository and the cache folder.
    """
    cache = hub_cache_dir()
    offline = hub_offline()
    what = f"model {model_name!r} ({repo_id})" if model_name else f"hub repository {repo_id!r}"
    try:
        if repo_id.split("/")[0] not in TRUSTED_OWNERS:
            # Any other repository: its safetensors/PyTorch weights first, a pickle only if
            # the user trusts it.
            folder = _hf_layout(repo_id, cache=cache, offline=offline)
            if folder is not None:
                return folder
            if not pickle_trusted(repo_id):
                raise _untrusted_pickle_error(repo_id, what)
        try:
            kwargs = {"cache_dir": cache, "local_files_only": offline}
            hp = hf_hub_download(repo_id, f"jax_model/{HYPERPARAMS}", **kwargs)
            hf_hub_download(repo_id, f"jax_model/{PYTREE}", **kwargs)
            log.info("checkpoint %s at %s", repo_id, Path(hp).parent)
            return Path(hp).parent.parent
        except EntryNotFoundError:
            log.info("%s has no cached/remote jax_model/; trying the Hugging Face layout", repo_id)
            folder = Path(
                snapshot_download(
                    repo_id, cache_dir=cache, local_files_only=offline, allow_patterns=_HF_PATTERNS
                )
            )
            if not any(folder.glob("*.safetensors")):
                folder = Path(
                    snapshot_download(
                        repo_id,
                        cache_dir=cache,
                        local_files_only=offline,
                        allow_patterns=_HF_BIN_PATTERNS,
                    )
                )
            return folder
    except CheckpointError:
        raise
    except (EntryNotFoundError, HfHubHTTPError, OSError, ValueError) as e:
        if offline:
            hint = (
                "HF_HUB_OFFLINE is set and it is not in the cache: download it once "
                "online, or copy the checkpoint folder and pass its path"
            )
        else:
            hint = "check the network/proxy and the repository name, or pass a local folder"
        raise CheckpointError(
            f"cannot get {what} from the Hugging Face hub (cache folder {cache}): {hint}. "
            f"Cause: {type(e).__name__}: {e}"
        ) from e


def _hf_layout(repo_id: str, *, cache: Path, offline: bool) -> Path | None:
    """The repository's Hugging Face layout folder, if it has weights (None otherwise)."""
    for patterns in (_HF_PATTERNS, _HF_BIN_PATTERNS):
        folder = Path(
            snapshot_download(
                repo_id, cache_dir=cache, local_files_only=offline, allow_patterns=patterns
            )
        )
        if (folder / "config.json").is_file() and (
            any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
        ):
            return folder
    return None
