"""Checkpoint files: read either layout, write the official JAX layout, digests.

The official layout is a directory holding ``jax_model/hyperparams.json`` and
``jax_model/pytree_ckpt.joblib`` (a joblib pickle of the flat official parameter dict).
joblib files are pickles, which can run code: a folder that also holds safetensors (or
PyTorch) weights is read from those, and every unpickled file is named in the log.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np

from ntscale.errors import CheckpointError
from ntscale.model.checkpoint_digest import cached_file_digest
from ntscale.model.config import NTConfig, config_from_hyperparams, config_to_hyperparams
from ntscale.model.params import Flat, normalize_official, validate_official

log = logging.getLogger(__name__)

HYPERPARAMS = "hyperparams.json"
PYTREE = "pytree_ckpt.joblib"


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A checkpoint read from disk, validated, in the official layout.

    Attributes:
        config: its hyperparameters.
        params: flat official parameter dict (float32 numpy).
        digest: sha256 of the parameter file(s), see `file_digest`.
        path: where it was read from.
    """

    config: NTConfig
    params: Flat
    digest: str
    path: Path


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What a checkpoint is, read without loading its parameters (see `describe`).

    Attributes:
        name: model name, as `load` would record it.
        digest: sha256 of the parameter file(s), equal to `load(...).digest`.
        config: its hyperparameters.
        path: the folder `load` would read (``jax_model/`` or the HF folder).
        digest_key: (path, size, mtime_ns, inode) of each parameter file when `digest` was
            computed; a worker that sees the same files reuses the digest (`remember`).
    """

    name: str
    digest: str
    config: NTConfig
    path: Path
    digest_key: tuple = ()


def file_digest(paths: Sequence[Path]) -> str:
    """sha256 of the parameter files' bytes, concatenated in the given (shard) order.

    One file gives the plain `sha256sum` of that file. Cached by the files' identity
    (path, size, mtime, inode; `ntscale.model.checkpoint_digest`): hashed once per run.
    """
    return cached_file_digest(paths)[0]


def find_jax_dir(directory: Path) -> Path | None:
    """The folder holding hyperparams.json + pytree_ckpt.joblib, if `directory` has one."""
    for cand in (directory / "jax_model", directory):
        if (cand / HYPERPARAMS).is_file() and (cand / PYTREE).is_file():
            return cand
    return None


def read_checkpoint(directory: str | Path, *, name: str | None = None) -> Checkpoint:
    """Read a checkpoint directory in the official JAX or the Hugging Face layout.

    Args:
        directory: a folder with ``jax_model/`` (or the two files directly), or with
            ``config.json`` and safetensors weights.
        name: model name to record; defaults to the folder name.

    Raises:
        CheckpointError: not a checkpoint, unreadable, or names/shapes do not match.
    """
    directory, name, layout = _locate(directory, name)
    if layout == "jax":
        return _read_jax(directory, name=name)
    from ntscale.model.checkpoint_hf import read_hf_checkpoint

    config, flat, files = read_hf_checkpoint(directory, name=name)
    return Checkpoint(config=config, params=flat, digest=file_digest(files), path=directory)


def read_checkpoint_info(directory: str | Path, *, name: str | None = None) -> ModelInfo:
    """Name, digest and hyperparameters of a checkpoint folder, without loading parameters.

    Reads only ``hyperparams.json`` / ``config.json`` and streams the parameter file(s)
    through sha256, so the result matches `read_checkpoint(directory).digest` while memory
    stays flat (a 2.5B checkpoint is ~10 GB). Names and shapes are not validated.

    Raises:
        CheckpointError: not a checkpoint, or unreadable hyperparameters/weight index.
    """
    directory, name, layout = _locate(directory, name)
    if layout == "jax":
        config = _read_hyperparams(directory, name=name)
        files = [directory / PYTREE]
    else:
        from ntscale.model.checkpoint_hf import read_hf_config, weight_files

        _, config = read_hf_config(directory, name=name)
        files = weight_files(directory)
    digest, key = cached_file_digest(files)
    return ModelInfo(name=name, digest=digest, config=config, path=directory, digest_key=key)


def _locate(directory: str | Path, name: str | None) -> tuple[Path, str, str]:
    """(folder to read, model name, "jax" or "hf") of a checkpoint directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: checkpoint folder does not exist")
    name = name or (directory.parent.name if directory.name == "jax_model" else directory.name)
    jax_dir = find_jax_dir(directory)
    has_hf = (directory / "config.json").is_file()
    if has_hf and (jax_dir is None or _has_hf_weights(directory)):
        # safetensors (or a torch zip, read by a restricted unpickler) before a joblib
        # pickle, which can run any code, wherever a folder has both
        return directory, name, "hf"
    if jax_dir is not None:
        return jax_dir, name, "jax"
    raise CheckpointError(
        f"{directory}: not a checkpoint: expected jax_model/{HYPERPARAMS} and "
        f"jax_model/{PYTREE} (official layout) or config.json with model.safetensors "
        "(Hugging Face layout)"
    )


