"""NTv3 single-base tokens against the reference tokenizer's output (fixture) and a
plain-Python loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntscale.errors import TokenizerError
from ntscale.tokenizer.ntv3 import (
    BASE_IDS,
    NTV3_MASK,
    NTV3_N,
    NTV3_PAD,
    NTV3_VOCAB,
    detokenize,
    pad_with_n,
    tokenize_bases,
    tokenize_batch,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_matches_reference_tokenizer(kind):
    io = np.load(DATA / f"{kind}_io.npz")
    assert tuple(str(t) for t in io["tok_vocab"]) == NTV3_VOCAB
    np.testing.assert_array_equal(tokenize_bases(str(io["tok_seq"])), io["tok_ids"])


def test_special_ids():
    assert NTV3_VOCAB[NTV3_PAD] == "<pad>" and NTV3_VOCAB[NTV3_MASK] == "<mask>"
    assert NTV3_VOCAB[NTV3_N] == "N"
    assert all(NTV3_VOCAB[i] == letter for letter, i in BASE_IDS.items())


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ACGTNacgtnRYKMSWBDHVrykmswbdhv", max_size=200))
def test_against_a_plain_loop(seq):
    want = []
    for ch in seq:
        up = ch.upper()
        want.append(BASE_IDS[up] if up in BASE_IDS else NTV3_N)
    got = tokenize_bases(seq)
    assert got.dtype == np.int32
    assert got.tolist() == want


def test_bytes_and_soft_mask():
    assert tokenize_bases(b"acgtN").tolist() == [6, 8, 9, 7, 10]
    assert detokenize(tokenize_bases("ggAT")) == "GGAT"


@pytest.mark.parametrize("seq,pos", [("ACGX", 3), ("A-C", 1), ("AC GT", 2), ("ACé", 2)])
def test_bad_letters_name_the_position(seq, pos):
    with pytest.raises(TokenizerError, match=f"chr1:0-9: byte .* at offset {pos}"):
        tokenize_bases(seq, where="chr1:0-9")


def test_batch_pads_right():
    batch = tokenize_batch(["ACG", "A"])
    assert batch.tolist() == [[6, 8, 9], [6, NTV3_PAD, NTV3_PAD]]
    assert tokenize_batch(["AC"], length=4).tolist() == [[6, 8, NTV3_PAD, NTV3_PAD]]
    with pytest.raises(TokenizerError, match="sequence 0: 3 bases do not fit 2"):
        tokenize_batch(["ACG"], length=2)
    with pytest.raises(TokenizerError, match="sequence 1"):
        tokenize_batch(["ACG", "AZ"])


def test_pad_with_n_to_the_block_rule():
    tokens = tokenize_batch(["ACGTA"])
    padded = pad_with_n(tokens, 8)
    assert padded.shape == (1, 8)
    assert padded[0, 5:].tolist() == [NTV3_N] * 3
    assert pad_with_n(padded, 8) is padded
    assert pad_with_n(tokenize_bases("ACG"), 4).tolist() == [6, 8, 9, NTV3_N]
