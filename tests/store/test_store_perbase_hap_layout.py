"""The deduplicated per-base haplotype layout (store/perbase_haps.py): reserved rows and
segments per unit, the objects a unit's checksum covers, reads across units and intervals
against dense values, the lazy view's selections, and the store summary's counts."""

from __future__ import annotations

import numpy as np
import pytest
from test_store_perbase_haplotypes import segments_from_dense

from ntscale.errors import StoreError
from ntscale.store import (
    StoreLayout,
    create_or_open,
    finalize,
    haplotype_perbase,
    open_writer,
    store_summary,
)
from ntscale.store.checksum import unit_keys
from ntscale.store.perbase_export import iter_intervals
from ntscale.store.perbase_haps import read_haplotype_rows
from ntscale.store.reader import _open_root

NAMES = [f"S{i}:{p}" for i in range(3) for p in (0, 1)]  # 6 haplotypes


def _layout(unit_bases: int = 8, segments: int = 3, h: int = 6) -> StoreLayout:
    return StoreLayout(n_windows=0, unit_windows=1, n_bases=30, unit_bases=unit_bases,
                       track_names=("a", "b"), n_intervals=2, base_dtype="float32",
                       base_haplotypes=h, base_hap_segments=segments)  # fmt: skip


def test_reserved_rows_are_whole_chunks_and_fit_every_haplotype_distinct():
    layout = _layout()
    assert layout.hap_row_chunk == 8 and layout.unit_hap_rows == 8 * 6
    assert layout.hap_rows(0, 0) == (0, 0) and layout.hap_rows(1, 1) == (48, 56)
    assert layout.hap_rows(3, 48) == (144, 192)  # the last unit reserves as many
    assert layout.hap_segments(2) == (6, 9)
    with pytest.raises(StoreError, match="49 haplotype rows, the unit has 48"):
        layout.hap_rows(0, 49)
    with pytest.raises(StoreError, match="base unit 4 is out of range"):
        layout.hap_segments(4)
    odd = _layout(unit_bases=5, h=3)  # 15 rows: rounded up to a whole chunk of 5
    assert odd.hap_row_chunk == 5 and odd.unit_hap_rows == 15
    assert "base_hap_segments" in _layout().to_json()


