"""Run settings as frozen dataclasses, loaded from YAML files in configs/ and CLI flags.

A YAML file holds one run's settings with the same names as the CLI flags (underscores
or dashes). Unknown keys are errors, so a typo never silently falls back to a default.
CLI flags given explicitly win over the YAML file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ntscale.errors import ConfigError
from ntscale.types import REF_MISMATCH_POLICIES, UNPHASED_POLICIES

STRAND_SETS = {"forward": ("+",), "reverse": ("-",), "both": ("+", "-")}
VALID_STRANDS = tuple(STRAND_SETS)
VALID_WINDOW_MODES = ("centred", "tiled")
VALID_DTYPES = ("auto", "bf16", "fp32")
VALID_LAST_WINDOW = ("shift", "truncate", "drop")


@dataclass(frozen=True, kw_only=True)
class ExecutionConfig:
    """Where and how work units run (shared by embed and score)."""

    ray: str | None = (
        None  # None: one local process; "local": a private Ray; "auto"/address: a cluster
    )
    max_actors: int | None = None  # cap on actors (default: every GPU, else every CPU slot)
    cpus_per_actor: int = 1
    gpu_memory_fraction: float = 0.9
    max_in_flight_per_actor: int = 2
    max_unit_retries: int = 3
    # seconds without a ready actor (nor progress) before a Ray run stops, naming resources
    actor_start_timeout: float = 900.0
    batch_size: int | None = None  # None: from the table in runner/batch_table.py
    # local devices one worker drives as one program, the batch split over them (None: one
    # per GPU, every chip of the host on TPU, one on CPU; runner/run_plan.py resolves it)
    devices_per_actor: int | None = None
    dtype: str = "auto"  # bf16 on GPU/TPU, fp32 on CPU (runner/precision.py)
    progress: bool = True


@dataclass(frozen=True, kw_only=True)
class EmbedConfig:
    """One whole-genome (or haplotype) embedding run."""

    fasta: str
    model: str
    out: str
    layers: tuple[int, ...] = ()  # empty: the last layer
    regions: str | None = None  # BED file
    include_contigs: tuple[str, ...] = ()
    exclude_contigs: tuple[str, ...] = ()
    min_contig_bp: int = 0
    vcf: str | None = None
    samples: tuple[str, ...] = ()  # empty with a VCF: every sample
    unphased: str = "error"
    ref_mismatch: str = "error"
    # FASTA name -> VCF name, or "auto" (add or strip a 'chr' prefix where that matches)
    contig_map: Mapping[str, str] | str = field(default_factory=dict)
    window_bp: int | str | None = None  # None or "max": the model's maximum (parse_window)
    stride_bp: int | None = None  # None: = window_bp
    strands: str = "forward"
    last_window: str = "shift"
    gap_aware: bool = True  # tile the N-free pieces of the genome (docs/genome.md)
    per_token: bool = False
    cls: bool = False
    unit_windows: int = 64
    dedup: bool = True  # one forward pass per distinct window sequence of a unit; False: per row
    revision: str | None = None  # hub commit/tag of a published name or repo id (--revision)
    species: str | None = None  # NTv3 post-trained models: the conditioning species
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        _check_common(self.strands, self.execution)
        _check_choice("last_window", self.last_window, VALID_LAST_WINDOW)
        _check_choice("unphased", self.unphased, UNPHASED_POLICIES)
        _check_choice("ref_mismatch", self.ref_mismatch, REF_MISMATCH_POLICIES)
        object.__setattr__(self, "window_bp", parse_window(self.window_bp))
        for name in ("window_bp", "stride_bp"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConfigError(f"{name} must be a positive number of bp, got {v!r}")
        if self.unit_windows <= 0:
            raise ConfigError(f"unit_windows must be positive, got {self.unit_windows!r}")
        _check_contig_map(self.contig_map)
        if self.samples and not self.vcf:
            raise ConfigError(
                "samples were given without a VCF; pass --vcf (samples choose haplotypes of it)"
            )


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    """One variant scoring run (CLI flags and YAML keys have the same names)."""

    fasta: str
    vcf: str
    model: str
    out: str
    scores: tuple[str, ...] = ("llr", "l2", "cosine")
    layers: tuple[int, ...] = ()  # empty: the last layer
    window_bp: int | str | None = None  # None or "max": the model's maximum (parse_window)
    window_mode: str = "centred"
    strands: str = "forward"  # forward, reverse or both (averaged)
    share_windows: bool = True  # False: one forward pass per variant (benchmarks)
    unit_variants: int = 1024
    vcf_out: str | None = None  # the input VCF annotated in place (.vcf.gz or .bcf)
    drop_genotypes: bool = False  # vcf_out without samples
    table_out: str | None = None
    scored_only: bool = False  # table_out: only rows whose status carries scores
    preset: str | None = None  # a named protocol (ntscale.scoring.presets), e.g. traitgym
    collapse_n: bool = False  # N-containing 6-mers -> one N token, fixed 6-mer frame
    calibrate: bool = False  # tiled llr_wt: background of every SNV of the tiles -> *_pct
    regions: str | None = None  # BED: only records overlapping it (ntscale.genome.variant_input)
    contig_map: Mapping[str, str] | str = field(default_factory=dict)  # FASTA=VCF or auto
    revision: str | None = None  # hub commit/tag of a published name or repo id (--revision)
    species: str | None = None  # NTv3 post-trained models: the conditioning species
    track_names: tuple[str, ...] | None = None  # NTv3 track_delta: tracks to score
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        from ntscale.scoring import parse_scores
        from ntscale.scoring.ntv3_scores import NTV3_SCORES
        from ntscale.scoring.presets import SCORE_PRESETS

        _check_common(self.strands, self.execution)
        _check_choice("window_mode", self.window_mode, VALID_WINDOW_MODES)
        object.__setattr__(self, "window_bp", parse_window(self.window_bp))
        if self.window_bp is not None and self.window_bp < 6:
            raise ConfigError(f"window_bp must be at least 6 bp, got {self.window_bp!r}")
        if self.unit_variants <= 0:
            raise ConfigError(f"unit_variants must be positive, got {self.unit_variants!r}")
        # NTv3's track_delta is checked by its job (ntscale.runner.ntv3_score); an NT model
        # refuses it when its job parses the scores
        ntv3_only = "track_delta" in self.scores and set(self.scores) <= set(NTV3_SCORES)
        kinds = () if ntv3_only else parse_scores(self.scores)
        if self.calibrate and (self.window_mode != "tiled" or "llr_wt" not in kinds):
            raise ConfigError(
                "calibrate needs the wild-type tiled scan: window_mode tiled and llr_wt "
                f"among the scores (got window_mode {self.window_mode!r}, scores "
                f"{list(self.scores)}); add --window-mode tiled --scores llr_wt,..."
            )
        if self.preset is not None and self.preset not in SCORE_PRESETS:
            raise ConfigError(
                f"unknown preset {self.preset!r}; known presets: {', '.join(SCORE_PRESETS)}"
            )
        if self.table_out and not self.table_out.endswith((".tsv", ".csv", ".parquet")):
            raise ConfigError(
                f"table_out must end in .tsv, .csv or .parquet, got {self.table_out!r}"
            )
        _check_contig_map(self.contig_map)


def _imply_calibrate(values: dict[str, Any]) -> dict[str, Any]:
    """`calibrate` needs the tiled wild-type scan: window_mode tiled and llr_wt among the
    scores, filled in when not given (an explicit other window_mode is still refused)."""
    out = dict(values)
    if out.get("window_mode") is None:
        out["window_mode"] = "tiled"
    scores = out.get("scores")
    if scores is None:
        out["scores"] = ("llr_wt",)
    else:
        listed = [scores] if isinstance(scores, str) else list(scores)
        if not {"llr", "llr_wt"} & set(listed):
            out["scores"] = (*listed, "llr_wt")
    return out


def parse_window(value: object) -> int | None:
    """A window length setting: an int of bp, or None / "max" for the model's maximum."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "max"):
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as e:
        raise ConfigError(f"window must be a length in bp or 'max', got {value!r}") from e


