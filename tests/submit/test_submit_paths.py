"""Submitted jobs refuse relative output paths (they would land in Ray's temporary working
dir copy and vanish). No Ray needed: the refusal happens before anything is sent."""

from __future__ import annotations

import subprocess

import pytest
from raytest import VENV_BIN, _free_port

from ntscale.cli.submit_paths import refuse_relative_outputs, written_paths
from ntscale.errors import ConfigError


def _submit(*inner: str, cwd=None) -> subprocess.CompletedProcess:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens: a refusal must come first
    return subprocess.run(
        [str(VENV_BIN / "ntscale"), "submit", "--address", url, "--", *inner],
        capture_output=True, text=True, timeout=120, check=False, cwd=cwd,
    )  # fmt: skip


def test_relative_out_is_refused_with_one_line_before_submitting():
    res = _submit("embed", "--fasta", "/data/g.fa", "--out", "rel.zarr")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: --out 'rel.zarr' is relative")
    assert "s3://" in lines[0] and "absolute path" in lines[0]
    assert "cannot reach" not in res.stderr  # refused before any connection


@pytest.mark.parametrize(
    ("words", "option"),
    [
        (["embed", "--out=out/x.zarr"], "--out"),
        (["score", "--out", "/abs/s.zarr", "--vcf-out", "scored.vcf.gz"], "--vcf-out"),
        (["score", "--out", "s3://b/s.zarr", "--table-out", "t.tsv"], "--table-out"),
        (["example"], "--out"),  # the default out/example.zarr is relative
        (["report", "/abs/s.zarr", "--out", "report"], "--out"),
    ],
)
def test_every_written_path_is_checked(words, option):
    with pytest.raises(ConfigError, match=f"^{option} '[^']+' is relative"):
        refuse_relative_outputs(words, working_dir=None)


def test_several_relative_paths_are_named_together():
    words = ["score", "--out", "s.zarr", "--vcf-out", "v.vcf.gz", "--table-out", "t.tsv"]
    with pytest.raises(ConfigError, match=r"also --table-out, --vcf-out\)"):
        refuse_relative_outputs(words, working_dir=None)


def test_absolute_paths_and_object_store_urls_pass():
    words = [
        "score", "--config", "/nowhere/score.yaml", "--out", "s3://bucket/s.zarr",
        "--vcf-out", "/shared/s.vcf.gz", "--table-out", "gs://bucket/s.tsv",
    ]  # fmt: skip
    refuse_relative_outputs(words, working_dir=None)
    assert written_paths(words, working_dir=None) == {
        "--out": "s3://bucket/s.zarr",
        "--vcf-out": "/shared/s.vcf.gz",
        "--table-out": "gs://bucket/s.tsv",
    }
    refuse_relative_outputs(["--version"], working_dir=None)  # no command, nothing written


def test_relative_outputs_in_the_config_file_are_refused(tmp_path):
    """`--config` read from the working dir the job will run in; flags override it."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "score.yaml").write_text(
        "out: /shared/s.zarr\nvcf_out: out/scored.vcf.gz\nwindow: 600\n"
    )
    words = ["score", "--config", "cfg/score.yaml"]
    with pytest.raises(ConfigError, match="^--vcf-out 'out/scored.vcf.gz' is relative"):
        refuse_relative_outputs(words, working_dir=str(tmp_path))
    refuse_relative_outputs([*words, "--vcf-out", "/shared/v.vcf.gz"], working_dir=str(tmp_path))


def test_log_level_env_var_is_checked():
    """Jobs run with NTSCALE_LOG_LEVEL=INFO; a wrong value is a one-line error."""
    import os

    env = {**os.environ, "NTSCALE_LOG_LEVEL": "LOUD"}
    res = subprocess.run(
        [str(VENV_BIN / "ntscale"), "jobs", "list"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "error: NTSCALE_LOG_LEVEL='LOUD' is not a log level; use DEBUG, INFO, WARNING or ERROR"
    )
