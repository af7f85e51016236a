"""NTv3 variant scores (pure numpy): single-base masked LLR and predicted-track deltas.

- ``llr_masked``: log p(ALT) - log p(REF) at the variant base, that base replaced by
  <mask> in an otherwise reference window (one token per base: no k-mer frame).
- ``track_delta``: per bigWig track of the chosen species, sum and max over the heads'
  output bases of |track(ALT window) - track(REF window)| (the Borzoi-style SAD score),
  REF and ALT windows identical but for the variant base.

Windows are centred on the variant and a multiple of 2^num_downsamples long; at contig
ends they are shifted inside the contig (the variant is then off-centre).
"""

from __future__ import annotations

import numpy as np

NTV3_SCORES = ("llr_masked", "track_delta")


def parse_ntv3_scores(scores: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    """Validated NTv3 score names (comma-separated string or sequence), in NTV3_SCORES order.

    Raises:
        ValueError: an unknown name (lists the valid ones) or none at all.
    """
    names = [s.strip() for s in (scores.split(",") if isinstance(scores, str) else scores)]
    names = [n for n in names if n]
    bad = [n for n in names if n not in NTV3_SCORES]
    if bad or not names:
        raise ValueError(f"NTv3 scores must be among {', '.join(NTV3_SCORES)}; got {names}")
    return tuple(n for n in NTV3_SCORES if n in names)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, float64."""
    x = np.asarray(logits, np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def masked_llr(logits: np.ndarray, ref_id: int, alt_id: int) -> float:
    """log p(alt) - log p(ref) from the MLM logits [V] at the masked variant base."""
    logp = log_softmax(logits)
    return float(logp[alt_id] - logp[ref_id])


def track_deltas(ref: np.ndarray, alt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum, max) over bases of |alt - ref| per track, from [T', R] track predictions.

    Returns:
        Two [R] float32 arrays.
    """
    diff = np.abs(np.asarray(alt, np.float64) - np.asarray(ref, np.float64))
    return diff.sum(axis=0).astype(np.float32), diff.max(axis=0).astype(np.float32)


def variant_window(pos: int, contig_bp: int, window_bp: int, block_bp: int) -> tuple[int, int]:
    """[start, end) of a window of `window_bp` (rounded down to a multiple of `block_bp`,
    shortened to the contig's largest multiple) centred on base `pos`, shifted to stay
    inside [0, contig_bp).

    Raises:
        ValueError: the contig is shorter than one block, or pos outside the contig.
    """
    if not 0 <= pos < contig_bp:
        raise ValueError(f"position {pos} outside a contig of {contig_bp} bp")
    length = min(window_bp, contig_bp) // block_bp * block_bp
    if length == 0:
        raise ValueError(f"contig of {contig_bp} bp is shorter than one block of {block_bp} bp")
    start = min(max(pos - length // 2, 0), contig_bp - length)
    return start, start + length
