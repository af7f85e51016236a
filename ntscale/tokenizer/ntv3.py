"""NTv3 single-base tokens (numpy only).

NTv3 reads one token per base: six special tokens, then A, T, C, G, N
(ids 0..10, the reference's `get_ntv3_tokenizer`). No <cls> is prepended and nothing is
appended, so token i is base i. Lower-case (soft-masked) letters are read as upper case;
IUPAC ambiguity letters become N (what the reference's examples do before tokenizing);
any other byte is an error that names the position.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ntscale.errors import TokenizerError

NTV3_VOCAB = ("<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>", "A", "T", "C", "G", "N")
NTV3_PAD = 1
NTV3_MASK = 2
NTV3_N = 10
#: token id of each base letter
BASE_IDS = {"A": 6, "T": 7, "C": 8, "G": 9, "N": 10}
_BAD = 255


@cache
def _table() -> np.ndarray:
    table = np.full(256, _BAD, dtype=np.uint8)
    for letter, token in BASE_IDS.items():
        table[ord(letter)] = table[ord(letter.lower())] = token
    for letter in "RYSWKMBDHV":
        table[ord(letter)] = table[ord(letter.lower())] = NTV3_N
    return table


def tokenize_bases(sequence: str | bytes, *, where: str = "sequence") -> np.ndarray:
    """Token ids [T] int32 of a DNA sequence, one per base.

    Raises:
        TokenizerError: a byte that is not a base letter (names `where` and the position).
    """
    raw = sequence.encode("ascii", "replace") if isinstance(sequence, str) else bytes(sequence)
    codes = _table()[np.frombuffer(raw, dtype=np.uint8)]
    bad = np.flatnonzero(codes == _BAD)
    if bad.size:
        pos = int(bad[0])
        raise TokenizerError(
            f"{where}: byte {raw[pos : pos + 1]!r} at offset {pos} is not a DNA letter "
            "(A, C, G, T, N or an IUPAC code)"
        )
    return codes.astype(np.int32)


def tokenize_batch(sequences: list[str], *, length: int | None = None) -> np.ndarray:
    """[B, length] int32 tokens, right-padded with <pad> (length: the longest by default).

    The pre-trained model ignores blocks of 2^n bases that hold only <pad>; NTv3 was not
    trained on pads, so runs pad with N instead (see `pad_with_n`).

    Raises:
        TokenizerError: a bad letter, or a sequence longer than `length`.
    """
    tokens = [tokenize_bases(s, where=f"sequence {i}") for i, s in enumerate(sequences)]
    width = max((len(t) for t in tokens), default=0) if length is None else length
    out = np.full((len(tokens), width), NTV3_PAD, dtype=np.int32)
    for i, t in enumerate(tokens):
        if len(t) > width:
            raise TokenizerError(f"sequence {i}: {len(t)} bases do not fit {width} tokens")
        out[i, : len(t)] = t
    return out


def pad_with_n(tokens: np.ndarray, multiple: int) -> np.ndarray:
    """Right-pad [..., T] tokens with N up to a multiple of `multiple` (the 2^n rule)."""
    extra = (-tokens.shape[-1]) % multiple
    if not extra:
        return tokens
    pad = [(0, 0)] * (tokens.ndim - 1) + [(0, extra)]
    return np.pad(tokens, pad, constant_values=NTV3_N)


def detokenize(tokens: np.ndarray) -> str:
    """Letters of a [T] token array (special tokens as their names)."""
    return "".join(NTV3_VOCAB[int(t)] for t in np.asarray(tokens).ravel())
