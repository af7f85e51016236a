"""Embedding runs in one process: store contents equal a direct forward pass; resume; refusals."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.errors import StoreError
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.store import open as open_store
from ntscale.types import WindowStatus


def expected_means(model, seqs, layers):
    """Mean over sequence tokens (CLS, pad excluded) from NTModel.apply, one window at a time."""
    tok = model.tokenizer
    out = {layer: [] for layer in layers}
    for s in seqs:
        ids = tok.encode(s)[None, :]
        res = model.apply(ids, layers=layers, logits=False)
        for layer in layers:
            out[layer].append(res["embeddings"][layer][0, 1:].mean(axis=0))
    return {layer: np.stack(v) for layer, v in out.items()}


def test_local_run_matches_direct_apply(small_config, example):
    from ntscale.genome import FastaSource
    from ntscale.model import load

    # Not gap-aware: windows over the N run stay, to test the all-N and shrink statuses.
    cfg = small_config(gap_aware=False)
    job = EmbedJob.plan_from_config(cfg, command_line="test")
    summary = run_local(job)
    windows = summary["store"]["windows"]
    assert windows["units_done"] == windows["units_total"] == job.n_units()

    ds = open_store(cfg.out)
    n = job.plan.n_windows
    assert ds.sizes["window"] == n
    status = ds["status"].values.astype(str)  # the store keeps WindowStatus names
    start, end = ds["start"].values, ds["end"].values
    # the all-N windows are kept with their status; one window is shrunk to fit the tokens
    assert (status == WindowStatus.SKIPPED_ALL_N.name).sum() >= 1
    assert (status == WindowStatus.OK.name).sum() >= 6
    np.testing.assert_array_equal(start, job.plan.start)
    assert np.all(end <= job.plan.end) and np.all(end > start)

    model = load(cfg.model, dtype="float32")
    fasta = FastaSource(cfg.fasta)
    ok = np.flatnonzero(status != WindowStatus.SKIPPED_ALL_N.name)
    seqs = [fasta.fetch("20", int(start[i]), int(end[i])) for i in ok]
    want = expected_means(model, seqs, (1, 2))
    for layer in (1, 2):
        got = ds["embedding_mean"].sel(layer=layer).values
        np.testing.assert_allclose(got[ok], want[layer], rtol=1e-4, atol=1e-4)
        skipped = np.flatnonzero(status == WindowStatus.SKIPPED_ALL_N.name)
        assert np.isnan(got[skipped]).all()
    # n_tokens recorded per window equals the tokenizer's count of what was embedded
    n_tok = ds["n_tokens"].values
    assert [model.tokenizer.count_tokens(s) for s in seqs] == list(n_tok[ok])


def test_rerun_skips_done_units_and_refuses_other_settings(small_config):
    cfg = small_config()
    job = EmbedJob.plan_from_config(cfg)
    first = run_local(job)
    assert first["run"]["units_run"] == job.n_units()
    again = run_local(EmbedJob.plan_from_config(cfg))
    assert again["run"]["units_run"] == 0

    other = small_config(layers=[1])
    with pytest.raises(StoreError) as e:
        EmbedJob.plan_from_config(other).prepare()
    assert "layers" in str(e.value)


def test_per_token_and_cls_outputs(small_config):
    from ntscale.model import load

    cfg = small_config(per_token=True, cls=True, layers=[2])
    job = EmbedJob.plan_from_config(cfg)
    run_local(job)
    ds = open_store(cfg.out)
    tokens = ds["embedding_tokens"].sel(layer=2).values.astype(np.float32)
    cls = ds["embedding_cls"].sel(layer=2).values
    model = load(cfg.model, dtype="float32")
    i = int(np.flatnonzero(ds["status"].values == WindowStatus.OK.name)[0])
    seq_end = int(ds["end"].values[i])
    from ntscale.genome import FastaSource

    seq = FastaSource(cfg.fasta).fetch("20", int(ds["start"].values[i]), seq_end)
    emb = model.apply(model.tokenizer.encode(seq)[None], layers=(2,), logits=False)["embeddings"][
        2
    ][0]
    n = emb.shape[0]
    np.testing.assert_allclose(tokens[i, :n], emb, rtol=1e-2, atol=1e-2)  # float16 storage
    assert np.isnan(tokens[i, n:]).all()
    np.testing.assert_allclose(cls[i], emb[0], rtol=1e-4, atol=1e-4)


def test_last_run_counts_device_rows_run_and_useful_for_an_odd_number_of_rows(
    small_config, tmp_path
):
    """7 plain windows in units of 5 at batch 8: the short batches run 8 and 2 rows (the
    next power of two), not 8 and 8; `last_run` says how many rows ran and were useful."""
    from ntscale.scoring.batches import batch_rows

    bed = tmp_path / "odd.bed"
    bed.write_text("20\t1000000\t1004200\n")
    cfg = small_config(regions=str(bed), unit_windows=5, batch_size=8, out=str(tmp_path / "o.zarr"))
    job = EmbedJob.plan_from_config(cfg)
    assert job.plan.n_windows == 7 and job.n_units() == 2
    run = run_local(job)["run"]
    ds = open_store(cfg.out)
    assert (ds["status"].values.astype(str) == WindowStatus.OK.name).all()
    per_unit = [5, 2]  # distinct sequences per unit: every window differs
    assert run["useful_rows"] == run["forward_windows"] == sum(per_unit) == 7
    assert run["device_rows"] == sum(batch_rows(n, 8) for n in per_unit) == 10  # was 16
    assert run["device_rows_per_useful"] == round(10 / 7, 4)
    assert ds.attrs["last_run"]["device_rows"] == 10


def test_a_local_run_hashes_the_checkpoint_once_and_a_dry_run_reuses_it(
    small_config, tmp_path, monkeypatch
):
    """Plan (describe) and every worker's load share one hash; a later dry run, in a
    process that has not hashed it (in-process cache emptied), reads the cache file."""
    from ntscale.cli.main import main
    from ntscale.model import checkpoint_digest as digest_cache

    monkeypatch.setenv("NTSCALE_CACHE_DIR", str(tmp_path / "cache"))
    digest_cache.forget()
    cfg = small_config(out=str(tmp_path / "h.zarr"))
    n0 = digest_cache.hash_count
    job = EmbedJob.plan_from_config(cfg)
    run_local(job)
    assert digest_cache.hash_count == n0 + 1
    stored = open_store(cfg.out).attrs["model"]["checkpoint_digest"]
    assert stored == job.run.model.digest

    digest_cache.forget()
    bed = tmp_path / "dry.bed"
    bed.write_text("20\t1000000\t1001200\n")
    args = ["embed", "--dry-run", "--no-progress", "--fasta", cfg.fasta, "--model", cfg.model]
    args += ["--out", str(tmp_path / "dry.zarr"), "--regions", str(bed), "--dtype", "fp32"]
    try:
        main(args)
    except SystemExit as e:
        assert e.code in (0, None)
    assert digest_cache.hash_count == n0 + 1  # no second hash
    digest_cache.forget()
