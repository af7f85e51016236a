"""Fixtures for genome tests: the bundled slice, the shared real files, tiny VCF writers."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def example_dir(repo_root: Path) -> Path:
    return repo_root / "examples" / "data"


@pytest.fixture(scope="session")
def example_fasta(example_dir: Path) -> Path:
    return example_dir / "chr20_2mb.fa.gz"


@pytest.fixture(scope="session")
def example_vcf(example_dir: Path) -> Path:
    return example_dir / "chr20_2mb.vcf.gz"


@pytest.fixture(scope="session")
def chr20_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "human_chr20"


@pytest.fixture(scope="session")
def ce_fasta(shared_dir: Path) -> Path:
    return shared_dir / "data" / "ce" / "ce.fa"
