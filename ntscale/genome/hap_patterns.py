"""Distinct haplotypes of one window from its genotypes alone (no sequence built).

Two haplotypes whose genotypes agree on every record of a window get the same window
sequence, so a cohort window needs only one sequence built (and tokenized) per distinct
*allele pattern*: the haplotype's row of the window's GT matrix, plus, where its genotype
is unphased and heterozygous, the other allele (the unphased policy reads it; see
`ntscale.genome.haplotypes.build_haplotype`). Patterns are grouped with `numpy.unique`
over packed rows: bit rows (`numpy.packbits`) when every allele is 0/1 and every
genotype phased (the common case), int16 rows otherwise. Pure numpy: no file I/O.

Shape glossary: R records in the window, S samples, H = 2 S haplotypes (haplotype
h = 2 * sample + phase, the order of `ntscale.genome.vcf.haplotype_names`), P patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True, eq=False)
class HaplotypeGroups:
    """Haplotypes of one window grouped by allele pattern.

    first: int64 [P] the first haplotype (lowest h) of each pattern, increasing: build
        pattern p's sequence from haplotype first[p].
    inverse: int64 [H] the pattern of each haplotype (first[inverse[h]] has h's alleles).
    """

    first: np.ndarray
    inverse: np.ndarray

    @property
    def n_patterns(self) -> int:
        return int(self.first.shape[0])

    @property
    def n_haplotypes(self) -> int:
        return int(self.inverse.shape[0])


def pattern_rows(gt: np.ndarray, phased: np.ndarray) -> np.ndarray:
    """One row per haplotype holding what its window sequence depends on.

    Args:
        gt: int [R, S, 2] allele index per haplotype (0 = REF, -1 = missing).
        phased: bool [R, S] whether each genotype is phased.

    Returns:
        [H, k] rows (uint8 bit rows when all alleles are 0/1 and no genotype is an unphased
        heterozygote, else int16 rows: own alleles, then the other allele where unphased
        heterozygous and -2 elsewhere); equal rows <=> equal genotype patterns.
    """
    gt = np.asarray(gt)
    phased = np.asarray(phased, bool)
    r, s = gt.shape[0], gt.shape[1]
    mine = gt.transpose(1, 2, 0).reshape(2 * s, r)  # [H, R], h = 2 * sample + phase
    # Cheap whole-array tests first (a cohort window is [135, 6,404] genotypes): all
    # phased -> no unphased heterozygote; min/max -> all alleles 0/1.
    unphased = None
    if not phased.all():
        g0, g1 = gt[:, :, 0], gt[:, :, 1]  # [R, S]
        het = (g0 != g1) & (g0 >= 0) & (g1 >= 0)
        unphased = (~phased & het).T  # [S, R]
        if not unphased.any():
            unphased = None
    if unphased is None and (gt.size == 0 or (gt.min() >= 0 and gt.max() <= 1)):
        return np.packbits(mine.astype(np.uint8), axis=1)
    if unphased is None:
        unphased = np.zeros((s, r), bool)
    both = gt.transpose(1, 0, 2)  # [S, R, 2]
    other = both[:, :, ::-1].transpose(0, 2, 1).reshape(2 * s, r)  # the other allele
    partner = np.where(np.repeat(unphased, 2, axis=0), other, -2)
    return np.concatenate([mine, partner], axis=1).astype(np.int16)


def group_haplotypes(gt: np.ndarray, phased: np.ndarray) -> HaplotypeGroups:
    """Group a window's haplotypes by genotype pattern (`pattern_rows`).

    Patterns are numbered by their first haplotype, so the grouping does not depend on
    how `numpy.unique` sorts the rows.

    Args:
        gt: int [R, S, 2] genotypes of the window's records (R may be 0).
        phased: bool [R, S].

    Returns:
        HaplotypeGroups with P <= H patterns (1 when the window has no record).
    """
    rows = pattern_rows(gt, phased)
    h = rows.shape[0]
    if h == 0:
        empty = np.zeros(0, np.int64)
        return HaplotypeGroups(first=empty, inverse=empty)
    if rows.shape[1] == 0:  # no record: every haplotype is the reference
        return HaplotypeGroups(first=np.zeros(1, np.int64), inverse=np.zeros(h, np.int64))
    # one opaque (void) item per row: unique over bytes, not element by element
    flat = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
    _, first_sorted, inverse = np.unique(flat.ravel(), return_index=True, return_inverse=True)
    order = np.argsort(first_sorted, kind="stable")  # number patterns by first haplotype
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    return HaplotypeGroups(
        first=first_sorted[order].astype(np.int64),
        inverse=rank[inverse.ravel()].astype(np.int64),
    )


__all__ = ["HaplotypeGroups", "group_haplotypes", "pattern_rows"]
