"""Read PyTorch ``torch.save`` state dicts (zip format) into numpy, without torch.

Since torch 1.6, ``torch.save`` writes a zip archive: ``<prefix>/data.pkl`` is a pickle
(protocol 2) of the object, whose tensors refer by key to raw storages
``<prefix>/data/<key>``; ``<prefix>/byteorder`` says "little" or "big". A pickle can run any
callable it names, so the unpickler here resolves only the few globals a state dict of
tensors needs (each mapped to a small function of ours) and refuses every other one
(`CheckpointError` naming it): opening a malicious ``.bin`` executes nothing.
Pre-1.6 (non-zip) files are refused with a hint to re-save or convert them.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from ntscale.errors import CheckpointError

# torch storage class name -> element dtype (little-endian; swapped for "big" archives)
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
# torch dtype objects (e.g. torch.float32) may appear as plain values (metadata)
_TORCH_DTYPES: dict[str, np.dtype] = {
    "float64": np.dtype("<f8"),
    "float32": np.dtype("<f4"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "int64": np.dtype("<i8"),
    "int32": np.dtype("<i4"),
    "int16": np.dtype("<i2"),
    "int8": np.dtype("i1"),
    "uint8": np.dtype("u1"),
    "bool": np.dtype("?"),
}


class _StorageType:
    """Stands for a torch storage class (e.g. ``torch.FloatStorage``) in the pickle."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _TorchDtype:
    """Stands for a torch dtype object (e.g. ``torch.float32``) in the pickle."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _TORCH_DTYPES[name]


def _rebuild_tensor(
    storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_rest: Any
) -> np.ndarray:
    """A tensor as an owned numpy array: view `storage` with offset/size/stride, then copy."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    offset = int(offset)
    if size and any(n == 0 for n in size):
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if offset < 0 or min(stride, default=0) < 0 or last >= storage.size:
        raise ValueError(
            f"tensor view (offset {offset}, size {size}, stride {stride}) "
            f"lies outside its storage of {storage.size} elements"
        )
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view, copy=True, order="C")


def _rebuild_parameter(data: np.ndarray, *_rest: Any) -> np.ndarray:
    """``nn.Parameter`` -> its data (requires_grad, hooks and state are training-only)."""
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
    **{("torch", name): _TorchDtype(name) for name in _TORCH_DTYPES},
}


class _StateUnpickler(pickle.Unpickler):
    """Unpickler that resolves only `_ALLOWED` globals and reads storages from the zip."""

    def __init__(
        self, data: bytes, load_storage: Callable[[_StorageType, str, int], np.ndarray], path: Path
    ) -> None:
        super().__init__(io.BytesIO(data))
        self._load_storage = load_storage
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"{self._path}: refusing to unpickle global {module}.{name}: only tensors "
                "and state dicts are allowed (the file may be malicious or not a state dict)"
            ) from None

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
        ):
            raise CheckpointError(f"{self._path}: unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        return self._load_storage(storage_type, str(key), int(numel))


def _prefix(names: list[str], path: Path) -> str:
    """The archive's top folder, the one holding ``data.pkl``."""
    pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
        raise CheckpointError(
            f"{path}: not a torch.save archive (expected one <prefix>/data.pkl, found {len(pkls)})"
        )
    return pkls[0].split("/")[0]


def read_torch_state(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save`` zip file (a state dict), as numpy arrays.

    Dtypes follow the storages (bfloat16 as ``ml_dtypes.bfloat16``); tensors that share a
    storage become independent copies. Nested containers are not supported: the file must
    hold a flat mapping of name -> tensor, as ``pytorch_model*.bin`` files do.

    Raises:
        CheckpointError: a legacy (pre-1.6) or corrupt file, a global outside the allow
            list, or content that is not a flat state dict (names the file).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read PyTorch weights: {e}") from e
    if not zipfile.is_zipfile(path):
        if head[:1] == b"\x80":  # pickle PROTO opcode: the legacy torch.save format
            raise CheckpointError(
                f"{path}: legacy (pre-1.6, non-zip) torch.save file, not supported: re-save "
                "it with a current torch (torch.save(torch.load(f), f)) or convert it to "
                "safetensors (save_pretrained(dir, safe_serialization=True))"
            )
        raise CheckpointError(f"{path}: not a torch.save zip archive (truncated or corrupt?)")
    try:
        with zipfile.ZipFile(path) as zf:
            return _read_archive(zf, path)
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        TypeError,
        pickle.UnpicklingError,
        KeyError,
        IndexError,
        AttributeError,
    ) as e:
        raise CheckpointError(f"{path}: cannot read PyTorch weights (corrupt file?): {e!r}") from e


def _read_archive(zf: zipfile.ZipFile, path: Path) -> dict[str, np.ndarray]:
    names = zf.namelist()
    prefix = _prefix(names, path)
    order = "little"
    if f"{prefix}/byteorder" in names:
        order = zf.read(f"{prefix}/byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise CheckpointError(f"{path}: unknown byteorder {order!r}")
    cache: dict[str, np.ndarray] = {}

    def load_storage(storage_type: _StorageType, key: str, numel: int) -> np.ndarray:
        if key not in cache:
            dtype = storage_type.dtype
            if order == "big" and dtype.itemsize > 1:
                dtype = dtype.newbyteorder(">")
            raw = zf.read(f"{prefix}/data/{key}")
            if len(raw) < numel * dtype.itemsize:
                raise CheckpointError(
                    f"{path}: storage {key} has {len(raw)} bytes, expected "
                    f"{numel} x {storage_type.name}"
                )
            cache[key] = np.frombuffer(raw, dtype=dtype, count=numel)
        return cache[key]

    obj = _StateUnpickler(zf.read(f"{prefix}/data.pkl"), load_storage, path).load()
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(obj).__name__}")
    state: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise CheckpointError(
                f"{path}: entry {key!r} is not a tensor "
                f"({type(value).__name__}); expected a flat state dict"
            )
        state[key] = value.astype(value.dtype.newbyteorder("="), copy=False)
    return state
