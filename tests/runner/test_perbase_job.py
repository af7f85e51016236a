"""The per-base job (`ntscale segment`) on the bundled chr20 slice with a tiny SegmentNT."""

from __future__ import annotations

import numpy as np
import pysam
import pytest
import xarray as xr
from perbase_helpers import (
    CHR20,
    owning_window,
    perbase_config,
    tiny_segment_checkpoint,
)

from ntscale.errors import ConfigError, StoreError
from ntscale.model import load
from ntscale.model.perbase import SegmentModel
from ntscale.runner.local import run_local
from ntscale.runner.perbase_job import TOO_SHORT, VALUED, PerBaseJob
from ntscale.store import open_writer, verify


@pytest.fixture(scope="module")
def seg_model(tmp_path_factory):
    return tiny_segment_checkpoint(tmp_path_factory.mktemp("segtiny"))


@pytest.fixture(scope="module")
def chr20_run(seg_model, tmp_path_factory):
    """The whole bundled chr20 slice (real sequence, a 60 kb leading N run), 3 kb windows."""
    out = tmp_path_factory.mktemp("chr20") / "seg.zarr"
    cfg = perbase_config(seg_model, out, window_bp=3000, unit_windows=64, batch_size=8)
    job = PerBaseJob.plan_from_config(cfg)
    summary = run_local(job)
    return job, summary, out


def test_every_real_base_of_chr20_is_valued(chr20_run):
    job, summary, out = chr20_run
    fa = pysam.FastaFile(str(CHR20))
    seq = fa.fetch("20").upper()
    real = sum(seq.count(b) for b in "ACGT")
    cov = summary["perbase_coverage"]
    assert cov["real_bases"] == real == job.plan.n_bases
    assert cov["valued_bases"] == real and cov["fraction_valued"] == 1.0
    ds = xr.open_zarr(out)
    assert ds.attrs["perbase_coverage"]["fraction_valued"] == 1.0
    values = ds.perbase_values
    assert values.dtype == np.float16 and values.shape == (real, 14)
    assert bool(np.isfinite(values).all().compute())
    # the interval table places the bases: the leading N run is not on the axis
    first = int(ds.interval_start[0])
    assert seq[first - 1] == "N" and seq[first] != "N"
    assert summary["store"]["complete"]


def test_values_equal_a_direct_forward_of_the_covering_window(chr20_run, seg_model):
    job, _, out = chr20_run
    plan = job.plan
    ds = xr.open_zarr(out)
    seg = SegmentModel(load(seg_model))
    fa = pysam.FastaFile(str(CHR20))
    rng = np.random.default_rng(5)
    s0, off = int(plan.start[0]), int(plan.offset[0])
    # random bases, the interval's two ends and a base on a stitching boundary
    picks = list(rng.integers(plan.start[0], plan.end[0], 12))
    picks += [int(plan.start[0]), int(plan.end[0]) - 1, int(plan.keep_hi[3]) - off + s0]
    for pos in picks:
        w = owning_window(plan.win_start, plan.win_end, int(pos))
        ws, we = int(plan.win_start[w]), int(plan.win_end[w])
        direct = seg.predict([fa.fetch("20", ws, we).upper()])[0, int(pos) - ws]
        stored = ds.perbase_values[off + int(pos) - s0].values.astype(np.float32)
        np.testing.assert_allclose(stored, direct, atol=2e-3, rtol=0)  # float16 storage


def test_kept_bases_sit_away_from_window_edges(chr20_run):
    job, _, _ = chr20_run
    p = job.plan
    first_row = p.offset[0] - p.start[0]
    lo = p.keep_lo - first_row - p.win_start
    hi = p.win_end - (p.keep_hi - first_row)
    inner = slice(1, -1)  # the interval's first and last windows reach its ends
    quarter = (p.win_end - p.win_start)[inner] // 4
    assert (lo[inner] >= quarter).all() and (hi[inner] >= quarter).all()


def _run_values(seg_model, out, bed, **kw) -> np.ndarray:
    cfg = perbase_config(seg_model, out, regions=str(bed), **kw)
    run_local(PerBaseJob.plan_from_config(cfg))
    return xr.open_zarr(cfg.out).perbase_values.values


def test_results_do_not_depend_on_unit_windows(seg_model, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t59000\t63500\n20\t2000000\t2003001\n")
    runs = [
        _run_values(seg_model, tmp_path / f"o{uw}.zarr", bed, unit_windows=uw, batch_size=4)
        for uw in (1, 3, 50)
    ]
    assert runs[0].shape[0] == (63500 - 60000) + 3001
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)  # bit for bit


def test_results_do_not_depend_on_batch_size_beyond_float_rounding(seg_model, tmp_path):
    """Another batch size is another compiled program: its float32 results may differ in
    the last bits, so a float16 value can move by one step (2^-11 below 1), no more."""
    bed = tmp_path / "r.bed"
    bed.write_text("20\t2000000\t2003001\n")
    runs = [
        _run_values(seg_model, tmp_path / f"b{bs}.zarr", bed, unit_windows=3, batch_size=bs)
        for bs in (1, 3, 8)
    ]
    for other in runs[1:]:
        diff = np.abs(runs[0].astype(np.float32) - other.astype(np.float32))
        assert diff.max() <= 2.0**-11
        assert (diff > 0).mean() < 1e-3


