"""Haplotype windows: apply one sample haplotype's phased ALT alleles to a reference window.

A haplotype window is defined by its reference interval [start, end). Its sequence is what
the haplotype carries between those reference positions:

* Each ALT allele is reduced to its minimal edit (common prefix and suffix with REF
  trimmed): replace reference [e0, e1) by the inserted bases `ins`.
* Edits are clipped to the window. A pure insertion at point p (between reference bases
  p-1 and p) belongs to the window holding base p-1, i.e. start < p <= end (or p == 0 at a
  contig start). So adjacent windows together give the whole haplotype exactly once.
* Substituted bases map position-wise to the reference bases they replace; extra inserted
  bases map to -1; deleted reference bases have no haplotype base. That is the coordinate
  map: coord_map[i] = 0-based reference position of haplotype base i, or -1 if inserted.
* On one haplotype, edits are taken left to right; an edit overlapping one already applied
  is skipped (status OVERLAP: the first one is kept).

Each record carried by a haplotype (ALT allele, missing or unphased genotype) that owns the
window (its start lies in it) or changes it gets a `VariantOutcome`, so nothing is
dropped silently.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

import numpy as np

from ntscale.errors import ConfigError, InputError
from ntscale.genome.vcf import RegionVariants, VcfRecord, is_symbolic
from ntscale.types import REF_MISMATCH_POLICIES, UNPHASED_POLICIES


class VariantStatus(enum.IntEnum):
    """What happened to one record on one haplotype of one window."""

    APPLIED = 0
    APPLIED_CLIPPED = 1  # only the part of the edit inside the window was applied
    OUTSIDE_WINDOW = 2  # owned (starts here) but its minimal edit lies past the window end
    MISSING_GENOTYPE = 3  # '.' allele: reference kept
    UNPHASED_AS_REF = 4  # unphased heterozygous, policy 'ref': reference kept
    UNPHASED_AS_ALT = 5  # unphased heterozygous, policy 'alt': the ALT applied
    UNPHASED_SKIPPED = 6  # unphased heterozygous, policy 'skip': the haplotype window skipped
    REF_MISMATCH = 7  # REF differs from the FASTA, policy 'skip'
    OVERLAP = 8  # overlaps an allele already applied on this haplotype: skipped
    SYMBOLIC = 9  # <DEL>, <INS>, *, breakend ...: skipped
    CUT_BY_TOKEN_BUDGET = 10  # applied, then cut off when the window end was shrunk


APPLIED_STATUSES = frozenset(
    {VariantStatus.APPLIED, VariantStatus.APPLIED_CLIPPED, VariantStatus.UNPHASED_AS_ALT}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class HaplotypePolicy:
    """How to treat genotypes and records that cannot simply be applied.

    unphased: heterozygous genotype without phase: 'error' (default), 'ref' (keep the
        reference on both haplotypes), 'alt' (put the ALT on both), 'skip' (mark the
        window SKIPPED_HAPLOTYPE for this sample).
    ref_mismatch: REF differs from the FASTA: 'error' (default) or 'skip' the record.
    Missing alleles keep the reference; symbolic alleles and overlapping alleles are skipped;
    all three are recorded per variant.
    """

    unphased: str = "error"
    ref_mismatch: str = "error"

    def __post_init__(self) -> None:
        if self.unphased not in UNPHASED_POLICIES:
            raise ConfigError(
                f"unknown unphased policy {self.unphased!r}; valid: {', '.join(UNPHASED_POLICIES)}"
            )
        if self.ref_mismatch not in REF_MISMATCH_POLICIES:
            raise ConfigError(
                f"unknown ref_mismatch policy {self.ref_mismatch!r}; valid: "
                f"{', '.join(REF_MISMATCH_POLICIES)}"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class VariantOutcome:
    """One record on one haplotype: (record, sample, hap, status), `owned` if it starts here."""

    record: VcfRecord
    allele: int  # allele index on this haplotype (-1 = missing)
    sample: str
    haplotype: int  # 0 or 1: position in the GT field
    status: VariantStatus
    owned: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Haplotype:
    """A built haplotype window (forward strand, before any token-budget shrink)."""

    sequence: str
    coord_map: np.ndarray  # int64 [len(sequence)] reference position or -1 (inserted)
    applied: tuple[tuple[int, int], ...]  # (index in outcomes, haplotype offset of the edit)
    outcomes: tuple[VariantOutcome, ...]
    skipped: bool = False  # policy 'skip' hit an unphased genotype

    @property
    def n_variants(self) -> int:
        return sum(o.status in APPLIED_STATUSES for o in self.outcomes)


def minimal_edit(start: int, ref: str, alt: str) -> tuple[int, int, str]:
    """Trim REF/ALT's common prefix then suffix: replace reference [e0, e1) by `ins`."""
    r, a = ref.upper(), alt.upper()
    i = 0
    n = min(len(r), len(a))
    while i < n and r[i] == a[i]:
        i += 1
    j = 0
    while j < n - i and r[len(r) - 1 - j] == a[len(a) - 1 - j]:
        j += 1
    return start + i, start + len(r) - j, alt[i : len(alt) - j].upper()


