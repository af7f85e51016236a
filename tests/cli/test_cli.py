"""The `ntscale` command: help and version of `python -m ntscale`, errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_helpers import TINY_MODEL, invoke

from ntscale import __version__
from ntscale.cli.main import _expand_bare_options, main
from ntscale.errors import ConfigError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ntscale", *args], capture_output=True, text=True, timeout=120
    )


def test_version_and_help_list_commands():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"ntscale {__version__}"
    r = run_cli("--help")
    assert r.returncode == 0
    for command in ("embed", "example", "score", "submit", "jobs"):
        assert command in r.stdout


def test_input_error_exits_2_with_one_line_naming_the_file(tmp_path):
    missing = tmp_path / "missing.fa"
    r = invoke("embed", "--fasta", missing, "--model", TINY_MODEL, "--out", tmp_path / "o.zarr")
    assert r.code == 2
    assert r.err.startswith("error: ") and str(missing) in r.error_line()
    assert not (tmp_path / "o.zarr").exists()


def test_debug_shows_traceback(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("fasta: a\nmodel: m\nout: o\nbogus: 1\n")
    r = invoke("embed", "--config", cfg)
    assert r.code == 2 and f"unknown setting(s) bogus in {cfg}" in r.error_line()
    # --debug lets the error through, traceback and all (the console script prints it)
    with pytest.raises(ConfigError, match="unknown setting"):
        main(["--debug", "embed", "--config", str(cfg)])


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as e:
        main(["embed", "--no-such-flag"])
    assert e.value.code == 2


def test_bare_ray_flag_means_local():
    assert _expand_bare_options(["embed", "--ray"]) == ["embed", "--ray=local"]
    assert _expand_bare_options(["embed", "--ray", "--out", "x"]) == [
        "embed",
        "--ray=local",
        "--out",
        "x",
    ]
    assert _expand_bare_options(["embed", "--ray", "auto"]) == ["embed", "--ray", "auto"]
