"""A dry run of a published model needs no download (issue 23, point 9): offline, with an
empty hub cache, `--dry-run` plans from the published shapes; the run itself still asks
for the checkpoint, with an error naming options that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import FASTA, VCF_TEXT, invoke

MODEL = "50M_multi_species_v2"  # 2,048 tokens: the longest window is 12,282 bp


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "empty-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_score_dry_run_of_a_published_name_offline(tmp_path: Path, offline: Path) -> None:
    vcf = tmp_path / "v.vcf"
    vcf.write_text(VCF_TEXT)
    args = ["score", "--fasta", FASTA, "--vcf", vcf, "--model", MODEL, "--out", tmp_path / "s.zarr"]
    r = invoke(*args, "--dry-run", "--json")
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["model"] == MODEL and plan["window_bp"] == 12_282  # the published maximum
    assert plan["variants"] == 5
    assert not any(offline.iterdir())  # nothing downloaded
    run = invoke(*args)  # the run needs the weights: refused, naming real options
    assert run.code != 0
    line = run.error_line()
    assert "HF_HUB_OFFLINE is set" in line and "HF_HUB_CACHE=DIR" in line
    assert "--cache-dir/HF_HUB_CACHE" not in line


def test_embed_and_tracks_dry_runs_offline(tmp_path: Path, offline: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1030000\n")
    r = invoke("embed", "--fasta", FASTA, "--model", MODEL, "--out", tmp_path / "e.zarr",
               "--regions", bed, "--dry-run", "--json")  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["model"] == MODEL
    r = invoke("score", "--fasta", FASTA, "--model", MODEL, "--out", tmp_path / "t.zarr",
               "--tracks", tmp_path / "t", "--regions", bed, "--dry-run", "--json")  # fmt: skip
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["window_bp"] == 12_282 and plan["real_bases"] == 30_000
    assert not any(offline.iterdir())
