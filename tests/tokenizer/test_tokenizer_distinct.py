"""Distinct token sequences: grouping, digests and the uint64 sequence id."""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ntscale.tokenizer import get_tokenizer
from ntscale.tokenizer.distinct import (
    FirstIndex,
    digest_to_id,
    distinct_tokens,
    token_digest,
)

TOK = get_tokenizer("v2")


def test_groups_by_token_ids_in_order_of_first_appearance():
    seqs = ["ACGTACGTA", "NNNNAC", "ACGTACGTA", "acgtacgta", "ACGTACGTT", "NNNNAC"]
    d = distinct_tokens(TOK, seqs)
    # lower case tokenizes like upper case, so it shares the first sequence's pass
    assert d.inverse.tolist() == [0, 1, 0, 0, 2, 1]
    assert len(d.ids) == len(d.digests) == 3
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(d.ids[d.inverse[i]], TOK.encode(s))
    ids = d.sequence_ids
    assert ids.dtype == np.uint64 and ids[0] == ids[2] == ids[3] != ids[4]


def test_no_dedup_keeps_one_entry_per_input():
    seqs = ["ACGTAC", "ACGTAC", "TTTTTT"]
    d = distinct_tokens(TOK, seqs, dedup=False)
    assert d.inverse.tolist() == [0, 1, 2]
    assert d.digests[0] == d.digests[1] != d.digests[2]  # the id still says they are equal
    assert d.sequence_ids[0] == d.sequence_ids[1]


def test_empty_input():
    d = distinct_tokens(TOK, [])
    assert d.ids == [] and d.inverse.size == 0 and d.sequence_ids.size == 0


def test_digest_is_blake2b_of_little_endian_int32_and_id_its_prefix():
    ids = TOK.encode("ACGTACGTTTAN")
    want = hashlib.blake2b(ids.astype("<i4").tobytes(), digest_size=16).digest()
    assert token_digest(ids) == want == token_digest(ids.astype(np.int64))
    assert digest_to_id(want) == int.from_bytes(want[:8], "little")
    assert digest_to_id(bytes(16)) == 1  # 0 is reserved for rows without a sequence


def test_first_index():
    index = FirstIndex()
    assert [index.add(k) for k in ("a", "b", "a", ("c", 1))] == [
        (0, True),
        (1, True),
        (0, False),
        (2, True),
    ]
    assert len(index) == 3


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["ACGTAC", "acgtac", "NNA", "GATTACA", "T"]), max_size=12))
def test_equal_inverse_iff_equal_tokens(seqs):
    d = distinct_tokens(TOK, seqs)
    enc = [tuple(TOK.encode(s)) for s in seqs]
    for i in range(len(seqs)):
        for j in range(len(seqs)):
            assert (d.inverse[i] == d.inverse[j]) == (enc[i] == enc[j])
    assert len(d.ids) == len(set(enc))
