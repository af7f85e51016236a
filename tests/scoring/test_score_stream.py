"""Streamed scoring plans: the driver keeps unit boundaries, each worker reads its rows.

The streamed path must give the same rows, statuses, digest and store as reading the
whole VCF, with units split anywhere (inside a multi-ALT record, among records at one
position, under an earlier deletion, across contigs), and its pickled job must not carry
the variants.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from scoring_helpers import random_dna, write_fasta, write_vcf

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.genome import FastaSource
from ntscale.genome.variant_stream import read_unit_table, scan_variant_units
from ntscale.genome.variant_table import ScoreStatus, read_variant_table
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob, table_digest
from ntscale.store.export import export_table

FIELDS = ("contig", "pos", "id", "ref", "alt", "record", "status")
SEQ_A, SEQ_B = random_dna(1000, seed=5), random_dna(800, seed=6)


def _config(fasta: Path, vcf: Path, model: Path, out: Path, **overrides) -> ScoreConfig:
    values = {
        "fasta": str(fasta),
        "vcf": str(vcf),
        "model": str(model),
        "out": str(out),
        "window_bp": 60,
        "layers": [1],
        "unit_variants": 3,
        "batch_size": 8,
        "dtype": "fp32",
        "progress": False,
    }
    values.update(overrides)
    return build_config(ScoreConfig, values)


def _same_store(a: Path, b: Path) -> None:
    """Every array of two stores holds the same bytes (and dtype)."""
    da, db = nstore.open(str(a)), nstore.open(str(b))
    names = sorted(map(str, da.variables))
    assert names == sorted(map(str, db.variables))
    assert any(n.startswith("score_") for n in names)
    for n in names:
        x, y = np.asarray(da[n].values), np.asarray(db[n].values)
        assert x.dtype == y.dtype, n
        assert x.tobytes() == y.tobytes(), n
    assert da.attrs["fingerprint"] == db.attrs["fingerprint"]


@pytest.fixture(scope="module")
def split_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two FASTA contigs and an indexed VCF whose rows pile up at a few positions."""
    d = tmp_path_factory.mktemp("split")
    fasta = write_fasta(d / "ref.fa", {"a": SEQ_A, "b": SEQ_B})
    a = lambda p: SEQ_A[p - 1]  # noqa: E731 - REF base at a 1-based position
    alts = lambda r: [x for x in "ACGT" if x != r]  # noqa: E731
    records = [
        ("a", 100, "m1", a(100), alts(a(100))),  # three ALTs: three rows
        ("a", 100, "d1", a(100), alts(a(100))[:1]),  # duplicate of the first row
        ("a", 100, "d2", a(100), alts(a(100))[1:]),  # two more duplicates
        ("a", 150, "del", SEQ_A[149:160], [a(150)]),  # REF covers 150-160
        ("a", 155, "s1", a(155), alts(a(155))[:2]),  # under the deletion
        ("a", 155, "s2", a(155), alts(a(155))[2:]),
        ("a", 155, "s3", a(155), alts(a(155))[:1]),  # duplicate, 3 rows later
        ("a", 200, "n", a(200), ["N"]),  # allele_not_acgt
        ("a", 300, "sym", a(300), ["<DEL>"]),
        ("a", 400, "miss", a(400), None),
        ("a", 990, "out", "A" * 20, ["C"]),  # outside_contig
        ("zz", 10, "extra", "A", ["C", "G"]),  # contig_not_in_fasta
        ("b", 5, "b1", SEQ_B[4], alts(SEQ_B[4])),
        ("b", 5, "b2", SEQ_B[4], alts(SEQ_B[4])[:1]),
        ("b", 400, "b3", SEQ_B[399:402], [SEQ_B[399]]),
        ("b", 790, "b4", SEQ_B[789], alts(SEQ_B[789])[:1]),
    ]
    vcf = write_vcf(d / "split.vcf.gz", {"a": 1000, "zz": 100, "b": 800}, records)
    return fasta, vcf


