"""Helpers for the scoring tests: tiny FASTAs and VCFs written in tmp_path, the tiny model."""

from __future__ import annotations

from pathlib import Path

import pysam
import pytest
from scoring_helpers import random_dna, write_fasta, write_vcf  # noqa: F401

CHR20 = "human_chr20/20.fa.gz"
CHR20_VCF = "human_chr20/reference.vcf.gz"


@pytest.fixture(scope="session")
def tiny_model_dir(repo_root: Path) -> Path:
    return repo_root / "examples" / "checkpoints" / "nt-v2-tiny"


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    from ntscale.model import load

    return load(tiny_model_dir)


@pytest.fixture(scope="session")
def chr20_fasta(shared_dir: Path) -> Path:
    return shared_dir / "data" / CHR20


@pytest.fixture(scope="session")
def chr20_subset(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 400th record of the real 1000 Genomes chr20 VCF (63 records, 2 indels), plus
    two hand-corrupted copies of real records: a duplicate and a REF mismatch."""
    src = pysam.VariantFile(str(shared_dir / "data" / CHR20_VCF))
    src.subset_samples([])
    path = tmp_path_factory.mktemp("chr20") / "subset.vcf"
    with pysam.VariantFile(str(path), "w", header=src.header) as out:
        for i, rec in enumerate(src):
            if i % 400 == 0:
                out.write(rec)
            if i == 400:
                out.write(rec)  # duplicate_record
            if i == 800:
                bad = rec.copy()
                bad.ref = {"A": "C", "C": "G", "G": "T", "T": "A"}[rec.ref]
                out.write(bad)  # ref_mismatch
    src.close()
    return path
