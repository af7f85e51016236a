"""NTv3 in `ntscale models` and `ntscale download` (offline; a real hub cache folder made
in tmp_path holds the tiny NTv3 fixture)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cli_helpers import invoke

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
# name -> (stage, downsamples, context bp, documented params) from the reference docs
NTV3 = {
    "NTv3_8M_pre": ("pre", 7, 2**20, 8e6),
    "NTv3_100M_pre": ("pre", 7, 2**20, 100e6),
    "NTv3_650M_pre": ("pre", 7, 2**20, 650e6),
    "NTv3_8M_pre_8kb": ("pre", 7, 8192, 8e6),
    "NTv3_100M_pre_8kb": ("pre", 7, 8192, 100e6),
    "NTv3_650M_pre_8kb": ("pre", 7, 8192, 650e6),
    "NTv3_5downsample_pre": ("pre", 5, 2**20, 592e6),
    "NTv3_5downsample_pre_8kb": ("pre", 5, 8192, 592e6),
    "NTv3_100M_post": ("post", 7, 2**20, 100e6),
    "NTv3_650M_post": ("post", 7, 2**20, 650e6),
    "NTv3_100M_post_131kb": ("post", 7, 131072, 100e6),
    "NTv3_650M_post_131kb": ("post", 7, 131072, 650e6),
    "NTv3_5downsample_post": ("post", 5, 2**20, 592e6),
    "NTv3_5downsample_post_131kb": ("post", 5, 131072, 592e6),
}


def fake_cache(root: Path, repo: str) -> Path:
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(COMMIT)
    snapshot = folder / "snapshots" / COMMIT
    shutil.copytree(DATA / "post", snapshot)
    return snapshot


def test_models_json_lists_ntv3(tmp_path: Path) -> None:
    r = invoke("models", "--json", "--cache-dir", tmp_path)
    assert r.code == 0, r.err
    rows = {row["name"]: row for row in json.loads(r.out) if row["version"] == "ntv3"}
    assert list(rows) == list(NTV3)
    for name, (stage, n, context, params) in NTV3.items():
        row = rows[name]
        assert (row["stage"], row["num_downsamples"], row["max_window_bp"]) == (stage, n, context)
        assert row["block_bp"] == 2**n and row["max_window_bp"] % row["block_bp"] == 0
        assert row["params"] == params and row["repo"] == f"InstaDeepAI/{name}"
        assert ("bigwig" in row["heads"]) == (stage == "post") and "mlm" in row["heads"]
        assert row["cached"] is False


def test_models_table_shows_ntv3_and_cache_state(tmp_path: Path) -> None:
    fake_cache(tmp_path, "InstaDeepAI/NTv3_100M_post")
    r = invoke("models", "--cache-dir", tmp_path)
    assert r.code == 0, r.err
    rows = {line.split()[0]: line.split() for line in r.out.splitlines()[1:-1]}
    assert rows["NTv3_100M_post"][1] == "ntv3" and rows["NTv3_100M_post"][-2] == "yes"
    assert rows["NTv3_8M_pre"][2] == "-"  # layers come from the checkpoint's config.json
    assert rows["NTv3_650M_post_131kb"][5:7] == ["131,072", "131,072"]


def test_download_of_a_cached_ntv3_model_needs_no_network(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    snapshot = fake_cache(tmp_path, "InstaDeepAI/NTv3_100M_post")
    r = invoke("download", "ntv3_100m_POST", "--cache-dir", tmp_path)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"NTv3_100M_post\t{snapshot}"]


def test_cached_ntv3_name_loads(tmp_path: Path, monkeypatch) -> None:
    from ntscale.model.ntv3 import load_ntv3

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_cache(tmp_path, "InstaDeepAI/NTv3_100M_post")
    model = load_ntv3("NTv3_100M_post")
    assert model.name == "NTv3_100M_post" and model.config.post_trained


def test_download_lists_ntv3_names_for_a_typo(tmp_path: Path) -> None:
    r = invoke("download", "NTv3_1B_pre", "--cache-dir", tmp_path)
    assert r.code == 2
    assert "NTv3_650M_post_131kb" in r.error_line()
