"""`ntscale info` and `ntscale verify` on a per-base store."""

from __future__ import annotations

import pytest
from cli_helpers import FASTA, invoke

from ntscale.model import get_preset, init_model


@pytest.fixture(scope="module")
def seg_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("segstore")
    cfg = get_preset("segment_nt").replace(name="segtiny", num_layers=1, embed_dim=16,
                                           num_heads=2, key_size=8, ffn_dim=32)  # fmt: skip
    init_model(cfg, seed=2).save(root / "model")
    bed = root / "r.bed"
    bed.write_text("20\t1000000\t1001000\n")
    out = root / "seg.zarr"
    res = invoke("segment", "--fasta", FASTA, "--model", root / "model", "--out", out,
                 "--regions", bed, "--window", "240", "--no-progress")  # fmt: skip
    assert res.code == 0, res.err
    return out


def test_info_reports_bases_and_coverage(seg_store):
    res = invoke("info", seg_store)
    assert res.code == 0, res.err
    assert "job: perbase" in res.out
    assert "bases: 1,000 of 1,000 rows done" in res.out
    assert "coverage: 1,000 of 1,000 real bases valued (100.0000%)" in res.out
    assert "last run: " in res.out and " bases in " in res.out


def test_verify_checks_the_base_units(seg_store):
    res = invoke("verify", seg_store)
    assert res.code == 0, res.err
    assert "bases: 1 of 1 units intact, 0 damaged, 0 not done" in res.out
    assert "windows:" not in res.out


def test_verify_names_a_damaged_base_unit(seg_store, tmp_path):
    import shutil

    copy = tmp_path / "copy.zarr"
    shutil.copytree(seg_store, copy)
    chunks = [p for p in (copy / "perbase_values" / "c").rglob("*") if p.is_file()]
    chunks[0].write_bytes(b"garbage")
    res = invoke("verify", copy)
    assert res.code == 1
    assert "damaged base unit 0 (rows 0-1000)" in res.out
    assert "--repair" in res.out
