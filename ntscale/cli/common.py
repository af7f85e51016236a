"""Helpers shared by the job commands (embed, score): settings merge, execution, output."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from ntscale.config import ExecutionConfig, parse_contig_map, read_yaml
from ntscale.errors import ConfigError

Opt = typer.Option

# Help panels of the job commands' options (`rich_help_panel=`), in display order.
INPUT, MODEL, WINDOWS, OUTPUTS, EXECUTION = "Input", "Model", "Windows", "Outputs", "Execution"

# Options shared by the job commands (same name, type and help everywhere).
FastaOpt = Annotated[
    str | None,
    Opt(
        "--fasta",
        rich_help_panel=INPUT,
        help="Genome FASTA (plain or bgzipped; .fai made if missing).",
    ),
]
RevisionOpt = Annotated[
    str | None,
    Opt(
        "--revision",
        rich_help_panel=MODEL,
        help="Hub commit or tag of a published model or repo id (default: main); the "
        "resolved commit is recorded in the store.",
    ),
]
ModelOpt = Annotated[
    str | None,
    Opt(
        "--model",
        rich_help_panel=MODEL,
        help="Published model name, checkpoint directory or hub repo id. Warning: joblib "
        "checkpoints are pickles that can run code; other hub repos need --trust-pickle.",
    ),
]
TrustPickleOpt = Annotated[
    bool,
    Opt(
        "--trust-pickle",
        rich_help_panel=MODEL,
        help="Allow joblib (pickle) weights from hub repos not owned by InstaDeepAI "
        "(also NTSCALE_TRUST_PICKLE=1).",
    ),
]
OutOpt = Annotated[
    str | None,
    Opt(
        "--out",
        rich_help_panel=OUTPUTS,
        help="Output Zarr store (path or fsspec URL such as s3://...).",
    ),
]
# --window is the short spelling of --window-bp (the config field's name, as in YAML)
WindowBpOpt = Annotated[
    str | None,
    Opt(
        "--window-bp",
        "--window",
        rich_help_panel=WINDOWS,
        help="Window length in bp, or 'max' (the default): the model's maximum.",
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    Opt(
        "--batch-size",
        rich_help_panel=EXECUTION,
        help="Windows per forward pass. (default: from a table by device, dtype and window "
        "length: 2-8 on CPU, 16-64 on GPU; recorded in the store)",
    ),
]
DevicesPerActorOpt = Annotated[
    int | None,
    Opt(
        "--devices-per-actor",
        rich_help_panel=EXECUTION,
        help="Local devices each worker drives as one program, each batch split over them "
        "(default: 1 per GPU, every chip of a TPU host, 1 on CPU).",
    ),
]
DtypeOpt = Annotated[
    str | None,
    Opt(
        "--dtype",
        rich_help_panel=MODEL,
        help="Compute dtype: auto (bf16 on GPU/TPU, fp32 on CPU), bf16 or fp32.",
    ),
]
SpeciesOpt = Annotated[
    str | None,
    Opt(
        "--species",
        rich_help_panel=MODEL,
        help="NTv3 post-trained: the species conditioning the model.",
    ),
]
ContigMapOpt = Annotated[
    str | None,
    Opt(
        "--contig-map",
        rich_help_panel=INPUT,
        help="VCF contig names: 'auto' (add/strip 'chr') or FASTA=VCF pairs, comma-separated.",
    ),
]
UnphasedOpt = Annotated[
    str | None,
    Opt(
        "--unphased",
        rich_help_panel=INPUT,
        help="Unphased heterozygous genotypes: error, ref, alt or skip.",
    ),
]
SamplesOpt = Annotated[
    str | None,
    Opt(
        "--samples",
        rich_help_panel=INPUT,
        help="Samples of the VCF, comma-separated (default: all).",
    ),
]
RayOpt = Annotated[
    str | None,
    Opt(
        "--ray",
        rich_help_panel=EXECUTION,
        help="Run on Ray: 'local' (private), 'auto' or HOST:PORT. Bare --ray = local.",
    ),
]
MaxActorsOpt = Annotated[
    int | None, Opt("--max-actors", rich_help_panel=EXECUTION, help="At most this many Ray actors.")
]
ConfigOpt = Annotated[
    str | None, Opt("--config", rich_help_panel=INPUT, help="YAML file of settings (flags win).")
]
JsonOpt = Annotated[
    bool,
    Opt(
        "--json",
        rich_help_panel=OUTPUTS,
        help="Print the run summary (with --dry-run: the plan) as one JSON object alone on "
        "stdout; every other line goes to stderr.",
    ),
]
ProgressOpt = Annotated[
    bool | None,
    Opt(
        "--progress/--no-progress",
        rich_help_panel=EXECUTION,
        help="Progress: a bar on a terminal, else a line on stderr every "
        "NTSCALE_PROGRESS_SECONDS (30).",
    ),
]
ActorStartTimeoutOpt = Annotated[
    float | None,
    Opt(
        "--actor-start-timeout",
        rich_help_panel=EXECUTION,
        help="Seconds to wait for a first Ray actor (or progress) before stopping (default 900).",
    ),
]


def parse_int_list(value: str | None, *, name: str) -> tuple[int, ...] | None:
    """Parse '1,2,12' (or '1 2 12') into a tuple of ints; None when not given."""
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.replace(",", " ").split())
    except ValueError as e:
        raise ConfigError(f"--{name} takes integers such as 1,6,12; got {value!r}") from e


def parse_str_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v for v in value.replace(",", " ").split() if v)


# How the text of a list-valued option becomes its setting (keyed by the setting's name).
_PARSERS: dict[str, Callable[[str], Any]] = {
    "layers": lambda v: parse_int_list(v, name="layers"),
    "samples": parse_str_list,
    "include_contigs": parse_str_list,
    "exclude_contigs": parse_str_list,
    "scores": parse_str_list,
    "contig_map": parse_contig_map,
}
# Parameters of the job commands that are not run settings.
_NOT_SETTINGS = ("config", "trust_pickle_", "dry_run", "as_json")


def command_settings(config_path: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """A job command's settings: its YAML file overlaid by the options that were given.

    Args:
        config_path: the --config YAML file, if any.
        options: the command's parameters (`locals()` on entry). Each is named as its
            config field, so an option, its YAML key and the field are one name.
    """
    values = {
        name: _PARSERS[name](v) if name in _PARSERS and v is not None else v
        for name, v in options.items()
        if name not in _NOT_SETTINGS
    }
    return merge_settings(config_path, values)


def merge_settings(config_path: str | None, cli_values: dict[str, Any]) -> dict[str, Any]:
    """YAML settings overlaid by the CLI flags that were given (None means not given)."""
    merged = read_yaml(config_path) if config_path else {}
    merged.update({k: v for k, v in cli_values.items() if v is not None})
    return merged


def trust_pickle(flag: bool) -> None:
    """--trust-pickle: set NTSCALE_TRUST_PICKLE=1 for this run (Ray actors inherit NTSCALE_*)."""
    if flag:
        import os

        from ntscale.model.hub import TRUST_PICKLE_ENV

        os.environ[TRUST_PICKLE_ENV] = "1"


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["ntscale", *sys.argv[1:]])


def run_job(job: Any, execution: ExecutionConfig, *, label: str) -> dict:
    """Run a job locally (no Ray) or on Ray, as the execution settings say."""
    # a bar on a terminal, else a line every NTSCALE_PROGRESS_SECONDS (runner/progress.py)
    progress = execution.progress
    if execution.ray is None:
        from ntscale.runner.local import run_local

        return run_local(
            job,
            progress=progress,
            max_in_flight_per_actor=execution.max_in_flight_per_actor,
            label=label,
        )
    from ntscale.runner.ray import run_ray

    return run_ray(
        job,
        address=execution.ray,
        max_actors=execution.max_actors,
        cpus_per_actor=execution.cpus_per_actor,
        gpu_memory_fraction=execution.gpu_memory_fraction,
        max_in_flight_per_actor=execution.max_in_flight_per_actor,
        max_unit_retries=execution.max_unit_retries,
        actor_start_timeout=execution.actor_start_timeout,
        progress=progress,
        label=label,
    )


def plan_or_run(
    job: Any,
    execution: ExecutionConfig,
    *,
    store: str,
    label: str,
    what: str,
    dry_run: bool,
    as_json: bool,
) -> dict | None:
    """`--dry-run`: print the job's plan (JSON with `--json`) and stop; otherwise run it and
    print its summary. Returns the run's summary (None for a dry run).

    With `--json` a run prints nothing on stdout here: the command prints the summary as
    one JSON object once its exports are written (`emit_json`), every other line on stderr.

    Args:
        label: what a row is in progress lines ("windows", "variants", "bases").
        what: what the store holds, for the summary ("embeddings", ...).
    """
    if dry_run:
        from ntscale.runner.plan_report import PLAN_REPORTS

        describe, formatter = PLAN_REPORTS[job.KIND]
        described = describe(job)
        typer.echo(json.dumps(described, indent=1) if as_json else formatter(described))
        return None
    summary = run_job(job, execution, label=label)
    print_summary(summary, store=store, what=what, err=as_json)
    return summary


def say(text: str, *, as_json: bool) -> None:
    """A line for the user: stdout, or stderr when stdout carries the JSON summary."""
    typer.echo(text, err=as_json)


def emit_json(summary: dict, *, store: str, outputs: dict | None = None) -> None:
    """The run summary alone on stdout, one JSON object (for Snakemake/Nextflow/jq)."""
    body = {**summary, "outputs": {"store": store, **(outputs or {})}}
    typer.echo(json.dumps(body, indent=1, default=str))


def print_summary(summary: dict, *, store: str, what: str, err: bool = False) -> None:
    """Tell the user what was written, with what status, and how to open it (on stderr
    with `err`, when stdout is kept for the JSON summary)."""
    run = summary.get("run", {})
    st = summary.get("store", {})
    typer.echo(f"{what} written to {store}", err=err)
    if not err:  # the JSON summary says it all on stdout
        typer.echo(json.dumps({"run": run, "store": st}, indent=2, default=str))
    if summary.get("coverage"):
        from ntscale.genome.coverage import format_coverage

        typer.echo(format_coverage(summary["coverage"]), err=err)
    typer.echo(
        "open it with:  python -c \"import ntscale.store as s; print(s.open('" + store + "'))\"",
        err=err,
    )