@dataclass(frozen=True, kw_only=True)
class TrackConfig:
    """Per-base LLR tracks of BED regions (`ntscale score --tracks PREFIX --regions BED`)."""

    fasta: str
    model: str
    out: str
    regions: str
    tracks: str  # output prefix: PREFIX.<track>.bw (and PREFIX.<track>.bedGraph.gz)
    bedgraph: bool = False  # also bgzipped, tabix-indexed bedGraph (runs of equal values merged)
    window_bp: int | str | None = None  # None or "max": the model's maximum (parse_window)
    strands: str = "forward"  # forward, reverse or both (averaged)
    unit_bases: int = 65536
    revision: str | None = None  # hub commit/tag of a published name or repo id (--revision)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        _check_common(self.strands, self.execution)
        object.__setattr__(self, "window_bp", parse_window(self.window_bp))
        if self.window_bp is not None and self.window_bp < 6:
            raise ConfigError(f"window_bp must be at least 6 bp, got {self.window_bp!r}")
        if self.unit_bases <= 0:
            raise ConfigError(f"unit_bases must be positive, got {self.unit_bases!r}")


@dataclass(frozen=True, kw_only=True)
class PerBaseConfig:
    """Per-base tracks of a per-base model over the N-free genome (`ntscale segment`)."""

    fasta: str
    model: str
    out: str
    regions: str | None = None  # BED file; default: every contig
    include_contigs: tuple[str, ...] = ()
    window_bp: int | str | None = None  # None/"max": the model's default (SegmentNT 30 kb)
    overlap_bp: int | None = None  # None: half a window
    unit_windows: int = 32  # windows per unit: a unit owns unit_windows * stride bases
    value_dtype: str = "float16"
    bigwig: str | None = None  # PREFIX: PREFIX.<track>.bw after the run
    bed: str | None = None  # file: elements called at `threshold`
    threshold: float = 0.5
    strands: str = "forward"  # per-base models run the forward strand only
    species: str | None = None  # NTv3 tracks: the conditioning species
    track_names: tuple[str, ...] | None = None  # NTv3: bigWig tracks / "bed.<element>"
    # haplotype input (as embed --vcf): values of every haplotype, in reference coordinates
    vcf: str | None = None
    samples: tuple[str, ...] = ()  # empty with a VCF: every sample
    unphased: str = "error"
    ref_mismatch: str = "error"
    contig_map: Mapping[str, str] | str = field(default_factory=dict)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        _check_common(self.strands, self.execution)
        _check_choice("unphased", self.unphased, UNPHASED_POLICIES)
        _check_choice("ref_mismatch", self.ref_mismatch, REF_MISMATCH_POLICIES)
        _check_contig_map(self.contig_map)
        if self.samples and not self.vcf:
            raise ConfigError(
                "samples were given without a VCF; pass --vcf (samples choose haplotypes of it)"
            )
        object.__setattr__(self, "window_bp", parse_window(self.window_bp))
        if self.track_names is not None:
            names = [self.track_names] if isinstance(self.track_names, str) else self.track_names
            split = [n.strip() for item in names for n in str(item).split(",")]
            object.__setattr__(self, "track_names", tuple(n for n in split if n))
        if self.strands != "forward":
            raise ConfigError(f"per-base runs read the forward strand only, got {self.strands!r}")
        if self.unit_windows < 1:
            raise ConfigError(f"unit_windows must be at least 1, got {self.unit_windows!r}")
        _check_choice("value_dtype", self.value_dtype, ("float16", "float32"))
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold!r}")


