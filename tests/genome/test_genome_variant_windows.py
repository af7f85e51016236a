"""Windows around variants (genome/variant_windows.py): the centring convention, plans on
both strands, and reference/alternative sequences fetched from a real FASTA."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_fasta, write_vcf

from ntscale.genome.fasta import FastaSource
from ntscale.genome.variant_table import VariantTable, read_variant_table
from ntscale.genome.variant_windows import (
    centre_distance,
    centre_offset,
    plan_variant_windows,
    tile_starts,
    variant_sequences,
)
from ntscale.types import ScoreStatus as S

SEQ = random_seq(300, seed=11)


@pytest.fixture
def fasta(tmp_path: Path) -> FastaSource:
    return FastaSource(write_fasta(tmp_path / "g.fa", {"c": SEQ, "tiny": SEQ[:40]}))


def table(
    tmp_path: Path, rows: list[tuple[str, int, str, str]], lengths: dict[str, int]
) -> VariantTable:
    """The variant table of a real VCF holding (contig, 0-based pos, ref, alt) rows."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    header = dict(lengths) | {c: 1_000 for c, *_ in rows if c not in lengths}
    recs = [(c, pos + 1, ref, (alt,), ["0|1"]) for c, pos, ref, alt in rows]
    vcf = write_vcf(folder / "v.vcf.gz", header, ["S"], recs, index=False)
    return read_variant_table(vcf, contigs=list(lengths.items()))


# -- the convention ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "fwd", "rev"),
    [
        # n = W // 6 6-mers, central c = n // 2: forward 6c + 3, reverse W - 6c - 3
        (60, 33, 27),  # n = 10, c = 5
        (66, 33, 33),  # n = 11 (odd), W = 6n: both strands read the same interval
        (12_282, 6 * 1023 + 3, 12_282 - 6 * 1023 - 3),  # n = 2047, c = 1023
        (5_994, 2_997, 2_997),  # NT-v1: n = 999, c = 499
        (61, 33, 28),  # a leftover base shifts only the reverse offset
    ],
)
def test_centre_offset(window: int, fwd: int, rev: int) -> None:
    assert centre_offset(window, False) == fwd
    assert centre_offset(window, True) == rev


def test_odd_model_maxima_give_one_interval_on_both_strands() -> None:
    for w in (12_282, 5_994):
        assert centre_offset(w, False) == centre_offset(w, True)


def test_centre_distance_is_signed_from_the_centre_position() -> None:
    pos = np.array([133, 130, 140])
    start = np.array([100, 100, 100])
    assert centre_distance(pos, start, 60, "+").tolist() == [0, -3, 7]
    assert centre_distance(pos, start, 60, "-").tolist() == [6, 3, 13]  # centre at 100 + 27


def test_tile_starts_shift_the_last_tile_inside() -> None:
    # W = 60: stride 30 (a multiple of 6); 100 bp: 0, 30, then 60 shifted back to 40
    assert tile_starts(100, 60).tolist() == [0, 30, 40]
    assert tile_starts(90, 60).tolist() == [0, 30]
    assert tile_starts(60, 60).tolist() == [0]
    assert tile_starts(1_000, 10).tolist()[:3] == [0, 6, 12]  # stride at least k


# -- plans ---------------------------------------------------------------------------------


def test_plan_on_both_strands_and_unscored_rows(fasta: FastaSource, tmp_path: Path) -> None:
    lengths = dict(fasta.contigs)
    t = table(
        tmp_path,
        [("c", 150, "A", "C"), ("c", 151, "A", "N"), ("nope", 5, "A", "C"), ("c", 160, "AT", "A")],
        lengths,
    )
    assert t.status.tolist() == [S.OK, S.ALLELE_NOT_ACGT, S.CONTIG_NOT_IN_FASTA, S.NO_LLR_NOT_SNV]
    w = plan_variant_windows(t, lengths, window_bp=60, strands=("+", "-"))
    assert w.strands == ("+", "-") and w.window_bp == 60 and w.mode == "centred"
    assert w.start.tolist() == [[117, 123], [-1, -1], [-1, -1], [127, 133]]
    assert w.end.tolist() == [[177, 183], [-1, -1], [-1, -1], [187, 193]]
    assert w.status.tolist() == t.status.tolist()  # nothing clipped, nothing too long
    assert t.status.tolist()[0] == S.OK  # the table's statuses are not changed in place


