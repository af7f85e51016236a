"""`ntscale embed` and `ntscale score` runs: what they print, write and export, their exit codes
when they finish (0), are interrupted (130 for SIGINT, 143 for SIGTERM) or rerun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pysam
import pytest
from cli_helpers import N_ALTS, REGION, CliResult, embed_args, invoke, score_args

import ntscale.store as st

# (id, REF, ALT, status) of each ALT of VCF_TEXT, by hand: see cli_helpers.VCF_TEXT
EXPECTED_ROWS = [
    ("s1", "T", "C", "ok"),
    ("s2", "G", "A", "ok"),
    ("s2", "G", "T", "ok"),
    ("d1", "GAACTG", "G", "no_llr_not_snv"),
    ("m1", "A", "G", "ref_mismatch"),
]


def summary_json(out: str) -> dict:
    """The JSON block a job command prints after its first line."""
    lines = out.splitlines()
    end = lines.index("}")
    return json.loads("\n".join(lines[1 : end + 1]))


def test_embed_prints_the_store_its_run_and_how_to_open_it(
    embed_run: tuple[CliResult, Path], embed_store: Path
) -> None:
    result = embed_run[0]
    lines = result.out.splitlines()
    assert lines[0] == f"embeddings written to {embed_store}"
    summary = summary_json(result.out)
    assert summary["run"]["units_run"] == 2 and summary["run"]["windows_run"] == 4
    assert summary["run"]["bp_run"] == REGION[2] - REGION[1]
    assert summary["store"]["complete"] is True
    assert summary["store"]["windows"]["by_status"] == {"OK": 4}
    assert any(x.startswith("coverage: 100.000% of real bases") for x in lines)
    assert lines[-1] == (
        f"open it with:  python -c \"import ntscale.store as s; print(s.open('{embed_store}'))\""
    )
    assert "error" not in result.err.lower()


def test_rerun_of_a_finished_store_runs_nothing_and_changes_nothing(
    store_copy: Path, embed_store: Path, region_bed: Path
) -> None:
    r = invoke(*embed_args(store_copy, region_bed))
    assert r.code == 0, r.err
    run = summary_json(r.out)["run"]
    assert run["units_run"] == 0 and run["windows_run"] == 0
    again, first = st.open(str(store_copy)), st.open(str(embed_store))
    np.testing.assert_array_equal(again["embedding_mean"].values, first["embedding_mean"].values)


def test_score_prints_the_store_and_its_exports(score_run: tuple[CliResult, Path]) -> None:
    result, folder = score_run
    lines = result.out.splitlines()
    assert lines[0] == f"variant scores written to {folder / 'scores.zarr'}"
    summary = summary_json(result.out)
    assert summary["run"]["variants_run"] == N_ALTS
    by_status: dict[str, int] = {}
    for *_, status in EXPECTED_ROWS:
        by_status[status] = by_status.get(status, 0) + 1
    assert summary["run"]["by_status"] == by_status
    assert f"VCF with scores: {folder / 'scored.vcf.gz'}" in lines
    assert f"table: {folder / 'scores.tsv'}" in lines


def test_score_table_has_one_row_per_alt_with_the_stored_scores(
    score_run: tuple[CliResult, Path], score_store: Path
) -> None:
    text = (score_run[1] / "scores.tsv").read_text()
    lines = text.splitlines()
    assert "##ntscaleModelName=nt-v2-tiny" in lines  # provenance above the header
    header, *rows = (line.split("\t") for line in lines if not line.startswith("##"))
    assert header[:6] == ["chrom", "pos", "id", "ref", "alt", "status"]
    assert [tuple(r[2:6]) for r in rows] == EXPECTED_ROWS
    assert [int(r[1]) for r in rows] == [1000001, 1000003, 1000003, 1000008, 1000020]
    ds = st.open(str(score_store))
    col = header.index("llr_masked")
    table = np.array([float(r[col]) if r[col] else np.nan for r in rows])
    np.testing.assert_allclose(table, ds["score_llr_masked"].values, rtol=1e-6)
    # no llr for the deletion nor the REF mismatch; a distance for the deletion
    assert np.isnan(table[3:]).all() and not np.isnan(table[:3]).any()
    l2 = rows[3][header.index("l2_mean_layer_2")]
    assert l2 and float(l2) == pytest.approx(float(ds["score_l2_mean_layer_2"].values[3]))


def test_score_vcf_carries_status_and_scores_as_info(score_run: tuple[CliResult, Path]) -> None:
    path = score_run[1] / "scored.vcf.gz"
    assert Path(f"{path}.tbi").is_file()  # indexed, ready for bcftools/tabix
    with pysam.VariantFile(str(path)) as vcf:
        # the input's records, the multi-allelic one whole: one status per ALT
        records = [
            (r.id, r.ref, a, s)
            for r in vcf
            for a, s in zip(r.alts, r.info["NTS_STATUS"], strict=True)
        ]
        assert "NTS_llr_masked" in vcf.header.info and "llr_masked" not in vcf.header.info
        assert [len(r.alts) for r in vcf.fetch("20")] == [1, 2, 1, 1]
    assert records == EXPECTED_ROWS


def test_rerun_of_a_finished_score_exports_again_as_parquet(
    score_store: Path, small_vcf: Path, tmp_path: Path
) -> None:
    import pandas as pd

    store = tmp_path / "scores.zarr"
    shutil.copytree(score_store, store)
    table = tmp_path / "scores.parquet"
    r = invoke(*score_args(store, small_vcf, "--table-out", table))
    assert r.code == 0, r.err
    assert summary_json(r.out)["run"]["variants_run"] == 0  # nothing left to score
    assert r.out.splitlines()[-1] == f"table: {table}"
    df = pd.read_parquet(table)
    assert list(zip(df["id"], df["ref"], df["alt"], df["status"], strict=True)) == EXPECTED_ROWS
    ds = st.open(str(store))
    np.testing.assert_array_equal(df["llr_masked"].to_numpy(), ds["score_llr_masked"].values)


def _done_units(store: Path) -> int:
    if not (store / "zarr.json").exists():
        return 0
    try:
        return int(np.asarray(st.open_writer(str(store)).done_units()).sum())
    except Exception:  # noqa: BLE001 (the run is writing it: any failed read means "not yet")
        return 0


@pytest.fixture
def late_signals() -> Iterator[list[int]]:
    """Signals that arrive after the run gave its handlers back are recorded, not fatal."""
    seen: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda n, _f: seen.append(n)) for s in signals}
    yield seen
    for s, h in previous.items():
        signal.signal(s, h)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"]
)
def test_signal_stops_the_run_with_its_exit_code_and_the_store_resumes(
    signum: int,
    code: int,
    tmp_path: Path,
    region_bed: Path,
    late_signals: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NTSCALE_FAULT_UNIT_DELAY", "0.6")  # every unit waits: time to signal
    out = tmp_path / "int.zarr"
    # 8 units of one 300 bp window; two run at a time (runner/local.py), so the first done
    # leaves at least four that are never started
    args = embed_args(out, region_bed, "--window", "300", "--unit-windows", "1")

    def signal_after_the_first_unit() -> None:
        deadline = time.monotonic() + 120
        while _done_units(out) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signum)

    sender = threading.Thread(target=signal_after_the_first_unit, daemon=True)
    sender.start()
    r = invoke(*args)
    sender.join(timeout=130)
    assert late_signals == [], "the run ended before the signal came"
    assert r.code == code, r.err
    done = _done_units(out)
    assert 1 <= done <= 4
    # not an error of the input: no "error:" line, and it says how to go on
    assert f"interrupted: {done} of 8 units done; run the same command to resume" in r.err
    assert "error:" not in r.err and "Traceback" not in r.err
    if signum == signal.SIGINT:
        # what a user sees of the interrupted store, then the same command finishes it
        r = invoke("info", out)
        assert r.out.splitlines()[0] == f"store: {out}  (incomplete: running or interrupted)"
        assert f"windows: {done} of 8 rows done, units {done}/8" in r.out
        r = invoke("verify", out)
        assert r.code == 1
        assert r.out.splitlines()[0] == (
            f"windows: {done} of 8 units intact, 0 damaged, {8 - done} not done"
        )
        monkeypatch.delenv("NTSCALE_FAULT_UNIT_DELAY")
        r = invoke(*args)
        assert r.code == 0, r.err
        assert summary_json(r.out)["run"]["units_run"] == 8 - done
        assert invoke("verify", out).code == 0