@pytest.mark.parametrize("unit", [1, 2, 3, 4, 5, 7, 100])
def test_units_read_back_the_whole_table(split_inputs, unit):
    fasta, vcf = split_inputs
    contigs = FastaSource(fasta).contigs
    whole = read_variant_table(vcf, contigs=contigs)
    units = scan_variant_units(vcf, contigs=contigs, unit_variants=unit)
    assert units is not None
    assert (units.n_variants, units.n_records) == (whole.n_variants, whole.n_records)
    assert units.digest == table_digest(whole)
    assert units.contigs == ("a", "zz", "b") and units.extra_contigs == ("zz",)
    parts = [read_unit_table(units, u, contigs=contigs) for u in range(len(units.start))]
    assert [p.n_variants for p in parts] == [
        b - a for a, b in map(units.unit_range, range(len(units.start)))
    ]
    for f in FIELDS:
        got = np.concatenate([getattr(p, f) for p in parts])
        assert np.array_equal(got, getattr(whole, f)), f
    # the cases the split must keep: duplicates across units, every non-scored status
    codes = set(whole.status.tolist())
    for s in ("DUPLICATE_RECORD", "ALLELE_NOT_ACGT", "SYMBOLIC_ALLELE", "MISSING_ALT"):
        assert int(ScoreStatus[s]) in codes, s
    assert int(ScoreStatus.OUTSIDE_CONTIG) in codes
    assert int(ScoreStatus.CONTIG_NOT_IN_FASTA) in codes


def test_unindexed_unsorted_or_stale_index_vcf_is_read_whole(tmp_path):
    contigs = [("a", 1000)]
    recs = [("a", 50, None, SEQ_A[49], ["C"]), ("a", 20, None, SEQ_A[19], ["C"])]
    plain = write_vcf(tmp_path / "plain.vcf", dict(contigs), recs)
    assert scan_variant_units(plain, contigs=contigs, unit_variants=2) is None
    unsorted = write_vcf(tmp_path / "unsorted.vcf", dict(contigs), recs)
    (tmp_path / "unsorted.vcf.csi").write_bytes(b"")  # an index next to it: still refused
    assert scan_variant_units(unsorted, contigs=contigs, unit_variants=2) is None
    ok = write_vcf(tmp_path / "ok.vcf.gz", dict(contigs), sorted(recs, key=lambda r: r[1]))
    assert scan_variant_units(ok, contigs=contigs, unit_variants=2) is not None
    index = ok.with_name(ok.name + ".tbi")
    os.utime(index, (ok.stat().st_mtime - 60, ok.stat().st_mtime - 60))  # stale index
    assert scan_variant_units(ok, contigs=contigs, unit_variants=2) is None


def test_streamed_store_equals_whole_table_store_split_units(
    split_inputs, tiny_model_dir, tmp_path
):
    fasta, vcf = split_inputs
    runs = {}
    for stream in (True, False):
        out = tmp_path / f"s{stream}.zarr"
        job = ScoreJob.plan_from_config(
            _config(fasta, vcf, tiny_model_dir, out, strands="both"), stream=stream
        )
        assert (job.units is not None, job.table is None) == (stream, stream)
        runs[stream] = run_local(job)
    assert runs[True]["run"]["by_status"] == runs[False]["run"]["by_status"]
    _same_store(tmp_path / "sTrue.zarr", tmp_path / "sFalse.zarr")
    # exports read the store only: the same table from either plan
    tables = [export_table(str(tmp_path / f"s{s}.zarr"), tmp_path / f"{s}.tsv") for s in runs]
    assert tables[0].read_bytes() == tables[1].read_bytes()
    # one header line and one line per ALT allele below the `##` provenance comments
    lines = [line for line in tables[0].read_text().splitlines() if not line.startswith("##")]
    assert len(lines) == 1 + len(
        read_variant_table(vcf, contigs=FastaSource(fasta).contigs).pos
    )


def test_bundled_vcf_units_equal_the_whole_table(repo_root):
    """Every row of the real bundled VCF (7,568 rows), read unit by unit."""
    data = repo_root / "examples" / "data"
    contigs = FastaSource(data / "chr20_2mb.fa.gz").contigs
    vcf = data / "chr20_2mb.vcf.gz"
    whole = read_variant_table(vcf, contigs=contigs)
    units = scan_variant_units(vcf, contigs=contigs, unit_variants=97)
    assert units.digest == table_digest(whole)
    parts = [read_unit_table(units, u, contigs=contigs) for u in range(len(units.start))]
    for f in FIELDS:
        assert np.array_equal(np.concatenate([getattr(p, f) for p in parts]), getattr(whole, f))


