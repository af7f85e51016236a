"""benchmarks/gpu_proof.py: the `--dry` run end to end (every step on CPU, tiny shapes), a
step that outruns its limit, and the generated inputs and checks it relies on."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pysam
import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))
import gpu_proof_inputs as gpi  # noqa: E402


def _proof():
    spec = importlib.util.spec_from_file_location("gpu_proof", BENCH / "gpu_proof.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> dict:
    """The whole script with --dry, as the device command runs it (OUT set)."""
    root = tmp_path_factory.mktemp("proof")
    out = root / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-u", str(BENCH / "gpu_proof.py"), "--dry", "--results-dir",
         str(root / "results"), "--work-dir", str(root / "work")],
        env=env, capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
    )  # fmt: skip
    seconds = time.monotonic() - t0
    (jsonl,) = (root / "results").glob("gpu_proof-*-dry.jsonl")
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    return {"proc": proc, "seconds": seconds, "results": lines, "root": root, "out": out}


pytestmark = pytest.mark.slow


def _of(dry_run, step: str) -> list[dict]:
    return [r for r in dry_run["results"] if r["step"] == step]


def test_dry_run_completes_every_step(dry_run):
    proc = dry_run["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    steps = {r["step"] for r in dry_run["results"]}
    assert steps == {"device", "parity", "throughput", "e2e", "cohort", "profile"}
    assert all(r["dry"] is True and r["utc"] for r in dry_run["results"])
    assert not [r for r in dry_run["results"] if r["status"] in ("error", "timeout")]
    assert "summary:" in proc.stdout and "[parity]" in proc.stdout  # streamed, per step


def test_scratch_space_is_removed_after_each_step(dry_run):
    assert (dry_run["root"] / "work").is_dir()
    assert list((dry_run["root"] / "work").iterdir()) == []


def test_results_are_also_written_to_out(dry_run):
    copy = [json.loads(x) for x in (dry_run["out"] / "gpu_proof.jsonl").read_text().splitlines()]
    assert copy == dry_run["results"]


def test_parity_checks_pass_on_cpu_and_cudnn_is_skipped_not_faked(dry_run):
    parity = _of(dry_run, "parity")
    checks = {(r["check"], r.get("attention")): r for r in parity}
    assert checks[("fp32_golden", None)]["max_abs_err"] <= 1e-4
    bf16 = checks[("bf16", "xla")]
    assert bf16["status"] == "pass" and bf16["attention_ran"] == "xla"
    assert bf16["min_window_cosine"] >= 0.999 and bf16["llr_rank_corr"] >= 0.999
    pad = checks[("padding", "xla")]
    assert pad["status"] == "pass" and pad["all_pad_row_finite"] is True
    assert checks[("bf16", "cudnn")]["status"] == "skipped"


def test_throughput_covers_every_family_with_targets(dry_run):
    rows = {r["model"]: r for r in _of(dry_run, "throughput")}
    assert set(rows) == {f"{t[0]}-tiny" for t in _proof().THROUGHPUT}
    for name, r in rows.items():
        assert r["windows_per_s"] > 0 and r["compile_s"] > 0 and r["dtype"] == "bfloat16"
        assert (r["target"] is None) == name.startswith("2B5") and r["status"] != "error"
    assert rows["500M_multi_species_v2-tiny"]["compile_load_target_s"] == 30.0


def test_end_to_end_and_cohort_runs_report_their_rates(dry_run):
    e2e = {r["executor"]: r for r in _of(dry_run, "e2e")}
    assert e2e["local"]["windows"] > 0 and e2e["local"]["windows_per_s"] > 0
    assert e2e["local"]["overhead_vs_model"] is not None and e2e["local"]["gpu"] is None
    assert e2e["ray"]["status"] in ("pass", "fail", "skipped")
    (cohort,) = _of(dry_run, "cohort")
    assert 0 < cohort["distinct"] < cohort["rows"]  # haplotypes share sequences
    assert cohort["distinct_per_s"] > 0


def test_a_profile_archive_comes_back(dry_run):
    (profile,) = _of(dry_run, "profile")
    assert len(profile["files"]) == 2
    for name in profile["files"]:
        path = Path(name)
        assert path.parent in (dry_run["out"], dry_run["root"] / "results")
        assert path.stat().st_size > 0 and path.name.endswith(".tar.gz")


def test_a_step_past_its_limit_is_killed_and_recorded(tmp_path, monkeypatch):
    proof = _proof()
    monkeypatch.setitem(proof.LIMITS, "throughput", (0.5, 0.5))
    rc = proof.main(
        [
            "--dry",
            "--steps",
            "throughput",
            "--results-dir",
            str(tmp_path),
            "--work-dir",
            str(tmp_path),
        ]
    )
    assert rc == 1
    (jsonl,) = tmp_path.glob("gpu_proof-*-dry.jsonl")
    last = json.loads(jsonl.read_text().splitlines()[-1])
    assert last["step"] == "throughput" and last["status"] == "timeout"


def test_unknown_steps_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        _proof().main(["--dry", "--steps", "parity,warp", "--results-dir", str(tmp_path)])


def test_generated_genome_has_real_n_runs(tmp_path):
    contigs = gpi.write_genome(tmp_path / "g.fa", 90_000, contigs=3)
    assert [n for _, n in contigs] == [30_000] * 3
    fa = pysam.FastaFile(str(tmp_path / "g.fa"))
    seq = fa.fetch("chr2")
    assert seq[:100] == "N" * 100 and set(seq) == set("ACGTN")
    assert 0.02 < seq.count("N") / len(seq) < 0.03


def test_generated_cohort_is_phased_and_matches_the_reference(tmp_path):
    gpi.write_genome(tmp_path / "g.fa", 60_000, contigs=1)
    vcf = gpi.write_cohort(
        tmp_path / "c.vcf.gz", tmp_path / "g.fa", contig="chr1", start=1000, end=9000,
        samples=5, sites=80,
    )  # fmt: skip
    fa = pysam.FastaFile(str(tmp_path / "g.fa"))
    records = list(pysam.VariantFile(str(vcf)).fetch("chr1"))
    assert 40 <= len(records) <= 80 and len(records[0].samples) == 5
    for rec in records:
        assert fa.fetch("chr1", rec.start, rec.stop).upper() == rec.ref
        assert all(s.phased for s in rec.samples.values())
    assert any(len(r.ref) > 1 for r in records)  # some deletions


def test_rank_correlation_cosine_and_llr_table():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(200)
    assert gpi.rank_correlation(a, a * 3 + 1) == pytest.approx(1.0)
    assert gpi.rank_correlation(a, -a) == pytest.approx(-1.0)
    x = rng.standard_normal((4, 8))
    np.testing.assert_allclose(gpi.cosine_rows(x, 2 * x), 1.0, rtol=1e-12)
    logits = rng.standard_normal((2, 5, 30)).astype(np.float32)
    tokens = rng.integers(6, 30, (2, 5))
    nonpad = np.ones((2, 5), bool)
    nonpad[1, 3:] = False
    table = gpi.llr_table(logits, tokens, nonpad)
    assert table.shape == (8 * 16,) and np.isfinite(table).all()
    # a shift of every logit changes no log-ratio
    np.testing.assert_allclose(table, gpi.llr_table(logits + 5.0, tokens, nonpad), atol=1e-5)


def test_no_nvidia_smi_gives_no_samples():
    assert gpi.stop_sampler(None) is None


def test_steps_past_the_run_budget_are_skipped_not_started(tmp_path):
    rc = _proof().main(
        ["--dry", "--steps", "device,parity", "--budget", "10", "--results-dir", str(tmp_path)]
    )
    assert rc == 0  # nothing failed: nothing ran
    (jsonl,) = tmp_path.glob("gpu_proof-*-dry.jsonl")
    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [(r["step"], r["status"]) for r in rows] == [
        ("device", "skipped"),
        ("parity", "skipped"),
    ]
    assert all("budget of 10.0 s used" in r["reason"] for r in rows)
