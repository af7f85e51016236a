"""Reference and alternative windows around variants (coordinates, then sequences).

Window convention (as in the published NT zero-shot scripts): a window of W bp holds
n = W // 6 six-mers from its left end; the central 6-mer is number c = n // 2 (0-based),
and the variant (the first base of REF) sits at base k // 2 = 3 of it on the forward
strand, i.e. at window offset 6c + 3. On the reverse strand (the reverse complement of
the window) it sits at base k // 2 - 1 = 2 of the central 6-mer, i.e. at forward offset
W - 6c - 3. When n is odd and W = 6n (the model maxima 12,282 and 5,994 bp) both rules
give the same interval, so both strands read the same bases.

Windows are clipped at contig ends by shifting them inside the contig (same length, the
variant no longer central: recorded as OFF_CENTRE); a contig shorter than W is one
window. In "tiled" mode the windows come from a fixed tiling of each contig (stride W/2,
rounded down to a multiple of 6) and each variant uses the tile whose centre is nearest:
variants in one tile share the reference window's forward pass.

The alternative window applies ALT at the variant and keeps the window length: after an
insertion the window's right (3') end is trimmed; after a deletion it is extended with
the next reference bases (ALT_WINDOW_SHORT when the contig ends first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ntscale.genome.variant_table import VariantTable
from ntscale.tokenizer.vocab import K
from ntscale.types import ScoreStatus

MODES = ("centred", "tiled")


def centre_offset(window_bp: int, reverse: bool, *, k: int = K) -> int:
    """Offset of the variant's first base inside an unclipped window (forward coordinates)."""
    c = (window_bp // k) // 2
    return window_bp - k * c - k // 2 if reverse else k * c + k // 2


def centre_distance(pos: np.ndarray, start: np.ndarray, window_bp: int, strand: str) -> np.ndarray:
    """Signed bp from a window's centre position (`centre_offset`) to each variant.

    0 for a variant exactly where the centred convention puts it; positive to its right
    (forward strand). Rows without a window (start -1) give garbage: mask them.
    """
    centre = np.asarray(start, np.int64) + centre_offset(window_bp, strand == "-")
    return np.asarray(pos, np.int64) - centre


def clip_window(
    start: np.ndarray, window_bp: int, contig_bp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Shift windows [start, start + W) inside [0, contig_bp); returns (start, end) int64."""
    start = np.asarray(start, np.int64)
    contig_bp = np.asarray(contig_bp, np.int64)
    clipped = np.minimum(np.maximum(start, 0), np.maximum(contig_bp - window_bp, 0))
    return clipped, np.minimum(clipped + window_bp, contig_bp)


def tile_starts(contig_bp: int, window_bp: int, *, k: int = K) -> np.ndarray:
    """Tile starts of one contig: stride W/2 rounded down to k, the last tile shifted in."""
    stride = max(k, (window_bp // 2) // k * k)
    if contig_bp <= window_bp:
        return np.zeros(1, np.int64)
    n = -(-(contig_bp - window_bp) // stride) + 1
    return np.minimum(np.arange(n, dtype=np.int64) * stride, contig_bp - window_bp)


@dataclass(frozen=True, kw_only=True, eq=False)
class VariantWindows:
    """Window coordinates of every variant row on every strand.

    Attributes:
        start, end: [N, S] int64 forward-strand interval of each row's window on each
            strand (S = len(strands)); -1 for rows that are not scored.
        strands: the strands, "+" or "-".
        status: [N] uint8 statuses updated with OFF_CENTRE / ALLELE_EXCEEDS_WINDOW.
        window_bp: W.
        mode: "centred" or "tiled".
    """

    start: np.ndarray
    end: np.ndarray
    strands: tuple[str, ...]
    status: np.ndarray
    window_bp: int
    mode: str


def plan_variant_windows(
    table: VariantTable,
    contig_bp: Mapping[str, int],
    *,
    window_bp: int,
    strands: tuple[str, ...] = ("+",),
    mode: str = "centred",
) -> VariantWindows:
    """Plan every scored row's window(s) (coordinates only).

    Args:
        table: the variants (statuses from the sequence-free checks).
        contig_bp: contig name -> length (the FASTA's).
        window_bp: W, window length in bp.
        strands: "+" and/or "-".
        mode: "centred" (one window per variant position) or "tiled".

    Returns:
        The windows; rows whose allele runs past the window end get ALLELE_EXCEEDS_WINDOW,
        rows of clipped windows (centred mode) OFF_CENTRE / OFF_CENTRE_NOT_SNV.

    Raises:
        ValueError: a bad mode, strand or window length.
    """
    if mode not in MODES:
        raise ValueError(f"window mode must be one of {MODES}, got {mode!r}")
    if any(s not in ("+", "-") for s in strands) or not strands:
        raise ValueError(f"strands must be '+' and/or '-', got {strands!r}")
    if window_bp < K:
        raise ValueError(f"window_bp must be at least {K}, got {window_bp}")
    n, s_count = table.n_variants, len(strands)
    status = table.status.copy()
    todo = status < ScoreStatus.SYMBOLIC_ALLELE  # the scored codes are 0..9
    lengths = np.array([contig_bp.get(c, 0) for c in table.contig], dtype=np.int64)
    start = np.full((n, s_count), -1, np.int64)
    end = np.full((n, s_count), -1, np.int64)
    clipped = np.zeros(n, bool)
    for j, strand in enumerate(strands):
        if mode == "centred":
            want = table.pos - centre_offset(window_bp, strand == "-")
            a, b = clip_window(want, window_bp, lengths)
            clipped |= todo & (a != want)
        else:
            a, b = _tiled(table, lengths, window_bp, todo)
        start[:, j] = np.where(todo, a, -1)
        end[:, j] = np.where(todo, b, -1)
    longest = np.maximum(np.char.str_len(table.ref), np.char.str_len(table.alt))
    exceeds = todo & np.any((table.pos[:, None] + longest[:, None]) > end, axis=1)
    snv = table.is_snv()
    status[todo & clipped & snv] = ScoreStatus.OFF_CENTRE
    status[todo & clipped & ~snv] = ScoreStatus.OFF_CENTRE_NOT_SNV
    if mode == "tiled":
        # a tile is shared, so its variants sit anywhere up to ~W/4 from the centre
        # position (the first strand's rule); record it instead of calling them ok
        off = todo & (centre_distance(table.pos, start[:, 0], window_bp, strands[0]) != 0)
        status[off & snv] = ScoreStatus.TILED_OFF_CENTRE
        status[off & ~snv] = ScoreStatus.OFF_CENTRE_NOT_SNV
    status[exceeds] = ScoreStatus.ALLELE_EXCEEDS_WINDOW
    for arr in (start, end):
        arr[exceeds] = -1
    return VariantWindows(
        start=start, end=end, strands=tuple(strands), status=status, window_bp=window_bp, mode=mode
    )


def _tiled(
    table: VariantTable, lengths: np.ndarray, window_bp: int, todo: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros(table.n_variants, np.int64)
    for contig in np.unique(table.contig[todo]):
        rows = np.flatnonzero(todo & (table.contig == contig))
        length = int(lengths[rows[0]])
        starts = tile_starts(length, window_bp)
        centres = starts + min(window_bp, length) / 2
        # the tile with the nearest centre: bisect, then compare the two neighbours
        pos = table.pos[rows]
        i = np.clip(np.searchsorted(centres, pos), 1, max(len(starts) - 1, 1))
        left = np.abs(centres[i - 1] - pos) <= np.abs(centres[np.minimum(i, len(starts) - 1)] - pos)
        a[rows] = np.where(left, starts[i - 1], starts[np.minimum(i, len(starts) - 1)])
    return a, np.minimum(a + window_bp, lengths)


@dataclass(frozen=True, kw_only=True)
class VariantSequences:
    """Forward-strand reference and alternative window sequences of one variant.

    Attributes:
        ref_seq: reference window (upper case), W bp (less on a short contig).
        alt_seq: ALT applied at `offset`, same length as ref_seq unless `short`.
        offset: variant offset in the window (pos - window start).
        ref_matches: REF equals the FASTA at the variant.
        short: the alt window is shorter (a deletion at the contig end); it is then cut
            to the reference window's 6-mer frame (`frame_alt_window`).
        alt_offset: ALT's offset in the alt window (= offset unless a short alt window
            was cut at its 5' end).
    """

    ref_seq: str
    alt_seq: str
    offset: int
    ref_matches: bool
    short: bool
    alt_offset: int


def apply_allele(fetched: str, offset: int, ref: str, alt: str, window_bp: int) -> tuple[str, bool]:
    """ALT applied to a fetched reference stretch, cut to `window_bp` (alt window, short?).


    Args:
        fetched: reference from the window start, at least W bp plus the bases a deletion
            pulls in (len(REF) - len(ALT)) where the contig has them.
        offset: variant offset in the window.
        ref, alt: the alleles.
        window_bp: length of the reference window.
    """
    seq = fetched[:offset] + alt + fetched[offset + len(ref) :]
    seq = seq[:window_bp]
    return seq, len(seq) < window_bp


def frame_alt_window(seq: str, offset: int, alt_len: int, window_bp: int) -> tuple[str, int]:
    """Cut a short alt window to the reference window's 6-mer frame: (window, ALT offset).

    A deletion at a contig end leaves the alt window d bp short; unless d is a multiple of
    6 its tail becomes single-letter tokens and it can need more tokens than the model
    takes although the reference window fits. Cutting up to 5 bp, at the 3' end (or at
    the 5' end when ALT itself sits in the last bases), makes its length congruent to
    `window_bp` modulo 6, so it never needs more tokens than the reference window for
    that reason. ALT is never cut.
    """
    extra = (len(seq) - window_bp) % K
    if extra == 0:
        return seq, offset
    if len(seq) - extra >= offset + alt_len:
        return seq[: len(seq) - extra], offset
    if offset >= extra:
        return seq[extra:], offset - extra
    return seq, offset


def variant_sequences(
    fasta: object, contig: str, start: int, end: int, *, pos: int, ref: str, alt: str
) -> VariantSequences:
    """Fetch a variant's reference window and build its alternative window.

    Args:
        fasta: a `FastaSource` (anything with `fetch` and `contig_length`).
        contig, start, end: the forward-strand window.
        pos, ref, alt: the variant (0-based REF start, alleles upper case).
    """
    extra = max(0, len(ref) - len(alt))
    stop = min(end + extra, fasta.contig_length(contig))
    fetched = fasta.fetch(contig, start, stop).upper()
    offset = pos - start
    width = end - start
    ref_matches = fetched[offset : offset + len(ref)] == ref
    alt_seq, short = apply_allele(fetched, offset, ref, alt, width)
    alt_offset = offset
    if short:
        alt_seq, alt_offset = frame_alt_window(alt_seq, offset, len(alt), width)
    return VariantSequences(
        ref_seq=fetched[:width],
        alt_seq=alt_seq,
        offset=offset,
        ref_matches=ref_matches,
        short=short,
        alt_offset=alt_offset,
    )


__all__ = [
    "MODES",
    "VariantSequences",
    "VariantWindows",
    "apply_allele",
    "centre_distance",
    "centre_offset",
    "clip_window",
    "frame_alt_window",
    "plan_variant_windows",
    "tile_starts",
    "variant_sequences",
]