def test_resume_redoes_only_cleared_units_and_gives_the_same_bytes(seg_model, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1006000\n")
    cfg = perbase_config(seg_model, tmp_path / "o.zarr", regions=str(bed), unit_windows=2)
    job = PerBaseJob.plan_from_config(cfg)
    first = run_local(job)
    before = xr.open_zarr(cfg.out).perbase_values.values.copy()
    assert first["run"]["units_run"] == job.n_units() > 3
    open_writer(cfg.out).clear_done([1, 3], part="bases")
    again = run_local(PerBaseJob.plan_from_config(cfg))
    assert again["run"]["units_run"] == 2
    np.testing.assert_array_equal(xr.open_zarr(cfg.out).perbase_values.values, before)
    assert verify(cfg.out)["ok"]


def test_verify_finds_a_deleted_chunk(seg_model, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1003000\n")
    cfg = perbase_config(seg_model, tmp_path / "o.zarr", regions=str(bed), unit_windows=2)
    run_local(PerBaseJob.plan_from_config(cfg))
    chunk = sorted((tmp_path / "o.zarr" / "perbase_values" / "c").rglob("*"))
    files = [c for c in chunk if c.is_file()]
    files[0].unlink()
    report = verify(cfg.out)
    assert not report["ok"] and report["bases"]["damaged"][0]["unit"] == 0
    assert verify(cfg.out, repair=True)["repaired"] == 1
    assert not open_writer(cfg.out).done_units("bases")[0]


def test_an_island_shorter_than_the_shortest_window_is_recorded(seg_model, tmp_path):
    fa = tmp_path / "g.fa"
    rng = np.random.default_rng(1)
    bases = "".join(rng.choice(list("ACGT"), 2000))
    island = "".join(rng.choice(list("ACGT"), 10))
    fa.write_text(f">g\n{bases[:1000]}NNNNN{island}NNNNN{bases[1000:]}\n")
    pysam.faidx(str(fa))
    cfg = perbase_config(seg_model, tmp_path / "o.zarr", fasta=str(fa), window_bp=240)
    job = PerBaseJob.plan_from_config(cfg)
    summary = run_local(job)
    cov = summary["perbase_coverage"]
    assert cov["real_bases"] == 2010 and cov["valued_bases"] == 2000
    assert cov["too_short"] == [{"contig": "g", "start": 1005, "end": 1015}]
    ds = xr.open_zarr(cfg.out)
    assert list(ds.interval_status.values) == [VALUED, TOO_SHORT, VALUED]
    v = ds.perbase_values.values
    assert np.isnan(v[1000:1010]).all() and np.isfinite(v[:1000]).all()
    assert np.isfinite(v[1010:]).all()


def test_intervals_shorter_than_the_window_use_the_longest_accepted_window(seg_model, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000100\n")  # 100 bp: windows of 96 bp, overlapping
    cfg = perbase_config(seg_model, tmp_path / "o.zarr", regions=str(bed), window_bp=480)
    job = PerBaseJob.plan_from_config(cfg)
    p = job.plan
    assert set((p.win_end - p.win_start).tolist()) == {96}
    assert p.win_start[0] == 1000000 and p.win_end[-1] == 1000100
    run_local(job)
    assert np.isfinite(xr.open_zarr(cfg.out).perbase_values.values).all()


@pytest.mark.parametrize("window", ["500", "24000000"])
def test_windows_the_head_cannot_take_are_refused(seg_model, tmp_path, window):
    cfg = perbase_config(seg_model, tmp_path / "o.zarr", window_bp=window)
    with pytest.raises(ConfigError, match="multiple of 24 bp"):
        PerBaseJob.plan_from_config(cfg)


def test_a_model_without_a_per_base_head_is_refused(tmp_path):
    from ntscale.model import get_preset, init_model

    tiny = get_preset("50M_multi_species_v2").replace(num_layers=1, embed_dim=16, num_heads=2,
                                                       key_size=8, ffn_dim=16)  # fmt: skip
    init_model(tiny).save(tmp_path / "nt")
    cfg = perbase_config(tmp_path / "nt", tmp_path / "o.zarr")
    with pytest.raises(ConfigError, match="no per-base head"):
        PerBaseJob.plan_from_config(cfg)


def test_a_store_of_another_run_is_not_mixed(seg_model, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1001000\n")
    cfg = perbase_config(seg_model, tmp_path / "o.zarr", regions=str(bed))
    run_local(PerBaseJob.plan_from_config(cfg))
    other = perbase_config(seg_model, tmp_path / "o.zarr", regions=str(bed), window_bp=240)
    with pytest.raises(StoreError, match="different run"):
        run_local(PerBaseJob.plan_from_config(other))
