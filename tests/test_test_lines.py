"""Every package's tests are at least as long as its source (issue 12; scripts/test_lines.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("test_lines", ROOT / "scripts" / "test_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_count_lines_counts_physical_lines(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n\n# c\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2")
    (tmp_path / "notes.txt").write_text("not python\n" * 10)
    assert _script().count_lines(tmp_path) == 4
    assert _script().count_lines(tmp_path / "missing") == 0


def test_every_package_has_at_least_as_many_test_lines_as_source() -> None:
    rows = _script().table(ROOT)
    names = {r["package"] for r in rows}
    assert {"runner", "cli", "genome", "model", "store", "scoring", "tokenizer"} <= names
    short = [r for r in rows if r["tests"] < r["source"]]
    assert not short, f"packages whose tests are shorter than their source: {short}"
