"""Fixtures for the analysis tests: small real stores made by the real pipeline on the bundled
example (short windows over a tiny region, a few dozen variants), and a dask LocalCluster."""

from __future__ import annotations

import logging
from pathlib import Path

import pysam
import pytest

from ntscale.cli.main import main

# 59,400-61,200 crosses the end of chr20's leading N run (first base at 60,000): an all-N
# window; 1,000,000-1,004,200 is plain sequence. Both strands: '-' rows share intervals.
SMALL_BED = "20\t59400\t61200\n20\t1000000\t1004200\n"
# Variants of the bundled VCF in this interval: SNVs and 4 indels (a few dozen records).
VARIANT_REGION = ("20", 1_018_000, 1_024_000)


@pytest.fixture(scope="session")
def example_inputs(repo_root: Path) -> dict[str, Path]:
    data = repo_root / "examples" / "data"
    return {
        "fasta": data / "chr20_2mb.fa.gz",
        "vcf": data / "chr20_2mb.vcf.gz",
        "model": repo_root / "examples" / "checkpoints" / "nt-v2-tiny",
    }


@pytest.fixture(scope="session")
def embed_store(tmp_path_factory: pytest.TempPathFactory, example_inputs) -> Path:
    """A real embedding store: 20 windows of 600 bp (both strands), layers 1 and 2."""
    folder = tmp_path_factory.mktemp("embed")
    bed = folder / "small.bed"
    bed.write_text(SMALL_BED)
    out = folder / "emb.zarr"
    main(
        [
            "embed",
            "--fasta", str(example_inputs["fasta"]),
            "--model", str(example_inputs["model"]),
            "--out", str(out),
            "--regions", str(bed),
            "--window", "600",
            "--no-gap-aware",  # keep the all-N window: the report's status counts test it
            "--strands", "both",
            "--layers", "1,2",
            "--unit-windows", "4",
            "--batch-size", "8",
            "--dtype", "fp32",
            "--no-progress",
        ]
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def tiny_vcf(tmp_path_factory: pytest.TempPathFactory, example_inputs) -> Path:
    """The bundled VCF's records in VARIANT_REGION, bgzipped and indexed."""
    path = tmp_path_factory.mktemp("vcf") / "tiny.vcf.gz"
    with pysam.VariantFile(str(example_inputs["vcf"])) as src:
        with pysam.VariantFile(str(path), "wz", header=src.header) as dst:
            for record in src.fetch(*VARIANT_REGION):
                dst.write(record)
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


@pytest.fixture(scope="session")
def score_store(tmp_path_factory: pytest.TempPathFactory, example_inputs, tiny_vcf) -> Path:
    """A real variant store: llr (masked + wild-type) and l2 at layer 2, 600 bp windows."""
    out = tmp_path_factory.mktemp("score") / "scores.zarr"
    main(
        [
            "score",
            "--fasta", str(example_inputs["fasta"]),
            "--vcf", str(tiny_vcf),
            "--model", str(example_inputs["model"]),
            "--out", str(out),
            "--scores", "llr,l2",
            "--layers", "2",
            "--window", "600",
            "--unit-variants", "16",
            "--batch-size", "8",
            "--dtype", "fp32",
            "--no-progress",
        ]
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def dask_client():
    """A dask.distributed LocalCluster (one in-process worker: cheap on 2 cores)."""
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def keep(monkeypatch: pytest.MonkeyPatch) -> list:
    """Figures of `ntscale.analysis.plots`, held for inspection instead of written as PNG."""
    from ntscale.analysis import plots

    figures: list = []

    def hold(fig, path):
        figures.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "_save", hold)
    yield figures
    for fig in figures:
        plots.plt.close(fig)
