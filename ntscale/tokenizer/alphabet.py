"""Letters: byte -> code tables for each input policy, error messages, reverse complement.

Codes: A=0, T=1, C=2, G=3 (the 6-mer digit order of the vocabulary), N=4, 255 = rejected.
Translating with `bytes.translate` runs at memory speed, so validation costs one pass plus
a `memchr` for the rejected code.
"""

from __future__ import annotations

from functools import cache

from ntscale.errors import ConfigError, TokenizerError

N_CODE = 4
BAD_CODE = 255
IUPAC_AMBIGUOUS = "RYSWKMBDHV"  # ambiguity letters other than N
CASE_POLICIES = ("upper", "strict")
IUPAC_POLICIES = ("n", "raise")

_COMPLEMENT = {
    "A": "T", "T": "A", "C": "G", "G": "C", "N": "N",
    "R": "Y", "Y": "R", "S": "S", "W": "W", "K": "M", "M": "K",
    "B": "V", "V": "B", "D": "H", "H": "D",
}  # fmt: skip


def check_policy(case: str, iupac: str) -> None:
    """Raise ConfigError unless `case` and `iupac` name known policies."""
    if case not in CASE_POLICIES:
        raise ConfigError(f"unknown case policy {case!r}; valid: {', '.join(CASE_POLICIES)}")
    if iupac not in IUPAC_POLICIES:
        raise ConfigError(f"unknown iupac policy {iupac!r}; valid: {', '.join(IUPAC_POLICIES)}")


@cache
def code_table(case: str = "upper", iupac: str = "n") -> bytes:
    """256-byte `bytes.translate` table: ASCII letter -> code 0..4, anything rejected -> 255."""
    check_policy(case, iupac)
    table = bytearray([BAD_CODE]) * 256
    accepted = {ch: i for i, ch in enumerate("ATCGN")}
    if iupac == "n":
        accepted.update(dict.fromkeys(IUPAC_AMBIGUOUS, N_CODE))
    for ch, code in accepted.items():
        table[ord(ch)] = code
        if case == "upper":
            table[ord(ch.lower())] = code
    return bytes(table)


def to_bytes(sequence: str | bytes | bytearray | memoryview) -> bytes:
    """ASCII bytes of a sequence; non-ASCII text raises TokenizerError naming the position."""
    if isinstance(sequence, str):
        try:
            return sequence.encode("ascii")
        except UnicodeEncodeError as e:
            raise TokenizerError(
                f"invalid letter {sequence[e.start]!r} at position {e.start}: only A, C, G, T, "
                "N and IUPAC ambiguity letters are allowed"
            ) from None
    if isinstance(sequence, bytes):
        return sequence
    if isinstance(sequence, bytearray | memoryview):
        return bytes(sequence)
    raise TypeError(f"a sequence must be str or bytes, not {type(sequence).__name__}")


def describe_bad_letter(byte: int, position: int, case: str, iupac: str) -> str:
    """Say why the letter `byte` at 0-based `position` is rejected under the given policy."""
    char = chr(byte)
    upper = char.upper() if char.isascii() else char
    shown = repr(char) if byte < 128 else f"byte 0x{byte:02x}"
    if (
        char.isascii()
        and char.islower()
        and upper in "ACGTN" + IUPAC_AMBIGUOUS
        and case == "strict"
    ):
        return (
            f"lowercase letter {shown} at position {position}: case='strict' rejects soft-masked "
            "bases (case='upper' upper-cases them)"
        )
    if upper in IUPAC_AMBIGUOUS and iupac == "raise":
        return (
            f"IUPAC ambiguity letter {shown} at position {position}: iupac='raise' rejects it "
            "(iupac='n' turns it into N)"
        )
    return (
        f"invalid letter {shown} at position {position}: only A, C, G, T, N and IUPAC "
        "ambiguity letters are allowed"
    )


def _complement_table() -> bytes:
    table = bytearray(256)  # 0 = not a nucleotide letter
    for a, b in _COMPLEMENT.items():
        table[ord(a)] = ord(b)
        table[ord(a.lower())] = ord(b.lower())
    return bytes(table)


_BYTES_COMPLEMENT = _complement_table()


def reverse_complement(sequence: str | bytes) -> str | bytes:
    """Reverse complement of a DNA sequence, keeping case (soft masking) and IUPAC meaning.

    A<->T, C<->G, N->N, R<->Y, K<->M, B<->V, D<->H, S and W stay; lowercase stays lowercase.

    Args:
        sequence: the sequence, as str (returns str) or bytes (returns bytes).

    Returns:
        The reverse complement, same type as the input.

    Raises:
        TokenizerError: a letter outside the IUPAC nucleotide alphabet (names it and its
            0-based position in the input).
    """
    try:
        raw = to_bytes(sequence)
    except TokenizerError as e:
        raise TokenizerError(f"cannot reverse-complement: {e}") from None
    complemented = raw.translate(_BYTES_COMPLEMENT)
    bad = complemented.find(0)
    if bad >= 0:
        letter = chr(raw[bad]) if raw[bad] < 128 else f"byte 0x{raw[bad]:02x}"
        raise TokenizerError(
            f"cannot reverse-complement: invalid letter {letter!r} at position {bad}"
        )
    out = complemented[::-1]
    return out.decode("ascii") if isinstance(sequence, str) else out
