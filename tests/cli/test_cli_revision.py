"""`--revision` through the real command line (issue 23, point 9), offline, against a hub
cache this test lays out the way huggingface_hub stores one (blobs, snapshot links, refs).

A published name's repository gets two commits of the bundled tiny checkpoint's shape:
the bundled weights on `main`, other weights under the tag `v1`. `ntscale embed` runs in
its own process (HF_HUB_OFFLINE=1, HF_HUB_CACHE at the private cache): the store records
the commit the revision resolved to, and its embeddings are those of that commit's weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FASTA, REPO, TINY_MODEL

import ntscale.store as store
from ntscale.model import HUB_REPOS, describe, init_official, save_checkpoint

NAME = "50M_multi_species_v2"
MAIN = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"  # the commit of refs/main
TAGGED = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"  # the commit of refs/v1 (a tag)


def _add_commit(hub: Path, repo: str, commit: str, checkpoint: Path, *refs: str) -> Path:
    """Store `checkpoint`'s files as `commit` of `repo`: content-addressed blobs, the
    snapshot's files as relative links to them, and `refs/<ref>` naming the commit."""
    root = hub / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / commit
    for f in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        data = f.read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snap / f.relative_to(checkpoint)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (root / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub cache whose published repository has two commits with different weights."""
    base = tmp_path_factory.mktemp("revision")
    other = base / "other"  # the bundled shape, other weights
    config = describe(TINY_MODEL).config
    save_checkpoint(init_official(config, seed=11), config, other)
    cache = base / "hub"
    _add_commit(cache, HUB_REPOS[NAME], MAIN, TINY_MODEL, "main")
    _add_commit(cache, HUB_REPOS[NAME], TAGGED, other, "v1")
    return cache


def run_cli(hub: Path, *args: str | Path) -> subprocess.CompletedProcess:
    """`python -m ntscale ARGS` in a new process, offline, with `hub` as its only cache."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(hub),
        "HF_HOME": str(hub.parent / "hf-home"),
        "NTSCALE_CACHE_DIR": str(hub.parent / "ntscale-cache"),
    }
    argv = [sys.executable, "-m", "ntscale", *map(str, args)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def embed(hub: Path, bed: Path, out: Path, *extra: str | Path) -> subprocess.CompletedProcess:
    return run_cli(
        hub, "embed", "--fasta", FASTA, "--model", NAME, "--out", out, "--regions", bed,
        "--window", "600", "--layers", "1,2", "--batch-size", "2", "--dtype", "fp32",
        "--no-progress", *extra,
    )  # fmt: skip


def error_line(r: subprocess.CompletedProcess) -> str:
    """The one `error: ...` line of a failed run (no traceback)."""
    assert r.returncode != 0, r.stdout
    lines = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def stores(hub: Path, region_bed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One embedding store per revision spelling: the tag, and `main`'s full commit."""
    folder = tmp_path_factory.mktemp("stores")
    made = {}
    for revision in ("v1", MAIN):
        out = folder / f"{revision[:8]}.zarr"
        r = embed(hub, region_bed, out, "--revision", revision)
        assert r.returncode == 0, r.stderr
        made[revision] = out
    return made


def test_a_tag_is_recorded_as_the_commit_it_names(stores: dict, hub: Path) -> None:
    model = store.open(str(stores["v1"])).attrs["model"]
    assert model["commit"] == TAGGED and model["source"] == NAME
    # the weights are the tagged commit's, not main's
    tagged = hub / ("models--" + HUB_REPOS[NAME].replace("/", "--")) / "snapshots" / TAGGED
    assert model["checkpoint_digest"] == describe(tagged).digest
    assert model["checkpoint_digest"] != describe(TINY_MODEL).digest


def test_each_revision_embeds_with_its_own_weights(stores: dict) -> None:
    tagged, main = (store.open(str(stores[r])) for r in ("v1", MAIN))
    assert main.attrs["model"]["commit"] == MAIN
    assert main.attrs["model"]["checkpoint_digest"] == describe(TINY_MODEL).digest
    assert (tagged.status.values == "OK").all() and (main.status.values == "OK").all()
    np.testing.assert_array_equal(tagged.start.values, main.start.values)  # same windows
    a, b = tagged.embedding_mean.values, main.embedding_mean.values
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert np.abs(a - b).max() > 1e-2  # other weights, other embeddings


def test_the_store_records_the_revision_asked_for(stores: dict) -> None:
    attrs = store.open(str(stores["v1"])).attrs
    assert "--revision v1" in json.dumps(attrs)  # the command line (or config) that made it


@pytest.mark.parametrize("model", [NAME, HUB_REPOS[NAME]])
def test_an_unknown_revision_offline_is_one_clear_line(
    model: str, hub: Path, region_bed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "e.zarr"
    r = run_cli(hub, "embed", "--fasta", FASTA, "--model", model, "--out", out,
                "--regions", region_bed, "--window", "600", "--revision", "v9")  # fmt: skip
    line = error_line(r)
    assert "'v9'" in line and "HF_HUB_OFFLINE is set" in line
    # what the cache does hold, and a download of that revision (not of main) as the fix
    assert f"(it holds revisions: main, v1, {TAGGED}, {MAIN})" in line
    assert f"`ntscale download {model} --revision v9`" in line
    assert not out.exists()


def test_download_takes_the_revision_too(hub: Path) -> None:
    r = run_cli(hub, "download", NAME, "--revision", "v1")  # cached: no network needed
    assert r.returncode == 0, r.stderr
    assert f"{NAME}: already cached" in r.stderr
    name, folder = r.stdout.strip().split("\t")
    assert name == NAME and Path(folder).name == TAGGED
    line = error_line(run_cli(hub, "download", NAME, "--revision", "v9"))
    assert "at revision 'v9'" in line and "it holds revisions: main, v1" in line
