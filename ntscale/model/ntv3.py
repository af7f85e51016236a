"""NTv3 models: load (published name, hub repo or HF-layout folder), random init, and jitted
forward passes that return base-resolution MLM logits, embeddings, species logits,
functional tracks and annotation logits.

    model = load_ntv3("NTv3_100M_post", dtype="bf16")
    out = model.apply(tokens, species="human", outputs=("bigwig",), tracks=("ENCFF...",))

One compiled program per (outputs, species head, track subset, batch shape): a run uses
one species and one window length, so it compiles once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model.checkpoint_digest import cached_file_digest
from ntscale.model.checkpoint_hf import read_state, weight_files
from ntscale.model.ntv3_checkpoint import Params, convert_ntv3_state, read_ntv3_config
from ntscale.model.ntv3_config import NTV3_MODELS, NTv3Config, get_ntv3, is_ntv3_name
from ntscale.model.ntv3_modules import ntv3_forward
from ntscale.model.precision import (
    AttentionImpl,
    attention_backend,
    matmul_context,
    normalize_dtype,
    precision_policy,
)

log = logging.getLogger(__name__)

ALL_OUTPUTS = ("logits", "embedding", "transformer", "species_logits", "bigwig", "bed")
_INIT_OUTPUTS = ("logits", "embedding", "transformer", "species_logits", "all_bigwig", "bed")


def _transformed(config: NTv3Config, **static: Any) -> hk.Transformed:
    def fn(tokens: jax.Array, species: jax.Array | None) -> dict[str, jax.Array]:
        return ntv3_forward(tokens, species, config=config, **static)

    return hk.without_apply_rng(hk.transform(fn))


def param_shapes(config: NTv3Config) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every parameter the config needs and its shape (abstract init: no memory used)."""
    tokens = jnp.zeros((1, config.block_bp * 2), jnp.int32)
    species = jnp.zeros((1,), jnp.int32) + config.num_species_special_tokens
    f = _transformed(
        config,
        precision=precision_policy("float32"),
        attention="xla",
        outputs=_INIT_OUTPUTS,
    )
    shapes = jax.eval_shape(f.init, jax.random.PRNGKey(0), tokens, species)
    return {m: {p: tuple(v.shape) for p, v in ps.items()} for m, ps in shapes.items()}


