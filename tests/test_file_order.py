"""The xdist file order: test files go to the workers longest first, from the seconds a
recorded run took per file (tests/file_seconds.json, written by tests/file_seconds.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from file_seconds import FILE_SECONDS, file_seconds, longest_files_first, recorded_seconds

REPO_ROOT = Path(__file__).resolve().parents[1]

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.a.test_short" name="test_one" time="1.5"/>
<testcase classname="tests.a.test_short" name="test_two[x]" time="0.5"/>
<testcase classname="tests.b.test_long" name="test_ray" time="40.25"/>
<testcase classname="tests.b.test_long.TestGroup" name="test_in_a_class" time="2.0"/>
<testcase classname="tests.test_top" name="test_skipped" time="0.0"><skipped/></testcase>
</testsuite></testsuites>
"""


class Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def test_files_are_summed_from_a_junit_report_longest_first(tmp_path: Path) -> None:
    report = tmp_path / "suite.xml"
    report.write_text(JUNIT)
    got = file_seconds(report)
    assert got == {"tests/b/test_long.py": 42.25, "tests/a/test_short.py": 2.0,
                   "tests/test_top.py": 0.0}  # fmt: skip
    assert list(got) == ["tests/b/test_long.py", "tests/a/test_short.py", "tests/test_top.py"]


def test_the_script_writes_the_file_conftest_reads(tmp_path: Path) -> None:
    report, out = tmp_path / "suite.xml", tmp_path / "seconds.json"
    report.write_text(JUNIT)
    script = REPO_ROOT / "tests" / "file_seconds.py"
    proc = subprocess.run([sys.executable, str(script), str(report), "--out", str(out)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "3 files" in proc.stdout
    assert recorded_seconds(out)["tests/b/test_long.py"] == 42.25


def test_longest_files_go_first_and_each_file_keeps_its_order() -> None:
    ids = ["t/a.py::x", "t/a.py::y", "t/new.py::n", "t/b.py::p", "t/c.py::q", "t/b.py::r"]
    items = [Item(i) for i in ids]
    longest_files_first(items, {"t/a.py": 3.0, "t/b.py": 50.0, "t/c.py": 0.5})
    assert [i.nodeid for i in items] == [
        "t/b.py::p", "t/b.py::r", "t/a.py::x", "t/a.py::y", "t/c.py::q", "t/new.py::n",
    ]  # fmt: skip


def test_the_recorded_seconds_name_files_of_this_suite() -> None:
    recorded = recorded_seconds()
    assert len(recorded) > 150
    missing = [f for f in recorded if not (REPO_ROOT / f).is_file()]
    assert not missing, f"stale entries in {FILE_SECONDS.name} (rerun tests/file_seconds.py)"
    assert all(isinstance(s, float) and s >= 0 for s in recorded.values())


@pytest.mark.skipif(not os.environ.get("PYTEST_XDIST_WORKER"), reason="xdist workers only")
def test_this_worker_collected_the_longest_recorded_file_first(request) -> None:
    recorded = recorded_seconds()
    files = list(dict.fromkeys(i.nodeid.split("::")[0] for i in request.session.items))
    known = [f for f in files if f in recorded]
    assert files[: len(known)] == known  # files on record first, the others after them
    assert known == sorted(known, key=lambda f: -recorded[f])
