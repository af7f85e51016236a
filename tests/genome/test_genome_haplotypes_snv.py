"""build_haplotype's SNV path (byte writes) against its general path, haplotype for haplotype.

When every edit of a haplotype is a one-base substitution inside the window at its own
position, `build_haplotype` writes bytes into the reference window instead of joining
pieces; sequences, coordinate maps, offsets and outcomes must be the general path's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_vcf

from ntscale.genome import haplotypes as hp
from ntscale.genome.fasta import FastaSource
from ntscale.genome.haplotypes import HaplotypePolicy, build_haplotype, check_ref
from ntscale.genome.vcf import VariantReader

DATA = Path(__file__).resolve().parents[1] / "data"
FASTA = Path(__file__).resolve().parents[2] / "examples" / "data" / "chr20_2mb.fa.gz"


def build_all(v, ref: str, ref_start: int, start: int, end: int, policy) -> list:
    ok = check_ref(v, ref, ref_start, policy=policy, fasta="f")
    out = []
    for s in range(v.gt.shape[1]):
        for h in (0, 1):
            out.append(
                build_haplotype(
                    v,
                    ok,
                    s,
                    h,
                    sample=f"S{s}",
                    ref_seq=ref,
                    ref_start=ref_start,
                    start=start,
                    end=end,
                    policy=policy,
                )
            )
    return out


def general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hp, "_all_snvs_inside", lambda edits, start, end: False)


def assert_same(fast: list, slow: list) -> None:
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert a.sequence == b.sequence
        np.testing.assert_array_equal(a.coord_map, b.coord_map)
        assert a.applied == b.applied and a.outcomes == b.outcomes and a.skipped == b.skipped


def test_snv_path_equals_the_general_path_on_the_simulated_cohort(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = VariantReader(DATA / "cohort" / "sim16.vcf.gz")
    fa = FastaSource(FASTA)
    policy = HaplotypePolicy()
    n_edits = 0
    for start in range(1_000_000, 1_300_000, 37_500):
        end = start + 12_222
        v = reader.query("20", start, end)
        ref = fa.fetch("20", start, end)
        with monkeypatch.context() as m:
            general_only(m)
            slow = build_all(v, ref, start, start, end, policy)
        fast = build_all(v, ref, start, start, end, policy)
        assert_same(fast, slow)
        n_edits += sum(len(h.applied) for h in fast)
    assert n_edits > 100


def test_snv_path_at_window_edges_lower_case_and_mixed_edits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seq = random_seq(200, seed=5).lower()
    other = {"a": "C", "c": "G", "g": "T", "t": "A"}
    snv = lambda p: ("c1", p + 1, seq[p].upper(), (other[seq[p]],))  # noqa: E731
    records = [
        (*snv(49), ["1|0", "0|1", "0|0"]),  # just before the window
        (*snv(50), ["1|0", "0|1", "1|1"]),  # first base of the window
        (*snv(99), ["1|1", "0|.", "0|1"]),  # last base; a missing allele
        (
            "c1",
            121,
            seq[120:122].upper(),
            (other[seq[120]] + other[seq[121]],),
            ["0|1", "1|0", "0|0"],
        ),
        (*snv(149), ["1|0", "0|0", "1|1"]),  # the window end
    ]
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"c1": 200}, ["A", "B", "C"], records)
    v = VariantReader(vcf).query("c1", 40, 160)
    policy = HaplotypePolicy()
    for start, end in [(50, 100), (50, 150), (40, 160), (60, 60)]:
        with monkeypatch.context() as m:
            general_only(m)
            slow = build_all(v, seq[40:160], 40, start, end, policy)
        fast = build_all(v, seq[40:160], 40, start, end, policy)
        assert_same(fast, slow)
    # the window (50, 100): sample A haplotype 0 has both edge SNVs, upper case in lower
    a0 = build_all(v, seq[40:160], 40, 50, 100, policy)[0]
    assert a0.sequence[0] == other[seq[50]] and a0.sequence[-1] == other[seq[99]]
    assert a0.sequence[1:-1] == seq[51:99] and a0.coord_map.tolist() == list(range(50, 100))
    assert [off for _, off in a0.applied] == [0, 49]


def test_the_snv_test_sees_overlaps_indels_and_positions_outside() -> None:
    e = lambda e0, e1, ins: (e0, e1, ins, 0, 1, True, hp.VariantStatus.APPLIED)  # noqa: E731
    assert hp._all_snvs_inside([e(5, 6, "A"), e(7, 8, "C")], 0, 10)
    assert hp._all_snvs_inside([], 0, 10)
    assert not hp._all_snvs_inside([e(5, 6, "A"), e(5, 6, "C")], 0, 10)  # same base twice
    assert not hp._all_snvs_inside([e(5, 7, "AC")], 0, 10)  # MNV
    assert not hp._all_snvs_inside([e(5, 5, "A")], 0, 10)  # insertion
    assert not hp._all_snvs_inside([e(5, 6, "")], 0, 10)  # deletion
    assert not hp._all_snvs_inside([e(10, 11, "A")], 0, 10)  # at the end
    assert not hp._all_snvs_inside([e(-1, 0, "A")], 0, 10)  # before the start
