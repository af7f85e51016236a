"""Haplotype input of the per-base job (`ntscale segment --vcf`): every haplotype valued in
reference coordinates, one forward pass per distinct window sequence, values equal to a
direct forward of the haplotype window (SegmentNT and an NTv3 tiny fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from perbase_helpers import (
    distinct_window_sequences,
    haplotype_expectations,
    perbase_config,
    stored_haplotype_rows,
    tiny_segment_checkpoint,
    write_haplotype_vcf,
)

from ntscale.errors import ConfigError, InputError, StoreError
from ntscale.genome.perbase_haplotypes import fit_length, lift_to_reference
from ntscale.model import load
from ntscale.model.ntv3 import load_ntv3
from ntscale.model.ntv3_perbase import NTv3TrackModel
from ntscale.model.perbase import SegmentModel, perbase_spec
from ntscale.runner.local import run_local
from ntscale.runner.perbase_job import PerBaseJob
from ntscale.store import haplotype_perbase, open_writer, store_summary, verify

POST = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference" / "post"
START, END = 1_000_000, 1_002_000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pbhap")
    bed = tmp / "r.bed"
    bed.write_text(f"20\t{START}\t{END}\n")
    return tiny_segment_checkpoint(tmp / "seg"), write_haplotype_vcf(tmp), bed, tmp


def _run(inputs, name: str, model=None, **kw):  # noqa: ANN001, ANN202
    seg, vcf, bed, tmp = inputs
    cfg = perbase_config(model or seg, tmp / name, regions=str(bed), vcf=str(vcf), **kw)
    job = PerBaseJob.plan_from_config(cfg)
    summary = run_local(job)
    ds = xr.open_zarr(tmp / name)
    return job, summary, ds.assign(hap=haplotype_perbase(tmp / name).drop_vars("sample"))


@pytest.fixture(scope="module")
def run(inputs):
    return _run(inputs, "a.zarr")


def test_store_holds_every_haplotype_in_reference_coordinates(run):
    job, summary, ds = run
    assert list(ds.haplotype.values) == [f"S{i}:{p}" for i in range(1, 5) for p in (0, 1)]
    assert list(ds.sample.values) == [f"S{i}" for i in range(1, 5) for _ in (0, 1)]
    hv = ds.hap
    assert ds.hap_perbase_values.dims == ("hap_row", "track")  # distinct values, once
    assert hv.dims == ("base", "haplotype", "track") and hv.shape == (END - START, 8, 14)
    assert hv.dtype == np.float16
    assert summary["store"]["complete"] and verify(str(job.store_url))["ok"]
    assert ds.attrs["perbase_haplotypes"]["n_haplotypes"] == 8
    nan = np.isnan(hv.values[:, :, 0].astype(np.float32))
    # the 3 bp deletion after 1,000,501 (1-based) on S1:0 and S3:1, the 2 bp one after
    # 1,001,333 on S1:1 and S4:1: exactly those reference bases carry no value
    want = np.zeros_like(nan)
    for h in (0, 5):
        want[501:504, h] = True
    for h in (1, 7):
        want[1333:1335, h] = True
    np.testing.assert_array_equal(nan, want)


def test_forward_passes_equal_the_distinct_window_sequences(run):
    job, summary, _ = run
    plan = job.plan
    expected = sum(
        distinct_window_sequences(job, plan.windows_for_rows(*job.unit_range(u)))
        for u in range(job.n_units())
    )
    assert summary["run"]["forward_passes"] == expected
    # fewer than one per (window, haplotype) plus the reference: patterns are shared
    runs = sum(len(plan.windows_for_rows(*job.unit_range(u))) for u in range(job.n_units()))
    assert expected < runs * 9


def test_stored_rows_equal_an_independent_count_of_distinct_window_sequences(run):
    job, _, ds = run
    stored = store_summary(str(job.store_url))["bases"]["haplotype_rows_stored"]
    assert stored == stored_haplotype_rows(job)
    # far fewer than the dense layout's rows x haplotypes (most windows carry no variant)
    assert 0 < stored < 0.5 * ds.hap.shape[0] * ds.hap.shape[1]


def test_a_killed_unit_is_redone_on_resume_to_the_same_bytes(run, inputs, tmp_path):
    """A unit killed after writing part of its arrays (damaged and missing objects, no
    done mark) is redone; the store then equals the complete run byte for byte."""
    import dataclasses
    import shutil

    from storecmp import assert_same_bytes

    job, _, _ = run
    url = tmp_path / "k.zarr"
    shutil.copytree(job.store_url, url)
    writer = open_writer(str(url))
    writer.clear_done([1], part="bases")
    first = writer.layout.hap_rows(1, 0)[0] // writer.layout.hap_row_chunk
    (url / "hap_perbase_values" / "c" / str(first) / "0").write_bytes(b"half-written")
    (url / "hap_segment_row" / "c" / "1" / "0").unlink()
    cfg = dataclasses.replace(job.config, out=str(url))
    again = run_local(PerBaseJob.plan_from_config(cfg))
    assert again["run"]["units_run"] == 1 and verify(str(url))["ok"]
    assert_same_bytes(job.store_url, url)


def test_haplotype_values_equal_a_direct_forward_of_the_haplotype_window(run, inputs):
    job, _, ds = run
    seg = SegmentModel(load(inputs[0]))
    # beside the SNVs, the deletions' edges, the inserted allele's anchor, the ends
    positions = [START, START + 100, START + 229, START + 500, START + 504, START + 900,
                 START + 901, START + 1332, START + 1335, END - 1, START + 1777]  # fmt: skip
    want = haplotype_expectations(job, seg, positions, range(8))
    hv = ds.hap
    for (pos, h), value in want.items():
        stored = hv[pos - START, h].values.astype(np.float32)
        np.testing.assert_allclose(stored, value, atol=2e-3, rtol=0, err_msg=f"{pos} {h}")


def test_reference_values_equal_a_run_without_the_vcf(run, inputs):
    _, _, ds = run
    seg, _, bed, tmp = inputs
    cfg = perbase_config(seg, tmp / "ref.zarr", regions=str(bed))
    run_local(PerBaseJob.plan_from_config(cfg))
    ref = xr.open_zarr(tmp / "ref.zarr").perbase_values.values.astype(np.float32)
    np.testing.assert_allclose(ds.perbase_values.values.astype(np.float32), ref, atol=2.0**-11)
    # a haplotype with no variant nearby equals the reference there
    hv = ds.hap.values.astype(np.float32)
    np.testing.assert_allclose(hv[1600:1700, 4], ref[1600:1700], atol=2.0**-11)


def test_haplotype_values_do_not_depend_on_unit_windows(run, inputs):
    _, _, ds = run
    _, summary, other = _run(inputs, "u1.zarr", unit_windows=1)
    np.testing.assert_array_equal(other.hap.values, ds.hap.values)
    assert summary["run"]["forward_passes"] > 0


def test_ntv3_tracks_take_haplotypes_too(inputs):
    job, summary, ds = _run(inputs, "ntv3.zarr", model=POST, species="human", window_bp=512,
                            unit_windows=2, batch_size=3)  # fmt: skip
    plan = job.plan
    assert ds.hap.shape == (END - START, 8, 6)
    expected = sum(
        distinct_window_sequences(job, plan.windows_for_rows(*job.unit_range(u)))
        for u in range(job.n_units())
    )
    assert summary["run"]["forward_passes"] == expected
    model = NTv3TrackModel(load_ntv3(POST), species="human")
    want = haplotype_expectations(job, model, [START + 101, START + 503, START + 900], (0, 3))
    for (pos, h), value in want.items():
        stored = ds.hap[pos - START, h].values.astype(np.float32)
        np.testing.assert_allclose(stored, value, atol=3e-3, rtol=2e-3, err_msg=f"{pos} {h}")


def test_fit_and_lift_rules():
    spec = perbase_spec(load_spec_config())
    assert fit_length(480, spec) == 480 and fit_length(503, spec) == 480
    assert fit_length(23, spec) == 0 and fit_length(10**6, spec) == spec.max_window_bp
    values = np.arange(6, dtype=np.float32).reshape(6, 1)
    # haplotype bases: ref 10, 11, an inserted base, 12, then 14, 15 (13 deleted)
    cmap = np.array([10, 11, -1, 12, 14, 15])
    lifted = lift_to_reference(values, cmap, 10, 16)
    np.testing.assert_array_equal(lifted[:, 0], [0, 1, 3, np.nan, 4, 5])


def load_spec_config():  # noqa: ANN201
    from ntscale.model import get_preset

    return get_preset("segment_nt")


def test_samples_need_a_vcf_and_unknown_samples_are_refused(inputs, tmp_path):
    seg, vcf, bed, _ = inputs
    with pytest.raises(ConfigError, match="without a VCF"):
        perbase_config(seg, tmp_path / "x.zarr", samples="S1")
    cfg = perbase_config(
        seg, tmp_path / "y.zarr", regions=str(bed), vcf=str(vcf), samples=("S1", "NOPE")
    )
    with pytest.raises(InputError, match="NOPE"):
        PerBaseJob.plan_from_config(cfg)


def test_writer_refuses_a_unit_without_its_haplotype_values(run):
    job, _, _ = run
    w = open_writer(str(job.store_url))
    a, b = job.unit_range(0)
    with pytest.raises(StoreError, match="haplotype values"):
        w.write_base_unit(0, np.zeros((b - a, 14), np.float32))


def test_a_rerun_resumes_and_other_samples_are_refused(run, inputs):
    job, _, ds = run
    seg, vcf, bed, tmp = inputs
    again = run_local(PerBaseJob.plan_from_config(job.config))
    assert again["run"]["units_run"] == 0 and again["store"]["complete"]
    other = perbase_config(seg, tmp / "a.zarr", regions=str(bed), vcf=str(vcf), samples=("S1",))
    with pytest.raises(StoreError, match="haplotypes"):
        run_local(PerBaseJob.plan_from_config(other))


@pytest.mark.slow
def test_a_killed_cli_run_resumes_to_the_bytes_of_an_uninterrupted_one(inputs, tmp_path):
    """`ntscale segment --vcf` killed (SIGKILL, whole process group) after its first unit
    is done, run again to the end: the store equals an uninterrupted run's byte for byte.
    6 kb in 25 units of one window each, so units still run when the first is marked."""
    import sys

    from ntv3_helpers import kill_resume_compare
    from perbase_helpers import CHR20

    seg, vcf, _, _ = inputs
    bed = tmp_path / "r.bed"
    bed.write_text(f"20\t{START}\t{START + 6000}\n")

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "ntscale", "segment", "--fasta", str(CHR20), "--model",
                str(seg), "--out", str(out), "--regions", str(bed), "--vcf", str(vcf),
                "--window", "480", "--unit-windows", "1", "--batch-size", "4",
                "--no-progress"]  # fmt: skip

    kill_resume_compare(cmd, tmp_path, part="bases", total=6000 // 240)