def _has_hf_weights(directory: Path) -> bool:
    return any(directory.glob("*.safetensors")) or any(directory.glob("pytorch_model*.bin"))


def _read_hyperparams(jax_dir: Path, *, name: str) -> NTConfig:
    hp_path = jax_dir / HYPERPARAMS
    try:
        hp = json.loads(hp_path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{hp_path}: cannot read hyperparameters: {e}") from e
    if not isinstance(hp, dict):
        raise CheckpointError(f"{hp_path}: expected a JSON object, got {type(hp).__name__}")
    return config_from_hyperparams(hp, name=name, path=str(hp_path))


def _read_jax(jax_dir: Path, *, name: str) -> Checkpoint:
    pt_path = jax_dir / PYTREE
    config = _read_hyperparams(jax_dir, name=name)
    # Published InstaDeepAI files (hub cache) are trusted; anything else is said out loud.
    published = "models--InstaDeepAI--" in str(pt_path.resolve())
    (log.info if published else log.warning)(
        "unpickling %s (joblib pickles can run code: load only checkpoints you trust)", pt_path
    )
    try:
        raw = joblib.load(pt_path)
    except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"{pt_path}: cannot read parameters (corrupt file?): {e!r}") from e
    if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for v in raw.values()):
        raise CheckpointError(
            f"{pt_path}: expected a dict of module path -> dict of arrays, got {type(raw).__name__}"
        )
    flat = normalize_official(raw)
    validate_official(flat, config, where=str(pt_path))
    return Checkpoint(config=config, params=flat, digest=file_digest([pt_path]), path=jax_dir)


def save_checkpoint(
    params: Mapping[str, Mapping[str, np.ndarray]], config: NTConfig, directory: str | Path
) -> Path:
    """Write parameters in the official JAX layout (readable by the reference loader too).

    Args:
        params: flat official parameter dict (e.g. from `init_official`, or
            `NTModel.official_params()`).
        config: the hyperparameters to write.
        directory: output folder; ``jax_model/`` is created inside it.

    Returns:
        The path of the written ``pytree_ckpt.joblib``.

    Raises:
        CheckpointError: the parameters do not match the config.
    """
    flat = {
        m: {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in leaves.items()}
        for m, leaves in normalize_official(params).items()
    }
    validate_official(flat, config, where=f"save_checkpoint({directory})")
    out = Path(directory) / "jax_model"
    out.mkdir(parents=True, exist_ok=True)
    (out / HYPERPARAMS).write_text(json.dumps(config_to_hyperparams(config), indent=1) + "\n")
    ordered = {m: dict(sorted(flat[m].items())) for m in sorted(flat)}
    joblib.dump(ordered, out / PYTREE, compress=0)
    log.info("wrote checkpoint %s (%d modules)", out, len(ordered))
    return out / PYTREE
