"""The two NT k-mer vocabularies (v1 and v2), built in code rather than read from files.

Both list every k-mer over A, T, C, G in `itertools.product("ATCG", repeat=k)` order (first
letter most significant), then the single letters A, T, C, G, N. They differ only in where
the special tokens sit: v1 puts <eos>/<bos> after the letters, v2 before the k-mers, so every
k-mer and letter id of v2 is the v1 id + 2. k is 6 for every published model but Codon-NT
(k = 3, a v2 table of 6 + 64 + 5 = 75 tokens); the checkpoint's `k_for_kmers` says which.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ntscale.errors import ConfigError

K = 6
"""Bases per k-mer token: the one definition of the 6 in NT's 6-mer tokenizer."""
ALPHABET = "ATCG"  # code order: A=0, T=1, C=2, G=3; N is code 4
LETTERS = "ATCGN"
N_KMERS = len(ALPHABET) ** K

UNK, PAD, MASK, CLS = "<unk>", "<pad>", "<mask>", "<cls>"
EOS, BOS = "<eos>", "<bos>"


@dataclass(frozen=True, kw_only=True)
class VocabLayout:
    """Where each block of tokens starts in one vocabulary.

    Attributes:
        version: "v1" or "v2".
        k: bases per k-mer token.
        tokens: id -> token string, every entry of the published vocabulary.
        kmer_offset: id of the first 6-mer (AAAAAA).
        letter_offset: id of the single letter A (then T, C, G, N).
        model_vocab_size: embedding rows / logits of the model (ids 0..size-1).
    """

    version: str
    tokens: tuple[str, ...]
    k: int = K
    kmer_offset: int
    letter_offset: int
    model_vocab_size: int


def _kmers(k: int) -> list[str]:
    return ["".join(p) for p in itertools.product(ALPHABET, repeat=k)]


def vocab_size(version: str, k: int = K) -> int:
    """Model rows (embedding table / logits) of a vocabulary: v1 4 + 4^k + 5, v2 6 + 4^k + 5."""
    return build_vocab(version, k).model_vocab_size


def k_for_vocab(version: str, size: int) -> int | None:
    """The k whose `version` vocabulary has `size` model rows (Codon-NT's 75 -> 3), or None."""
    for k in range(1, 9):
        if vocab_size(version, k) == size:
            return k
    return None


def build_vocab(version: str, k: int = K) -> VocabLayout:
    """Build the vocabulary of an NT model family.

    Args:
        version: "v1" (NT v1 models, 4105 model rows) or "v2" (NT v2 models, 4107 rows).
        k: bases per k-mer token (6; Codon-NT 3).

    Returns:
        The token list and the offsets of its 6-mer and letter blocks.

    Raises:
        ConfigError: for an unknown version (the message lists the valid ones).
    """
    if not 1 <= int(k) <= 8:
        raise ConfigError(f"k-mer length must be in 1..8, got {k!r}")
    kmers = _kmers(int(k))
    n_kmers = len(kmers)
    letters = list(LETTERS)
    if version == "v1":
        tokens = [UNK, PAD, MASK, CLS, *kmers, *letters, EOS, BOS]
        return VocabLayout(
            version="v1",
            k=int(k),
            tokens=tuple(tokens),
            kmer_offset=4,
            letter_offset=4 + n_kmers,
            model_vocab_size=4 + n_kmers + len(letters),
        )
    if version == "v2":
        tokens = [UNK, PAD, MASK, CLS, EOS, BOS, *kmers, *letters]
        return VocabLayout(
            version="v2",
            k=int(k),
            tokens=tuple(tokens),
            kmer_offset=6,
            letter_offset=6 + n_kmers,
            model_vocab_size=len(tokens),
        )
    raise ConfigError(f"unknown tokenizer version {version!r}; valid versions: 'v1', 'v2'")


VERSIONS: tuple[str, ...] = ("v1", "v2")
