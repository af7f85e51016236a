"""PyTorch ``pytorch_model.bin`` checkpoints read without torch (model.checkpoint_torch).

The fixtures in tests/data/nt_hf_v1_bin* were written by torch 2.13 ``torch.save`` from the
shared nt_hf_v1 safetensors model (see their PROVENANCE.md); the malicious, legacy and
corrupt files are made here with plain pickle/zipfile.
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file

from ntscale.errors import CheckpointError
from ntscale.model import describe, file_digest, load
from ntscale.model.checkpoint_torch import read_torch_state

DATA = Path(__file__).resolve().parents[1] / "data"
BIN_DIR = DATA / "nt_hf_v1_bin"
SHARDED_DIR = DATA / "nt_hf_v1_bin_sharded"
BIN_SHA = "117e09a1c44c1eeb47123bca460e602516aa854d4c1d45b249bb250ea4b97fea"
HF_SHA = "f4be3bc25b48b5192bcc25fe8984ad8617e812f7189d96ac4af4877390112d71"  # safetensors
SHARDS = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]


@pytest.fixture(scope="module")
def bin_model():
    return load(BIN_DIR)


def _hf_folder(hf_dir: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    shutil.copy(hf_dir / "config.json", out)
    return out


def _torch_zip(
    path: Path, pkl: bytes, storages: dict[str, bytes] | None = None, prefix: str = "archive"
) -> Path:
    """A zip laid out like torch.save's: <prefix>/data.pkl, data/<key>, byteorder."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{prefix}/data.pkl", pkl)
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, raw in (storages or {}).items():
            zf.writestr(f"{prefix}/data/{key}", raw)
        zf.writestr(f"{prefix}/version", "3\n")
    return path


def test_bin_folder_matches_expected_outputs(bin_model, expected, models):
    tokens, nonpad, logits, layers = expected("hf")
    out = bin_model.apply(tokens, layers=tuple(layers), logits=True)
    np.testing.assert_allclose(out["logits"][nonpad], logits[nonpad], rtol=1e-4, atol=1e-4)
    for layer, want in layers.items():
        np.testing.assert_allclose(
            out["embeddings"][layer][nonpad], want[nonpad], rtol=1e-4, atol=1e-4
        )
    # same weights as the safetensors checkpoint, bit for bit
    np.testing.assert_array_equal(out["logits"], models("hf").apply(tokens)["logits"])
    assert bin_model.config == models("hf").config.replace(name="nt_hf_v1_bin")


def test_bin_digest_is_the_file_sha256_and_describe_agrees(bin_model):
    assert bin_model.digest == BIN_SHA == file_digest([BIN_DIR / "pytorch_model.bin"])
    info = describe(BIN_DIR)
    assert (info.name, info.digest, info.config) == ("nt_hf_v1_bin", BIN_SHA, bin_model.config)


def test_bin_state_equals_the_safetensors_source(hf_dir):
    """Covers a transposed (non-unit stride) tensor and one at a storage offset."""
    want = load_file(hf_dir / "model.safetensors")
    got = read_torch_state(BIN_DIR / "pytorch_model.bin")
    assert sorted(got) == sorted(want) and len(got) == 44
    for key, value in want.items():
        assert got[key].dtype == value.dtype and got[key].flags.c_contiguous, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    with zipfile.ZipFile(BIN_DIR / "pytorch_model.bin") as zf:  # the offset view's storage
        sizes = {i.file_size for i in zf.infolist() if "/data/" in i.filename}
    assert (5 + 64 + 3) * 4 in sizes


def test_sharded_bin_with_index_loads_the_same(bin_model, expected):
    model = load(SHARDED_DIR)
    assert model.digest == file_digest([SHARDED_DIR / f for f in SHARDS])
    assert describe(SHARDED_DIR).digest == model.digest
    tokens, nonpad, logits, _ = expected("hf")
    got = model.apply(tokens)["logits"]
    np.testing.assert_allclose(got[nonpad], logits[nonpad], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got, bin_model.apply(tokens)["logits"])


def test_every_storage_dtype_and_shape_kind_is_read_exactly():
    state = read_torch_state(BIN_DIR / "dtypes_probe.pt")
    want = {
        "f64": np.array([1.5, -2.25], "<f8"),
        "f32": np.array([[1, 2, 3], [4, 5, 6]], "<f4"),
        "f16": np.array([0.5, -1.0, 65504.0], "<f2"),
        "bf16": np.array([1.0, -2.5, 3.0e38], np.float32).astype(ml_dtypes.bfloat16),
        "i64": np.array([-(2**40), 7], "<i8"),
        "i32": np.array([-3, 4], "<i4"),
        "i16": np.array([-300], "<i2"),
        "i8": np.array([-5, 6], "i1"),
        "u8": np.array([250], "u1"),
        "b": np.array([True, False]),
        "scalar": np.array(3.25, "<f4"),
        "empty": np.zeros((0, 4), "<f4"),
        "param": np.array([9.0, 8.0], "<f4"),  # an nn.Parameter
    }
    assert list(state) == list(want)
    for key, value in want.items():
        assert state[key].dtype == value.dtype and state[key].shape == value.shape, key
        np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_safetensors_preferred_when_both_formats_present(hf_dir, tmp_path):
    out = _hf_folder(hf_dir, tmp_path / "both")
    shutil.copy(hf_dir / "model.safetensors", out)
    (out / "pytorch_model.bin").write_bytes(b"not read")
    assert load(out).digest == describe(out).digest == HF_SHA


