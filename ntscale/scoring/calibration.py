"""Calibration of the wild-type LLR: a background of every possible SNV of the scanned
windows, stratified, summarised as quantile tables (pure numpy).

Background: in a tiled wild-type scan one forward pass of a tile gives log p of every
single-base substitution of every 6-mer in it (the SNV table). For every base of the
tile's own share of the contig (the bases whose nearest tile centre is this tile, so
the tiles partition the contig and no SNV is counted twice) and each of its 3 ALTs,
llr_wt = log p(alt 6-mer) - log p(ref 6-mer), averaged over the strands scored, like
the variants' own llr_wt.

Strata: 96 trinucleotide classes (the pyrimidine-centred 5' base, REF>ALT, 3' base of
the usual mutation spectra, so CpG transitions and transversions, NCG on the folded
strand, are classes of their own) x the base (0-5) of its 6-mer the SNV sits at on the
first strand scored: 576 strata. SNVs in single-letter tokens, next to an N or at a
window edge have no stratum.

Summaries: each unit keeps a histogram per stratum (bins of HIST_WIDTH nats on
[HIST_LO, HIST_HI], values clamped); the run sums them and stores, per stratum, the
quantiles at LEVELS (0, 1, ..., 100 %), interpolated linearly inside bins.
"""

from __future__ import annotations

import numpy as np

BASES = "ACGT"
N_CLASSES = 96
N_STRATA = N_CLASSES * 6
HIST_LO, HIST_HI, HIST_WIDTH = -20.0, 20.0, 0.05
N_BINS = int(round((HIST_HI - HIST_LO) / HIST_WIDTH))
EDGES = np.linspace(HIST_LO, HIST_HI, N_BINS + 1)
LEVELS = np.linspace(0.0, 100.0, 101)

_CODE = np.full(256, -1, np.int8)
for _i, _b in enumerate(BASES):
    _CODE[ord(_b)] = _i
COMPLEMENT_CODES = np.array([3, 2, 1, 0], np.int64)  # A<->T, C<->G in BASES order
_COMP = COMPLEMENT_CODES


def codes(seq: str) -> np.ndarray:
    """[n] int8 base codes in BASES order (-1 for anything else)."""
    return _CODE[np.frombuffer(seq.encode("ascii"), np.uint8)]


