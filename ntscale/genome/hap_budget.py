"""Haplotype windows that fit the token budget: split windows where insertions could overflow.

A haplotype window holds the reference interval with the carried alleles applied, so an
insertion makes it longer than the reference window. The planner does not read genotypes
(a cohort's would not fit a driver), so it bounds every haplotype at once: the VCF's sites
give, per record, the longest insertion and the longest deletion any ALT makes (A/C/G/T
alleles only); a haplotype of a window of L bp is then between L - (summed deletions) and
L + (summed insertions) long, and a window for which some length in that range has more
than `max_tokens` tokens (an N-free length x has x // 6 + x % 6 + 1) is split in two
halves, again until it fits. Such a window is
never shrunk at fetch time, so no haplotype tail is lost. Windows with no insertion nearby
keep their full `window_bp`; only windows over insertion-dense stretches get shorter.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pysam

from ntscale.genome.tiling import nfree_tokens

logger = logging.getLogger(__name__)

_ACGT = re.compile(r"^[ACGTacgt]+$")
MIN_SPLIT_BP = 12  # a window is not split below this; a larger insertion is shrunk at fetch


def insertion_sites(
    vcf_path: str | os.PathLike[str],
    fasta_contigs: Sequence[str],
    vcf_contig: Mapping[str, str | None],
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per FASTA contig, the indel sites: (0-based record start, longest insertion bp,
    longest deletion bp), int64 [R] each; contigs without an indel are left out.

    Args:
        vcf_path: bgzipped, indexed VCF/BCF (samples are not read).
        fasta_contigs: contigs to read.
        vcf_contig: FASTA name -> VCF name (None: the VCF has no such contig).
    """
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    with pysam.VariantFile(str(vcf_path)) as vf:
        vf.subset_samples([])
        for contig in fasta_contigs:
            name = vcf_contig.get(contig)
            if name is None or name not in vf.header.contigs:
                continue
            pos, ins, dels = [], [], []
            for rec in vf.fetch(name):
                ref = len(rec.ref or "")
                diffs = [len(a) - ref for a in (rec.alts or ()) if _ACGT.match(a)]
                grow, shrink = max(diffs, default=0), -min(diffs, default=0)
                if grow > 0 or shrink > 0:
                    pos.append(rec.start)
                    ins.append(max(grow, 0))
                    dels.append(max(shrink, 0))
            if pos:
                out[contig] = tuple(np.array(x, np.int64) for x in (pos, ins, dels))
    return out


def worst_tokens(lo_bp: np.ndarray, hi_bp: np.ndarray) -> np.ndarray:
    """Most tokens an N-free sequence of a length in [lo_bp, hi_bp] can have (CLS included)."""
    lo = np.asarray(lo_bp, np.int64)
    hi = np.asarray(hi_bp, np.int64)
    five = hi - (hi - 5) % 6  # the longest length <= hi that ends in 5 leftover letters
    return np.maximum(nfree_tokens(hi), np.where(five >= lo, nfree_tokens(np.maximum(five, 0)), 0))


def split_for_insertions(
    starts: np.ndarray,
    ends: np.ndarray,
    site_pos: np.ndarray,
    site_ins: np.ndarray,
    site_del: np.ndarray,
    *,
    max_tokens: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Split windows (on one coordinate line) until every possible haplotype length fits.

    Sites are counted from one base before the window (an indel anchored on the base
    before the window may change its start). Returns (starts, ends, windows split).
    """
    s, e = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    order = np.argsort(site_pos, kind="stable")
    sp = np.asarray(site_pos, np.int64)[order]
    cum_ins = np.concatenate(([0], np.cumsum(np.asarray(site_ins, np.int64)[order])))
    cum_del = np.concatenate(([0], np.cumsum(np.asarray(site_del, np.int64)[order])))
    n_split = 0
    for _ in range(64):  # each pass halves the offending windows
        a, b = np.searchsorted(sp, s - 1, "left"), np.searchsorted(sp, e, "left")
        length = e - s
        lo = np.maximum(length - (cum_del[b] - cum_del[a]), 0)
        hi = length + cum_ins[b] - cum_ins[a]
        bad = (worst_tokens(lo, hi) > max_tokens) & (length >= MIN_SPLIT_BP)
        if not bad.any():
            break
        n_split += int(bad.sum())
        half = length[bad] // 2
        mid = s[bad] + np.where(half >= 6, (half // 6) * 6, half)  # 6-mer aligned cut
        s = np.concatenate((s[~bad], s[bad], mid))
        e = np.concatenate((e[~bad], mid, e[bad]))
        o = np.lexsort((e, s))
        s, e = s[o], e[o]
    if n_split:
        logger.info("%d window(s) split so that every haplotype fits the tokens", n_split)
    return s, e, n_split
