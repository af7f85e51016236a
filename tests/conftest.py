"""Shared test fixtures: where the shared real data and reference fixtures live, markers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    env = os.environ.get("NTSCALE_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared", REPO_ROOT / "shared"]
    for c in candidates:
        if (c / "fixtures").is_dir() and (c / "data").is_dir():
            return c
    raise RuntimeError(
        f"cannot find the shared data folder (looked in {[str(c) for c in candidates]}); "
        "set NTSCALE_SHARED to its path"
    )


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder: real genomes (data/) and reference golden outputs (fixtures/)."""
    return _find_shared()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _has_gpu() -> bool:
    try:
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("gpu" in item.keywords for item in items) and not _has_gpu():
        skip = pytest.mark.skip(reason="needs a GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _gap_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """N-run indexes (ntscale.genome.gaps) go under the session's tmp folder, not beside
    the bundled FASTA: tests write nothing into the repository."""
    os.environ["NTSCALE_GAP_CACHE"] = str(tmp_path_factory.mktemp("gap-cache"))
