"""Submit settings: one YAML loader (ntscale.config) for the file, flags overlaid on it."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ntscale.errors import ConfigError
from ntscale.submit.settings import SubmitConfig, load_submit_config


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def test_file_round_trip(tmp_path):
    path = _write(
        tmp_path,
        "ok.yaml",
        "address: http://h:8265\nworking-dir: .\npip: [ntscale]\n"
        "env_vars: {A: '1'}\nentrypoint_num_cpus: 0\nentrypoint_num_gpus: 0.5\n"
        "runtime_env: {excludes: [big/]}\nmetadata: {team: genomics}\n",
    )
    assert load_submit_config(path) == SubmitConfig(
        address="http://h:8265",
        working_dir=".",  # `working-dir` is `working_dir`, as in every ntscale YAML
        pip=["ntscale"],
        env_vars={"A": "1"},
        entrypoint_num_cpus=0,
        entrypoint_num_gpus=0.5,
        runtime_env={"excludes": ["big/"]},
        metadata={"team": "genomics"},
    )


def test_no_file_and_an_empty_file_are_the_defaults(tmp_path):
    assert load_submit_config(None) == SubmitConfig()
    assert load_submit_config(_write(tmp_path, "empty.yaml", "")) == SubmitConfig()


def test_the_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SubmitConfig().address = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("adress: x\n", "unknown setting(s) adress in submission config"),
        # A job setting is not a submit setting: it belongs after `--`.
        ("batch_size: 8\n", "unknown setting(s) batch_size in submission config"),
        ("execution: {ray: auto}\n", "unknown setting(s) execution in submission config"),
        ("- a\n- b\n", "must hold a mapping of settings"),
        ("a: [\n", "is not valid YAML"),
        ("address: 8265\n", "setting 'address' in submission config"),
        ("entrypoint_num_cpus: many\n", "setting 'entrypoint_num_cpus' in submission config"),
        ("env_vars: [A=1]\n", "'env_vars' must be a mapping, got ['A=1']"),
        ("runtime_env: pip\n", "'runtime_env' must be a mapping, got 'pip'"),
        ("metadata: 3\n", "'metadata' must be a mapping, got 3"),
        ("pip: ntscale\n", "'pip' must be a list of requirements, got 'ntscale'"),
    ],
)
def test_bad_files_name_the_key_and_the_file(tmp_path, text, message):
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_submit_config(path)
    assert str(path) in str(err.value)


def test_unknown_key_lists_only_submit_settings(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_submit_config(_write(tmp_path, "bad.yaml", "adress: x\n"))
    valid = str(err.value).split("valid settings: ")[1].split(", ")
    assert valid == sorted(f.name for f in dataclasses.fields(SubmitConfig))


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=re.escape(f"config file {str(missing)!r} does not")):
        load_submit_config(missing)


def test_flags_override_the_file_and_env_vars_add_to_it(tmp_path):
    path = _write(
        tmp_path,
        "s.yaml",
        "address: http://file:8265\nworking_dir: /file\npip: [a, b]\n"
        "env_vars: {KEEP: file, OVERRIDDEN: file}\n",
    )
    cfg = load_submit_config(
        path,
        overrides={
            "address": "http://flag:8265",
            "working_dir": None,  # not given: the file's value stays
            "pip": ["c"],  # a list flag replaces the file's list
            "env_vars": {"OVERRIDDEN": "flag", "NEW": "flag"},
        },
    )
    assert cfg.address == "http://flag:8265"
    assert cfg.working_dir == "/file"
    assert cfg.pip == ["c"]
    assert cfg.env_vars == {"KEEP": "file", "OVERRIDDEN": "flag", "NEW": "flag"}


def test_flags_without_a_file(tmp_path):
    cfg = load_submit_config(None, overrides={"env_vars": {"A": "1"}, "address": None})
    assert cfg == SubmitConfig(env_vars={"A": "1"})
    with pytest.raises(ConfigError, match="unknown setting.s. colour in the submit options"):
        load_submit_config(None, overrides={"colour": "red"})
