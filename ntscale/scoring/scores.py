"""Variant effect scores from reduced model outputs: distances, LLR, score names.

Formulas (x = reference, y = alternative, both [..., D] pooled embeddings):
  l2      ||x - y||_2
  cosine  1 - x.y / (||x|| ||y||)           (a distance: 0 for parallel vectors)
  llr     log p(alt token) - log p(ref token) at the token holding an SNV, read from the
          SNV table (`ntscale.scoring.reduce.snv_table`) of the reference window, with the
          token masked (masked marginal) or not (wild-type marginal).
Flattened distances (TraitGym's NT embedding scores; X, Y = [T, D] token embeddings of
one layer, CLS included, padding excluded, compared as vectors of T * D numbers):
  l2_flat      ||X - Y||_F
  cosine_flat  1 - <X, Y> / (||X||_F ||Y||_F)
  dot_flat     <X, Y> = sum over tokens and dims of X * Y   (an inner product, not a distance)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ntscale.errors import ConfigError
from ntscale.scoring.reduce import BASES, K, _xp

SCORE_KINDS = ("llr_masked", "llr_wt", "l2", "cosine", "flat", "aligned")
"""What `--scores` may name (plus "llr" for both LLR kinds)."""

POSITION_NAMES = ("centre_offset_bp", "base_in_kmer")
"""Per-row positions stored beside the scores in tiled mode (not scores): the SNV's (or
MNV's) signed distance in bp from its window's centre position, and the base (0-5) of
its 6-mer it sits at, on the first strand scored."""

_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}


def l2_distance(x: Any, y: Any) -> Any:
    """Euclidean distance over the last axis."""
    xp = _xp(x)
    d = x.astype(xp.float32) - y.astype(xp.float32)
    return xp.sqrt(xp.sum(d * d, axis=-1))


def cosine_distance(x: Any, y: Any) -> Any:
    """1 - cosine similarity over the last axis (NaN if either vector is zero)."""
    xp = _xp(x)
    x, y = x.astype(xp.float32), y.astype(xp.float32)
    nx = xp.sqrt(xp.sum(x * x, axis=-1))
    ny = xp.sqrt(xp.sum(y * y, axis=-1))
    denom = nx * ny
    safe = xp.where(denom > 0, denom, 1.0)
    return xp.where(denom > 0, 1.0 - xp.sum(x * y, axis=-1) / safe, xp.float32(np.nan))


def snv_llr(table: np.ndarray, token: int, offset: int, ref: str, alt: str) -> float:
    """log p(alt) - log p(ref) for one SNV from one row's SNV table.

    Args:
        table: [T, 6, 4] SNV table of the window (masked or not).
        token: index of the token holding the SNV (CLS = 0).
        offset: base of the SNV inside that token (0 for a single-letter token).
        ref, alt: the reference and alternative base (A, C, G or T) on the window's strand.

    Returns:
        The log-likelihood ratio (natural log); NaN if the token has no table entry.
    """
    row = table[token, offset]
    return float(row[BASES.index(alt)] - row[BASES.index(ref)])


def complement(base: str) -> str:
    """Complement of one base (A, C, G, T)."""
    return _COMPLEMENT[base]


def parse_scores(kinds: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Normalise `--scores` values ("llr" = both LLR kinds) to SCORE_KINDS order.

    Raises:
        ConfigError: an unknown kind (lists the valid ones), or none at all.
    """
    wanted: set[str] = set()
    for kind in kinds:
        k = str(kind).strip().lower()
        if k == "llr":
            wanted |= {"llr_masked", "llr_wt"}
        elif k in SCORE_KINDS:
            wanted.add(k)
        else:
            raise ConfigError(
                f"unknown score {kind!r}; valid scores: llr, {', '.join(SCORE_KINDS)}"
            )
    if not wanted:
        raise ConfigError("no scores requested; give at least one of llr, l2, cosine, flat")
    return tuple(k for k in SCORE_KINDS if k in wanted)


def score_names(
    kinds: tuple[str, ...], layers: tuple[int, ...], *, per_strand: bool = False
) -> tuple[str, ...]:
    """Names of the stored score arrays for these kinds and layers.

    `llr_masked`, `llr_wt`, and per layer L: `l2_mean_layer_L`, `l2_variant_layer_L`,
    `cosine_mean_layer_L`, `cosine_variant_layer_L`.
    With `per_strand` (both strands scored) each LLR also gets `<llr>_fwd` and `<llr>_rev`,
    the single-strand values whose mean is `<llr>`. `flat` gives, per layer,
    `l2_flat_layer_L`, `cosine_flat_layer_L` and `dot_flat_layer_L`.
    """
    names = []
    for k in ("llr_masked", "llr_wt"):
        if k in kinds:
            names += [k, f"{k}_fwd", f"{k}_rev"] if per_strand else [k]
    for metric in ("l2", "cosine"):
        if metric in kinds:
            for layer in layers:
                names += [f"{metric}_mean_layer_{layer}", f"{metric}_variant_layer_{layer}"]
    if "flat" in kinds:
        for layer in layers:
            names += [f"{m}_flat_layer_{layer}" for m in ("l2", "cosine", "dot")]
    if "aligned" in kinds:
        names += [f"l2_aligned_layer_{layer}" for layer in layers]
    return tuple(names)


