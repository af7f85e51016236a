"""The `ntscale` command: help, version, errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ntscale import __version__
from ntscale.cli.main import _expand_bare_options, main


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


def test_input_error_exits_non_zero_without_traceback(tmp_path):
    r = run_cli("embed", "--fasta", str(tmp_path / "missing.fa"), "--model", "x", "--out", "o")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ")


def test_debug_shows_traceback(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("fasta: a\nmodel: m\nout: o\nbogus: 1\n")
    r = run_cli("embed", "--config", str(cfg))
    assert (
        r.returncode == 2 and "unknown setting(s) bogus" in r.stderr and "Traceback" not in r.stderr
    )
    r = run_cli("--debug", "embed", "--config", str(cfg))
    assert r.returncode != 0 and "Traceback" in r.stderr and "ConfigError" in r.stderr


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
