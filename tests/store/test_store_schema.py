"""The layout arithmetic, fingerprint diffs and schema checks of store/schema.py, and the
reader's status names, variable order and summaries of score-only stores."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import zarr
from store_workers import CONTIGS

import ntscale.store as st
from ntscale.errors import StoreError
from ntscale.store import schema
from ntscale.store.reader import variant_status_names, window_status_names
from ntscale.types import WindowStatus


def test_unit_rows_cover_every_row_once_with_a_short_last_unit() -> None:
    layout = st.StoreLayout(n_windows=11, unit_windows=4, n_variants=5, unit_variants=2)
    assert layout.n_window_units == 3  # ceil(11 / 4)
    assert layout.n_variant_units == 3  # ceil(5 / 2)
    assert [layout.window_rows(k) for k in range(3)] == [(0, 4), (4, 8), (8, 11)]
    assert [layout.variant_rows(k) for k in range(3)] == [(0, 2), (2, 4), (4, 5)]
    rows = np.concatenate([np.arange(*layout.window_rows(k)) for k in range(3)])
    np.testing.assert_array_equal(rows, np.arange(11))
    with pytest.raises(StoreError, match=re.escape("variant unit 3 is out of range")):
        layout.variant_rows(3)


def test_exact_multiple_has_no_extra_unit_and_empty_layout_has_none() -> None:
    assert st.StoreLayout(n_windows=12, unit_windows=4).n_window_units == 3
    empty = st.StoreLayout(n_windows=0, unit_windows=4)
    assert empty.n_window_units == 0 and empty.n_variant_units == 0
    with pytest.raises(StoreError, match=re.escape("the store has 0 units")):
        empty.window_rows(0)


@pytest.mark.parametrize(
    ("layout", "has_windows"),
    [
        (st.StoreLayout(n_windows=3, unit_windows=2), True),
        (st.StoreLayout(n_windows=0, unit_windows=2, layers=(1,), embed_dim=2), True),
        (st.StoreLayout(n_windows=0, unit_windows=2, n_variants=4, score_names=("llr",)), False),
    ],
)
def test_has_windows_means_an_embedding_store(layout: st.StoreLayout, has_windows: bool) -> None:
    assert layout.has_windows is has_windows


def test_layout_json_round_trip_turns_tuples_into_lists() -> None:
    layout = st.StoreLayout(
        n_windows=9, unit_windows=3, layers=[4, 2], embed_dim=8, cls=True, per_token=True,
        max_tokens=5, per_token_dtype="float32", n_variants=2, unit_variants=1,
        score_names=["b", "a"], codec="blosc",
    )  # fmt: skip
    assert layout.layers == (4, 2) and layout.score_names == ("b", "a")  # order kept
    plain = layout.to_json()
    assert plain["layers"] == [4, 2] and plain["score_names"] == ["b", "a"]
    assert st.StoreLayout.from_json(plain) == layout


def test_several_layout_problems_are_listed_together() -> None:
    with pytest.raises(StoreError) as info:
        st.StoreLayout(n_windows=-2, unit_windows=0, n_variants=-1, unit_variants=0)
    assert str(info.value) == (
        "invalid store layout: n_windows=-2 must be >= 0; unit_windows=0 must be >= 1; "
        "n_variants=-1 must be >= 0; unit_variants=0 must be >= 1"
    )
    with pytest.raises(StoreError, match=re.escape("score_names=('llr', 'llr') must be distinct")):
        st.StoreLayout(n_windows=1, unit_windows=1, score_names=("llr", "llr"))
    with pytest.raises(StoreError, match=re.escape("score_names=('',) must be distinct")):
        st.StoreLayout(n_windows=1, unit_windows=1, score_names=("",))


def test_embedding_kinds_and_array_names() -> None:
    base = dict(n_windows=1, unit_windows=1, layers=(1,), embed_dim=2, max_tokens=3)
    assert schema.embedding_kinds(st.StoreLayout(**base)) == ("mean",)
    assert schema.embedding_kinds(st.StoreLayout(**base, per_token=True)) == ("mean", "tokens")
    both = st.StoreLayout(**base, per_token=True, cls=True)
    assert schema.embedding_kinds(both) == ("mean", "cls", "tokens")
    assert schema.embedding_name("cls") == "embedding_cls"
    assert schema.score_name("llr_wt") == "score_llr_wt"


def test_to_plain_and_flatten() -> None:
    value = {"a": (1, 2), "b": {"c": np.int64(3), "d": np.array([0.5])}, "e": Path("/x")}
    assert schema.to_plain(value) == {"a": [1, 2], "b": {"c": 3, "d": [0.5]}, "e": "/x"}
    assert schema.flatten({"a": {"b": {"c": 1}, "d": []}, "e": 2}) == {
        "a.b.c": 1,
        "a.d": [],
        "e": 2,
    }


def test_fingerprint_diff_compares_nested_values_as_plain_json() -> None:
    stored = {"model": {"name": "m", "layers": [6, 12]}, "window_bp": 600, "strands": ["+"]}
    same = {"model": {"name": "m", "layers": (6, 12)}, "window_bp": np.int32(600),
            "strands": ("+",)}  # fmt: skip
    assert schema.diff_fingerprints(stored, same) == []
    changed = {**same, "model": {"name": "m", "layers": (6,)}, "window_bp": 500}
    assert schema.diff_fingerprints(stored, changed) == [
        "model.layers: store has [6, 12], this run has [6]",
        "window_bp: store has 600, this run has 500",
    ]


def test_long_lists_of_different_length_name_the_first_missing_entry() -> None:
    stored = [[f"chr{i}", 1000 + i] for i in range(30)]
    assert schema.diff_fingerprints({"contigs": stored}, {"contigs": stored[:29]}) == [
        "contigs: store has 30 entries, this run has 29; first difference at entry 29: "
        "store has ['chr29', 1029], this run has <absent>"
    ]


@pytest.mark.parametrize("version", [0, "2", 2.0, None])
def test_invalid_schema_versions_are_refused(version: object) -> None:
    attrs = {} if version is None else {"schema_version": version}
    with pytest.raises(StoreError) as info:
        schema.check_schema_version(attrs, "s.zarr")
    if version is None:
        assert "is a Zarr group but not an ntscale store" in str(info.value)
    else:
        assert str(info.value) == f"'s.zarr' has an invalid schema_version {version!r}"
    schema.check_schema_version({"schema_version": schema.SCHEMA_VERSION}, "s.zarr")


def test_status_name_tables() -> None:
    names = window_status_names()
    assert names[0] == "OK" and names[2] == "SKIPPED_ALL_N" and names[255] == "PENDING"
    assert len(names) == len(WindowStatus)
    assert variant_status_names({}) == {255: "pending"}
    assert variant_status_names({"variant_status_names": {"0": "ok", "3": "no_llr_not_snv"}}) == {
        0: "ok",
        3: "no_llr_not_snv",
        255: "pending",
    }


def _score_store(url: str, score_names: tuple[str, ...]) -> st.StoreWriter:
    layout = st.StoreLayout(n_windows=0, unit_windows=1, n_variants=5, unit_variants=2,
                            score_names=score_names)  # fmt: skip
    return st.create_or_open(
        url, layout, fingerprint={}, attrs={"variant_status_names": {"0": "ok"}}, contigs=CONTIGS
    )


def _variant_rows(lo: int, hi: int) -> dict[str, np.ndarray]:
    n = hi - lo
    return {
        "contig": np.array(["chr2"] * n),
        "pos": np.arange(lo, hi) * 10,
        "id": np.array([f"v{i}" for i in range(lo, hi)]),
        "ref": np.array(["A"] * n),
        "alt": np.array(["G"] * n),
        "status": np.zeros(n, np.uint8),
    }


def test_score_only_store_reads_without_window_arrays(tmp_path: Path) -> None:
    url = str(tmp_path / "scores.zarr")
    writer = _score_store(url, ("zeta", "alpha"))
    for unit in (0, 2):
        lo, hi = writer.layout.variant_rows(unit)
        scores = {"zeta": np.arange(lo, hi) * 1.0, "alpha": -np.arange(lo, hi) * 1.0}
        writer.write_variant_unit(unit, variants=_variant_rows(lo, hi), scores=scores)
        writer.mark_done(unit, part="variants")
    ds = st.open(url)
    assert list(ds.data_vars) == ["score_zeta", "score_alpha"]  # as the run named them
    assert "window" not in ds.sizes and "layer" not in ds.coords
    np.testing.assert_array_equal(ds.score_zeta.values[[0, 1, 4]], [0.0, 1.0, 4.0])
    assert np.isnan(ds.score_alpha.values[2:4]).all()  # unit 1 not written
    assert ds.variant_status.values.tolist() == ["ok", "ok", "pending", "pending", "ok"]
    summary = st.store_summary(url)
    assert summary["windows"] == {
        "rows": 0, "rows_done": 0, "units_total": 0, "units_done": 0, "by_status": {}
    }  # fmt: skip
    assert summary["variants"]["rows_done"] == 3
    assert summary["variants"]["by_status"] == {"pending": 2, "ok": 3}
    assert summary["complete"] is False
    report = st.verify(url)
    assert report["variants"]["not_done"] == [1] and report["ok"] is False
    assert report["windows"]["units_total"] == 0


def test_rows_written_but_not_marked_count_as_pending(tmp_path: Path) -> None:
    url = str(tmp_path / "unmarked.zarr")
    writer = _score_store(url, ("llr",))
    writer.write_variant_unit(
        2, variants=_variant_rows(4, 5), scores={"llr": np.array([0.5])}
    )  # written by a run killed before its done mark
    summary = st.store_summary(url)
    assert summary["variants"]["by_status"] == {"pending": 5}
    assert st.open(url).variant_status.values[4] == "ok"  # the row itself is there


def test_a_variable_added_by_a_user_is_kept(tmp_path: Path) -> None:
    url = str(tmp_path / "annotated.zarr")
    layout = st.StoreLayout(n_windows=4, unit_windows=2, layers=(1,), embed_dim=2)
    st.create_or_open(url, layout, fingerprint={}, attrs={}, contigs=CONTIGS)
    extra = zarr.open_group(url, mode="r+").create_array(
        "my_label", shape=(4,), chunks=(2,), dtype="int8", dimension_names=("window",)
    )
    extra[:] = np.array([1, 0, 1, 1], np.int8)
    ds = st.open(url)
    assert sorted(ds.data_vars) == ["embedding_mean", "my_label"]
    np.testing.assert_array_equal(ds.my_label.values, [1, 0, 1, 1])
    assert ds.start.dims == ("window",)  # the store's own coordinates as usual
