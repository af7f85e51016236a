"""Planning one variant row (`ntscale.scoring.row_plan`): expected values worked out by hand.

Windows here are 24 or 25 bp, so their tokens can be counted on the fingers: with the v2
tokenizer a 24 bp ACGT window is CLS + four 6-mers (bases 0-5, 6-11, 12-17, 18-23 are
tokens 1..4); a 6-mer's id is 6 + its index in product("ATCG") (A=0, T=1, C=2, G=3,
first base most significant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ntscale.scoring.passes import PassPlan
from ntscale.scoring.row_plan import (
    RowSettings,
    Variant,
    WindowTokens,
    plan_row,
    strand_window,
)
from ntscale.tokenizer import get_tokenizer
from ntscale.types import ScoreStatus

TOK = get_tokenizer("v2")
MASK = TOK.mask_id
SEQ = "ACGTACGGATCCTTGACACCGGTT"  # 24 bp, four 6-mers
COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}
OK, NOT_SNV = int(ScoreStatus.OK), int(ScoreStatus.NO_LLR_NOT_SNV)


def kmer_id(kmer: str) -> int:
    """A 6-mer's id from the definition (not from the tokenizer's table)."""
    digits = {"A": 0, "T": 1, "C": 2, "G": 3}
    return 6 + sum(digits[b] * 4 ** (5 - i) for i, b in enumerate(kmer))


def revcomp(seq: str) -> str:
    return "".join(COMP[b] for b in reversed(seq))


@dataclass(frozen=True)
class Fwd:
    """Forward-strand windows as `genome.variant_sequences` returns them."""

    ref_seq: str
    alt_seq: str
    offset: int
    alt_offset: int
    ref_matches: bool = True
    short: bool = False


def substituted(seq: str, offset: int, alt: str, **kw) -> Fwd:
    return Fwd(seq, seq[:offset] + alt + seq[offset + len(alt) :], offset, offset, **kw)


def settings(*kinds: str, max_tokens: int = 2048, share: bool = True) -> RowSettings:
    return RowSettings(kinds=frozenset(kinds), max_tokens=max_tokens, share_windows=share)


def plan_one(fwd, ref, alt, *, strands=("+",), kinds=("llr_wt",), status=OK, plan=None, **kw):
    plan = PassPlan() if plan is None else plan
    windows = [(s, 100, 100 + len(fwd.ref_seq), fwd) for s in strands]
    variant = Variant(contig="c", pos=100 + fwd.offset, ref=ref, alt=alt, row=kw.pop("row", 0))
    rp = plan_row(
        plan,
        windows,
        variant,
        r=kw.pop("r", 0),
        status=status,
        settings=kw.pop("settings", None) or settings(*kinds),
        tokens=WindowTokens(TOK, kw.pop("collapse_n", False)),
    )
    return rp, plan


def test_window_tokens_are_the_kmers_counted_by_hand():
    assert TOK.encode(SEQ).tolist() == [3, *(kmer_id(SEQ[i : i + 6]) for i in (0, 6, 12, 18))]


def test_snv_forward_strand_reads_its_token_and_masks_it():
    # SNV at base 8 (A>T): token 2 (bases 6-11), third base of the 6-mer
    fwd = substituted(SEQ, 8, "T")
    rp, plan = plan_one(fwd, "A", "T", kinds=("llr_wt", "llr_masked", "l2"))
    (item,) = rp.items
    assert (rp.status, rp.base_in_kmer, rp.whole_kmer) == (OK, 2, True)
    assert (item.token, item.offset, item.ref_base, item.alt_base) == (2, 2, "A", "T")
    ref, alt, masked = (plan.passes[i] for i in (item.ref_pass, item.alt_pass, item.masked_pass))
    assert len(plan) == 3
    assert ref.table_rows == {2} and masked.table_rows == {2}
    expected = TOK.encode(SEQ)
    expected[2] = MASK
    np.testing.assert_array_equal(masked.tokens, expected)
    np.testing.assert_array_equal(masked.table_tokens, TOK.encode(SEQ))
    # the alt window is the edited sequence; pools are the token holding the SNV
    np.testing.assert_array_equal(alt.tokens, TOK.encode(fwd.alt_seq))
    np.testing.assert_array_equal(ref.pools[item.ref_pool], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(alt.pools[item.alt_pool], [0, 0, 1, 0, 0])


def test_snv_reverse_strand_flips_the_position_and_complements_the_bases():
    # forward base 8 is base 24 - 1 - 8 = 15 of the reverse complement: token 3, base 3
    fwd = substituted(SEQ, 8, "T")
    rp, plan = plan_one(fwd, "A", "T", strands=("-",), kinds=("llr_masked",))
    (item,) = rp.items
    assert (item.strand, item.token, item.offset) == (0, 3, 3)
    assert (item.ref_base, item.alt_base) == ("T", "A")
    np.testing.assert_array_equal(plan.passes[item.ref_pass].tokens, TOK.encode(revcomp(SEQ)))
    assert rp.base_in_kmer == 3
    assert plan.passes[item.ref_pass].table_rows == set()  # llr_wt not asked
    assert plan.passes[item.masked_pass].tokens[3] == MASK


def test_both_strands_give_one_item_each_in_strand_order():
    fwd = substituted(SEQ, 8, "T")
    rp, plan = plan_one(fwd, "A", "T", strands=("+", "-"), kinds=("llr_wt",))
    assert [(i.strand, i.token, i.offset, i.ref_base) for i in rp.items] == [
        (0, 2, 2, "A"),
        (1, 3, 3, "T"),
    ]
    assert len(plan) == 2  # a reference pass per strand, no masked pass
    assert rp.base_in_kmer == 2  # the first strand's


def test_strand_window_of_an_insertion_on_the_reverse_strand():
    # G>GAT at base 14: REF [14, 15), ALT [14, 17) forward; on the reverse strand of a
    # 24 bp window they become [24-15, 24-14) = [9, 10) and [24-17, 24-14) = [7, 10)
    alt_seq = (SEQ[:14] + "GAT" + SEQ[15:])[:24]
    fwd = Fwd(SEQ, alt_seq, 14, 14)
    v = Variant(contig="c", pos=114, ref="G", alt="GAT")
    sw = strand_window(
        fwd, v, index=1, strand="-", start=100, end=124, tokens=WindowTokens(TOK), need_alt=True
    )
    assert (sw.ref_span, sw.alt_span) == ((9, 10), (7, 10))
    assert sw.ref_seq == revcomp(SEQ) and sw.alt_seq == revcomp(alt_seq)
    assert (sw.ref_base, sw.alt_base) == ("G", "GAT")  # only SNV bases are complemented
    np.testing.assert_array_equal(sw.alt_tokens, TOK.encode(revcomp(alt_seq)))
    fwd_sw = strand_window(
        fwd, v, index=0, strand="+", start=100, end=124, tokens=WindowTokens(TOK), need_alt=False
    )
    assert (fwd_sw.ref_span, fwd_sw.alt_span, fwd_sw.alt_tokens) == ((14, 15), (14, 17), None)


def test_deletion_pools_the_tokens_it_covers_and_has_no_llr():
    # CCTT>C at base 10: REF covers bases 10-13, tokens 2 and 3 -> 1/2 each; ALT (base 10)
    # only token 2. No LLR pass for an indel, whatever kinds are asked.
    alt_seq = SEQ[:10] + "T" + SEQ[14:] + "AAA"
    fwd = Fwd(SEQ, alt_seq, 10, 10)
    rp, plan = plan_one(fwd, "CCTT", "C", kinds=("llr_masked", "llr_wt", "cosine"), status=NOT_SNV)
    (item,) = rp.items
    assert (rp.status, item.token, item.masked_pass, rp.base_in_kmer) == (NOT_SNV, -1, -1, -1)
    assert len(plan) == 2
    ref, alt = plan.passes[item.ref_pass], plan.passes[item.alt_pass]
    np.testing.assert_array_equal(ref.pools[item.ref_pool], [0, 0, 0.5, 0.5, 0])
    np.testing.assert_array_equal(alt.pools[item.alt_pool], [0, 0, 1, 0, 0])
    assert ref.table_rows == set() and not ref.table


def test_mnv_inside_one_kmer_is_scored_as_a_whole_kmer():
    # TG>CT at bases 13-14: both in token 3 (bases 12-17 "TTGACA" -> "TCTACA")
    fwd = substituted(SEQ, 13, "CT")
    rp, plan = plan_one(fwd, "TG", "CT", kinds=("llr_masked", "llr_wt"), status=NOT_SNV)
    (item,) = rp.items
    assert rp.status == int(ScoreStatus.MNV_ONE_KMER)
    assert (item.token, item.offset) == (3, 1)
    assert (item.ref_kmer, item.alt_kmer) == (kmer_id("TTGACA"), kmer_id("TCTACA"))
    assert item.ref_base == ""  # no single-base LLR
    assert plan.passes[item.ref_pass].table_rows == set()  # no wild-type LLR for an MNV
    assert plan.passes[item.masked_pass].tokens[3] == MASK


def test_mnv_across_two_kmers_gets_no_llr():
    # bases 11-12 lie in tokens 2 and 3: distances only, the status stays NO_LLR_NOT_SNV
    fwd = substituted(SEQ, 11, "AA")
    rp, plan = plan_one(fwd, "CT", "AA", kinds=("llr_masked",), status=NOT_SNV)
    (item,) = rp.items
    assert (rp.status, item.token, item.masked_pass, item.ref_kmer) == (NOT_SNV, -1, -1, -1)
    assert rp.base_in_kmer == 5  # base 11 is the last of token 2
    assert len(plan) == 1


def test_mnv_must_be_inside_one_kmer_on_every_strand():
    # 25 bp: forward 6-mers start at 0, 6, 12, 18 (+ letter 24); on the reverse strand the
    # 6-mers hold forward bases 19-24, 13-18, 7-12, 1-6 (+ letter 0).
    seq = SEQ + "A"
    both = substituted(seq, 13, "CT")  # fwd 13-14: in 12-17 and in 13-18
    rp, _ = plan_one(both, "TG", "CT", strands=("+", "-"), kinds=("llr_masked",), status=NOT_SNV)
    assert rp.status == int(ScoreStatus.MNV_ONE_KMER)
    assert [i.token for i in rp.items] == [3, 2]
    one = substituted(seq, 12, "AA")  # fwd 12-13: in 12-17, but across 7-12 | 13-18
    rp, _ = plan_one(one, "TT", "AA", strands=("+", "-"), kinds=("llr_masked",), status=NOT_SNV)
    assert rp.status == NOT_SNV
    assert [i.token for i in rp.items] == [3, -1]


def test_n_in_a_window_shifts_the_tokens_after_it():
    # "ACGTAC" + N + "GGGTTT" + "CCCAAA" + "G": tokens 6-mer, N, 6-mer, 6-mer, G; the SNV at
    # base 9 is in token 3 (bases 7-12), base 2 of it
    seq = "ACGTACNGGGTTTCCCAAAG"
    rp, plan = plan_one(substituted(seq, 9, "A"), "G", "A", kinds=("llr_wt",))
    (item,) = rp.items
    assert (item.token, item.offset) == (3, 2)
    # an SNV on the letter after the last 6-mer: a single-letter token
    rp, _ = plan_one(substituted(seq, 19, "A"), "G", "A", kinds=("llr_wt",))
    assert (rp.items[0].token, rp.items[0].offset, rp.whole_kmer) == (5, 0, False)


def test_collapse_n_mnv_in_an_n_kmer_and_snv_in_the_dropped_tail():
    # collapse_n: fixed 6-mer frame, a 6-mer with an N is one N token. MNV at 13-14 in the
    # 6-mer 12-17 that holds an N at 16: not a 6-mer of ACGT, so no LLR.
    seq = SEQ[:16] + "N" + SEQ[17:] + "A"  # 25 bp: base 24 is dropped by collapse_n
    mnv = substituted(seq, 13, "CT")
    rp, _ = plan_one(mnv, "TG", "CT", kinds=("llr_masked",), status=NOT_SNV, collapse_n=True)
    assert (rp.status, rp.items[0].token) == (NOT_SNV, -1)
    rp, plan = plan_one(substituted(seq, 24, "C"), "A", "C", kinds=("llr_wt",), collapse_n=True)
    assert (rp.status, rp.items[0].token, rp.base_in_kmer) == (OK, -1, -1)
    assert plan.passes[0].table_rows == set()


def test_statuses_that_stop_planning_register_nothing():
    rp, plan = plan_one(Fwd(SEQ, SEQ, 8, 8, ref_matches=False), "A", "T")
    assert (rp.status, rp.items, len(plan)) == (int(ScoreStatus.REF_MISMATCH), (), 0)
    # 5 tokens (CLS + 4) do not fit a 4-token model
    rp, plan = plan_one(substituted(SEQ, 8, "T"), "A", "T", settings=settings(max_tokens=4))
    assert (rp.status, rp.items, len(plan)) == (int(ScoreStatus.OVER_TOKEN_LIMIT), (), 0)
    # only the alt window too long (an insertion with N-rich tokens): over the limit too
    alt_seq = SEQ[:8] + "NNNN" + SEQ[8:20]
    rp, plan = plan_one(Fwd(SEQ, alt_seq, 8, 8), "A", "ANNN", settings=settings("l2", max_tokens=5))
    assert rp.status == int(ScoreStatus.OVER_TOKEN_LIMIT) and len(plan) == 0


def test_short_alt_window_is_planned_with_its_own_status():
    alt_seq = SEQ[:21] + SEQ[23:]  # GGT>G at the contig end: 22 bp
    rp, plan = plan_one(Fwd(SEQ, alt_seq, 20, 20, short=True), "GGT", "G", kinds=("l2",))
    assert rp.status == int(ScoreStatus.ALT_WINDOW_SHORT)
    assert len(rp.items) == 1 and len(plan) == 2


@pytest.mark.parametrize(("share", "passes"), [(True, 3), (False, 4)])
def test_rows_of_one_tile_share_its_reference_pass(share, passes):
    """Tiled mode: two SNVs in one tile, at bases 8 and 20 (tokens 2 and 4)."""
    plan = PassPlan(by_content=share)
    s = settings("llr_wt", "llr_masked", share=share)
    a, _ = plan_one(substituted(SEQ, 8, "T"), "A", "T", plan=plan, settings=s, row=0)
    b, _ = plan_one(substituted(SEQ, 20, "A"), "G", "A", plan=plan, settings=s, row=1, r=1)
    (ia,), (ib,) = a.items, b.items
    assert len(plan) == passes  # shared: 1 reference + 2 masked; else a reference per row
    assert (ia.ref_pass == ib.ref_pass) is share
    assert ia.masked_pass != ib.masked_pass and (ia.row, ib.row) == (0, 1)
    if share:
        assert plan.passes[ia.ref_pass].table_rows == {2, 4}


def test_flat_and_aligned_keep_token_embeddings_and_pair_tokens():
    fwd = substituted(SEQ, 8, "T")
    rp, plan = plan_one(fwd, "A", "T", kinds=("aligned",))
    (item,) = rp.items
    ref, alt = plan.passes[item.ref_pass], plan.passes[item.alt_pass]
    assert ref.token_embeddings and alt.token_embeddings
    # an SNV in token 2: every other token pairs with itself
    assert [x.tolist() for x in item.aligned] == [[1, 3, 4], [1, 3, 4]]
