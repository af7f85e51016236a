"""A killed NTv3 score run resumes to the bytes of an uninterrupted run (the embed case is
in test_ntv3_embed.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ntv3_helpers import FASTA, POST, chr20_vcf, kill_resume_compare

pytestmark = pytest.mark.slow


def _cmd(vcf: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "ntscale", "score", "--fasta", str(FASTA), "--vcf", str(vcf),
        "--model", str(POST), "--out", str(out), "--window-bp", "128", "--species", "human",
        "--scores", "llr_masked,track_delta", "--unit-variants", "2", "--batch-size", "2",
        "--dtype", "fp32", "--no-progress",
    ]  # fmt: skip


def test_killed_score_run_resumes_to_identical_bytes(tmp_path):
    vcf = chr20_vcf(tmp_path)  # 12 rows in units of 2
    kill_resume_compare(lambda out: _cmd(vcf, out), tmp_path, part="variants", total=6)
