"""`ntscale submit` and `ntscale jobs ...`: run ntscale commands as Ray jobs on a cluster.

The job's driver is the same `ntscale embed` / `ntscale score` command line as a local run,
executed on the cluster with `--ray auto`; see cluster/README.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import sys
from typing import Annotated

import typer

from ntscale.cli.main import app
from ntscale.errors import ClusterError, ConfigError

ADDRESS_HELP = "Ray dashboard URL of the cluster (default: $RAY_ADDRESS or http://127.0.0.1:8265)."

jobs_app = typer.Typer(
    name="jobs",
    help="Inspect, follow and stop jobs on a Ray cluster.",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")

AddressOpt = Annotated[str | None, typer.Option("--address", "-a", help=ADDRESS_HELP)]


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {pair!r} is not KEY=VALUE")
        env[key] = value
    return env


def _echo_text(text: str) -> None:
    typer.echo(text, nl=False)
    sys.stdout.flush()


class _Terminated(KeyboardInterrupt):
    """SIGTERM while following logs: handled like Ctrl-C, exit 143."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _follow(address: str | None, job_id: str) -> str:
    """Stream a job's logs until it ends; Ctrl-C/SIGTERM stop following, never the job."""
    from ntscale import submit as sub

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return sub.follow_logs(address, job_id, _echo_text)
    except KeyboardInterrupt as e:
        typer.secho(
            f"\nstopped following; job {job_id} keeps running "
            f"(`ntscale jobs stop {job_id}` stops it; `ntscale jobs logs {job_id} --follow` "
            "follows it again)",
            err=True,
        )
        raise typer.Exit(143 if isinstance(e, _Terminated) else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _finish(address: str | None, job_id: str, status: str) -> None:
    from ntscale import submit as sub

    if status == "SUCCEEDED":
        typer.echo(f"job {job_id} SUCCEEDED")
        return
    raise ClusterError(sub.failure_message(address, job_id))


@app.command(
    "submit",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def submit(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="The ntscale command to run on the cluster, after `--`: embed|score ...",
            show_default=False,
        ),
    ] = None,
    address: AddressOpt = None,
    config: Annotated[
        str | None, typer.Option("--config", help="Submission settings YAML (cluster/submit.yaml).")
    ] = None,
    working_dir: Annotated[
        str | None,
        typer.Option(
            "--working-dir",
            help="Folder shipped to every node; the job runs in it (else ntscale must be "
            "installed on the cluster).",
        ),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="KEY=VALUE for the job's environment.")
    ] = None,
    pip: Annotated[
        list[str] | None, typer.Option("--pip", help="Requirement to pip-install for the job.")
    ] = None,
    job_id: Annotated[
        str | None, typer.Option("--job-id", help="Your own (new) id for the job.")
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Print the job id and return; do not follow.")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option("--raw", help="Run the words after `--` as a shell command, not ntscale."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the submission (address, entrypoint, runtime env) as JSON; send nothing.",
        ),
    ] = False,
) -> None:
    """Submit an `ntscale embed|score ...` run as a Ray job and follow its logs.

    Example: `ntscale submit --address http://HEAD:8265 -- embed --fasta /shared/hg38.fa
    --model 500M_multi_species_v2 --out s3://bucket/hg38.zarr` (the job adds `--ray auto`).
    """
    from ntscale import submit as sub

    words = list(args or [])
    settings = sub.load_submit_config(
        config,
        overrides={
            "address": address,
            "working_dir": working_dir,
            "env_vars": _parse_env(env or []) or None,
            "pip": pip or None,
        },
    )
    submission = sub.plan_submission(words, settings, raw=raw, job_id=job_id)
    if not raw:
        from ntscale.cli.submit_paths import refuse_relative_outputs

        refuse_relative_outputs(words, working_dir=settings.working_dir)
    if dry_run:
        typer.echo(json.dumps(dataclasses.asdict(submission), indent=2, default=dict))
        return
    new_id = sub.submit_job(submission)
    typer.echo(f"job: {new_id}")
    typer.echo(f"entrypoint: {submission.entrypoint}", err=True)
    if no_wait:
        typer.echo(f"follow it with: ntscale jobs logs {new_id} --follow", err=True)
        return
    _finish(submission.address, new_id, _follow(submission.address, new_id))


@jobs_app.command("status")
def status(job_id: str, address: AddressOpt = None) -> None:
    """Print a job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and Ray's message."""
    from ntscale import submit as sub

    info = sub.job_status(address, job_id)
    typer.echo(f"{info.job_id} {info.status}")
    if info.message:
        typer.echo(info.message)


@jobs_app.command("logs")
def logs(
    job_id: str,
    address: AddressOpt = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming until the job ends.")
    ] = False,
) -> None:
    """Print a job's logs; with --follow, stream them and exit non-zero if the job failed."""
    from ntscale import submit as sub

    if follow:
        _finish(address, job_id, _follow(address, job_id))
    else:
        _echo_text(sub.job_logs(address, job_id))


@jobs_app.command("stop")
def stop(job_id: str, address: AddressOpt = None) -> None:
    """Stop a running job and print its final status."""
    from ntscale import submit as sub

    typer.echo(f"{job_id} {sub.stop_job(address, job_id)}")


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@jobs_app.command("list")
def list_(address: AddressOpt = None) -> None:
    """List the cluster's jobs, oldest first: id, status, start time, entrypoint."""
    from ntscale import submit as sub

    rows = sub.list_jobs(address)
    if not rows:
        typer.echo("no jobs")
        return
    width = max(len(r.job_id) for r in rows)
    for r in rows:
        typer.echo(f"{r.job_id:<{width}}  {r.status:<9}  {_when(r.start_time)}  {r.entrypoint}")
