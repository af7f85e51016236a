"""`ntscale download` / `ntscale models` and the offline fail-fast, against a local HTTP hub."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakehub import FakeHub
from huggingface_hub import constants as hf_constants

from ntscale.errors import CheckpointError
from ntscale.model import HUB_REPOS, load
from ntscale.model.hub import download_checkpoint

NAME = "50M_multi_species_v2"
REPO = HUB_REPOS[NAME]
FILES = ("jax_model/hyperparams.json", "jax_model/pytree_ckpt.joblib")


@pytest.fixture()
def hub(micro_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local hub serving the micro checkpoint as the published 50M model; online env."""
    server = FakeHub({REPO: micro_ckpt})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.close()


def _env(repo_root: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{repo_root}{os.pathsep}{path}" if path else str(repo_root),
    }


def _cli(*args: str, repo_root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ntscale", *args],
        env=_env(repo_root),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_download_fills_the_cache_that_offline_runs_use(
    hub, micro_ckpt, tmp_path, repo_root, monkeypatch
):
    cache = tmp_path / "cache"
    r = _cli("download", NAME.lower(), "--cache-dir", str(cache), repo_root=repo_root)
    assert r.returncode == 0, r.stderr
    name, folder = r.stdout.strip().split("\t")
    assert name == NAME and Path(folder).is_relative_to(cache)
    for f in FILES:
        assert (Path(folder) / f).read_bytes() == (micro_ckpt / f).read_bytes()
        assert ("GET", f"/{REPO}/resolve/main/{f}", None) in hub.requests
    assert f"{NAME}: downloading {REPO}" in r.stderr
    assert "pytree_ckpt.joblib" in r.stderr and "100%" in r.stderr  # progress bar

    from ntscale.cli.cmd_models import model_rows

    rows = {row["name"]: row for row in model_rows(str(cache))}
    assert rows[NAME]["cached"] and rows[NAME]["path"] == folder
    assert not any(row["cached"] for n, row in rows.items() if n != NAME)
    assert rows[NAME]["max_window_bp"] == 12_282 and rows["500M_human_ref"]["max_tokens"] == 1000

    # a second download is a cache hit: no new file transfer
    def n_get() -> int:  # file transfers (huggingface_hub also GETs an /api/ registry)
        return sum(m == "GET" and "/resolve/" in path for m, path, _ in hub.requests)

    before = n_get()
    r = _cli("download", NAME, "--cache-dir", str(cache), repo_root=repo_root)
    assert r.returncode == 0 and "already cached" in r.stderr
    assert n_get() == before

    # the offline cluster: only the cache, no network
    hub.close()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert load(NAME).digest == load(micro_ckpt).digest
    hub.server = _Closed()  # already closed; the fixture's close() is a no-op now


class _Closed:
    def shutdown(self) -> None: ...
    def server_close(self) -> None: ...


def test_dropped_connection_resumes_with_a_range_request(micro_ckpt, tmp_path, monkeypatch):
    server = FakeHub({REPO: micro_ckpt}, drop_once=(FILES[1],))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # small read chunks, so the bytes received before the drop are kept (default 10 MB)
    monkeypatch.setattr(hf_constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    try:
        folder = download_checkpoint(REPO, model_name=NAME, cache_dir=tmp_path / "cache")
    finally:
        server.close()
    data = (micro_ckpt / FILES[1]).read_bytes()
    assert (folder / FILES[1]).read_bytes() == data
    gets = [rng for m, path, rng in server.requests if m == "GET" and path.endswith(FILES[1])]
    assert gets[0] is None and len(gets) == 2
    resumed_at = int(gets[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(data) // 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hub_fails_fast_with_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        load(NAME)
    assert time.perf_counter() - t0 < 5  # no retries with back-off
    msg = str(info.value)
    assert "\n" not in msg
    for part in (
        f"'{NAME}'",
        REPO,
        f"cache folder {tmp_path / 'cache'}",
        "HF_HUB_OFFLINE=1",
        f"`ntscale download {NAME}`",
        "ConnectionRefusedError",
    ):
        assert part in msg, part


def test_unreachable_hub_cli_errors_are_one_line(tmp_path, repo_root, shared_dir, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fasta = str(shared_dir / "data" / "ce" / "ce.fa")
    r = _cli(
        "embed",
        "--fasta",
        fasta,
        "--model",
        NAME,
        "--out",
        str(tmp_path / "o.zarr"),
        repo_root=repo_root,
    )
    assert r.returncode == 2 and r.stderr.startswith("error: cannot reach the Hugging Face hub")
    assert r.stderr.count("\n") == 1 and "HF_HUB_OFFLINE=1" in r.stderr
    assert not (tmp_path / "o.zarr").exists()
    r = _cli("download", NAME, repo_root=repo_root)
    assert r.returncode == 2 and r.stderr.splitlines()[-1].startswith("error: cannot reach")
    r = _cli("download", "no-such-model", repo_root=repo_root)
    assert r.returncode == 2 and "unknown model 'no-such-model'" in r.stderr


def test_models_json_and_hub_warnings_printed_once(tmp_path, capsys, monkeypatch):
    import json
    import logging

    from ntscale.cli.main import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_logger = logging.getLogger("huggingface_hub")
    monkeypatch.setattr(hf_logger, "propagate", True)
    main(["models", "--json", "--cache-dir", str(tmp_path / "empty")])
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows][:2] == ["500M_human_ref", "500M_1000G"]
    assert not any(r["cached"] for r in rows)
    # huggingface_hub has its own handler: passing its records on to the CLI's root handler
    # as well printed every hub warning twice
    assert hf_logger.propagate is False
