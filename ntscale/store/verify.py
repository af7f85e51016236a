"""Re-reading a store against the per-unit checksums written with the done marks.

A unit marked done whose chunks cannot be read (damaged or truncated object), or whose
values no longer match its checksum (a chunk deleted: it reads as fill values; or
changed), is reported as damaged; `repair=True` clears its done mark so that running the
same command again redoes it (a unit always writes the same bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ntscale.store import backend, lease
from ntscale.store.checksum import read_unit, unit_digest
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
from ntscale.store.writer import StoreWriter

_PARTS = {
    "windows": (WINDOW_UNITS_DONE, WINDOW_CHECKSUMS),
    "variants": (VARIANT_UNITS_DONE, VARIANT_CHECKSUMS),
    "bases": (BASE_UNITS_DONE, BASE_CHECKSUMS),
}


def _check_unit(group: Any, layout: StoreLayout, part: str, unit: int, want: int) -> str | None:
    """Why a done unit fails verification, or None if it is intact."""
    if want == 0:
        return "done mark without a checksum"
    try:
        got = unit_digest(read_unit(group, layout, part, unit))
    except Exception as e:  # noqa: BLE001 - any decode/read failure means a damaged chunk
        return f"unreadable chunk: {type(e).__name__}: {e}"
    if got != want:
        return "stored values differ from the checksum of the done mark (chunk missing or changed)"
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
    group, _, layout = _open_root(url)
    report: dict[str, Any] = {"url": url, "ok": True, "repaired": 0}
    damaged_units: dict[str, list[int]] = {}
    for part, (done_path, sum_path) in _PARTS.items():
        n_units = layout.n_units(part)
        if (part == "variants" and not layout.n_variants) or (
            part == "bases" and not layout.n_bases
        ):
            continue
        done = np.asarray(group[done_path][:], dtype=bool)
        sums = np.asarray(group[sum_path][:], dtype=np.uint64)
        damaged = []
        for unit in np.flatnonzero(done):
            reason = _check_unit(group, layout, part, int(unit), int(sums[unit]))
            if reason is not None:
                rows = layout.rows(part, int(unit))
                damaged.append(
                    {"unit": int(unit), "rows": [int(r) for r in rows], "reason": reason}
                )
        not_done = [int(u) for u in np.flatnonzero(~done)]
        report[part] = {
            "units_total": n_units,
            "units_done": int(done.sum()),
            "units_ok": int(done.sum()) - len(damaged),
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
