"""WindowSource: the runner-facing boundary from plan rows to model-ready sequences.

A worker gets a `WindowSource` (it pickles by paths; files are reopened lazily in each
process) and asks for plan rows: `fetch_rows(plan, rows)` returns one `WindowSequence`
per row with the strand and haplotype applied, the token count (CLS included) and a status.

Token budget: Ns become one token each, so a window with Ns can exceed the model's token
limit. Such a window's end is moved in (reference coordinates; for a haplotype, the
haplotype sequence is cut and `end` is the reference end of what is kept) to the longest
prefix that fits, with status SHRUNK_TO_TOKEN_BUDGET. A window with no A/C/G/T at all is
SKIPPED_ALL_N with an empty sequence. Nothing is truncated silently.

Consecutive rows of one reference window (strands, haplotypes) share one FASTA fetch and
one VCF region query.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ntscale.errors import ConfigError
from ntscale.genome.fasta import FastaSource
from ntscale.genome.haplotypes import (
    Haplotype,
    HaplotypePolicy,
    VariantOutcome,
    build_haplotype,
    check_ref,
    cut_to_prefix,
)
from ntscale.genome.vcf import RegionVariants, VariantReader
from ntscale.genome.vcz import open_variant_reader
from ntscale.genome.windows import WindowPlan
from ntscale.tokenizer import Tokenizer, get_tokenizer, reverse_complement
from ntscale.types import REFERENCE_HAPLOTYPE, Strand, WindowStatus

logger = logging.getLogger(__name__)

_ACGT = b"ACGTacgt"


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class WindowSequence:
    """One plan row, ready for the tokenizer.

    sequence: the bases the model reads (reverse complement on '-'; haplotype applied);
        empty when skipped.
    start, end: reference interval actually covered (end moved in when shrunk).
    n_tokens: tokens of `sequence`, CLS included (0 when skipped).
    frac_n: fraction of non-A/C/G/T letters in `sequence` (1.0 when all N, NaN when
        SKIPPED_HAPLOTYPE).
    n_variants: ALT alleles applied (haplotype rows).
    coord_map: int64 [len(sequence)] reference position of each base, -1 for inserted bases,
        in the order of `sequence` (reversed on '-'); None for reference rows.
    variants: per-record outcomes on this haplotype (applied and not applied).
    """

    sequence: str
    start: int
    end: int
    n_tokens: int
    frac_n: float
    status: WindowStatus
    n_variants: int = 0
    coord_map: np.ndarray | None = None
    variants: tuple[VariantOutcome, ...] = field(default=())


def _allele_pattern(v: RegionVariants, sample_index: int, hap: int) -> tuple[bytes, bytes]:
    """What `build_haplotype` reads of one haplotype's genotypes (sample name aside).

    Its own allele per record, and the other allele where the genotype is unphased
    heterozygous (the unphased policy reads it); -2 elsewhere.
    """
    mine, theirs = v.gt[:, sample_index, hap], v.gt[:, sample_index, 1 - hap]
    unphased = ~v.phased[:, sample_index] & (mine != theirs) & (mine >= 0) & (theirs >= 0)
    return mine.tobytes(), np.where(unphased, theirs, -2).astype(np.int16).tobytes()


def _renamed(h: Haplotype, *, sample: str, haplotype: int) -> Haplotype:
    """`h` (built for another haplotype with the same alleles) for this sample/haplotype."""
    outcomes = tuple(dataclasses.replace(o, sample=sample, haplotype=haplotype) for o in h.outcomes)
    return dataclasses.replace(h, outcomes=outcomes)


def _n_non_acgt(seq: str) -> int:
    return len(seq.encode("ascii", "replace").translate(None, _ACGT))


class WindowSource:
    """Sequences of plan rows from a FASTA, optionally with VCF haplotypes.

    Args:
        fasta_path: FASTA (plain or BGZF; the index is built if missing).
        tokenizer: a Tokenizer or its version name ("v1", "v2").
        max_tokens: the model's token limit, CLS included (2,048 for v2, 1,000 for v1).
        vcf_path: bgzipped + indexed VCF/BCF for haplotype rows.
        samples: sample names (default all samples of the VCF).
        policy: HaplotypePolicy (unphased genotypes, REF mismatches).
        contig_map: FASTA -> VCF contig names, "auto" (add/strip 'chr') or None.
    """

    def __init__(
        self,
        fasta_path: str | os.PathLike[str],
        *,
        tokenizer: Tokenizer | str,
        max_tokens: int,
        vcf_path: str | os.PathLike[str] | None = None,
        samples: Sequence[str] | None = None,
        policy: HaplotypePolicy = HaplotypePolicy(),  # noqa: B008 - frozen, immutable
        contig_map: Mapping[str, str] | str | None = None,
    ) -> None:
        if max_tokens < 2:
            raise ConfigError(f"max_tokens must be >= 2 (CLS + one token), got {max_tokens!r}")
        self.fasta = FastaSource(fasta_path)
        self.tokenizer = get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
        self.max_tokens = int(max_tokens)
        self.policy = policy
        self.vcf: VariantReader | None = None
        if vcf_path is not None:
            self.vcf = open_variant_reader(
                vcf_path,
                samples=samples,
                fasta_contigs=self.fasta.contig_names,
                contig_map=contig_map,
            )
        elif samples is not None:
            raise ConfigError("samples were given without a VCF (vcf_path)")
        self._cache_key: tuple[str, int, int] | None = None
        self._cache: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_cache_key"] = None
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    @property
    def contigs(self) -> tuple[tuple[str, int], ...]:
        return self.fasta.contigs

    @property
    def haplotype_names(self) -> tuple[str, ...]:
        """'SAMPLE:0', 'SAMPLE:1', ... (empty without a VCF): pass to `with_haplotypes`."""
        return self.vcf.haplotype_names if self.vcf is not None else ()

    def fetch_rows(
        self, plan: WindowPlan, rows: np.ndarray | Sequence[int]
    ) -> list[WindowSequence]:
        """One WindowSequence per plan row, in the order of `rows`.

        Raises:
            ConfigError: haplotype rows without a VCF, or a plan made with other haplotypes.
            InputError: FASTA/VCF problems (REF mismatch, unphased genotype under 'error').
        """
        rows = np.asarray(rows, dtype=np.int64)
        hap_rows = plan.haplotype[rows] != REFERENCE_HAPLOTYPE
        if hap_rows.any():
            if self.vcf is None:
                raise ConfigError("the plan has haplotype rows but the WindowSource has no VCF")
            if tuple(plan.haplotype_names) != self.haplotype_names:
                raise ConfigError(
                    "the plan's haplotype names differ from this WindowSource's samples; build "
                    "the plan with with_haplotypes(plan, len(src.haplotype_names), "
                    "src.haplotype_names)"
                )
        out = []
        for row in rows.tolist():
            contig = plan.contigs[int(plan.contig_index[row])]
            start, end = int(plan.start[row]), int(plan.end[row])
            strand = Strand(int(plan.strand[row]))
            hap = int(plan.haplotype[row])
            out.append(self._one(contig, start, end, strand, hap))
        return out

    def fetch_haplotype_patterns(
        self, contig: str, start: int, end: int, *, strand: str | Strand = "+"
    ) -> tuple[list[WindowSequence], np.ndarray]:
        """Every haplotype of one window, one sequence built per genotype pattern.

        The window's haplotypes are grouped by their alleles over its records
        (`ntscale.genome.hap_patterns`); only the first haplotype of each pattern is built.

        Returns:
            (one WindowSequence per pattern [P], int64 [H] pattern of each haplotype).

        Raises:
            ConfigError: the WindowSource has no VCF.
        """
        from ntscale.genome.hap_patterns import group_haplotypes

        if self.vcf is None:
            raise ConfigError("haplotype windows need a VCF; this WindowSource has none")
        s = Strand.REVERSE if strand in ("-", Strand.REVERSE) else Strand.FORWARD
        cache = self._select(contig, int(start), int(end))
        groups = cache.get("groups")
        if groups is None:
            v = self._variants(contig, int(start), int(end))[0]
            groups = cache["groups"] = group_haplotypes(v.gt, v.phased)
        # each first haplotype has its own pattern: no allele-pattern lookup needed
        seqs = [
            self._one(contig, int(start), int(end), s, int(h), distinct=True)
            for h in groups.first.tolist()
        ]
        return seqs, groups.inverse

    def fetch_window(
        self, contig: str, start: int, end: int, *, strand: str | Strand = "+", haplotype: int = -1
    ) -> WindowSequence:
        """One window by coordinates (same rules as `fetch_rows`)."""
        s = Strand.REVERSE if strand in ("-", Strand.REVERSE) else Strand.FORWARD
        return self._one(contig, int(start), int(end), s, int(haplotype))

    # -- internals ---------------------------------------------------------------------

    def _select(self, contig: str, start: int, end: int) -> dict[str, Any]:
        key = (contig, start, end)
        if key != self._cache_key:
            self._cache_key = key
            self._cache = {
                "ref": self.fasta.fetch(contig, start, end),
                "haps": {},
                "patterns": {},
                "counts": {},
            }
        return self._cache

    def _variants(
        self, contig: str, start: int, end: int
    ) -> tuple[RegionVariants, str, int, np.ndarray]:
        cache = self._select(contig, start, end)
        if "variants" not in cache:
            assert self.vcf is not None
            v = self.vcf.query(contig, start, end)
            lo, hi = start, end
            if v.records:
                lo = min(lo, min(r.start for r in v.records))
                hi = max(hi, max(r.end for r in v.records))
                hi = min(hi, self.fasta.contig_length(contig))
            ref = cache["ref"]
            if (lo, hi) != (start, end):
                ref = self.fasta.fetch(contig, max(lo, 0), hi)
            ok = check_ref(v, ref, max(lo, 0), policy=self.policy, fasta=str(self.fasta.path))
            cache["variants"] = (v, ref, max(lo, 0), ok)
        return cache["variants"]

    def _haplotype(
        self, contig: str, start: int, end: int, hap: int, *, distinct: bool = False
    ) -> Haplotype:
        cache = self._select(contig, start, end)
        built = cache["haps"].get(hap)
        if built is None:
            assert self.vcf is not None
            if not 0 <= hap < len(self.haplotype_names):
                raise ConfigError(
                    f"haplotype id {hap} out of range (0..{len(self.haplotype_names) - 1})"
                )
            v, ref, ref_start, ok = self._variants(contig, start, end)
            s_idx, h = divmod(hap, 2)
            sample = self.vcf.samples[s_idx]
            # Most haplotypes of a window carry the same alleles: build each allele pattern
            # once and give later haplotypes its sequence with their own names on outcomes.
            key = None if distinct else _allele_pattern(v, s_idx, h)
            same = None if key is None else cache["patterns"].get(key)
            if same is not None:
                built = _renamed(same, sample=sample, haplotype=h)
            else:
                built = build_haplotype(
                    v,
                    ok,
                    s_idx,
                    h,
                    sample=sample,
                    ref_seq=ref,
                    ref_start=ref_start,
                    start=start,
                    end=end,
                    policy=self.policy,
                )
                if key is not None:
                    cache["patterns"][key] = built
            cache["haps"][hap] = built
        return built

    def _one(
        self,
        contig: str,
        start: int,
        end: int,
        strand: Strand,
        hap: int,
        *,
        distinct: bool = False,
    ) -> WindowSequence:
        cache = self._select(contig, start, end)
        if hap == REFERENCE_HAPLOTYPE:
            seq = cache["ref"]
            h = None
        else:
            h = self._haplotype(contig, start, end, hap, distinct=distinct)
            if h.skipped:
                return WindowSequence(
                    sequence="",
                    start=start,
                    end=end,
                    n_tokens=0,
                    frac_n=float("nan"),
                    status=WindowStatus.SKIPPED_HAPLOTYPE,
                    variants=h.outcomes,
                )
            seq = h.sequence
        # Haplotypes with the same alleles share one sequence string (hashed once), so its
        # letter and token counts are computed once per window.
        counted = cache["counts"].get(seq)
        if counted is None:
            n_bad = _n_non_acgt(seq)
            n_tok = self.tokenizer.count_tokens(seq) if n_bad < len(seq) else 0
            counted = cache["counts"][seq] = (n_bad, n_tok)
        n_bad, n_tokens = counted
        if n_bad == len(seq):
            return WindowSequence(
                sequence="",
                start=start,
                end=end,
                n_tokens=0,
                frac_n=1.0,
                status=WindowStatus.SKIPPED_ALL_N,
                variants=h.outcomes if h is not None else (),
            )
        status = WindowStatus.OK
        tok = self.tokenizer
        new_end = end
        if n_tokens > self.max_tokens:
            # Token counts of a sequence and of its reverse complement are equal (each
            # N-free run gives len//6 + len%6 tokens either way), so the forward prefix
            # also fits on the '-' strand.
            keep = tok.max_prefix_bp(seq, self.max_tokens)
            status = WindowStatus.SHRUNK_TO_TOKEN_BUDGET
            if h is None:
                seq = seq[:keep]
                new_end = start + keep
            else:
                h = cut_to_prefix(h, keep)
                seq = h.sequence
                mapped = h.coord_map[h.coord_map >= 0]
                new_end = int(mapped[-1]) + 1 if mapped.size else start
            n_tokens = tok.count_tokens(seq)
            n_bad = _n_non_acgt(seq)
            if n_bad == len(seq):  # a leading N run used up the whole budget
                return WindowSequence(
                    sequence="",
                    start=start,
                    end=new_end,
                    n_tokens=0,
                    frac_n=1.0,
                    status=WindowStatus.SKIPPED_ALL_N,
                    variants=h.outcomes if h is not None else (),
                )
            logger.debug(
                "%s:%d-%d shrunk to %d bp to fit %d tokens",
                contig,
                start,
                end,
                len(seq),
                self.max_tokens,
            )
        coord = h.coord_map if h is not None else None
        if strand == Strand.REVERSE:
            seq = reverse_complement(seq)
            if coord is not None:
                coord = coord[::-1]
        return WindowSequence(
            sequence=seq,
            start=start,
            end=new_end,
            n_tokens=int(n_tokens),
            frac_n=n_bad / len(seq),
            status=status,
            n_variants=h.n_variants if h is not None else 0,
            coord_map=coord,
            variants=h.outcomes if h is not None else (),
        )