def _check_common(strands: str, execution: ExecutionConfig) -> None:
    """Checks shared by every job config: strands, dtype, batch size, actors.

    Layer numbers and the window length depend on the model: `runner.run_plan.resolve_run`
    checks them once, against the checkpoint.
    """
    _check_choice("strands", strands, VALID_STRANDS)
    _check_choice("dtype", execution.dtype, VALID_DTYPES)
    if execution.batch_size is not None and execution.batch_size <= 0:
        raise ConfigError(f"batch_size must be positive, got {execution.batch_size!r}")
    if execution.devices_per_actor is not None and execution.devices_per_actor < 1:
        raise ConfigError(
            "devices_per_actor must be at least 1 (leave it out for the hardware's default), "
            f"got {execution.devices_per_actor!r}"
        )
    if execution.max_actors is not None and execution.max_actors < 1:
        raise ConfigError(
            f"max_actors must be at least 1 (leave it out for no cap), got {execution.max_actors!r}"
        )
    if execution.actor_start_timeout <= 0:
        raise ConfigError(
            f"actor_start_timeout must be positive seconds, got {execution.actor_start_timeout!r}"
        )


def _check_contig_map(value: object) -> None:
    if value == "auto":
        return
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(
            "contig_map must be 'auto' or a mapping of FASTA contig name to VCF contig name "
            f"(e.g. {{chr20: '20'}}); got {value!r}"
        )


