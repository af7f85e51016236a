"""The GPU proof in one entry point: parity, throughput, end to end, cohort, and a profile.

    python -u benchmarks/gpu_proof.py            # on the device (docs/benchmarks.md, "GPU proof")
    python -u benchmarks/gpu_proof.py --dry      # CPU, tiny shapes, < 2 minutes (a test runs it)

Each step runs in its own child process under its own time limit (a step that hangs or
crashes costs its limit, never the rest), with line-buffered output. Every result is one
JSON line, appended as it comes to benchmarks/results/gpu_proof-<UTC>.jsonl (and to
$OUT/gpu_proof.jsonl when $OUT is set), so a run cut short keeps what it measured. Steps:

1. parity: the reference golden fixtures (fp32 within 1e-4), bf16 against fp32 (cosine of
   every window's pooled embedding >= 0.999, LLR rank correlation >= 0.999), XLA and
   cuDNN attention, extra padding, an all-pad row;
2. throughput and compile+load, bf16, random weights of the real shapes: v2-500M and v2-50M
   at 2,048 tokens, v1-500M and 2B5 at 1,000 tokens, against the issue's targets;
3. e2e, e2e_ray: `ntscale embed` of a generated genome (12 Mbp, real N runs, v2-500M shape)
   with the local executor and with `--ray local`: windows/s, overhead against model time,
   GPU utilisation sampled with nvidia-smi;
4. cohort: a haplotype run over a simulated phased cohort: distinct sequences/s and whether
   host preparation keeps up;
5. profile: when a throughput target was missed, a jax.profiler trace of one batch of that
   model (a .tar.gz beside the results).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
FIXTURES = REPO / "tests" / "data" / "shared" / "fixtures"
MARK = "RESULT "

# (preset, tokens, batch, windows/s target or None = report): the targets.
THROUGHPUT = (
    ("500M_multi_species_v2", 2048, 16, 200.0),
    ("50M_multi_species_v2", 2048, 64, 1000.0),
    ("500M_human_ref", 1000, 16, 400.0),
    ("2B5_multi_species", 1000, 8, None),
)
COMPILE_LOAD_TARGET_S = {"500M_multi_species_v2": 30.0}
E2E_PRESET = "500M_multi_species_v2"
# step -> (seconds on the device, seconds in --dry); on the device the whole run also has a
# budget (--budget, 480 s) so that it ends inside one 9-minute `run` call
LIMITS = {
    "device": (30, 60),
    "parity": (80, 60),
    "throughput": (180, 60),
    "e2e": (110, 60),
    "e2e_ray": (90, 90),
    "cohort": (70, 60),
    "profile": (50, 45),
}
STEPS = tuple(LIMITS)


def emit(step: str, **fields) -> None:
    """One result line on stdout (the parent files it)."""
    print(MARK + json.dumps({"step": step, **fields}, default=str), flush=True)


# --- steps (each runs in a child process) ----------------------------------------------------


def step_device(args) -> None:
    import jax

    dev = jax.devices()[0]
    emit(
        "device",
        status="report",
        backend=jax.default_backend(),
        device_kind=dev.device_kind,
        devices=len(jax.devices()),
        jax=jax.__version__,
        python=sys.version.split()[0],
        cpus=os.cpu_count(),
    )


def step_parity(args) -> None:
    import jax
    import numpy as np

    from ntscale.model import load

    on_gpu = jax.default_backend() == "gpu"
    cases = {
        "v1": (FIXTURES / "nt_reference" / "v1_model", FIXTURES / "nt_reference/v1_forward.npz"),
        "v2": (FIXTURES / "nt_reference" / "v2_model", FIXTURES / "nt_reference/v2_forward.npz"),
        "hf": (FIXTURES / "nt_hf_v1", FIXTURES / "nt_hf_v1" / "expected_outputs.npz"),
    }
    if args.dry:  # every check kind on one fixture model: the dry run stays short
        cases = {"v2": cases["v2"]}
    for which, (src, npz) in cases.items():
        z = np.load(npz)
        if which == "hf":
            tokens, nonpad, logits = z["tokens"], z["attention_mask"].astype(bool), z["logits"]
            want = {i: z[f"hidden_state_{i}"] for i in (1, 2)}
        else:
            tokens, nonpad, logits = z["tokens"], z["nonpad_mask"], z["logits"]
            want = {i: z[f"embeddings_{i}"] for i in (1, 2)}
        ref = load(src, "float32", attention="xla")
        out = ref.apply(tokens, layers=(1, 2), logits=True)
        err = max(float(np.abs(out["embeddings"][i] - want[i])[nonpad].max()) for i in (1, 2))
        err = max(err, float(np.abs(out["logits"] - logits)[nonpad].max()))
        emit(
            "parity",
            check="fp32_golden",
            model=which,
            max_abs_err=err,
            limit=1e-4,
            status="pass" if err <= 1e-4 else "fail",
        )
        for attention in ("xla", "cudnn"):
            if attention == "cudnn" and not on_gpu:
                emit(
                    "parity",
                    check="bf16",
                    model=which,
                    attention=attention,
                    status="skipped",
                    reason=f"no GPU ({jax.default_backend()})",
                )
                continue
            _bf16_checks(which, src, attention, tokens, nonpad, out, ref.config.pad_token_id)


def _bf16_checks(which, src, attention, tokens, nonpad, ref_out, pad_id) -> None:
    import numpy as np
    from gpu_proof_inputs import cosine_rows, llr_table

    from ntscale.model import load

    low = load(src, "bfloat16", attention=attention)
    got = low.apply(tokens, layers=(1, 2), logits=True)
    ran = low.compiled((1, 2), True).attention
    keep = nonpad[..., None].astype(np.float64)
    cos = []
    for i in (1, 2):  # mean-pooled embedding of each window, bf16 vs fp32
        pool = lambda e: (e * keep).sum(1) / keep.sum(1)  # noqa: E731
        cos.append(cosine_rows(pool(got["embeddings"][i]), pool(ref_out["embeddings"][i])))
    worst = float(np.min(cos))
    rho = _rank(
        llr_table(got["logits"], tokens, nonpad), llr_table(ref_out["logits"], tokens, nonpad)
    )
    finite = all(np.isfinite(v).all() for v in got["embeddings"].values())
    ok = worst >= 0.999 and rho >= 0.999 and finite
    emit(
        "parity",
        check="bf16",
        model=which,
        attention=attention,
        attention_ran=ran,
        min_window_cosine=worst,
        llr_rank_corr=rho,
        status="pass" if ok else "fail",
    )
    # padding: rows with < 16 real tokens run at width 16 and at the full width (more pad
    # columns) must agree at their real tokens; an all-pad row stays finite
    rows = np.flatnonzero(nonpad.sum(1) < 16)
    short = low.apply(tokens[rows, :16], layers=(2,), logits=False)["embeddings"][2]
    keep_short = nonpad[rows, :16]
    pad_cos = float(
        cosine_rows(short[keep_short], got["embeddings"][2][rows, :16][keep_short]).min()
    )
    filler = tokens.copy()
    filler[1] = pad_id
    with_pad = low.apply(filler, layers=(2,), logits=True)
    rows_ok = bool(
        np.isfinite(with_pad["embeddings"][2]).all() and np.isfinite(with_pad["logits"]).all()
    )
    others = float(
        cosine_rows(
            with_pad["embeddings"][2][0][nonpad[0]], got["embeddings"][2][0][nonpad[0]]
        ).min()
    )
    ok = pad_cos >= 0.999 and rows_ok and others >= 0.999
    emit(
        "parity",
        check="padding",
        model=which,
        attention=attention,
        extra_pad_min_cosine=pad_cos,
        all_pad_row_finite=rows_ok,
        other_row_min_cosine=others,
        status="pass" if ok else "fail",
    )


def _rank(a, b) -> float:
    from gpu_proof_inputs import rank_correlation

    return rank_correlation(a, b)


def step_throughput(args) -> None:
    import jax
    import numpy as np
    from gpu_proof_inputs import shape

    from ntscale.model import init_model

    for preset, tokens, batch, target in THROUGHPUT:
        if args.dry:
            tokens, batch = min(tokens, 128), 2
        t0 = time.perf_counter()
        model = init_model(shape(preset, tiny=args.dry), seed=0, dtype="bf16")
        jax.block_until_ready(model.params)
        load_s = time.perf_counter() - t0
        fwd = model.compiled((model.config.num_layers,), False, post=_mean_pool)
        compile_s = fwd.compile_seconds(batch, tokens)
        rng = np.random.default_rng(0)
        ids = rng.integers(6, 4100, (batch, tokens)).astype(np.int32)
        ids[:, 0] = 3
        fwd(ids)  # warm-up
        iters, t1 = 0, time.perf_counter()
        while iters < 3 or (time.perf_counter() - t1 < (0.5 if args.dry else 5.0) and iters < 500):
            out = fwd.dispatch(ids)
            iters += 1
        jax.block_until_ready(out)
        rate = batch * iters / (time.perf_counter() - t1)
        budget = COMPILE_LOAD_TARGET_S.get(preset)
        met = None if target is None else rate >= target
        emit(
            "throughput",
            model=model.name,
            tokens=tokens,
            batch=batch,
            dtype=model.dtype,
            attention=fwd.attention,
            windows_per_s=round(rate, 2),
            target=target,
            target_met=met,
            load_s=round(load_s, 2),
            compile_s=round(compile_s, 2),
            compile_load_target_s=budget,
            compile_load_met=None if budget is None else load_s + compile_s < budget,
            status="report" if target is None else ("pass" if met else "fail"),
        )
        del model, fwd


def _mean_pool(outputs, tokens):
    import jax.numpy as jnp

    keep = (tokens != 1)[..., None].astype(jnp.float32)
    return {k: (v * keep).sum(1) / keep.sum(1) for k, v in outputs["embeddings"].items()}


def _cli(*words: str, timeout: float) -> dict:
    """Run `python -m ntscale WORDS`; its printed summary ({"run", "store"}) and seconds."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ntscale", *words],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"ntscale {words[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    text = proc.stdout
    summary, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    return {**summary, "wall_s": round(wall, 2)}


