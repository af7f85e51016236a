"""End to end on real chr20: `ntscale embed` at its defaults vs a plain transformers +
pyfaidx script (issue 28's fifth row), one command:

    .venv/bin/python benchmarks/bench_e2e_hf.py --hf-python /tmp/hfenv/bin/python \
        --bp 1000000 --rounds 2

The HF environment needs torch, transformers and pyfaidx (a throwaway environment: none
of them is a dependency of ntscale). Same weights on both sides: a random v1-architecture
(ESM) model of 4 layers x 512 dim (16 heads, FFN 2,048, 1,000 tokens: 5,994 bp windows),
drawn once, written as an official checkpoint for ntscale and as an ESM state dict plus a
`vocab.txt` for transformers (`bench_side_by_side.write_weights`). Same windows: the
region 20:1,000,000 + bp of `examples/data/chr20_2mb.fa.gz` (no N there; decompressed
once to a plain FASTA that both sides read), tiled by
ntscale's defaults (window = the model's maximum, stride = window, the last window
shifted back to end at the region's end); the script tiles it the same way. Both write
mean-pooled last-layer embeddings (CLS and pads excluded): ntscale to its Zarr store, the
script to a .npy; the driver checks they agree before reporting.

Timed: the whole process of each side (imports, model load, compile, reading, tokenizing,
forward, writing), wall seconds and windows/s, rounds interleaved, and each child's CPU
seconds (peak memory is bench_side_by_side.py's column). JSON rows go to --out.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FASTA = ROOT / "examples/data/chr20_2mb.fa.gz"
CONTIG, START = "20", 1_000_000
LAYERS, MAX_TOKENS = 4, 1000

# The plain script: pyfaidx reads the region, 6-mers looked up in vocab.txt, EsmModel in
# batches, mean over the 6-mer tokens, one .npy. It reads a JSON job from argv[1].
HF_SCRIPT = r"""
import json, sys
import numpy as np, pyfaidx, torch
from transformers import EsmConfig, EsmModel
job = json.loads(sys.argv[1])
torch.set_num_threads(job["threads"])
hp = job["hp"]
cfg = EsmConfig(vocab_size=job["vocab_size"], hidden_size=hp["embed_dim"],
    num_hidden_layers=hp["num_layers"], num_attention_heads=hp["attention_heads"],
    intermediate_size=hp["ffn_embed_dim"], max_position_embeddings=hp["max_positions"] + 2,
    position_embedding_type="absolute", pad_token_id=1, mask_token_id=2,
    token_dropout=hp["token_dropout"], emb_layer_norm_before=False, layer_norm_eps=1e-5,
    attn_implementation="sdpa")
model = EsmModel(cfg, add_pooling_layer=False).eval()
state = {k[4:]: torch.from_numpy(v) for k, v in np.load(job["state"]).items()
    if k.startswith("esm.")}
model.load_state_dict(state, strict=False)
vocab = {tok: i for i, tok in enumerate(open(job["vocab"]).read().split())}
seq = str(pyfaidx.Fasta(job["fasta"])[job["contig"]][job["start"]:job["end"]]).upper()
w = job["window"]
starts = list(range(0, len(seq) - w + 1, w))
if starts[-1] + w < len(seq):
    starts.append(len(seq) - w)  # the last window shifted back to end at the region's end
k = 6
cls = vocab["<cls>"]
def tokens(s):
    return [cls] + [vocab[s[i:i + k]] for i in range(0, len(s) - k + 1, k)]
out = []
with torch.inference_mode():
    for b in range(0, len(starts), job["batch"]):
        ids = torch.tensor([tokens(seq[s:s + w]) for s in starts[b:b + job["batch"]]])
        h = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        out.append(h[:, 1:].mean(1).numpy())
