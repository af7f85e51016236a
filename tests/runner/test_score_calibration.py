"""The calibration helpers of the scoring worker: tile shares partition a contig by the
nearest-centre rule, each tile is owned by its first row, and a row's stratum is the
trinucleotide class x base-in-6-mer of the mutation-spectrum convention."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

from ntscale.genome.variant_windows import tile_starts
from ntscale.runner.score_calibration import row_stratum, tile_owners, tile_share

COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}


def _revcomp(seq: str) -> str:
    return "".join(COMPLEMENT[b] for b in reversed(seq))


@pytest.mark.parametrize(
    ("contig_bp", "window_bp"), [(2000, 600), (1201, 600), (600, 600), (500, 600), (12345, 1000)]
)
def test_tile_shares_partition_the_contig_by_the_nearest_centre(contig_bp, window_bp):
    starts = tile_starts(contig_bp, window_bp)
    centres = starts + min(window_bp, contig_bp) / 2
    # the rule stated for variants: the nearest centre, ties to the left (first) tile
    nearest = [int(np.argmin(np.abs(centres - b))) for b in range(contig_bp)]
    shares = [tile_share(contig_bp, window_bp, int(s)) for s in starts]
    for i, (lo, hi) in enumerate(shares):
        assert [b for b in range(contig_bp) if nearest[b] == i] == list(range(lo, hi))
    assert shares[0][0] == 0 and shares[-1][1] == contig_bp
    assert all(a[1] == b[0] for a, b in itertools.pairwise(shares))  # no gap, no overlap


def test_tile_share_of_a_short_contig_is_all_of_it():
    assert tile_share(500, 600, 0) == (0, 500)


def test_each_tile_is_owned_by_its_first_scored_row():
    # rows 0-5: contig, first strand's tile start (-1: not scored)
    job = SimpleNamespace(
        windows=SimpleNamespace(
            start=np.array([[-1, -1], [0, 0], [300, 300], [0, 0], [300, 300], [0, 0]])
        ),
        table=SimpleNamespace(contig=np.array(["a", "a", "a", "a", "b", "b"])),
    )
    assert tile_owners(job) == {("a", 0): 1, ("a", 300): 2, ("b", 300): 4, ("b", 0): 5}


def _reference_classes() -> dict[tuple[str, str], int]:
    """(trinucleotide, alt) -> class, enumerated from the definition: REF C or T (a purine
    REF is read on the other strand), then ALT among the other three bases, 5' base, 3'
    base, each in ACGT order."""
    table = {}
    index = 0
    for ref in "CT":
        for alt in [b for b in "ACGT" if b != ref]:
            for left, right in itertools.product("ACGT", repeat=2):
                table[(left + ref + right, alt)] = index
                index += 1
    for (tri, alt), cls in list(table.items()):
        table[(_revcomp(tri), COMPLEMENT[alt])] = cls  # the same mutation read on A/G
    return table


def test_row_stratum_matches_the_mutation_spectrum_classes():
    classes = _reference_classes()
    assert len(classes) == 192 and sorted(set(classes.values())) == list(range(96))
    for (tri, alt), cls in classes.items():
        for base_in_kmer in (0, 5):
            seq = "G" + tri + "T"  # the SNV at offset 2, one base from each end
            assert row_stratum(seq, 2, tri[1], alt, base_in_kmer) == cls * 6 + base_in_kmer


def test_cpg_transition_example_by_hand():
    # G>A with C 5' and T 3' (CGT) is, on the other strand, C>T in ACG: a CpG transition.
    # REF C (not T: 0), ALT T = rank 2 among A, G, T; 5' A = 0; 3' G = 2; base 3 of its 6-mer
    cls = ((0 * 3 + 2) * 4 + 0) * 4 + 2
    assert cls == 34 and row_stratum("ACGTA", 2, "G", "A", 3) == cls * 6 + 3


@pytest.mark.parametrize(
    ("seq", "offset", "alt"),
    [("ACGTA", 0, "G"), ("ACGTA", 4, "G"), ("ANGTA", 2, "A"), ("ACGNA", 2, "A"), ("ACGTA", 2, "N")],
)
def test_no_stratum_at_a_window_edge_or_next_to_an_n(seq, offset, alt):
    assert math.isnan(row_stratum(seq, offset, seq[offset], alt, 0))