def aligned_pairs(
    ref_spans: tuple[np.ndarray, np.ndarray],
    alt_spans: tuple[np.ndarray, np.ndarray],
    ref_iv: tuple[int, int],
    alt_iv: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Token pairs (ref index, alt index; CLS = 0) that hold the same reference bases.

    A ref token wholly left of REF pairs with the alt token shifted like the bases left of
    ALT (alt_iv[0] - ref_iv[0]); one wholly right of REF with the alt token shifted like
    the bases right of ALT (alt_iv[1] - ref_iv[1]). Only tokens of the same length pair,
    so after an indel of d bp the tokens on the shifted side pair only when d is a
    multiple of 6 (in frame); tokens overlapping the variant never pair.

    Args:
        ref_spans, alt_spans: (starts, lengths) of the windows' tokens after CLS.
        ref_iv, alt_iv: [start, end) of REF in the ref window and of ALT in the alt window
            (same strand's coordinates).
    """
    r_start, r_len = ref_spans
    a_start, a_len = alt_spans
    where = {(int(s), int(n)): i + 1 for i, (s, n) in enumerate(zip(a_start, a_len, strict=True))}
    left, right = alt_iv[0] - ref_iv[0], alt_iv[1] - ref_iv[1]
    ri, ai = [], []
    for i, (s, n) in enumerate(zip(r_start.tolist(), r_len.tolist(), strict=True)):
        if s + n <= ref_iv[0]:
            j = where.get((s + left, n))
        elif s >= ref_iv[1]:
            j = where.get((s + right, n))
        else:
            continue
        if j is not None:
            ri.append(i + 1)
            ai.append(j)
    return np.asarray(ri, np.int64), np.asarray(ai, np.int64)


def aligned_l2(x: np.ndarray, y: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]) -> float:
    """Root-mean-square L2 distance over aligned token pairs ([T, D] embeddings).

    The mean over pairs (not the sum) keeps windows with fewer aligned tokens (an
    out-of-frame indel pairs only its left-hand tokens) on the same scale. NaN if none.
    """
    ri, ai = pairs
    if len(ri) == 0:
        return float("nan")
    d = x[ri].astype(np.float64) - y[ai].astype(np.float64)
    return float(np.sqrt(np.mean(np.sum(d * d, axis=-1))))


def flat_scores(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """TraitGym's flattened scores of two [T, D] token-embedding matrices (float64 sums).

    Returns {"l2": ||X - Y||_F, "cosine": 1 - <X,Y>/(||X|| ||Y||), "dot": <X,Y>}; all NaN
    when the token counts differ (the tokens do not line up; see `collapse_n_kmers`).
    """
    if x.shape != y.shape:
        return {"l2": np.nan, "cosine": np.nan, "dot": np.nan}
    x64, y64 = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    d = x64 - y64
    dot = float(x64 @ y64)
    denom = float(np.sqrt((x64 @ x64) * (y64 @ y64)))
    cos = 1.0 - dot / denom if denom > 0 else np.nan
    return {"l2": float(np.sqrt(d @ d)), "cosine": cos, "dot": dot}


def token_weights(starts: np.ndarray, lengths: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Pooling weights over a window's tokens for the tokens overlapping bases [lo, hi).

    Args:
        starts, lengths: token spans after CLS (`Tokenizer.token_spans`).
        lo, hi: 0-based half-open interval of the variant in the window; an empty
            interval (hi == lo) selects the token holding base lo.

    Returns:
        [n_tokens] float32 (CLS first, weight 0): 1/n on the n covering tokens.
    """
    hi = max(hi, lo + 1)
    hit = (starts < hi) & (starts + lengths > lo)
    w = np.zeros(len(starts) + 1, np.float32)
    n = int(hit.sum())
    if n:
        w[1:][hit] = 1.0 / n
    return w


def token_at(starts: np.ndarray, lengths: np.ndarray, base: int) -> tuple[int, int]:
    """(token index with CLS = 0, offset inside the token) of the token holding `base`.

    Raises:
        ValueError: `base` is outside the tokenized sequence.
    """
    i = int(np.searchsorted(starts, base, side="right")) - 1
    if i < 0 or base >= starts[i] + lengths[i]:
        raise ValueError(f"base {base} is not covered by any token")
    return i + 1, int(base - starts[i])


__all__ = [
    "BASES",
    "K",
    "POSITION_NAMES",
    "SCORE_KINDS",
    "aligned_l2",
    "aligned_pairs",
    "complement",
    "cosine_distance",
    "flat_scores",
    "l2_distance",
    "parse_scores",
    "score_names",
    "snv_llr",
    "token_at",
    "token_weights",
]