def check_ref(
    variants: RegionVariants, ref_seq: str, ref_start: int, *, policy: HaplotypePolicy, fasta: str
) -> np.ndarray:
    """bool [R]: REF matches the FASTA (case-insensitive). Raises under policy 'error'."""
    ok = np.ones(len(variants.records), bool)
    for i, rec in enumerate(variants.records):
        lo = rec.start - ref_start
        got = ref_seq[lo : lo + len(rec.ref)] if lo >= 0 else ""
        if got.upper() != rec.ref.upper():
            if policy.ref_mismatch == "error":
                raise InputError(
                    f"REF {rec.ref!r} does not match the FASTA {fasta} ({got.upper()!r} at "
                    f"{rec.contig}:{rec.pos1}); check that the VCF was called on this reference, "
                    "or pass ref_mismatch='skip'",
                    record=str(rec),
                )
            ok[i] = False
    return ok


def build_haplotype(
    variants: RegionVariants,
    ref_ok: np.ndarray,
    sample_index: int,
    hap: int,
    *,
    sample: str,
    ref_seq: str,
    ref_start: int,
    start: int,
    end: int,
    policy: HaplotypePolicy,
) -> Haplotype:
    """Apply one haplotype's alleles to the reference window [start, end).

    Args:
        variants: records overlapping the window and their genotypes.
        ref_ok: bool [R] from `check_ref`.
        sample_index, hap: column in `variants.gt` and GT allele position (0 or 1).
        sample: sample name (for outcomes and errors).
        ref_seq: reference sequence starting at `ref_start`, covering [start, end).
        start, end: the window, 0-based half-open reference coordinates.
        policy: see HaplotypePolicy.

    Raises:
        InputError: an unphased heterozygous genotype under policy 'error'.
    """
    outcomes: list[VariantOutcome] = []
    # (e0, e1, ins, record index, allele, owned, status if applied)
    edits: list[tuple[int, int, str, int, int, bool, VariantStatus]] = []
    skipped = False
    gt = variants.gt[:, sample_index, :]
    phased = variants.phased[:, sample_index]

    def note(r: int, allele: int, owned: bool, status: VariantStatus) -> None:
        outcomes.append(
            VariantOutcome(
                record=variants.records[r],
                allele=allele,
                sample=sample,
                haplotype=hap,
                status=status,
                owned=owned,
            )
        )

    mine, theirs = gt[:, hap], gt[:, 1 - hap]
    unphased_rows = ~phased & (mine != theirs) & (mine >= 0) & (theirs >= 0)
    # only records where this haplotype is not plainly REF need a look
    for r in np.flatnonzero((mine != 0) | unphased_rows).tolist():
        rec = variants.records[r]
        allele = int(mine[r])
        other = int(theirs[r])
        unphased = bool(unphased_rows[r])
        owned = start <= rec.start < end
        if allele < 0:
            if owned:
                note(r, allele, owned, VariantStatus.MISSING_GENOTYPE)
            continue
        status = VariantStatus.APPLIED
        if unphased:
            if policy.unphased == "error":
                raise InputError(
                    f"unphased heterozygous genotype {min(allele, other)}/{max(allele, other)} "
                    f"for sample {sample!r}; phase the VCF, or choose unphased='ref', 'alt' "
                    "or 'skip'",
                    record=str(rec),
                )
            if policy.unphased == "ref":
                if owned:
                    note(r, allele, owned, VariantStatus.UNPHASED_AS_REF)
                continue
            if policy.unphased == "skip":
                note(r, allele, owned, VariantStatus.UNPHASED_SKIPPED)
                skipped = True
                continue
            status = VariantStatus.UNPHASED_AS_ALT
            allele = allele or other
        alt = rec.alts[allele - 1] if allele - 1 < len(rec.alts) else "."
        if is_symbolic(alt):
            if owned:
                note(r, allele, owned, VariantStatus.SYMBOLIC)
            continue
        if not ref_ok[r]:
            if owned:
                note(r, allele, owned, VariantStatus.REF_MISMATCH)
            continue
        e0, e1, ins = _minimal_edit(rec.start, rec.ref, alt)
        edits.append((e0, e1, ins, r, allele, owned, status))
    edits.sort(key=lambda e: (e[0], e[1]))
    whole = ref_start <= start and end - ref_start <= len(ref_seq) and ref_seq.isascii()
    if whole and _all_snvs_inside(edits, start, end):
        return _apply_snvs(
            edits,
            outcomes,
            note,
            ref_seq=ref_seq,
            ref_start=ref_start,
            start=start,
            end=end,
            skipped=skipped,
        )

    pieces: list[str] = []
    maps: list[np.ndarray] = []
    applied: list[tuple[int, int]] = []  # (outcome index, haplotype offset of the edit)
    cursor = start  # next reference base to copy
    applied_end = -1  # reference end of the last applied edit (overlap check)
    hap_len = 0
    for e0, e1, ins, r, allele, owned, status in edits:
        if e1 == e0:  # pure insertion at point e0, after reference base e0 - 1
            c0 = c1 = e0
            inside = start < e0 <= end or e0 == start == 0
        else:
            c0, c1 = max(e0, start), min(e1, end)
            inside = c0 < c1
        if not inside:
            if owned:
                note(r, allele, owned, VariantStatus.OUTSIDE_WINDOW)
            continue
        if e0 < applied_end:
            note(r, allele, owned, VariantStatus.OVERLAP)
            continue
        aligned = ins[c0 - e0 : c1 - e0] if e1 > e0 else ""
        extra = ins[e1 - e0 :] if c1 == e1 else ""
        if c0 > cursor:
            pieces.append(ref_seq[cursor - ref_start : c0 - ref_start])
            maps.append(np.arange(cursor, c0, dtype=np.int64))
            hap_len += c0 - cursor
        applied.append((len(outcomes), hap_len))
        pieces.append(aligned)
        maps.append(np.arange(c0, c0 + len(aligned), dtype=np.int64))
        pieces.append(extra)
        maps.append(np.full(len(extra), -1, np.int64))
        hap_len += len(aligned) + len(extra)
        cursor = c1
        applied_end = e1
        if (c0 != e0 or c1 != e1) and status == VariantStatus.APPLIED:
            status = VariantStatus.APPLIED_CLIPPED
        note(r, allele, owned, status)
    if end > cursor:
        pieces.append(ref_seq[cursor - ref_start : end - ref_start])
        maps.append(np.arange(cursor, end, dtype=np.int64))
    seq = "".join(pieces)
    coord = np.concatenate(maps) if maps else np.zeros(0, np.int64)
    return _finish(seq, coord, applied, outcomes, skipped)