def snv_class(left: np.ndarray, ref: np.ndarray, alt: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Trinucleotide class 0..95 of SNVs given forward-strand base codes (BASES order).

    REF is folded to a pyrimidine (C or T) by reverse-complementing the trinucleotide;
    class = ((ref_is_T * 3 + alt_rank) * 4 + five_prime) * 4 + three_prime, alt_rank the
    rank of ALT among the three bases other than REF in BASES order.
    """
    left, ref, alt, right = (np.asarray(x, np.int64) for x in (left, ref, alt, right))
    purine = (ref == 0) | (ref == 2)  # A or G
    f_ref = np.where(purine, _COMP[ref], ref)
    f_alt = np.where(purine, _COMP[alt], alt)
    f_left = np.where(purine, _COMP[right], left)
    f_right = np.where(purine, _COMP[left], right)
    alt_rank = f_alt - (f_alt > f_ref)
    is_t = (f_ref == 3).astype(np.int64)
    return ((is_t * 3 + alt_rank) * 4 + f_left) * 4 + f_right


def stratum_label(stratum: int) -> str:
    """A stratum in words: trinucleotide (pyrimidine REF), CpG, base within the 6-mer.

    E.g. 'A[C>T]G CpG, base 3 of 6' (the inverse of `strata(snv_class(...), base)`).
    """
    s = int(stratum)
    if not 0 <= s < N_STRATA:
        raise ValueError(f"stratum {stratum!r} is not in 0..{N_STRATA - 1}")
    cls, base = divmod(s, 6)
    rest, right = divmod(cls, 4)
    rest, left = divmod(rest, 4)
    is_t, alt_rank = divmod(rest, 3)
    ref = 3 if is_t else 1
    alt = alt_rank + (alt_rank >= ref)
    cpg = " CpG" if ref == 1 and right == 2 else ""
    return f"{BASES[left]}[{BASES[ref]}>{BASES[alt]}]{BASES[right]}{cpg}, base {base + 1} of 6"


def strata(cls: np.ndarray, base_in_kmer: np.ndarray) -> np.ndarray:
    """Stratum index = class * 6 + base within the 6-mer."""
    return np.asarray(cls, np.int64) * 6 + np.asarray(base_in_kmer, np.int64)


def tile_background(
    seq: str,
    tables: list[np.ndarray],
    spans: list[tuple[np.ndarray, np.ndarray]],
    reverse: list[bool],
    lo: int,
    hi: int,
) -> tuple[np.ndarray, np.ndarray]:
    """llr_wt and stratum of every SNV of bases [lo, hi) of one window.

    Args:
        seq: the forward-strand window (upper case).
        tables: per strand scored, the window's SNV table [T, 6, 4] (CLS row 0).
        spans: per strand, (starts, lengths) of its tokens after CLS, in that strand's
            coordinates.
        reverse: per strand, whether it is the reverse complement.
        lo, hi: forward window offsets of the bases to take.

    Returns:
        (llr [m] float32, stratum [m] int64) for the m SNVs that have a stratum and a
        finite LLR on every strand; llr is the mean over strands.
    """
    c = codes(seq)
    n = len(seq)
    p = np.arange(max(lo, 1), min(hi, n - 1))
    ok = (c[p - 1] >= 0) & (c[p] >= 0) & (c[p + 1] >= 0)
    p = p[ok]
    ref = c[p].astype(np.int64)
    alts = (ref[:, None] + np.arange(1, 4)[None, :]) % 4  # [m, 3]
    total = np.zeros(alts.shape, np.float64)
    first_offset = None
    valid = np.ones(len(p), bool)
    for table, (starts, lengths), rev in zip(tables, spans, reverse, strict=True):
        q = n - 1 - p if rev else p
        i = np.searchsorted(starts, q, side="right") - 1
        inside = (i >= 0) & (q < starts[np.maximum(i, 0)] + lengths[np.maximum(i, 0)])
        kmer = inside & (lengths[np.maximum(i, 0)] == 6)
        valid &= kmer
        t = np.maximum(i, 0) + 1
        j = np.where(kmer, q - starts[np.maximum(i, 0)], 0)
        r, a = (_COMP[ref], _COMP[alts]) if rev else (ref, alts)
        rows = table[t, j]  # [m, 4]
        total += np.take_along_axis(rows, a, axis=1) - rows[np.arange(len(p)), r][:, None]
        if first_offset is None:
            first_offset = j
    llr = total / len(tables)
    cls = snv_class(np.repeat(c[p - 1], 3), np.repeat(ref, 3), alts.ravel(), np.repeat(c[p + 1], 3))
    stratum = strata(cls, np.repeat(first_offset, 3))
    keep = np.repeat(valid, 3) & np.isfinite(llr.ravel())
    return llr.ravel()[keep].astype(np.float32), stratum[keep]


def histogram(llr: np.ndarray, stratum: np.ndarray) -> np.ndarray:
    """[N_STRATA, N_BINS] int32 counts (values clamped to [HIST_LO, HIST_HI])."""
    b = np.clip(
        ((np.asarray(llr, np.float64) - HIST_LO) / HIST_WIDTH).astype(np.int64), 0, N_BINS - 1
    )
    flat = np.bincount(np.asarray(stratum, np.int64) * N_BINS + b, minlength=N_STRATA * N_BINS)
    return flat.reshape(N_STRATA, N_BINS).astype(np.int32)


def quantile_table(hist: np.ndarray) -> np.ndarray:
    """[N_STRATA, len(LEVELS)] float32 quantiles per stratum (NaN rows: no background).

    The CDF is piecewise linear inside each bin (values uniform within a bin).
    """
    out = np.full((hist.shape[0], len(LEVELS)), np.nan, np.float32)
    for s in np.flatnonzero(hist.sum(axis=1) > 0):
        cdf = np.concatenate([[0.0], np.cumsum(hist[s], dtype=np.float64)])
        cdf = 100.0 * cdf / cdf[-1]
        # bin k holds level L when cdf[k] < L <= cdf[k + 1] (level 0: the first non-empty
        # bin's left edge); inside it the CDF is linear
        idx = np.searchsorted(cdf, LEVELS, side="left")
        k = np.clip(idx - 1, 0, N_BINS - 1)
        first = int(np.argmax(hist[s] > 0))
        k[LEVELS <= 0] = first
        lo, hi = cdf[k], cdf[k + 1]
        frac = np.where(hi > lo, (LEVELS - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
        out[s] = EDGES[k] + np.clip(frac, 0.0, 1.0) * HIST_WIDTH
    return out


__all__ = [
    "COMPLEMENT_CODES",
    "EDGES",
    "HIST_HI",
    "HIST_LO",
    "HIST_WIDTH",
    "LEVELS",
    "N_BINS",
    "N_STRATA",
    "stratum_label",
    "codes",
    "histogram",
    "quantile_table",
    "snv_class",
    "strata",
    "tile_background",
]
