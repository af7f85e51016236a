"""Window coordinates around variants and the alternative-window construction."""

from __future__ import annotations

import numpy as np
import pytest
from scoring_helpers import write_vcf

from ntscale.genome.variant_table import ScoreStatus, read_variant_table
from ntscale.genome.variant_windows import (
    apply_allele,
    clip_window,
    frame_alt_window,
    plan_variant_windows,
    tile_starts,
)


def test_clip_window_shifts_inside_the_contig():
    a, b = clip_window(np.array([-10, 5, 95, 0]), 20, np.array([100, 100, 100, 12]))
    np.testing.assert_array_equal(a, [0, 5, 80, 0])
    np.testing.assert_array_equal(b, [20, 25, 100, 12])  # a 12 bp contig is one window


def test_tile_starts_cover_the_contig_with_half_overlap():
    starts = tile_starts(1000, 126)
    assert starts[0] == 0 and starts[-1] == 1000 - 126
    assert set(np.diff(starts[:-1])) == {60}  # stride 63 rounded down to a multiple of 6
    assert tile_starts(50, 126).tolist() == [0]


def test_apply_allele_keeps_the_window_length():
    ref = "AAAACCCCGGGGTTTT"  # the fetched stretch; window of 12
    assert apply_allele(ref, 4, "C", "G", 12) == ("AAAAGCCCGGGG", False)  # SNV
    assert apply_allele(ref, 4, "C", "CTT", 12) == ("AAAACTTCCCGG", False)  # insertion: trim
    assert apply_allele(ref, 4, "CCC", "C", 12) == ("AAAACCGGGGTT", False)  # deletion: extend
    assert apply_allele(ref[:13], 4, "CCC", "C", 12) == ("AAAACCGGGGT", True)  # nothing to extend


def test_short_alt_windows_keep_the_reference_frame():
    # 11 bp alt of a 12 bp window: cut to 6 (whole 6-mers) at the 3' end
    assert frame_alt_window("AAAACCGGGGT", 4, 1, 12) == ("AAAACC", 4)
    assert frame_alt_window("AAAACCGGGGT", 4, 1, 13) == ("AAAACCG", 4)  # 7 = 13 - 6
    # ALT in the last bases: cut at the 5' end instead, ALT's offset moves with it
    assert frame_alt_window("AAAACCGGGGT", 10, 1, 12) == ("CGGGGT", 5)
    assert frame_alt_window("AAAACCGGGGT", 3, 8, 12) == ("AAAACCGGGGT", 3)  # cannot: kept


def test_plan_marks_clipped_and_oversized_variants(tmp_path):
    recs = [
        ("c", 3, "a", "A", ("C",)),
        ("c", 50, "b", "A", ("C",)),
        ("c", 50, "c", "A", ("A" + "G" * 80,)),
        ("c", 4, "d", "AC", ("A",)),
    ]
    vcf = write_vcf(tmp_path / "v.vcf", {"c": 100}, recs)
    table = read_variant_table(vcf, contigs=[("c", 100)])
    w = plan_variant_windows(table, {"c": 100}, window_bp=60, strands=("+", "-"))
    # W = 60: forward offset 6 * 5 + 3 = 33, reverse offset 60 - 33 = 27
    np.testing.assert_array_equal(w.start[1], [49 - 33, 49 - 27])
    np.testing.assert_array_equal(w.end[1] - w.start[1], [60, 60])
    assert w.status.tolist() == [
        ScoreStatus.OFF_CENTRE,
        ScoreStatus.OK,
        ScoreStatus.ALLELE_EXCEEDS_WINDOW,
        ScoreStatus.OFF_CENTRE_NOT_SNV,
    ]
    assert (w.start[2] == -1).all()
    tiled = plan_variant_windows(table, {"c": 100}, window_bp=60, mode="tiled")
    # tiles start at 0, 30, 40 (centres 30, 60, 70): each variant takes the nearest centre
    assert tiled.start[:, 0].tolist() == [0, 30, -1, 0]
    # shared tiles hold their variants anywhere: those off the centre position say so
    assert tiled.status.tolist() == [
        ScoreStatus.TILED_OFF_CENTRE,
        ScoreStatus.TILED_OFF_CENTRE,
        ScoreStatus.ALLELE_EXCEEDS_WINDOW,
        ScoreStatus.OFF_CENTRE_NOT_SNV,
    ]
    centre = write_vcf(tmp_path / "c.vcf", {"c": 100}, [("c", 34, "e", "A", ("C",))])
    at_centre = read_variant_table(centre, contigs=[("c", 100)])
    t2 = plan_variant_windows(at_centre, {"c": 100}, window_bp=60, mode="tiled")
    assert t2.start[0, 0] == 0 and t2.status[0] == ScoreStatus.OK  # base 33 = 6 * 5 + 3
    with pytest.raises(ValueError, match="window mode must be one of"):
        plan_variant_windows(table, {"c": 100}, window_bp=60, mode="sliding")
