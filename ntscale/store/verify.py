"""Re-reading a store against the per-unit checksums written with the done marks.

A unit marked done whose objects no longer match its checksum (a chunk damaged,
truncated, deleted, or swapped in from another unit) is reported as damaged, and so is a
unit whose done mark or checksum chunk itself cannot be read; `repair=True` clears their
done marks so that running the same command again redoes them (a unit always writes the
same bytes). Stores with object checksums (checksum.CHECKSUM_KIND) are checked on raw
bytes, one object at a time: memory stays O(chunk) whatever the damage.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ntscale.store import backend, lease
from ntscale.store.checksum import stored_digest
from ntscale.store.reader import _open_root
from ntscale.store.schema import (
    BASE_CHECKSUMS,
    BASE_UNITS_DONE,
    VARIANT_CHECKSUMS,
    VARIANT_UNITS_DONE,
    WINDOW_CHECKSUMS,
    WINDOW_UNITS_DONE,
    StoreLayout,
)
from ntscale.store.writer import StoreWriter, read_marks

_PARTS = {
    "windows": (WINDOW_UNITS_DONE, WINDOW_CHECKSUMS),
    "variants": (VARIANT_UNITS_DONE, VARIANT_CHECKSUMS),
    "bases": (BASE_UNITS_DONE, BASE_CHECKSUMS),
}


def _check_unit(
    group: Any, layout: StoreLayout, url: str, kind: str | None, part: str, unit: int, want: int
) -> str | None:
    """Why a done unit fails verification, or None if it is intact."""
    if want == 0:
        return "done mark without a checksum"
    try:
        got = stored_digest(group, layout, url, part, unit, kind)
    except Exception as e:  # noqa: BLE001 - any decode/read failure means a damaged chunk
        return f"unreadable chunk: {type(e).__name__}: {e}"
    if got != want:
        return (
            "stored values differ from the checksum of the done mark "
            "(chunk damaged, missing, changed or moved)"
        )
    return None


def verify(url: str, *, repair: bool = False) -> dict[str, Any]:
    """Re-read every done unit of a store and compare it with its checksum.

    Args:
        url: the store.
        repair: clear the done marks of damaged units (takes the store's run lease).

    Returns:
        {"url", "ok" (every unit done and intact), "repaired" (units cleared), and per part
        ("windows", "variants"): {"units_total", "units_done", "units_ok", "damaged":
        [{"unit", "rows", "reason"}], "not_done": [unit, ...]}}.

    Raises:
        StoreError: no store, another schema version, or (repair) the store is in use.
    """
    url = str(url)
    group, attrs, layout = _open_root(url)
    kind = attrs.get("checksums")
    report: dict[str, Any] = {"url": url, "ok": True, "repaired": 0}
    damaged_units: dict[str, list[int]] = {}
    for part, (done_path, sum_path) in _PARTS.items():
        n_units = layout.n_units(part)
        if (part == "variants" and not layout.n_variants) or (
            part == "bases" and not layout.n_bases
        ):
            continue
        done_values, bad_done = read_marks(group[done_path])
        sum_values, bad_sums = read_marks(group[sum_path])
        done = np.asarray(done_values, dtype=bool)
        sums = np.asarray(sum_values, dtype=np.uint64)
        damaged = []
        for unit in range(n_units):
            if unit in bad_done or unit in bad_sums:
                what, why = (done_path, bad_done[unit]) if unit in bad_done else (
                    sum_path, bad_sums[unit])  # fmt: skip
                reason = f"damaged completion mark ({what} chunk {unit} unreadable: {why})"
            elif done[unit]:
                reason = _check_unit(group, layout, url, kind, part, unit, int(sums[unit]))
            else:
                continue
            if reason is not None:
                rows = [int(r) for r in layout.rows(part, unit)]
                damaged.append({"unit": unit, "rows": rows, "reason": reason})
        damaged_set = {d["unit"] for d in damaged}
        not_done = [int(u) for u in np.flatnonzero(~done) if int(u) not in damaged_set]
        report[part] = {
            "units_total": n_units,
            "units_done": int(done.sum()),
            "units_ok": int(done.sum()) - len(damaged_set & set(np.flatnonzero(done).tolist())),
            "damaged": damaged,
            "not_done": not_done,
        }
        report["ok"] = report["ok"] and not damaged and not not_done
        damaged_units[part] = [d["unit"] for d in damaged]
    if repair and any(damaged_units.values()):
        backend.check_writable(url)
        lease.acquire(url)
        try:
            writer = StoreWriter(url)
            for part, units in damaged_units.items():
                writer.clear_done(units, part=part)
                report["repaired"] += len(units)
        finally:
            lease.release(url)
    return report
