"""The haplotype pieces one by one (genome/haplotypes.py): minimal edits, REF checks,
build and cut, on genotypes read from a real VCF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_vcf

from ntscale.errors import InputError
from ntscale.genome.haplotypes import (
    HaplotypePolicy,
    VariantStatus,
    build_haplotype,
    check_ref,
    cut_to_prefix,
    minimal_edit,
)
from ntscale.genome.vcf import VariantReader

REF = random_seq(200, seed=31)


def apply_whole(ref: str, start: int, r: str, a: str) -> str:
    return ref[:start] + a + ref[start + len(r) :]


@pytest.mark.parametrize("seed", range(4))
def test_minimal_edit_changes_the_reference_like_the_whole_alleles(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        start = int(rng.integers(0, 150))
        r = REF[start : start + int(rng.integers(1, 8))]
        a = "".join(rng.choice(list("ACGT"), int(rng.integers(1, 8))))
        a = r[: int(rng.integers(0, len(r) + 1))] + a  # often a shared prefix, as in VCFs
        e0, e1, ins = minimal_edit(start, r, a)
        assert start <= e0 <= e1 <= start + len(r)
        assert REF[:e0] + ins + REF[e1:] == apply_whole(REF, start, r, a)


def reader(tmp_path: Path, records, samples=("S",)) -> VariantReader:
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"c": len(REF)}, list(samples), records)
    return VariantReader(vcf)


def test_check_ref_masks_or_raises(tmp_path: Path) -> None:
    wrong = "A" if REF[50] != "A" else "C"
    r = reader(
        tmp_path,
        [("c", 11, REF[10:13].lower(), ("A",), ["0|1"]), ("c", 51, wrong, ("G",), ["1|1"])],
    )
    v = r.query("c", 0, 100)
    skip = HaplotypePolicy(ref_mismatch="skip")
    # REF compared case-insensitively; the window's reference starts at 5 here
    assert check_ref(v, REF[5:100], 5, policy=skip, fasta="g.fa").tolist() == [True, False]
    with pytest.raises(InputError) as e:
        check_ref(v, REF[5:100], 5, policy=HaplotypePolicy(), fasta="g.fa")
    assert f"REF {wrong!r} does not match the FASTA g.fa ({REF[50]!r} at c:51)" in str(e.value)
    assert e.value.record == f"c:51 v1 {wrong}>G"
    # a record starting before the fetched reference cannot be checked: a mismatch
    assert check_ref(v, REF[20:100], 20, policy=skip, fasta="g.fa").tolist() == [False, False]


def build(v, hap: int, start: int, end: int, **policy):
    pol = HaplotypePolicy(**policy)
    ok = check_ref(v, REF, 0, policy=pol, fasta="g.fa")
    return build_haplotype(v, ok, 0, hap, sample="S", ref_seq=REF, ref_start=0, start=start,
                           end=end, policy=pol)  # fmt: skip


def test_build_and_cut_an_insertion_haplotype(tmp_path: Path) -> None:
    recs = [
        ("c", 21, REF[20], (REF[20] + "TTTT",), ["1|0"]),  # +4 after base 20
        ("c", 41, REF[40:43], (REF[40],), ["1|1"]),  # -2: bases 41, 42 deleted
        ("c", 61, REF[60], ("*",), ["1|1"]),  # symbolic
        ("c", 71, REF[70], ("A" if REF[70] != "A" else "C",), [".|1"]),  # missing on hap 0
    ]
    v = reader(tmp_path, recs).query("c", 0, 100)
    h = build(v, 0, 0, 100)
    want = REF[:21] + "TTTT" + REF[21:41] + REF[43:100]
    assert h.sequence == want
    assert h.coord_map.tolist() == [*range(21), -1, -1, -1, -1, 21, *range(22, 41), *range(43, 100)]
    assert [o.status for o in h.outcomes] == [
        VariantStatus.APPLIED,
        VariantStatus.APPLIED,
        VariantStatus.SYMBOLIC,
        VariantStatus.MISSING_GENOTYPE,
    ]
    assert h.n_variants == 2 and [o.allele for o in h.outcomes] == [1, 1, 1, -1]
    # cut before the deletion's place in the haplotype: it was applied, then cut off
    cut = cut_to_prefix(h, 30)
    assert cut.sequence == want[:30] and cut.coord_map.tolist() == h.coord_map[:30].tolist()
    assert [o.status for o in cut.outcomes][:2] == [
        VariantStatus.APPLIED,
        VariantStatus.CUT_BY_TOKEN_BUDGET,
    ]
    assert cut.n_variants == 1 and len(cut.applied) == 1
    assert cut_to_prefix(h, len(want)) is h  # nothing to cut


def test_build_on_the_other_haplotype_and_a_window_edge(tmp_path: Path) -> None:
    recs = [
        ("c", 21, REF[20], (REF[20] + "TTTT",), ["1|0"]),
        ("c", 41, REF[40:43], (REF[40],), ["1|1"]),
    ]
    v = reader(tmp_path, recs).query("c", 0, 100)
    h1 = build(v, 1, 0, 100)
    assert h1.sequence == REF[:41] + REF[43:100] and h1.n_variants == 1
    # the deletion straddles the window end at 42: only its part inside is applied
    edge = build(v, 1, 30, 42)
    assert edge.sequence == REF[30:41]
    assert edge.outcomes[-1].status == VariantStatus.APPLIED_CLIPPED


def test_unphased_policies_on_one_genotype(tmp_path: Path) -> None:
    alt = "A" if REF[30] != "A" else "C"
    v = reader(tmp_path, [("c", 31, REF[30], (alt,), ["0/1"])]).query("c", 0, 60)
    with pytest.raises(InputError, match="unphased"):
        build(v, 0, 0, 60)
    as_ref = build(v, 0, 0, 60, unphased="ref")
    as_alt = build(v, 1, 0, 60, unphased="alt")
    skipped = build(v, 0, 0, 60, unphased="skip")
    assert (
        as_ref.sequence == REF[:60] and as_ref.outcomes[0].status == VariantStatus.UNPHASED_AS_REF
    )
    assert as_alt.sequence == REF[:30] + alt + REF[31:60]
    assert as_alt.outcomes[0].status == VariantStatus.UNPHASED_AS_ALT and as_alt.n_variants == 1
    assert skipped.skipped and skipped.outcomes[0].status == VariantStatus.UNPHASED_SKIPPED
