"""Forward speed and peak memory side by side: ntscale, the reference NT JAX code, and
Hugging Face transformers' EsmModel (issue 28's first table).

Neither peer is a dependency of ntscale: each runs in its own child process with the
Python of a throwaway environment given on the command line, e.g.

    .venv/bin/python benchmarks/bench_side_by_side.py \
        --ref-python /tmp/refenv/bin/python --ref-src /tmp/nucleotide-transformer \
        --hf-python /tmp/hfenv/bin/python --tokens 512 1024 2048 --batch 1 2 8

and ends with a markdown table of the best windows/s per shape and the ratios.

`--ref-src` is a checkout of instadeepai/nucleotide-transformer (its model code is
imported from there, in the child only); the HF environment needs torch and transformers.

Same weights everywhere: the driver draws one random v1-architecture model (the ESM
architecture transformers' EsmModel implements: learned positions, GELU FFN with biases)
of the 12 x 512 shape, writes it in the official checkpoint layout (the reference loads it
through its own module renaming) and as an ESM state dict (npz) for transformers. Runs are
interleaved (every engine once per round, shape by shape); each child reports steady-state
windows/s (best and median batch time after one warm-up/compile call) and its peak RSS.
JSON rows go to --out. Threads: torch is set to --threads (and OMP/MKL to the same);
XLA's CPU client uses every core of the machine (2 on the issue's machine, so the same).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The child programs: each reads a JSON job from argv[1], prints one JSON line.
COMMON = r"""
import json, resource, sys, time
import numpy as np
job = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
tokens = rng.integers(6, job["vocab"] - 10, (job["batch"], job["tokens"])).astype(np.int32)
tokens[:, 0] = 3
LAST, CPU = [], []
def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def timed(run):
    t0 = time.perf_counter(); LAST.append(run()); first = time.perf_counter() - t0
    times = []
    for _ in range(job["iters"]):
        c1, t1 = cpu_s(), time.perf_counter(); run(); times.append(time.perf_counter() - t1)
        CPU.append(cpu_s() - c1)
    return first, times
