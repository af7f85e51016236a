"""Haplotype windows: hand-built cases for every allele kind, edge and policy, pinned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_fasta, write_vcf

from ntscale.errors import ConfigError, InputError, MissingInputError
from ntscale.genome import (
    HaplotypePolicy,
    WindowSource,
    minimal_edit,
    plan_windows,
    with_haplotypes,
)
from ntscale.types import WindowStatus

SEQ = random_seq(300, seed=1)
OTHER = {"A": "C", "C": "G", "G": "T", "T": "A"}


def alt_of(pos: int, n: int = 1) -> str:
    return "".join(OTHER[b] for b in SEQ[pos : pos + n])


@pytest.fixture()
def fasta(tmp_path: Path) -> Path:
    return write_fasta(tmp_path / "t.fa", {"c1": SEQ})


def source(fasta: Path, tmp_path: Path, records, samples=("S",), **kw) -> WindowSource:
    vcf = write_vcf(tmp_path / "v.vcf.gz", {"c1": 300}, samples, records)
    return WindowSource(fasta, tokenizer="v2", max_tokens=10_000, vcf_path=vcf, **kw)


def statuses(w) -> list[tuple[int, str]]:
    return [(o.record.pos1, o.status.name) for o in w.variants]


def test_minimal_edit() -> None:
    assert minimal_edit(10, "A", "T") == (10, 11, "T")
    assert minimal_edit(10, "A", "ATT") == (11, 11, "TT")
    assert minimal_edit(10, "ACGT", "A") == (11, 14, "")
    assert minimal_edit(10, "ACGT", "AGGT") == (11, 12, "G")
    assert minimal_edit(10, "AT", "ATT") == (12, 12, "T")
    assert minimal_edit(10, "ac", "AG") == (11, 12, "G")


def test_snv_mnv_insertion_deletion_multiallelic(fasta: Path, tmp_path: Path) -> None:
    x, y = alt_of(150), OTHER[alt_of(150)]
    src = source(
        fasta,
        tmp_path,
        [
            ("c1", 111, SEQ[110], (alt_of(110),), ["1|0"]),
            ("c1", 121, SEQ[120:123], (alt_of(120, 3),), ["0|1"]),
            ("c1", 131, SEQ[130], (SEQ[130] + "GGG",), ["1|1"]),
            ("c1", 141, SEQ[140:145], (SEQ[140],), ["1|0"]),
            ("c1", 151, SEQ[150], (x, y), ["1|2"]),
        ],
    )
    hap0 = (
        SEQ[100:110]
        + alt_of(110)
        + SEQ[111:131]
        + "GGG"
        + SEQ[131:141]
        + SEQ[145:150]
        + x
        + SEQ[151:200]
    )
    hap1 = SEQ[100:120] + alt_of(120, 3) + SEQ[123:131] + "GGG" + SEQ[131:150] + y + SEQ[151:200]
    w0 = src.fetch_window("c1", 100, 200, haplotype=0)
    w1 = src.fetch_window("c1", 100, 200, haplotype=1)
    assert w0.sequence == hap0 and w1.sequence == hap1
    assert (w0.n_variants, w1.n_variants) == (4, 3)
    assert statuses(w0) == [(111, "APPLIED"), (131, "APPLIED"), (141, "APPLIED"), (151, "APPLIED")]
    assert w0.status == WindowStatus.OK and w0.end == 200
    # coordinate map: inserted bases -1, deleted positions absent, the rest in order
    cm = w0.coord_map
    assert len(cm) == len(hap0)
    assert cm[:10].tolist() == list(range(100, 110))
    ins_at = 31  # 10 + 1 + 20 bases before the inserted GGG
    assert cm[ins_at : ins_at + 3].tolist() == [-1, -1, -1]
    assert cm[ins_at - 1] == 130 and cm[ins_at + 3] == 131
    mapped = cm[cm >= 0]
    assert np.all(np.diff(mapped) > 0)
    assert set(range(100, 200)) - set(mapped.tolist()) == {141, 142, 143, 144}
    # reverse strand: reverse complement, map reversed
    r0 = src.fetch_window("c1", 100, 200, strand="-", haplotype=0)
    comp = str.maketrans("ACGT", "TGCA")
    assert r0.sequence == hap0.translate(comp)[::-1]
    assert np.array_equal(r0.coord_map, cm[::-1])


def test_deletion_across_window_edges_is_clipped(fasta: Path, tmp_path: Path) -> None:
    src = source(fasta, tmp_path, [("c1", 198, SEQ[197:205], (SEQ[197],), ["1|0"])])
    left = src.fetch_window("c1", 100, 200, haplotype=0)
    right = src.fetch_window("c1", 200, 300, haplotype=0)
    assert left.sequence == SEQ[100:198]
    assert right.sequence == SEQ[205:300]
    assert statuses(left) == [(198, "APPLIED_CLIPPED")] and left.variants[0].owned
    assert statuses(right) == [(198, "APPLIED_CLIPPED")] and not right.variants[0].owned
    assert right.coord_map[0] == 205
    whole = src.fetch_window("c1", 100, 300, haplotype=0)
    assert whole.sequence == left.sequence + right.sequence
    assert statuses(whole) == [(198, "APPLIED")]


def test_insertion_at_window_end_belongs_to_left_window(fasta: Path, tmp_path: Path) -> None:
    src = source(
        fasta,
        tmp_path,
        [
            ("c1", 200, SEQ[199], (SEQ[199] + "TT",), ["1|0"]),  # insertion after base 199
            ("c1", 200, SEQ[199:202], (SEQ[199],), ["0|1"]),  # deletes 200, 201
        ],
    )
    left = src.fetch_window("c1", 100, 200, haplotype=0)
    right = src.fetch_window("c1", 200, 300, haplotype=0)
    assert left.sequence == SEQ[100:200] + "TT" and right.sequence == SEQ[200:300]
    assert left.coord_map[-2:].tolist() == [-1, -1]
    d_left = src.fetch_window("c1", 100, 200, haplotype=1)
    d_right = src.fetch_window("c1", 200, 300, haplotype=1)
    assert d_left.sequence == SEQ[100:200]
    assert statuses(d_left) == [(200, "OUTSIDE_WINDOW")]
    assert d_right.sequence == SEQ[202:300] and d_right.n_variants == 1


def test_overlapping_alleles_keep_first(fasta: Path, tmp_path: Path) -> None:
    src = source(
        fasta,
        tmp_path,
        [
            ("c1", 51, SEQ[50:56], (SEQ[50],), ["1|0"]),
            ("c1", 54, SEQ[53], (alt_of(53),), ["1|1"]),
        ],
    )
    w0 = src.fetch_window("c1", 0, 100, haplotype=0)
    w1 = src.fetch_window("c1", 0, 100, haplotype=1)
    assert w0.sequence == SEQ[:51] + SEQ[56:100]
    assert statuses(w0) == [(51, "APPLIED"), (54, "OVERLAP")]
    assert w1.sequence == SEQ[:53] + alt_of(53) + SEQ[54:100]


def test_missing_haploid_and_symbolic(fasta: Path, tmp_path: Path) -> None:
    x = alt_of(150)
    src = source(
        fasta,
        tmp_path,
        [
            ("c1", 111, SEQ[110], (alt_of(110),), ["1|.", "1"]),
            ("c1", 121, SEQ[120], ("<DEL>",), ["1|1", "0"]),
            ("c1", 151, SEQ[150], (x, "*"), [".|.", "2"]),
            ("c1", 161, SEQ[160], ("A]c1:10]",), ["0|1", "."]),
        ],
        samples=("S", "H"),
    )
    ws = [src.fetch_window("c1", 100, 200, haplotype=h) for h in range(4)]
    assert statuses(ws[0]) == [(111, "APPLIED"), (121, "SYMBOLIC"), (151, "MISSING_GENOTYPE")]
    assert statuses(ws[1]) == [
        (111, "MISSING_GENOTYPE"),
        (121, "SYMBOLIC"),
        (151, "MISSING_GENOTYPE"),
        (161, "SYMBOLIC"),
    ]
    # haploid calls go on both haplotypes of the sample
    assert ws[2].sequence == ws[3].sequence
    assert statuses(ws[2]) == [(111, "APPLIED"), (151, "SYMBOLIC"), (161, "MISSING_GENOTYPE")]
    assert ws[1].sequence == SEQ[100:200]
    assert src.haplotype_names == ("S:0", "S:1", "H:0", "H:1")


UNPHASED = [
    ("c1", 111, SEQ[110], (alt_of(110),), ["0/1"]),
    ("c1", 121, SEQ[120], (alt_of(120),), ["1/1"]),
]


def test_unphased_het_is_an_error_by_default(fasta: Path, tmp_path: Path) -> None:
    src = source(fasta, tmp_path, UNPHASED)
    with pytest.raises(
        InputError,
        match=r"c1:111 v0 .*unphased heterozygous genotype 0/1 for "
        r"sample 'S'.*unphased='ref', 'alt' or 'skip'",
    ):
        src.fetch_window("c1", 100, 200, haplotype=0)


@pytest.mark.parametrize(
    ("policy", "expect0", "status"),
    [
        ("ref", SEQ[100:120] + alt_of(120) + SEQ[121:200], "UNPHASED_AS_REF"),
        (
            "alt",
            SEQ[100:110] + alt_of(110) + SEQ[111:120] + alt_of(120) + SEQ[121:200],
            "UNPHASED_AS_ALT",
        ),
    ],
)
def test_unphased_policies(fasta: Path, tmp_path: Path, policy, expect0, status) -> None:
    src = source(fasta, tmp_path, UNPHASED, policy=HaplotypePolicy(unphased=policy))
    for h in (0, 1):
        w = src.fetch_window("c1", 100, 200, haplotype=h)
        assert w.sequence == expect0
        assert statuses(w) == [(111, status), (121, "APPLIED")]  # 1/1 needs no phase


def test_unphased_skip_marks_window(fasta: Path, tmp_path: Path) -> None:
    src = source(fasta, tmp_path, UNPHASED, policy=HaplotypePolicy(unphased="skip"))
    w = src.fetch_window("c1", 100, 200, haplotype=1)
    assert w.status == WindowStatus.SKIPPED_HAPLOTYPE and w.sequence == "" and w.n_tokens == 0
    assert (111, "UNPHASED_SKIPPED") in statuses(w)
    assert src.fetch_window("c1", 200, 300, haplotype=1).status == WindowStatus.OK


def test_ref_mismatch_error_and_skip(fasta: Path, tmp_path: Path) -> None:
    bad = OTHER[SEQ[110]]
    recs = [("c1", 111, bad, (OTHER[bad],), ["1|1"])]
    src = source(fasta, tmp_path, recs)
    with pytest.raises(
        InputError,
        match=rf"c1:111 v0 {bad}>.*REF '{bad}' does not match the "
        rf"FASTA .*t.fa \('{SEQ[110]}' at c1:111\).*"
        r"ref_mismatch='skip'",
    ):
        src.fetch_window("c1", 100, 200, haplotype=0)
    src = source(fasta, tmp_path, recs, policy=HaplotypePolicy(ref_mismatch="skip"))
    w = src.fetch_window("c1", 100, 200, haplotype=0)
    assert w.sequence == SEQ[100:200] and statuses(w) == [(111, "REF_MISMATCH")]


def test_policy_validation() -> None:
    with pytest.raises(ConfigError, match="unknown unphased policy 'maybe'"):
        HaplotypePolicy(unphased="maybe")
    with pytest.raises(ConfigError, match="unknown ref_mismatch policy 'fix'"):
        HaplotypePolicy(ref_mismatch="fix")


def test_chr_prefix_mismatch_and_contig_map(tmp_path: Path) -> None:
    fa = write_fasta(tmp_path / "n.fa", {"1": SEQ})
    vcf = write_vcf(
        tmp_path / "c.vcf.gz",
        {"chr1": 300},
        ["S"],
        [("chr1", 111, SEQ[110], (alt_of(110),), ["1|0"])],
    )
    with pytest.raises(
        InputError,
        match=r"no FASTA contig is named as in the VCF \(VCF: 'chr1'; "
        r"FASTA: '1'\).*'chr' prefix.*--contig-map auto \(contig_map: auto in YAML\)",
    ):
        WindowSource(fa, tokenizer="v2", max_tokens=100, vcf_path=vcf)
    expect = SEQ[100:110] + alt_of(110) + SEQ[111:200]
    for cmap in ("auto", {"1": "chr1"}):
        src = WindowSource(fa, tokenizer="v2", max_tokens=100, vcf_path=vcf, contig_map=cmap)
        assert src.fetch_window("1", 100, 200, haplotype=0).sequence == expect
    other = write_vcf(tmp_path / "o.vcf.gz", {"scaffold9": 300}, ["S"], [])
    with pytest.raises(
        InputError, match=r"pass --contig-map FASTA=VCF,\.\.\. \(contig_map in YAML\)"
    ):
        WindowSource(fa, tokenizer="v2", max_tokens=100, vcf_path=other)
    with pytest.raises(ConfigError, match="contig_map must be a mapping, 'auto' or None"):
        WindowSource(fa, tokenizer="v2", max_tokens=100, vcf_path=vcf, contig_map="strip")


def test_vcf_file_errors(fasta: Path, tmp_path: Path) -> None:
    recs = [("c1", 111, SEQ[110], (alt_of(110),), ["1|0"])]
    noidx = write_vcf(tmp_path / "a.vcf.gz", {"c1": 300}, ["S"], recs, index=False)
    with pytest.raises(
        MissingInputError,
        match=r"no index \(.csi or .tbi\).*bcftools index .*"
        r"tabix -p vcf",
    ):
        WindowSource(fasta, tokenizer="v2", max_tokens=100, vcf_path=noidx)
    plain = write_vcf(tmp_path / "b.vcf", {"c1": 300}, ["S"], recs, compress=False)
    with pytest.raises(InputError, match=r"must be BGZF-compressed and indexed.*bgzip"):
        WindowSource(fasta, tokenizer="v2", max_tokens=100, vcf_path=plain)
    with pytest.raises(MissingInputError, match="VCF/BCF file not found"):
        WindowSource(fasta, tokenizer="v2", max_tokens=100, vcf_path=tmp_path / "none.vcf.gz")
    good = write_vcf(tmp_path / "g.vcf.gz", {"c1": 300}, ["S", "T"], [])
    with pytest.raises(
        InputError,
        match=r"unknown sample\(s\) 'X'; the VCF has 2 sample\(s\): "
        r"S, T",
    ):
        WindowSource(fasta, tokenizer="v2", max_tokens=100, vcf_path=good, samples=["S", "X"])
    with pytest.raises(ConfigError, match="chosen twice: S"):
        WindowSource(fasta, tokenizer="v2", max_tokens=100, vcf_path=good, samples=["S", "S"])
    with pytest.raises(ConfigError, match="samples were given without a VCF"):
        WindowSource(fasta, tokenizer="v2", max_tokens=100, samples=["S"])


def test_sample_order_follows_request(fasta: Path, tmp_path: Path) -> None:
    src = source(
        fasta, tmp_path, [("c1", 111, SEQ[110], (alt_of(110),), ["1|1", "0|0"])], samples=("S", "T")
    )
    rev = WindowSource(
        fasta, tokenizer="v2", max_tokens=100, vcf_path=src.vcf.path, samples=["T", "S"]
    )
    assert rev.haplotype_names == ("T:0", "T:1", "S:0", "S:1")
    assert rev.fetch_window("c1", 100, 200, haplotype=0).n_variants == 0
    assert rev.fetch_window("c1", 100, 200, haplotype=2).n_variants == 1


def test_haplotype_token_budget_cuts_end(fasta: Path, tmp_path: Path) -> None:
    # 120 bp = 20 6-mers + CLS = 21 tokens; one inserted base makes 121 bp = 22 tokens
    vcf = write_vcf(
        tmp_path / "v.vcf.gz",
        {"c1": 300},
        ["S"],
        [
            ("c1", 61, SEQ[60], (SEQ[60] + "A",), ["1|0"]),
            ("c1", 120, SEQ[119], (alt_of(119),), ["1|0"]),
        ],
    )
    src = WindowSource(fasta, tokenizer="v2", max_tokens=21, vcf_path=vcf)
    w = src.fetch_window("c1", 0, 120, haplotype=0)
    assert w.status == WindowStatus.SHRUNK_TO_TOKEN_BUDGET
    assert len(w.sequence) == 120 and w.n_tokens == 21 and w.end == 119
    assert w.sequence == SEQ[:61] + "A" + SEQ[61:119]
    assert statuses(w) == [(61, "APPLIED"), (120, "CUT_BY_TOKEN_BUDGET")]
    assert w.n_variants == 1
    ref = src.fetch_window("c1", 0, 120)
    assert ref.status == WindowStatus.OK and ref.n_tokens == 21


def test_plan_rows_match_single_windows_and_check_names(fasta: Path, tmp_path: Path) -> None:
    src = source(
        fasta,
        tmp_path,
        [("c1", 141, SEQ[140:145], (SEQ[140],), ["1|0", "0|1"])],
        samples=("S", "T"),
    )
    plan = plan_windows(src.contigs, window_bp=100, strands=("+", "-"))
    hp = with_haplotypes(plan, 4, src.haplotype_names)
    rows = src.fetch_rows(hp, np.arange(hp.n_windows))
    for i, w in enumerate(rows):
        one = src.fetch_window(
            "c1",
            int(hp.start[i]),
            int(hp.end[i]),
            strand="-" if hp.strand[i] else "+",
            haplotype=int(hp.haplotype[i]),
        )
        assert w.sequence == one.sequence and w.status == one.status
    assert [w.n_variants for w in rows[8:16]] == [1, 0, 0, 1, 1, 0, 0, 1]
    wrong = with_haplotypes(plan, 4, ("a:0", "a:1", "b:0", "b:1"))
    with pytest.raises(ConfigError, match="haplotype names differ"):
        src.fetch_rows(wrong, np.arange(4))
    ref_only = WindowSource(fasta, tokenizer="v2", max_tokens=100)
    with pytest.raises(ConfigError, match="haplotype rows but the WindowSource has no VCF"):
        ref_only.fetch_rows(hp, np.arange(4))


def test_single_breakends_are_symbolic_not_sequence(fasta: Path, tmp_path: Path) -> None:
    """`G.` and `.G` (VCF single breakends) must not be applied as bases."""
    src = source(
        fasta,
        tmp_path,
        [
            ("c1", 131, SEQ[130], (SEQ[130] + ".",), ["1|0"]),
            ("c1", 141, SEQ[140], ("." + SEQ[140],), ["0|1"]),
        ],
    )
    w0 = src.fetch_window("c1", 100, 200, haplotype=0)
    w1 = src.fetch_window("c1", 100, 200, haplotype=1)
    assert w0.sequence == w1.sequence == SEQ[100:200]
    assert statuses(w0) == [(131, "SYMBOLIC")]
    assert statuses(w1) == [(141, "SYMBOLIC")]