def _workdir(args, what: str) -> tempfile.TemporaryDirectory:
    """A scratch folder for one step, removed after it (under --work-dir when given)."""
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    return _PathDir(prefix=f"proof-{what}-", dir=args.work_dir)


class _PathDir(tempfile.TemporaryDirectory):
    def __enter__(self) -> Path:
        return Path(super().__enter__())


def _inputs(args, work: Path) -> tuple[Path, Path]:
    from gpu_proof_inputs import write_checkpoint, write_genome

    fasta = work / "genome.fa"
    write_genome(fasta, 150_000 if args.dry else 12_000_000)
    ckpt = write_checkpoint(work / "model", E2E_PRESET, tiny=args.dry)
    return fasta, ckpt


def _embed(fasta: Path, ckpt: Path, out: Path, extra: list[str], timeout: float):
    """`ntscale embed` in bf16, batches of 16, GPU use sampled; (its summary, GPU samples)."""
    from gpu_proof_inputs import gpu_sampler, stop_sampler

    common = ["--fasta", str(fasta), "--model", str(ckpt), "--out", str(out)]
    common += ["--batch-size", "16", "--dtype", "bf16", "--no-progress"]
    sampler = gpu_sampler()
    try:
        summary = _cli("embed", *common, *extra, timeout=timeout)
    finally:
        gpu = stop_sampler(sampler)
    return summary, gpu