def report(engine, first, times, extra):
    times = sorted(times)
    print(json.dumps({"engine": engine, "tokens": job["tokens"], "batch": job["batch"],
        "layers": job["layers"], "first_call_s": round(first, 3),
        "batch_s": [round(t, 3) for t in times], "batch_cpu_s": sorted(round(c, 3) for c in CPU),
        "windows_per_s_best": round(job["batch"] / times[0], 3),
        "windows_per_s_median": round(job["batch"] / times[len(times) // 2], 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
        "pooled_first_rows": pooled_head(LAST[0]), **extra}))
def pooled_head(out):
    # the first values of the mean-pooled last layer: the engines must agree (same weights)
    arr = np.asarray(list(out.values())[0] if isinstance(out, dict) else out)
    return [round(float(x), 4) for x in arr.reshape(arr.shape[0], -1)[0, :3]]
"""

NTSCALE = (
    COMMON
    + r"""
import jax, jax.numpy as jnp
from ntscale.model import load
model = load(job["ckpt"], dtype="float32")
layer = model.config.num_layers
def pool(out, tok):
    keep = (tok != 1)[..., None].astype(jnp.float32)
    return {k: (v * keep).sum(1) / keep.sum(1) for k, v in out["embeddings"].items()}
fn = model.compiled((layer,), False, post=pool)
first, times = timed(lambda: fn(tokens))
report("ntscale", first, times, {"jax": jax.__version__, "attention": fn.attention})
"""
)

REFERENCE = r"""
import types
for stub in ("huggingface_hub", "torch"):  # imported by the reference for downloads only
    if stub not in sys.modules:
        try:
            __import__(stub)
        except ImportError:
            mod = sys.modules[stub] = types.ModuleType(stub)
            mod.hf_hub_download = None
import joblib, haiku as hk, jax, jax.numpy as jnp
from nucleotide_transformer.model import (NucleotideTransformerConfig,
    build_nucleotide_transformer_fn)
from nucleotide_transformer.pretrained import rename_modules_dcnuc
hp = job["hp"]
cfg = NucleotideTransformerConfig(alphabet_size=hp["alphabet_size"], pad_token_id=1,
    mask_token_id=2, max_positions=hp["max_positions"], embed_scale=hp["embed_scale"],
    emb_layer_norm_before=False, key_size=hp["key_size"], attention_heads=hp["attention_heads"],
    embed_dim=hp["embed_dim"], ffn_embed_dim=hp["ffn_embed_dim"], num_layers=hp["num_layers"],
    token_dropout=hp["token_dropout"], masking_ratio=hp["masking_ratio"],
    masking_prob=hp["masking_prob"], embeddings_layers_to_save=(hp["num_layers"],))
name = "nucleotide_transformerbench"
params = rename_modules_dcnuc(joblib.load(job["ckpt"] + "/jax_model/pytree_ckpt.joblib"), name)
fwd = hk.transform(build_nucleotide_transformer_fn(cfg, model_name=name))
@jax.jit
def run(p, t):
    out = fwd.apply(p, None, t)
    emb = out["embeddings_%d" % hp["num_layers"]]
    keep = (t != 1)[..., None].astype(jnp.float32)
    return (emb * keep).sum(1) / keep.sum(1)
params = jax.device_put(params)
first, times = timed(lambda: np.asarray(run(params, tokens)))
report("reference", first, times, {"jax": jax.__version__})
"""

TRANSFORMERS = r"""
import torch, transformers
from transformers import EsmConfig, EsmModel
torch.set_num_threads(job["threads"])
hp = job["hp"]
cfg = EsmConfig(vocab_size=job["vocab"], hidden_size=hp["embed_dim"],
    num_hidden_layers=hp["num_layers"], num_attention_heads=hp["attention_heads"],
    intermediate_size=hp["ffn_embed_dim"], max_position_embeddings=hp["max_positions"] + 2,
    position_embedding_type="absolute", pad_token_id=1, mask_token_id=2,
    token_dropout=hp["token_dropout"], emb_layer_norm_before=False, layer_norm_eps=1e-5,
    attn_implementation="sdpa")
model = EsmModel(cfg, add_pooling_layer=False).eval()
state = {k[4:]: torch.from_numpy(v) for k, v in np.load(job["state"]).items()
    if k.startswith("esm.")}
missing, unexpected = model.load_state_dict(state, strict=False)
assert not unexpected, unexpected
t = torch.from_numpy(tokens).long()
mask = (t != 1).long()
def run():
    with torch.inference_mode():
        h = model(input_ids=t, attention_mask=mask).last_hidden_state
        keep = mask[..., None].float()
        return ((h * keep).sum(1) / keep.sum(1)).numpy()
first, times = timed(run)
report("transformers", first, times, {"torch": torch.__version__,
    "transformers": transformers.__version__, "missing_keys": len(missing)})
"""


def bench_config(layers: int, max_tokens: int):
    """The v1-architecture (ESM) model of the 12 x 512 shape the issue measured."""
    from ntscale.model import get_preset

    base = get_preset("500M_human_ref")  # v1: learned positions, GELU FFN with biases
    return base.replace(
        name="bench_v1_512",
        num_layers=layers,
        embed_dim=512,
        num_heads=16,
        key_size=32,
        ffn_dim=2048,
        max_tokens=max_tokens,
    )


def write_weights(folder: Path, layers: int, max_tokens: int) -> tuple[Path, Path, dict]:
    """One random model as an official checkpoint and as an ESM state dict (npz)."""
    sys.path.insert(0, str(ROOT / "tests" / "model"))
    from esm_names import esm_state  # the tests' official -> ESM name map

    from ntscale.model import init_official, save_checkpoint
    from ntscale.model.config import config_to_hyperparams

    cfg = bench_config(layers, max_tokens)
    flat = init_official(cfg, seed=0)
    save_checkpoint(flat, cfg, folder / "ckpt")
    np.savez(folder / "esm_state.npz", **esm_state(flat, layers))
    hp = config_to_hyperparams(cfg)
    return folder / "ckpt", folder / "esm_state.npz", {"vocab": cfg.vocab_size, "hp": hp}


def run_child(python: str, code: str, job: dict, *, env: dict, cwd: str) -> dict:
    """Run one engine's child program; its JSON row (or the error)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, "-c", code, json.dumps(job)], capture_output=True, text=True, env=env, cwd=cwd
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-3:], "seconds": time.perf_counter() - t0}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref-python", help="Python of a throwaway env with jax, dm-haiku, jmp")
    p.add_argument("--ref-src", help="checkout of instadeepai/nucleotide-transformer")
    p.add_argument("--hf-python", help="Python of a throwaway env with torch, transformers")
    p.add_argument("--tokens", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--batch", type=int, nargs="+", default=[2])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1, help="interleaved repetitions")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/side_by_side.jsonl")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ntscale-sbs-"))
    ckpt, state, meta = write_weights(work, args.layers, max(max(args.tokens), 1000))
    threads = str(args.threads)
    base_env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    engines = [("ntscale", sys.executable, NTSCALE, dict(base_env, PYTHONPATH=str(ROOT)))]
    if args.ref_python and args.ref_src:
        env = dict(base_env, PYTHONPATH=args.ref_src)
        engines.append(("reference", args.ref_python, COMMON + REFERENCE, env))
    if args.hf_python:
        engines.append(("transformers", args.hf_python, COMMON + TRANSFORMERS, base_env))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for rnd in range(args.rounds):
        for tokens in args.tokens:
            for batch in args.batch:
                for name, python, code, env in engines:  # interleaved, shape by shape
                    job = {**meta, "tokens": tokens, "batch": batch, "layers": args.layers}
                    job.update(iters=args.iters, threads=args.threads)
                    job.update(ckpt=str(ckpt), state=str(state))
                    row = run_child(python, code, job, env=env, cwd=str(work))
                    row.update(engine=name, round=rnd, load_avg=round(os.getloadavg()[0], 2))
                    row.setdefault("tokens", tokens)
                    row.setdefault("batch", batch)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    with args.out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    print(summary(rows))


