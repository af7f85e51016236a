"""Refuse relative output paths in submitted jobs.

A submitted job runs in Ray's temporary copy of `--working-dir` (or in the head's job
directory without one). A relative output path lands there and is deleted with the job's
session, while the job reports SUCCEEDED. Every path that a command writes must therefore be
absolute (on a file system every node shares) or an object-store URL.
"""

from __future__ import annotations

import os
from typing import Any

from ntscale.errors import ConfigError

OUTPUT_PARAMS: frozenset[str] = frozenset({"out", "tracks"})
"""Parameters that name a written path, besides every `*_out` one (`vcf_out`, `table_out`)."""


def _is_output(name: str) -> bool:
    return name in OUTPUT_PARAMS or name.endswith("_out")


def _command(name: str) -> Any | None:
    import typer

    from ntscale.cli.main import _register_commands, app

    _register_commands()
    return typer.main.get_command(app).commands.get(name)


def _flag_values(words: list[str], options: dict[str, str]) -> dict[str, str]:
    """Values of the given options (`--out X`, `--out=X`) on a command line; last one wins."""
    found: dict[str, str] = {}
    for i, word in enumerate(words):
        flag, sep, value = word.partition("=")
        if flag not in options:
            continue
        if not sep:
            if i + 1 >= len(words):
                continue
            value = words[i + 1]
        found[options[flag]] = value
    return found


def _config_values(words: list[str], working_dir: str | None) -> dict[str, Any]:
    """Output keys of a `--config` YAML the job will read, when it is readable here."""
    from ntscale.config import read_yaml

    path = _flag_values(words, {"--config": "config"}).get("config")
    if not path or "://" in path:
        return {}
    local = path if os.path.isabs(path) or working_dir is None else os.path.join(working_dir, path)
    if not os.path.isfile(local):
        return {}  # only on the cluster: the job itself will read it
    try:
        data = read_yaml(local)
    except Exception:  # an unreadable config fails the job with its own message
        return {}
    return {k: v for k, v in data.items() if _is_output(str(k)) and isinstance(v, str)}


def written_paths(words: list[str], *, working_dir: str | None) -> dict[str, str]:
    """The paths an `ntscale COMMAND ...` command line will write, by option name.

    Command-line flags win over the `--config` file, which wins over the defaults.
    """
    name = next((w for w in words if not w.startswith("-")), None)
    command = None if name is None else _command(name)
    if command is None:
        return {}
    flags: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for param in command.params:
        if not (param.name and _is_output(param.name)):
            continue
        for opt in param.opts:
            if opt.startswith("--"):
                flags[opt] = opt
        if isinstance(param.default, str):
            defaults[param.opts[0]] = param.default
    given = _flag_values(words, flags)
    from_config = {
        f"--{k.replace('_', '-')}": v for k, v in _config_values(words, working_dir).items()
    }
    return {**defaults, **from_config, **given}


def refuse_relative_outputs(words: list[str], *, working_dir: str | None) -> None:
    """Raise when a submitted ntscale command would write to a relative path.

    Raises:
        ConfigError: naming the option, the path and the fix.
    """
    relative = {
        opt: path
        for opt, path in written_paths(words, working_dir=working_dir).items()
        if path and "://" not in path and not os.path.isabs(os.path.expanduser(path))
    }
    if relative:
        opt, path = next(iter(sorted(relative.items())))
        more = f" (also {', '.join(sorted(relative)[1:])})" if len(relative) > 1 else ""
        raise ConfigError(
            f"{opt} {path!r} is relative{more}: a submitted job runs in Ray's temporary copy "
            "of its working dir, deleted when the job ends, so the output would be lost; give "
            "an absolute path on a file system every node shares or an object-store URL "
            "(s3://BUCKET/..., gs://BUCKET/...)"
        )
