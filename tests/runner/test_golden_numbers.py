"""No stored number changes by accident: today's embeddings, scores and statuses, rebuilt.

Each golden run in tests/data/golden/ (discovered from its files: adding a run to
scripts/make_golden.py and regenerating needs no change here) is run again through the
public CLI with the bundled tiny checkpoints and inputs, and everything its store holds
(every variable and coordinate, the calibration histogram and quantile tables, the
exported percentiles) must equal the recorded values exactly, NaN where NaN was.
When a number is *meant* to change, regenerate with scripts/make_golden.py and say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_runs import GOLDEN_DIR, differences, expand, load, run_cli, run_names, snapshot

RUNS = run_names()


def test_golden_set_is_complete():
    # a .json without its .npz (or the reverse) would silently drop a run from the check
    stems = {p.stem for p in GOLDEN_DIR.glob("*.npz")} ^ {p.stem for p in GOLDEN_DIR.glob("*.json")}
    assert not stems, f"golden runs with only one of .json/.npz: {sorted(stems)}"
    kinds = {name.split("_")[0] for name in RUNS}
    assert {"embed", "score"} <= kinds, RUNS


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNS)
def test_stored_numbers_equal_the_golden_values(name: str, tmp_path: Path):
    record, expected = load(name)
    run_cli(expand(record["argv"], out=tmp_path))
    arrays, strings = snapshot(
        Path(expand([record["store"]], out=tmp_path)[0]), frame=record["frame"]
    )
    hint = (
        f"\nstored values of golden run {name!r} changed. If the change is meant (and only "
        f"then), regenerate: scripts/make_golden.py --only {name}, and say why in the commit"
    )
    assert not differences(expected, arrays), "\n".join(differences(expected, arrays)) + hint
    for key in sorted(set(record["strings"]) | set(strings)):
        assert strings.get(key) == record["strings"].get(key), f"{key} differs" + hint


def test_the_comparison_sees_one_ulp_and_treats_nan_as_equal_only_to_nan():
    import numpy as np

    a = {"score": np.array([1.5, np.nan, -0.25], np.float32), "status": np.array([0, 4], np.uint8)}
    same = {k: v.copy() for k, v in a.items()}
    assert differences(a, same) == []  # NaN at the same place is equal
    nudged = {**same, "score": same["score"].copy()}
    nudged["score"][2] = np.nextafter(np.float32(-0.25), np.float32(0))
    assert differences(a, nudged) == [
        "score: 1 of 3 values differ, first at [2]: np.float32(-0.25) expected, "
        "got np.float32(-0.24999999)"
    ]
    filled = {**same, "score": np.array([1.5, 0.0, -0.25], np.float32)}
    assert differences(a, filled)[0].startswith("score: 1 of 3 values differ, first at [1]")
    widened = {**same, "score": same["score"].astype(np.float64)}
    assert differences(a, widened) == ["score: float32(3,) expected, got float64(3,)"]
    assert differences(a, {"score": a["score"], "extra": a["status"]}) == [
        "status: missing",
        "extra: not in the golden set",
    ]
