"""`ntscale segment --dry-run` (the plan, text and JSON) and `segment --vcf` with
per-haplotype bigWig/BED exports, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pyBigWig
import pysam
import pytest
from cli_helpers import FASTA, invoke

from ntscale.model import get_preset, init_model
from ntscale.store import haplotype_perbase, store_summary

START, END = 1_000_000, 1_001_000


def _vcf(root):  # noqa: ANN001, ANN202
    """Two phased samples: an SNV carried by S1:1 and a 4 bp deletion carried by S2:0."""
    fa = pysam.FastaFile(str(FASTA))
    snv = START + 301  # 1-based
    ref = fa.fetch("20", snv - 1, snv).upper()
    dele = START + 600
    dref = fa.fetch("20", dele - 1, dele + 4).upper()
    text = (
        "##fileformat=VCFv4.2\n##contig=<ID=20,length=2000000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
        f"20\t{snv}\t.\t{ref}\t{'G' if ref != 'G' else 'T'}\t.\tPASS\t.\tGT\t0|1\t0|0\n"
        f"20\t{dele}\t.\t{dref}\t{dref[0]}\t.\tPASS\t.\tGT\t0|0\t1|0\n"
    )
    (root / "v.vcf").write_text(text)
    pysam.tabix_compress(str(root / "v.vcf"), str(root / "v.vcf.gz"), force=True)
    pysam.tabix_index(str(root / "v.vcf.gz"), preset="vcf", force=True)
    return root / "v.vcf.gz"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("segplan")
    cfg = get_preset("segment_nt").replace(name="segtiny", num_layers=1, embed_dim=16,
                                           num_heads=2, key_size=8, ffn_dim=32)  # fmt: skip
    init_model(cfg, seed=4).save(root / "model")
    bed = root / "r.bed"
    bed.write_text(f"20\t{START}\t{END}\n")
    return root, root / "model", bed, _vcf(root)


def _args(root, model, bed, *extra):  # noqa: ANN001, ANN002, ANN202
    return ["segment", "--fasta", FASTA, "--model", model, "--out", root / "s.zarr",
            "--regions", bed, "--window", "240", "--unit-windows", "2", "--batch-size", "2",
            "--no-progress", *extra]  # fmt: skip


def test_dry_run_prints_the_plan_and_writes_nothing(inputs):
    root, model, bed, _ = inputs
    res = invoke(*_args(root, model, bed, "--dry-run"))
    assert res.code == 0, res.err
    assert not (root / "s.zarr").exists()
    assert "plan (dry run, nothing written)" in res.out
    assert "window 240 bp (multiple of 24 bp" in res.out and "overlap 120 bp" in res.out
    assert "coverage: 1,000 of 1,000 real bases valued (100.0000%)" in res.out
    assert "batch: 2 windows" in res.out and "host memory per worker unit" in res.out


def test_dry_run_json_counts_what_the_run_does(inputs, tmp_path):
    root, model, bed, vcf = inputs
    res = invoke(*_args(root, model, bed, "--dry-run", "--json"))
    assert res.code == 0, res.err
    plan = json.loads(res.out)
    # 1,000 bases, stride 120: windows every 120 bp, the last moved back to the end
    assert plan["windows"] == len(range(START, END - 240, 120)) + 1
    assert plan["unit_bases"] == 240 and plan["units"] == -(-1000 // 240)
    assert plan["store_bytes_uncompressed"] == 1000 * 14 * 2
    assert plan["haplotypes"] == 0 and not plan["forward_passes_upper_bound"]
    assert plan["centre_distance_min_bp"] == 240 // 4  # half overlap: a quarter window
    out = tmp_path / "run.zarr"
    args = _args(root, model, bed)
    args[args.index(root / "s.zarr")] = out
    run = invoke(*args, "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["run"]["forward_passes"] == plan["forward_passes"]
    with_vcf = json.loads(invoke(*_args(root, model, bed, "--dry-run", "--json",
                                        "--vcf", vcf)).out)  # fmt: skip
    assert with_vcf["haplotypes"] == 4 and with_vcf["forward_passes_upper_bound"]
    assert with_vcf["forward_passes"] == 5 * plan["forward_passes"]
    index = with_vcf["units"] * with_vcf["hap_segments_per_unit"] * 4 * 8  # int64 rows
    assert with_vcf["hap_segments_per_unit"] >= plan["unit_bases"] // 120  # windows per unit
    assert with_vcf["store_bytes_upper_bound"] and not plan["store_bytes_upper_bound"]
    assert with_vcf["store_bytes_uncompressed"] == 5 * plan["store_bytes_uncompressed"] + index


def test_vcf_run_exports_chosen_haplotypes(inputs, tmp_path):
    root, model, bed, vcf = inputs
    out = tmp_path / "h.zarr"
    args = _args(root, model, bed, "--vcf", vcf, "--export-haplotypes", "S2",
                 "--bigwig", tmp_path / "bw/seg", "--bed", tmp_path / "calls.bed")  # fmt: skip
    args[args.index(root / "s.zarr")] = out
    res = invoke(*args)
    assert res.code == 0, res.err
    hap = haplotype_perbase(out)
    assert hap.shape == (1000, 4, 14)
    names = sorted(p.name for p in (tmp_path / "bw").iterdir())
    assert len(names) == 14 * 3  # reference, S2:0, S2:1
    assert "seg.S2_0.exon.bw" in names and "seg.exon.bw" in names
    assert (tmp_path / "calls.S2_0.bed").exists() and (tmp_path / "calls.S2_1.bed").exists()
    # the haplotype bigWig holds that haplotype's values; the deleted bases have none
    bw = pyBigWig.open(str(tmp_path / "bw" / "seg.S2_0.exon.bw"))
    track = list(hap.track.values).index("exon")
    got = np.array(bw.values("20", START, END), np.float32)
    want = hap[:, 2, track].values.astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-3)  # NaN where deleted, on both
    assert np.isnan(got[600:604]).all() and np.isfinite(got[:600]).all()
    info = invoke("info", out)
    assert info.code == 0 and "haplotypes: 4 from v.vcf.gz, values in reference" in info.out
    stored = store_summary(str(out))["bases"]["haplotype_rows_stored"]
    assert 0 < stored < 4 * 1000  # the reference's and shared sequences are not copied
    assert f"haplotype values stored: {stored:,} rows for 4,000 (base, haplotype)" in info.out


def test_export_haplotypes_needs_a_vcf_and_known_names(inputs, tmp_path):
    root, model, bed, vcf = inputs
    res = invoke(*_args(root, model, bed, "--export-haplotypes", "S1"))
    assert res.code != 0 and "--vcf" in res.err
    res = invoke(*_args(root, model, bed, "--vcf", vcf, "--export-haplotypes", "NOPE",
                        "--dry-run"))  # fmt: skip
    assert res.code == 0  # a dry run exports nothing: names are checked before a run
    args = _args(root, model, bed, "--vcf", vcf, "--export-haplotypes", "NOPE")
    args[args.index(root / "s.zarr")] = tmp_path / "x.zarr"
    res = invoke(*args)
    assert res.code != 0 and "NOPE" in res.err and not (tmp_path / "x.zarr").exists()
