"""Write tests/file_seconds.json from a whole-suite JUnit report: the seconds each test file
took (set-up, call and tear-down of its tests), which `longest_files_first` (called by
tests/conftest.py) uses to hand the longest files to the xdist workers first.

    ./scripts/run-tests.sh -q --junitxml=/tmp/suite.xml
    .venv/bin/python tests/file_seconds.py /tmp/suite.xml

Refresh it when a test file becomes much longer or shorter; a file not on record still runs
(after the recorded ones)."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

FILE_SECONDS = Path(__file__).resolve().parent / "file_seconds.json"


def recorded_seconds(path: Path = FILE_SECONDS) -> dict[str, float]:
    """{test file path: seconds} as `main` wrote them."""
    return json.loads(path.read_text())["seconds"]


def longest_files_first(items: list, seconds: dict[str, float]) -> None:
    """Order pytest `items` by their file's recorded seconds, longest first (a stable sort:
    a file's tests keep their order; files not on record keep theirs, after the others).

    Under pytest-xdist's `--dist loadfile --no-loadscope-reorder` (scripts/run-tests.sh) the
    workers take whole files in this order, so the long Ray and CLI files start early and
    the run does not end with one worker on a long file while the other is idle."""
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::", 1)[0], 0.0))


def file_seconds(junit_xml: Path) -> dict[str, float]:
    """{test file path: seconds} summed over the report's test cases, longest first."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        # classname is the dotted module path, then any test class (capitalised)
        parts = [p for p in module if not p[:1].isupper()]
        totals["/".join(parts) + ".py"] += float(case.get("time", 0.0))
    return dict(sorted(((f, round(t, 2)) for f, t in totals.items()), key=lambda kv: -kv[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("junit_xml", type=Path, help="pytest --junitxml report of a whole run")
    p.add_argument("--out", type=Path, default=FILE_SECONDS)
    args = p.parse_args()
    seconds = file_seconds(args.junit_xml)
    note = f"seconds per test file from {args.junit_xml.name}; written by tests/file_seconds.py"
    args.out.write_text(json.dumps({"note": note, "seconds": seconds}, indent=1) + "\n")
    print(f"{len(seconds)} files, {sum(seconds.values()):.0f} s in all -> {args.out}")


if __name__ == "__main__":
    main()
