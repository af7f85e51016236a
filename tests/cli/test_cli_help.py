"""`--help`: every command lists the options users rely on, each with a description; real
defaults (from the config dataclasses, on/off flags too), plain metavars, no type tags;
the job commands' options in panels of a fixed order (cli/helptext.py).

OPTIONS is the command line's contract, written out by hand: a name dropped or renamed by
mistake breaks the scripts, configs and docs that use it, and fails here first.
"""

from __future__ import annotations

import re
from typing import Annotated

import pytest
import typer
from cli_helpers import invoke

from ntscale.cli.helptext import tidy_command
from ntscale.cli.main import cli_command

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

EXECUTION = ["--batch-size", "--devices-per-actor", "--dtype", "--ray", "--max-actors",
             "--actor-start-timeout", "--trust-pickle", "--config", "--progress", "--dry-run",
             "--json"]  # fmt: skip
OPTIONS = {
    "embed": ["--fasta", "--model", "--out", "--layers", "--regions", "--vcf", "--samples",
              "--include-contigs", "--exclude-contigs", "--min-contig-bp", "--window",
              "--stride", "--strands", "--last-window", "--gap-aware", "--per-token", "--cls",
              "--unphased", "--unit-windows", "--contig-map", "--dedup", *EXECUTION],
    "score": ["--fasta", "--vcf", "--model", "--out", "--scores", "--preset", "--collapse-n",
              "--layers", "--window", "--window-mode", "--strands", "--share-windows",
              "--calibrate", "--unit-variants", "--vcf-out", "--table-out", "--tracks",
              "--regions", "--unit-bases", *EXECUTION],
    "info": ["--json"],
    "verify": ["--json", "--repair"],
    "report": ["--out", "--fasta", "--layer", "--score", "--top", "--components", "--workers"],
    "models": ["--cache-dir", "--json"],
    "download": ["--cache-dir"],
    "example": ["--out", "--ray"],
    "submit": ["--address", "--config", "--working-dir", "--env", "--pip", "--job-id",
               "--no-wait", "--raw"],
    "jobs status": ["--address"],
    "jobs logs": ["--address", "--follow"],
    "jobs stop": ["--address"],
    "jobs list": ["--address"],
}  # fmt: skip
# on/off pairs: the help shows both spellings on one line
PAIRS = {"--gap-aware", "--per-token", "--cls", "--dedup", "--progress", "--collapse-n",
         "--share-windows", "--calibrate"}  # fmt: skip


