"""Per-base stores with haplotypes (`segment --vcf`): values once per distinct window
sequence, the lazy [base, haplotype, track] view, checksums and verify, exports per
haplotype, and the bigWig writer's child processes."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pytest
import xarray as xr

from ntscale.errors import StoreError
from ntscale.store import StoreLayout, create_or_open, finalize, haplotype_perbase, verify
from ntscale.store.perbase_export import (
    export_bed,
    export_bigwig,
    haplotype_file_part,
    haplotype_index,
    iter_intervals,
)
from ntscale.store.perbase_haps import HapSegments
from ntscale.store.schema import HAP_ROW_NONE, HAP_ROW_REFERENCE

HAPS = ["A:0", "A:1", "B:0", "B:1"]


def segments_from_dense(
    lo: int, ref: np.ndarray, hap: np.ndarray, cuts: list[int] | None = None
) -> HapSegments:
    """The unit's dense [rows, H, T] values as segments (split at `cuts`, rows relative to
    lo), each distinct haplotype column stored once, the reference's and all-NaN ones not."""
    bounds = [0, *(cuts or []), hap.shape[0]]
    starts, ends, rows, parts, n = [], [], [], [], 0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        row = np.full(hap.shape[1], HAP_ROW_NONE, np.int64)
        seen: dict[bytes, int] = {}
        for j in range(hap.shape[1]):
            col = hap[a:b, j]
            if np.isnan(col).all():
                continue
            if np.array_equal(col, ref[a:b], equal_nan=True):
                row[j] = HAP_ROW_REFERENCE
                continue
            key = col.tobytes()
            if key not in seen:
                seen[key] = n
                parts.append(col)
                n += b - a
            row[j] = seen[key]
        starts.append(lo + a)
        ends.append(lo + b)
        rows.append(row)
    return HapSegments(np.array(starts), np.array(ends), np.stack(rows),
                       np.concatenate(parts) if parts else np.zeros((0, ref.shape[1])))  # fmt: skip


def _store(
    tmp_path, *, tracks=("t", "u", "v"), unit_bases: int = 5, same: bool = False
) -> tuple[str, np.ndarray]:
    """Interval c:[10, 30) (20 bases); haplotype h's values = reference + h / 10, with
    bases 4-6 of B:0 deleted (NaN); `same`: A:0 is the reference, A:1 = B:1."""
    url = str(tmp_path / "h.zarr")
    n, nt = 20, len(tracks)
    layout = StoreLayout(n_windows=0, unit_windows=1, n_bases=n, unit_bases=unit_bases,
                         track_names=tracks, n_intervals=1, base_dtype="float32",
                         base_haplotypes=len(HAPS), base_hap_segments=2)  # fmt: skip
    w = create_or_open(url, layout, fingerprint={"job": "hand"}, attrs={},
                       contigs=[("c", 40)], haplotype_names=HAPS)  # fmt: skip
    w.write_intervals({"contig": np.array(["c"]), "start": np.array([10]),
                       "end": np.array([30]), "offset": np.array([0]),
                       "status": np.array(["valued"])})  # fmt: skip
    ref = np.linspace(0, 0.5, n * nt, dtype=np.float32).reshape(n, nt)
    hap = ref[:, None, :] + (np.arange(len(HAPS), dtype=np.float32) / 10)[None, :, None]
    hap[4:7, 2] = np.nan
    if same:
        hap[:, 0], hap[:, 1] = ref, hap[:, 3]
    for u in range(layout.n_base_units):
        lo, hi = layout.base_rows(u)
        cuts = [2] if hi - lo > 2 else []  # two windows' segments per unit
        w.write_base_unit(u, ref[lo:hi], segments_from_dense(lo, ref[lo:hi], hap[lo:hi], cuts))
        w.mark_done(u, part="bases")
    finalize(url)
    return url, hap


@pytest.mark.parametrize("unit_bases", [5, 7, 20])
@pytest.mark.parametrize("same", [False, True])
def test_the_lazy_view_equals_the_dense_values_and_verify_passes(tmp_path, unit_bases, same):
    url, hap = _store(tmp_path, unit_bases=unit_bases, same=same)
    view = haplotype_perbase(url, block_haplotypes=3)
    assert view.dims == ("base", "haplotype", "track") and view.chunks is not None
    assert view.dtype == np.float32 and list(view.sample.values) == ["A", "A", "B", "B"]
    np.testing.assert_array_equal(view.values, hap)
    np.testing.assert_array_equal(view.sel(haplotype="B:0", track="u").values, hap[:, 2, 1])
    one = haplotype_perbase(url, ["B:1"]).isel(base=slice(3, 9))
    np.testing.assert_array_equal(one.values[:, 0], hap[3:9, 3])
    assert verify(url)["ok"]


def test_rows_are_stored_once_per_distinct_sequence_and_the_reference_not_at_all(tmp_path):
    """With A:0 = reference and A:1 = B:1, a segment stores 2 columns (B:0, B:1), not 4."""
    from ntscale.store import store_summary

    url, _ = _store(tmp_path, unit_bases=20, same=True)
    ds = xr.open_zarr(url)
    bases = store_summary(url)["bases"]
    assert bases["haplotype_rows_stored"] == 2 * 20 and bases["haplotypes"] == 4
    rows = ds.hap_segment_row.values[:2]  # the unit's two segments
    assert (rows[:, 0] == HAP_ROW_REFERENCE).all() and (rows[:, 1] == rows[:, 3]).all()
    assert (rows[:, 2] >= 0).all() and len({*rows[:, 1], *rows[:, 2]}) == 4