def _finish(
    seq: str,
    coord: np.ndarray,
    applied: list[tuple[int, int]],
    outcomes: list[VariantOutcome],
    skipped: bool,
) -> Haplotype:
    """The Haplotype with its outcomes in record order (applied ones were noted last)."""
    order = sorted(range(len(outcomes)), key=lambda i: (outcomes[i].record.start, i))
    new_index = {old: new for new, old in enumerate(order)}
    return Haplotype(
        sequence=seq,
        coord_map=coord,
        applied=tuple((new_index[i], off) for i, off in applied),
        outcomes=tuple(outcomes[i] for i in order),
        skipped=skipped,
    )


# A cohort window builds ~150 patterns from the same ~135 records: trim each allele once.
_minimal_edit = functools.lru_cache(maxsize=1 << 16)(minimal_edit)


def _all_snvs_inside(edits: list[tuple], start: int, end: int) -> bool:
    """True when every edit replaces one base inside [start, end), at distinct positions
    (sorted): then applying them is a byte write each (`_apply_snvs`)."""
    last = start - 1
    for e0, e1, ins, *_ in edits:
        if e1 != e0 + 1 or len(ins) != 1 or e0 <= last or e0 >= end:
            return False
        last = e0
    return True


def _apply_snvs(
    edits: list[tuple],
    outcomes: list[VariantOutcome],
    note,  # noqa: ANN001 - build_haplotype's closure
    *,
    ref_seq: str,
    ref_start: int,
    start: int,
    end: int,
    skipped: bool,
) -> Haplotype:
    """`build_haplotype`'s result when every edit is an SNV inside the window: the window's
    reference bytes with one byte replaced per edit, the identity coordinate map; the
    outcomes and offsets are those the general loop gives (tests compare both)."""
    buf = bytearray(ref_seq[start - ref_start : end - ref_start], "ascii")
    applied: list[tuple[int, int]] = []
    for e0, _e1, ins, r, allele, owned, status in edits:
        buf[e0 - start] = ord(ins)
        applied.append((len(outcomes), e0 - start))
        note(r, allele, owned, status)
    coord = np.arange(start, end, dtype=np.int64)
    return _finish(buf.decode("ascii"), coord, applied, outcomes, skipped)


def cut_to_prefix(h: Haplotype, n_bp: int) -> Haplotype:
    """The haplotype's first `n_bp` bases; edits starting at or after the cut are marked
    CUT_BY_TOKEN_BUDGET (they were applied, then cut off with the window end)."""
    if n_bp >= len(h.sequence):
        return h
    outcomes = list(h.outcomes)
    for idx, offset in h.applied:
        if offset >= n_bp:
            o = outcomes[idx]
            outcomes[idx] = VariantOutcome(
                record=o.record,
                allele=o.allele,
                sample=o.sample,
                haplotype=o.haplotype,
                status=VariantStatus.CUT_BY_TOKEN_BUDGET,
                owned=o.owned,
            )
    return Haplotype(
        sequence=h.sequence[:n_bp],
        coord_map=h.coord_map[:n_bp],
        applied=tuple((i, off) for i, off in h.applied if off < n_bp),
        outcomes=tuple(outcomes),
        skipped=h.skipped,
    )
