"""Options of the job commands: YAML settings under command-line options, one-line errors
that name the option (or the file and key) and the reason, and the `--dry-run --json` plans.

The dry-run numbers are worked out by hand from REGION (2,400 bp, no N), the tiny model
(2 layers, 64-dim embeddings, 2,048 tokens) and the five ALT alleles of VCF_TEXT.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import FASTA, N_ALTS, REGION, TINY_MODEL, invoke

EMBED_DIM, N_LAYERS, MAX_TOKENS = 64, 2, 2048
REGION_BP = REGION[2] - REGION[1]


def embed(out: Path, bed: Path, *extra: str | Path) -> list[str | Path]:
    return ["embed", "--fasta", FASTA, "--model", TINY_MODEL, "--out", out, "--regions", bed,
            *extra]  # fmt: skip


def dry_run_json(*args: str | Path) -> dict:
    r = invoke(*args, "--dry-run", "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_embed_dry_run_json_is_the_plan_and_writes_nothing(tmp_path: Path, region_bed) -> None:
    out = tmp_path / "plan.zarr"
    plan = dry_run_json(*embed(out, region_bed, "--window", "600", "--unit-windows", "3",
                               "--layers", "1,2"))  # fmt: skip
    assert not out.exists()
    n_windows = REGION_BP // 600
    assert plan["model"] == "nt-v2-tiny" and plan["max_tokens"] == MAX_TOKENS
    assert plan["window_bp"] == plan["stride_bp"] == 600  # stride: the window by default
    assert plan["windows"] == n_windows and plan["tracks"] == 1
    assert plan["units"] == -(-n_windows // 3) and plan["unit_windows"] == 3
    assert plan["bases_requested"] == plan["real_bases"] == plan["bases_in_windows"] == REGION_BP
    assert plan["n_bases"] == 0 and plan["short_windows"] == 0
    assert plan["layers"] == [1, 2]
    per_layer = n_windows * EMBED_DIM * 4  # float32 means, one row per window
    assert plan["store_bytes_per_layer_uncompressed"] == {"mean (float32)": per_layer}
    assert plan["store_bytes_uncompressed"] == 2 * per_layer
    for estimate in plan["device_time_estimates"].values():
        assert estimate["windows_per_second"] > 0 and estimate["hours"] >= 0


def test_embed_dry_run_defaults_follow_the_model(tmp_path: Path, region_bed) -> None:
    plan = dry_run_json(*embed(tmp_path / "p.zarr", region_bed))
    # the longest window: 2,047 6-mers after the CLS token; the last layer only
    assert plan["window_bp"] == 6 * (MAX_TOKENS - 1) == 12_282
    assert plan["layers"] == [N_LAYERS]
    assert plan["windows"] == 1 and plan["short_windows"] == 1  # 2,400 bp < one window


def test_embed_dry_run_text_says_nothing_is_written(tmp_path: Path, region_bed) -> None:
    r = invoke(*embed(tmp_path / "p.zarr", region_bed, "--window", "600", "--dry-run"))
    assert r.code == 0, r.err
    assert r.out.startswith("plan (dry run, nothing written): model nt-v2-tiny, window 600 bp")
    assert f"windows: {REGION_BP // 600} over 1 track(s)" in r.out
    assert not (tmp_path / "p.zarr").exists()


def test_score_dry_run_json_counts_variants_and_statuses(tmp_path: Path, small_vcf) -> None:
    out = tmp_path / "s.zarr"
    plan = dry_run_json("score", "--fasta", FASTA, "--vcf", small_vcf, "--model", TINY_MODEL,
                        "--out", out, "--window", "600")  # fmt: skip
    assert not out.exists()
    assert plan["model"] == "nt-v2-tiny" and plan["window_bp"] == 600
    assert plan["window_mode"] == "centred" and plan["strands"] == ["+"]
    assert plan["variants"] == plan["variants_to_score"] == N_ALTS
    assert plan["snvs_to_score"] == 4  # s1, s2 (two ALTs), m1; d1 is a deletion
    # the REF mismatch of m1 is found when the sequence is read, not while planning
    assert plan["status_before_scoring"] == {"ok": 4, "no_llr_not_snv": 1}  # store spelling
    assert plan["units"] == 1
    # the default scores: llr (masked + wild-type), l2 and cosine at the last layer
    assert plan["scores"] == [
        "llr_masked", "llr_wt", "l2_mean_layer_2", "l2_variant_layer_2",
        "cosine_mean_layer_2", "cosine_variant_layer_2",
    ]  # fmt: skip
    assert plan["forward_passes_approx"] >= plan["distinct_reference_windows"] >= 1


def test_option_wins_over_the_yaml_setting(tmp_path: Path, region_bed) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"fasta: {FASTA}\nmodel: {TINY_MODEL}\nout: {tmp_path / 'y.zarr'}\n"
        f"regions: {region_bed}\nwindow_bp: 1200\nunit-windows: 1\nlayers: [1]\n"
    )
    from_yaml = dry_run_json("embed", "--config", cfg)
    assert (from_yaml["window_bp"], from_yaml["units"], from_yaml["layers"]) == (1200, 2, [1])
    both = dry_run_json("embed", "--config", cfg, "--window", "600", "--layers", "2")
    # the options win; what they do not name (unit_windows: 1) still comes from the file
    assert (both["window_bp"], both["windows"], both["layers"]) == (600, 4, [2])
    assert both["unit_windows"] == 1 and both["units"] == 4


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("windwo_bp: 600\n", "unknown setting(s) windwo_bp in {cfg}"),
        ("batch_size: '8'\n", "setting 'batch_size' in {cfg} must be an integer, got '8'"),
        ("execution:\n  gpus: 2\n", "execution.gpus"),
        ("strands: up\n", "strands must be one of forward, reverse, both; got 'up'"),
        ("window_bp: [1\n", "not valid YAML"),
        ("- 1\n- 2\n", "must hold a mapping"),
    ],
    ids=["unknown-key", "type", "section-key", "value", "not-yaml", "not-a-mapping"],
)
def test_yaml_errors_name_the_file_and_the_key(tmp_path: Path, text: str, expect: str) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(text)
    r = invoke("embed", "--config", cfg, "--fasta", FASTA, "--model", TINY_MODEL,
               "--out", tmp_path / "o.zarr")  # fmt: skip
    assert r.code == 2
    line = r.error_line()
    assert expect.format(cfg=cfg) in line and str(cfg) in line
    assert not (tmp_path / "o.zarr").exists()


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    r = invoke("score", "--config", tmp_path / "nope.yaml")
    assert r.code == 2
    assert str(tmp_path / "nope.yaml") in r.error_line() and "does not exist" in r.error_line()


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        (["--layers", "a,b"], "--layers takes integers such as 1,6,12; got 'a,b'"),
        (["--layers", "0"], "layers [0] do not exist in model"),
        (["--layers", "5"], "layers [5] do not exist in model"),
        (["--window", "abc"], "window must be a length in bp or 'max', got 'abc'"),
        (["--window", "0"], "window_bp must be a positive number of bp, got 0"),
        (["--strands", "up"], "strands must be one of forward, reverse, both; got 'up'"),
        (["--dtype", "fp8"], "dtype must be one of auto, bf16, fp32; got 'fp8'"),
        (["--last-window", "wrap"], "last_window must be one of shift, truncate, drop"),
        (["--contig-map", "x"], "--contig-map takes 'auto' or FASTA=VCF pairs"),
        (["--max-actors", "0"], "max_actors must be at least 1"),
        (["--samples", "HG00096"], "samples were given without a VCF; pass --vcf"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_bad_embed_option_is_one_error_line(
    tmp_path: Path, region_bed, extra: list[str], expect: str
) -> None:
    out = tmp_path / "o.zarr"
    r = invoke(*embed(out, region_bed, *extra))
    assert r.code == 2
    assert expect in r.error_line()
    assert not out.exists()  # refused before anything is written


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        (["--scores", "llr,cadd"], "cadd"),
        (["--window-mode", "sliding"], "sliding"),
        (["--preset", "nope"], "nope"),
    ],
    ids=["scores", "window-mode", "preset"],
)
def test_bad_score_option_is_one_error_line(
    tmp_path: Path, small_vcf, extra: list[str], expect: str
) -> None:
    out = tmp_path / "s.zarr"
    r = invoke("score", "--fasta", FASTA, "--vcf", small_vcf, "--model", TINY_MODEL,
               "--out", out, *extra)  # fmt: skip
    assert r.code == 2
    assert expect in r.error_line()
    assert not out.exists()


def test_tracks_refuse_the_options_of_a_vcf_run(tmp_path: Path, region_bed, small_vcf) -> None:
    r = invoke("score", "--fasta", FASTA, "--model", TINY_MODEL, "--out", tmp_path / "t.zarr",
               "--regions", region_bed, "--tracks", tmp_path / "t", "--vcf", small_vcf,
               "--scores", "l2")  # fmt: skip
    assert r.code == 2
    line = r.error_line()
    assert "scores, vcf do not apply to it" in line and "--tracks scans --regions" in line
    r = invoke("score", "--fasta", FASTA, "--model", TINY_MODEL, "--out", tmp_path / "t.zarr",
               "--tracks", tmp_path / "t")  # fmt: skip
    assert r.code == 2
    assert "--tracks PREFIX and --regions BED go together; give both" in r.error_line()
    assert not (tmp_path / "t.zarr").exists()


def test_missing_required_settings_are_listed(tmp_path: Path) -> None:
    r = invoke("embed", "--out", tmp_path / "o.zarr")
    assert r.code == 2
    line = r.error_line()
    assert "missing required setting" in line and "fasta" in line and "model" in line


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["embed", "--no-such-flag"], "No such option: --no-such-flag"),
        (["embed", "--batch-size", "x"], "Invalid value for '--batch-size'"),
        (["embed", "--window"], "Option '--window' requires an argument"),
        (["score", "--layers"], "Option '--layers' requires an argument"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["info"], "Missing argument"),
    ],
    ids=["unknown-option", "not-an-int", "no-value", "no-value-score", "command", "argument"],
)
def test_usage_errors_exit_2_with_click_s_error_line(args: list[str], expect: str) -> None:
    r = invoke(*args)
    assert r.code == 2
    last = r.err.rstrip().splitlines()[-1]
    assert last.startswith("Error: ") and expect in last and "Traceback" not in r.err
    assert r.out == ""


def test_an_unknown_option_shows_the_usage_and_where_to_get_help() -> None:
    r = invoke("score", "--windw", "600")
    assert r.code == 2
    assert r.err.splitlines()[:2] == [
        "Usage: ntscale score [OPTIONS]",
        "Try 'ntscale score --help' for help.",
    ]
    assert "No such option: --windw" in r.err


def test_log_level_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTSCALE_LOG_LEVEL", "LOUD")
    r = invoke("models", "--json")
    assert r.code == 2
    assert r.error_line() == (
        "error: NTSCALE_LOG_LEVEL='LOUD' is not a log level; use DEBUG, INFO, WARNING or ERROR"
    )
    monkeypatch.setenv("NTSCALE_LOG_LEVEL", "error")  # any case
    assert invoke("models", "--json").code == 0


def test_bare_ray_option_means_a_private_local_ray(tmp_path: Path, region_bed) -> None:
    # the bare flag is expanded before parsing: `--ray --dry-run` must not eat --dry-run
    r = invoke(*embed(tmp_path / "p.zarr", region_bed, "--ray", "--dry-run", "--json"))
    assert r.code == 0, r.err
    assert json.loads(r.out)["windows"] == 1
    assert not (tmp_path / "p.zarr").exists()
