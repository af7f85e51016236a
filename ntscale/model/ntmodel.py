"""`NTModel`: parameters on device + config + jitted forward passes; `load` and `init_model`.

The jitted passes themselves (one path for embedding and scoring, the process-wide program
cache, the cuDNN fallback) live in `ntscale.model.compiled`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model.compiled import CompiledForward, Post, bucket_length
from ntscale.model.config import HUB_REPOS, PRESETS, NTConfig, get_preset
from ntscale.model.params import (
    Flat,
    init_official,
    params_digest,
    stack_official,
    unstack_to_official,
)
from ntscale.model.precision import (
    ATTENTION_IMPLS,
    AttentionImpl,
    Precision,
    attention_backend,
    normalize_dtype,
    precision_policy,
)

if TYPE_CHECKING:
    from ntscale.model.checkpoint import ModelInfo

log = logging.getLogger(__name__)


class NTModel:
    """A Nucleotide Transformer ready to run: config, device parameters, compiled passes.

    Attributes:
        config: hyperparameters (`NTConfig`).
        name: model name.
        digest: sha256 of the checkpoint's parameter file(s) (of the arrays, for random init).
        params: stacked parameter tree on device (matrices in the compute dtype).
        precision: compute policy; `dtype` is its name ("float32" or "bfloat16").
        attention: attention implementation ("headwise", "chunked", "xla" or "cudnn").
    """

    def __init__(
        self,
        config: NTConfig,
        stacked: Flat,
        *,
        dtype: str = "float32",
        digest: str,
        source: str | None = None,
        attention: AttentionImpl | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.digest = digest
        self.source = source
        self.precision: Precision = precision_policy(dtype)
        self.dtype = self.precision.name
        if attention is not None and attention not in ATTENTION_IMPLS:
            raise ConfigError(
                f"attention must be one of {', '.join(map(repr, ATTENTION_IMPLS))}, "
                f"got {attention!r}"
            )
        self.attention: AttentionImpl = attention or attention_backend(self.precision)
        self.params = jax.device_put(_cast_params(stacked, self.precision))
        self._compiled: dict[tuple[Any, ...], CompiledForward] = {}
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        c = self.config
        return (
            f"NTModel({self.name!r}, {c.version}, {c.num_layers} layers, dim {c.embed_dim}, "
            f"{self.dtype}, attention={self.attention})"
        )

    @property
    def tokenizer(self) -> Any:
        """The exact NT tokenizer of this model's version (`ntscale.tokenizer`)."""
        if self._tokenizer is None:
            from ntscale.tokenizer import get_tokenizer

            self._tokenizer = get_tokenizer(self.config.version, self.config.k)
        return self._tokenizer

    def check_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Validate tokens [B, T] (ids in range, T <= max_tokens); returns int32 array.

        Raises:
            ValueError: wrong rank, too long, or ids outside the vocabulary.
        """
        arr = np.asarray(tokens)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"tokens must be an integer array [B, T], got {arr.dtype}{arr.shape}")
        if arr.shape[1] > self.config.max_tokens:
            raise ValueError(
                f"{arr.shape[1]} tokens per row exceed the model's maximum "
                f"{self.config.max_tokens} ({self.name})"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= self.config.vocab_size):
            raise ValueError(
                f"token ids must be in 0..{self.config.vocab_size - 1} for "
                f"{self.name}, got {arr.min()}..{arr.max()}"
            )
        return arr.astype(np.int32, copy=False)

    def _check_layers(self, layers: Iterable[int]) -> tuple[int, ...]:
        out = tuple(sorted({int(x) for x in layers}))
        bad = [x for x in out if not 1 <= x <= self.config.num_layers]
        if bad:
            raise ConfigError(
                f"layers must be in 1..{self.config.num_layers} for {self.name}, got {bad}"
            )
        return out

    def compiled(
        self, layers: tuple[int, ...], logits: bool, post: Post | None = None
    ) -> CompiledForward:
        """The jitted forward for these outputs (cached; programs shared across models).

        Args:
            layers: 1-based layers whose embeddings [B, T, D] to return.
            logits: whether to return logits [B, T, V].
            post: optional pure jnp function `(outputs, tokens, *extras) -> pytree` run on
                the device before the transfer (e.g. mean-pooling so only [B, D] is copied
                back); `extras` are the arrays passed after the tokens at each call. Pass an
                equal (or the same) hashable object each time to reuse compiled programs.
        """
        key = (self._check_layers(layers), bool(logits), post)
        if key not in self._compiled:
            self._compiled[key] = CompiledForward(self, key[0], key[1], post)
        return self._compiled[key]

    def apply(
        self, tokens: np.ndarray, layers: Iterable[int] = (), logits: bool = True
    ) -> dict[str, Any]:
        """Run the model on tokens [B, T].

        Returns:
            {"embeddings": {layer: [B, T, D]}, "logits": [B, T, V] (if asked)}, float32 numpy.
        """
        out = self.compiled(self._check_layers(layers), logits)(tokens)
        result: dict[str, Any] = {
            "embeddings": {int(k): np.asarray(v, np.float32) for k, v in out["embeddings"].items()}
        }
        if logits:
            result["logits"] = np.asarray(out["logits"], np.float32)
        return result

    def official_params(self) -> Flat:
        """Parameters in the official checkpoint layout (float32 numpy)."""
        host = jax.device_get(self.params)
        return unstack_to_official(host, self.config)

    def save(self, directory: str | Path) -> Path:
        """Write this model as an official JAX-layout checkpoint; returns the parameter file."""
        from ntscale.model.checkpoint import save_checkpoint

        return save_checkpoint(self.official_params(), self.config, directory)


def _cast_params(stacked: Flat, precision: Precision) -> dict[str, dict[str, jax.Array]]:
    """Weight matrices and embedding tables in the compute dtype (half the memory in bf16);
    LayerNorm parameters and biases stay float32."""
    out = {}
    for module, leaves in stacked.items():
        out[module] = {
            n: jnp.asarray(a, precision.compute_dtype if n in ("w", "embeddings") else jnp.float32)
            for n, a in leaves.items()
        }
    return out


def _coerce_config(config: NTConfig | str) -> NTConfig:
    return get_preset(config) if isinstance(config, str) else config


def init_model(
    config: NTConfig | str,
    *,
    seed: int = 0,
    dtype: str = "float32",
    attention: AttentionImpl | None = None,
) -> NTModel:
    """A model with random weights (for tests and benchmarks), deterministic for a seed.

    Args:
        config: an `NTConfig` or a published model name (its preset shape).
        seed: random seed.
        dtype: "float32" or "bfloat16" ("fp32"/"bf16" accepted).
        attention: force "headwise", "chunked", "xla" or "cudnn" (default: cuDNN on GPU in
            bf16, headwise on CPU, else chunked).
    """
    cfg = _coerce_config(config)
    flat = init_official(cfg, seed=seed)
    return NTModel(
        cfg,
        stack_official(flat, cfg),
        dtype=dtype,
        digest=params_digest(flat),
        source=f"random(seed={seed})",
        attention=attention,
    )


def _is_repo_id(source: str) -> bool:
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not source.startswith((".", "~"))


def resolve_source(
    source: str | Path, *, name: str | None = None, revision: str | None = None
) -> tuple[Path, str | None]:
    """The local checkpoint folder of a source, downloading from the hub if need be.

    Args:
        source: a checkpoint folder, a published model name or a hub repo id "owner/name".
        name: model name to record (default: published name, repo name or folder name).

    Returns:
        (folder, name to record; None means "the folder's name").

    Raises:
        CheckpointError: unknown source or download failure.
    """
    from ntscale.model.hub import download_checkpoint

    path = Path(source).expanduser()
    if path.exists():
        if revision is not None:
            raise CheckpointError(
                f"--revision {revision!r} applies to a published model name or a hub repo id, "
                f"not to the local folder {str(path)!r}"
            )
        return path, name
    text = str(source)
    published = next((k for k in PRESETS if k.lower() == text.lower()), None)
    if published is not None:
        folder = download_checkpoint(HUB_REPOS[published], model_name=published, revision=revision)
        return folder, name or published
    if _is_repo_id(text):
        return download_checkpoint(text, revision=revision), name or text.split("/")[1]
    raise CheckpointError(
        f"{text!r} is not a checkpoint folder, a published model "
        f"({', '.join(PRESETS)}) or a hub repository id (owner/name)"
    )


def load(
    source: str | Path,
    dtype: str = "float32",
    *,
    name: str | None = None,
    attention: AttentionImpl | None = None,
    revision: str | None = None,
) -> NTModel:
    """Load a Nucleotide Transformer.

    Args:
        source: a published model name (e.g. "50M_multi_species_v2", downloaded from the hub
            and cached), a checkpoint folder (official JAX or Hugging Face layout), or a hub
            repository id ("owner/name").
        dtype: compute dtype, "float32" or "bfloat16" (also "fp32", "bf16").
        name: model name to record (default: the published name or the folder name).
        attention: force "headwise", "chunked", "xla" or "cudnn" (default: cuDNN on GPU in
            bf16, headwise on CPU, else chunked).

    Raises:
        CheckpointError: unknown source, download failure, or an invalid checkpoint.
        ConfigError: unknown dtype.
    """
    from ntscale.model.checkpoint import read_checkpoint

    normalize_dtype(dtype)
    t0 = time.perf_counter()
    folder, name = resolve_source(source, name=name, revision=revision)
    ckpt = read_checkpoint(folder, name=name)
    model = NTModel(
        ckpt.config,
        stack_official(ckpt.params, ckpt.config, consume=True),
        dtype=dtype,
        digest=ckpt.digest,
        source=str(ckpt.path),
        attention=attention,
    )
    log.info("loaded %s from %s in %.1f s", model, ckpt.path, time.perf_counter() - t0)
    return model


def describe(
    source: str | Path, *, name: str | None = None, revision: str | None = None
) -> ModelInfo:
    """Name, digest, hyperparameters and folder of a model, without loading its parameters.

    Resolves `source` exactly like `load` (published names and repo ids are downloaded to
    the hub cache if not there), then reads only the hyperparameters and hashes the
    parameter file(s): `describe(s).digest == load(s).digest` and `.name`/`.config` agree,
    at the memory cost of a file read buffer. Lets a driver plan a run for a 2.5B model
    without holding its 10 GB of parameters.

    Raises:
        CheckpointError: unknown source, download failure, or not a checkpoint folder.
    """
    from ntscale.model.checkpoint import read_checkpoint_info

    folder, name = resolve_source(source, name=name, revision=revision)
    return read_checkpoint_info(folder, name=name)


NOT_DOWNLOADED = "not downloaded (dry run: the published shapes)"


def describe_for_plan(
    source: str | Path, *, name: str | None = None, revision: str | None = None
) -> ModelInfo:
    """`describe`, except that a published model not in the hub cache is described from its
    published shapes (`PRESETS`) without a download: what a `--dry-run` needs (window,
    layers, tokens), offline too. Its digest says it was not downloaded."""
    from ntscale.model.checkpoint import ModelInfo
    from ntscale.model.hub import cached_checkpoint

    text = str(source)
    published = next((k for k in PRESETS if k.lower() == text.lower()), None)
    if published is None or Path(text).expanduser().exists():
        return describe(source, name=name, revision=revision)
    if cached_checkpoint(HUB_REPOS[published], revision=revision) is not None:
        return describe(source, name=name, revision=revision)
    return ModelInfo(
        name=name or published,
        digest=NOT_DOWNLOADED,
        config=PRESETS[published],
        path=Path(f"hub:{HUB_REPOS[published]}"),
    )


__all__ = [
    "CompiledForward",
    "NTModel",
    "bucket_length",
    "describe",
    "describe_for_plan",
    "init_model",
    "load",
    "resolve_source",
]
