# ruff: noqa: E402  (ROOT goes on sys.path before the project imports)
"""A/B of forward variants in one process, interleaved; CPU and wall seconds per window
(issue 28, third round: the figures of docs/benchmarks.md's forward-variant table).

    LAYERS=4 .venv/bin/python benchmarks/bench_forward_variants.py \
        base,fused,noln,noact,noattn,qb512,qb128,kb1024,direct 512x2,1024x2 4

Arguments: comma-separated variants, comma-separated TOKENSxBATCH shapes, rounds. The
variants patch ntscale's modules for the benchmark process only (the model code is not
changed): "fused" (one [D, 3D] QKV matmul, weights concatenated in the program), "noln",
"noact", "noattn" (accounting only: layer norms / FFN activation / attention core and the
Q, K projections removed), "qb512", "qb128", "kb1024" (attention block sizes), "direct"
(no blocks, [B, T, H, K] straight into the einsums). Same random weights (the 12 x 512 v1
shape of bench_side_by_side.py, LAYERS layers); the first call per variant compiles and
prints the largest difference to the first variant's pooled output.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from bench_side_by_side import bench_config

from ntscale.model import attention as A
from ntscale.model import init_official
from ntscale.model import modules as M
from ntscale.model.forward import forward
from ntscale.model.ntmodel import NTModel
from ntscale.model.params import stack_official

MODE = {"v": "base"}
orig_attn_call = M.SelfAttention.__call__
orig_ln = M.layer_norm
orig_act = M.activation


class Raw(hk.Module):
    def __init__(self, n, name):
        super().__init__(name=name)
        self.n = n

    def __call__(self, d):
        return (
            hk.get_parameter("w", [d, self.n], jnp.float32, init=jnp.zeros),
            hk.get_parameter("b", [self.n], jnp.float32, init=jnp.zeros),
        )


def attn_call(self, h, *, key_mask, kv_len, rotary):
    v_ = MODE["v"]
    c = self.config
    b, t, d = h.shape
    hkd = c.num_heads * c.key_size
    heads = (b, t, c.num_heads, c.key_size)
    if v_ == "noattn":
        vv = M.Dense(hkd, dtype=jnp.float32, name="value")(h)
        return M.Dense(c.embed_dim, dtype=jnp.float32, name="mha_output")(vv)
    if v_ not in ("fused", "fused_bhtk"):
        return orig_attn_call(self, h, key_mask=key_mask, kv_len=kv_len, rotary=rotary)
    ws = [Raw(hkd, n)(d) for n in ("query", "key", "value")]
    w = jnp.concatenate([x[0] for x in ws], axis=1)
    bb = jnp.concatenate([x[1] for x in ws])
    y = jnp.dot(h, w) + bb
    q, k, v = (y[..., i * hkd : (i + 1) * hkd].reshape(heads) for i in range(3))
    scale = 1.0 / float(np.sqrt(c.key_size))
    out = A.chunked_attention(q, k, v, key_mask=key_mask, scale=scale)
    return M.Dense(c.embed_dim, dtype=jnp.float32, name="mha_output")(out.reshape(b, t, hkd))


def ln(x, *, eps, name):
    if MODE["v"] == "noln":
        hk.LayerNorm(
            axis=-1, create_scale=True, create_offset=True, eps=eps, name=name
        )  # params unused
        return x
    return orig_ln(x, eps=eps, name=name)


def act(name, x):
    if MODE["v"] == "noact":
        return x
    if MODE["v"] == "tanhgelu" and name == "gelu-no-approx":
        return jax.nn.gelu(x, approximate=True)
    return orig_act(name, x)


orig_chunked = A.chunked_attention


def direct(q, k, v, *, key_mask, scale):
    b, t, h, kd = q.shape
    s = jnp.einsum("bqhd,bkhd->bhqk", q, k) * scale
    s = jnp.where(key_mask[:, None, None, :], s, -jnp.inf)
    p = jnp.exp(s - s.max(-1, keepdims=True))
    v1 = jnp.concatenate([v, jnp.ones((b, t, h, 1), v.dtype)], -1)
    acc = jnp.einsum("bhqk,bkhd->bqhd", p, v1)
    return acc[..., :kd] / acc[..., kd:]


def chunked_variant(q, k, v, *, key_mask, scale):
    m = MODE["v"]
    if m == "qb512":
        return orig_chunked(q, k, v, key_mask=key_mask, scale=scale, query_block=512)
    if m == "qb128":
        return orig_chunked(q, k, v, key_mask=key_mask, scale=scale, query_block=128)
    if m == "kb1024":
        return orig_chunked(q, k, v, key_mask=key_mask, scale=scale, key_block=1024)
    if m == "direct":
        return direct(q, k, v, key_mask=key_mask, scale=scale)
    return orig_chunked(q, k, v, key_mask=key_mask, scale=scale)


M.chunked_attention = chunked_variant
M.SelfAttention.__call__ = attn_call
M.layer_norm = ln
M.activation = act

layers = int(os.environ.get("LAYERS", 12))
cfg = bench_config(layers, 2048)
flat = init_official(cfg, seed=0)
model = NTModel(cfg, stack_official(flat, cfg), digest="x")
variants = sys.argv[1].split(",")
shapes = [tuple(map(int, s.split("x"))) for s in sys.argv[2].split(",")]  # tokens x batch
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pool(out, tok):
    keep = (tok != 1)[..., None].astype(jnp.float32)
    return {k: (v * keep).sum(1) / keep.sum(1) for k, v in out["embeddings"].items()}


fns = {}
for v_ in variants:

    def run(params, tok, v_=v_):
        MODE["v"] = v_
        out = forward(
            params,
            tok,
            config=cfg,
            precision=model.precision,
            attention="chunked",
            layers=(layers,),
            logits=False,
        )
        MODE["v"] = "base"
        return pool(out, tok)

    fns[v_] = jax.jit(run)
res = {}
rng = np.random.default_rng(0)
for t, b in shapes:
    tok = rng.integers(6, cfg.vocab_size - 10, (b, t)).astype(np.int32)
    tok[:, 0] = 3
    tok = jnp.asarray(tok)
    ref = None
    for v_ in variants:
        o = np.asarray(fns[v_](model.params, tok)[layers])
        if ref is None:
            ref = o
        print(v_, t, b, "maxdiff vs first", float(np.abs(o - ref).max()), flush=True)
    for _r in range(rounds):
        for v_ in variants:
            c0, w0 = cpu(), time.perf_counter()
            jax.block_until_ready(fns[v_](model.params, tok))
            w, c = time.perf_counter() - w0, cpu() - c0
            res.setdefault((t, b, v_), []).append((w / b, c / b))
for (t, b, v_), xs in res.items():
    ws = sorted(x[0] for x in xs)
    cs = sorted(x[1] for x in xs)
    print(
        json.dumps(
            {
                "tokens": t,
                "batch": b,
                "variant": v_,
                "wall_s_per_window_best": round(ws[0], 4),
                "wall_med": round(ws[len(ws) // 2], 4),
                "cpu_s_per_window_best": round(cs[0], 4),
                "cpu_med": round(cs[len(cs) // 2], 4),
                "load": os.getloadavg()[0],
            }
        )
    )