def step_e2e(args) -> None:
    _e2e(args, "local")


def step_e2e_ray(args) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        emit("e2e", executor="ray", status="skipped", reason="ray not installed")
        return
    _e2e(args, "ray")


def _e2e(args, executor: str) -> None:
    """`ntscale embed` of the generated genome (--dry: its first 40 kb) with one executor."""

    with _workdir(args, executor) as work:
        _e2e_in(args, executor, work)


def _e2e_in(args, executor: str, work: Path) -> None:
    fasta, ckpt = _inputs(args, work)
    small = []
    if args.dry:
        (work / "dry.bed").write_text("chr1\t0\t40000\n")
        small = ["--window", "600", "--regions", str(work / "dry.bed")]
    extra = [*small, *(["--ray", "local"] if executor == "ray" else [])]
    extra += ["--unit-windows", "64"]
    step = "e2e" if executor == "local" else "e2e_ray"
    s, gpu = _embed(fasta, ckpt, work / f"{executor}.zarr", extra, LIMITS[step][args.dry] - 5)
    run = s["run"]
    overhead = run["seconds"] / run["model_seconds"] - 1 if run["model_seconds"] else None
    emit(
        "e2e",
        executor=executor,
        windows=run["windows_run"],
        windows_per_s=run["windows_per_second"],
        seconds=run["seconds"],
        model_seconds=run["model_seconds"],
        wall_s=s["wall_s"],
        overhead_vs_model=None if overhead is None else round(overhead, 3),
        overhead_target=0.10,
        gpu=gpu,
        status="pass" if overhead is not None and overhead < 0.10 else "fail",
    )