def help_text(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """`ntscale ARGS --help` as printed, one line per option (wide, no colours)."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    r = invoke(*args, "--help")
    assert r.code == 0, r.err
    return r.out


def help_lines(monkeypatch: pytest.MonkeyPatch, command: str) -> dict[str, str]:
    """{option name: its line} of `ntscale COMMAND --help`."""
    out = help_text(monkeypatch, *command.split())
    assert out.count(f"Usage: ntscale {command} ") == 1
    # an option with a short spelling is listed as "--window-bp,--window": both names count
    return {
        name: line
        for line in out.splitlines()
        if line.startswith("│ --")
        for name in line.split()[1].split(",")
    }


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "ntscale")
def test_no_type_tags(args, monkeypatch):
    out = help_text(monkeypatch, *args)
    assert "Usage: ntscale" in out
    for tag in ("<str>", "<bool>", "<int>", "<float>", "<list"):
        assert tag not in out, f"{tag} in `ntscale {' '.join(args)} --help`"


def test_job_help_shows_config_defaults_and_panels(monkeypatch):
    out = help_text(monkeypatch, "embed")
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ --")}
    assert "(default: forward)" in lines["--strands"]
    assert "(default: --no-per-token)" in lines["--per-token"]  # an on/off flag
    assert "(default: --progress)" in lines["--progress"]
    assert "(default: 64)" in lines["--unit-windows"]
    assert "(default: from a table" in lines["--batch-size"]
    assert "(default: auto)" in lines["--dtype"]
    assert "PATH" in lines["--fasta"] and "NAME|PATH" in lines["--model"]
    panels = [p for p in ("Input", "Model", "Windows", "Outputs", "Execution") if f"─ {p} " in out]
    assert panels == ["Input", "Model", "Windows", "Outputs", "Execution"]
    assert [out.index(f"─ {p} ") for p in panels] == sorted(out.index(f"─ {p} ") for p in panels)
    out = help_text(monkeypatch, "score")
    assert "(default: centred)" in out and "(default: --share-windows)" in out


def test_help_defaults_follow_the_config_dataclasses():
    from ntscale.config import ExecutionConfig

    embed = cli_command().commands["embed"]
    batch = next(p for p in embed.params if p.name == "batch_size")
    assert ExecutionConfig().batch_size is None  # from the table (runner/batch_table.py)
    assert "(default: from a table by device, dtype and window length" in batch.help
    assert batch.default is None  # still "not given", so a --config YAML can set it


@pytest.mark.parametrize("command", OPTIONS)
def test_help_lists_each_option_with_a_description(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = help_lines(monkeypatch, command)
    for option in OPTIONS[command]:
        assert option in lines, f"`ntscale {command} --help` does not list {option}"
        line = lines[option].strip("│ ")
        words = line.split()
        if option in PAIRS:
            assert words[1] == f"--no-{option[2:]}", line
        # after the name (and an upper-case metavar) comes a sentence of help
        assert any(re.fullmatch(r"[A-Za-z][a-z]{2,}\W*", w) for w in words[1:]), line
    assert "--help" in lines


def test_root_help_lists_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    out = help_text(monkeypatch)
    commands = {line.split()[1] for line in out.splitlines() if line.startswith("│ ")
                and not line.startswith("│ --") and len(line.split()) > 2}  # fmt: skip
    assert {c.split()[0] for c in OPTIONS} <= commands
    for option in ("--verbose", "--debug", "--version"):
        assert f"│ {option}" in out


def _tiny_job_command() -> typer.Typer:
    """A command shaped like `embed`: options default to None ("not given")."""
    app = typer.Typer(add_completion=False)

    @app.command()
    def embed(
        store: Annotated[str, typer.Argument(help="A store.")],
        fasta: Annotated[str | None, typer.Option(help="Genome FASTA.")] = None,
        model: Annotated[str | None, typer.Option(help="Model.")] = None,
        batch_size: Annotated[int | None, typer.Option(help="Windows per pass.")] = None,
        fraction: Annotated[float | None, typer.Option(help="A fraction.")] = None,
        strands: Annotated[str | None, typer.Option(help="Strands.")] = None,
        per_token: Annotated[
            bool | None, typer.Option("--per-token/--no-per-token", help="Per token.")
        ] = None,
        layers: Annotated[str | None, typer.Option(help="Layers.")] = None,
        window: Annotated[str | None, typer.Option(help="Window (default: max).")] = None,
        top: Annotated[int, typer.Option(help="Rows.")] = 20,
        verbose: Annotated[int, typer.Option("-v", count=True, help="Louder.")] = 0,
    ) -> None:
        """A job command."""

    return app


def _params(name: str) -> dict:
    cmd = typer.main.get_command(_tiny_job_command())
    tidy_command(cmd, name)
    return {p.name: p for p in cmd.params}


def test_tidy_command_gives_plain_metavars() -> None:
    p = _params("embed")
    assert p["fasta"].metavar == "PATH"  # a file option
    assert p["model"].metavar == "NAME|PATH"
    assert p["batch_size"].metavar == "N" and p["top"].metavar == "N"
    assert p["fraction"].metavar == "X"
    assert p["strands"].metavar == "TEXT"
    assert p["per_token"].metavar == "" and p["verbose"].metavar == ""  # flags take no value
    assert p["store"].display_type_rich(None) is None  # no type tag beside an argument


def test_tidy_command_shows_the_config_defaults_of_a_job_command() -> None:
    p = _params("embed")
    # the documented defaults of `ntscale embed` (README, docs/design.md)
    assert p["strands"].help == "Strands. (default: forward)"
    assert p["per_token"].help == "Per token. (default: --no-per-token)"
    # "none" defaults say nothing; a help text that states its default is left alone
    assert p["layers"].help == "Layers." and p["window"].help == "Window (default: max)."
    # batch_size defaults to None (the batch table): the real option's help says so
    assert p["batch_size"].help == "Windows per pass."
    assert p["batch_size"].default is None  # still "not given", so YAML can fill it
    assert p["top"].show_default is True  # a real default is shown by click itself


def test_tidy_command_leaves_other_commands_without_config_defaults() -> None:
    p = _params("report")
    assert p["batch_size"].help == "Windows per pass." and p["strands"].help == "Strands."
    assert p["fasta"].metavar == "PATH"  # metavars are tidied everywhere


def test_job_options_are_grouped_in_panels_in_a_fixed_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = help_text(monkeypatch, "score")
    panels = ["Input", "Model", "Windows", "Outputs", "Execution"]
    at = [out.index(f"─ {name} ") for name in panels]
    assert at == sorted(at)
    # each option in its panel: --vcf under Input, --scores under Outputs, --ray under Execution
    assert at[0] < out.index("│ --vcf ") < at[1]
    assert at[3] < out.index("│ --scores ") < at[4] < out.index("│ --ray ")


def test_score_help_lists_every_score_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23.12: `--scores aligned` was missing from the help."""
    from ntscale.scoring.scores import SCORE_KINDS

    out = help_text(monkeypatch, "score")
    start = out.index("│ --scores ")
    scores = out[start : out.index("│ --", start + 5)]
    for kind in ("llr", *SCORE_KINDS):
        assert re.search(rf"\b{kind}\b", scores), kind
    assert "aligned" in out and "--bedgraph" in out and "--drop-genotypes" in out


def test_scoring_docs_show_the_store_layout_the_code_writes() -> None:
    """Issue 23.12: docs/scoring.md "Outputs" describes schema 2, not the old layout."""
    from pathlib import Path

    from ntscale.store.schema import VARIANT_FIELDS

    text = (Path(__file__).resolve().parents[2] / "docs" / "scoring.md").read_text()
    outputs = text[text.index("## Outputs") :]
    outputs = outputs[: outputs.index("\n## ", 1)]
    assert "variants/scores" not in outputs and "contig_index" not in outputs
    for field in VARIANT_FIELDS.values():
        assert f"`{field.stored}`" in outputs, field.stored
    assert "`score_<name>`" in outputs and "schema 2" in outputs
