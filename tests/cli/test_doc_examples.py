"""Every example command in `--help` texts, the README and docs/ parses with the real CLI.

Commands come from fenced code blocks (any language but python) in README.md, docs/*.md,
cluster/README.md and workflows/README.md, and from inline `ntscale ...` spans in every
command's help text. Each is parsed by the real click command tree (options, values,
sub-commands, the words after `submit --`); its `--model` (or the `model:` of its
`--config` file in the repository) must be a published name or a path in the repository.
A synopsis line (one with `[...]` or `a|b` alternatives) only has its option names checked.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from ntscale.cli.main import cli_command
from ntscale.model import PRESETS
from ntscale.model.ntv3_config import NTV3_MODELS

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO / "README.md", *REPO.glob("docs/*.md")]) + [
    REPO / "cluster" / "README.md",
    REPO / "workflows" / "README.md",
]
CLI = cli_command()


def _fenced_commands(path: Path) -> list[tuple[str, str]]:
    """(where, command) for each `ntscale ...` line of the non-python fenced blocks."""
    out, lang, buf = [], None, ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            lang = None if lang is not None else (line.strip()[3:] or "text")
            continue
        if lang is None or lang == "python":
            continue
        text = line.strip().removeprefix("$ ")
        if buf:
            buf += " " + text
        elif text.startswith("ntscale "):
            buf, start = text, n
        else:
            continue
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip()
            continue
        # a comment, or the right side of a diagram arrow, is not part of the command
        command = buf.split(" #")[0].split(" -> ")[0].strip()
        out.append((f"{path.relative_to(REPO)}:{start}", command))
        buf = ""
    return out


def _help_commands() -> list[tuple[str, str]]:
    """(where, command) for each `ntscale ...` code span in a command's help text."""
    out = []

    def walk(cmd, name: str) -> None:
        text = " ".join((cmd.help or "").split())
        out.extend(
            (f"ntscale {name} --help".replace("  ", " "), m)
            for m in re.findall(r"`(ntscale [^`]+)`", text)
        )
        for sub_name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{name} {sub_name}".strip())

    walk(CLI, "")
    return out


EXAMPLES = [c for p in DOCS for c in _fenced_commands(p)] + _help_commands()


def _is_synopsis(words: list[str]) -> bool:
    return any(("[" in w or "|" in w) and not w.startswith("http") for w in words)


def _parse(words: list[str], where: str) -> list:
    """Parse `ntscale WORDS` down the command tree; return the leaf contexts (submit: two)."""
    cmd, ctx, rest = CLI, None, list(words)
    while True:
        resilient = "--help" in rest or "--version" in rest  # eager: they print and exit
        ctx = cmd.make_context(
            ctx.info_name + " x" if ctx else "ntscale",
            rest,
            parent=ctx,
            resilient_parsing=resilient,
        )
        if not hasattr(cmd, "commands"):
            break
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            return [ctx]
        name, cmd, rest = cmd.resolve_command(ctx, rest)
    contexts = [ctx]
    if cmd.name == "submit" and ctx.params.get("args") and not ctx.params.get("raw"):
        contexts += _parse(list(ctx.params["args"]), where)
    return contexts


def _check_model(ctx, where: str) -> None:
    model = ctx.params.get("model")
    config = ctx.params.get("config")
    if model is None and config and (REPO / config).is_file():
        model = (yaml.safe_load((REPO / config).read_text()) or {}).get("model")
    if model is None:
        return
    published = {k.lower() for k in (*PRESETS, *NTV3_MODELS)}
    assert model.lower() in published or (REPO / model).exists(), (
        f"{where}: --model {model!r} is neither a published model nor a path in the repository"
    )


def _check_synopsis(words: list[str], where: str) -> None:
    cmd = CLI
    for w in words:
        if w.startswith("-") or not hasattr(cmd, "commands"):
            break
        cmd = cmd.commands[w.split("|")[0]]
    names = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    used = {m for w in words for m in re.findall(r"(--[a-z][a-z0-9-]*)", w)}
    assert used <= names, f"{where}: unknown options {sorted(used - names)} of {cmd.name}"


def test_examples_were_found():
    wheres = " ".join(w for w, _ in EXAMPLES)
    assert len(EXAMPLES) >= 10
    assert "README.md" in wheres and "ntscale submit --help" in wheres


@pytest.mark.parametrize(("where", "command"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_example_command_parses(where: str, command: str):
    words = [w for w in shlex.split(command)[1:] if w != "..."]
    if _is_synopsis(words):
        _check_synopsis(words, where)
        return
    for ctx in _parse(words, where):
        _check_model(ctx, where)
        if ctx.params.get("config") and str(ctx.params["config"]).startswith(
            ("configs/", "cluster/")
        ):
            assert (REPO / ctx.params["config"]).is_file(), f"{where}: no {ctx.params['config']}"
