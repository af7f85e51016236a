"""Hypothesis: the vectorised tokenizer equals a plain-Python loop; span/prefix invariants."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tok_reference import normalise, reference_tokens

from ntscale.tokenizer import get_tokenizer, reverse_complement

V1, V2 = get_tokenizer("v1"), get_tokenizer("v2")
SETTINGS = settings(max_examples=150, deadline=None)

# N-rich alphabets stress the segment arithmetic; long runs of one letter stress leftovers.
acgtn = st.text(alphabet="ACGTN", max_size=80) | st.text(alphabet="ACGTNNNN", max_size=40)
lengths = st.integers(min_value=0, max_value=500)
soft_iupac = st.text(alphabet="ACGTNacgtnRYSWKMBDHVryswkmbdhv", max_size=60)


def ids_of(tok, tokens):
    return [tok.token_to_id(t) for t in tokens]


@SETTINGS
@given(seq=acgtn)
def test_encode_matches_python_loop(seq):
    expected = reference_tokens(seq)
    for tok in (V1, V2):
        got = tok.encode(seq)
        assert got.dtype == np.int32
        assert got.tolist() == ids_of(tok, expected)
        assert tok.count_tokens(seq) == len(expected)


@SETTINGS
@given(n=lengths, n_fraction=st.sampled_from([0.0, 0.01, 0.2, 0.9]), seed=st.integers(0, 2**31))
def test_random_long_sequences(n, n_fraction, seed):
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))[rng.integers(0, 4, n)]
    letters[rng.random(n) < n_fraction] = "N"
    seq = "".join(letters)
    assert V2.encode(seq).tolist() == ids_of(V2, reference_tokens(seq))


@SETTINGS
@given(
    # all-ACGT batches take the 6-mer grid path, batches with an N the per-token path
    seqs=st.lists(acgtn, max_size=6) | st.lists(st.text(alphabet="ACGT", max_size=40), max_size=6),
    extra=st.integers(0, 3),
)
def test_batch_equals_single_encodes(seqs, extra):
    singles = [V2.encode(s) for s in seqs]
    width = max((len(s) for s in singles), default=1) + extra
    batch = V2.encode_batch(seqs, width)
    assert batch.shape == (len(seqs), width) and batch.dtype == np.int32
    for row, single in zip(batch, singles, strict=True):
        assert row[: len(single)].tolist() == single.tolist()
        assert (row[len(single) :] == V2.pad_id).all()
    longest = V2.encode_batch(seqs)
    assert longest.shape[1] == max((len(s) for s in singles), default=1)
    np.testing.assert_array_equal(longest, batch[:, : longest.shape[1]])
    assert V2.count_tokens_batch(seqs).tolist() == [len(s) for s in singles]


@SETTINGS
@given(seq=soft_iupac)
def test_default_policies_equal_normalising_first(seq):
    assert V1.encode(seq).tolist() == ids_of(V1, reference_tokens(normalise(seq)))


@SETTINGS
@given(seq=acgtn)
def test_token_spans_tile_the_sequence(seq):
    starts, lengths = V2.token_spans(seq)
    tokens = V2.decode(V2.encode(seq))[1:]
    assert len(starts) == len(lengths) == len(tokens)
    assert [seq[s : s + n] for s, n in zip(starts, lengths, strict=True)] == tokens
    assert set(lengths.tolist()) <= {1, 6}
    # contiguous cover of the whole sequence, in order
    assert starts.tolist() == (np.cumsum(lengths) - lengths).tolist()
    assert int(lengths.sum()) == len(seq)


@SETTINGS
@given(seq=acgtn, max_tokens=st.integers(1, 30))
def test_max_prefix_bp_is_longest_fitting_prefix(seq, max_tokens):
    p = V2.max_prefix_bp(seq, max_tokens)
    counts = [len(reference_tokens(seq[:i])) for i in range(len(seq) + 1)]
    assert p == max(i for i, c in enumerate(counts) if c <= max_tokens)
    assert V2.count_tokens(seq[:p]) <= max_tokens


@SETTINGS
@given(seq=st.text(alphabet="ACGTNacgtnRYSWKMBDHVryswkmbdhv", max_size=50))
def test_reverse_complement_is_an_involution(seq):
    rc = reverse_complement(seq)
    assert len(rc) == len(seq)
    assert reverse_complement(rc) == seq
    assert reverse_complement(seq.encode()) == rc.encode()
    # complementing keeps case (soft masking) and maps N-class letters to N-class letters
    assert [c.islower() for c in rc] == [c.islower() for c in reversed(seq)]
    assert V2.encode(normalise(rc)).tolist() == V2.encode(rc).tolist()
