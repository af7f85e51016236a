"""The shell command a submitted job runs: `ntscale ...` joined to the job's own cluster."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ntscale.errors import ConfigError

RAY_COMMANDS = frozenset({"embed", "score", "example"})
"""ntscale sub-commands that run through the Ray executor and take `--ray ADDRESS`."""

JOB_RAY_ADDRESS = "auto"
"""The `--ray` value a job's driver gets: the cluster the job runs in."""

BARE_RAY = "local"
"""What a bare `--ray` means to ntscale's CLI (cli/main.py): a private Ray."""


def ray_values(words: Sequence[str]) -> list[str]:
    """Every value given to `--ray` (`--ray X` or `--ray=X`) on an ntscale command line.

    A bare `--ray` (last word, or followed by an option) is "local", as on the CLI.
    """
    values = []
    for i, word in enumerate(words):
        if word.startswith("--ray="):
            values.append(word.split("=", 1)[1])
        elif word == "--ray":
            bare = i + 1 == len(words) or words[i + 1].startswith("-")
            values.append(BARE_RAY if bare else words[i + 1])
    return values


def build_entrypoint(
    args: Sequence[str], *, raw: bool = False, ray_address: str = JOB_RAY_ADDRESS
) -> str:
    """Turn `ntscale` arguments into the job's shell entrypoint.

    `embed` / `score` / `example` runs get `--ray auto` appended unless they already name a
    `--ray` address, so the job's driver uses the cluster it runs in instead of running
    everything on the head node. Words are shell-quoted: the job's shell sees them as given.

    Args:
        args: the words after `--` (`embed --fasta ...`), or a whole command if `raw`.
        raw: run `args` as a shell command as is (e.g. `nvidia-smi`), not as ntscale.
        ray_address: the `--ray` value added to Ray-capable commands.

    Raises:
        ConfigError: no arguments, or a command that makes no sense inside a job.
    """
    words = [str(a) for a in args]
    if not words:
        raise ConfigError(
            "nothing to submit: give the ntscale command after `--`, "
            "e.g. `ntscale submit -- embed --fasta GENOME.fa --model NAME --out s3://...`"
        )
    if raw:
        return shlex.join(words)
    command = next((w for w in words if not w.startswith("-")), None)
    if command in ("submit", "jobs"):
        raise ConfigError(
            f"`ntscale {command}` cannot run inside a Ray job; submit `embed` or `score`"
        )
    given = ray_values(words)
    if "local" in given:
        raise ConfigError(
            "`--ray local` in a submitted job would start a private Ray on the head node and "
            "leave the cluster's GPUs idle; leave --ray out (`ntscale submit` adds --ray auto)"
        )
    if command in RAY_COMMANDS and not given:
        words += ["--ray", ray_address]
    return shlex.join(["ntscale", *words])
