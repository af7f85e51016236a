"""glibc keeps the forward pass's freed buffers (`ntscale.model.host_memory`): measured as
minor page faults per call in a fresh process, before and after the thresholds are set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ntscale.model import host_memory
from ntscale.model.compiled import program_for
from ntscale.model.ntmodel import init_model

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource
import jax
import numpy as np
from ntscale.model import get_preset, init_model
from ntscale.model.forward import forward
from ntscale.model.host_memory import keep_freed_memory
cfg = get_preset("500M_human_ref").replace(
    name="host_memory_child", num_layers=2, embed_dim=512, num_heads=16, key_size=32,
    ffn_dim=2048)
model = init_model(cfg, seed=0)
tokens = np.random.default_rng(0).integers(6, 4000, (2, 512)).astype(np.int32)
# jitted here, not through model.compiled (building a Program sets the thresholds)
fn = jax.jit(lambda p, t: forward(p, t, config=cfg, precision=model.precision,
    attention="chunked", layers=(2,), logits=False))
def faults():
    fn(model.params, tokens)["embeddings"][2].block_until_ready()  # settles the heap
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        fn(model.params, tokens)["embeddings"][2].block_until_ready()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
default = faults()
ok = keep_freed_memory()
print(json.dumps({"default": default, "kept": faults(), "ok": ok, "again": keep_freed_memory()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["ok"] and got["again"]
    assert got["default"] > 3 * 1000, got  # the measurement sees the faults it removes
    assert got["kept"] < got["default"] // 10, got


def test_building_a_program_sets_the_thresholds_once(monkeypatch):
    calls = []
    monkeypatch.setattr(host_memory, "_state", {})
    monkeypatch.setattr(host_memory, "_set_thresholds", lambda: calls.append(1) or True)
    model = init_model(_tiny(), seed=0)
    program_for(model, (1,), False, None)
    assert host_memory.keep_freed_memory() is True
    assert calls == [1]


def test_off_linux_nothing_is_set(monkeypatch):
    monkeypatch.setattr(host_memory.sys, "platform", "darwin")
    assert host_memory._set_thresholds() is False


def _tiny():
    from ntscale.model import get_preset

    return get_preset("50M_multi_species_v2").replace(
        name="tiny_host_memory", num_layers=1, embed_dim=32, num_heads=2, key_size=16, ffn_dim=64
    )
