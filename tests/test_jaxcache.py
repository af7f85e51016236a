"""The session's JAX compilation cache (tests/jaxcache.py) reaches the processes tests start:
a child's compiled program is stored in the session's folder and a second child loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import jax, jax.numpy as jnp
from jax._src import monitoring
hits = []
monitoring.register_event_listener(lambda e, **kw: hits.append(e))
print(jax.jit(lambda x: jnp.tanh(x) * 41.5 + 0.25)(jnp.arange(7.0)).sum())
print("HIT" if "/jax/compilation_cache/cache_hits" in hits else "MISS")
"""


@pytest.mark.skipif(os.environ.get("NTSCALE_TEST_JAX_CACHE") == "0", reason="cache turned off")
def test_a_child_stores_its_program_and_the_next_child_loads_it() -> None:
    folder = Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    assert folder.is_dir() and "ntscale-test-jax-cache-" in folder.name
    before = set(folder.iterdir())
    runs = [
        subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
        ).stdout.split()  # fmt: skip
        for _ in range(2)
    ]
    assert runs[0][0] == runs[1][0]  # the same result from the loaded program
    assert runs[0][1] == "MISS" and runs[1][1] == "HIT", runs
    assert set(folder.iterdir()) - before  # the first child wrote its entry here


START = """
import os, sys
sys.path.insert(0, {tests!r})
import jaxcache
print(jaxcache.start())
jaxcache.stop()
"""


@pytest.mark.parametrize("worker", ["gw1", ""])
def test_an_xdist_worker_uses_the_controllers_folder_and_leaves_it(tmp_path, worker) -> None:
    controllers = tmp_path / "ntscale-test-jax-cache-controller"
    controllers.mkdir()
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(controllers)}
    env.pop("PYTEST_XDIST_WORKER", None)
    if worker:
        env["PYTEST_XDIST_WORKER"] = worker
    code = START.format(tests=str(Path(__file__).parent))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    folder = Path(proc.stdout.split()[-1])
    if worker:  # the controller's folder, left in place by the worker's stop()
        assert folder == controllers
    else:  # a session of its own: its own folder, removed by its stop()
        assert folder != controllers and folder.name.startswith("ntscale-test-jax-cache-")
        assert not folder.exists()
    assert controllers.is_dir()
