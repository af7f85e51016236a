"""The settings of one `ntscale submit`: a YAML file (`--config`) overlaid by the flags.

The file is read by the same loader and typed-config builder as every run setting
(`ntscale.config.read_yaml`, `build_config`): unknown keys and wrong types are errors that
name the key and the file, and dashes in keys mean underscores, as for `embed`/`score`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ntscale.config import build_config, read_yaml
from ntscale.errors import ConfigError

_MAPPINGS = ("env_vars", "runtime_env", "metadata")


@dataclass(frozen=True, kw_only=True, slots=True)
class SubmitConfig:
    """Settings of `ntscale submit` that a team keeps in a YAML file (`--config`).

    Command-line options override these. Example: cluster/submit.yaml.
    """

    address: str | None = None
    working_dir: str | None = None
    env_vars: Mapping[str, str] | None = None
    pip: Sequence[str] | None = None
    runtime_env: Mapping[str, Any] | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    metadata: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        # YAML gives any type; a string `pip` would be installed letter by letter.
        for key in _MAPPINGS:
            value = getattr(self, key)
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"{key!r} must be a mapping, got {value!r}")
        if self.pip is not None and not isinstance(self.pip, list | tuple):
            raise ConfigError(f"'pip' must be a list of requirements, got {self.pip!r}")


def load_submit_config(
    path: str | os.PathLike[str] | None,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> SubmitConfig:
    """Read a submission YAML (or nothing) and overlay the flags that were given.

    Args:
        path: the `--config` file; None means no file (defaults only).
        overrides: flag values by setting name; None means "not given". `env_vars` are
            added to the file's (a flag wins per variable); any other flag replaces the
            file's value.

    Raises:
        ConfigError: the file is missing or not a YAML mapping, or a key is unknown or of
            the wrong type (the message names the key and the file).
    """
    source = "the submit options" if path is None else f"submission config {str(path)!r}"
    values = read_yaml(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "env_vars" and isinstance(values.get(key), Mapping):
            value = {**values[key], **value}
        values[key] = value
    return build_config(SubmitConfig, values, source=source)
