"""A driver process for the lease tests: create a store, report, hold it until told to stop.

Usage: python lease_worker.py URL DTYPE GO_FILE STOP_FILE
Prints one JSON line: {"ok": true, "pid": ...} or {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import ntscale.store as st
from ntscale.errors import StoreError

CONTIGS = [("chr1", 5_000)]


def main() -> int:
    url, dtype, go, stop = sys.argv[1:5]
    layout = st.StoreLayout(n_windows=8, unit_windows=2, layers=(1,), embed_dim=4)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    while not Path(go).exists():  # start together: the race is on creating the store
        time.sleep(0.005)
    try:
        st.create_or_open(
            url, layout, fingerprint={"dtype": dtype}, attrs={"run": dtype}, contigs=CONTIGS
        )
    except StoreError as e:
        print(json.dumps({"ok": False, "error": str(e)}), flush=True)
        return 2
    print(json.dumps({"ok": True, "pid": os.getpid()}), flush=True)
    deadline = time.monotonic() + 60
    while not Path(stop).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if sys.argv[5:] == ["crash"]:
        raise RuntimeError("the run failed")  # the lease must still be released (atexit)
    st.finalize(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
