"""The job's runtime environment: default env vars, loopback extras, code, pip, a config base."""

from __future__ import annotations

import os

import pytest

from ntscale.errors import ConfigError
from ntscale.submit.runtime_env import (
    DEFAULT_EXCLUDES,
    JOB_ENV_VARS,
    LOOPBACK_ENV_VARS,
    build_runtime_env,
)

BASE = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1",
    "NTSCALE_LOG_LEVEL": "INFO",
}


def test_every_job_gets_the_defaults_and_only_loopback_gets_the_loopback_vars():
    assert JOB_ENV_VARS == BASE
    assert build_runtime_env() == {"env_vars": BASE}
    assert build_runtime_env(address="http://10.0.0.5:8265") == {"env_vars": BASE}
    assert build_runtime_env(address="127.0.0.1:8265") == {
        "env_vars": {**BASE, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    }
    assert LOOPBACK_ENV_VARS == {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def test_defaults_and_overrides(tmp_path):
    env = build_runtime_env(
        address="http://127.0.0.1:8265",
        working_dir=str(tmp_path),
        env_vars={"RAY_USAGE_STATS_ENABLED": "1", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9"},
        pip=["ntscale[gpu]==0.1.0"],
        base={"env_vars": {"A": "1"}, "excludes": ["big/"]},
    )
    assert env["working_dir"] == str(tmp_path)
    assert env["excludes"] == ["big/"]  # a config's excludes win over the defaults
    assert env["pip"] == ["ntscale[gpu]==0.1.0"]
    assert env["env_vars"] == {
        "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1",
        "NTSCALE_LOG_LEVEL": "INFO",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "1",
        "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9",
        "A": "1",
    }


def test_precedence_of_env_vars_defaults_then_config_then_flags():
    env = build_runtime_env(
        base={"env_vars": {"NTSCALE_LOG_LEVEL": "DEBUG", "K": "config"}},
        env_vars={"K": "flag"},
    )
    assert env["env_vars"]["NTSCALE_LOG_LEVEL"] == "DEBUG"  # the config over the default
    assert env["env_vars"]["K"] == "flag"  # the flag over the config


def test_env_values_become_strings():
    """YAML gives numbers and booleans; Ray's runtime env takes strings only."""
    env = build_runtime_env(base={"env_vars": {"N": 4, "ON": True}}, env_vars={"F": 0.5})
    assert {k: env["env_vars"][k] for k in ("N", "ON", "F")} == {
        "N": "4",
        "ON": "True",
        "F": "0.5",
    }


def test_the_config_base_is_kept_and_not_changed():
    base = {"env_vars": {"A": "1"}, "conda": "env.yaml", "py_modules": ["/x"]}
    before = {"env_vars": dict(base["env_vars"]), "conda": "env.yaml", "py_modules": ["/x"]}
    env = build_runtime_env(base=base, env_vars={"B": "2"})
    assert env["conda"] == "env.yaml" and env["py_modules"] == ["/x"]
    assert base == before


def test_working_dir_is_made_absolute_and_excludes_caches(tmp_path, monkeypatch):
    (tmp_path / "code").mkdir()
    monkeypatch.chdir(tmp_path)
    env = build_runtime_env(working_dir="code")
    assert env["working_dir"] == os.path.join(str(tmp_path), "code")
    assert env["excludes"] == list(DEFAULT_EXCLUDES)
    assert {".git", ".venv", "*.zarr"} <= set(env["excludes"])


def test_remote_working_dir_is_passed_as_is():
    url = "s3://bucket/code.zip"
    assert build_runtime_env(working_dir=url)["working_dir"] == url


def test_missing_working_dir_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--working-dir '.*nope' is not a folder"):
        build_runtime_env(working_dir=str(tmp_path / "nope"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        build_runtime_env(working_dir=str(tmp_path / "file"))


def test_no_pip_and_no_working_dir_add_no_keys():
    env = build_runtime_env(pip=[], working_dir=None)
    assert set(env) == {"env_vars"}
