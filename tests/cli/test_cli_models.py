"""`ntscale models` and `ntscale download`, offline: the published models and the hub cache.

The expected table is written by hand from the Nucleotide Transformer papers (v1: 1,000
tokens; v2: 2,048 tokens with rotary embeddings) and the model names; a cached model is a
real Hugging Face hub cache folder (refs/main -> snapshots/<commit>/...) made in tmp_path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import TINY_MODEL, invoke

from ntscale.model import HUB_REPOS

# name -> (version, layers, tokens, nominal parameters)
PUBLISHED = {
    "500M_human_ref": ("v1", 24, 1000, 500e6),
    "500M_1000G": ("v1", 24, 1000, 500e6),
    "2B5_1000G": ("v1", 32, 1000, 2.5e9),
    "2B5_multi_species": ("v1", 32, 1000, 2.5e9),
    "50M_multi_species_v2": ("v2", 12, 2048, 50e6),
    "100M_multi_species_v2": ("v2", 22, 2048, 100e6),
    "250M_multi_species_v2": ("v2", 24, 2048, 250e6),
    "500M_multi_species_v2": ("v2", 29, 2048, 500e6),
    # the rest of the family: SegmentNT (500M backbone + a 62M U-Net head, up to 50 kb),
    # AgroNT (1B, 1,024 tokens), Codon-NT (50M with 3-mers)
    "segment_nt": ("v2", 29, 8333, 562e6),
    "segment_nt_multi_species": ("v2", 29, 8333, 562e6),
    "1B_agro_nt": ("v1", 40, 1024, 1e9),
    "codon_nt": ("v2", 12, 2048, 50e6),
}
K_OF = {"codon_nt": 3}  # bases per token where not 6
V2_50M_REPO = "InstaDeepAI/nucleotide-transformer-v2-50m-multi-species"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(root: Path, repo: str) -> Path:
    """A hub cache holding `repo`'s JAX checkpoint (the tiny one's files stand in for it)."""
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(COMMIT)
    snapshot = folder / "snapshots" / COMMIT
    shutil.copytree(TINY_MODEL / "jax_model", snapshot / "jax_model")
    return snapshot


def models_json(*extra: str | Path) -> list[dict]:
    r = invoke("models", "--json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_models_json_lists_every_published_model(tmp_path: Path) -> None:
    rows = [r for r in models_json("--cache-dir", tmp_path) if r["version"] != "ntv3"]
    assert [r["name"] for r in rows] == list(PUBLISHED)
    for r in rows:
        version, layers, tokens, nominal = PUBLISHED[r["name"]]
        assert (r["version"], r["layers"], r["max_tokens"]) == (version, layers, tokens)
        # the longest window: one CLS token, then k-mers
        assert r["max_window_bp"] == K_OF.get(r["name"], 6) * (tokens - 1)
        assert abs(r["params"] / nominal - 1) < 0.1, r  # the size in the name
        assert r["fp32_bytes"] == 4 * r["params"]
        assert r["repo"].startswith("InstaDeepAI/")
        assert r["cached"] is False and r["path"] is None  # an empty cache folder


def test_models_json_finds_a_cached_checkpoint(tmp_path: Path) -> None:
    snapshot = fake_cache(tmp_path, V2_50M_REPO)
    rows = {r["name"]: r for r in models_json("--cache-dir", tmp_path)}
    assert rows["50M_multi_species_v2"]["repo"] == V2_50M_REPO
    assert rows["50M_multi_species_v2"]["cached"] is True
    assert Path(rows["50M_multi_species_v2"]["path"]) == snapshot
    assert [n for n, r in rows.items() if r["cached"]] == ["50M_multi_species_v2"]


def test_models_table_has_a_row_per_model_and_the_cache_folder(tmp_path: Path) -> None:
    fake_cache(tmp_path, V2_50M_REPO)
    r = invoke("models", "--cache-dir", tmp_path)
    assert r.code == 0, r.err
    header, *rows, last = r.out.splitlines()
    rows = [row for row in rows if not row.startswith("NTv3_")]  # test_cli_models_ntv3.py
    assert header.split() == ["name", "ver", "layers", "params", "fp32", "tokens", "window",
                              "bp", "cached", "hub", "repository"]  # fmt: skip
    assert [row.split()[0] for row in rows] == list(PUBLISHED)
    by_name = {row.split()[0]: row.split() for row in rows}
    assert by_name["50M_multi_species_v2"][-2:] == ["yes", V2_50M_REPO]  # issue 23.9: repo ids
    assert by_name["500M_human_ref"][-2] == "no"
    assert all(by_name[n][-1] == HUB_REPOS[n] for n in PUBLISHED)
    assert by_name["500M_human_ref"][5:7] == ["1,000", "5,994"]  # tokens, window bp
    assert by_name["500M_multi_species_v2"][5:7] == ["2,048", "12,282"]
    assert last == f"hub cache folder: {tmp_path}"


def test_models_default_cache_folder_follows_hf_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    fake_cache(tmp_path, V2_50M_REPO)
    r = invoke("models")
    assert r.out.splitlines()[-1] == f"hub cache folder: {tmp_path}"
    cached = [row.split()[0] for row in r.out.splitlines()[1:-1] if row.split()[-2] == "yes"]
    assert cached == ["50M_multi_species_v2"]


def test_download_of_a_cached_model_prints_its_folder_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an endpoint where nothing listens: any request would fail the command
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    snapshot = fake_cache(tmp_path, V2_50M_REPO)
    r = invoke("download", "50m_MULTI_species_v2", "--cache-dir", tmp_path)  # any case
    assert r.code == 0, r.err
    assert "50M_multi_species_v2: already cached" in r.err
    assert r.out.splitlines() == [f"50M_multi_species_v2\t{snapshot}"]


def test_download_refuses_an_unknown_name_before_any_download(tmp_path: Path) -> None:
    r = invoke("download", "50M_multi_species_v2", "600M_typo", "--cache-dir", tmp_path)
    assert r.code == 2
    line = r.error_line()
    assert "unknown model '600M_typo'" in line
    assert all(name in line for name in PUBLISHED)  # the valid names are listed
    assert "owner/name" in line
    assert r.out == "" and list(tmp_path.iterdir()) == []  # nothing fetched, not even the first


def test_download_needs_a_name() -> None:
    r = invoke("download")
    assert r.code == 2 and "Missing argument" in r.err
