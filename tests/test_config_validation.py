"""Loose settings are errors naming the key and the file (issue 14, case 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntscale.cli.common import merge_settings
from ntscale.cli.main import main
from ntscale.config import EmbedConfig, ScoreConfig, build_config
from ntscale.errors import ConfigError, InputError
from ntscale.genome.variant_table import read_variant_table

BASE = {"fasta": "g.fa", "model": "m", "out": "o.zarr"}


def from_yaml(tmp_path: Path, text: str, cls: type = EmbedConfig):
    path = tmp_path / "run.yaml"
    path.write_text("fasta: g.fa\nmodel: m\nout: o.zarr\nvcf: v.vcf.gz\n" + text)
    return build_config(cls, merge_settings(str(path), {}), source=str(path)), path


@pytest.mark.parametrize(
    ("line", "key", "expect"),
    [
        ("window_bp: 600.7", "window_bp", "an integer, got 600.7"),
        ("batch_size: '8'", "batch_size", "an integer, got '8'"),
        ("unit_windows: true", "unit_windows", "an integer, got True"),
        ("per_token: 'yes'", "per_token", "true or false, got 'yes'"),
        ("strands: 2", "strands", "a string, got 2"),
        ("execution:\n  max_unit_retries: 2.5", "max_unit_retries", "an integer, got 2.5"),
        ("gpu_memory_fraction: high", "gpu_memory_fraction", "a number, got 'high'"),
    ],
)
def test_yaml_type_errors_name_the_key_and_the_file(tmp_path, line, key, expect):
    with pytest.raises(ConfigError) as e:
        from_yaml(tmp_path, line + "\n")
    msg = str(e.value)
    assert f"setting {key!r} in {tmp_path / 'run.yaml'} must be {expect}" in msg


def test_value_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        from_yaml(tmp_path, "window_bp: -5\n")
    assert "window_bp must be a positive number of bp" in str(e.value)
    assert str(tmp_path / "run.yaml") in str(e.value)


def test_numbers_that_are_numbers_are_accepted(tmp_path):
    cfg, _ = from_yaml(
        tmp_path, "window_bp: 600\ngpu_memory_fraction: 1\nactor_start_timeout: 60\n"
    )
    assert cfg.window_bp == 600 and cfg.execution.actor_start_timeout == 60


def test_samples_need_a_vcf():
    with pytest.raises(ConfigError, match="samples were given without a VCF; pass --vcf"):
        build_config(EmbedConfig, BASE | {"samples": ["HG00096"]})


@pytest.mark.parametrize("cls", [EmbedConfig, ScoreConfig])
def test_max_actors_and_actor_start_timeout_bounds(cls):
    base = BASE | ({"vcf": "v.vcf.gz"} if cls is ScoreConfig else {})
    with pytest.raises(ConfigError, match="max_actors must be at least 1"):
        build_config(cls, base | {"max_actors": 0})
    with pytest.raises(ConfigError, match="actor_start_timeout must be positive"):
        build_config(cls, base | {"actor_start_timeout": 0})
    assert build_config(cls, base | {"max_actors": 1}).execution.max_actors == 1


def test_cli_refuses_samples_without_vcf_and_zero_actors(capsys, tmp_path):
    common = ["embed", "--fasta", "g.fa", "--model", "m", "--out", str(tmp_path / "o.zarr")]
    for extra, expect in [
        (["--samples", "HG00096"], "samples were given without a VCF"),
        (["--max-actors", "0"], "max_actors must be at least 1"),
        (["--actor-start-timeout", "-1"], "actor_start_timeout must be positive"),
    ]:
        with pytest.raises(SystemExit) as e:
            main([*common, *extra])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and expect in err and "Traceback" not in err


def test_contig_map_values(tmp_path):
    cfg, _ = from_yaml(tmp_path, "contig_map: auto\n")
    assert cfg.contig_map == "auto"
    cfg, _ = from_yaml(tmp_path, "contig_map: {chr20: '20'}\n")
    assert cfg.contig_map == {"chr20": "20"}
    with pytest.raises(ConfigError, match="contig_map must be 'auto' or a mapping"):
        from_yaml(tmp_path, "contig_map: strip\n")


def test_score_with_no_contig_in_common_gives_the_chr_prefix_hint(tmp_path):
    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr1\t10\t.\tA\tC\t.\t.\t.\n"
    )
    with pytest.raises(InputError) as e:
        read_variant_table(vcf, contigs=[("1", 1000), ("2", 1000)])
    msg = str(e.value)
    assert msg.startswith(f"{vcf}: no VCF contig is in the FASTA, so nothing can be scored")
    assert "differ only by a 'chr' prefix (VCF 'chr1', FASTA '1')" in msg
    assert "bcftools annotate --rename-chrs" in msg
