"""Compare two Zarr stores byte for byte (every chunk and array metadata file)."""

from __future__ import annotations

from pathlib import Path

# Root attributes that legitimately differ between two runs of the same job.
VOLATILE_ROOT = "zarr.json"


def store_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)) != VOLATILE_ROOT
    }


def assert_same_bytes(a: Path, b: Path) -> None:
    fa, fb = store_files(Path(a)), store_files(Path(b))
    assert sorted(fa) == sorted(fb), set(fa) ^ set(fb)
    differ = [k for k in fa if fa[k] != fb[k]]
    assert not differ, f"{len(differ)} files differ, e.g. {differ[:5]}"
