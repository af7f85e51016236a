"""The vectorised kernel (tokenizer/kernel.py) piece by piece, against plain definitions."""

from __future__ import annotations

import numpy as np
import pytest
from tok_reference import reference_tokens

from ntscale.tokenizer import get_tokenizer
from ntscale.tokenizer import kernel as kn
from ntscale.tokenizer.alphabet import code_table

V2 = get_tokenizer("v2")
CODE = {"A": 0, "T": 1, "C": 2, "G": 3, "N": 4}


def joined(seqs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(codes, bounds) of sequences joined end to end, as the tokenizer prepares them."""
    codes = np.frombuffer("".join(seqs).encode().translate(code_table()), np.uint8)
    bounds = np.concatenate(([0], np.cumsum([len(s) for s in seqs]))).astype(np.int64)
    return codes, bounds


def test_find_segments_by_hand() -> None:
    # "ACNGT" | "" | "NN" | "ACGTACG": Ns at buffer positions 2, 5, 6
    codes, bounds = joined(["ACNGT", "", "NN", "ACGTACG"])
    seg = kn.find_segments(codes, bounds)
    spans = list(zip(seg.starts.tolist(), seg.ends.tolist(), strict=True))
    # seq 0: [0,2) N [3,5); seq 1: [5,5); seq 2: [5,5) N [6,6) N [7,7); seq 3: [7,14)
    assert spans == [(0, 2), (3, 5), (5, 5), (5, 5), (6, 6), (7, 7), (7, 14)]
    assert seg.is_last.tolist() == [False, True, True, False, False, True, True]
    assert seg.first.tolist() == [0, 2, 3, 6]
    assert seg.n_count.tolist() == [1, 0, 2, 0]


def test_find_segments_without_n_is_one_segment_per_sequence() -> None:
    codes, bounds = joined(["ACGT", "GG"])
    for has_n in (None, False):
        seg = kn.find_segments(codes, bounds, has_n=has_n)
        assert seg.starts.tolist() == [0, 4] and seg.ends.tolist() == [4, 6]
        assert seg.is_last.all() and seg.n_count.tolist() == [0, 0]


def test_ragged_arange_equals_a_loop() -> None:
    rng = np.random.default_rng(3)
    bases = rng.integers(-50, 50, 40)
    counts = rng.integers(0, 6, 40)
    for step in (1, 6):
        want = [b + step * i for b, c in zip(bases, counts, strict=True) for i in range(c)]
        assert kn.ragged_arange(bases, counts, step).tolist() == want
    assert kn.ragged_arange(np.zeros(0, np.int64), np.zeros(0, np.int64)).size == 0


@pytest.mark.parametrize(
    "seqs",
    [["ACGTACGTA", "", "N", "NNACGTACN"], ["ACGTAC" * 3, "A"], ["acgtnNRYac" * 4, "TTTTTTT"]],
)
def test_token_counts_equal_the_reference(seqs: list[str]) -> None:
    upper = [s.upper().translate(str.maketrans(dict.fromkeys("RY", "N"))) for s in seqs]
    codes, bounds = joined(upper)
    counts = kn.token_counts(kn.find_segments(codes, bounds))
    assert counts.tolist() == [len(reference_tokens(s)) for s in upper]


def test_token_counts_of_an_empty_batch() -> None:
    codes, bounds = joined([])
    assert kn.token_counts(kn.find_segments(codes, bounds, has_n=True)).tolist() == []


def test_kmer_values_are_base_4_numbers_first_letter_highest() -> None:
    seq = "ACGTTGCA" + "GGGGGG"
    codes, _ = joined([seq])
    pos = np.array([0, 1, 2, 8])
    got = kn.kmer_values(codes, pos, offset=6)
    want = [6 + sum(CODE[c] * 4 ** (5 - j) for j, c in enumerate(seq[p : p + 6])) for p in pos]
    assert got.tolist() == want and got.dtype == np.int32
    # GGGGGG is the last 6-mer: 6 + 4095 = the v2 id of GGGGGG
    assert got[-1] == V2.token_to_id("GGGGGG") == 6 + 4095


def test_plan_tokens_on_a_flat_stream() -> None:
    """A flat stream (no padding): each sequence's first slot is the running token count."""
    seqs = ["ACGTACGT", "NAC", "GGGGGGN"]
    codes, bounds = joined(seqs)
    seg = kn.find_segments(codes, bounds)
    counts = kn.token_counts(seg) - 1  # tokens after CLS
    first = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    plan = kn.plan_tokens(seg, first)
    flat = np.full(int(counts.sum()), -1, np.int64)
    flat[plan.kmer_slot] = plan.kmer_pos
    flat[plan.single_slot] = plan.single_pos
    # ACGTAC @0, G @6, T @7 | N @8, A @9, C @10 | GGGGGG @11, N @17
    assert flat.tolist() == [0, 6, 7, 8, 9, 10, 11, 17]
    assert sorted(plan.kmer_slot.tolist()) == [0, 6]


@pytest.mark.parametrize("with_n", [False, True])
def test_fill_padded_ragged_rows_equal_single_encodes(with_n: bool) -> None:
    """Rows of different 6-mer counts share one block write; the short ones are re-padded."""
    rng = np.random.default_rng(5)
    letters = list("ACGTN" if with_n else "ACGT")
    seqs = ["".join(rng.choice(letters, n)) for n in (0, 5, 6, 13, 40, 41)]
    batch = V2.encode_batch(seqs, length=60)
    for row, s in zip(batch, seqs, strict=True):
        ids = V2.encode(s)
        assert row[: len(ids)].tolist() == ids.tolist()
        assert (row[len(ids) :] == V2.pad_id).all()
        assert V2.decode(ids) == reference_tokens(s)


def test_ns_at_row_edges_stay_in_their_row() -> None:
    """An N ending one row and one starting the next are two rows' tokens, not one segment."""
    seqs = ["ACGTACN", "NACGTAC", "N", "ACGTAC"]
    batch = V2.encode_batch(seqs)
    assert [V2.decode(r[r != V2.pad_id]) for r in batch] == [
        ["<cls>", "ACGTAC", "N"],
        ["<cls>", "N", "ACGTAC"],
        ["<cls>", "N"],
        ["<cls>", "ACGTAC"],
    ]
    codes, bounds = joined(seqs)
    seg = kn.find_segments(codes, bounds)
    assert seg.n_count.tolist() == [1, 1, 1, 0]
    assert kn.token_counts(seg).tolist() == [3, 3, 2, 2]


def test_v2_ids_are_v1_ids_plus_two_outside_the_specials() -> None:
    """Both vocabularies order 6-mers and letters alike; v2 puts two specials before them."""
    v1 = get_tokenizer("v1")
    rng = np.random.default_rng(9)
    seqs = ["".join(rng.choice(list("ACGTN"), n)) for n in (1, 17, 64, 99)]
    a, b = v1.encode_batch(seqs), V2.encode_batch(seqs)
    special = a <= v1.cls_id  # <cls> and <pad> keep their ids
    np.testing.assert_array_equal(b[~special], a[~special] + 2)
    np.testing.assert_array_equal(b[special], a[special])
