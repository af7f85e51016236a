"""The per-base part of a store: layout, writer, checksums, xarray view, bigWig and BED."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pysam
import pytest
import xarray as xr

import ntscale.store as store
from ntscale.errors import StoreError
from ntscale.store import StoreLayout, create_or_open, finalize, open_writer, verify
from ntscale.store.perbase_export import call_elements, export_bed, export_bigwig, iter_intervals

TRACKS = ("exon", "intron")
# two intervals on contig a (an N gap between them), one on contig b
INTERVALS = [("a", 10, 40), ("a", 50, 70), ("b", 0, 30)]


def _layout(**over) -> StoreLayout:
    values = dict(n_windows=0, unit_windows=1, n_bases=80, unit_bases=16, track_names=TRACKS,
                  n_intervals=len(INTERVALS))  # fmt: skip
    values.update(over)
    return StoreLayout(**values)


def _values(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.random((80, len(TRACKS))).astype(np.float32)
    v[60:63] = np.nan  # bases without a value (as a too-short interval leaves them)
    return v


def _store(tmp_path, values: np.ndarray | None = None, *, units=None, dtype="float16") -> str:
    url = str(tmp_path / "pb.zarr")
    layout = _layout(base_dtype=dtype)
    w = create_or_open(url, layout, fingerprint={"job": "perbase"}, attrs={"job": "perbase"},
                       contigs=[("a", 100), ("b", 40)])  # fmt: skip
    w.write_intervals(
        {
            "contig": np.array([c for c, _, _ in INTERVALS]),
            "start": np.array([s for _, s, _ in INTERVALS]),
            "end": np.array([e for _, _, e in INTERVALS]),
            "offset": np.array([0, 30, 50]),
            "status": np.array(["valued"] * 3),
        }
    )
    values = _values() if values is None else values
    for u in range(layout.n_base_units) if units is None else units:
        lo, hi = layout.base_rows(u)
        w.write_base_unit(u, values[lo:hi])
        w.mark_done(u, part="bases")
    finalize(url)
    return url


def test_layout_rules_and_json():
    lay = _layout()
    assert lay.n_base_units == 5 and lay.base_rows(4) == (64, 80)
    assert lay.rows("bases", 1) == (16, 32) and lay.n_units("bases") == 5
    assert "n_bases" in lay.to_json()
    plain = StoreLayout(n_windows=4, unit_windows=2)
    assert "n_bases" not in plain.to_json()  # other stores' identity is unchanged
    assert StoreLayout.from_json(lay.to_json()) == lay
    for bad in ({"track_names": ()}, {"track_names": ("x", "x")}, {"base_dtype": "bfloat16"},
                {"unit_bases": 0}):  # fmt: skip
        with pytest.raises(StoreError, match="invalid store layout"):
            _layout(**bad)
    with pytest.raises(StoreError, match="out of range"):
        lay.base_rows(5)


def test_written_values_read_back_as_xarray(tmp_path):
    url = _store(tmp_path)
    ds = xr.open_zarr(url)
    assert ds.perbase_values.dims == ("base", "track")
    assert list(ds.track.values) == list(TRACKS)
    want = _values().astype(np.float16)
    np.testing.assert_array_equal(ds.perbase_values.values, want)
    assert list(ds.interval_offset.values) == [0, 30, 50]
    opened = store.open(url)
    assert list(opened.data_vars) == ["perbase_values"]
    assert opened.perbase_values.chunks[0][0] == 16
    summary = store.store_summary(url)
    assert summary["bases"] == {"rows": 80, "rows_done": 80, "units_total": 5, "units_done": 5}
    assert summary["complete"]


def test_float32_values_are_kept_exactly(tmp_path):
    url = _store(tmp_path, dtype="float32")
    np.testing.assert_array_equal(xr.open_zarr(url).perbase_values.values, _values())


def test_writer_refuses_wrong_shapes_and_missing_parts(tmp_path):
    url = _store(tmp_path)
    w = open_writer(url)
    with pytest.raises(StoreError, match="expected \\(16, 2\\)"):
        w.write_base_unit(0, np.zeros((15, 2)))
    with pytest.raises(StoreError, match="no variant part"):
        w.done_units("variants")
    plain = str(tmp_path / "plain.zarr")
    create_or_open(plain, StoreLayout(n_windows=2, unit_windows=1), fingerprint={}, attrs={},
                   contigs=[("a", 10)])  # fmt: skip
    with pytest.raises(StoreError, match="no per-base part"):
        open_writer(plain).write_base_unit(0, np.zeros((1, 1)))
    finalize(plain)


def test_verify_sees_changed_values_and_repairs(tmp_path):
    url = _store(tmp_path)
    assert verify(url)["ok"]
    arr = open_writer(url)._array("perbase_values")
    arr[20:21] = np.zeros((1, 2), np.float16)
    report = verify(url)
    assert not report["ok"]
    assert [d["unit"] for d in report["bases"]["damaged"]] == [1]
    assert report["bases"]["damaged"][0]["rows"] == [16, 32]
    assert verify(url, repair=True)["repaired"] == 1
    assert open_writer(url).done_units("bases").tolist() == [True, False, True, True, True]


def test_iter_intervals_and_blocks(tmp_path):
    url = _store(tmp_path)
    blocks = list(iter_intervals(url, block_bases=7))
    assert [(c, s, len(v)) for c, s, v in blocks][:5] == [
        ("a", 10, 7), ("a", 17, 7), ("a", 24, 7), ("a", 31, 7), ("a", 38, 2)
    ]  # fmt: skip
    total = np.concatenate([v for _, _, v in blocks])
    np.testing.assert_array_equal(total, _values().astype(np.float16).astype(np.float32))


def test_exports_refuse_an_incomplete_store(tmp_path):
    url = _store(tmp_path, units=[0, 1])
    with pytest.raises(StoreError, match="incomplete"):
        export_bigwig(url, tmp_path / "t")
    with pytest.raises(StoreError, match="incomplete"):
        export_bed(url, tmp_path / "t.bed")


def test_bigwig_per_track_holds_every_valued_base(tmp_path):
    url = _store(tmp_path)
    paths = export_bigwig(url, tmp_path / "out" / "x")
    assert [p.name for p in paths] == ["x.exon.bw", "x.intron.bw"]
    v = _values().astype(np.float16).astype(np.float32)
    for j, path in enumerate(paths):
        bw = pyBigWig.open(str(path))
        assert bw.chroms() == {"a": 100, "b": 40}
        got_a = np.array(bw.values("a", 0, 100))
        assert np.isnan(got_a[:10]).all() and np.isnan(got_a[40:50]).all()
        np.testing.assert_allclose(got_a[10:40], v[0:30, j], rtol=1e-6)
        np.testing.assert_allclose(got_a[50:70], v[30:50, j], rtol=1e-6)
        got_b = np.array(bw.values("b", 0, 40))
        np.testing.assert_allclose(got_b[:10], v[50:60, j], rtol=1e-6)
        assert np.isnan(got_b[10:13]).all()  # no value -> no entry
        np.testing.assert_allclose(got_b[13:30], v[63:80, j], rtol=1e-6)
        bw.close()


def _naive_elements(v: np.ndarray, cut: float) -> list[tuple[str, int, int, str]]:
    out = []
    for j, t in enumerate(TRACKS):
        for (c, s, e), off in zip(INTERVALS, (0, 30, 50), strict=True):
            run = None
            for i in range(e - s):
                hit = np.isfinite(v[off + i, j]) and v[off + i, j] >= cut
                if hit and run is None:
                    run = i
                if not hit and run is not None:
                    out.append((c, s + run, s + i, t))
                    run = None
            if run is not None:
                out.append((c, s + run, e, t))
    return sorted(out, key=lambda r: ({"a": 0, "b": 1}[r[0]], r[1], r[3]))


@pytest.mark.parametrize("block", [3, 7, 1 << 20])
def test_bed_elements_equal_a_base_by_base_call(tmp_path, block):
    url = _store(tmp_path)
    path, n = export_bed(url, tmp_path / "calls.bed", thresholds=0.6, block_bases=block)
    v = _values().astype(np.float16).astype(np.float32)
    want = _naive_elements(v, 0.6)
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    assert n == len(rows) == len(want)
    assert [(r[0], int(r[1]), int(r[2]), r[3]) for r in rows] == want
    for r in rows:
        j, lo, hi = TRACKS.index(r[3]), _row(r[0], int(r[1])), _row(r[0], int(r[2]) - 1) + 1
        seg = v[lo:hi, j]
        assert int(r[4]) == round(1000 * float(seg.max())) and r[5] == "."
        assert float(r[6]) == pytest.approx(float(seg.mean()), abs=1e-4)
        assert seg.min() >= 0.6


def _row(contig: str, pos: int) -> int:
    """Base-axis row of a position of the test intervals."""
    for (c, s, e), off in zip(INTERVALS, (0, 30, 50), strict=True):
        if c == contig and s <= pos < e:
            return off + pos - s
    raise AssertionError((contig, pos))


def test_bed_is_readable_by_pysam_and_thresholds_per_track(tmp_path):
    url = _store(tmp_path)
    path, n = export_bed(url, tmp_path / "calls.bed", thresholds={"exon": 0.9})
    gz = pysam.tabix_index(str(path), preset="bed", force=True)
    tbx = pysam.TabixFile(gz)
    rows = list(tbx.fetch("a", 0, 100, parser=pysam.asBed()))
    assert rows and all(r.contig == "a" for r in rows)
    exon = [r for r in rows if r.name == "exon"]
    intron = [r for r in rows if r.name == "intron"]
    v = _values().astype(np.float16).astype(np.float32)
    assert len(exon) == len([e for e in _naive_elements(v, 0.9) if e[3] == "exon" and e[0] == "a"])
    assert len(intron) == len(
        [e for e in _naive_elements(v, 0.5) if e[3] == "intron" and e[0] == "a"]
    )
    with pytest.raises(StoreError, match="unknown tracks"):
        export_bed(url, tmp_path / "x.bed", thresholds={"nope": 0.5})


def test_call_elements_edges():
    s, e = call_elements(np.array([0.9, 0.1, np.nan, 0.7, 0.7]), 0.5)
    assert s.tolist() == [0, 3] and e.tolist() == [1, 5]
    s, e = call_elements(np.zeros(0), 0.5)
    assert len(s) == len(e) == 0
