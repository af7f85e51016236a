"""The CLI's default JAX persistent compilation cache (`ntscale.cli.compile_cache`): where
it goes, how it is turned off, and that a second `ntscale embed` process reuses the first
one's compiled programs and writes the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from cli_helpers import REPO, embed_args

from ntscale.cli.compile_cache import CACHE_ENV, compile_cache_folder


def test_folder_default_is_the_user_cache(tmp_path):
    env = {"NTSCALE_CACHE_DIR": str(tmp_path)}
    assert compile_cache_folder(env) == tmp_path / "jax"


@pytest.mark.parametrize("off", ["0", "off", "false", "no"])
def test_folder_turned_off(off, tmp_path):
    assert compile_cache_folder({"NTSCALE_CACHE_DIR": str(tmp_path), CACHE_ENV: off}) is None


def test_users_jax_setting_wins(tmp_path):
    env = {"NTSCALE_CACHE_DIR": str(tmp_path), "JAX_COMPILATION_CACHE_DIR": "/elsewhere"}
    assert compile_cache_folder(env) is None


def test_folder_named_by_the_variable(tmp_path):
    env = {"NTSCALE_CACHE_DIR": str(tmp_path / "a"), CACHE_ENV: str(tmp_path / "b")}
    assert compile_cache_folder(env) == tmp_path / "b"
    assert compile_cache_folder({**env, CACHE_ENV: "1"}) == tmp_path / "a" / "jax"


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """This environment without the test session's own JAX cache settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.pop(CACHE_ENV, None)
    env.update(NTSCALE_CACHE_DIR=str(tmp_path / "cache"), JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_enable_after_jax_import_updates_its_config(tmp_path):
    code = (
        "import jax\n"
        "from ntscale.cli.compile_cache import enable_compile_cache\n"
        "folder = enable_compile_cache()\n"
        "print(folder, jax.config.jax_compilation_cache_dir,"
        " jax.config.jax_compilation_cache_max_size)\n"
    )
    env = _clean_env(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder, configured, size = proc.stdout.split()
    assert folder == configured == str(tmp_path / "cache" / "jax")
    assert int(size) > 0  # bounded, which also turns on JAX's file lock


@pytest.mark.slow
def test_second_process_reuses_compiled_programs(tmp_path, region_bed):
    env = _clean_env(tmp_path)
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # the tiny model compiles fast
    folder = tmp_path / "cache" / "jax"
    stores = []
    for i in range(2):
        store = tmp_path / f"run{i}.zarr"
        cmd = [sys.executable, "-m", "ntscale", *embed_args(store, region_bed)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        entries = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        assert entries, f"run {i} left no compiled program in {folder}"
        if i == 0:
            first = entries
        else:
            assert entries == first  # nothing compiled again: every program came from disk
        stores.append(store)
    a, b = (zarr.open_group(str(s), mode="r") for s in stores)
    assert (
        np.asarray(a["embedding_mean"][:]).tobytes() == np.asarray(b["embedding_mean"][:]).tobytes()
    )


def test_turned_off_leaves_no_folder(tmp_path, region_bed):
    env = {**_clean_env(tmp_path), CACHE_ENV: "0"}
    code = (
        "import os\n"
        "from ntscale.cli.compile_cache import enable_compile_cache\n"
        "print(enable_compile_cache(), os.environ.get('JAX_COMPILATION_CACHE_DIR'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["None", "None"]
    assert not (tmp_path / "cache" / "jax").exists()
