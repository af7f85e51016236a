"""benchmarks/bench_roofline.py: its FLOP count against XLA's own count of the ntscale
forward, the bound arithmetic, and the whole script at tiny shapes (ntscale only: the
peers' environments are not part of the repository)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import bench_roofline as br  # noqa: E402

from ntscale.model import get_preset, init_model  # noqa: E402
from ntscale.model.forward import forward  # noqa: E402


def _xla_flops(cfg, tokens: int, *, logits: bool) -> float:
    """XLA's cost analysis of one window's forward (XLA attention: no loop over blocks)."""
    model = init_model(cfg, attention="xla")
    toks = jnp.full((1, tokens), 6, jnp.int32).at[:, 0].set(3)

    def run(params, t):
        return forward(
            params,
            t,
            config=cfg,
            precision=model.precision,
            attention="xla",
            layers=(cfg.num_layers,),
            logits=logits,
        )

    cost = jax.jit(run).lower(model.params, toks).cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


@pytest.mark.parametrize(("version", "logits"), [("v1", False), ("v1", True), ("v2", False)])
def test_forward_flops_match_xla_count(version, logits):
    # one layer (XLA may count a scanned body once), wide enough that the matmuls dominate:
    # XLA counts every elementwise op too, so it may exceed the GEMM count by a little only
    base = get_preset("500M_human_ref" if version == "v1" else "50M_multi_species_v2")
    cfg = base.replace(num_layers=1, embed_dim=128, num_heads=4, key_size=32, ffn_dim=512)
    tokens = 128
    shape = br.Shape(
        layers=1,
        embed_dim=cfg.embed_dim,
        num_heads=cfg.num_heads,
        key_size=cfg.key_size,
        ffn_dim=cfg.ffn_dim,
        vocab=cfg.vocab_size,
        glu=cfg.use_glu,
    )
    ours = br.forward_flops(shape, tokens, logits=logits)
    xla = _xla_flops(cfg, tokens, logits=logits)
    assert ours["total"] <= xla <= 1.15 * ours["total"], (ours, xla)
    assert ours["total"] == sum(v for k, v in ours.items() if k != "total")
    assert (ours["lm_head"] > 0) == logits


def test_flops_scale_with_layers_and_quadratically_in_attention():
    one = br.forward_flops(br.Shape(1, 64, 2, 32, 256, 10), 100)
    three = br.forward_flops(br.Shape(3, 64, 2, 32, 256, 10), 200)
    assert three["qkv"] == 3 * 2 * one["qkv"]
    assert three["scores"] == 3 * 4 * one["scores"]
    assert three["values"] == three["scores"]
    glu = br.forward_flops(br.Shape(1, 64, 2, 32, 256, 10, glu=True), 100)
    assert glu["ffn"] == one["ffn"] * 3 // 2  # [D, 2F] in, [F, D] out


def _fwd(engine: str, tokens: int, batch: int, wps: float, flops: int) -> dict:
    return {
        "kind": "forward",
        "engine": engine,
        "tokens": tokens,
        "batch": batch,
        "windows_per_s_best": wps,
        "flops_per_window": flops,
        "achieved_gflops": flops * wps / 1e9,
        "fraction_of_peak": 0.5,
    }


def test_bounds_and_summary_from_rows():
    peak = 100e9
    rows = [_fwd("ntscale", 512, 2, 3.0, 40e9), _fwd("transformers", 512, 2, 2.0, 40e9)]
    rows.append(_fwd("ntscale", 1024, 1, 1.0, 90e9))  # no transformers row for this shape
    got = {(b["tokens"], b["batch"]): b for b in br.bounds(rows, peak, {(512, 2): 0.7})}
    b = got[(512, 2)]
    assert b["seconds_at_peak"] == pytest.approx(2 * 40e9 / peak, rel=1e-3)
    # transformers takes 1.0 s a batch; at peak 0.8 s, at the floor 0.7 s
    assert b["max_speedup_vs_transformers_at_peak"] == pytest.approx(1.0 / 0.8, rel=1e-3)
    assert b["max_speedup_vs_transformers_at_floor"] == pytest.approx(1.0 / 0.7, rel=1e-3)
    assert b["ntscale_vs_transformers"] == pytest.approx(1.5, rel=1e-3)
    assert "max_speedup_vs_transformers_at_peak" not in got[(1024, 1)]
    text = br.summary(rows + list(got.values()))
    assert "| 512 x 2 | 40.0 |" in text and "| 1024 x 1 | 90.0 |" in text


def test_forward_row_fractions():
    row = {"batch": 4, "windows_per_s_best": 2.0}  # 2 s a batch
    out = br.forward_row(row, {"total": 50_000_000_000}, 200e9, floor_s=1.0)
    assert out["achieved_gflops"] == pytest.approx(100.0)
    assert out["fraction_of_peak"] == pytest.approx(0.5)
    assert out["fraction_of_gemm_floor"] == pytest.approx(0.5)


@pytest.mark.slow
def test_script_rows_at_tiny_shapes(tmp_path):
    out = tmp_path / "roofline.jsonl"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_roofline.py"), "--tokens", "64"]
    cmd += ["--batch", "1", "2", "--layers", "1", "--iters", "1", "--gemm-n", "128"]
    cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [r["kind"] for r in rows]
    assert kinds == ["peak", "forward", "forward", "bound", "bound"], kinds
    peak = rows[0]
    assert peak["engine"] == "jax" and peak["peak_gflops"] > 0
    assert [(f["tokens"], f["batch"]) for f in peak["floor_s"]] == [(64, 1), (64, 2)]
    assert all(f["best_s"] > 0 for f in peak["floor_s"])
    for r in rows[1:3]:
        assert r["engine"] == "ntscale" and "error" not in r, r
        assert r["layers"] == 1 and r["tokens"] == 64
        assert r["flops_per_window"] == r["flops_parts"]["total"] > 0
        achieved = r["flops_per_window"] * r["windows_per_s_best"]
        assert r["achieved_gflops"] == pytest.approx(achieved / 1e9, rel=0.01)
        assert r["fraction_of_peak"] == pytest.approx(achieved / 1e9 / peak["peak_gflops"], 0.01)
        assert np.isfinite(r["pooled_first_rows"]).all()
        assert len(r["batch_cpu_s"]) == 1 and r["batch_cpu_s"][0] > 0
        per_cpu = r["flops_per_window"] * r["batch"] / r["batch_cpu_s"][0]
        assert r["achieved_gflops_per_cpu_s"] == pytest.approx(per_cpu / 1e9, rel=0.01)
        frac = per_cpu / 1e9 / peak["peak_gflops_per_cpu_s"]
        assert r["fraction_of_peak_per_cpu_s"] == pytest.approx(frac, rel=0.01)
    for b, batch in zip(rows[3:], (1, 2), strict=True):
        assert (b["tokens"], b["batch"]) == (64, batch)
        at_peak = rows[batch]["flops_per_window"] * batch / (peak["peak_gflops"] * 1e9)
        assert b["seconds_at_peak"] == pytest.approx(at_peak, rel=0.02, abs=1e-4)
    assert "| 64 x 2 |" in proc.stdout