def parse_contig_map(text: str) -> Mapping[str, str] | str:
    """'auto' or 'FASTA=VCF,FASTA=VCF' (the --contig-map flag) as a contig_map value."""
    if text.strip() == "auto":
        return "auto"
    pairs = [p.strip() for p in text.replace(",", " ").split() if p.strip()]
    out = {}
    for pair in pairs:
        fa, sep, vcf = pair.partition("=")
        if not sep or not fa or not vcf:
            raise ConfigError(
                f"--contig-map takes 'auto' or FASTA=VCF pairs such as chr20=20,chr21=21; "
                f"got {text!r}"
            )
        out[fa] = vcf
    return out


def _check_choice(name: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{name} must be one of {', '.join(valid)}; got {value!r}")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of settings; keys are normalised to use underscores."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping of settings")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_config(cls: type, values: Mapping[str, Any], *, source: str = "settings") -> Any:
    """Build a frozen config dataclass from a flat mapping; unknown keys are errors.

    In a job config (one with an `execution` field), keys that belong to `ExecutionConfig`
    may be given at the top level (as on the CLI) or under an `execution:` mapping.
    """
    values = dict(values)
    own_fields = {f.name: f for f in dataclasses.fields(cls)}
    has_exec = "execution" in own_fields
    exec_fields = {f.name for f in dataclasses.fields(ExecutionConfig)} if has_exec else set()
    if "preset" in own_fields and values.get("preset") is not None:
        from ntscale.scoring.presets import apply_preset

        values = apply_preset(values)
    if "calibrate" in own_fields and values.get("calibrate"):
        values = _imply_calibrate(values)
    exec_values = dict(values.pop("execution", None) or {}) if has_exec else {}
    for key in list(values):
        if key in exec_fields and key not in own_fields:
            exec_values[key] = values.pop(key)
    unknown = sorted(set(values) - set(own_fields)) + sorted(
        f"execution.{k}" for k in set(exec_values) - exec_fields
    )
    if unknown:
        valid = sorted(set(own_fields) - {"execution"} | exec_fields)
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} in {source}; "
            f"valid settings: {', '.join(valid)}"
        )
    _check_types(own_fields, values, source=source)
    _check_types(
        {f.name: f for f in dataclasses.fields(ExecutionConfig)}, exec_values, source=source
    )
    for name, f in own_fields.items():
        if name in values and values[name] is not None and "tuple" in str(f.type):
            v = values[name]
            values[name] = tuple(v) if isinstance(v, list | tuple) else (v,)
    if "execution" in own_fields:
        try:
            values["execution"] = ExecutionConfig(**exec_values)
        except TypeError as e:
            raise ConfigError(f"invalid settings in {source}: {e}") from e
    missing = [
        n
        for n, f in own_fields.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and n not in values
    ]
    if missing:
        raise ConfigError(f"missing required setting(s) {', '.join(missing)} in {source}")
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(f"invalid settings in {source}: {e}") from e
    except ConfigError as e:
        if source in str(e):
            raise
        raise ConfigError(f"{e} (in {source})") from e


# The scalar type a field's annotation asks for (annotations are strings here).
_SCALARS = (("bool", bool), ("int", int), ("float", float), ("str", str))


def _check_types(fields: Mapping[str, Any], values: Mapping[str, Any], *, source: str) -> None:
    """Every scalar setting has its field's type: 600.7 is not an int, "12" not a number.

    YAML gives floats for 600.7 and strings for quoted numbers; dataclasses check nothing,
    so without this a float window length would give windows of varying length.
    """
    for name, value in values.items():
        f = fields.get(name)
        if f is None or value is None:
            continue
        ann = str(f.type).replace(" ", "")
        options = set(ann.split("|"))
        want = next((t for key, t in _SCALARS if key in options), None)
        if want is None or "Mapping[str,str]" in options and isinstance(value, Mapping):
            continue
        if "str" in options and isinstance(value, str):
            continue
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
            raise ConfigError(f"setting {name!r} in {source} must be {kind[want]}, got {value!r}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML/JSON-friendly dict of a config (stored in the output's attributes)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    return plain(config)
