"""`ntscale example` runs from any folder and writes there, not into the source checkout."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path


def _env(repo_root: Path) -> dict[str, str]:
    # The subprocess runs in tmp_path: make it import this checkout's ntscale.
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{repo_root}{os.pathsep}{path}" if path else str(repo_root),
    }


def test_example_writes_under_the_current_folder(tmp_path: Path, repo_root: Path) -> None:
    env = _env(repo_root)
    r = subprocess.run(
        [sys.executable, "-m", "ntscale", "example", "--out", "rel/ex.zarr"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rel" / "ex.zarr" / "zarr.json").is_file()
    assert not (repo_root / "rel").exists()
    assert f"writing {tmp_path / 'rel' / 'ex.zarr'}" in r.stdout
    # the printed "open it with" line works from the user's folder, as printed
    line = next(x for x in r.stdout.splitlines() if x.startswith("open it with:"))
    argv = shlex.split(line.removeprefix("open it with:"))
    assert argv[:2] == ["python", "-c"]
    opened = subprocess.run(
        [sys.executable, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert opened.returncode == 0, opened.stderr
    assert "embedding_mean" in opened.stdout
    # the run used the bundled inputs (found from the package, not the working folder)
    assert '"complete": true' in r.stdout
    assert "20" in opened.stdout and "HG00096" in opened.stdout
