"""The tokenizer for other k-mer lengths (Codon-NT's 3): against a plain-Python loop."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.tokenizer import get_tokenizer
from ntscale.tokenizer.vocab import build_vocab, k_for_vocab, vocab_size


def reference_tokens(seq: str, k: int, version: str) -> list[str]:
    """The published algorithm, literally: split on N, k-mers from the left, leftovers."""
    out = ["<cls>"]
    pieces = seq.split("N")
    for i, piece in enumerate(pieces):
        q = len(piece) // k
        out += [piece[j * k : (j + 1) * k] for j in range(q)]
        out += list(piece[q * k :])
        if i < len(pieces) - 1:
            out.append("N")
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_tokens_equal_the_plain_loop(k, version):
    tok = get_tokenizer(version, k)
    rng = np.random.default_rng(k)
    seqs = ["".join(rng.choice(list("ACGTN"), int(n), p=[0.24] * 4 + [0.04]))
            for n in rng.integers(0, 60, 40)]  # fmt: skip
    ids = tok.encode_batch(seqs)
    for row, seq in zip(ids, seqs, strict=True):
        want = reference_tokens(seq, k, version)
        got = tok.decode(row[: len(want)])
        assert got == want
        assert (row[len(want) :] == tok.pad_id).all()
        assert tok.count_tokens(seq) == len(want)


@pytest.mark.parametrize("k", [3, 6])
def test_token_spans_and_prefix_for_k(k):
    tok = get_tokenizer("v2", k)
    seq = "ACGTACGTNNACG" + "T" * 11
    starts, lengths = tok.token_spans(seq)
    toks = tok.decode(tok.encode(seq))[1:]
    for s, n, t in zip(starts, lengths, toks, strict=True):
        assert seq[s : s + n] == t
    for budget in range(1, 12):
        p = tok.max_prefix_bp(seq, budget)
        assert tok.count_tokens(seq[:p]) <= budget
        assert all(tok.count_tokens(seq[:q]) > budget for q in range(p + 1, len(seq) + 1)) or (
            p == len(seq)
        )


def test_vocabulary_sizes_and_k_lookup():
    assert vocab_size("v2", 3) == 75 and vocab_size("v1", 3) == 73
    assert vocab_size("v2") == 4107 and vocab_size("v1") == 4105
    assert k_for_vocab("v2", 75) == 3 and k_for_vocab("v1", 4105) == 6
    assert k_for_vocab("v2", 1000) is None
    layout = build_vocab("v2", 3)
    assert layout.tokens[6 : 6 + 64] == tuple(
        "".join(p) for p in itertools.product("ATCG", repeat=3)
    )


def test_tokenizer_objects_are_one_per_version_and_k():
    assert get_tokenizer("v2", 3) is get_tokenizer("v2", 3)
    assert get_tokenizer("v2") is get_tokenizer("v2", 6)
    assert get_tokenizer("v2", 3) is not get_tokenizer("v2")
    tok = get_tokenizer("v2", 3)
    assert pickle.loads(pickle.dumps(tok)) is tok
    assert tok.kmer_ids.shape == (64,) and int(tok.kmer_ids[0]) == 6


@pytest.mark.parametrize("k", [0, 9])
def test_k_outside_the_supported_range_is_refused(k):
    with pytest.raises(ConfigError, match="k-mer length"):
        get_tokenizer("v2", k)