def test_disallowed_global_is_refused_and_never_executed(hf_dir, tmp_path):
    marker = tmp_path / "pwned"
    cmd = f"touch {marker}".encode()
    # {"w": os.system("touch ...")}, hand-written protocol 2 (pickle.dumps would say posix)
    evil = (
        b"\x80\x02}X\x01\x00\x00\x00wcos\nsystem\nX"
        + len(cmd).to_bytes(4, "little")
        + cmd
        + b"\x85Rs."
    )
    out = _hf_folder(hf_dir, tmp_path / "evil")
    _torch_zip(out / "pytorch_model.bin", evil)
    with pytest.raises(
        CheckpointError,
        match=r"evil/pytorch_model.bin: refusing to unpickle "
        r"global os.system: only tensors and state dicts are allowed",
    ):
        load(out)
    assert not marker.exists()


def test_numpy_pickle_is_not_a_torch_state_dict(tmp_path):
    pkl = pickle.dumps({"w": np.zeros(2, "f4")}, protocol=2)
    path = _torch_zip(tmp_path / "np.bin", pkl)
    with pytest.raises(
        CheckpointError,
        match=r"np.bin: refusing to unpickle global "
        r"numpy\.\S*_reconstruct",
    ):
        read_torch_state(path)


def test_legacy_non_zip_bin_gets_the_fix(hf_dir, tmp_path):
    out = _hf_folder(hf_dir, tmp_path / "legacy")
    # legacy torch.save starts with the pickled magic number 0x1950a86a20f9469cfc6c
    (out / "pytorch_model.bin").write_bytes(
        b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03."
    )
    with pytest.raises(
        CheckpointError,
        match=r"legacy/pytorch_model.bin: legacy \(pre-1.6, "
        r"non-zip\) torch.save file, not supported: re-save it with a current "
        r"torch .* or convert it to safetensors",
    ):
        load(out)


def test_truncated_zip_is_named(hf_dir, tmp_path):
    out = _hf_folder(hf_dir, tmp_path / "cut")
    raw = (BIN_DIR / "pytorch_model.bin").read_bytes()
    (out / "pytorch_model.bin").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(
        CheckpointError,
        match=r"cut/pytorch_model.bin: not a torch.save zip "
        r"archive \(truncated or corrupt\?\)",
    ):
        load(out)


def test_corrupt_storage_bytes_fail_the_crc(tmp_path):
    raw = bytearray((BIN_DIR / "pytorch_model.bin").read_bytes())
    with zipfile.ZipFile(BIN_DIR / "pytorch_model.bin") as zf:
        info = max(zf.infolist(), key=lambda i: i.file_size)  # a big storage
    head = info.header_offset  # local header: name and extra lengths at +26, +28
    name_len, extra_len = (int.from_bytes(raw[head + i : head + i + 2], "little") for i in (26, 28))
    start = head + 30 + name_len + extra_len
    raw[start + info.file_size // 2] ^= 0xFF
    path = tmp_path / "flip.bin"
    path.write_bytes(bytes(raw))
    with pytest.raises(
        CheckpointError,
        match=r"flip.bin: cannot read PyTorch weights "
        r"\(corrupt file\?\): BadZipFile\(.*CRC",
    ):
        read_torch_state(path)


def test_zip_without_data_pkl(tmp_path):
    path = tmp_path / "plain.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(
        CheckpointError,
        match=r"plain.bin: not a torch.save archive "
        r"\(expected one <prefix>/data.pkl, found 0\)",
    ):
        read_torch_state(path)


def test_non_tensor_entry_is_named(tmp_path):
    path = _torch_zip(tmp_path / "odd.bin", pickle.dumps({"step": 3}, protocol=2))
    with pytest.raises(CheckpointError, match=r"odd.bin: entry 'step' is not a tensor \(int\)"):
        read_torch_state(path)


def test_short_storage_is_named(tmp_path):
    # {"w": _rebuild_tensor_v2(<FloatStorage key "0", 4 elements>, 0, (4,), (1,))}
    pkl = (
        b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n("
        b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000"
        b"X\x03\x00\x00\x00cpuK\x04tQK\x00K\x04\x85K\x01\x85\x89tRs."
    )
    ok = _torch_zip(tmp_path / "ok.bin", pkl, {"0": np.arange(4, dtype="<f4").tobytes()})
    np.testing.assert_array_equal(read_torch_state(ok)["w"], np.arange(4, dtype="f4"))
    short = _torch_zip(tmp_path / "short.bin", pkl, {"0": b"\x00" * 12})
    with pytest.raises(
        CheckpointError,
        match=r"short.bin: storage 0 has 12 bytes, "
        r"expected 4 x FloatStorage",
    ):
        read_torch_state(short)


def test_bin_index_with_missing_shard(hf_dir, tmp_path):
    out = _hf_folder(hf_dir, tmp_path / "lost")
    shutil.copy(SHARDED_DIR / "pytorch_model.bin.index.json", out)
    shutil.copy(SHARDED_DIR / SHARDS[0], out)
    with pytest.raises(
        CheckpointError,
        match=r"pytorch_model.bin.index.json: shard file\(s\) "
        r"missing: .*pytorch_model-00002-of-00002.bin",
    ):
        describe(out)


def test_other_bin_files_are_not_weights(hf_dir, tmp_path):
    out = _hf_folder(hf_dir, tmp_path / "args")
    (out / "training_args.bin").write_bytes(b"\x80\x02}.")
    (out / "extra.json").write_text(json.dumps({}))
    with pytest.raises(
        CheckpointError,
        match=r"config.json found but no model.safetensors "
        r"or pytorch_model.bin weights \(nor shards with an \*.index.json\)",
    ):
        load(out)