def step_cohort(args) -> None:
    with _workdir(args, "cohort") as work:
        _cohort_in(args, work)


def _cohort_in(args, work: Path) -> None:
    from gpu_proof_inputs import write_cohort

    fasta, ckpt = _inputs(args, work)
    span = (20_000, 32_000) if args.dry else (1_000_000, 1_600_000)
    vcf = write_cohort(
        work / "cohort.vcf.gz",
        fasta,
        contig="chr1",
        start=span[0],
        end=span[1],
        samples=8 if args.dry else 100,
        sites=60 if args.dry else 3000,
    )
    bed = work / "region.bed"
    bed.write_text(f"chr1\t{span[0]}\t{span[1]}\n")
    extra = ["--vcf", str(vcf), "--regions", str(bed)]
    extra += ["--window", "600"] if args.dry else []
    s, gpu = _embed(fasta, ckpt, work / "cohort.zarr", extra, LIMITS["cohort"][args.dry] - 5)
    run = s["run"]
    host = run["seconds"] / run["model_seconds"] - 1 if run["model_seconds"] else None
    emit(
        "cohort",
        rows=run["windows_run"],
        distinct=run["forward_windows"],
        distinct_per_s=run["forward_windows_per_second"],
        rows_per_s=run["windows_per_second"],
        seconds=run["seconds"],
        model_seconds=run["model_seconds"],
        host_overhead=None if host is None else round(host, 3),
        gpu=gpu,
        status="pass" if host is not None and host < 0.10 else "fail",
    )


def step_profile(args) -> None:
    import jax
    import numpy as np
    from gpu_proof_inputs import shape

    from ntscale.model import init_model

    preset, tokens, batch, _ = next(t for t in THROUGHPUT if t[0] == args.model)
    if args.dry:
        tokens, batch = min(tokens, 128), 2
    model = init_model(shape(preset, tiny=args.dry), seed=0, dtype="bf16")
    fwd = model.compiled((model.config.num_layers,), False, post=_mean_pool)
    ids = np.random.default_rng(0).integers(6, 4100, (batch, tokens)).astype(np.int32)
    fwd(ids)  # compile outside the trace
    with _workdir(args, "trace") as trace:
        with jax.profiler.trace(str(trace)):
            jax.block_until_ready(fwd.dispatch(ids))
        paths = _archive(trace, f"profile-{preset}.tar.gz", args)
    emit("profile", model=preset, tokens=tokens, batch=batch, files=paths, status="report")


def _archive(trace: Path, name: str, args) -> list[str]:
    """The trace folder as one .tar.gz in the results folder and $OUT (the trace's own
    folders are deeper than $OUT brings back)."""
    paths = []
    for folder in {args.results_dir, os.environ.get("OUT")} - {None}:
        path = Path(folder) / name
        with tarfile.open(path, "w:gz") as tar:
            tar.add(trace, arcname="trace")
        paths.append(str(path))
    return paths


# --- the parent: one child per step, time limits, result files ------------------------------