def test_open_keeps_the_hap_row_axis_lazy_and_indexable(tmp_path):
    from ntscale.store import open as open_store

    url, hap = _store(tmp_path, unit_bases=5)
    ds = open_store(url)
    assert ds.hap_perbase_values.chunks is None  # lazily indexed zarr, not dask
    r = int(ds.hap_segment_row.values[0, 1])
    np.testing.assert_array_equal(ds.hap_perbase_values.isel(hap_row=slice(r, r + 2)).values,
                                  hap[0:2, 1])  # fmt: skip
    assert list(ds.haplotype.values) == HAPS


def test_verify_finds_a_damaged_haplotype_chunk(tmp_path):
    url, _ = _store(tmp_path)
    for name in ("hap_perbase_values", "hap_segment_row"):
        chunk = next(p for p in (tmp_path / "h.zarr" / name).rglob("*") if p.is_file())
        saved = chunk.read_bytes()
        chunk.write_bytes(b"garbage")
        assert not verify(url)["ok"], name
        chunk.write_bytes(saved)
    assert verify(url)["ok"]


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
    segs = HapSegments(np.array([0]), np.array([2]), np.zeros((1, 1)), np.zeros((2, 1)))
    with pytest.raises(StoreError, match="haplotype values given"):
        w.write_base_unit(0, np.zeros((2, 1)), segs)
    with pytest.raises(StoreError, match="no haplotype values"):
        haplotype_perbase(url)


def test_layout_refuses_haplotypes_on_both_axes():
    with pytest.raises(StoreError, match="base_haplotypes=2"):
        StoreLayout(n_windows=4, unit_windows=2, n_haplotypes=2, base_haplotypes=2)
    with pytest.raises(StoreError, match="base_haplotypes=-1"):
        StoreLayout(n_windows=4, unit_windows=2, base_haplotypes=-1)
    plain = StoreLayout(n_windows=0, unit_windows=1, n_bases=3, track_names=("t",))
    assert "base_haplotypes" not in plain.to_json()  # reference stores read as before
    assert "base_hap_segments" not in plain.to_json()


def test_a_store_of_the_dense_layout_is_refused_with_a_clear_error():
    old = {"n_windows": 0, "unit_windows": 1, "n_bases": 3, "track_names": ["t"],
           "base_haplotypes": 4}  # fmt: skip
    with pytest.raises(StoreError, match="dense per-haplotype layout.*new --out"):
        StoreLayout.from_json(old)


def test_wrong_segments_are_refused_before_anything_is_written(tmp_path):
    url, _ = _store(tmp_path)
    w = create_or_open(url, StoreLayout.from_json(xr.open_zarr(url).attrs["layout"]),
                       fingerprint={"job": "hand"}, attrs={}, contigs=[("c", 40)],
                       haplotype_names=HAPS)  # fmt: skip
    ref, rows = np.zeros((5, 3)), np.zeros((1, 4), np.int64)
    bad = {
        "shapes": HapSegments(np.array([0]), np.array([5]), np.zeros((1, 3)), np.zeros((5, 3))),
        "3 segments": HapSegments(
            np.arange(3), np.arange(3) + 1, np.zeros((3, 4)), np.zeros((1, 3))
        ),  # fmt: skip
        "outside rows": HapSegments(np.array([0]), np.array([6]), rows, np.zeros((6, 3))),
        "past the 4 value rows": HapSegments(
            np.array([0]), np.array([5]), rows, np.zeros((4, 3))
        ),  # fmt: skip
        "below -2": HapSegments(np.array([0]), np.array([5]), rows - 3, np.zeros((5, 3))),
    }
    for match, segs in bad.items():
        with pytest.raises(StoreError, match=match):
            w.write_base_unit(0, ref, segs)
    with pytest.raises(StoreError, match="haplotype values missing"):
        w.write_base_unit(0, ref)
    finalize(url)
    assert verify(url)["ok"]


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
                         base_haplotypes=2, base_hap_segments=2)  # fmt: skip
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


def test_a_store_written_with_the_dense_layout_is_refused_by_every_reader(tmp_path):
    """A store of the earlier layout (base_haplotypes, no base_hap_segments): info, verify,
    the view, exports and a resume all stop with the same clear StoreError."""
    import zarr

    from ntscale.store import store_summary

    url, _ = _store(tmp_path)
    root = zarr.open_group(url, mode="r+")
    layout = dict(root.attrs["layout"])
    layout.pop("base_hap_segments")
    root.attrs["layout"] = layout
    for read in (store_summary, verify, haplotype_perbase, lambda u: iter_intervals(u).__next__()):
        with pytest.raises(StoreError, match="dense per-haplotype layout"):
            read(url)
    with pytest.raises(StoreError, match="base_hap_segments"):
        create_or_open(url, StoreLayout.from_json({**layout, "base_hap_segments": 2}),
                       fingerprint={"job": "hand"}, attrs={}, contigs=[("c", 40)],
                       haplotype_names=HAPS)  # fmt: skip
