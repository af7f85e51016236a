"""Letter tables, rejection messages and reverse complement (tokenizer/alphabet.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.errors import TokenizerError
from ntscale.tokenizer import get_tokenizer, reverse_complement
from ntscale.tokenizer.alphabet import BAD_CODE, N_CODE, code_table, describe_bad_letter

V1, V2 = get_tokenizer("v1"), get_tokenizer("v2")
IUPAC = "RYSWKMBDHV"


def codes(table: bytes, letters: str) -> list[int]:
    return list(letters.encode().translate(table))


def test_code_table_under_each_policy() -> None:
    # A=0, T=1, C=2, G=3 (the 6-mer digit order), N=4
    assert codes(code_table("upper", "n"), "ATCGN") == [0, 1, 2, 3, 4]
    assert codes(code_table("upper", "n"), "atcgn") == [0, 1, 2, 3, 4]
    assert codes(code_table("upper", "n"), IUPAC + IUPAC.lower()) == [N_CODE] * 20
    assert codes(code_table("strict", "n"), "acgtn" + IUPAC.lower()) == [BAD_CODE] * 15
    assert codes(code_table("strict", "n"), IUPAC) == [N_CODE] * 10
    assert codes(code_table("upper", "raise"), IUPAC + "ry") == [BAD_CODE] * 12
    assert codes(code_table("upper", "raise"), "ACGTNacgtn") == [0, 2, 3, 1, 4, 0, 2, 3, 1, 4]
    # everything else, at every byte value, is rejected
    accepted = set(b"ACGTNacgtn" + IUPAC.encode() + IUPAC.lower().encode())
    table = code_table()
    assert all(table[b] == BAD_CODE for b in range(256) if b not in accepted)
    assert code_table() == code_table("upper", "n")  # the defaults


@pytest.mark.parametrize(
    ("byte", "case", "iupac", "start"),
    [
        (ord("a"), "strict", "n", "lowercase letter 'a' at position 7: case='strict' rejects"),
        (ord("r"), "strict", "n", "lowercase letter 'r' at position 7: case='strict'"),
        (ord("R"), "upper", "raise", "IUPAC ambiguity letter 'R' at position 7: iupac='raise'"),
        (ord("y"), "upper", "raise", "IUPAC ambiguity letter 'y' at position 7"),
        (ord("-"), "upper", "n", "invalid letter '-' at position 7: only A, C, G, T, N"),
        (ord("U"), "strict", "raise", "invalid letter 'U' at position 7"),
        (0xE9, "upper", "n", "invalid letter byte 0xe9 at position 7"),
    ],
)
def test_describe_bad_letter(byte: int, case: str, iupac: str, start: str) -> None:
    assert describe_bad_letter(byte, 7, case, iupac).startswith(start)


def test_non_ascii_bytes_are_named_by_value() -> None:
    with pytest.raises(TokenizerError, match=r"invalid letter byte 0xff at position 3"):
        V2.encode(b"ACG\xffT")


def test_reverse_complement_keeps_case_and_iupac_meaning() -> None:
    seq = "AAcgTNRyKmBvDhSw"
    rc = reverse_complement(seq)
    assert rc == "wSdHbVkMrYNAcgTT"
    assert reverse_complement(rc) == seq
    assert reverse_complement(seq.encode()) == rc.encode()
    assert isinstance(reverse_complement(b""), bytes)


def test_reverse_complement_tokens_by_hand() -> None:
    """What the reverse strand feeds the model: the 6-mers of the reverse complement."""
    fwd = "AAACCC" + "GT"  # rc: AC + GGGTTT -> "ACGGGT" + "TT"
    rc = reverse_complement(fwd)
    assert rc == "ACGGGTTT"
    assert V2.decode(V2.encode(rc)) == ["<cls>", "ACGGGT", "T", "T"]
    assert V1.encode(rc).tolist() == [
        V1.cls_id,
        V1.token_to_id("ACGGGT"),
        *[V1.letter_ids["T"]] * 2,
    ]


def test_reverse_complement_of_every_letter_pair() -> None:
    pairs = {
        "A": "T",
        "C": "G",
        "N": "N",
        "R": "Y",
        "K": "M",
        "B": "V",
        "D": "H",
        "S": "S",
        "W": "W",
    }
    for a, b in pairs.items():
        assert reverse_complement(a) == b and reverse_complement(b) == a
        assert reverse_complement(a.lower()) == b.lower()


def test_count_tokens_batch_and_decode() -> None:
    seqs = ["ACGTACGTA", "", "NNA", "ACGTACGN" + "ACGTAC"]
    counts = V2.count_tokens_batch(seqs)
    # 1 6-mer + 3 letters; nothing; N, N, A; 1 6-mer + G + N + 1 6-mer (+ CLS each)
    assert counts.tolist() == [5, 1, 4, 5] and counts.dtype == np.int64
    assert [V2.count_tokens(s) for s in seqs] == counts.tolist()
    assert V2.count_tokens("acgtac", case="upper") == 2
    with pytest.raises(TokenizerError, match="lowercase letter 'a' at position 0"):
        V2.count_tokens("acgtac", case="strict")
    batch = V2.encode_batch(seqs)
    assert V2.decode(batch[3]) == ["<cls>", "ACGTAC", "G", "N", "ACGTAC"]
    assert V2.decode(batch[1][:2]) == ["<cls>", "<pad>"]