def run_step(
    step: str, args, files: list[Path], extra: list[str], *, left: float | None = None
) -> list[dict]:
    """Run one step in a child under its time limit (cut to `left` seconds of the whole
    run's budget); file and return its result lines."""
    limit = LIMITS[step][args.dry] if left is None else min(LIMITS[step][args.dry], left)
    cmd = [sys.executable, "-u", __file__, "--step", step, "--results-dir", str(args.results_dir)]
    cmd += ["--work-dir", str(args.work_dir)] if args.work_dir else []
    cmd += (["--dry"] if args.dry else []) + extra
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    t0 = time.monotonic()
    child = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )
    results: list[dict] = []
    tail: list[str] = []

    def read() -> None:
        for line in child.stdout:
            if line.startswith(MARK):
                results.append(_file(json.loads(line[len(MARK) :]), args, files))
                print(f"[{step}] {line[len(MARK) :].rstrip()}", flush=True)
            else:
                tail[:] = (tail + [line.rstrip()])[-15:]
                print(f"[{step}] | {line.rstrip()}", flush=True)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        rc = child.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the child's own session: it and what it started
        child.wait()
        rc = None
    reader.join(timeout=5)
    took = round(time.monotonic() - t0, 1)
    if rc is None:
        results.append(_file({"step": step, "status": "timeout", "limit_s": limit}, args, files))
    elif rc != 0:
        results.append(
            _file({"step": step, "status": "error", "rc": rc, "tail": tail}, args, files)
        )
    print(f"[{step}] done in {took} s (limit {limit} s, rc {rc})", flush=True)
    return results


def _file(result: dict, args, files: list[Path]) -> dict:
    result = {
        **result,
        "dry": args.dry,
        "utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    line = json.dumps(result, default=str) + "\n"
    for path in files:
        with path.open("a") as fh:
            fh.write(line)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry", action="store_true", help="CPU, tiny shapes, < 2 minutes")
    p.add_argument(
        "--steps", default=",".join(STEPS), help="comma-separated subset of " + ", ".join(STEPS)
    )
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the whole run (default: 480 on the device, none with --dry); "
        "later steps get what is left, or are skipped",
    )
    p.add_argument("--work-dir", type=Path, default=None, help="scratch space (default: TMPDIR)")
    p.add_argument("--step", help=argparse.SUPPRESS)  # a child: run this step only
    p.add_argument("--model", help=argparse.SUPPRESS)  # the profile step's model
    args = p.parse_args(argv)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    if args.budget is None and not args.dry:
        args.budget = 480.0
    if args.step:
        sys.path.insert(0, str(Path(__file__).parent))
        globals()[f"step_{args.step}"](args)
        return 0
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    files = [args.results_dir / f"gpu_proof-{stamp}{'-dry' if args.dry else ''}.jsonl"]
    if os.environ.get("OUT"):
        files.append(Path(os.environ["OUT"]) / "gpu_proof.jsonl")
    chosen = [s for s in args.steps.split(",") if s]
    unknown = sorted(set(chosen) - set(STEPS))
    if unknown:
        p.error(f"unknown step(s) {unknown}; steps are {', '.join(STEPS)}")
    results: list[dict] = []
    t0 = time.monotonic()

    def left() -> float | None:
        return None if args.budget is None else args.budget - (time.monotonic() - t0)

    def step_in_budget(step: str, extra: list[str]) -> list[dict]:
        rest = left()
        if rest is not None and rest < 15:
            skip = {"step": step, "status": "skipped", "reason": f"budget of {args.budget} s used"}
            return [_file(skip, args, files)]
        return run_step(step, args, files, extra, left=rest)

    for step in (s for s in STEPS if s in chosen and s != "profile"):
        results += step_in_budget(step, [])
    missed = [
        r["model"]
        for r in results
        if r.get("step") == "throughput" and r.get("target_met") is False
    ]
    if args.dry and not missed:  # the dry run always exercises the profile step
        missed = [shape_name(THROUGHPUT[0][0], True)]
    if "profile" in chosen and missed:
        preset = next(t[0] for t in THROUGHPUT if shape_name(t[0], args.dry) == missed[0])
        results += step_in_budget("profile", ["--model", preset])
    print("\nsummary:", flush=True)
    for r in results:
        what = r.get("check") or r.get("executor") or ""
        print(f"  {r['step']:<10} {what:<12} {r.get('model', ''):<28} {r['status']}", flush=True)
    print(f"results: {', '.join(map(str, files))}", flush=True)
    return 0 if all(r["status"] != "error" and r["status"] != "timeout" for r in results) else 1


def shape_name(preset: str, dry: bool) -> str:
    """The model name a throughput result carries for a preset."""
    return f"{preset}-tiny" if dry else preset


if __name__ == "__main__":
    sys.exit(main())
