"""Test fixtures used everywhere: the bundled real data and reference fixtures, markers."""

from __future__ import annotations

import os
from pathlib import Path

import jaxcache
import leakcheck
import pytest
from file_seconds import FILE_SECONDS, longest_files_first, recorded_seconds
from leakcheck import pytest_sessionfinish, pytest_testnodedown  # noqa: F401 - the leak check

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    leakcheck.pytest_configure(config)
    jaxcache.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    jaxcache.stop()


# Everything the tests read lives in the repository. tests/data/shared/ holds trimmed copies
# of the project's real data and reference fixtures, in the same data/ + fixtures/ layout, so
# paths relative to `shared_dir` stay valid (see tests/data/shared/PROVENANCE.md).
TEST_DATA = REPO_ROOT / "tests" / "data" / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """tests/data/shared/: real genome slices (data/) and reference golden outputs (fixtures/)."""
    return TEST_DATA


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
    if os.environ.get("PYTEST_XDIST_WORKER") and FILE_SECONDS.is_file():
        longest_files_first(items, recorded_seconds())
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


@pytest.fixture(scope="session", autouse=True)
def _digest_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The checkpoint digest cache file (ntscale.model.checkpoint_digest) goes under the
    session's tmp folder, not the user's cache folder."""
    os.environ["NTSCALE_CACHE_DIR"] = str(tmp_path_factory.mktemp("ntscale-cache"))
