"""Per-unit checksums: `verify` finds exactly the damaged units, repair + rewrite restores them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from store_workers import (
    ATTRS,
    CONTIGS,
    FINGERPRINT,
    LAYOUT,
    write_variant_units,
    write_window_units,
)

import ntscale.store as st


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p != root / "zarr.json"
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    url = tmp_path / "v.zarr"
    writer = st.create_or_open(
        str(url), LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS
    )
    write_window_units(writer, list(range(LAYOUT.n_window_units)))
    write_variant_units(writer, list(range(LAYOUT.n_variant_units)))
    st.finalize(str(url))
    return url


def test_intact_store_verifies(store: Path) -> None:
    report = st.verify(str(store))
    assert report["ok"] is True and report["repaired"] == 0
    assert report["windows"] == {
        "units_total": 5, "units_done": 5, "units_ok": 5, "damaged": [], "not_done": []
    }  # fmt: skip
    assert report["variants"]["units_ok"] == 3


def test_damaged_and_missing_chunks_are_found_by_unit_and_repaired(
    store: Path, tmp_path: Path
) -> None:
    before = _files(store)
    # unit 2: a chunk file overwritten with garbage (a torn or corrupted write)
    (store / "embedding_mean" / "c" / "0" / "2" / "0").write_bytes(b"\x00garbage" * 7)
    # unit 3: a chunk object lost (reads back as fill values)
    (store / "start" / "c" / "3").unlink()
    # variant unit 1: a value changed in place, still a valid chunk
    writer = st.open_writer(str(store))
    writer._array("score_llr")[3] = np.float32(42.0)

    report = st.verify(str(store))
    assert report["ok"] is False
    damaged = {d["unit"]: d for d in report["windows"]["damaged"]}
    assert sorted(damaged) == [2, 3]
    assert damaged[2]["rows"] == [10, 15] and "chunk damaged" in damaged[2]["reason"]
    assert "differ from the checksum" in damaged[3]["reason"]
    assert [d["unit"] for d in report["variants"]["damaged"]] == [1]
    assert report["windows"]["units_ok"] == 3

    repaired = st.verify(str(store), repair=True)
    assert repaired["repaired"] == 3
    assert writer.done_units().tolist() == [True, True, False, False, True]
    assert writer.done_units("variants").tolist() == [True, False, True]
    after = st.verify(str(store))
    assert after["windows"]["damaged"] == [] and after["windows"]["not_done"] == [2, 3]

    # the resume redoes exactly the cleared units: the same bytes as before the damage
    again = st.create_or_open(
        str(store), LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS
    )
    write_window_units(again, [int(u) for u in np.flatnonzero(~again.done_units())])
    write_variant_units(again, [int(u) for u in np.flatnonzero(~again.done_units("variants"))])
    st.finalize(str(store))
    assert _files(store) == before
    assert st.verify(str(store))["ok"] is True


def test_verify_cli_reports_json_and_exit_codes(store: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "copy.zarr"
    shutil.copytree(store, damaged)
    (damaged / "frac_n" / "c" / "4").write_bytes(b"not zstd")
    cmd = [sys.executable, "-m", "ntscale", "verify"]
    ok = subprocess.run([*cmd, str(store)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "store intact" in ok.stdout
    bad = subprocess.run(
        [*cmd, str(damaged), "--json"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert [d["unit"] for d in report["windows"]["damaged"]] == [4]
    fixed = subprocess.run(
        [*cmd, str(damaged), "--repair"], capture_output=True, text=True, timeout=120
    )
    assert fixed.returncode == 1
    assert "damaged window unit 4 (rows 20-23): stored values differ" in fixed.stdout
    assert "cleared the done marks of 1 damaged units" in fixed.stdout
    assert st.open_writer(str(damaged)).done_units().tolist() == [True] * 4 + [False]
