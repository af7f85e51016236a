"""`ntscale info`, `ntscale verify` and `ntscale report` on real stores, through the CLI.

Expected values come from the stores read back with xarray (ntscale.store.open) or from
the run's arithmetic (4 windows of 600 bp in units of 2), not from the commands' own code.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import N_ALTS, REGION, TINY_MODEL, embed_args, invoke

import ntscale.store as st

N_WINDOWS, N_UNITS = 4, 2  # REGION's 2,400 bp in 600 bp windows, 2 windows per unit


def files(root: Path) -> dict[Path, bytes]:
    """Every file of a store and its bytes: to show that a command changed nothing."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_info_text_names_the_job_model_settings_and_progress(embed_store: Path) -> None:
    r = invoke("info", embed_store)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"store: {embed_store}  (finished)"
    assert "job: embed" in lines
    assert any(x.startswith(f"model: nt-v2-tiny (fp32), from {TINY_MODEL}") for x in lines)
    settings = next(x for x in lines if x.startswith("settings: "))
    assert "window_bp=600" in settings and "stride_bp=600" in settings
    assert "layers=[1, 2]" in settings
    assert f"windows: {N_WINDOWS} of {N_WINDOWS} rows done, units {N_UNITS}/{N_UNITS}" in lines
    assert f"  by status: OK {N_WINDOWS}" in lines
    real_bp = REGION[2] - REGION[1]
    assert any(f"({real_bp:,} of {real_bp:,} bp over 1 track(s)" in x for x in lines)
    assert any(x.startswith(f"last run: {N_UNITS} units, {N_WINDOWS} windows in") for x in lines)


def test_info_json_agrees_with_the_store_read_back(embed_store: Path) -> None:
    r = invoke("info", embed_store, "--json")
    assert r.code == 0, r.err
    info = json.loads(r.out)
    ds = st.open(str(embed_store))
    assert info["store"] == str(embed_store) and info["job"] == ds.attrs["job"] == "embed"
    assert info["state"] == "finished"
    assert info["model"]["name"] == "nt-v2-tiny" and info["model"]["dtype"] == "fp32"
    assert info["settings"]["layers"] == ds["layer"].values.tolist() == [1, 2]
    assert info["settings"]["window_bp"] == 600
    assert info["windows"]["by_status"] == Counter(ds["status"].values.tolist())
    assert info["windows"]["rows"] == ds.sizes["window"] == N_WINDOWS
    assert info["windows"]["units_done"] == info["windows"]["units_total"] == N_UNITS
    assert info["variants"] is None
    covered = int((ds["end"] - ds["start"]).sum())
    assert info["coverage"]["real_bases_covered"] == covered == REGION[2] - REGION[1]
    # the command line recorded is the one that made the store: it can be run again
    assert info["command_line"].startswith("ntscale embed --fasta ")
    assert f"--out {embed_store}" in info["command_line"]


def test_info_on_a_score_store_counts_variant_statuses(score_store: Path) -> None:
    info = json.loads(invoke("info", score_store, "--json").out)
    ds = st.open(str(score_store))
    assert info["job"] == "score" and info["state"] == "finished"
    assert info["variants"]["rows"] == ds.sizes["variant"] == N_ALTS
    assert info["variants"]["by_status"] == Counter(ds["variant_status"].values.tolist())
    text = invoke("info", score_store).out
    assert f"variants: {N_ALTS} of {N_ALTS} rows done" in text
    assert "coverage:" not in text  # a VCF run tiles no genome


@pytest.mark.parametrize("kind", ["missing", "empty folder", "a file"])
def test_store_commands_on_no_store_are_one_error_line(
    tmp_path: Path, region_bed: Path, kind: str
) -> None:
    paths = {"missing": tmp_path / "nothing.zarr", "empty folder": tmp_path, "a file": region_bed}
    path = paths[kind]
    for command in ("info", "verify", "report"):
        r = invoke(command, path, *(["--out", tmp_path / "rep"] if command == "report" else []))
        assert r.code == 2, (command, r.err)
        assert f"no ntscale store at '{path}'" in r.error_line()
    assert not (tmp_path / "nothing.zarr").exists()  # reading never creates a store


def test_a_store_of_another_run_is_refused_setting_by_setting(
    store_copy: Path, region_bed: Path
) -> None:
    before = files(store_copy)
    r = invoke(*embed_args(store_copy, region_bed, "--window", "300"))
    assert r.code == 2
    assert r.error_line() == (
        f"error: output store '{store_copy}' was made by a different run; refusing to mix results:"
    )
    # then one line per setting that differs, and the way out
    assert "  window_bp: store has 600, this run has 300" in r.err.splitlines()
    assert "  stride_bp: store has 600, this run has 300" in r.err.splitlines()
    assert r.err.splitlines()[-1].startswith("Fix: choose a new --out path")
    assert files(store_copy) == before