class NTv3Model:
    """An NTv3 model with its float32 parameters and compute precision.

    Attributes:
        config: hyperparameters (from the checkpoint's config.json).
        params: {module: {param: array}} float32 (see `ntscale.model.ntv3_modules`).
        digest: sha256 over the parameter bytes (names in order), or of the weight files.
        source: where the parameters came from.
    """

    def __init__(
        self,
        config: NTv3Config,
        params: Params,
        *,
        dtype: str = "float32",
        digest: str = "",
        source: str = "",
        attention: AttentionImpl | None = None,
    ) -> None:
        self.config = config
        self.precision = precision_policy(dtype)
        self.attention: AttentionImpl = attention or attention_backend(self.precision)
        self.params = {
            m: {p: jnp.asarray(v, jnp.float32) for p, v in ps.items()} for m, ps in params.items()
        }
        self.digest = digest or params_digest(params)
        self.source = source
        self._compiled: dict[tuple, Any] = {}

    def __repr__(self) -> str:
        c = self.config
        stage = "post" if c.post_trained else "pre"
        return (
            f"NTv3Model({c.name!r}, {stage}, layers={c.num_layers}, D={c.embed_dim}, "
            f"n={c.num_downsamples}, {self.precision.name})"
        )

    @property
    def name(self) -> str:
        return self.config.name

    def track_ids(self, species: str, tracks: Sequence[str] | None) -> tuple[int, ...] | None:
        """Indices of named tracks in a species' head (None = all of them).

        Raises:
            ConfigError: a track name the species' head does not predict.
        """
        if tracks is None:
            return None
        names = self.config.tracks_of(species)
        index = {n: i for i, n in enumerate(names)}
        missing = [t for t in tracks if t not in index]
        if missing:
            raise ConfigError(
                f"{self.name}: track(s) {missing[:5]} not predicted for {species!r} "
                f"({len(names)} tracks, e.g. {list(names[:3])})"
            )
        return tuple(index[t] for t in tracks)

    def _fn(self, outputs: tuple[str, ...], head: int | None, ids: tuple[int, ...] | None) -> Any:
        key = (outputs, head, ids)
        if key not in self._compiled:
            f = _transformed(
                self.config,
                precision=self.precision,
                attention=self.attention,
                outputs=outputs,
                head=head,
                track_ids=ids,
            )
            self._compiled[key] = jax.jit(f.apply)
        return self._compiled[key]

    def apply(
        self,
        tokens: np.ndarray,
        *,
        species: str | None = None,
        outputs: Sequence[str] = ("logits", "embedding"),
        tracks: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Forward pass of a token batch [B, T] (T a multiple of 2^num_downsamples).

        Args:
            tokens: int token ids (see `ntscale.tokenizer.ntv3`).
            species: species name (post-trained models: required; conditions every block).
            outputs: subset of `ALL_OUTPUTS`.
            tracks: bigWig track names to keep (default: every track of the species).

        Returns:
            {output: float32 numpy array} (see `ntv3_forward` for shapes).

        Raises:
            ConfigError: bad length, unknown output/species/track, or species misuse.
        """
        c = self.config
        tokens = np.asarray(tokens)
        if tokens.ndim != 2:
            raise ConfigError(f"{self.name}: tokens must be [B, T], got shape {tokens.shape}")
        c.check_length(tokens.shape[1])
        outputs = tuple(outputs)
        bad = [o for o in outputs if o not in ALL_OUTPUTS]
        if bad:
            raise ConfigError(f"{self.name}: unknown output(s) {bad}; valid: {ALL_OUTPUTS}")
        species_arr = None
        head = ids = None
        if c.post_trained:
            if species is None:
                raise ConfigError(f"{self.name}: post-trained NTv3 needs a species")
            token = c.species_token(species)
            species_arr = jnp.full((tokens.shape[0],), token, jnp.int32)
            head = c.head_index(species)
            ids = self.track_ids(species, tracks)
        elif species is not None:
            raise ConfigError(f"{self.name}: a pre-trained NTv3 model takes no species")
        fn = self._fn(outputs, head, ids)
        with matmul_context(self.precision):
            out = fn(self.params, jnp.asarray(tokens, jnp.int32), species_arr)
        if "bigwig" in outputs and "bigwig" not in out and c.post_trained:
            lo, hi = c.crop_bounds(tokens.shape[1])  # species without tracks: no columns
            out["bigwig"] = jnp.zeros((tokens.shape[0], hi - lo, 0), jnp.float32)
        return {k: np.asarray(v) for k, v in out.items()}


def forward_memory_bytes(
    model: NTv3Model, *, batch: int, length: int, outputs: Sequence[str] = ("embedding",)
) -> dict[str, int]:
    """XLA's memory plan of one compiled forward of [batch, length] tokens (no run).

    Returns:
        {"temp": scratch bytes, "output": output bytes, "params": parameter bytes}; peak
        device memory of a forward is about their sum (plus the runtime's own).
    """
    c = model.config
    c.check_length(length)
    species = c.track_heads[0] if c.post_trained and c.track_heads else None
    if c.post_trained and species is None:
        species = next(s for s in c.species_to_token_id if not s.startswith("<"))
    head = c.head_index(species) if species else None
    fn = model._fn(tuple(outputs), head, None)
    tokens = jax.ShapeDtypeStruct((batch, length), jnp.int32)
    sp = jax.ShapeDtypeStruct((batch,), jnp.int32) if c.post_trained else None
    with matmul_context(model.precision):
        mem = fn.lower(model.params, tokens, sp).compile().memory_analysis()
    params = sum(int(v.size) * 4 for ps in model.params.values() for v in ps.values())
    return {
        "temp": int(mem.temp_size_in_bytes),
        "output": int(mem.output_size_in_bytes),
        "params": params,
    }


def params_digest(params: Params) -> str:
    """sha256 over parameter names, shapes and float32 bytes, in sorted order."""
    h = hashlib.sha256()
    for m in sorted(params):
        for p in sorted(params[m]):
            arr = np.ascontiguousarray(np.asarray(params[m][p], np.float32))
            h.update(f"{m}/{p}{arr.shape}".encode())
            h.update(arr.tobytes())
    return h.hexdigest()


def init_ntv3(config: NTv3Config, *, seed: int = 0, dtype: str = "float32") -> NTv3Model:
    """A model of `config`'s shapes with random parameters (tests, benchmarks)."""
    tokens = jnp.zeros((1, config.block_bp * 2), jnp.int32)
    species = jnp.zeros((1,), jnp.int32) + config.num_species_special_tokens
    f = _transformed(
        config, precision=precision_policy("float32"), attention="xla", outputs=_INIT_OUTPUTS
    )
    # One compiled program, not the forward op by op: haiku's init runs the whole network,
    # and eagerly each of its ~400 ops is compiled alone (2x the time of one program cold,
    # 3x with a warm compilation cache). The same values either way (threefry is exact).
    init = jax.jit(f.init)
    params = init(jax.random.PRNGKey(seed), tokens, species if config.post_trained else None)
    np_params = {m: {p: np.asarray(v) for p, v in ps.items()} for m, ps in params.items()}
    return NTv3Model(config, np_params, dtype=dtype, source=f"random(seed={seed})")


def read_ntv3_checkpoint(folder: Path, *, name: str) -> tuple[NTv3Config, Params, str]:
    """Config, converted params and file digest of an HF-layout NTv3 folder.

    Raises:
        CheckpointError: not an NTv3 folder, unreadable files, or mismatched tensors.
    """
    config = read_ntv3_config(folder, name=name)
    if config is None:
        raise CheckpointError(f"{folder}/config.json: not an NTv3 config (no num_downsamples)")
    files = [f for f in weight_files(folder) if f.suffix == ".safetensors"]
    if not files:
        raise CheckpointError(f"{folder}: no .safetensors weights (NTv3 needs safetensors)")
    state: dict[str, np.ndarray] = {}
    for f in files:
        state.update(read_state(f))
    params = convert_ntv3_state(state, param_shapes(config), where=str(folder))
    # hashed once per files (path, size, mtime, inode), as the NT checkpoints
    return config, params, cached_file_digest(files)[0]


def resolve_ntv3(source: str | Path) -> tuple[Path, str]:
    """Local folder and model name of a source: a folder, a published NTv3 name (downloaded
    to the hub cache if need be) or a hub repository id.

    Raises:
        CheckpointError: unknown source or download failure.
    """
    from ntscale.model.hub import download_checkpoint

    path = Path(source).expanduser()
    if path.exists():
        return path, path.name
    text = str(source)
    if is_ntv3_name(text):
        entry = get_ntv3(text)
        return download_checkpoint(entry.repo, model_name=entry.name), entry.name
    parts = text.split("/")
    if len(parts) == 2 and all(parts):
        return download_checkpoint(text), parts[1]
    raise CheckpointError(
        f"{text!r} is not an NTv3 checkpoint folder, a published NTv3 model "
        f"({', '.join(NTV3_MODELS)}) or a hub repository id"
    )


def is_ntv3_source(source: str | Path | None) -> bool:
    """Whether a model source is a published NTv3 name or a folder with an NTv3 config."""
    if not source:
        return False
    if is_ntv3_name(str(source)):
        return True
    folder = Path(source).expanduser()
    if not (folder / "config.json").is_file():
        return False
    try:
        return read_ntv3_config(folder, name=folder.name) is not None
    except CheckpointError:
        return False


def describe_ntv3(source: str | Path) -> Any:
    """`ModelInfo` (name, file digest, `NTv3Config`, folder) without loading parameters.

    Raises:
        CheckpointError: unknown source, download failure or not an NTv3 folder.
    """
    from ntscale.model.checkpoint import ModelInfo

    folder, name = resolve_ntv3(source)
    config = read_ntv3_config(folder, name=name)
    if config is None:
        raise CheckpointError(f"{folder}/config.json: not an NTv3 config (no num_downsamples)")
    files = [f for f in weight_files(folder) if f.suffix == ".safetensors"]
    return ModelInfo(name=name, digest=cached_file_digest(files)[0], config=config, path=folder)


def load_ntv3(
    source: str | Path,
    dtype: str = "float32",
    *,
    attention: AttentionImpl | None = None,
) -> NTv3Model:
    """Load an NTv3 model (published name, hub repo id, or HF-layout folder).

    Raises:
        CheckpointError: unknown source, download failure or an invalid checkpoint.
        ConfigError: unknown dtype.
    """
    normalize_dtype(dtype)
    t0 = time.perf_counter()
    folder, name = resolve_ntv3(source)
    config, params, digest = read_ntv3_checkpoint(folder, name=name)
    model = NTv3Model(
        config, params, dtype=dtype, digest=digest, source=str(folder), attention=attention
    )
    log.info("loaded %s from %s in %.1f s", model, folder, time.perf_counter() - t0)
    return model
