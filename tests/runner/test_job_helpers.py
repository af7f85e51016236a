"""The unit-to-row arithmetic every job uses, and the `last_run` record of row jobs."""

from __future__ import annotations

import pytest

from ntscale.runner.job import UnitResult, count_units, row_run_summary, unit_span


@pytest.mark.parametrize(
    ("n_rows", "per_unit", "units"),
    [(0, 4, 0), (1, 4, 1), (4, 4, 1), (5, 4, 2), (8, 4, 2), (9, 4, 3), (7, 1, 7), (3, 100, 1)],
)
def test_count_units_is_the_ceiling_of_rows_per_unit(n_rows, per_unit, units):
    assert count_units(n_rows, per_unit) == units


@pytest.mark.parametrize(("n_rows", "per_unit"), [(1, 1), (10, 3), (12, 3), (5, 8), (97, 16)])
def test_unit_spans_tile_the_rows_exactly_once(n_rows, per_unit):
    spans = [unit_span(u, per_unit, n_rows) for u in range(count_units(n_rows, per_unit))]
    covered = [row for a, b in spans for row in range(a, b)]
    assert covered == list(range(n_rows))  # in order, no gap, no overlap
    assert all(b - a == per_unit for a, b in spans[:-1])  # only the last may be short
    assert 1 <= spans[-1][1] - spans[-1][0] <= per_unit


def test_unit_span_edges():
    assert unit_span(0, 4, 10) == (0, 4)
    assert unit_span(2, 4, 10) == (8, 10)  # the short last unit
    assert unit_span(0, 4, 3) == (0, 3)  # fewer rows than one unit


def test_row_run_summary_adds_units_statuses_and_rate():
    results = [
        UnitResult(unit=0, n_rows=4, status_counts={"ok": 3, "ref_mismatch": 1}, model_seconds=0.5),
        UnitResult(
            unit=3, n_rows=2, status_counts={"ok": 1, "no_llr_not_snv": 1}, model_seconds=1.25
        ),
    ]
    got = row_run_summary(iter(results), 2.0, rows="variants")
    assert got == {
        "units_run": 2,
        "variants_run": 6,
        "by_status": {"ok": 4, "ref_mismatch": 1, "no_llr_not_snv": 1},
        "seconds": 2.0,
        "model_seconds": 1.75,
        "variants_per_second": 3.0,
        "device_rows": 0,
        "useful_rows": 0,
        "device_rows_per_useful": None,  # no row counts reported
    }


def test_row_run_summary_of_an_empty_or_instant_run():
    assert row_run_summary([], 0.0, rows="bases") == {
        "units_run": 0,
        "bases_run": 0,
        "by_status": {},
        "seconds": 0.0,
        "model_seconds": 0.0,
        "bases_per_second": None,  # no rate from zero seconds
        "device_rows": 0,
        "useful_rows": 0,
        "device_rows_per_useful": None,
    }
    assert row_run_summary([UnitResult(unit=0, n_rows=3)], 0.0004, rows="bases")["seconds"] == 0.0


def test_row_run_summary_adds_device_rows_run_and_useful():
    results = [
        UnitResult(unit=0, n_rows=5, device_rows=8, useful_rows=5),
        UnitResult(unit=1, n_rows=3, device_rows=4, useful_rows=3),
    ]
    got = row_run_summary(results, 1.0, rows="variants")
    assert (got["device_rows"], got["useful_rows"]) == (12, 8)
    assert got["device_rows_per_useful"] == 1.5
