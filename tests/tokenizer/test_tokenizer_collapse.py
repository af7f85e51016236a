"""Fixed-frame tokenization with N-containing 6-mers collapsed (tokenizer/collapse.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntscale.tokenizer import collapse_n_kmers, collapsed_spans, get_tokenizer

V2 = get_tokenizer("v2")


def test_collapse_by_hand() -> None:
    # three 6-mers and 2 trailing bases: the middle one holds an N, the tail is dropped
    assert collapse_n_kmers("ACGTAC" + "GGNGGG" + "TTTTTT" + "CA") == "ACGTAC" + "N" + "TTTTTT"
    assert collapse_n_kmers("NNNNNN" * 2) == "NN"
    assert collapse_n_kmers("ACGTA") == ""  # shorter than one 6-mer
    assert collapse_n_kmers("") == ""
    # any non-ACGT letter counts (IUPAC, lower case is expected upper-cased by the caller)
    assert collapse_n_kmers("ACGTAR" + "acgtac") == "NN"


def test_k_is_a_parameter() -> None:
    assert collapse_n_kmers("ACGNAC", k=3) == "ACGN"  # ACG kept, NAC collapsed
    assert collapsed_spans(7, k=3)[0].tolist() == [0, 3]


@pytest.mark.parametrize("n_bp", [0, 5, 6, 60, 65])
def test_every_window_of_w_bp_gets_w_div_6_plus_cls_tokens(n_bp: int) -> None:
    rng = np.random.default_rng(n_bp)
    seq = "".join(rng.choice(list("ACGTN"), n_bp, p=[0.22, 0.22, 0.22, 0.22, 0.12]))
    ids = V2.encode(collapse_n_kmers(seq))
    assert len(ids) == n_bp // 6 + 1
    starts, lengths = collapsed_spans(n_bp)
    assert starts.tolist() == list(range(0, 6 * (n_bp // 6), 6))
    assert set(lengths.tolist()) <= {6} and starts.dtype == lengths.dtype == np.int64


@settings(max_examples=100, deadline=None)
@given(seq=st.text(alphabet="ACGTN", max_size=90))
def test_tokens_line_up_with_the_six_mers_of_the_window(seq: str) -> None:
    """Token i + 1 is the 6-mer at 6 i when it is pure ACGT, else the single N token."""
    ids = V2.encode(collapse_n_kmers(seq))
    starts, _ = collapsed_spans(len(seq))
    assert len(ids) == len(starts) + 1 and ids[0] == V2.cls_id
    for token, a in zip(ids[1:].tolist(), starts.tolist(), strict=True):
        kmer = seq[a : a + 6]
        want = V2.letter_ids["N"] if "N" in kmer else V2.token_to_id(kmer)
        assert token == want


def test_ref_and_alt_tokens_stay_aligned_with_an_n_in_one_of_them() -> None:
    """The reason for the protocol: an N in the alt window does not shift later tokens."""
    ref = "ACGTAC" * 4
    alt = ref[:8] + "N" + ref[9:]
    r, a = V2.encode(collapse_n_kmers(ref)), V2.encode(collapse_n_kmers(alt))
    assert len(r) == len(a) == 5
    assert (r != a).tolist() == [False, False, True, False, False]
    # the plain tokenizer would give the alt window more tokens, shifting the later ones
    assert len(V2.encode(alt)) != len(V2.encode(ref))
