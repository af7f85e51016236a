"""Haplotype windows that fit the token budget: split windows where indels could overflow.

A haplotype window holds the reference interval with the carried alleles applied, so an
indel changes its length and token count. Before planning, the driver reads the VCF's indel
records and the chosen samples' genotypes (cyvcf2; SNV records are skipped unread) and,
per haplotype, the bp each indel can add or remove on it (its own allele if phased; the
larger of the sample's two alleles if not, as the unphased policy may apply either). A
haplotype of a window of L bp is then between L - (its summed deletions) and
L + (its summed insertions) long, whatever alleles end up applied or skipped; a window for
which some length in that range, on some haplotype, has more than `max_tokens` tokens (an
N-free length x has x // k + x % k + 1, k the checkpoint's k-mer length: 6, Codon-NT 3)
is split in two halves (cut on a k-mer boundary), again until it fits. Such a window is
never shrunk at fetch time, so no haplotype tail is lost; windows without a carried indel
nearby keep their full `window_bp`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import partial

import numpy as np

from ntscale.errors import InputError
from ntscale.genome.tiling import nfree_tokens

logger = logging.getLogger(__name__)

_ACGT = re.compile(r"^[ACGTacgt]+$")
MIN_SPLIT_BP = 12  # a window is not split below this; a larger insertion is shrunk at fetch
_WINDOW_CHUNK = 4096  # windows per block of the [windows, haplotypes] sums (memory bound)

Sites = tuple[np.ndarray, np.ndarray, np.ndarray]  # start [R], ins [R, H], del [R, H]


def _site_bounds(ref: str, alts: Sequence[str], gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[H] bp this record can add / remove on each haplotype, from a cyvcf2 genotype array."""
    delta = np.array(
        [0] + [len(a) - len(ref) if a and _ACGT.match(a) else 0 for a in alts], np.int64
    )
    if gt.shape[1] == 2:  # haploid record: [allele, phased]
        gt = np.stack([gt[:, 0], gt[:, 0], np.ones(gt.shape[0], gt.dtype)], axis=1)
    if gt.shape[1] != 3:
        raise InputError(f"genotypes with ploidy {gt.shape[1] - 1} are not supported")
    a0, a1 = gt[:, 0].astype(np.int64), gt[:, 1].astype(np.int64)
    a1 = np.where(a1 == -2, a0, a1)  # -2: a shorter (haploid) genotype: one allele on both
    d0 = np.where(a0 > 0, delta[np.clip(a0, 0, delta.size - 1)], 0)
    d1 = np.where(a1 > 0, delta[np.clip(a1, 0, delta.size - 1)], 0)
    unphased = gt[:, 2] == 0
    hi0 = np.where(unphased, np.maximum(d0, d1), d0)
    hi1 = np.where(unphased, np.maximum(d0, d1), d1)
    lo0 = np.where(unphased, np.minimum(d0, d1), d0)
    lo1 = np.where(unphased, np.minimum(d0, d1), d1)
    grow = np.stack([hi0, hi1], axis=1).reshape(-1)  # haplotypes S0:0, S0:1, S1:0, ...
    shrink = -np.stack([lo0, lo1], axis=1).reshape(-1)
    return np.maximum(grow, 0), np.maximum(shrink, 0)


