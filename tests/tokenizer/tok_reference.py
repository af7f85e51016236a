"""Plain-Python statement of the NT tokenization algorithm, the oracle for the tests."""

from __future__ import annotations

IUPAC_TO_N = str.maketrans(dict.fromkeys("RYSWKMBDHV", "N"))


def reference_tokens(sequence: str) -> list[str]:
    """<cls>, then per N-free piece: 6-mers from the left, leftover letters; one N per N."""
    tokens = ["<cls>"]
    for i, piece in enumerate(sequence.split("N")):
        if i:
            tokens.append("N")
        full = len(piece) - len(piece) % 6
        tokens += [piece[j : j + 6] for j in range(0, full, 6)]
        tokens += list(piece[full:])
    return tokens


def normalise(sequence: str) -> str:
    """What the default policies do before tokenizing: upper-case, IUPAC -> N."""
    return sequence.upper().translate(IUPAC_TO_N)