def summary(rows: list[dict]) -> str:
    """A markdown table: per shape, each engine's best windows/s over the rounds and peak
    GB, and ntscale's speed and memory ratios to each peer (peer time / ntscale time;
    ntscale GB / peer GB)."""
    best: dict[tuple[int, int], dict[str, tuple[float, float]]] = {}
    for row in rows:
        if "error" in row:
            continue
        cell = best.setdefault((row["tokens"], row["batch"]), {})
        old = cell.get(row["engine"], (0.0, 0.0))
        cell[row["engine"]] = (max(old[0], row["windows_per_s_best"]), row["peak_rss_gb"])
    peers = ("reference", "transformers")
    lines = [
        "| tokens x batch | ntscale w/s, GB | reference | transformers | speed vs ref | "
        "vs transformers | memory vs transformers |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for (tokens, batch), cell in sorted(best.items()):
        ours = cell.get("ntscale")
        cols = [
            f"{w:.3g}, {gb:.2f}" if (w, gb) != (0, 0) else "-"
            for w, gb in (cell.get(e, (0, 0)) for e in ("ntscale", *peers))
        ]
        ratios = [f"{ours[0] / cell[e][0]:.2f}" if ours and e in cell else "-" for e in peers]
        mem = "-"
        if ours and "transformers" in cell:
            mem = f"{ours[1] / cell['transformers'][1]:.2f}"
        lines.append(f"| {tokens} x {batch} | " + " | ".join([*cols, *ratios, mem]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