np.save(job["out"], np.concatenate(out))
print(json.dumps({"windows": len(starts), "starts": [job["start"] + s for s in starts[:2]]}))
"""


def write_inputs(work: Path, bp: int) -> dict:
    """Weights (checkpoint, ESM state, vocab.txt) and the region BED; the job's settings."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_side_by_side import write_weights

    from ntscale.tokenizer.vocab import build_vocab

    ckpt, state, meta = write_weights(work, LAYERS, MAX_TOKENS)
    (work / "vocab.txt").write_text("\n".join(build_vocab("v1").tokens) + "\n")
    (work / "region.bed").write_text(f"{CONTIG}\t{START}\t{START + bp}\n")
    # one plain FASTA for both sides (pyfaidx reads bgzip only with Biopython installed)
    with gzip.open(FASTA, "rb") as src, (work / "chr20.fa").open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return {"ckpt": ckpt, "state": state, "hp": meta["hp"], "vocab_size": meta["vocab"]}


def run_side(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """Run one side as a child process: its wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return proc, {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def ntscale_pooled(store: Path) -> tuple[np.ndarray, np.ndarray]:
    """(window starts, last-layer mean embeddings) of an ntscale store, by start."""
    import ntscale.store

    ds = ntscale.store.open(str(store))
    starts = np.asarray(ds.start.values)
    emb = np.asarray(ds.embedding_mean.isel(layer=-1).values)
    order = np.argsort(starts)
    return starts[order], emb[order]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hf-python", required=True, help="Python with torch, transformers, pyfaidx")
    p.add_argument("--bp", type=int, default=1_000_000, help="region length (<= 1,000,000)")
    p.add_argument("--rounds", type=int, default=1, help="interleaved repetitions")
    p.add_argument("--hf-batch", type=int, default=2, help="the script's batch (2: its best)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/e2e_hf.jsonl")
    args = p.parse_args()
    if not 5_994 <= args.bp <= 1_000_000:
        p.error("--bp must be in 5,994..1,000,000 (the example FASTA's N-free part)")

    work = Path(tempfile.mkdtemp(prefix="ntscale-e2e-"))
    inputs = write_inputs(work, args.bp)
    threads = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    nt_env = dict(env, PYTHONPATH=str(ROOT))
    window = (MAX_TOKENS - 1) * 6
    fasta = work / "chr20.fa"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for rnd in range(args.rounds):
        store = work / f"nt{rnd}.zarr"
        nt_cmd = [sys.executable, "-m", "ntscale", "embed", "--fasta", str(fasta)]
        nt_cmd += ["--model", str(inputs["ckpt"]), "--regions", str(work / "region.bed")]
        nt_cmd += ["--out", str(store)]
        job = {
            "fasta": str(fasta),
            "contig": CONTIG,
            "start": START,
            "end": START + args.bp,
            "window": window,
            "batch": args.hf_batch,
            "threads": args.threads,
            "state": str(inputs["state"]),
            "vocab": str(work / "vocab.txt"),
            "hp": inputs["hp"],
            "vocab_size": inputs["vocab_size"],
            "out": str(work / f"hf{rnd}.npy"),
        }
        hf_cmd = [args.hf_python, "-c", HF_SCRIPT, json.dumps(job)]
        rows = {}
        for name, cmd, side_env in (("ntscale", nt_cmd, nt_env), ("transformers", hf_cmd, env)):
            proc, stats = run_side(cmd, side_env)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
            rows[name] = stats
        starts, ours = ntscale_pooled(store)
        theirs = np.load(work / f"hf{rnd}.npy")
        if ours.shape != theirs.shape:
            raise SystemExit(f"window counts differ: ntscale {ours.shape}, script {theirs.shape}")
        diff = float(np.max(np.abs(ours - theirs)))
        n = len(starts)
        for name, stats in rows.items():
            row = {
                "engine": name,
                "round": rnd,
                "bp": args.bp,
                "windows": n,
                "window_bp": window,
                "layers": LAYERS,
                "windows_per_s": round(n / stats["wall_s"], 3),
                **stats,
                "max_abs_diff_pooled": diff,
                "hf_batch": args.hf_batch,
                "load_avg": round(os.getloadavg()[0], 2),
            }
            print(json.dumps(row), flush=True)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
        ratio = rows["transformers"]["wall_s"] / rows["ntscale"]["wall_s"]
        print(
            f"round {rnd}: ntscale {rows['ntscale']['wall_s']} s, transformers "
            f"{rows['transformers']['wall_s']} s, ratio {ratio:.2f}; pooled max diff {diff:.2e}"
        )


if __name__ == "__main__":
    main()
