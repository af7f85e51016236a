"""`ntscale score` takes what VEP pipelines hand it (issue 23, point 4): a TraitGym-style
Parquet table (out: a Parquet aligned to it row for row, with provenance), a VCF on stdin,
`--regions` and `--contig-map`; and a `--preset` setting overridden is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pysam
from cli_helpers import FASTA, TINY_MODEL, VCF_TEXT, invoke

import ntscale.store as st

RUN = ["--model", str(TINY_MODEL), "--window", "600", "--batch-size", "4", "--dtype", "fp32",
       "--no-progress", "--scores", "llr", "--fasta", str(FASTA)]  # fmt: skip


def test_a_parquet_table_in_gives_a_parquet_out_aligned_to_it(tmp_path: Path) -> None:
    # TraitGym's layout: chrom, pos (1-based), ref, alt and a label; rows not sorted
    table = pd.DataFrame(
        {
            "chrom": ["20", "20", "20", "20"],
            "pos": [1_000_020, 1_000_001, 1_000_003, 1_000_003],
            "ref": ["A", "T", "G", "G"],
            "alt": ["G", "C", "T", "A"],
            "label": [False, True, True, False],
        }
    )
    src = tmp_path / "tg.parquet"
    table.to_parquet(src)
    out = tmp_path / "tg_scores.parquet"
    r = invoke("score", "--vcf", src, "--out", tmp_path / "s.zarr", "--table-out", out, *RUN)
    assert r.code == 0, r.err
    got = pd.read_parquet(out)
    assert len(got) == len(table)
    for col in ("chrom", "pos", "ref", "alt"):
        assert got[col].astype(str).tolist() == table[col].astype(str).tolist(), col
    assert got["status"].tolist() == ["ref_mismatch", "ok", "ok", "ok"]
    ds = st.open(str(tmp_path / "s.zarr"))
    assert got["llr_masked"].iloc[1:].notna().all()
    assert got["llr_masked"].tolist()[1:] == ds["score_llr_masked"].values.tolist()[1:]
    meta = json.loads(pq.read_schema(out).metadata[b"ntscale"])
    assert meta["ntscaleModelName"] == "nt-v2-tiny" and meta["ntscaleWindow"] == "600"
    given = ds.attrs["vcf"]["given"]
    assert given["vcf"] == str(src) and given["prepared"].endswith("s.zarr.inputs/variants.vcf.gz")


def _chr_vcf(tmp_path: Path) -> Path:
    """VCF_TEXT with 'chr20' contig names (the FASTA says '20')."""
    path = tmp_path / "chr.vcf"
    path.write_text(VCF_TEXT.replace("ID=20,", "ID=chr20,").replace("\n20\t", "\nchr20\t"))
    return path


def test_stdin_regions_and_contig_map_in_a_pipe(tmp_path: Path) -> None:
    """`... | ntscale score --vcf - --regions R --contig-map auto` (a real child process)."""
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000005\n")  # s1 (1,000,001) and s2 (1,000,003) only
    out = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "ntscale", "score", "--vcf", "-", "--regions", str(bed),
           "--contig-map", "auto", "--out", str(out), "--vcf-out", str(tmp_path / "o.vcf.gz"),
           *RUN]  # fmt: skip
    env = os.environ | {"JAX_PLATFORMS": "cpu"}
    r = subprocess.run(cmd, input=_chr_vcf(tmp_path).read_text(), capture_output=True,
                       text=True, timeout=600, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    ds = st.open(str(out))
    assert ds["variant_id"].values.astype(str).tolist() == ["s1", "s2", "s2"]
    assert ds["variant_contig"].values.astype(str).tolist() == ["20"] * 3
    assert ds.attrs["vcf"]["given"]["regions"] == str(bed)
    with pysam.VariantFile(str(tmp_path / "o.vcf.gz")) as vf:
        recs = list(vf)
    assert [(x.contig, x.id, len(x.info["NTS_STATUS"])) for x in recs] == [
        ("20", "s1", 1), ("20", "s2", 2)
    ]  # fmt: skip


def test_regions_without_a_vcf_or_tracks_is_refused(tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000005\n")
    r = invoke("score", "--regions", bed, "--out", tmp_path / "s.zarr", "--fasta", str(FASTA),
               "--model", str(TINY_MODEL))  # fmt: skip
    assert r.code != 0
    assert "--tracks PREFIX and --regions BED go together" in r.error_line()


def test_an_overridden_preset_setting_is_named(tmp_path: Path) -> None:
    vcf = tmp_path / "v.vcf"
    vcf.write_text(VCF_TEXT)
    r = invoke("score", "--vcf", vcf, "--out", tmp_path / "s.zarr", "--preset", "traitgym",
               "--model", str(TINY_MODEL), "--fasta", str(FASTA), "--window", "600",
               "--strands", "forward", "--dry-run")  # fmt: skip
    assert r.code == 0, r.err
    assert "window_bp=600 departs from the traitgym protocol (window_bp=5994)" in r.err
    assert "strands=forward departs from the traitgym protocol (strands=both)" in r.err
    assert "collapse_n" not in r.err  # filled by the preset: not a departure
    assert not (tmp_path / "s.zarr").exists()
