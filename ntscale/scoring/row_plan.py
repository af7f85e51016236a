"""Planning one variant row: which forward passes it needs, on each strand (pure).

A variant effect is a function of the model applied before and after the edit: the
reference window and the same window with the ALT allele applied (tangermeme's
`substitution_effect` reads the same way). For each strand the planner turns a variant's
forward-strand windows (fetched by the caller) into the sequences the model reads
(reverse-complemented on "-", alleles complemented, the allele's interval mirrored),
checks them against the token budget, and registers in the unit's `PassPlan`:

- the reference pass (mean embedding; the pooled tokens covering REF; the SNV table row of
  an SNV's token for the wild-type LLR);
- the alternative pass (mean embedding; the pooled tokens covering ALT), when a distance
  score is asked;
- the masked pass (the variant's token replaced by <mask>) for the masked-marginal LLR of
  an SNV, or of an MNV that lies inside one 6-mer (then scored as a whole 6-mer).

Nothing here reads files: the caller fetches the windows (`genome.variant_sequences`) and
runs the passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ntscale.scoring.passes import Item, PassPlan
from ntscale.scoring.scores import aligned_pairs, complement, token_at, token_weights
from ntscale.tokenizer import collapse_n_kmers, collapsed_spans, reverse_complement
from ntscale.types import ScoreStatus

ACGT = frozenset("ACGT")
DISTANCE_KINDS = frozenset({"l2", "cosine", "flat", "aligned"})
"""Score kinds that compare the reference and alternative windows' embeddings."""


class ForwardWindows(Protocol):
    """A variant's forward-strand windows (`ntscale.genome.VariantSequences` fits)."""

    ref_seq: str
    alt_seq: str
    offset: int
    alt_offset: int
    ref_matches: bool
    short: bool


