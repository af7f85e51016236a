"""Fixtures of the command-line tests: the in-process CLI and small real stores.

The stores are made once per session by the real `ntscale embed` / `ntscale score` on the
bundled chr20 slice and tiny checkpoint; tests that damage a store work on a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import REGION, VCF_TEXT, CliResult, embed_args, invoke, score_args


@pytest.fixture(scope="session")
def region_bed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bed = tmp_path_factory.mktemp("bed") / "region.bed"
    bed.write_text("\t".join(map(str, REGION)) + "\n")
    return bed


@pytest.fixture(scope="session")
def small_vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vcf = tmp_path_factory.mktemp("vcf") / "small.vcf"
    vcf.write_text(VCF_TEXT)
    return vcf


@pytest.fixture(scope="session")
def embed_run(tmp_path_factory: pytest.TempPathFactory, region_bed: Path) -> tuple[CliResult, Path]:
    """One real `ntscale embed` of REGION: (its output, its store)."""
    out = tmp_path_factory.mktemp("embed") / "emb.zarr"
    result = invoke(*embed_args(out, region_bed))
    assert result.code == 0, result.err
    return result, out


@pytest.fixture(scope="session")
def embed_store(embed_run: tuple[CliResult, Path]) -> Path:
    """A finished embedding store (do not modify; see `store_copy`)."""
    return embed_run[1]


@pytest.fixture(scope="session")
def score_run(tmp_path_factory: pytest.TempPathFactory, small_vcf: Path) -> tuple[CliResult, Path]:
    """One real `ntscale score` of `small_vcf` with a TSV table and a VCF; (output, folder)."""
    folder = tmp_path_factory.mktemp("score")
    result = invoke(
        *score_args(folder / "scores.zarr", small_vcf, "--table-out", folder / "scores.tsv",
                    "--vcf-out", folder / "scored.vcf.gz")
    )  # fmt: skip
    assert result.code == 0, result.err
    return result, folder


@pytest.fixture(scope="session")
def score_store(score_run: tuple[CliResult, Path]) -> Path:
    return score_run[1] / "scores.zarr"


@pytest.fixture
def store_copy(embed_store: Path, tmp_path: Path) -> Path:
    """A private copy of the embedding store, for tests that damage or repair it."""
    copy = tmp_path / "copy.zarr"
    shutil.copytree(embed_store, copy)
    return copy
