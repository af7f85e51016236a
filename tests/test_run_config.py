"""Run settings: YAML + flags into frozen dataclasses; unknown keys and bad values are errors."""

from __future__ import annotations

import dataclasses

import pytest

from ntscale.cli.common import command_settings, merge_settings, parse_int_list
from ntscale.config import EmbedConfig, build_config, config_to_dict, read_yaml
from ntscale.errors import ConfigError

BASE = {"fasta": "g.fa", "model": "m", "out": "o.zarr"}


def test_defaults_and_execution_keys_at_top_level():
    cfg = build_config(EmbedConfig, BASE | {"layers": [2, 4], "batch_size": 3, "ray": "auto"})
    assert cfg.layers == (2, 4)
    assert cfg.execution.batch_size == 3
    assert cfg.execution.ray == "auto"
    assert cfg.strands == "forward"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.out = "x"  # type: ignore[misc]


def test_unknown_key_is_an_error_listing_valid_keys():
    with pytest.raises(ConfigError) as e:
        build_config(EmbedConfig, BASE | {"windwo_bp": 100}, source="run.yaml")
    msg = str(e.value)
    assert "unknown setting(s) windwo_bp in run.yaml" in msg
    assert "window_bp" in msg


def test_unknown_execution_key_is_reported_with_its_section():
    with pytest.raises(ConfigError, match=r"execution\.gpus"):
        build_config(EmbedConfig, BASE | {"execution": {"gpus": 2}})


def test_missing_required_setting():
    with pytest.raises(ConfigError, match="missing required setting.*fasta"):
        build_config(EmbedConfig, {"model": "m", "out": "o"})


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("strands", "up", "strands must be one of forward, reverse, both; got 'up'"),
        ("dtype", "fp8", "dtype must be one of auto, bf16, fp32; got 'fp8'"),
        ("window_bp", -5, "window_bp must be a positive number of bp, got -5"),
        ("last_window", "wrap", "last_window must be one of shift, truncate, drop"),
    ],
)
def test_bad_values(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build_config(EmbedConfig, BASE | {key: value})


def test_yaml_dashes_and_flags_override(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("fasta: a.fa\nmodel: m\nout: o.zarr\nbatch-size: 2\nstrands: both\n")
    assert read_yaml(p)["batch_size"] == 2
    merged = merge_settings(str(p), {"strands": "reverse", "out": None})
    cfg = build_config(EmbedConfig, merged)
    assert cfg.strands == "reverse" and cfg.out == "o.zarr" and cfg.execution.batch_size == 2


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        read_yaml(lst)


def test_config_to_dict_is_plain():
    cfg = build_config(EmbedConfig, BASE | {"layers": [1]})
    d = config_to_dict(cfg)
    assert d["layers"] == [1] and d["execution"]["dtype"] == "auto"


def test_parse_int_list():
    assert parse_int_list("1,6 12", name="layers") == (1, 6, 12)
    assert parse_int_list(None, name="layers") is None
    with pytest.raises(ConfigError, match="--layers takes integers"):
        parse_int_list("a,b", name="layers")


def test_shipped_configs_are_valid(repo_root):
    for path in sorted((repo_root / "configs").glob("*.yaml")):
        values = read_yaml(path)
        if "score" in path.name:
            continue  # scoring configs are checked by tests/scoring
        values = {"fasta": "g.fa", "model": "m", "out": "o"} | values
        build_config(EmbedConfig, values, source=str(path))


def test_command_settings_keep_the_option_names(tmp_path):
    yaml = tmp_path / "run.yaml"
    yaml.write_text("window_bp: 1200\nlayers: [1]\nstrands: both\n")
    options = {
        "window_bp": "600",  # --window-bp / --window: the text as typed
        "stride_bp": None,  # not given: the YAML (or the default) stays
        "layers": "6,12",
        "samples": "a, b",
        "contig_map": "chr20=20",
        "config": str(yaml),  # the command's own parameters are not settings
        "trust_pickle_": True,
        "dry_run": True,
        "as_json": False,
    }
    got = command_settings(str(yaml), options)
    assert got == {
        "window_bp": "600",
        "layers": (6, 12),
        "samples": ("a", "b"),
        "contig_map": {"chr20": "20"},
        "strands": "both",
    }
    cfg = build_config(EmbedConfig, BASE | got | {"vcf": "v.vcf"})
    assert (cfg.window_bp, cfg.layers, cfg.samples) == (600, (6, 12), ("a", "b"))


def test_every_job_option_is_a_config_field():
    # one name per setting: a command's parameter, its YAML key and its field are one name
    from ntscale.cli.main import cli_command
    from ntscale.config import ExecutionConfig, ScoreConfig, TrackConfig

    def names(*classes: type) -> set[str]:
        return {f.name for c in (*classes, ExecutionConfig) for f in dataclasses.fields(c)}

    commands = cli_command().commands
    own = {"config", "trust_pickle_", "dry_run", "as_json"}
    for command, fields in (
        ("embed", names(EmbedConfig)),
        ("score", names(ScoreConfig, TrackConfig)),
    ):
        params = {p.name for p in commands[command].params} - own
        assert params and params <= fields, (command, sorted(params - fields))
    window = next(p for p in commands["embed"].params if p.name == "window_bp")
    assert window.opts == ["--window-bp", "--window"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tracks", "t", "--scores", "llr"], "scores do not apply to it"),
        (["--tracks", "t", "--vcf", "v.vcf", "--window-mode", "tiled"], "vcf, window_mode do"),
        ([], "--tracks PREFIX and --regions BED go together"),
    ],
)
def test_tracks_take_only_track_and_execution_settings(extra, message, capsys):
    from ntscale.cli.main import main

    argv = ["score", "--fasta", "g.fa", "--model", "m", "--out", "o.zarr", "--regions", "r.bed"]
    with pytest.raises(SystemExit) as e:
        main([*argv, *extra])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
