"""Vectorised k-mer tokenization of many sequences at once (numpy, no per-token Python).

All sequences of a batch are joined into one code buffer. Each sequence is cut at its Ns
into *segments* (maximal runs of A/C/G/T, possibly empty). A segment of m bp gives
q = m // k k-mers at its start, then r = m % k single letters (k = 6, Codon-NT 3); the N
after a segment (if any) is one more single-letter token. Every quantity is then a ragged
range per segment, built with `np.repeat` of per-segment bases plus one `arange`, so the
cost is a few passes over the tokens, whatever the number of Ns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntscale.tokenizer.alphabet import N_CODE
from ntscale.tokenizer.vocab import K

_N_BYTE = bytes([N_CODE])


@dataclass(frozen=True)
class Segments:
    """The N-free runs of a batch of sequences joined end to end.

    Attributes:
        starts, ends: [S] int64 half-open bounds of each segment in the joined buffer.
        is_last: [S] bool, the segment ends its sequence (no N token after it).
        first: [B] int64 index of each sequence's first segment.
        n_count: [B] int64 number of Ns per sequence.
    """

    starts: np.ndarray
    ends: np.ndarray
    is_last: np.ndarray
    first: np.ndarray
    n_count: np.ndarray


def find_segments(codes: np.ndarray, bounds: np.ndarray, *, has_n: bool | None = None) -> Segments:
    """Cut each sequence of the joined `codes` at its Ns.

    Args:
        codes: [L] uint8 letter codes of all sequences joined.
        bounds: [B+1] int64 offsets of the sequences in `codes` (bounds[0] = 0).
        has_n: whether any N occurs (skip the search when known).
    """
    b = len(bounds) - 1
    if has_n is None:
        has_n = _N_BYTE in codes.tobytes()
    if not has_n:
        return Segments(
            starts=bounds[:-1],
            ends=bounds[1:],
            is_last=np.ones(b, bool),
            first=np.arange(b, dtype=np.int64),
            n_count=np.zeros(b, np.int64),
        )
    n_pos = np.flatnonzero(codes == N_CODE)
    n_before = np.searchsorted(n_pos, bounds)  # [B+1] Ns before each sequence start
    n_count = np.diff(n_before)
    first = np.arange(b, dtype=np.int64) + n_before[:-1]
    last = first + n_count
    n_seg = b + len(n_pos)
    is_first = np.zeros(n_seg, bool)
    is_first[first] = True
    is_last = np.zeros(n_seg, bool)
    is_last[last] = True
    starts = np.empty(n_seg, np.int64)
    starts[first] = bounds[:-1]
    starts[~is_first] = n_pos + 1  # each N opens the next segment of the same sequence
    ends = np.empty(n_seg, np.int64)
    ends[last] = bounds[1:]
    ends[~is_last] = n_pos  # ... and closes the previous one
    return Segments(starts=starts, ends=ends, is_last=is_last, first=first, n_count=n_count)


def _exclusive_cumsum(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), np.int64)
    if len(x):
        out[0] = 0
        np.cumsum(x[:-1], out=out[1:])
    return out


def ragged_arange(bases: np.ndarray, counts: np.ndarray, step: int = 1) -> np.ndarray:
    """Concatenation of `bases[i] + step * arange(counts[i])` over i, without a Python loop."""
    total = int(counts.sum())
    shift = np.repeat(bases - step * _exclusive_cumsum(counts), counts)
    shift += np.arange(0, step * total, step, dtype=np.int64)
    return shift


def token_counts(seg: Segments, k: int = K) -> np.ndarray:
    """[B] int64 number of tokens of each sequence, CLS included."""
    m = seg.ends - seg.starts
    q, r = np.divmod(m, k)
    per_seg = q + r
    if len(seg.first) == 0:
        return np.zeros(0, np.int64)
    if len(per_seg) == len(seg.first):  # one segment per sequence (no N)
        return per_seg + 1
    return np.add.reduceat(per_seg, seg.first) + seg.n_count + 1


def kmer_values(codes: np.ndarray, pos: np.ndarray, offset: int = 0, k: int = K) -> np.ndarray:
    """[len(pos)] int32: offset + base-4 value of the k codes at each position (first highest).

    For k = 6, builds the 3-letter value (0..63) of every position in uint8, then gathers two
    of them per 6-mer. Multiplications, not shifts: numpy vectorises uint8 multiply but not
    uint8 shift. Other k (Codon-NT's 3) sum the k gathered digits.
    """
    if k != 6:
        out = np.zeros(len(pos), np.int32)
        for j in range(k):
            out *= 4
            out += codes[pos + j]
        if offset:
            out += offset
        return out
    tri = codes[:-2] * np.uint8(16)
    tri += codes[1:-1] * np.uint8(4)
    tri += codes[2:]
    out = tri[pos].astype(np.int32)
    out *= 64
    out += tri[3:][pos]
    if offset:
        out += offset
    return out


@dataclass(frozen=True)
class TokenPlan:
    """Where every non-CLS token of a batch comes from, in token order per kind.

    Attributes:
        kmer_pos: [K] int64 start of each 6-mer token in the joined buffer.
        kmer_slot: [K] int64 index of that token in the output (see `slot` in `plan_tokens`).
        single_pos: [S] int64 position of each single-letter token (leftover or N).
        single_slot: [S] int64 output index of that token.
    """

    kmer_pos: np.ndarray
    kmer_slot: np.ndarray
    single_pos: np.ndarray
    single_slot: np.ndarray


def plan_tokens(seg: Segments, first_slot: np.ndarray, k: int = K) -> TokenPlan:
    """Place every token of every segment.

    Args:
        seg: the segments of the batch.
        first_slot: [B] int64 output index of the first token after CLS of each sequence
            (for a padded [B, T] batch: b * T + 1; for a flat stream: cumulative counts).
        k: bases per k-mer token.
    """
    m = seg.ends - seg.starts
    q, r = np.divmod(m, k)
    n_single = r + ~seg.is_last  # leftovers, then the N that closes the segment
    per_seg = q + n_single
    if len(per_seg) == len(seg.first):
        seg_slot = first_slot
    else:
        cum = _exclusive_cumsum(per_seg)
        # slot of a segment = its sequence's first slot + tokens of earlier segments of it
        seq_of_seg = np.repeat(np.arange(len(seg.first)), seg.n_count + 1)
        seg_slot = first_slot[seq_of_seg] + cum - cum[seg.first][seq_of_seg]
    return TokenPlan(
        kmer_pos=ragged_arange(seg.starts, q, k),
        kmer_slot=ragged_arange(seg_slot, q),
        single_pos=ragged_arange(seg.starts + k * q, n_single),
        single_slot=ragged_arange(seg_slot + q, n_single),
    )


def fill_padded(
    out: np.ndarray,
    codes: np.ndarray,
    bounds: np.ndarray,
    seg: Segments,
    counts: np.ndarray,
    *,
    kmer_offset: int,
    letter_offset: int,
    pad_id: int,
    k: int = K,
) -> None:
    """Write the tokens (after <cls>) of every sequence into the padded [B, T] `out`.

    `out[:, 0]` (CLS) and the padding must already be set. Without Ns the 6-mers of all rows
    form a [B, max q] grid at bounds[b] + 6 t, written as one block (no scatter); rows with
    fewer 6-mers are re-padded afterwards.
    """
    b, width = out.shape
    flat = out.reshape(-1)
    row_slot = np.arange(b, dtype=np.int64) * width + 1
    if len(seg.starts) != b or b == 0:  # Ns present: place every token individually
        plan = plan_tokens(seg, row_slot, k)
        if len(plan.kmer_pos):
            flat[plan.kmer_slot] = kmer_values(codes, plan.kmer_pos, kmer_offset, k)
        if len(plan.single_pos):
            flat[plan.single_slot] = codes[plan.single_pos] + np.int32(letter_offset)
        return
    q, r = np.divmod(bounds[1:] - bounds[:-1], k)
    q_max = int(q.max())
    ragged = bool((q != q_max).any())
    if q_max:
        pos = bounds[:-1, None] + np.arange(0, k * q_max, k, dtype=np.int64)
        if ragged:  # rows with fewer k-mers read a valid dummy; re-padded below
            np.minimum(pos, len(codes) - k, out=pos)
        vals = kmer_values(codes, pos.reshape(-1), kmer_offset, k)
        out[:, 1 : 1 + q_max] = vals.reshape(b, q_max)
    if r.any():
        spos = ragged_arange(bounds[:-1] + k * q, r)
        flat[ragged_arange(row_slot + q, r)] = codes[spos] + np.int32(letter_offset)
    if ragged:
        out[np.arange(width) >= counts[:, None]] = pad_id
