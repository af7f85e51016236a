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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class IndelWindows:
    """REF and ALT windows of an indel or MNV (see `indel_windows`).

    Attributes:
        ref_key: (contig, start, end) of the REF window, `variant_window` of the REF start.
        offset: the variant's REF start inside the window (pos - start).
        prefix: bases REF and ALT share at their start (the VCF anchor base), kept aligned.
        ref_len, alt_len: allele lengths.
        alt_start, alt_end: the reference span read to build the ALT window (start is the
            REF window's: both windows share their left flank).
        off_centre: the window was shifted inside the contig.
    """

    ref_key: tuple[str, int, int]
    offset: int
    prefix: int
    ref_len: int
    alt_len: int
    alt: str
    alt_start: int
    alt_end: int
    off_centre: bool

    def alt_sequence(self, seq: str) -> str:
        """The ALT window from the reference bases [alt_start, alt_end)."""
        return seq[: self.offset] + self.alt + seq[self.offset + self.ref_len :]

    def alt_index(self, q: np.ndarray) -> np.ndarray:
        """ALT window index of REF window bases `q` (-1: deleted or replaced base).

        Bases left of the changed ones keep their index; bases right of the REF allele
        move by alt_len - ref_len; REF bases the ALT allele replaces map to none.
        """
        q = np.asarray(q, np.int64)
        left = q < self.offset + self.prefix
        right = q >= self.offset + self.ref_len
        return np.where(left, q, np.where(right, q + self.alt_len - self.ref_len, -1))


def indel_windows(
    contig: str, pos: int, ref: str, alt: str, contig_bp: int, window_bp: int, block_bp: int
) -> IndelWindows:
    """REF and ALT windows of one length for an indel or MNV at `pos` (0-based REF start).

    The REF window is `variant_window(pos)`; the ALT window has the same start and length:
    REF flank left of the variant, the ALT allele, then the REF bases after the REF allele
    (so it reads alt_len - ref_len bases more or less of the reference).

    Raises:
        ValueError: a window does not fit the contig, or an allele runs past the window.
    """
    s, e = variant_window(pos, contig_bp, window_bp, block_bp)
    w, off = e - s, pos - s
    alt_end = e + len(ref) - len(alt)
    if off + len(ref) > w or off + len(alt) > w or alt_end > contig_bp:
        raise ValueError(f"{contig}:{pos}: allele runs past the {w}-bp window or the contig")
    prefix = 0
    while prefix < min(len(ref), len(alt)) and ref[prefix].upper() == alt[prefix].upper():
        prefix += 1
    return IndelWindows(
        ref_key=(contig, s, e),
        offset=off,
        prefix=prefix,
        ref_len=len(ref),
        alt_len=len(alt),
        alt=alt,
        alt_start=s,
        alt_end=alt_end,
        off_centre=off != w // 2,
    )


def align_indel(
    ref_out: np.ndarray, alt_out: np.ndarray, plan: IndelWindows, crop: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """REF and ALT per-base outputs [crop length, R] restricted to the REF bases that have
    a counterpart in ALT inside the crop, row for row (the Borzoi-style alignment).

    Args:
        crop: (lo, hi) window bases the heads output (row o = window base lo + o).
    """
    lo, hi = crop
    q = np.arange(lo, hi)
    m = plan.alt_index(q)
    keep = (m >= lo) & (m < hi)
    return ref_out[q[keep] - lo], alt_out[m[keep] - lo]
