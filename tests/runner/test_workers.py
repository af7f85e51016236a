"""The workers' shared set-up (`worker_setup.ModelWorker`) and the scoring pass runner."""

from __future__ import annotations

import threading

import numpy as np
import pysam
import pytest

from ntscale.config import ScoreConfig, build_config
from ntscale.genome import FastaSource, WindowSource
from ntscale.model import load
from ntscale.model.compiled import compilations
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.pass_runner import PassRunner, RowCount
from ntscale.runner.score_job import ScoreJob
from ntscale.scoring.passes import PassPlan
from ntscale.tokenizer import reverse_complement

BASES = "ACGT"


@pytest.fixture(scope="module")
def tiny(example):
    return load(example["model"])


def _dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list(BASES), n))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x - (x.max() + np.log(np.exp(x - x.max()).sum()))


def _plan(tok) -> tuple[PassPlan, str]:
    """Three passes of every flavour: pooled + table + token embeddings, two pools, masked."""
    s1, s2 = _dna(60, 1), _dna(100, 2)
    plan = PassPlan(by_content=False)
    a = plan.add("a", tok.encode(s1))
    plan.pool(a, np.r_[0.0, np.full(10, 0.1), np.zeros(len(tok.encode(s1)) - 11)])
    plan.read_table(a, 3)
    plan.keep_tokens(a)
    b = plan.add("b", tok.encode(s2))
    n_b = len(tok.encode(s2))
    plan.pool(b, np.eye(n_b, dtype=np.float32)[5])
    plan.pool(b, np.eye(n_b, dtype=np.float32)[9])
    masked = tok.encode(s1).copy()
    masked[4] = tok.mask_id
    m = plan.add("m", masked, table_tokens=tok.encode(s1))
    plan.read_table(m, 4)
    return plan, s1


def test_pass_runner_matches_the_model_run_alone_on_each_pass(tiny):
    """What the runner brings back from padded, batched passes with the reductions on the
    device equals what the model gives for each pass alone, reduced here by definition."""
    tok = tiny.tokenizer
    plan, s1 = _plan(tok)
    results, seconds = PassRunner(tiny, (1, 2), batch_size=2).run(plan.passes)
    assert seconds > 0
    close = {"rtol": 1e-4, "atol": 1e-5}
    for p, res in zip(plan.passes, results, strict=True):
        out = tiny.apply(p.tokens[None], layers=(1, 2), logits=True)
        for layer in (1, 2) if p.embed else ():
            emb = out["embeddings"][layer][0]  # [n, D]
            np.testing.assert_allclose(res.mean[layer], emb[1:].mean(0), **close)
            for g, w in enumerate(p.pools):
                np.testing.assert_allclose(res.pooled[layer][g], w @ emb, **close)
            if p.token_embeddings:
                np.testing.assert_allclose(res.tokens[layer], emb, **close)
        for t in p.table_rows:
            # log p of every single-base substitution of the 6-mer at t, via the vocabulary
            kmer = s1[6 * (t - 1) : 6 * t]
            logp = _log_softmax(out["logits"][0, t])
            want = [
                [logp[tok.token_to_id(kmer[:j] + b + kmer[j + 1 :])] for b in BASES]
                for j in range(6)
            ]
            np.testing.assert_allclose(res.table[t], want, **close)
        if p.table_tokens is not None:
            assert res.mean == {} and sorted(res.table) == [4]
            np.testing.assert_allclose(res.masked_logp, _log_softmax(out["logits"][0, 4]), **close)
    # smaller batches (other padding, other programs) give the same results
    again, _ = PassRunner(tiny, (1, 2), batch_size=1).run(plan.passes)
    for x, y in zip(results, again, strict=True):
        for layer in x.mean:
            np.testing.assert_allclose(x.mean[layer], y.mean[layer], **close)
        for t in x.table:
            np.testing.assert_allclose(x.table[t], y.table[t], **close)


