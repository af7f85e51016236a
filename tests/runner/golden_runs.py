"""Golden stored values: run a recorded CLI command, read back every stored number, compare.

Shared by tests/runner/test_golden_numbers.py (which compares) and scripts/make_golden.py
(which writes the files, on purpose only). One run is two files in tests/data/golden/:
`<name>.json` (the command line, with `{repo}` and `{out}` placeholders, the store's string
values and number-carrying attributes) and `<name>.npz` (every numeric stored array, exact).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO_ROOT / "tests" / "data" / "golden"
BACKGROUND = "calibration/llr_wt_background"
NUMBER_ATTRS = ("calibration",)  # root attributes that hold stored numbers


def expand(argv: list[str], *, out: Path) -> list[str]:
    """The recorded command line with `{repo}` and `{out}` filled in."""
    return [a.replace("{repo}", str(REPO_ROOT)).replace("{out}", str(out)) for a in argv]


def run_cli(argv: list[str]) -> None:
    """Run `ntscale ARGV` in this process (the public entry point, as a shell would)."""
    from ntscale.cli.main import main

    try:
        main(argv)
    except SystemExit as e:  # main exits only on failure (or with 0 from typer)
        if e.code not in (0, None):
            raise AssertionError(f"ntscale {' '.join(argv)} exited with {e.code}") from e


def snapshot(store: Path, *, frame: bool) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """(numeric arrays, string arrays as lists) of everything a store holds that is a stored number,
    status or label: every variable and coordinate of the root Dataset, the calibration
    histogram (as its non-zero cells) and tables, and with `frame` the exported columns
    derived at export time (`*_pct`)."""
    import zarr

    import ntscale.store
    from ntscale.store.export import variant_frame

    ds = ntscale.store.open(str(store))
    if "sequence_index" in ds.variables:
        # cohort store (schema 3): the goldens hold one row per (window, haplotype);
        # compare each haplotype's values, read through sequence_index
        ds = ntscale.store.haplotype_rows(ds)
    arrays: dict[str, np.ndarray] = {}
    strings: dict[str, list] = {}
    for name in sorted(map(str, ds.variables)):
        values = np.asarray(ds[name].values)
        if values.dtype.kind in "biuf":
            arrays[name] = values
        else:
            strings[name] = [str(v) for v in values.ravel().tolist()]
    for key in NUMBER_ATTRS:
        if key in ds.attrs:
            _flatten(f"attrs:{key}", ds.attrs[key], arrays)
    group = zarr.open_group(str(store), mode="r")
    if BACKGROUND in group:
        hist = np.asarray(group[BACKGROUND][...])
        flat = hist.ravel()
        cells = np.flatnonzero(flat)
        arrays[f"{BACKGROUND}:shape"] = np.asarray(hist.shape, np.int64)
        arrays[f"{BACKGROUND}:cells"] = cells.astype(np.int64)
        arrays[f"{BACKGROUND}:counts"] = flat[cells]
    if frame:
        table = variant_frame(str(store))
        for col in table.columns:
            if str(col).endswith("_pct"):
                arrays[f"frame:{col}"] = table[col].to_numpy()
    return arrays, strings


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flatten(path: str, value: Any, arrays: dict[str, np.ndarray]) -> None:
    """The numbers of a JSON attribute into `arrays` (exact; a mapping of equal-length
    number lists, e.g. quantiles per stratum, as one keys array + one matrix); its text
    (descriptions) is not a stored number and is left out."""
    if isinstance(value, dict) and value:
        items = list(value.values())
        lists = all(isinstance(v, list) and all(map(_is_number, v)) for v in items)
        if lists and len({len(v) for v in items}) == 1 or all(map(_is_number, items)):
            arrays[f"{path}:keys"] = np.asarray([str(k) for k in value])
            arrays[f"{path}:values"] = np.asarray(items)
            return
        for key, item in value.items():
            _flatten(f"{path}/{key}", item, arrays)
    elif _is_number(value) or (isinstance(value, list) and value and all(map(_is_number, value))):
        arrays[path] = np.asarray(value)


def load(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the run's JSON record, its arrays) from tests/data/golden/."""
    record = json.loads((GOLDEN_DIR / f"{name}.json").read_text())
    with np.load(GOLDEN_DIR / f"{name}.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return record, arrays


def run_names() -> list[str]:
    """Every recorded run (a `<name>.json` beside its `<name>.npz`)."""
    return sorted(p.stem for p in GOLDEN_DIR.glob("*.json") if p.with_suffix(".npz").exists())


def differences(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> list[str]:
    """What differs between two snapshots' arrays: names, dtypes, shapes, values (exact;
    NaN equals NaN at the same place)."""
    out = [f"{k}: missing" for k in sorted(set(expected) - set(actual))]
    out += [f"{k}: not in the golden set" for k in sorted(set(actual) - set(expected))]
    for k in sorted(set(expected) & set(actual)):
        a, b = expected[k], actual[k]
        if a.dtype != b.dtype or a.shape != b.shape:
            out.append(f"{k}: {a.dtype}{a.shape} expected, got {b.dtype}{b.shape}")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            bad = ~((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b)
            first = np.argwhere(bad)[0].tolist()
            out.append(
                f"{k}: {int(bad.sum())} of {a.size} values differ, first at {first}: "
                f"{a[tuple(first)]!r} expected, got {b[tuple(first)]!r}"
            )
    return out
