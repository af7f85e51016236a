"""NTv3 functional tracks and annotation through the per-base job (`ntscale segment
--model NTv3_...`) on regions of the bundled chr20 slice: every real base valued, values
equal to a direct forward of the owning window, independent of unit and batch size,
bigWig files readable by pyBigWig."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyBigWig
import pysam
import pytest
import xarray as xr
from perbase_helpers import CHR20, owning_window, perbase_config

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import load_ntv3
from ntscale.model.ntv3_perbase import NTv3TrackModel
from ntscale.runner.local import run_local
from ntscale.runner.perbase_job import PerBaseJob
from ntscale.store.perbase_export import export_bed, export_bigwig

POST = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference" / "post"
PRE = POST.parent / "pre"


def _regions(tmp_path: Path) -> Path:
    """Two regions: one across the end of the slice's leading N run, one plain."""
    seq = pysam.FastaFile(str(CHR20)).fetch("20")
    first = len(seq) - len(seq.lstrip("Nn"))
    bed = tmp_path / "r.bed"
    bed.write_text(f"20\t{first - 300}\t{first + 1700}\n20\t1000000\t1001500\n")
    return bed


def _run(tmp_path: Path, name: str, **kw):
    cfg = perbase_config(POST, tmp_path / name, regions=str(_regions(tmp_path)),
                         species="human", **kw)  # fmt: skip
    job = PerBaseJob.plan_from_config(cfg)
    summary = run_local(job)
    return job, summary, xr.open_zarr(tmp_path / name)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ntv3pb")
    return (*_run(tmp, "a.zarr", window_bp=512, unit_windows=4, batch_size=3), tmp)


def test_every_real_base_is_valued(run):
    job, summary, ds, _ = run
    assert summary["perbase_coverage"]["fraction_valued"] == 1.0
    assert job.plan.n_bases == 1700 + 1500  # the N part of region 1 is not a base
    assert ds.perbase_values.shape == (3200, 6)
    assert list(ds.track.values) == [
        "h_dnase", "h_h3k4me3", "h_ctcf", "bed.exon", "bed.intron", "bed.promoter",
    ]  # fmt: skip
    values = ds.perbase_values.values.astype(np.float32)
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (values[:, 3:] <= 1).all()  # element probabilities


def test_values_equal_a_direct_forward_of_the_owning_window(run):
    job, _, ds, _ = run
    plan = job.plan
    model = NTv3TrackModel(load_ntv3(POST), species="human")
    fa = pysam.FastaFile(str(CHR20))
    rng = np.random.default_rng(3)
    for k in range(len(plan.start)):
        s0, e0, off = int(plan.start[k]), int(plan.end[k]), int(plan.offset[k])
        for pos in [s0, e0 - 1, *rng.integers(s0, e0, 6)]:
            w = owning_window(plan.win_start, plan.win_end, int(pos))
            ws, we = int(plan.win_start[w]), int(plan.win_end[w])
            direct = model.predict([fa.fetch("20", ws, we).upper()])[0, int(pos) - ws]
            stored = ds.perbase_values[off + int(pos) - s0].values.astype(np.float32)
            np.testing.assert_allclose(stored, direct, atol=3e-3, rtol=2e-3)  # float16


def test_independent_of_unit_and_batch_size(run):
    _, _, ds, tmp = run
    _, _, other = _run(tmp, "b.zarr", window_bp=512, unit_windows=1, batch_size=1)
    np.testing.assert_allclose(
        other.perbase_values.values.astype(np.float32),
        ds.perbase_values.values.astype(np.float32),
        atol=2e-3,
        rtol=2e-3,
    )


def test_bigwig_and_bed_exports(run):
    _, _, ds, tmp = run
    url = str(tmp / "a.zarr")
    paths = export_bigwig(url, tmp / "trk")
    assert [p.name for p in paths][0] == "trk.h_dnase.bw" and len(paths) == 6
    bw = pyBigWig.open(str(paths[0]))
    start, off = int(ds.interval_start[1]), int(ds.interval_offset[1])
    got = np.array(bw.values("20", start, start + 50), np.float32)
    want = ds.perbase_values[off : off + 50, 0].values.astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-3)
    bed, n = export_bed(url, tmp / "ann.bed", thresholds=0.5)
    assert bed.exists() and n >= 0


def test_job_refuses_species_for_segmentnt_and_tracks_for_pre(tmp_path):
    with pytest.raises(ConfigError, match="post-trained"):
        PerBaseJob.plan_from_config(perbase_config(PRE, tmp_path / "x.zarr"))
    with pytest.raises(ConfigError, match="unknown track"):
        PerBaseJob.plan_from_config(
            perbase_config(POST, tmp_path / "y.zarr", species="human", track_names="nope")
        )
