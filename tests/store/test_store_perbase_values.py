"""Per-base stores with values chosen by hand: BED lines worked out on paper, the
edges of the threshold and of blocks, and the errors of the per-base writer and verify."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from ntscale.errors import StoreError
from ntscale.store import StoreLayout, create_or_open, finalize, open_writer, verify
from ntscale.store.perbase_export import export_bed, export_bigwig, iter_intervals
from ntscale.store.schema import BASE_CHECKSUMS

NAN = np.nan
# contig c: interval [2, 10) then an N gap, then [12, 18); one track "t"
FIRST = [0.1, 0.5, 0.75, 1.0, 0.25, 0.5, 0.5, 0.5]
SECOND = [0.5, NAN, 0.75, 0.75, 0.0, 1.0]
# threshold 0.5 (inclusive): the runs and their score (1000 x max) and mean, by hand
WANT = [
    "c\t3\t6\tt\t1000\t.\t0.7500",
    "c\t7\t10\tt\t500\t.\t0.5000",  # reaches the interval end; the gap keeps it apart
    "c\t12\t13\tt\t500\t.\t0.5000",  # NaN right after it ends the run
    "c\t14\t16\tt\t750\t.\t0.7500",
    "c\t17\t18\tt\t1000\t.\t1.0000",
]


def _hand_store(tmp_path, *, unit_bases: int = 4) -> str:
    url = str(tmp_path / "hand.zarr")
    values = np.array(FIRST + SECOND, np.float32)[:, None]
    layout = StoreLayout(n_windows=0, unit_windows=1, n_bases=14, unit_bases=unit_bases,
                         track_names=("t",), n_intervals=2, base_dtype="float32")  # fmt: skip
    w = create_or_open(url, layout, fingerprint={"job": "hand"}, attrs={}, contigs=[("c", 20)])
    w.write_intervals(
        {
            "contig": np.array(["c", "c"]),
            "start": np.array([2, 12]),
            "end": np.array([10, 18]),
            "offset": np.array([0, 8]),
            "status": np.array(["valued", "valued"]),
        }
    )
    for u in range(layout.n_base_units):
        lo, hi = layout.base_rows(u)
        w.write_base_unit(u, values[lo:hi])
        w.mark_done(u, part="bases")
    finalize(url)
    return url


@pytest.mark.parametrize("block", [1, 2, 3, 100])
def test_bed_lines_equal_the_hand_worked_runs_for_any_block(tmp_path, block):
    url = _hand_store(tmp_path)
    path, n = export_bed(url, tmp_path / "e.bed", block_bases=block)
    assert path.read_text().splitlines() == WANT
    assert n == len(WANT)


def test_a_higher_threshold_keeps_only_the_top_runs(tmp_path):
    url = _hand_store(tmp_path)
    path, n = export_bed(url, tmp_path / "e.bed", thresholds={"t": 0.75})
    # 0.75 itself counts (at least the threshold); 0.5 runs drop out, [4, 6) stays one run
    assert path.read_text().splitlines() == [
        "c\t4\t6\tt\t1000\t.\t0.8750",
        "c\t14\t16\tt\t750\t.\t0.7500",
        "c\t17\t18\tt\t1000\t.\t1.0000",
    ]
    assert n == 3


def test_no_element_above_the_threshold_writes_an_empty_bed(tmp_path):
    url = _hand_store(tmp_path)
    path, n = export_bed(url, tmp_path / "sub" / "none.bed", thresholds=1.5)
    assert n == 0 and path.exists() and path.read_text() == ""


def test_intervals_come_back_in_blocks_that_never_cross_a_gap(tmp_path):
    url = _hand_store(tmp_path, unit_bases=3)
    blocks = list(iter_intervals(url, block_bases=5))
    assert [(c, s, len(v)) for c, s, v in blocks] == [("c", 2, 5), ("c", 7, 3), ("c", 12, 5),
                                                      ("c", 17, 1)]  # fmt: skip
    np.testing.assert_array_equal(blocks[1][2][:, 0], np.array(FIRST[5:], np.float32))
    assert np.isnan(blocks[2][2][1, 0])


def test_exports_of_a_store_without_bases_say_so(tmp_path):
    url = str(tmp_path / "win.zarr")
    create_or_open(url, StoreLayout(n_windows=2, unit_windows=1), fingerprint={}, attrs={},
                   contigs=[("c", 10)])  # fmt: skip
    finalize(url)
    with pytest.raises(StoreError, match="win.zarr.*has no per-base values"):
        export_bed(url, tmp_path / "x.bed")
    with pytest.raises(StoreError, match="has no per-base values"):
        export_bigwig(url, tmp_path / "x")


def test_interval_table_of_the_wrong_length_is_refused(tmp_path):
    url = _hand_store(tmp_path)
    w = open_writer(url)
    with pytest.raises(
        StoreError, match=r"interval column 'start' has shape \(3,\), expected \(2,\)"
    ):
        w.write_intervals({"contig": np.array(["c", "c"]), "start": np.arange(3)})


def test_base_unit_of_the_wrong_width_names_unit_and_rows(tmp_path):
    url = _hand_store(tmp_path)
    with pytest.raises(
        StoreError, match=r"base unit 3 \(rows 12-14\).*\(2, 2\), expected \(2, 1\)"
    ):
        open_writer(url).write_base_unit(3, np.zeros((2, 2)))


def test_verify_flags_a_done_mark_without_checksum_and_repair_clears_it(tmp_path):
    url = _hand_store(tmp_path)
    zarr.open_group(url, mode="r+")[BASE_CHECKSUMS][2] = 0
    report = verify(url)
    assert not report["ok"]
    assert report["bases"]["damaged"] == [
        {"unit": 2, "rows": [8, 12], "reason": "done mark without a checksum"}
    ]
    assert report["bases"]["units_ok"] == 3
    assert verify(url, repair=True)["repaired"] == 1
    assert open_writer(url).done_units("bases").tolist() == [True, True, False, True]
    again = verify(url)
    assert again["bases"]["damaged"] == [] and again["bases"]["not_done"] == [2]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_variants", -1, "n_variants=-1 must be >= 0"),
        ("unit_variants", 0, "unit_variants=0 must be >= 1"),
        ("n_haplotypes", -2, "n_haplotypes=-2 must be >= 0"),
        ("sequence_chunk", 0, "sequence_chunk=0 >= 1"),
        ("n_intervals", -1, "n_intervals=-1 must be >= 0"),
    ],
)
def test_layout_errors_name_the_field_and_its_value(field, value, message):
    with pytest.raises(StoreError, match=message):
        StoreLayout(n_windows=4, unit_windows=2, **{field: value})
