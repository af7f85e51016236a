"""Hub settings read from the environment, the reachability probe and pickle trust
(model/hub.py); the precision policy (model/precision.py); which weight files a Hugging Face
folder is read from and their digest (checkpoint_hf.weight_files, checkpoint.file_digest)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from pathlib import Path

import jax.numpy as jnp
import pytest

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model import file_digest, hub, precision_policy
from ntscale.model.checkpoint_hf import weight_files
from ntscale.model.precision import Precision, attention_backend, normalize_dtype

PROXIES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in PROXIES:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cache_folder_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hub.hub_cache_dir() == tmp_path / "cache"  # HF_HUB_CACHE wins
    monkeypatch.delenv("HF_HUB_CACHE")
    assert hub.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", "")  # empty: not set
    assert hub.hub_cache_dir() == tmp_path / "home" / "hub"


@pytest.mark.parametrize(
    ("value", "offline"),
    [
        ("1", True),
        ("true", True),
        (" YES ", True),
        ("on", True),
        ("0", False),
        ("no", False),
        ("", False),
    ],  # fmt: skip
)
def test_offline_values(value: str, offline: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub.hub_offline() is offline


def test_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.internal:8080/")
    assert hub.hub_endpoint() == "http://mirror.internal:8080"


def test_probe_of_a_closed_port_says_why(no_proxy: pytest.MonkeyPatch) -> None:
    reason = hub.hub_unreachable(f"http://127.0.0.1:{_closed_port()}", timeout_s=2)
    assert reason is not None and reason.startswith("ConnectionRefusedError: ")


def test_probe_of_a_listening_port_passes(no_proxy: pytest.MonkeyPatch) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert hub.hub_unreachable(f"http://127.0.0.1:{port}", timeout_s=2) is None


def test_no_verdict_behind_a_proxy_or_without_a_host(no_proxy: pytest.MonkeyPatch) -> None:
    closed = f"https://127.0.0.1:{_closed_port()}"
    no_proxy.setenv("HTTP_PROXY", "http://proxy:3128")  # a plain-HTTP proxy: not for https
    assert hub.hub_unreachable(closed, timeout_s=2) is not None
    assert hub.hub_unreachable(closed.replace("https", "http"), timeout_s=2) is None
    no_proxy.setenv("https_proxy", "http://proxy:3128")
    assert hub.hub_unreachable(closed, timeout_s=2) is None
    assert hub.hub_unreachable("file:///no/host") is None


def test_pickle_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hub.TRUST_PICKLE_ENV, raising=False)
    assert hub.pickle_trusted("InstaDeepAI/nucleotide-transformer-500m-human-ref")
    assert not hub.pickle_trusted("someone/nt-finetuned")
    assert not hub.pickle_trusted("instadeepai-fan/nt")  # the owner, exactly
    monkeypatch.setenv(hub.TRUST_PICKLE_ENV, "1")
    assert hub.pickle_trusted("someone/nt-finetuned")


def test_nothing_cached_is_none(tmp_path: Path) -> None:
    assert hub.cached_checkpoint("someone/absent", cache_dir=tmp_path) is None
    assert hub.cached_checkpoint("InstaDeepAI/absent", cache_dir=tmp_path) is None


@pytest.mark.parametrize(
    ("alias", "name", "compute", "matmul"),
    [
        ("f32", "float32", jnp.float32, "float32"),
        ("FP32", "float32", jnp.float32, "float32"),
        ("bf16", "bfloat16", jnp.bfloat16, None),
    ],
)
def test_precision_policies(alias: str, name: str, compute, matmul) -> None:
    assert normalize_dtype(alias) == name
    policy = precision_policy(alias)
    assert policy == Precision(name=name, compute_dtype=jnp.dtype(compute), matmul_precision=matmul)
    with pytest.raises(AttributeError):
        policy.name = "float32"  # frozen


def test_cudnn_only_for_bf16_on_a_gpu() -> None:
    bf16, fp32 = precision_policy("bf16"), precision_policy("fp32")
    assert attention_backend(bf16, "cuda") == "cudnn"
    assert attention_backend(bf16, "tpu") == "chunked"
    assert attention_backend(fp32, "cuda") == "chunked"
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "dtype must be one of ['bf16', 'bfloat16', 'f32', 'float32', 'fp32'], got 'half'"
        ),
    ):
        normalize_dtype("half")  # fmt: skip


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())


def _index(folder: Path, name: str, shards: list[str]) -> None:
    weight_map = {f"w{i}": shard for i, shard in enumerate(shards)}
    (folder / name).write_text(json.dumps({"weight_map": weight_map}))


def test_weight_file_choice(tmp_path: Path) -> None:
    one = tmp_path / "one"
    _touch(one, "model.safetensors", "model-00001-of-00002.safetensors", "pytorch_model.bin")
    assert weight_files(one) == [one / "model.safetensors"]  # a single file first
    indexed = tmp_path / "indexed"
    _touch(indexed, "b.safetensors", "a.safetensors", "stray.safetensors")
    _index(indexed, "model.safetensors.index.json", ["b.safetensors", "a.safetensors"])
    assert weight_files(indexed) == [indexed / "a.safetensors", indexed / "b.safetensors"]
    bare = tmp_path / "bare"
    _touch(bare, "m-2.safetensors", "m-1.safetensors", "pytorch_model.bin")
    assert weight_files(bare) == [bare / "m-1.safetensors", bare / "m-2.safetensors"]
    torch = tmp_path / "torch"
    _touch(torch, "pytorch_model-2.bin", "pytorch_model-1.bin", "training_args.bin")
    assert weight_files(torch) == [torch / "pytorch_model-1.bin", torch / "pytorch_model-2.bin"]


def test_weight_file_errors_name_the_folder_or_index(tmp_path: Path) -> None:
    _touch(tmp_path / "none", "config.json", "training_args.bin")
    with pytest.raises(
        CheckpointError,
        match=re.escape(
            f"{tmp_path / 'none'}: config.json found but no model.safetensors or "
            "pytorch_model.bin weights"
        ),  # fmt: skip
    ):
        weight_files(tmp_path / "none")
    broken = tmp_path / "broken"
    _touch(broken, "x.safetensors")
    (broken / "model.safetensors.index.json").write_text('{"metadata": {}}')
    with pytest.raises(
        CheckpointError,
        match=re.escape(f"{broken / 'model.safetensors.index.json'}: cannot read the shard index"),
    ):
        weight_files(broken)


def test_digest_of_shards_is_the_sha256_of_their_concatenation(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"first shard " * 1000)
    b.write_bytes(bytes(range(256)) * 20_000)  # > one 4 MiB read block
    assert file_digest([a]) == hashlib.sha256(a.read_bytes()).hexdigest()
    whole = hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
    assert file_digest([a, b]) == whole != file_digest([b, a])
