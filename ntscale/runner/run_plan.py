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

from ntscale.config import STRAND_SETS, EmbedConfig, ExecutionConfig, ScoreConfig, TrackConfig
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
        devices_per_actor: local devices each worker drives as one program, each batch
            split over them along its rows (`ntscale.model.sharding`); 1: one device.
        batch_size: windows (passes) per forward batch: the user's, else from the table
            of `ntscale.runner.batch_table` for the platform, dtype and window tokens.
    """

    model: ModelInfo
    dtype: str
    window_bp: int
    stride_bp: int | None
    layers: tuple[int, ...]
    strands: tuple[str, ...]
    devices_per_actor: int = 1
    batch_size: int = 8

    def per_device_batch(self, batch_size: int) -> int:
        """Rows each device runs of a batch of `batch_size` (padded up to a multiple of the
        device count; the padding rows are cut from the outputs)."""
        return -(-batch_size // self.devices_per_actor)

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
        from ntscale.model.hub import snapshot_commit

        return {
            "name": self.model.name,
            "source": source,
            "hyperparameters": dataclasses.asdict(self.model.config),
            "checkpoint_digest": self.model.digest,
            "dtype": self.dtype,
            # the hub commit the checkpoint came from (--revision resolved), if from the hub
            "commit": snapshot_commit(self.model.path),
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
    from ntscale.runner.precision import dtype_for_backend, run_hardware

    max_tokens = info.config.max_tokens
    if config.window_bp is not None:
        check_window_fits(
            config.window_bp, max_tokens, model=f"model {info.name!r}", k=info.config.k
        )
        window_bp = config.window_bp
    else:
        haplotypes = isinstance(config, EmbedConfig) and bool(config.vcf)
        reserve = HAPLOTYPE_RESERVE_TOKENS if haplotypes else 0
        window_bp = default_window_bp(max_tokens, reserve_tokens=reserve, k=info.config.k)
    stride_bp = None
    if isinstance(config, EmbedConfig):
        stride_bp = config.stride_bp or window_bp
    layers = ()
    if not isinstance(config, TrackConfig):  # a track run keeps no embeddings
        layers = _layers(config.layers, info.config.num_layers, model=config.model)
    execution = config.execution
    # asked of the hardware (a cluster: one connection) only when a default needs it
    hardware = None
    if execution.dtype == "auto" or (
        execution.devices_per_actor is None and _may_be_tpu(execution)
    ):
        hardware = run_hardware(execution)
    dtype = dtype_for_backend(hardware[0]) if execution.dtype == "auto" else execution.dtype
    return RunPlan(
        model=info,
        # "auto" -> the concrete dtype of the hardware that runs the model (precision.py)
        dtype=dtype,
        batch_size=resolve_batch_size(
            execution.batch_size,
            # the backend is asked only when the table is used (a cluster query on Ray)
            platform=lambda: (hardware or run_hardware(execution))[0],
            dtype=dtype,
            tokens=min(max_tokens, window_bp // info.config.k + 2),
        ),
        window_bp=window_bp,
        stride_bp=stride_bp,
        layers=layers,
        strands=STRAND_SETS[config.strands],
        devices_per_actor=resolve_devices(execution, hardware),
    )


def _may_be_tpu(execution: ExecutionConfig) -> bool:
    """Whether the default device count needs the backend: a cluster (asked), or this
    machine with TPU device files (/dev/accel*, /dev/vfio/N). Elsewhere the default is 1
    without starting JAX's backend in the driver (which would take GPU memory from the
    actors of a private Ray, and fail the driver on a bad XLA_FLAGS meant for workers)."""
    if execution.ray not in (None, "", "local"):
        return True
    import glob

    return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def resolve_devices(execution: ExecutionConfig, hardware: tuple[str, int] | None) -> int:
    """Local devices per worker: as set, else every chip of a TPU host, else one.

    A TPU host's chips are driven by one process (one program over a mesh); on GPUs the
    default stays one actor per GPU. A count set for a run on this machine (no Ray, or a
    private Ray) is checked against this machine's devices; a cluster's workers check it.

    Args:
        execution: the run's execution settings (`devices_per_actor` None: the default).
        hardware: (backend, devices per host) where the run goes (`run_hardware`); needed
            when `devices_per_actor` is None.

    Raises:
        ConfigError: more devices asked for than this machine has, on a run here.
    """
    n = execution.devices_per_actor
    if n is None:
        backend, per_host = hardware or ("cpu", 1)
        return per_host if backend == "tpu" else 1
    if n > 1 and execution.ray in (None, "", "local"):
        import jax

        have = jax.local_device_count()
        if n > have:
            raise ConfigError(
                f"devices_per_actor {n} is more than the {have} {jax.default_backend()} "
                f"device(s) of this machine; pass --devices-per-actor {have} or fewer (on CPU, "
                "XLA_FLAGS=--xla_force_host_platform_device_count=N gives N devices)"
            )
    return n


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
