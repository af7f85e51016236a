"""An NTv3 score run writing an `s3://` store (moto's server on 127.0.0.1): the objects
equal the files of the same run on a local disk, and a rerun skips every unit."""

from __future__ import annotations

import pytest
from ntv3_helpers import FASTA, POST, chr20_vcf
from s3server import running_s3
from storecmp import VOLATILE_ROOT, store_files

from ntscale.config import ExecutionConfig, ScoreConfig
from ntscale.runner.local import run_local
from ntscale.runner.ntv3_score import NTv3ScoreJob

pytestmark = pytest.mark.slow


def _job(out: str, vcf) -> NTv3ScoreJob:
    ex = ExecutionConfig(batch_size=2, progress=False)
    cfg = ScoreConfig(fasta=str(FASTA), vcf=str(vcf), model=str(POST), out=out,
                      window_bp=128, species="human", scores=("llr_masked", "track_delta"),
                      unit_variants=3, execution=ex)  # fmt: skip
    return NTv3ScoreJob.plan_from_config(cfg)


def test_ntv3_score_to_s3_equals_local(monkeypatch, tmp_path):
    vcf = chr20_vcf(tmp_path, n=6, indel_every=3)
    with running_s3() as s3:
        for key, value in s3.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        url = s3.url("ntv3.zarr")
        first = run_local(_job(url, vcf), progress=False)
        assert first["store"]["complete"]
        run_local(_job(str(tmp_path / "local.zarr"), vcf), progress=False)
        remote = {k: v for k, v in s3.objects("ntv3.zarr").items() if k != VOLATILE_ROOT}
        files = store_files(tmp_path / "local.zarr")
        assert sorted(remote) == sorted(files)
        assert not [k for k in files if files[k] != remote[k]]
        again = run_local(_job(url, vcf), progress=False)
        assert again["progress"]["units_done"] == 0  # every unit was already done on S3
