"""Token counts the reverse strand relies on (genome/source.py shrinks a window on the
forward strand and reverse-complements the kept prefix, trusting these equalities)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tok_reference import normalise

from ntscale.tokenizer import get_tokenizer, reverse_complement

V2 = get_tokenizer("v2")


@settings(max_examples=150, deadline=None)
@given(seq=st.text(alphabet="ACGTNacgtnRY", max_size=120))
def test_a_sequence_and_its_reverse_complement_have_equal_token_counts(seq: str) -> None:
    """Each N-free run of m bp gives m // 6 + m % 6 tokens read either way, each N one."""
    assert V2.count_tokens(reverse_complement(seq)) == V2.count_tokens(seq)


@pytest.mark.parametrize("seed", range(3))
def test_the_kept_prefix_fits_on_both_strands(seed: int) -> None:
    rng = np.random.default_rng(seed)
    seq = "".join(rng.choice(list("ACGTN"), 600, p=[0.23, 0.23, 0.23, 0.23, 0.08]))
    for budget in (5, 40, 97):
        keep = V2.max_prefix_bp(seq, budget)
        assert V2.count_tokens(seq[:keep]) <= budget
        assert V2.count_tokens(reverse_complement(seq[:keep])) <= budget
        # the longest such prefix: no longer one fits (token counts are not monotone)
        assert all(V2.count_tokens(seq[:p]) > budget for p in range(keep + 1, len(seq) + 1))


@settings(max_examples=100, deadline=None)
@given(
    seq=st.text(alphabet="ACGTNacgtnRYSWKMBDHVryswkmbdhv", max_size=80), budget=st.integers(1, 30)
)
def test_default_policies_give_the_prefix_of_the_normalised_sequence(seq: str, budget: int) -> None:
    assert V2.max_prefix_bp(seq, budget) == V2.max_prefix_bp(normalise(seq), budget)
    starts, lengths = V2.token_spans(seq)
    n_starts, n_lengths = V2.token_spans(normalise(seq))
    assert starts.tolist() == n_starts.tolist() and lengths.tolist() == n_lengths.tolist()


def test_reverse_strand_tokens_by_hand() -> None:
    # forward: ACGTAC GTN -> ACGTAC, G, T, N; reverse complement NAC GTACGT -> N, ACGTAC, G, T
    fwd = "ACGTACGTN"
    assert V2.decode(V2.encode(fwd)) == ["<cls>", "ACGTAC", "G", "T", "N"]
    assert V2.decode(V2.encode(reverse_complement(fwd))) == ["<cls>", "N", "ACGTAC", "G", "T"]
