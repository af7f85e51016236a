"""The tests, benchmarks and scripts read nothing outside the repository.

A fresh clone with nothing beside it must pass its own tests (`.ci/run` runs them that way);
this test catches a new reference to the real-data folder outside the clone before CI does.
"""

from __future__ import annotations

import re
from pathlib import Path

# Built from pieces so that this file does not match its own patterns.
_SHARED = "sha" + "red"
FORBIDDEN = re.compile(
    "|".join(
        [
            re.escape("../" + _SHARED),
            re.escape("/work/" + _SHARED),
            r"parents?(\[\d\])?\s*/\s*[\"']" + _SHARED + "[\"']",  # Path(...).parent / "shared"
            "NTSCALE_" + _SHARED.upper(),
        ]
    )
)


def _checked_files(root: Path) -> list[Path]:
    files = [*root.glob("tests/**/*.py"), *root.glob("benchmarks/**/*.py")]
    files += [*root.glob("scripts/*"), root / ".ci" / "run"]
    return sorted(p for p in files if p.is_file() and p.name != Path(__file__).name)


def test_no_file_reads_outside_the_repository(repo_root: Path) -> None:
    files = _checked_files(repo_root)
    assert len(files) > 50  # the globs found the test tree
    hits = [
        f"{p.relative_to(repo_root)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert hits == [], "files that point outside the repository:\n" + "\n".join(hits)


def test_the_pattern_catches_the_usual_spellings() -> None:
    for bad in (
        'ROOT.parent / "' + _SHARED + '" / "data"',
        "Path(__file__).resolve().parents[2] / '" + _SHARED + "'",
        "see ../" + _SHARED + "/fixtures",
        "/work/" + _SHARED + "/data",
        "os.environ['NTSCALE_" + _SHARED.upper() + "']",
    ):
        assert FORBIDDEN.search(bad), bad
    assert not FORBIDDEN.search('REPO_ROOT / "tests" / "data" / "' + _SHARED + '"')


def test_shared_dir_is_inside_the_repository(shared_dir: Path, repo_root: Path) -> None:
    assert shared_dir.resolve().is_relative_to(repo_root.resolve())
    for rel in (
        "data/human_chr20/20.fa.gz.gzi",
        "data/human_chr20/reference.vcf.gz.csi",
        "data/ce/ce.fa.fai",
        "fixtures/nt_reference/meta.json",
        "fixtures/nt_hf_v1/model.safetensors",
    ):
        assert (shared_dir / rel).is_file(), rel