def test_verify_an_intact_store_exits_0(embed_store: Path) -> None:
    r = invoke("verify", embed_store)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"windows: {N_UNITS} of {N_UNITS} units intact, 0 damaged, 0 not done",
        "store intact: every unit is done and matches its checksum",
    ]
    report = json.loads(invoke("verify", embed_store, "--json").out)
    assert report["ok"] is True and report["repaired"] == 0
    assert report["windows"]["units_ok"] == N_UNITS and "variants" not in report


def test_repair_of_an_intact_store_changes_nothing(store_copy: Path) -> None:
    before = files(store_copy)
    r = invoke("verify", store_copy, "--repair")
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == "store intact: every unit is done and matches its checksum"
    assert files(store_copy) == before


def test_verify_a_score_store_checks_its_variant_units(score_store: Path) -> None:
    r = invoke("verify", score_store)
    assert r.code == 0, r.err
    assert "variants: 1 of 1 units intact, 0 damaged, 0 not done" in r.out.splitlines()
    assert "store intact" in r.out


def test_damaged_chunk_is_named_repaired_and_redone_by_the_same_command(
    store_copy: Path, embed_store: Path, region_bed: Path
) -> None:
    # unit 1 holds windows 2-3: its chunk of embedding_mean (layers x windows x dim)
    # overwritten with bytes that are no zstd frame (a torn or corrupted write)
    chunk = store_copy / "embedding_mean" / "c" / "0" / "1" / "0"
    chunk.write_bytes(b"\x00not a chunk" * 5)

    r = invoke("verify", store_copy)
    assert r.code == 1, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"windows: 1 of {N_UNITS} units intact, 1 damaged, 0 not done"
    assert lines[1].startswith("  damaged window unit 1 (rows 2-4): stored values differ")
    assert lines[2] == (
        f"run `ntscale verify {store_copy} --repair`, then the command that made the store, "
        "to redo the damaged units"
    )
    report = json.loads(invoke("verify", store_copy, "--json").out)
    assert report["ok"] is False
    assert [(d["unit"], d["rows"]) for d in report["windows"]["damaged"]] == [(1, [2, 4])]

    r = invoke("verify", store_copy, "--repair")
    assert r.code == 1  # repaired is not intact: the unit must be redone
    assert "cleared the done marks of 1 damaged units" in r.out
    r = invoke("verify", store_copy)
    assert r.code == 1
    assert r.out.splitlines() == [
        f"windows: 1 of {N_UNITS} units intact, 0 damaged, 1 not done",
        "run the command that made the store again to finish the units not done",
    ]

    # the same embed command redoes only unit 1, with the numbers of the intact store
    r = invoke(*embed_args(store_copy, region_bed))
    assert r.code == 0, r.err
    assert '"units_run": 1' in r.out
    assert invoke("verify", store_copy).code == 0
    fixed, intact = st.open(str(store_copy)), st.open(str(embed_store))
    np.testing.assert_array_equal(fixed["embedding_mean"].values, intact["embedding_mean"].values)


def test_a_truncated_done_mark_is_reported_and_the_same_command_redoes_the_unit(
    store_copy: Path, embed_store: Path, region_bed: Path
) -> None:
    with open(store_copy / "completion" / "window_units" / "c" / "1", "r+b") as f:
        f.truncate(3)  # truncate -s 3 STORE/completion/window_units/c/1
    r = invoke("verify", store_copy)
    assert r.code == 1, r.err
    assert "unexpected" not in r.out + r.err
    assert r.out.splitlines()[1].startswith(
        "  damaged window unit 1 (rows 2-4): damaged completion mark (completion/window_units "
        "chunk 1 unreadable: "
    )
    r = invoke(*embed_args(store_copy, region_bed))  # resume: the unit is redone
    assert r.code == 0, r.err
    assert '"units_run": 1' in r.out
    assert invoke("verify", store_copy).code == 0
    fixed, intact = st.open(str(store_copy)), st.open(str(embed_store))
    np.testing.assert_array_equal(fixed["embedding_mean"].values, intact["embedding_mean"].values)


def test_report_prints_where_its_outputs_are(embed_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    r = invoke("report", embed_store, "--out", out, "--components", "2")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"report: {out / 'report.html'}"
    assert lines[2] == f"numbers: {out / 'report.json'}"
    printed = lines[1].removeprefix("figures: ").split(", ")
    assert printed == sorted(p.name for p in out.glob("*.png")) and printed
    assert (out / "report.html").read_text().count('<img class="plot"') == len(printed)
    numbers = json.loads((out / "report.json").read_text())
    assert numbers["store"] == str(embed_store)
    assert numbers["windows"]["pca"]["layer"] == 2  # the default: the last layer


def test_report_bad_layer_names_the_layers_there(embed_store: Path, tmp_path: Path) -> None:
    r = invoke("report", embed_store, "--out", tmp_path / "r", "--layer", "7")
    assert r.code == 2
    assert "layer 7 is not in the store; it has layers [1, 2]" in r.error_line()