def test_contig_shorter_than_the_window_is_one_clipped_window(
    fasta: FastaSource, tmp_path: Path
) -> None:
    lengths = dict(fasta.contigs)
    t = table(tmp_path, [("tiny", 20, "A", "G"), ("tiny", 20, "AC", "A")], lengths)
    w = plan_variant_windows(t, lengths, window_bp=60, strands=("-",))
    assert w.start.tolist() == [[0], [0]] and w.end.tolist() == [[40], [40]]
    assert w.status.tolist() == [S.OFF_CENTRE, S.OFF_CENTRE_NOT_SNV]


def test_allele_past_the_window_end_is_not_scored(fasta: FastaSource, tmp_path: Path) -> None:
    lengths = dict(fasta.contigs)
    # W = 12: forward offset 6 * 1 + 3 = 9, so 3 bases of the window from the variant on
    t = table(
        tmp_path,
        [("c", 100, "ACG", "A"), ("c", 100, "ACGT", "A"), ("c", 100, "A", "ACGT")],
        lengths,
    )
    w = plan_variant_windows(t, lengths, window_bp=12)
    assert w.status.tolist() == [S.NO_LLR_NOT_SNV, S.ALLELE_EXCEEDS_WINDOW, S.ALLELE_EXCEEDS_WINDOW]
    assert w.start.tolist() == [[91], [-1], [-1]]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"strands": ("x",)}, r"strands must be '\+' and/or '-', got \('x',\)"),
        ({"strands": ()}, r"strands must be '\+' and/or '-', got \(\)"),
        ({"window_bp": 5}, "window_bp must be at least 6, got 5"),
        ({"mode": "sliding"}, "window mode must be one of"),
    ],
)
def test_plan_argument_errors(fasta: FastaSource, tmp_path: Path, kw: dict, message: str) -> None:
    t = table(tmp_path, [("c", 150, "A", "C")], dict(fasta.contigs))
    args = {"window_bp": 60} | kw
    with pytest.raises(ValueError, match=message):
        plan_variant_windows(t, dict(fasta.contigs), **args)


# -- sequences from the FASTA --------------------------------------------------------------


def test_snv_sequences(fasta: FastaSource, tmp_path: Path) -> None:
    pos = 150
    alt = "C" if SEQ[pos] != "C" else "G"
    v = variant_sequences(fasta, "c", 117, 177, pos=pos, ref=SEQ[pos], alt=alt)
    assert v.ref_seq == SEQ[117:177] and v.offset == 33 and v.ref_matches
    assert v.alt_seq == SEQ[117:150] + alt + SEQ[151:177]
    assert not v.short and v.alt_offset == 33


def test_wrong_ref_is_reported_not_fixed(fasta: FastaSource, tmp_path: Path) -> None:
    pos = 150
    wrong = next(b for b in "ACGT" if b != SEQ[pos])
    v = variant_sequences(fasta, "c", 117, 177, pos=pos, ref=wrong, alt=SEQ[pos])
    assert not v.ref_matches
    assert v.alt_seq == SEQ[117:177]  # ALT (the FASTA's base) applied over the same base


def test_deletion_pulls_in_bases_and_insertion_is_trimmed(
    fasta: FastaSource, tmp_path: Path
) -> None:
    pos = 150
    d = variant_sequences(fasta, "c", 117, 177, pos=pos, ref=SEQ[pos : pos + 4], alt=SEQ[pos])
    assert d.alt_seq == SEQ[117:151] + SEQ[154:180] and len(d.alt_seq) == 60
    i = variant_sequences(fasta, "c", 117, 177, pos=pos, ref=SEQ[pos], alt=SEQ[pos] + "TTT")
    assert i.alt_seq == SEQ[117:151] + "TTT" + SEQ[151:174] and len(i.alt_seq) == 60


def test_deletion_at_the_contig_end_gives_a_framed_short_window(
    fasta: FastaSource, tmp_path: Path
) -> None:
    # window [240, 300) at the contig end; deleting 7 bp leaves 53 bp: cut 5 at the 3' end
    # to 48 bp, congruent to 60 modulo 6
    pos = 270
    v = variant_sequences(fasta, "c", 240, 300, pos=pos, ref=SEQ[pos : pos + 8], alt=SEQ[pos])
    assert v.short and v.ref_seq == SEQ[240:300]
    assert v.alt_seq == (SEQ[240:271] + SEQ[278:300])[:48]
    assert v.alt_offset == 30 and len(v.alt_seq) % 6 == 60 % 6


def test_lower_case_fasta_is_compared_upper_case(tmp_path: Path) -> None:
    fa = FastaSource(write_fasta(tmp_path / "m.fa", {"m": SEQ[:100].lower()}))
    v = variant_sequences(fa, "m", 0, 60, pos=33, ref=SEQ[33], alt="N")
    assert v.ref_matches and v.ref_seq == SEQ[:60]