def test_pass_runner_waits_for_the_device_lock(tiny):
    plan, _ = _plan(tiny.tokenizer)
    lock = threading.Lock()
    runner = PassRunner(tiny, (), batch_size=2, lock=lock)
    got: list = []
    with lock:
        th = threading.Thread(target=lambda: got.append(runner.run(plan.passes)))
        th.start()
        th.join(0.5)
        assert th.is_alive() and not got  # another unit holds the device
    th.join(120)
    assert len(got) == 1 and len(got[0][0]) == len(plan)


@pytest.mark.parametrize(("batch_size", "device"), [(8, 8), (6, 6), (4, 6), (2, 6), (1, 5)])
def test_pass_runner_counts_device_rows_run_and_useful(tiny, batch_size, device):
    """5 passes (an odd number) of one flavour: the last batch is padded to a power of two,
    and the counts add up over calls (a unit runs several slices)."""
    tok = tiny.tokenizer
    plan = PassPlan(by_content=False)
    for k in range(5):
        plan.read_table(plan.add(k, tok.encode(_dna(60 + 6 * k, k))), 1)
    rows = RowCount()
    runner = PassRunner(tiny, (), batch_size=batch_size)
    results, _ = runner.run(plan.passes, rows)
    assert len(results) == 5 and all(r.table for r in results)
    assert (rows.device, rows.useful) == (device, 5)
    runner.run(plan.passes, rows)
    assert (rows.device, rows.useful) == (2 * device, 10)


@pytest.fixture
def score_values(tmp_path, example):
    """One SNV in the middle of a 600 bp contig."""
    seq = _dna(600, 7)
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c1\n" + "\n".join(seq[i : i + 60] for i in range(0, 600, 60)) + "\n")
    pysam.faidx(str(fasta))
    alt = "G" if seq[300] != "G" else "T"
    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=c1,length=600>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        f"c1\t301\tsnv\t{seq[300]}\t{alt}\t.\t.\t.\n"
    )
    return {
        "fasta": str(fasta),
        "vcf": str(vcf),
        "model": str(example["model"]),
        "out": str(tmp_path / "s.zarr"),
        "window_bp": 120,
        "layers": [2],
        "scores": ["llr_wt", "l2"],
        "dtype": "fp32",
    }


def test_score_worker_setup_and_a_second_worker_compiles_nothing(score_values):
    job = ScoreJob.plan_from_config(build_config(ScoreConfig, score_values))
    job.prepare()
    first = job.open_worker()
    assert first.model.dtype == "float32"
    assert first.runner.lock is first.device  # the runner's batches take the worker's lock
    assert first(0).status_counts == {"ok": 1}
    before = compilations()
    second = job.open_worker()  # a resumed job, or a second job, in the same process
    assert second.model is not first.model
    assert second(0).status_counts == {"ok": 1}
    assert compilations() == before

    # one FASTA handle per thread (htslib handles are not thread-safe), reused within one
    fasta = second.input()
    assert isinstance(fasta, FastaSource) and second.input() is fasta
    other: list = []
    th = threading.Thread(target=lambda: other.append(second.input()))
    th.start()
    th.join(30)
    assert other[0] is not fasta
    assert other[0].fetch("c1", 10, 40) == fasta.fetch("c1", 10, 40)


def test_workers_load_the_model_in_the_jobs_dtype(score_values):
    score_values["dtype"] = "bf16"
    job = ScoreJob.plan_from_config(build_config(ScoreConfig, score_values))
    job.prepare()
    worker = job.open_worker()
    assert worker.model.dtype == "bfloat16"
    assert worker.model.params["nt/layers/query"]["w"].dtype == "bfloat16"


def test_embed_worker_input_is_a_window_source_per_thread(small_config):
    job = EmbedJob.plan_from_config(small_config(strands="both"))
    job.prepare()
    worker = job.open_worker()
    source = worker.input()
    assert isinstance(source, WindowSource) and worker.input() is source
    rows = np.flatnonzero(job.plan.start == 1_000_000)  # the plain window, both strands
    fwd, rev = source.fetch_rows(job.plan, rows)
    assert fwd.sequence == reverse_complement(rev.sequence)
    assert len(fwd.sequence) == 600
    assert worker.forward.layers == (1, 2)
