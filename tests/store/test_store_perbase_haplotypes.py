"""Per-base stores with haplotypes (`segment --vcf`): the [base, haplotype, track] array,
its checksums and verify, exports per haplotype, and the bigWig writer's child processes."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pytest
import xarray as xr

from ntscale.errors import StoreError
from ntscale.store import StoreLayout, create_or_open, finalize, verify
from ntscale.store.perbase_export import (
    export_bed,
    export_bigwig,
    haplotype_file_part,
    haplotype_index,
    iter_intervals,
)

HAPS = ["A:0", "A:1", "B:0", "B:1"]


def _store(tmp_path, *, tracks=("t", "u", "v"), unit_bases: int = 5) -> tuple[str, np.ndarray]:
    """Interval c:[10, 30) (20 bases); haplotype h's values = reference + h / 10, with
    bases 4-6 of B:0 deleted (NaN)."""
    url = str(tmp_path / "h.zarr")
    n, nt = 20, len(tracks)
    layout = StoreLayout(n_windows=0, unit_windows=1, n_bases=n, unit_bases=unit_bases,
                         track_names=tracks, n_intervals=1, base_dtype="float32",
                         base_haplotypes=len(HAPS))  # fmt: skip
    w = create_or_open(url, layout, fingerprint={"job": "hand"}, attrs={},
                       contigs=[("c", 40)], haplotype_names=HAPS)  # fmt: skip
    w.write_intervals({"contig": np.array(["c"]), "start": np.array([10]),
                       "end": np.array([30]), "offset": np.array([0]),
                       "status": np.array(["valued"])})  # fmt: skip
    ref = np.linspace(0, 0.5, n * nt, dtype=np.float32).reshape(n, nt)
    hap = ref[:, None, :] + (np.arange(len(HAPS), dtype=np.float32) / 10)[None, :, None]
    hap[4:7, 2] = np.nan
    for u in range(layout.n_base_units):
        lo, hi = layout.base_rows(u)
        w.write_base_unit(u, ref[lo:hi], hap[lo:hi])
        w.mark_done(u, part="bases")
    finalize(url)
    return url, hap


def test_haplotype_values_open_with_xarray_and_verify(tmp_path):
    url, hap = _store(tmp_path)
    ds = xr.open_zarr(url)
    assert ds.hap_perbase_values.dims == ("base", "haplotype", "track")
    np.testing.assert_array_equal(ds.hap_perbase_values.sel(haplotype="B:0").values, hap[:, 2])
    assert list(ds.sample.values) == ["A", "A", "B", "B"]
    assert verify(url)["ok"]


def test_verify_finds_a_damaged_haplotype_chunk(tmp_path):
    url, _ = _store(tmp_path)
    chunk = next(p for p in (tmp_path / "h.zarr" / "hap_perbase_values").rglob("*") if p.is_file())
    chunk.write_bytes(b"garbage")
    assert not verify(url)["ok"]


def test_iter_intervals_reads_one_haplotype_and_one_track(tmp_path):
    url, hap = _store(tmp_path)
    [(contig, start, values)] = list(iter_intervals(url, haplotype=2, track=1))
    assert (contig, start, values.shape) == ("c", 10, (20, 1))
    np.testing.assert_array_equal(values[:, 0], hap[:, 2, 1])
    assert haplotype_index(url, "B:1") == 3 and haplotype_file_part("B:1") == "B_1"
    with pytest.raises(StoreError, match="no haplotype 'C:0'"):
        haplotype_index(url, "C:0")


@pytest.mark.parametrize("processes", [1, 2])
def test_bigwig_per_haplotype_in_child_processes_equals_the_store(tmp_path, processes):
    url, hap = _store(tmp_path)
    paths = export_bigwig(url, tmp_path / "bw" / "x", haplotype="B:0", processes=processes)
    assert [p.name for p in paths] == ["x.B_0.t.bw", "x.B_0.u.bw", "x.B_0.v.bw"]
    for j, p in enumerate(paths):
        bw = pyBigWig.open(str(p))
        got = np.array(bw.values("c", 10, 30), np.float32)
        np.testing.assert_array_equal(got, hap[:, 2, j])  # NaN at the deleted bases too
        assert np.isnan(bw.values("c", 0, 10)).all()
        bw.close()


def test_bed_of_a_haplotype_calls_its_own_values(tmp_path):
    url, hap = _store(tmp_path, tracks=("t",))
    _, n_ref = export_bed(url, tmp_path / "ref.bed", thresholds=0.45)
    path, n_hap = export_bed(url, tmp_path / "b1.bed", thresholds=0.45, haplotype="B:1")
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    first = int(np.flatnonzero(hap[:, 3, 0] >= 0.45)[0])
    assert rows[0][:3] == ["c", str(10 + first), "30"] and n_hap == 1
    assert n_ref == 1  # the reference crosses 0.45 later than B:1 (+0.3)


def test_exports_of_a_store_without_haplotypes_say_so(tmp_path):
    url = str(tmp_path / "r.zarr")
    layout = StoreLayout(n_windows=0, unit_windows=1, n_bases=2, unit_bases=2,
                         track_names=("t",), n_intervals=1)  # fmt: skip
    w = create_or_open(url, layout, fingerprint={"job": "hand"}, attrs={}, contigs=[("c", 4)])
    w.write_intervals({"contig": np.array(["c"]), "start": np.array([0]),
                       "end": np.array([2]), "offset": np.array([0]),
                       "status": np.array(["valued"])})  # fmt: skip
    w.write_base_unit(0, np.zeros((2, 1)))
    w.mark_done(0, part="bases")
    with pytest.raises(StoreError, match="made without --vcf"):
        export_bigwig(url, tmp_path / "x", haplotype="A:0")
    with pytest.raises(StoreError, match="haplotype values"):
        w.write_base_unit(0, np.zeros((2, 1)), np.zeros((2, 1, 1)))


def test_layout_refuses_haplotypes_on_both_axes():
    with pytest.raises(StoreError, match="base_haplotypes=2"):
        StoreLayout(n_windows=4, unit_windows=2, n_haplotypes=2, base_haplotypes=2)
    with pytest.raises(StoreError, match="base_haplotypes=-1"):
        StoreLayout(n_windows=4, unit_windows=2, base_haplotypes=-1)
    plain = StoreLayout(n_windows=0, unit_windows=1, n_bases=3, track_names=("t",))
    assert "base_haplotypes" not in plain.to_json()  # reference stores read as before


@pytest.mark.parametrize("processes", [1, 2])
def test_a_bigwig_that_cannot_be_written_is_a_store_error(tmp_path, processes):
    url, _ = _store(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(StoreError, match="cannot write bigWig files"):
        export_bigwig(url, blocker / "sub" / "x", processes=processes)
    (tmp_path / "out" / "x.u.bw").mkdir(parents=True)  # a folder where a file must go
    with pytest.raises(StoreError, match="x.u.bw"):
        export_bigwig(url, tmp_path / "out" / "x", processes=processes)


def test_reopening_with_other_haplotypes_is_refused(tmp_path):
    url, _ = _store(tmp_path)
    layout = StoreLayout(n_windows=0, unit_windows=1, n_bases=20, unit_bases=5,
                         track_names=("t", "u", "v"), n_intervals=1, base_dtype="float32",
                         base_haplotypes=2)  # fmt: skip
    with pytest.raises(StoreError):
        create_or_open(url, layout, fingerprint={"job": "hand"}, attrs={},
                       contigs=[("c", 40)], haplotype_names=HAPS[:2])  # fmt: skip
    with pytest.raises(StoreError, match="3 haplotype names given for a layout of 2"):
        create_or_open(str(tmp_path / "new.zarr"), layout, fingerprint={"job": "hand"},
                       attrs={}, contigs=[("c", 40)], haplotype_names=HAPS[:3])  # fmt: skip


@pytest.mark.parametrize("block", [1, 3, 7, 100])
def test_haplotype_blocks_join_to_the_stored_values_for_any_block(tmp_path, block):
    url, hap = _store(tmp_path)
    parts = list(iter_intervals(url, haplotype=2, block_bases=block))
    assert [s for _, s, _ in parts] == list(range(10, 30, block))
    np.testing.assert_array_equal(np.concatenate([v for _, _, v in parts]), hap[:, 2])


def test_a_deletion_ends_a_called_element_on_its_haplotype(tmp_path):
    """B:0 has bases 4-6 deleted (NaN): a run above the threshold stops there, and the
    bases after the deletion start a new element."""
    url, hap = _store(tmp_path, tracks=("t",))
    path, n = export_bed(url, tmp_path / "b0.bed", thresholds=0.0, haplotype="B:0")
    rows = [line.split("\t")[:3] for line in path.read_text().splitlines()]
    assert rows == [["c", "10", "14"], ["c", "17", "30"]] and n == 2
    assert np.isnan(hap[4:7, 2, 0]).all()
