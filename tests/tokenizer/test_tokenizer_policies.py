"""Input policies, error messages (every one pinned), reverse complement, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.errors import ConfigError, TokenizerError
from ntscale.tokenizer import get_tokenizer, reverse_complement

TOK = get_tokenizer("v2")


def test_lowercase_upper_cased_by_default_and_rejected_when_strict():
    assert TOK.encode("acgtacGTACGTn").tolist() == TOK.encode("ACGTACGTACGTN").tolist()
    with pytest.raises(
        TokenizerError,
        match=r"^lowercase letter 'c' at position 1: case='strict' rejects soft-masked bases",
    ):
        TOK.encode("AcGT", case="strict")


def test_iupac_becomes_n_by_default_and_raises_on_request():
    for letter in "RYSWKMBDHVryswkmbdhv":
        assert TOK.encode(f"ACGTAC{letter}A").tolist() == TOK.encode("ACGTACNA").tolist()
    with pytest.raises(
        TokenizerError,
        match=r"^IUPAC ambiguity letter 'Y' at position 2: iupac='raise' rejects it \(iupac='n'",
    ):
        TOK.encode("ACY", iupac="raise")
    # lowercase IUPAC under strict case: the case rule is reported
    with pytest.raises(TokenizerError, match=r"lowercase letter 'y' at position 0"):
        TOK.encode("y", case="strict", iupac="raise")
    # lowercase IUPAC, upper-cased, then rejected as IUPAC
    with pytest.raises(TokenizerError, match=r"IUPAC ambiguity letter 'y' at position 3"):
        TOK.encode("ACGy", iupac="raise")


@pytest.mark.parametrize(
    ("seq", "shown", "pos"),
    [("ACGT-ACG", "'-'", 4), ("A1", "'1'", 1), ("ACG\n", "'\\\\n'", 3), ("U", "'U'", 0),
     ("ACGTACGTACGTACX", "'X'", 14), ("AC GT", "' '", 2), ("ACGé", "'é'", 3)],
)  # fmt: skip
def test_invalid_letters_name_letter_and_position(seq, shown, pos):
    pattern = rf"^invalid letter {shown} at position {pos}: only A, C, G, T, N and IUPAC"
    with pytest.raises(TokenizerError, match=pattern):
        TOK.encode(seq)
    with pytest.raises(TokenizerError, match=pattern):
        TOK.count_tokens(seq)


def test_invalid_byte_input():
    with pytest.raises(TokenizerError, match=r"^invalid letter byte 0xff at position 2"):
        TOK.encode(b"AC\xff")


def test_batch_errors_name_the_sequence():
    with pytest.raises(TokenizerError, match=r"^sequence 2: invalid letter '\*' at position 5"):
        TOK.encode_batch(["ACGT", "", "ACGTA*"])
    with pytest.raises(TokenizerError, match=r"^sequence 1: lowercase letter 'a' at position 0"):
        TOK.encode_batch(["ACGT", "a"], case="strict")
    with pytest.raises(TokenizerError, match=r"^sequence 1: invalid letter 'é' at position 2"):
        TOK.encode_batch(["ACGT", "ACé"])


def test_unknown_policies():
    with pytest.raises(ConfigError, match=r"unknown case policy 'lower'; valid: upper, strict"):
        TOK.encode("A", case="lower")
    with pytest.raises(ConfigError, match=r"unknown iupac policy 'x'; valid: n, raise"):
        TOK.encode("A", iupac="x")


def test_input_types():
    expected = TOK.encode("ACGTACGTN").tolist()
    for seq in (b"ACGTACGTN", bytearray(b"ACGTACGTN"), memoryview(b"ACGTACGTN")):
        assert TOK.encode(seq).tolist() == expected
    assert TOK.encode_batch([b"ACGTACGTN", "ACGTACGTN"]).tolist() == [expected, expected]
    with pytest.raises(TypeError, match="a sequence must be str or bytes, not int"):
        TOK.encode(5)
    with pytest.raises(TypeError, match="encode_batch takes a list of sequences"):
        TOK.encode_batch("ACGT")


def test_encode_batch_lengths():
    seqs = ["ACGTACGTA", "N", ""]
    got = TOK.encode_batch(seqs)
    assert got.shape == (3, 5)
    assert got[:, 0].tolist() == [3, 3, 3]
    assert got[2].tolist() == [3, 1, 1, 1, 1]
    assert TOK.encode_batch(seqs, 5).tolist() == got.tolist()
    with pytest.raises(
        TokenizerError, match=r"^sequence 0 has 5 tokens \(CLS included\) but the fixed length is 4"
    ):
        TOK.encode_batch(seqs, 4)
    with pytest.raises(
        TokenizerError, match=r"length must be at least 1 \(room for <cls>\), got 0"
    ):
        TOK.encode_batch([], 0)
    assert TOK.encode_batch([]).shape == (0, 1)
    assert TOK.encode_batch([], 7).shape == (0, 7)


def test_uneven_rows_without_n_are_padded():
    """Rows of different 6-mer counts take the grid path; shorter rows must be re-padded."""
    seqs = ["ACGTAC" * 5 + "GG", "TTTTTT", "", "CCCCCCA", "ACGTAC" * 5]
    got = TOK.encode_batch(seqs, 12)
    for row, seq in zip(got, seqs, strict=True):
        single = TOK.encode(seq)
        assert row.tolist() == single.tolist() + [1] * (12 - len(single))


def test_pinned_large_window():
    """A v2 window of 12,282 bp without N is exactly 2,048 tokens (the model maximum)."""
    rng = np.random.default_rng(7)
    seq = "".join(np.array(list("ACGT"))[rng.integers(0, 4, 12_282)])
    ids = TOK.encode(seq)
    assert ids.shape == (2048,) and TOK.count_tokens(seq) == 2048
    assert TOK.encode_batch([seq], 2048).shape == (1, 2048)
    # one N at 100: 100 bp -> 16 6-mers + 4 letters, the N, 12,181 bp -> 2,030 6-mers + 1 letter
    seq_n = seq[:100] + "N" + seq[101:]
    assert TOK.count_tokens(seq_n) == 1 + 20 + 1 + 2031 == 2053
    # longest prefix in 2,048 tokens: 22 tokens up to the N, then 2,026 6-mers after it
    assert TOK.max_prefix_bp(seq_n, 2048) == 101 + 6 * 2026 == 12_257


def test_token_spans_pinned():
    starts, lengths = TOK.token_spans("ACGTGTACNTGCACGGANCGACTAGTCTGA")
    assert starts.tolist() == [0, 6, 7, 8, 9, 15, 16, 17, 18, 24]
    assert lengths.tolist() == [6, 1, 1, 1, 6, 1, 1, 1, 6, 6]
    empty = TOK.token_spans("")
    assert empty[0].shape == (0,) and empty[1].shape == (0,)


def test_max_prefix_bp_pinned_and_errors():
    seq = "ACGTGTACNTGCACGGANCGACTAGTCTGA"
    expected = [0, 6, 7, 8, 9, 15, 16, 17, 18, 24, 30]
    assert [TOK.max_prefix_bp(seq, m) for m in range(1, 12)] == expected
    assert TOK.max_prefix_bp("AAAAA", 2) == 1  # 5 bp needs 6 tokens, 6 bp only 2
    assert TOK.max_prefix_bp("AAAAAA", 2) == 6
    with pytest.raises(
        TokenizerError, match=r"max_tokens must be at least 1 \(room for <cls>\), got 0"
    ):
        TOK.max_prefix_bp(seq, 0)


def test_reverse_complement_values():
    assert reverse_complement("ACGTN") == "NACGT"
    assert reverse_complement("aaCGtn") == "naCGtt"
    assert reverse_complement("RYKMBVDHSW") == "WSDHBVKMRY"
    assert reverse_complement(b"ACCG") == b"CGGT"
    assert reverse_complement("") == ""
    with pytest.raises(
        TokenizerError, match=r"cannot reverse-complement: invalid letter '-' at position 2"
    ):
        reverse_complement("AC-G")
    with pytest.raises(
        TokenizerError, match=r"cannot reverse-complement: invalid letter 'U' at position 0"
    ):
        reverse_complement(b"UA")


def test_reverse_complement_rejects_non_ascii():
    with pytest.raises(
        TokenizerError, match=r"cannot reverse-complement: invalid letter 'é' at position 1"
    ):
        reverse_complement("Aé")
