"""Write the PyTorch ``pytorch_model.bin`` test fixtures from the shared HF safetensors model.

NEEDS torch (not an ntscale dependency): run it in a throwaway environment, e.g.

    python3.11 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 safetensors numpy
    /tmp/torchvenv/bin/python scripts/make_torch_bin_fixture.py

It reads tests/data/shared/fixtures/nt_hf_v1/model.safetensors and writes, with ``torch.save``'s
default (zip) format:
- tests/data/nt_hf_v1_bin/pytorch_model.bin (+ config.json): the whole state dict; two
  tensors are stored as views (one transposed-contiguous, so non-unit strides; one at a
  non-zero offset into a larger storage) so the reader's offset/stride path is exercised;
- tests/data/nt_hf_v1_bin_sharded/pytorch_model-0000{1,2}-of-00002.bin +
  pytorch_model.bin.index.json (+ config.json): the state dict split in two by key order;
- tests/data/nt_hf_v1_bin/dtypes_probe.pt: small tensors of every supported dtype.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import OrderedDict
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tests" / "data" / "shared" / "fixtures" / "nt_hf_v1"
OUT = ROOT / "tests" / "data" / "nt_hf_v1_bin"
OUT_SHARDED = ROOT / "tests" / "data" / "nt_hf_v1_bin_sharded"
STRIDED_KEY = "esm.encoder.layer.0.intermediate.dense.weight"
OFFSET_KEY = "esm.encoder.layer.1.attention.self.query.bias"


def main() -> None:
    state = OrderedDict(sorted(load_file(str(SRC / "model.safetensors")).items()))
    # same values, other memory layouts: [out, in] stored as the transpose of a contiguous
    # [in, out] tensor; a bias living at offset 5 of a storage with 5 + n + 3 elements
    state[STRIDED_KEY] = state[STRIDED_KEY].t().contiguous().t()
    bias = state[OFFSET_KEY]
    big = torch.full((5 + bias.numel() + 3,), -7.0)
    big[5 : 5 + bias.numel()] = bias
    state[OFFSET_KEY] = big[5 : 5 + bias.numel()]
    assert not state[STRIDED_KEY].is_contiguous() and state[OFFSET_KEY].storage_offset() == 5

    for out in (OUT, OUT_SHARDED):
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(SRC / "config.json", out / "config.json")
    torch.save(state, OUT / "pytorch_model.bin")

    keys = list(state)
    half = len(keys) // 2
    names = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
    weight_map = {}
    for fname, part in zip(names, (keys[:half], keys[half:]), strict=True):
        torch.save(OrderedDict((k, state[k].contiguous()) for k in part), OUT_SHARDED / fname)
        weight_map.update({k: fname for k in part})
    total = sum(t.numel() * t.element_size() for t in state.values())
    (OUT_SHARDED / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1) + "\n"
    )

    probe = OrderedDict(
        f64=torch.tensor([1.5, -2.25], dtype=torch.float64),
        f32=torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        f16=torch.tensor([0.5, -1.0, 65504.0], dtype=torch.float16),
        bf16=torch.tensor([1.0, -2.5, 3.0e38], dtype=torch.bfloat16),
        i64=torch.tensor([-(2**40), 7], dtype=torch.int64),
        i32=torch.tensor([-3, 4], dtype=torch.int32),
        i16=torch.tensor([-300], dtype=torch.int16),
        i8=torch.tensor([-5, 6], dtype=torch.int8),
        u8=torch.tensor([250], dtype=torch.uint8),
        b=torch.tensor([True, False]),
        scalar=torch.tensor(3.25),
        empty=torch.zeros(0, 4),
        param=torch.nn.Parameter(torch.tensor([9.0, 8.0])),
    )
    torch.save(probe, OUT / "dtypes_probe.pt")
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}: wrote {OUT}, {OUT_SHARDED}")


if __name__ == "__main__":
    main()
