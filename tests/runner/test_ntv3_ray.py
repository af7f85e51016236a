"""NTv3 embed and score runs on a real local Ray cluster write the bytes of the local run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ntv3_helpers import FASTA, chr20_vcf
from storecmp import assert_same_bytes

from ntscale.config import EmbedConfig, ExecutionConfig, ScoreConfig
from ntscale.runner.local import run_local
from ntscale.runner.ntv3_embed import NTv3EmbedJob
from ntscale.runner.ntv3_score import NTv3ScoreJob
from ntscale.runner.ray import run_ray

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"


def _run(job, name: str) -> dict:
    summary = run_local(job, progress=False) if name == "local" else run_ray(job, max_actors=2)
    assert summary["store"]["complete"]
    return summary


def test_ray_ntv3_stores_equal_local_stores(ray_session, tmp_path):
    import pysam

    rng = np.random.default_rng(9)
    fasta = tmp_path / "g.fa"
    dna = "".join(rng.choice(list("ACGT"), size=400))
    fasta.write_text(f">a\n{dna[:250]}NNNNN{dna[250:]}\n>b\n{dna[:90]}\n")
    pysam.faidx(str(fasta))
    ex = ExecutionConfig(batch_size=2, progress=False)
    vcf = chr20_vcf(tmp_path, n=12, indel_every=3)
    for name in ("local", "ray"):
        cfg = EmbedConfig(fasta=str(fasta), model=str(DATA / "post"), species="human",
                          out=str(tmp_path / f"e_{name}.zarr"), window_bp=64, per_token=True,
                          unit_windows=2, execution=ex)  # fmt: skip
        _run(NTv3EmbedJob.plan_from_config(cfg), name)
        cfg = ScoreConfig(fasta=str(FASTA), vcf=str(vcf), model=str(DATA / "post"),
                          out=str(tmp_path / f"s_{name}.zarr"), window_bp=256, species="human",
                          scores=("llr_masked", "track_delta"), unit_variants=4,
                          execution=ex)  # fmt: skip
        _run(NTv3ScoreJob.plan_from_config(cfg), name)
    assert_same_bytes(tmp_path / "e_local.zarr", tmp_path / "e_ray.zarr")
    assert_same_bytes(tmp_path / "s_local.zarr", tmp_path / "s_ray.zarr")
    from ntscale.store import open as open_store

    ds = open_store(str(tmp_path / "s_ray.zarr"))
    assert np.isfinite(ds["score_track_delta_sum.h_ctcf"].values).all()  # indels too
    assert set(ds["variant_status"].values) == {"ok", "no_llr_not_snv"}
