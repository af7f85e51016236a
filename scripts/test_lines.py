"""Lines of tests per package against lines of source (issue 12: tests >= source everywhere).

Prints one row per package of `ntscale/` (source lines, test lines, ratio) and exits 1 if a
package's tests are shorter than its source. A package's tests are the files under
`tests/<package>/`; the multi-node executor tests in `tests/cluster/` count for the runner.
Counted as physical lines of `*.py` files (blank lines and docstrings included on both sides).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRA_TESTS = {"runner": ("cluster",)}


def count_lines(folder: Path) -> int:
    """Physical lines of the Python files under a folder (0 if it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(len(p.read_text().splitlines()) for p in folder.rglob("*.py"))


def table(root: Path = ROOT) -> list[dict]:
    """One row per package: name, source lines, test lines and their ratio."""
    rows = []
    for pkg in sorted(p for p in (root / "ntscale").iterdir() if (p / "__init__.py").exists()):
        src = count_lines(pkg)
        tests = count_lines(root / "tests" / pkg.name)
        tests += sum(count_lines(root / "tests" / extra) for extra in EXTRA_TESTS.get(pkg.name, ()))
        rows.append(
            {
                "package": pkg.name,
                "source": src,
                "tests": tests,
                "ratio": round(tests / src, 2) if src else None,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    rows = table()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'package':<12}{'source':>8}{'tests':>8}{'ratio':>7}")
        for r in rows:
            print(f"{r['package']:<12}{r['source']:>8}{r['tests']:>8}{r['ratio']:>7}")
    return 0 if all(r["tests"] >= r["source"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
