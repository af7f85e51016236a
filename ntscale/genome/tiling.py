"""Vectorised tiling of many intervals into windows, with the token budget checked per window.

Used by `plan_windows` for whole contigs, BED regions and the N-free pieces of a gap-aware
plan alike, so a GRCh38-sized plan (hundreds of thousands of windows) is a few numpy
passes, never one Python object per window.
"""

from __future__ import annotations

import numpy as np

from ntscale.errors import ConfigError
from ntscale.tokenizer.vocab import K


def nfree_tokens(length_bp: int | np.ndarray, k: int = K) -> int | np.ndarray:
    """Tokens (CLS included) of an N-free sequence of `length_bp`: k-mers + leftovers + CLS."""
    return length_bp // k + length_bp % k + 1


def max_window_bp(max_tokens: int, k: int = K) -> int:
    """The longest N-free window that fits `max_tokens`: (max_tokens - 1) k-mers."""
    return (max_tokens - 1) * k


def check_window_fits(
    window_bp: int, max_tokens: int, *, model: str = "the model", k: int = K
) -> None:
    """Refuse a window whose N-free sequence has more tokens than the model takes.

    Raises:
        ConfigError: one line naming the maximum in bp and in tokens.
    """
    need = int(nfree_tokens(window_bp, k))
    if need > max_tokens:
        top = max_window_bp(max_tokens, k)
        raise ConfigError(
            f"--window {window_bp:,} bp needs {need:,} tokens but {model} takes at most "
            f"{max_tokens:,} tokens (CLS included), i.e. at most {top:,} bp per window; use "
            f"--window {top} (or 'max'), or a length of at most {top:,} bp that is a multiple "
            f"of {k}"
        )


def _ranges(counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges: [0..counts[0]), [0..counts[1]), ..."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    firsts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - firsts


def tile_intervals(
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    window_bp: int,
    stride_bp: int,
    last_window: str,
    max_tokens: int | None = None,
    k: int = K,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tile every interval [starts[i], ends[i]) into windows.

    Rules (docs/genome.md): full windows every `stride_bp`; an interval shorter than a
    window gives one shorter window; the rest at the end follows `last_window` (shift,
    truncate, drop). With `max_tokens`, a window shorter than `window_bp` whose N-free
    tokens do not fit (a length just under the maximum and not a multiple of 6) is
    replaced by two windows of the largest multiple of 6 below its length, one at each
    end, which together cover it.

    Returns:
        (window starts, window ends, interval index of each window, dropped [D, 2] tails),
        windows grouped by interval in start order.
    """
    s = np.asarray(starts, np.int64)
    e = np.asarray(ends, np.int64)
    if window_bp < 1 or stride_bp < 1:
        raise ConfigError(f"window_bp and stride_bp must be >= 1, got {window_bp}, {stride_bp}")
    span = e - s
    live = span > 0
    s, e, span, idx = s[live], e[live], span[live], np.flatnonzero(live)
    n_full = np.where(span <= window_bp, 1, (span - window_bp) // stride_bp + 1)
    nth = _ranges(n_full)
    owner = np.repeat(np.arange(s.size), n_full)
    w_s = s[owner] + stride_bp * nth
    w_e = np.minimum(w_s + window_bp, e[owner])  # a short interval: one shorter window
    last_end = s + stride_bp * (n_full - 1) + np.minimum(window_bp, span)
    next_start = s + n_full * stride_bp
    tail = (span > window_bp) & (last_end < e) & (next_start < e)
    t = np.flatnonzero(tail)
    dropped = np.zeros((0, 2), np.int64)
    if last_window == "shift":
        x_s, x_e = e[t] - window_bp, e[t]
    elif last_window == "truncate":
        x_s, x_e = next_start[t], e[t]
    else:
        x_s = x_e = np.zeros(0, np.int64)
        dropped = np.stack([np.maximum(last_end[t], next_start[t]), e[t]], axis=1)
    w_s = np.concatenate((w_s, x_s))
    w_e = np.concatenate((w_e, x_e))
    owner = np.concatenate((owner, t if x_s.size else t[:0]))
    if max_tokens is not None:
        w_s, w_e, owner = _split_over_budget(w_s, w_e, owner, max_tokens, k)
    order = np.lexsort((w_e, w_s, owner))
    return w_s[order], w_e[order], idx[owner[order]], dropped


def _split_over_budget(
    w_s: np.ndarray, w_e: np.ndarray, owner: np.ndarray, max_tokens: int, k: int = K
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    length = w_e - w_s
    bad = nfree_tokens(length, k) > max_tokens
    if not bad.any():
        return w_s, w_e, owner
    fit = (length[bad] // k) * k  # a multiple of k no longer than a fitting window
    b_s, b_e = w_s[bad], w_e[bad]
    keep = ~bad
    return (
        np.concatenate((w_s[keep], b_s, b_e - fit)),
        np.concatenate((w_e[keep], b_s + fit, b_e)),
        np.concatenate((owner[keep], owner[bad], owner[bad])),
    )
