"""Workers over several local devices (`--devices-per-actor`): the same stores as one device.

The runs are real CLI processes whose JAX has 4 forced CPU devices (tests/forced_devices.py);
both sides of each comparison run under the same flag, so only the device count differs.
Batch sizes of 6 do not divide by 4: every batch is padded to 8 rows and cut back.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pysam
import pytest
import zarr
from forced_devices import run_cli_forced
from storecmp import assert_same_values

from ntscale.config import EmbedConfig, ExecutionConfig, ScoreConfig, build_config
from ntscale.errors import ConfigError
from ntscale.runner.plan_report import NOT_MEASURED
from ntscale.runner.run_plan import RunPlan, resolve_devices

pytestmark = pytest.mark.slow


def _embed(example, bed: Path, out: Path, devices: int) -> list[str]:
    return [
        "embed", "--fasta", str(example["fasta"]), "--model", str(example["model"]),
        "--out", str(out), "--regions", str(bed), "--window", "600", "--layers", "1,2",
        "--unit-windows", "5", "--batch-size", "6", "--strands", "both", "--cls",
        "--dtype", "fp32", "--no-progress", "--devices-per-actor", str(devices),
    ]  # fmt: skip


def _score(example, vcf: Path, out: Path, devices: int) -> list[str]:
    return [
        "score", "--fasta", str(example["fasta"]), "--vcf", str(vcf),
        "--model", str(example["model"]), "--out", str(out),
        "--scores", "llr,l2,cosine", "--layers", "1,2", "--window", "600",
        "--strands", "both", "--unit-variants", "7", "--batch-size", "6",
        "--dtype", "fp32", "--no-progress", "--devices-per-actor", str(devices),
    ]  # fmt: skip


def _run(args: list[str]) -> None:
    proc = run_cli_forced(args, n_devices=4)
    assert proc.returncode == 0, proc.stderr[-4000:]


def _execution_attrs(store: Path) -> dict:
    return dict(zarr.open_group(str(store), mode="r").attrs)["config"]["execution"]


@pytest.fixture
def region_bed(tmp_path: Path) -> Path:
    # the end of chr20's leading N run (all-N windows skipped, one shrunk) and plain sequence
    bed = tmp_path / "r.bed"
    bed.write_text("20\t59400\t61200\n20\t1000000\t1004200\n")
    return bed


@pytest.fixture
def small_vcf(example, tmp_path: Path) -> Path:
    """The first 23 records of the bundled example VCF (SNVs and indels), sites only."""
    src = pysam.VariantFile(str(example["vcf"]))
    src.subset_samples([])
    path = tmp_path / "first.vcf"
    with pysam.VariantFile(str(path), "w", header=src.header) as out:
        for rec in itertools.islice(src, 23):
            out.write(rec)
    return path


def test_embed_store_with_4_devices_equals_1_device(example, region_bed, tmp_path):
    one, four = tmp_path / "one.zarr", tmp_path / "four.zarr"
    _run(_embed(example, region_bed, one, 1))
    _run(_embed(example, region_bed, four, 4))
    assert_same_values(one, four)  # same rows, same order; floats within fp32 rounding
    assert _execution_attrs(four)["devices_per_actor"] == 4
    assert _execution_attrs(four)["per_device_batch"] == 2  # 6 rows padded to 8 over 4
    assert _execution_attrs(one)["devices_per_actor"] == 1
    assert _execution_attrs(one)["per_device_batch"] == 6


def test_score_store_with_4_devices_equals_1_device(example, small_vcf, tmp_path):
    one, four = tmp_path / "one.zarr", tmp_path / "four.zarr"
    _run(_score(example, small_vcf, one, 1))
    _run(_score(example, small_vcf, four, 4))
    assert_same_values(one, four)
    assert _execution_attrs(four)["devices_per_actor"] == 4


def test_more_devices_than_the_machine_has_is_refused_before_anything_runs(
    example, region_bed, tmp_path
):
    out = tmp_path / "never.zarr"
    proc = run_cli_forced(_embed(example, region_bed, out, 5), n_devices=4)
    assert proc.returncode != 0
    assert "devices_per_actor 5 is more than the 4 cpu device(s)" in proc.stderr
    assert not out.exists()


def test_dry_run_says_tpu_rates_are_not_measured(example, region_bed, tmp_path):
    args = _embed(example, region_bed, tmp_path / "p.zarr", 1)
    proc = run_cli_forced([*args, "--dry-run", "--json"], n_devices=1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = json.loads(proc.stdout)
    assert plan["device_time_not_measured"] == NOT_MEASURED
    assert "tpu" not in plan["device_time_estimates"]  # no guessed rate
    text = run_cli_forced([*args, "--dry-run"], n_devices=1).stdout
    assert "estimated device time on one tpu host: not measured" in text


@pytest.mark.parametrize(
    ("hardware", "want"),
    [(("tpu", 4), 4), (("tpu", 8), 8), (("gpu", 8), 1), (("cpu", 1), 1), (None, 1)],
)
def test_default_devices_follow_the_hardware(hardware, want):
    assert resolve_devices(ExecutionConfig(), hardware) == want


def test_devices_given_win_over_the_hardware_default():
    assert resolve_devices(ExecutionConfig(devices_per_actor=2, ray="auto"), ("tpu", 8)) == 2
    # a cluster's workers check their own devices; the driver does not guess them
    assert resolve_devices(ExecutionConfig(devices_per_actor=64, ray="10.0.0.1:6379"), None) == 64


def test_more_devices_than_this_process_has_is_a_config_error():
    with pytest.raises(ConfigError, match="--devices-per-actor 1 or fewer"):
        resolve_devices(ExecutionConfig(devices_per_actor=3), None)


@pytest.mark.parametrize("bad", [0, -2])
def test_devices_per_actor_must_be_positive(example, bad):
    values = {"fasta": "x.fa", "model": "m", "out": "o.zarr", "devices_per_actor": bad}
    with pytest.raises(
        ConfigError, match=rf"devices_per_actor must be at least 1 \(leave it out .*\), got {bad}"
    ):
        build_config(EmbedConfig, values)
    with pytest.raises(ConfigError, match="devices_per_actor must be at least 1"):
        build_config(ScoreConfig, {**values, "vcf": "v.vcf"})


def test_devices_per_actor_is_a_yaml_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("fasta: x.fa\nmodel: m\nout: o.zarr\nexecution:\n  devices_per_actor: 4\n")
    from ntscale.config import read_yaml

    cfg = build_config(EmbedConfig, read_yaml(path), source=str(path))
    assert cfg.execution.devices_per_actor == 4
    top = build_config(
        EmbedConfig, {"fasta": "x", "model": "m", "out": "o", "devices_per_actor": 2}
    )
    assert top.execution.devices_per_actor == 2


@pytest.mark.parametrize(("batch", "devices", "rows"), [(8, 4, 2), (6, 4, 2), (1, 8, 1), (5, 1, 5)])
def test_per_device_batch_rounds_up(batch, devices, rows):
    plan = RunPlan(
        model=None, dtype="fp32", window_bp=600, stride_bp=600, layers=(1,), strands=("+",),
        devices_per_actor=devices,
    )  # fmt: skip
    assert plan.per_device_batch(batch) == rows
