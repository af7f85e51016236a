"""A run's settings resolved once, on the driver, against the model: the `RunPlan`.

A config (`ntscale.config`) holds what the user asked for: `window_bp` may be None
("max"), `layers` may be empty (the last), `dtype` may be "auto". `resolve_run` turns it,
with the checkpoint's description (`ntscale.model.describe`, no parameters loaded), into
concrete values: the window length in bp, the stride, the sorted layer numbers checked
against the model, the compute dtype for the hardware that will run the model, the
strands. Every later step (window planning, jobs, workers, store layout and attributes,
dry-run reports) reads these values and checks none of them again; the store layout is
the one other boundary that validates (a store can be written without a run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ntscale.config import STRAND_SETS, EmbedConfig, ScoreConfig, TrackConfig
from ntscale.errors import ConfigError

if TYPE_CHECKING:  # importing ntscale.model starts JAX; the CLI imports this module early
    from ntscale.model import ModelInfo

RunConfig = EmbedConfig | ScoreConfig | TrackConfig

# Default haplotype window: (max_tokens - 1 - 10) * 6 bp. Indels change a haplotype's
# length and token count; 10 reserved tokens (12,222 bp for v2) leave room for ~40 bp of
# insertions, so windows rarely need splitting for their haplotypes to fit (hap_budget;
# figures in docs/genome.md).
HAPLOTYPE_RESERVE_TOKENS = 10


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """Concrete settings of one run, resolved once (see `resolve_run`).

    Attributes:
        model: the checkpoint's name, digest and hyperparameters (typed, as described).
        dtype: compute dtype, "bf16" or "fp32" (never "auto").
        window_bp: window length in bp; fits the model's token budget.
        stride_bp: bp between window starts of an embedding run; None for score and
            track runs, whose windows are placed per variant or tile.
        layers: 1-based layer numbers, sorted, distinct, within the model; () when the
            run keeps no embeddings (tracks).
        strands: the strands run, ("+",), ("-",) or ("+", "-").
        batch_size: windows (passes) per forward batch: the user's, else from the table
            of `ntscale.runner.batch_table` for the platform, dtype and window tokens.
    """

    model: ModelInfo
    dtype: str
    window_bp: int
    stride_bp: int | None
    layers: tuple[int, ...]
    strands: tuple[str, ...]
    batch_size: int = 8

    @property
    def max_tokens(self) -> int:
        """Tokens the model takes, CLS included (T)."""
        return self.model.config.max_tokens

    @property
    def embed_dim(self) -> int:
        """Width of the model's embeddings (D)."""
        return self.model.config.embed_dim

    def model_attrs(self, *, source: str) -> dict:
        """The `model` root attribute of a store: identity, hyperparameters, compute dtype.

        Args:
            source: the model as the user named it (`--model`).
        """
        return {
            "name": self.model.name,
            "source": source,
            "hyperparameters": dataclasses.asdict(self.model.config),
            "checkpoint_digest": self.model.digest,
            "dtype": self.dtype,
        }


def resolve_run(config: RunConfig, info: ModelInfo) -> RunPlan:
    """The concrete settings of a run: defaults from the checkpoint, checked once.

    Args:
        config: the run's settings as given (YAML and flags).
        info: the model's description (`ntscale.model.describe(config.model)`).

    Returns:
        The run plan every later step reads.

    Raises:
        ConfigError: a window longer than the model takes, or a layer the model lacks.
    """
    from ntscale.genome import default_window_bp
    from ntscale.genome.tiling import check_window_fits
    from ntscale.runner.batch_table import resolve_batch_size
    from ntscale.runner.precision import resolve_dtype, run_backend

    max_tokens = info.config.max_tokens
    if config.window_bp is not None:
        check_window_fits(config.window_bp, max_tokens, model=f"model {info.name!r}")
        window_bp = config.window_bp
    else:
        haplotypes = isinstance(config, EmbedConfig) and bool(config.vcf)
        reserve = HAPLOTYPE_RESERVE_TOKENS if haplotypes else 0
        window_bp = default_window_bp(max_tokens, reserve_tokens=reserve)
    stride_bp = None
    if isinstance(config, EmbedConfig):
        stride_bp = config.stride_bp or window_bp
    layers = ()
    if not isinstance(config, TrackConfig):  # a track run keeps no embeddings
        layers = _layers(config.layers, info.config.num_layers, model=config.model)
    resolved = resolve_dtype(config.execution)
    return RunPlan(
        model=info,
        # "auto" -> the concrete dtype of the hardware that runs the model (precision.py)
        dtype=resolved.dtype,
        batch_size=resolve_batch_size(
            config.execution.batch_size,
            # the backend is asked only when the table is used (a cluster query on Ray)
            platform=lambda: run_backend(config.execution),
            dtype=resolved.dtype,
            tokens=max_tokens if window_bp is None else min(max_tokens, window_bp // 6 + 2),
        ),
        window_bp=window_bp,
        stride_bp=stride_bp,
        layers=layers,
        strands=STRAND_SETS[config.strands],
    )


def _layers(requested: tuple[int, ...], num_layers: int, *, model: str) -> tuple[int, ...]:
    """The layers to keep: sorted, without repeats, default the last; unknown ones refused."""
    layers = tuple(sorted(set(requested))) or (num_layers,)
    bad = [layer for layer in layers if not 1 <= layer <= num_layers]
    if bad:
        raise ConfigError(
            f"layers {bad} do not exist in model {model!r}: it has layers "
            f"1..{num_layers} (numbered from 1); pass --layers within that range"
        )
    return layers
