"""`--help` shows real defaults (on/off flags too), panels in a fixed order, no type tags."""

from __future__ import annotations

import pytest

from ntscale.cli.main import cli_command, main

COMMANDS = [
    ["embed"],
    ["score"],
    ["example"],
    ["models"],
    ["download"],
    ["report"],
    ["submit"],
    ["jobs", "logs"],
    [],
]


def _help(args: list[str], capsys: pytest.CaptureFixture, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # one line per option: easier to read back
    monkeypatch.setenv("NO_COLOR", "1")
    try:
        main([*args, "--help"])
    except SystemExit as e:  # help exits 0 (or returns, depending on click's mode)
        assert e.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "ntscale")
def test_no_type_tags(args, capsys, monkeypatch):
    out = _help(args, capsys, monkeypatch)
    assert "Usage: ntscale" in out
    for tag in ("<str>", "<bool>", "<int>", "<float>", "<list"):
        assert tag not in out, f"{tag} in `ntscale {' '.join(args)} --help`"


def test_job_help_shows_config_defaults_and_panels(capsys, monkeypatch):
    out = _help(["embed"], capsys, monkeypatch)
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ --")}
    assert "(default: forward)" in lines["--strands"]
    assert "(default: --no-per-token)" in lines["--per-token"]  # an on/off flag
    assert "(default: --progress)" in lines["--progress"]
    assert "(default: 64)" in lines["--unit-windows"] and "(default: 8)" in lines["--batch-size"]
    assert "(default: auto)" in lines["--dtype"]
    assert "PATH" in lines["--fasta"] and "NAME|PATH" in lines["--model"]
    panels = [p for p in ("Input", "Model", "Windows", "Outputs", "Execution") if f"─ {p} " in out]
    assert panels == ["Input", "Model", "Windows", "Outputs", "Execution"]
    assert [out.index(f"─ {p} ") for p in panels] == sorted(out.index(f"─ {p} ") for p in panels)
    out = _help(["score"], capsys, monkeypatch)
    assert "(default: centred)" in out and "(default: --share-windows)" in out


def test_help_defaults_follow_the_config_dataclasses():
    from ntscale.config import ExecutionConfig

    embed = cli_command().commands["embed"]
    batch = next(p for p in embed.params if p.name == "batch_size")
    assert f"(default: {ExecutionConfig().batch_size})" in batch.help
    assert batch.default is None  # still "not given", so a --config YAML can set it
