"""The NT k-mer tokenizer: sequences -> int32 token ids, exactly as the published NT code.

Algorithm (reference behaviour): split on N; cut each piece into k-mers (k = 6; Codon-NT 3)
from its left end; the leftover (< k bp) becomes single-letter tokens; each N is one N
token; <cls> first; no <eos>; right padding with <pad>. Beyond the reference, lowercase is
upper-cased and other IUPAC letters become N by default (policies `case="strict"` /
`iupac="raise"` reject them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from ntscale.errors import TokenizerError
from ntscale.tokenizer import kernel
from ntscale.tokenizer.alphabet import (
    BAD_CODE,
    N_CODE,
    check_policy,
    code_table,
    describe_bad_letter,
    to_bytes,
)
from ntscale.tokenizer.vocab import LETTERS, VERSIONS, K, build_vocab

SequenceLike = str | bytes
_BAD_BYTE = bytes([BAD_CODE])
_N_BYTE = bytes([N_CODE])


@dataclass(frozen=True)
class _Encoded:
    codes: np.ndarray  # [L] uint8, all sequences joined
    bounds: np.ndarray  # [B+1] int64
    segments: kernel.Segments


@dataclass(frozen=True, kw_only=True, eq=False)
class Tokenizer:
    """k-mer tokenizer of one NT model family (see `get_tokenizer`).

    Attributes:
        version: "v1" or "v2".
        k: bases per k-mer token (6; Codon-NT 3).
        pad_id, mask_id, cls_id, unk_id: special token ids (same in both vocabularies).
        vocab_size: rows of the model's embedding / logits (v1 4105, v2 4107).
        vocab: id -> token string, the full published vocabulary (4107 entries).
        kmer_ids: [4^k] int32 id of each k-mer in product("ATCG") order.
        letter_ids: single letter (A, C, G, T, N) -> id.
    """

    version: str
    k: int = 6
    pad_id: int = 1
    mask_id: int = 2
    cls_id: int = 3
    unk_id: int = 0
    vocab_size: int
    vocab: tuple[str, ...] = field(repr=False)
    kmer_ids: np.ndarray = field(repr=False)
    letter_ids: dict[str, int]
    _kmer_offset: int = field(repr=False)
    _letter_offset: int = field(repr=False)
    _index: dict[str, int] = field(repr=False)

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        # Pickle (Ray, multiprocessing) as (version, k): small, and the same object back.
        return get_tokenizer, (self.version, self.k)

    # --- vocabulary -------------------------------------------------------------------
    def token_to_id(self, token: str) -> int:
        """Id of a token string ("ACGTAC", "N", "<cls>", ...); TokenizerError if unknown."""
        try:
            return self._index[token]
        except KeyError:
            raise TokenizerError(
                f"token {token!r} is not in the {self.version} vocabulary"
            ) from None

    def id_to_token(self, token_id: int) -> str:
        """Token string of an id; TokenizerError if out of range."""
        if not 0 <= int(token_id) < len(self.vocab):
            raise TokenizerError(
                f"token id {token_id} is out of range for the {self.version} vocabulary "
                f"(0..{len(self.vocab) - 1})"
            )
        return self.vocab[int(token_id)]

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Token strings of a sequence of ids (pads included)."""
        return [self.id_to_token(i) for i in np.asarray(ids).ravel().tolist()]

    # --- encoding ---------------------------------------------------------------------
    def _prepare(self, sequences: Sequence[SequenceLike], case: str, iupac: str) -> _Encoded:
        check_policy(case, iupac)
        try:
            raws = [s if isinstance(s, bytes) else to_bytes(s) for s in sequences]
        except TokenizerError:
            if len(sequences) == 1:
                raise
            for row, s in enumerate(sequences):  # say which sequence it was
                try:
                    to_bytes(s)
                except TokenizerError as e:
                    raise TokenizerError(f"sequence {row}: {e}") from None
            raise
        lengths = np.fromiter((len(r) for r in raws), np.int64, len(raws))
        bounds = np.zeros(len(raws) + 1, np.int64)
        np.cumsum(lengths, out=bounds[1:])
        joined = b"".join(raws).translate(code_table(case, iupac))
        bad = joined.find(_BAD_BYTE)
        if bad >= 0:
            row = int(np.searchsorted(bounds, bad, side="right")) - 1
            where = int(bad - bounds[row])
            reason = describe_bad_letter(raws[row][where], where, case, iupac)
            raise TokenizerError(reason if len(raws) == 1 else f"sequence {row}: {reason}")
        codes = np.frombuffer(joined, np.uint8)
        seg = kernel.find_segments(codes, bounds, has_n=_N_BYTE in joined)
        return _Encoded(codes=codes, bounds=bounds, segments=seg)

    def _fill(self, enc: _Encoded, out: np.ndarray, counts: np.ndarray) -> None:
        kernel.fill_padded(
            out, enc.codes, enc.bounds, enc.segments, counts,
            kmer_offset=self._kmer_offset, letter_offset=self._letter_offset, pad_id=self.pad_id,
            k=self.k,
        )  # fmt: skip

    def encode(
        self, sequence: SequenceLike, *, case: str = "upper", iupac: str = "n"
    ) -> np.ndarray:
        """Token ids of one sequence: <cls> then its tokens, no padding.

        Args:
            sequence: DNA as str or bytes.
            case: "upper" (default) upper-cases lowercase; "strict" rejects it.
            iupac: "n" (default) turns R, Y, S, W, K, M, B, D, H, V into N; "raise" rejects them.

        Returns:
            [n_tokens] int32.

        Raises:
            TokenizerError: a rejected letter (names it and its 0-based position).
        """
        enc = self._prepare([sequence], case, iupac)
        n = int(kernel.token_counts(enc.segments, self.k)[0])
        out = np.empty((1, n), np.int32)
        out[0, 0] = self.cls_id
        self._fill(enc, out, np.array([n]))
        return out[0]

    def encode_batch(
        self,
        sequences: Sequence[SequenceLike],
        length: int | None = None,
        *,
        case: str = "upper",
        iupac: str = "n",
    ) -> np.ndarray:
        """Token ids of many sequences, right-padded with <pad>.

        Args:
            sequences: DNA strings or bytes.
            length: tokens per row (CLS included); None = the longest row.
            case, iupac: letter policies, as in `encode`.

        Returns:
            [B, T] int32.

        Raises:
            TokenizerError: a rejected letter (names the sequence index and position), or a
                sequence with more tokens than `length`.
        """
        if isinstance(sequences, str | bytes):
            raise TypeError("encode_batch takes a list of sequences; use encode for one")
        if length is not None and length < 1:
            raise TokenizerError(f"length must be at least 1 (room for <cls>), got {length}")
        enc = self._prepare(list(sequences), case, iupac)
        counts = kernel.token_counts(enc.segments, self.k)
        b = len(counts)
        longest = int(counts.max()) if b else 1
        if length is None:
            length = longest
        elif longest > length:
            row = int(np.argmax(counts))
            raise TokenizerError(
                f"sequence {row} has {longest} tokens (CLS included) but the fixed length is "
                f"{length}; shorten it (see Tokenizer.max_prefix_bp) or raise the length"
            )
        out = np.full((b, length), self.pad_id, np.int32)
        out[:, 0] = self.cls_id
        self._fill(enc, out, counts)
        return out

    def count_tokens(self, sequence: SequenceLike, *, case: str = "upper", iupac: str = "n") -> int:
        """Number of tokens of `sequence`, CLS included, without building them."""
        enc = self._prepare([sequence], case, iupac)
        return int(kernel.token_counts(enc.segments, self.k)[0])

    def count_tokens_batch(
        self, sequences: Sequence[SequenceLike], *, case: str = "upper", iupac: str = "n"
    ) -> np.ndarray:
        """[B] int64 token counts (CLS included) of many sequences."""
        enc = self._prepare(list(sequences), case, iupac)
        return kernel.token_counts(enc.segments, self.k)

    def token_spans(
        self, sequence: SequenceLike, *, case: str = "upper", iupac: str = "n"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where each token after <cls> comes from in the sequence.

        Returns:
            (starts, lengths): [n_tokens - 1] int64 0-based start in `sequence` and length in
            bp (6 for a 6-mer, 1 for a single letter or N), in token order. Token i + 1 of
            `encode(sequence)` covers sequence[starts[i]:starts[i] + lengths[i]].
        """
        enc = self._prepare([sequence], case, iupac)
        n = int(kernel.token_counts(enc.segments, self.k)[0]) - 1
        plan = kernel.plan_tokens(enc.segments, np.zeros(1, np.int64), self.k)
        starts = np.empty(n, np.int64)
        lengths = np.empty(n, np.int64)
        starts[plan.kmer_slot] = plan.kmer_pos
        lengths[plan.kmer_slot] = self.k
        starts[plan.single_slot] = plan.single_pos
        lengths[plan.single_slot] = 1
        return starts, lengths

    def max_prefix_bp(
        self, sequence: SequenceLike, max_tokens: int, *, case: str = "upper", iupac: str = "n"
    ) -> int:
        """Length of the longest prefix of `sequence` with at most `max_tokens` tokens.

        Token counts are not monotone in the prefix length (5 bp -> 5 letter tokens, 6 bp ->
        one 6-mer), so every prefix length is considered, not a bisection.

        Raises:
            TokenizerError: `max_tokens` < 1 (even the empty prefix needs <cls>).
        """
        if max_tokens < 1:
            raise TokenizerError(
                f"max_tokens must be at least 1 (room for <cls>), got {max_tokens}"
            )
        enc = self._prepare([sequence], case, iupac)
        seg = enc.segments
        if int(kernel.token_counts(seg, self.k)[0]) <= max_tokens:
            return len(enc.codes)
        # Prefix of p bp ending inside segment s (start_s <= p <= end_s):
        # tokens = 1 + (tokens of earlier segments, each + its N) + f(p - start_s).
        m = seg.ends - seg.starts
        q, r = np.divmod(m, self.k)
        before = np.zeros(len(m), np.int64)
        np.cumsum((q + r + 1)[:-1], out=before[1:])
        offset = kernel.ragged_arange(np.zeros(len(m), np.int64), m + 1)  # p - start_s
        fq, fr = np.divmod(offset, self.k)
        counts = np.repeat(1 + before, m + 1) + fq + fr
        fits = np.flatnonzero(counts <= max_tokens)
        # segment s covers prefix lengths start_s..end_s, and start_s = sum of (m + 1) over
        # earlier segments (each plus its N), so the index in `counts` is the prefix length.
        return int(fits[-1])


def get_tokenizer(version: str, k: int = K) -> Tokenizer:
    """The tokenizer of an NT model family.

    Args:
        version: "v1" (NT v1 models: 500M-human-ref, 500M/2.5B-1000G, 2.5B-multi-species;
            AgroNT) or "v2" (NT v2 models: 50M..500M multi-species; SegmentNT; Codon-NT).
        k: bases per k-mer token, the checkpoint's `k_for_kmers` (6; Codon-NT 3).

    Raises:
        ConfigError: unknown version (lists the valid ones) or k outside 1..8.
    """
    return _tokenizer(str(version), int(k))  # one object per (version, k), however asked


@cache
def _tokenizer(version: str, k: int) -> Tokenizer:
    layout = build_vocab(version, k)
    kmer_ids = np.arange(layout.kmer_offset, layout.kmer_offset + 4**layout.k, dtype=np.int32)
    kmer_ids.flags.writeable = False
    return Tokenizer(
        version=layout.version,
        k=layout.k,
        vocab_size=layout.model_vocab_size,
        vocab=layout.tokens,
        kmer_ids=kmer_ids,
        letter_ids={ch: layout.letter_offset + i for i, ch in enumerate(LETTERS)},
        _kmer_offset=layout.kmer_offset,
        _letter_offset=layout.letter_offset,
        _index={tok: i for i, tok in enumerate(layout.tokens)},
    )


__all__ = ["VERSIONS", "Tokenizer", "get_tokenizer"]