def test_streamed_store_equals_whole_table_store_bundled_vcf(repo_root, tiny_model_dir, tmp_path):
    """Stores from the first 400 records of the real bundled VCF, re-indexed in tmp_path."""
    import pysam

    data = repo_root / "examples" / "data"
    fasta = data / "chr20_2mb.fa.gz"
    src = pysam.VariantFile(str(data / "chr20_2mb.vcf.gz"))
    plain = tmp_path / "head.vcf"
    with pysam.VariantFile(str(plain), "w", header=src.header) as out:
        for i, rec in enumerate(src):
            if i == 400:
                break
            out.write(rec)
    src.close()
    vcf = Path(pysam.tabix_index(str(plain), preset="vcf", force=True))
    for stream in (True, False):
        cfg = _config(fasta, vcf, tiny_model_dir, tmp_path / f"s{stream}.zarr", unit_variants=64)
        job = ScoreJob.plan_from_config(cfg, stream=stream)
        assert (job.units is None) == (not stream)
        run_local(job)
    _same_store(tmp_path / "sTrue.zarr", tmp_path / "sFalse.zarr")


def _synthetic(path: Path, n: int) -> Path:
    recs = [
        ("a", 20 + i % 900, None, SEQ_A[19 + i % 900], ["ACGT"[i // 900 % 4]]) for i in range(n)
    ]
    recs.sort(key=lambda r: r[1])
    return write_vcf(path, {"a": 1000}, recs)


def test_pickled_job_does_not_hold_the_variants(tmp_path, tiny_model_dir):
    fasta = write_fasta(tmp_path / "ref.fa", {"a": SEQ_A})
    sizes = {}
    for n, unit in ((1_000, 250), (20_000, 5_000)):  # 4 units each
        vcf = _synthetic(tmp_path / f"v{n}.vcf.gz", n)
        cfg = _config(fasta, vcf, tiny_model_dir, tmp_path / "o.zarr", unit_variants=unit)
        job = ScoreJob.plan_from_config(cfg)
        assert job.units is not None and job.n_variants == n and job.n_units() == 4
        sizes[n] = len(pickle.dumps(job, protocol=5))
        if n == 20_000:
            whole = ScoreJob.plan_from_config(cfg, stream=False)
            assert len(pickle.dumps(whole, protocol=5)) > sizes[n] + 500_000
    # same number of units: the same size whatever the number of variants
    assert abs(sizes[20_000] - sizes[1_000]) < 64, sizes


@pytest.mark.parametrize("share_windows", [True, False])
def test_streamed_dry_run_plan_equals_the_whole_table_plan_one_unit_at_a_time(
    split_inputs, tiny_model_dir, tmp_path, monkeypatch, share_windows
):
    """The dry run of a streamed job plans unit by unit like the run: it never reads the
    whole table (read_variant_table would fail here) and holds one unit's rows at a time,
    and its plan is the whole-table job's, distinct windows across units included."""
    from ntscale.runner import plan_report, score_job
    from ntscale.runner.plan_report import describe_score_plan

    fasta, vcf = split_inputs
    cfg = _config(
        fasta, vcf, tiny_model_dir, tmp_path / "d.zarr", strands="both", share_windows=share_windows
    )
    whole = describe_score_plan(ScoreJob.plan_from_config(cfg, stream=False))
    job = ScoreJob.plan_from_config(cfg, stream=True)
    held: list[int] = []
    real = ScoreJob.unit_table

    def counted(self, unit):
        table, windows, off = real(self, unit)
        held.append(len(table.pos))
        return table, windows, off

    def refuse(*args, **kwargs):
        raise AssertionError("the dry run of a streamed job read the whole table")

    monkeypatch.setattr(ScoreJob, "unit_table", counted)  # a frozen job: patch its class
    monkeypatch.setattr(score_job, "read_variant_table", refuse, raising=False)
    monkeypatch.setattr("ntscale.genome.variant_table.read_variant_table", refuse)
    streamed = plan_report.describe_score_plan(job)
    assert streamed == whole
    assert len(held) == job.n_units() > 2
    assert max(held) <= cfg.unit_variants < job.n_variants  # never the whole table
    assert whole["distinct_reference_windows"] > 0
