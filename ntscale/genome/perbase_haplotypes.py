"""Haplotype windows for per-base models: fit to an accepted length, lift back to reference.

A per-base model (SegmentNT) takes windows of fixed lengths (multiples of 24 bp, no N).
A haplotype window with indels has another length than its reference window, so it is
*fitted*: cut to the longest accepted length it holds (`fit_length`), from its end, or from
its start when the window keeps its own last base (the last window of an interval, whose
end is a kept base with no other window to value it). The cut is < `multiple_bp` bp plus
what an insertion adds over the model's longest window, so with the default half-window
overlap it never reaches a base the window keeps except at an interval's end.

Values come back in haplotype coordinates and are *lifted* to the reference window through
the haplotype's coordinate map (`WindowSequence.coord_map`: reference position of each
haplotype base, -1 for inserted bases): a reference base carried by the haplotype gets the
value predicted at its haplotype position; inserted bases have no reference position and
are dropped; deleted reference bases (and any cut away by the fit) stay NaN. SNV-only
haplotypes keep their coordinates one to one. Pure numpy.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ntscale.types import WindowStatus


class AcceptedLengths(Protocol):
    """What of a per-base model's spec the fit needs (`model.perbase.PerBaseSpec`)."""

    multiple_bp: int
    min_window_bp: int
    max_window_bp: int
    accepts_n: bool


def fit_length(length: int, spec: AcceptedLengths) -> int:
    """Longest accepted window length <= `length` (0: none: shorter than the minimum)."""
    m = spec.multiple_bp
    fitted = min(length // m * m, spec.max_window_bp // m * m)
    return fitted if fitted >= spec.min_window_bp else 0


def fit_haplotype(
    window: object, spec: AcceptedLengths, *, keeps_end: bool
) -> tuple[str, np.ndarray] | None:
    """(sequence, coordinate map) of a haplotype window cut to an accepted length.

    Args:
        window: a `genome.source.WindowSequence` of a haplotype (forward strand).
        spec: the model's accepted lengths.
        keeps_end: the window keeps its last base: cut from the start instead of the end.

    Returns:
        None when the haplotype has no sequence (skipped, all N), is shorter than the
        model's shortest window, or holds a non-A/C/G/T letter the model does not take.
    """
    status = window.status  # type: ignore[attr-defined]
    seq = window.sequence.upper()  # type: ignore[attr-defined]
    cmap = window.coord_map  # type: ignore[attr-defined]
    if status in (WindowStatus.SKIPPED_HAPLOTYPE, WindowStatus.SKIPPED_ALL_N) or not seq:
        return None
    if cmap is None:  # a reference row: its own positions
        cmap = np.arange(window.start, window.start + len(seq), dtype=np.int64)  # type: ignore[attr-defined]
    n = fit_length(len(seq), spec)
    if n == 0:
        return None
    cut = slice(len(seq) - n, None) if keeps_end else slice(0, n)
    seq, cmap = seq[cut], np.asarray(cmap, np.int64)[cut]
    if not spec.accepts_n and seq.encode("ascii", "replace").translate(None, b"ACGT"):
        return None
    return seq, cmap


def lift_to_reference(
    values: np.ndarray, coord_map: np.ndarray, start: int, end: int
) -> np.ndarray:
    """[end - start, tracks] reference-coordinate values of a haplotype window's values.

    Args:
        values: [n, tracks] values at each haplotype base.
        coord_map: int64 [n] reference position of each haplotype base (-1: inserted).
        start, end: the reference window.

    Returns:
        float32 values; NaN at reference bases the haplotype does not carry.
    """
    values = np.asarray(values, np.float32)
    out = np.full((end - start, values.shape[1]), np.nan, np.float32)
    cmap = np.asarray(coord_map, np.int64)
    ok = (cmap >= start) & (cmap < end)
    out[cmap[ok] - start] = values[ok]
    return out


__all__ = ["AcceptedLengths", "fit_haplotype", "fit_length", "lift_to_reference"]
