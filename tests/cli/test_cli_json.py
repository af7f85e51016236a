"""`--json` on every run command (issue 23, point 8): the run summary alone on stdout, as one
JSON object a pipeline can parse; every other line (paths, coverage, hints) on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import FASTA, TINY_MODEL, VCF_TEXT, embed_args, invoke, score_args


def _only_json(out: str) -> dict:
    body = json.loads(out)  # the whole of stdout: nothing before or after the object
    assert isinstance(body, dict)
    return body


def test_score_json_is_the_summary_alone(tmp_path: Path) -> None:
    vcf = tmp_path / "v.vcf"
    vcf.write_text(VCF_TEXT)
    table = tmp_path / "s.tsv"
    r = invoke(*score_args(tmp_path / "s.zarr", vcf, "--table-out", table,
                           "--vcf-out", tmp_path / "s.vcf.gz", "--json"))  # fmt: skip
    assert r.code == 0, r.err
    body = _only_json(r.out)
    assert body["store"]["url"] == str(tmp_path / "s.zarr")
    assert body["run"]["variants_run"] == 5
    assert body["outputs"] == {
        "store": str(tmp_path / "s.zarr"), "vcf": str(tmp_path / "s.vcf.gz"), "table": str(table)
    }  # fmt: skip
    assert f"table: {table}" in r.err and "variant scores written to" in r.err
    assert "open it with" in r.err


def test_embed_json_carries_the_coverage(tmp_path: Path, region_bed: Path) -> None:
    r = invoke(*embed_args(tmp_path / "e.zarr", region_bed, "--json"))
    assert r.code == 0, r.err
    body = _only_json(r.out)
    assert body["coverage"]["fraction_covered"] == 1.0
    assert body["outputs"] == {"store": str(tmp_path / "e.zarr")}
    assert "coverage: 100.000%" in r.err


def test_tracks_json_lists_the_track_files(tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000600\n")
    r = invoke("score", "--fasta", FASTA, "--model", TINY_MODEL, "--out", tmp_path / "t.zarr",
               "--tracks", tmp_path / "t", "--regions", bed, "--window", "600", "--dtype",
               "fp32", "--no-progress", "--json")  # fmt: skip
    assert r.code == 0, r.err
    body = _only_json(r.out)
    names = ("llr_min", "llr_mean", "llr_max", "logp_wt")
    assert body["outputs"]["tracks"] == [f"{tmp_path / 't'}.{n}.bw" for n in names]
    assert body["coverage"]["real_bases_covered"] == 600
    assert "track: " in r.err


def test_dry_run_json_still_prints_the_plan(tmp_path: Path) -> None:
    vcf = tmp_path / "v.vcf"
    vcf.write_text(VCF_TEXT)
    r = invoke(*score_args(tmp_path / "s.zarr", vcf, "--dry-run", "--json"))
    assert r.code == 0, r.err
    assert _only_json(r.out)["variants"] == 5
    assert not (tmp_path / "s.zarr").exists()