def _dense(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reference [30, 2] and haplotypes [30, 6, 2]: S0:0 the reference, S0:1 = S1:1,
    S2:1 deleted at rows 11-13, S1:0 with no value at all in rows 16-24."""
    rng = np.random.default_rng(seed)
    ref = rng.random((30, 2), dtype=np.float32)
    hap = ref[:, None, :] + rng.random((30, 6, 1), dtype=np.float32)
    hap[:, 0], hap[:, 1] = ref, hap[:, 3]
    hap[11:14, 5] = np.nan
    hap[16:24, 2] = np.nan
    return ref, hap


def _store(tmp_path, layout: StoreLayout, name: str = "d.zarr") -> tuple[str, np.ndarray]:
    """Two intervals c:[0, 12) and c:[20, 38) on 30 rows; segments cut every 3 rows."""
    url = str(tmp_path / name)
    w = create_or_open(url, layout, fingerprint={"job": "hand"}, attrs={},
                       contigs=[("c", 40)], haplotype_names=NAMES)  # fmt: skip
    w.write_intervals({"contig": np.array(["c", "c"]), "start": np.array([0, 20]),
                       "end": np.array([12, 38]), "offset": np.array([0, 12]),
                       "status": np.array(["valued", "valued"])})  # fmt: skip
    ref, hap = _dense()
    for u in range(layout.n_base_units):
        lo, hi = layout.base_rows(u)
        cuts = list(range(3, hi - lo, 3))[: layout.base_hap_segments - 1]
        w.write_base_unit(u, ref[lo:hi], segments_from_dense(lo, ref[lo:hi], hap[lo:hi], cuts))
        w.mark_done(u, part="bases")
    finalize(url)
    return url, hap


@pytest.mark.parametrize("unit_bases", [4, 8, 30])
def test_any_row_range_of_any_haplotype_reads_as_the_dense_values(tmp_path, unit_bases):
    layout = _layout(unit_bases=unit_bases, segments=-(-unit_bases // 3))
    url, hap = _store(tmp_path, layout)
    group, _, stored_layout = _open_root(url)
    assert stored_layout == layout
    for h in range(6):
        for lo, hi in ((0, 30), (0, 1), (3, 17), (7, 9), (29, 30), (12, 12)):
            got = read_haplotype_rows(group, layout, h, lo, hi, slice(None))
            np.testing.assert_array_equal(got, hap[lo:hi, h], err_msg=f"{h} {lo}-{hi}")
        one = read_haplotype_rows(group, layout, h, 5, 25, slice(1, 2))
        np.testing.assert_array_equal(one[:, 0], hap[5:25, h, 1])


def test_exports_read_each_interval_of_a_haplotype_across_units(tmp_path):
    url, hap = _store(tmp_path, _layout(unit_bases=4, segments=2))
    parts = list(iter_intervals(url, haplotype=5, block_bases=5))
    assert [(c, s, v.shape[0]) for c, s, v in parts] == [
        ("c", 0, 5), ("c", 5, 5), ("c", 10, 2), ("c", 20, 5), ("c", 25, 5), ("c", 30, 5),
        ("c", 35, 3)]  # fmt: skip
    np.testing.assert_array_equal(np.concatenate([v for *_, v in parts]), hap[:, 5])


def test_the_view_selects_haplotypes_in_the_order_asked(tmp_path):
    url, hap = _store(tmp_path, _layout())
    view = haplotype_perbase(url, ["S2:1", "S0:0"], block_haplotypes=1)
    assert list(view.haplotype.values) == ["S2:1", "S0:0"]
    assert list(view.sample.values) == ["S2", "S0"] and view.chunks[1] == (1, 1)
    np.testing.assert_array_equal(view.values, hap[:, [5, 0]])
    assert haplotype_perbase(url, []).shape == (30, 0, 2)
    with pytest.raises(StoreError, match=r"no haplotype\(s\) \['S9:0'\]"):
        haplotype_perbase(url, ["S9:0"])


def test_a_units_checksum_covers_only_its_used_rows_and_its_segments(tmp_path):
    layout = _layout()
    url, _ = _store(tmp_path, layout)
    group, _, _ = _open_root(url)
    counts = np.asarray(group["completion/hap_row_counts"][:])
    for u in range(layout.n_base_units):
        keys = unit_keys(group, layout, "bases", u)
        rows = [k for k in keys if k.startswith("hap_perbase_values/")]
        lo, hi = layout.hap_rows(u, int(counts[u]))
        assert len(rows) == (hi - lo) // layout.hap_row_chunk
        assert f"hap_segment_row/c/{u}/0" in keys and f"hap_segment_start/c/{u}" in keys
        assert f"completion/hap_row_counts/c/{u}" in keys
        assert not any(k.startswith(f"hap_perbase_values/c/{lo // 8 + 6}/") for k in keys)


def test_the_summary_counts_the_rows_of_done_units_only(tmp_path):
    layout = _layout()
    url, _ = _store(tmp_path, layout)
    group, _, _ = _open_root(url)
    counts = np.asarray(group["completion/hap_row_counts"][:])
    # per unit the distinct non-reference columns x segment rows: never more than dense
    assert (counts <= np.array([hi - lo for lo, hi in map(layout.base_rows, range(4))]) * 5).all()
    assert store_summary(url)["bases"]["haplotype_rows_stored"] == int(counts.sum())
    open_writer(url).clear_done([0], part="bases")
    bases = store_summary(url)["bases"]
    assert bases["haplotype_rows_stored"] == int(counts[1:].sum()) and bases["units_done"] == 3


def test_the_same_values_written_twice_give_the_same_bytes(tmp_path):
    from pathlib import Path

    def files(root: str) -> dict[str, bytes]:  # the root's attributes hold a timestamp
        top = Path(root)
        return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*"))
                if p.is_file() and p.relative_to(top).name != "zarr.json"}  # fmt: skip

    layout = _layout()
    a, _ = _store(tmp_path, layout, "a.zarr")
    b, _ = _store(tmp_path, layout, "b.zarr")
    fa, fb = files(a), files(b)
    assert len(fa) > 20 and fa == fb


def test_the_reference_is_not_copied_and_skipped_haplotypes_store_nothing(tmp_path):
    layout = _layout(unit_bases=30, segments=10)
    url, _ = _store(tmp_path, layout)
    group, _, _ = _open_root(url)
    rows = np.asarray(group["hap_segment_row"][:10])
    assert (rows[:, 0] == -2).all()  # S0:0 is the reference everywhere
    assert (rows[:, 1] == rows[:, 3]).all()  # S0:1 = S1:1: one copy
    starts = np.asarray(group["hap_segment_start"][:10])
    gap = (starts >= 16) & (starts < 24)
    assert (rows[gap, 2] == -1).all()  # S1:0 has no value there: nothing stored
    # distinct non-reference columns: S0:1/S1:1, S1:0 (where valued), S2:0, S2:1
    want = sum(((3 if g else 4) * 3) for g in gap)
    assert int(group["completion/hap_row_counts"][0]) == want


def test_a_whole_genome_cohort_shaped_store_opens_and_reads_a_region_quickly(tmp_path):
    """3e9 bases x 6,404 haplotypes: the hap_row axis is 1.9e13 rows (1.2e9 chunks, two
    units written). Opening it and reading 1,000 bases of a haplotype from the view must
    touch only those units: an integer-array zarr selection on that axis took 17 s and
    GBs of memory per unit (its cost grows with the chunk count); slices take < 0.1 s."""
    import time

    from ntscale.store import open as open_store
    from ntscale.store.perbase_haps import HapSegments

    h, ub = 6404, 48_000
    layout = StoreLayout(n_windows=0, unit_windows=1, n_bases=62_500 * ub, unit_bases=ub,
                         track_names=("a", "b"), n_intervals=1, base_haplotypes=h,
                         base_hap_segments=4)  # fmt: skip
    url = str(tmp_path / "g.zarr")
    names = [f"S{i}:{p}" for i in range(h // 2) for p in (0, 1)]
    w = create_or_open(url, layout, fingerprint={"job": "hand"}, attrs={},
                       contigs=[("c", layout.n_bases)], haplotype_names=names)  # fmt: skip
    rng = np.random.default_rng(3)
    want = {}
    for u in (0, 31_250):
        lo, hi = layout.base_rows(u)
        bounds = np.linspace(lo, hi, 5).astype(np.int64)
        pick = rng.integers(-2, 3, size=(4, h))  # -2 reference, -1 none, 0..2 a distinct one
        seg_len = np.diff(bounds)
        first_of_seg = 3 * np.concatenate([[0], np.cumsum(seg_len[:-1])])  # 3 copies each
        row = np.where(pick >= 0, pick * seg_len[:, None] + first_of_seg[:, None], pick)
        values = rng.random((3 * (hi - lo), 2), dtype=np.float32)
        ref = rng.random((hi - lo, 2), dtype=np.float32)
        w.write_base_unit(u, ref, HapSegments(bounds[:-1], bounds[1:], row, values))
        k = 1  # the second segment, haplotype 7
        seg_values = {-2: ref[bounds[k] - lo : bounds[k] - lo + 1000], -1: np.nan}
        p = int(pick[k, 7])
        first = int(row[k, 7])
        want[u] = seg_values[p] if p < 0 else values[first : first + 1000]
    t0 = time.perf_counter()
    assert "hap_perbase_values" in open_store(url).data_vars
    view = haplotype_perbase(url, [names[7]])
    for u in (0, 31_250):
        a = layout.base_rows(u)[0] + ub // 4
        got = view.isel(base=slice(a, a + 1000)).values[:, 0]
        np.testing.assert_array_equal(got, np.broadcast_to(want[u], got.shape).astype("f2"))
    assert time.perf_counter() - t0 < 30  # seconds, on a loaded 2-core machine
