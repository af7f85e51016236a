"""Batch per device, dtype and window from a table unless the user sets it; recorded."""

from __future__ import annotations

import pytest

from ntscale.runner.batch_table import (
    ACCELERATOR_TABLE,
    CPU_TABLE,
    resolve_batch_size,
    table_batch_size,
)


@pytest.mark.parametrize(
    ("platform", "dtype", "tokens", "batch"),
    [
        ("cpu", "fp32", 101, 8),
        ("cpu", "fp32", 512, 4),
        ("cpu", "fp32", 1000, 2),
        ("cpu", "fp32", 2048, 2),
        ("gpu", "bf16", 512, 64),
        ("cuda", "bf16", 2048, 16),
        ("gpu", "fp32", 2048, 8),  # float32: half the bf16 batch
        ("tpu", "bf16", 1024, 32),
    ],
)
def test_table_by_platform_dtype_and_tokens(platform, dtype, tokens, batch):
    assert table_batch_size(platform=platform, dtype=dtype, tokens=tokens) == batch


def test_tables_are_ordered_and_cover_every_length():
    for table in (CPU_TABLE, ACCELERATOR_TABLE):
        limits = [limit for limit, _ in table]
        assert limits == sorted(limits) and limits[-1] >= 1 << 20
        assert all(b >= 1 for _, b in table)


def test_the_users_batch_wins_and_the_backend_is_not_asked():
    def boom() -> str:
        raise AssertionError("the backend must not be asked when the user set the batch")

    assert resolve_batch_size(5, platform=boom, dtype="fp32", tokens=2048) == 5
    assert resolve_batch_size(None, platform=lambda: "cpu", dtype="fp32", tokens=2048) == 2


def test_run_plan_and_store_record_the_resolved_batch(small_config, tmp_path):
    from ntscale.runner.embed_job import EmbedJob
    from ntscale.runner.local import run_local
    from ntscale.store import open as open_store

    bed = tmp_path / "b.bed"
    bed.write_text("20\t1000000\t1001200\n")
    auto = small_config(regions=str(bed), batch_size=None, out=str(tmp_path / "a.zarr"))
    assert auto.execution.batch_size is None
    job = EmbedJob.plan_from_config(auto)
    # 600 bp windows: 101 tokens on CPU -> the table's first row
    assert job.run.batch_size == table_batch_size(platform="cpu", dtype="fp32", tokens=102)
    run_local(job)
    assert open_store(auto.out).attrs["config"]["execution"]["batch_size"] == job.run.batch_size
    given = small_config(regions=str(bed), batch_size=3, out=str(tmp_path / "g.zarr"))
    job = EmbedJob.plan_from_config(given)
    assert job.run.batch_size == 3
    run_local(job)
    assert open_store(given.out).attrs["config"]["execution"]["batch_size"] == 3
