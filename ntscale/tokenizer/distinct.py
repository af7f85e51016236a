"""Distinct token sequences: content digests and a key -> first-occurrence index.

A model's output depends only on a window's token ids, so windows with equal ids need
one forward pass. Embedding (one pass per distinct haplotype window) and scoring (one
pass per distinct reference/alternative/masked window) share the same two pieces:
`token_digest` (the content key) and `FirstIndex` (key -> id of its first occurrence).

The digest is BLAKE2b-128 of the little-endian int32 ids (CLS included, no padding), so
equal ids give equal digests on every machine; `digest_to_id` keeps its first 8 bytes as
the uint64 `sequence_id` stored per window (0 is reserved for rows without a sequence).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from ntscale.tokenizer.tokenizer import Tokenizer


def token_digest(ids: np.ndarray) -> bytes:
    """16-byte BLAKE2b digest of a token id vector ([n_tokens], any integer dtype)."""
    data = np.ascontiguousarray(ids, dtype="<i4").tobytes()
    return hashlib.blake2b(data, digest_size=16).digest()


def digest_to_id(digest: bytes) -> int:
    """The uint64 sequence id of a digest (its first 8 bytes, little-endian; never 0)."""
    value = int.from_bytes(digest[:8], "little")
    return value or 1  # 0 marks "no sequence" in the store; a zero prefix is 2**-64 rare


class FirstIndex:
    """Ids for keys in order of first appearance: `add(key)` -> (id, is_new)."""

    def __init__(self) -> None:
        self._ids: dict[Hashable, int] = {}

    def add(self, key: Hashable) -> tuple[int, bool]:
        found = self._ids.get(key)
        if found is not None:
            return found, False
        new = self._ids[key] = len(self._ids)
        return new, True

    def __len__(self) -> int:
        return len(self._ids)


@dataclass(frozen=True)
class DistinctTokens:
    """Token ids of the distinct sequences of a list, and which one each input is.

    Attributes:
        ids: [n_distinct] int32 arrays, CLS first, no padding, in order of first appearance.
        digests: [n_distinct] `token_digest` of each.
        inverse: int64 [n_inputs]: input i has the tokens ids[inverse[i]].
    """

    ids: list[np.ndarray]
    digests: list[bytes]
    inverse: np.ndarray

    @property
    def sequence_ids(self) -> np.ndarray:
        """uint64 [n_inputs] sequence id of every input (`digest_to_id`)."""
        per = np.array([digest_to_id(d) for d in self.digests], dtype=np.uint64)
        return per[self.inverse] if len(self.inverse) else np.zeros(0, np.uint64)


def distinct_tokens(
    tokenizer: Tokenizer, sequences: Sequence[str], *, dedup: bool = True
) -> DistinctTokens:
    """Tokenize `sequences` once per distinct text and group them by their token ids.

    Equal strings are tokenized once (hashing a string is far cheaper than tokenizing it);
    the final key is the token digest, so sequences that differ only in ways the tokenizer
    erases (lower case) also share. With `dedup=False` every input stays its own entry
    (the check mode: one forward pass per row).

    Returns:
        DistinctTokens over the inputs, in input order of first appearance.
    """
    n = len(sequences)
    if dedup:
        text_index, text_of = FirstIndex(), np.empty(n, np.int64)
        texts: list[str] = []
        for i, s in enumerate(sequences):
            t, new = text_index.add(s)
            if new:
                texts.append(s)
            text_of[i] = t
    else:
        texts, text_of = list(sequences), np.arange(n, dtype=np.int64)
    tokens = tokenizer.encode_batch(texts) if texts else np.zeros((0, 1), np.int32)
    counts = (tokens != tokenizer.pad_id).sum(axis=1)
    index = FirstIndex()
    ids: list[np.ndarray] = []
    digests: list[bytes] = []
    of_text = np.empty(len(texts), np.int64)
    for t in range(len(texts)):
        row = tokens[t, : counts[t]].copy()
        digest = token_digest(row)
        d, new = index.add(digest if dedup else t)
        if new:
            ids.append(row)
            digests.append(digest)
        of_text[t] = d
    return DistinctTokens(ids=ids, digests=digests, inverse=of_text[text_of])


__all__ = ["DistinctTokens", "FirstIndex", "digest_to_id", "distinct_tokens", "token_digest"]