@dataclass(frozen=True)
class WindowTokens:
    """How a scoring job tokenizes a window: the model's tokenizer, N 6-mers collapsed or not."""

    tokenizer: Any
    collapse_n: bool = False

    def encode(self, seq: str) -> np.ndarray:
        """Token ids of a window (CLS first)."""
        return self.tokenizer.encode(collapse_n_kmers(seq) if self.collapse_n else seq)

    def spans(self, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """(starts, lengths) in `seq` of the tokens of `encode(seq)` after CLS."""
        if self.collapse_n:
            return collapsed_spans(len(seq))
        return self.tokenizer.token_spans(seq)


@dataclass(frozen=True, kw_only=True)
class RowSettings:
    """What a scoring job asks of every row."""

    kinds: frozenset[str]
    max_tokens: int
    share_windows: bool = True

    @property
    def distances(self) -> bool:
        return bool(DISTANCE_KINDS & self.kinds)

    @property
    def flat(self) -> bool:
        return bool({"flat", "aligned"} & self.kinds)


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One ALT allele: contig, 0-based position, alleles (upper case) and its row index."""

    contig: str
    pos: int
    ref: str
    alt: str
    row: int = 0

    @property
    def snv(self) -> bool:
        return len(self.ref) == 1 and len(self.alt) == 1

    @property
    def mnv(self) -> bool:
        return len(self.ref) == len(self.alt) > 1


@dataclass(frozen=True, kw_only=True)
class StrandWindow:
    """A variant's reference and alternative windows on one strand, as the model reads them.

    Attributes:
        index: the strand's position in the job's strands (`Item.strand`).
        start, end: the forward-strand window.
        ref_seq, alt_seq: the windows on this strand (reverse complements on "-").
        ref_tokens: ids of `ref_seq`; alt_tokens: of `alt_seq` (None: not needed).
        ref_span, alt_span: [start, end) of REF in `ref_seq` and of ALT in `alt_seq`.
        ref_base, alt_base: the SNV's bases on this strand (complemented on "-"); the VCF
            alleles for other variants.
    """

    index: int
    start: int
    end: int
    ref_seq: str
    alt_seq: str
    ref_tokens: np.ndarray
    alt_tokens: np.ndarray | None
    ref_span: tuple[int, int]
    alt_span: tuple[int, int]
    ref_base: str
    alt_base: str


def strand_window(
    fwd: ForwardWindows,
    variant: Variant,
    *,
    index: int,
    strand: str,
    start: int,
    end: int,
    tokens: WindowTokens,
    need_alt: bool,
) -> StrandWindow:
    """The windows of `variant` on `strand` ("+" or "-") from its forward-strand windows."""
    ref, alt = variant.ref, variant.alt
    rseq, aseq = fwd.ref_seq, fwd.alt_seq
    r_iv = (fwd.offset, fwd.offset + len(ref))
    a_iv = (fwd.alt_offset, fwd.alt_offset + len(alt))
    rb, ab = ref, alt
    if strand == "-":
        rseq, aseq = reverse_complement(rseq), reverse_complement(aseq)
        r_iv = (len(rseq) - r_iv[1], len(rseq) - r_iv[0])
        a_iv = (len(aseq) - a_iv[1], len(aseq) - a_iv[0])
        if variant.snv:
            rb, ab = complement(ref), complement(alt)
    return StrandWindow(
        index=index,
        start=start,
        end=end,
        ref_seq=rseq,
        alt_seq=aseq,
        ref_tokens=tokens.encode(rseq),
        alt_tokens=tokens.encode(aseq) if need_alt else None,
        ref_span=r_iv,
        alt_span=a_iv,
        ref_base=rb,
        alt_base=ab,
    )


@dataclass(frozen=True)
class RowPlan:
    """What planning one row gave.

    Attributes:
        status: the row's final status (`ScoreStatus` code).
        items: one `Item` per strand whose passes were registered (none if not scored).
        base_in_kmer: for an SNV or MNV, which base of its token on the first strand holds
            its first REF base (-1: none; e.g. not an SNV/MNV, or in a dropped collapse_n
            tail).
        whole_kmer: that token is a whole 6-mer (not a single letter).
    """

    status: int
    items: tuple[Item, ...] = ()
    base_in_kmer: int = -1
    whole_kmer: bool = False


def plan_row(
    plan: PassPlan,
    windows: Sequence[tuple[str, int, int, ForwardWindows]],
    variant: Variant,
    *,
    r: int,
    status: int,
    settings: RowSettings,
    tokens: WindowTokens,
) -> RowPlan:
    """Register one row's passes in `plan` and say its final status.

    Args:
        plan: the unit's passes (shared by rows: equal windows run once).
        windows: per strand of the job, (strand, start, end, forward-strand windows).
        variant: the row's allele; `variant.row` keys its passes without window sharing.
        r: the row's index in the slice being planned (`Item.row`).
        status: the row's status before planning (a scored status).
        settings: the job's score kinds, token budget and window sharing.
        tokens: the job's tokenization.
    """
    staged = []
    for j, (strand, start, end, fwd) in enumerate(windows):
        if not fwd.ref_matches:
            return RowPlan(int(ScoreStatus.REF_MISMATCH))
        sw = strand_window(
            fwd,
            variant,
            index=j,
            strand=strand,
            start=start,
            end=end,
            tokens=tokens,
            need_alt=settings.distances,
        )
        too_long = len(sw.ref_tokens) > settings.max_tokens
        if too_long or (sw.alt_tokens is not None and len(sw.alt_tokens) > settings.max_tokens):
            return RowPlan(int(ScoreStatus.OVER_TOKEN_LIMIT))
        staged.append(sw)
    items, one_kmer = [], 0
    base_in_kmer, whole_kmer = -1, False
    for sw in staged:
        item, in_one_kmer, token = _plan_strand(plan, sw, variant, r, settings, tokens)
        items.append(item)
        one_kmer += in_one_kmer
        if sw.index == 0 and token is not None:
            base_in_kmer, whole_kmer = token
    if any(fwd.short for _, _, _, fwd in windows):
        final = int(ScoreStatus.ALT_WINDOW_SHORT)
    elif one_kmer == len(staged) and status == ScoreStatus.NO_LLR_NOT_SNV:
        final = int(ScoreStatus.MNV_ONE_KMER)
    else:
        final = int(status)
    return RowPlan(final, tuple(items), base_in_kmer, whole_kmer)


def _plan_strand(
    plan: PassPlan,
    sw: StrandWindow,
    variant: Variant,
    r: int,
    settings: RowSettings,
    tokens: WindowTokens,
) -> tuple[Item, bool, tuple[int, bool] | None]:
    """Register one strand's passes: (its item, an MNV inside one 6-mer?, (base in the
    variant's token, whole 6-mer?) or None)."""
    v, j = variant, sw.index
    share = () if settings.share_windows else (v.row,)
    window = (v.contig, j, sw.start, sw.end)
    ref_pass = plan.add(("ref", *window, *share), sw.ref_tokens)
    fields: dict[str, Any] = {"row": r, "strand": j, "ref_pass": ref_pass}
    starts = lengths = None
    if settings.distances or v.snv or v.mnv:
        starts, lengths = tokens.spans(sw.ref_seq)
    if settings.distances:
        fields["ref_pool"] = plan.pool(ref_pass, token_weights(starts, lengths, *sw.ref_span))
        alt_pass = plan.add(("alt", *window, v.pos, v.ref, v.alt, *share), sw.alt_tokens)
        if settings.flat:
            plan.keep_tokens(ref_pass)
            plan.keep_tokens(alt_pass)
        a_starts, a_lengths = tokens.spans(sw.alt_seq)
        if "aligned" in settings.kinds:
            fields["aligned"] = aligned_pairs(
                (starts, lengths), (a_starts, a_lengths), sw.ref_span, sw.alt_span
            )
        fields["alt_pass"] = alt_pass
        fields["alt_pool"] = plan.pool(alt_pass, token_weights(a_starts, a_lengths, *sw.alt_span))
    if not (v.snv or v.mnv):
        return Item(**fields), False, None
    try:
        token, offset = token_at(starts, lengths, sw.ref_span[0])
        last, _ = token_at(starts, lengths, sw.ref_span[1] - 1)
    except ValueError:  # collapse_n on a short contig: the variant in the dropped tail
        return Item(**fields), False, None
    k = tokens.tokenizer.k  # bases per k-mer token (6; Codon-NT 3)
    position = (offset, int(lengths[token - 1]) == k)
    one_kmer = False
    if v.mnv:
        # an MNV inside one k-mer: the masked LLR of the whole k-mer
        s0 = int(starts[token - 1])
        rk, ak = sw.ref_seq[s0 : s0 + k], sw.alt_seq[s0 : s0 + k]
        if not (last == token and int(lengths[token - 1]) == k and set(rk + ak) <= ACGT):
            return Item(**fields), False, position
        tok = tokens.tokenizer
        fields.update(ref_kmer=tok.token_to_id(rk), alt_kmer=tok.token_to_id(ak))
        one_kmer = True
    fields.update(token=token, offset=offset)
    if v.snv:
        fields.update(ref_base=sw.ref_base, alt_base=sw.alt_base)
        if "llr_wt" in settings.kinds:
            plan.read_table(ref_pass, token)
    if "llr_masked" in settings.kinds:
        masked = sw.ref_tokens.copy()
        masked[token] = tokens.tokenizer.mask_id
        key = ("masked", *window, token, *share)
        mpass = plan.add(key, masked, table_tokens=sw.ref_tokens)
        plan.read_table(mpass, token)
        fields["masked_pass"] = mpass
    return Item(**fields), one_kmer, position


__all__ = [
    "DISTANCE_KINDS",
    "RowPlan",
    "RowSettings",
    "StrandWindow",
    "Variant",
    "WindowTokens",
    "plan_row",
    "strand_window",
]
