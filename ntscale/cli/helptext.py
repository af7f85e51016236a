"""What `--help` shows: real defaults (from the config dataclasses), plain metavars.

The job commands' options default to None ("not given", so YAML settings can fill them), so
typer alone would show no defaults; the real ones live in the config dataclasses and are
shown from there, on/off flags included. Type tags such as `<str>` become plain metavars.
Applied once to the click command tree before it runs (`cli_command`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

PANEL_ORDER = ("Input", "Model", "Windows", "Outputs", "Execution")
_PATH_OPTIONS = {"fasta", "vcf", "regions", "config", "out", "vcf_out", "table_out", "cache_dir"}


def _config_defaults(command: str) -> dict[str, Any]:
    """Defaults of the settings of a job command (its config plus execution settings)."""
    from ntscale.config import EmbedConfig, ExecutionConfig, ScoreConfig

    cls = {"embed": EmbedConfig, "score": ScoreConfig}.get(command)
    if cls is None:
        return {}
    out: dict[str, Any] = {}
    for c in (cls, ExecutionConfig):
        for f in dataclasses.fields(c):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
    return out


def _default_text(param: Any, value: Any) -> str | None:
    if isinstance(value, bool) and param.secondary_opts:
        return param.opts[0] if value else param.secondary_opts[0]
    if value is None or value == () or value == [] or value == {}:
        return None  # "none" is said by the help text where it matters
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _metavar(param: Any) -> str:
    if param.is_flag or param.count:
        return ""
    if param.name in _PATH_OPTIONS:
        return "PATH"
    if param.name == "model":
        return "NAME|PATH"
    kind = param.bare_type() if hasattr(param, "bare_type") else ""
    base = {"int": "N", "float": "X"}.get(kind.removeprefix("list[").rstrip("]"), "TEXT")
    return base + "..." if kind.startswith("list[") else base


def tidy_command(cmd: Any, name: str = "") -> None:
    """Give every option of `cmd` (and its sub-commands) a default and a plain metavar."""
    for sub_name, sub in getattr(cmd, "commands", {}).items():
        tidy_command(sub, sub_name)
    defaults = _config_defaults(name)
    help_opt = cmd.get_help_option(cmd.context_class(cmd, info_name=name or "ntscale"))
    if help_opt is not None:
        help_opt.metavar = ""
    for param in cmd.params:
        if param.param_type_name == "argument":
            # no type tag column for arguments (typer has no metavar override for it)
            param.display_type_rich = lambda ctx: None
            continue
        if param.metavar is None:
            param.metavar = _metavar(param)
        if param.default is None:
            text = _default_text(param, defaults.get(param.name))
            # "(default: ...)" as the hand-written help texts say it; typer's "[default: ...]"
            # would be taken for rich markup in a help string
            if text is not None and "(default:" not in (param.help or ""):
                param.help = f"{param.help or ''} (default: {text})".strip()
        elif param.show_default is None:
            param.show_default = True
    # panels in a fixed order (typer draws them in the order of their first option)
    order = {panel: i for i, panel in enumerate(PANEL_ORDER)}
    cmd.params.sort(key=lambda p: order.get(getattr(p, "rich_help_panel", None), -1))
