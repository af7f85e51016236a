"""`ntscale info` and the report on a cohort store (schema 3), end to end on a real run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntscale.analysis.info import format_info, store_info
from ntscale.config import EmbedConfig, build_config
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local


@pytest.fixture(scope="module")
def cohort_store(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("cohort")
    bed = tmp / "r.bed"
    bed.write_text("20\t1000000\t1001800\n")
    data = repo_root / "examples" / "data"
    cfg = build_config(
        EmbedConfig,
        {
            "fasta": str(data / "chr20_2mb.fa.gz"),
            "model": str(repo_root / "examples" / "checkpoints" / "nt-v2-tiny"),
            "vcf": str(data / "chr20_2mb.vcf.gz"),
            "out": str(tmp / "c.zarr"),
            "regions": str(bed),
            "window_bp": 600,
            "layers": [2],
            "dtype": "fp32",
            "progress": False,
        },
    )
    run_local(EmbedJob.plan_from_config(cfg))
    return cfg.out


def test_info_counts_haplotype_rows_and_distinct_sequences(cohort_store: str):
    info = store_info(cohort_store)
    win = info["windows"]
    assert win["rows"] == win["rows_done"] == 3 * 8  # 3 windows x 4 samples x 2
    assert win["window_rows"] == 3 and win["haplotypes"] == 8
    assert 3 <= win["sequences_stored"] < 24
    assert info["state"] == "finished"
    text = format_info(info)
    assert f"cohort: 3 window rows x 8 haplotypes, {win['sequences_stored']} distinct" in text
    assert info["coverage"]["tracks"] == 8  # one per haplotype (one strand)


def test_report_reads_a_cohort_store_as_rows(cohort_store: str, tmp_path: Path):
    from ntscale.analysis.report import build_report
    from ntscale.store import open as open_store

    report = build_report(open_store(cohort_store), tmp_path / "fig", store=cohort_store)
    assert report["windows"]["n"] == 24  # one row per (window, haplotype)
    assert sum(report["windows"]["status_counts"].values()) == 24
    assert report["figures"] and all(Path(p).is_file() for p in report["figures"].values())