def _alt_bounds(ref: str, alts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """[1] bp the record's longest insertion adds / longest deletion removes (any carrier)."""
    delta = [len(a) - len(ref) for a in alts if a and _ACGT.match(a)]
    grow = max([0, *delta])
    shrink = max([0, *(-x for x in delta)])
    return np.array([grow], np.int64), np.array([shrink], np.int64)


def insertion_sites(
    vcf_path: str | os.PathLike[str],
    fasta_contigs: Sequence[str],
    vcf_contig: Mapping[str, str | None],
    *,
    samples: Sequence[str] | None = None,
    genotypes: bool = True,
) -> dict[str, Sites]:
    """Per FASTA contig, its indel records and what each can do to each haplotype.

    Args:
        vcf_path: bgzipped, indexed VCF/BCF.
        fasta_contigs: contigs to read.
        vcf_contig: FASTA name -> VCF name (None: the VCF has no such contig).
        samples: the run's samples (default all). Haplotype order does not matter: the
            planner bounds the worst haplotype.
        genotypes: False: read no genotype; each record's bound is its longest ALT
            insertion / deletion, for every haplotype ([R] arrays). What a cohort driver
            uses: its memory and time do not grow with the samples (more conservative:
            a window may be split although no haplotype carries all its long alleles).

    Returns:
        {contig: (record start [R], bp added [R, H], bp removed [R, H])}, int64, only
        records that can change some haplotype's length; contigs without one are left out.
    """
    from ntscale.genome.vcz import VczReader, is_vcz

    out: dict[str, Sites] = {}
    if is_vcz(vcf_path):
        reader = VczReader(vcf_path, samples=samples)
        records = partial(reader.length_changing, genotypes=genotypes)
    else:
        reader = None
        vcf = _cyvcf2_reader(vcf_path, (list(samples) if samples else None) if genotypes else [])
        records = partial(_vcf_length_changing, vcf, path=vcf_path, genotypes=genotypes)
    try:
        for contig in fasta_contigs:
            name = vcf_contig.get(contig)
            if name is None:
                continue
            pos, grows, shrinks = [], [], []
            for start, ref, alts, gt in records(name):
                if genotypes:
                    grow, shrink = _site_bounds(ref, alts, gt)
                else:
                    grow, shrink = _alt_bounds(ref, alts)
                if grow.any() or shrink.any():
                    pos.append(start)
                    grows.append(grow)
                    shrinks.append(shrink)
            if pos:
                out[contig] = (np.array(pos, np.int64), np.stack(grows), np.stack(shrinks))
    finally:
        (reader or vcf).close()
    return out


def _cyvcf2_reader(vcf_path: str | os.PathLike[str], samples: list[str] | None):  # noqa: ANN201
    """A lazy cyvcf2 reader of these samples (None: all; []: none, sites only)."""
    import cyvcf2

    return cyvcf2.VCF(str(vcf_path), samples=samples, lazy=True)


def _vcf_length_changing(
    vcf: object, name: str, *, path: str | os.PathLike[str], genotypes: bool = True
) -> Iterator[tuple[int, str, Sequence[str], np.ndarray | None]]:
    """(start, REF, ALTs, cyvcf2 genotype array or None) of the records that are not all SNV."""
    from ntscale.genome.vcf import iter_records

    for rec in iter_records(vcf, name, path=path):
        ref, alts = rec.REF, rec.ALT
        if len(ref) == 1 and all(len(a) == 1 for a in alts):
            continue  # SNV: no length change, genotypes not decoded
        yield int(rec.start), ref, alts, rec.genotype.array() if genotypes else None


def worst_tokens(lo_bp: np.ndarray, hi_bp: np.ndarray, *, k: int = 6) -> np.ndarray:
    """Most tokens an N-free sequence of a length in [lo_bp, hi_bp] can have (CLS included),
    with the checkpoint's k-mers (6; Codon-NT 3): x // k + x % k + 1 peaks at the longest
    length with k - 1 leftover letters, or at hi itself."""
    lo = np.asarray(lo_bp, np.int64)
    hi = np.asarray(hi_bp, np.int64)
    most = hi - (hi - (k - 1)) % k  # the longest length <= hi that ends in k - 1 leftovers
    return np.maximum(
        nfree_tokens(hi, k), np.where(most >= lo, nfree_tokens(np.maximum(most, 0), k), 0)
    )


def split_for_insertions(
    starts: np.ndarray,
    ends: np.ndarray,
    site_pos: np.ndarray,
    site_ins: np.ndarray,
    site_del: np.ndarray,
    *,
    max_tokens: int,
    k: int = 6,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Split windows (on one coordinate line) until every possible haplotype fits.

    Args:
        starts, ends: windows [W].
        site_pos: indel record starts [R] (same line).
        site_ins, site_del: bp each record can add / remove, [R] (one bound for every
            haplotype) or [R, H] (per haplotype).
        max_tokens: the model's limit, CLS included.
        k: the tokenizer's k-mer length (6; Codon-NT 3): token counts and cut points.

    Sites are counted from one base before the window (an indel anchored on the base
    before the window may change its start). Returns (starts, ends, windows split).
    """
    s, e = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    n = np.asarray(site_pos).shape[0]
    order = np.argsort(site_pos, kind="stable")
    sp = np.asarray(site_pos, np.int64)[order]
    ins = np.asarray(site_ins, np.int64).reshape(n, -1)[order]
    dels = np.asarray(site_del, np.int64).reshape(n, -1)[order]
    zero = np.zeros((1, ins.shape[1]), np.int64)
    cum_ins = np.concatenate((zero, np.cumsum(ins, axis=0)))
    cum_del = np.concatenate((zero, np.cumsum(dels, axis=0)))
    n_split = 0
    for _ in range(64):  # each pass halves the offending windows
        a, b = np.searchsorted(sp, s - 1, "left"), np.searchsorted(sp, e, "left")
        length = e - s
        worst = np.zeros(s.size, np.int64)  # windows without a site keep the reference
        with_sites = np.flatnonzero(b > a)
        for c0 in range(0, with_sites.size, _WINDOW_CHUNK):
            sel = with_sites[c0 : c0 + _WINDOW_CHUNK]
            lo = np.maximum(length[sel, None] - (cum_del[b[sel]] - cum_del[a[sel]]), 0)
            hi = length[sel, None] + cum_ins[b[sel]] - cum_ins[a[sel]]
            worst[sel] = worst_tokens(lo, hi, k=k).max(axis=1)
        bad = (worst > max_tokens) & (length >= MIN_SPLIT_BP)
        if not bad.any():
            break
        n_split += int(bad.sum())
        half = length[bad] // 2
        mid = s[bad] + np.where(half >= k, (half // k) * k, half)  # k-mer aligned cut
        s = np.concatenate((s[~bad], s[bad], mid))
        e = np.concatenate((e[~bad], mid, e[bad]))
        o = np.lexsort((e, s))
        s, e = s[o], e[o]
    if n_split:
        logger.info("%d window(s) split so that every haplotype fits the tokens", n_split)
    return s, e, n_split
