"""Gap-aware planning covers every real base: plan-level tests with real sequence fetching.

Each test plans windows, fetches every row with the real WindowSource (pysam, tokenizer,
token budget) and measures coverage twice: with `compute_coverage` and with an
independent per-base boolean mask, which must agree.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_fasta, write_vcf

from ntscale.genome import WindowSource, plan_windows, with_haplotypes
from ntscale.genome.coverage import compute_coverage
from ntscale.genome.gaps import load_gap_index
from ntscale.genome.tiling import nfree_tokens
from ntscale.types import WindowStatus

RUN_LENGTHS = (1, 5, 6, 100, 5_000, 50_000)


def fetch_all(src: WindowSource, plan) -> dict[str, np.ndarray]:
    rows = src.fetch_rows(plan, np.arange(plan.n_windows))
    return {
        "end": np.array([r.end for r in rows], np.int64),
        "status": np.array([int(r.status) for r in rows], np.int64),
        "n_tokens": np.array([r.n_tokens for r in rows], np.int64),
        "has_n": np.array([any(c not in "ACGTacgt" for c in r.sequence) for r in rows]),
        "seqs": [r.sequence for r in rows],
    }


def coverage_of(plan, got) -> dict:
    return compute_coverage(
        plan,
        contig_index=plan.contig_index,
        start=plan.start,
        end=got["end"],
        strand=plan.strand,
        haplotype=plan.haplotype,
        status=got["status"],
    )


def mask_coverage(fasta: Path, plan, got) -> tuple[int, int]:
    """(real bases covered, real bases) summed over tracks, base by base (no intervals)."""
    import pysam

    covered = real = 0
    tracks = sorted(set(zip(plan.strand.tolist(), plan.haplotype.tolist(), strict=True)))
    with pysam.FastaFile(str(fasta)) as fh:
        for ci in np.unique(plan.contig_index).tolist():  # the contigs that were planned
            name = plan.contigs[ci]
            seq = np.frombuffer(fh.fetch(name).upper().encode(), np.uint8)
            is_real = np.isin(seq, np.frombuffer(b"ACGT", np.uint8))
            for strand, hap in tracks:
                hit = np.zeros(seq.size, bool)
                rows = np.flatnonzero(
                    (plan.contig_index == ci)
                    & (plan.strand == strand)
                    & (plan.haplotype == hap)
                    & np.isin(got["status"], (0, 1))
                )
                for r in rows.tolist():
                    hit[plan.start[r] : got["end"][r]] = True
                covered += int((hit & is_real).sum())
                real += int(is_real.sum())
    return covered, real


@pytest.fixture(scope="module")
def gappy_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """N runs of 1, 5, 6, 100, 5,000 and 50,000 bp at every offset modulo 6, mid-contig,
    at both contig ends and a few bp from them; plus short contigs."""
    rng = random.Random(7)
    contigs: dict[str, str] = {}
    seed = 0
    for n in RUN_LENGTHS:
        for off in range(6):
            seed += 1
            left, right = 700 + off, 611 + (5 - off)
            mid = random_seq(left, seed) + "N" * n + random_seq(right, seed + 1000)
            contigs[f"mid_{n}_{off}"] = mid
        edge = random_seq(400 + rng.randrange(6), seed + 2000)
        contigs[f"lead_{n}"] = "N" * n + edge
        contigs[f"trail_{n}"] = edge + "N" * n
        contigs[f"near_{n}"] = random_seq(3, seed + 3000) + "N" * n + edge + "n" * n + "AC"
    contigs["tiny_real"] = "ACG"
    contigs["all_n"] = "N" * 50
    contigs["iupac"] = random_seq(300, 99) + "R" + random_seq(200, 98) + "YKM" + random_seq(77, 97)
    return write_fasta(tmp_path_factory.mktemp("gappy") / "gappy.fa", contigs)


@pytest.mark.parametrize(
    ("max_tokens", "window_bp", "stride_bp", "last_window"),
    [
        (50, 294, 294, "shift"),  # the model's maximum, no overlap
        (50, 294, 100, "shift"),  # overlapping windows
        (50, 293, 293, "truncate"),  # not a multiple of 6, short last windows
        (2048, 12_282, 12_282, "shift"),  # NT-v2's maximum: most pieces are one window
    ],
)
def test_gap_aware_plan_covers_every_real_base(
    gappy_fasta, max_tokens, window_bp, stride_bp, last_window
):
    src = WindowSource(gappy_fasta, tokenizer="v2", max_tokens=max_tokens)
    gaps = load_gap_index(src.fasta)
    plan = plan_windows(
        src.contigs,
        window_bp=window_bp,
        stride_bp=stride_bp,
        strands=("+", "-"),
        last_window=last_window,
        gaps=gaps,
        max_tokens=max_tokens,
    )
    got = fetch_all(src, plan)
    # Every window is N-free, fits the model unshrunk, and is embedded.
    assert not got["has_n"].any()
    assert (got["status"] == WindowStatus.OK).all()
    assert (got["n_tokens"] <= max_tokens).all()
    np.testing.assert_array_equal(got["end"], plan.end)
    np.testing.assert_array_equal(got["n_tokens"], nfree_tokens(plan.end - plan.start))
    # Full-length windows wherever the N-free piece is long enough.
    lengths = plan.end - plan.start
    assert (lengths <= window_bp).all()
    cov = coverage_of(plan, got)
    assert cov["fraction_covered"] == 1.0 and cov["uncovered"] == []
    assert cov["real_bases_covered"] == cov["real_bases_total"] == 2 * cov["real_bases_requested"]
    covered, real = mask_coverage(gappy_fasta, plan, got)
    assert (covered, real) == (cov["real_bases_covered"], cov["real_bases_total"])
    assert cov["n_bases_requested"] == gaps.total_n_bases()


def test_issue_example_700_n_then_1500_bp(tmp_path):
    """The issue's case: 700 N + 1,500 bp, --window 294 --stride 294 on a 50-token model."""
    fasta = write_fasta(tmp_path / "a.fa", {"c": "N" * 700 + random_seq(1500, 3)})
    src = WindowSource(fasta, tokenizer="v2", max_tokens=50)
    kw = {"window_bp": 294, "stride_bp": 294, "max_tokens": 50}
    blind = plan_windows(src.contigs, **kw)
    got = fetch_all(src, blind)
    cov = coverage_of(blind, got)
    # Without the N-run index the window [588, 882) is all N after the shrink: 182 bp lost,
    # and the coverage record says so (it counts N as requested real bases, it cannot know).
    assert got["status"][2] == WindowStatus.SKIPPED_ALL_N and got["end"][2] == 637
    assert cov["uncovered_by_reason"] == {"SKIPPED_ALL_N": 882}
    # With the N-run index but tiling blindly (--no-gap-aware): the 182 real bp are lost.
    gaps = load_gap_index(src.fasta)
    blind = plan_windows(src.contigs, gaps=gaps, gap_aware=False, **kw)
    cov = coverage_of(blind, fetch_all(src, blind))
    assert cov["uncovered_by_reason"] == {"SKIPPED_ALL_N": 182} and not cov["gap_aware"]
    assert cov["uncovered"] == [
        {"contig": "c", "start": 700, "end": 882, "track": "+", "reason": "SKIPPED_ALL_N"}
    ]
    aware = plan_windows(src.contigs, gaps=gaps, **kw)
    assert aware.start[0] == 700 and aware.end[-1] == 2200
    cov = coverage_of(aware, fetch_all(src, aware))
    assert (cov["real_bases_covered"], cov["n_bases_requested"]) == (1500, 700)


def test_windows_never_start_or_end_inside_a_run(gappy_fasta):
    src = WindowSource(gappy_fasta, tokenizer="v2", max_tokens=50)
    gaps = load_gap_index(src.fasta)
    plan = plan_windows(src.contigs, window_bp=294, gaps=gaps, max_tokens=50)
    for ci, name in enumerate(plan.contigs):
        runs = gaps.contig_runs(name)
        rows = plan.contig_index == ci
        for s, e in runs.tolist():
            assert not ((plan.start[rows] >= s) & (plan.start[rows] < e)).any()
            assert not ((plan.end[rows] > s) & (plan.end[rows] <= e)).any()
            assert not ((plan.start[rows] < s) & (plan.end[rows] > e)).any()


def test_regions_and_drop_policy_report_their_holes(gappy_fasta):
    from ntscale.types import Region

    src = WindowSource(gappy_fasta, tokenizer="v2", max_tokens=50)
    gaps = load_gap_index(src.fasta)
    # 700 N then the contig's last 616 real bp: drop leaves 616 - 2*294 = 28 bp out.
    region = Region("mid_5000_0", 5_000, 6_316)
    plan = plan_windows(
        src.contigs, window_bp=294, regions=[region], gaps=gaps, max_tokens=50, last_window="drop"
    )
    cov = coverage_of(plan, fetch_all(src, plan))
    assert cov["bases_requested"] == 1_316 and cov["n_bases_requested"] == 700
    assert cov["uncovered_bp"] == 28
    assert cov["uncovered"] == [
        {
            "contig": "mid_5000_0",
            "start": 6_288,
            "end": 6_316,
            "track": "+",
            "reason": "last_window=drop left the contig end out",
        }
    ]


@pytest.fixture(scope="module")
def indel_vcf(gappy_fasta: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Insertions, deletions and SNVs next to N-run edges and inside windows."""
    import pysam

    with pysam.FastaFile(str(gappy_fasta)) as fh:
        seqs = {n: fh.fetch(n) for n in fh.references}
    recs = []
    for name in ("mid_100_0", "mid_100_3", "mid_5000_5", "lead_6"):
        seq = seqs[name]
        edges = [i for i in range(1, len(seq)) if (seq[i] == "N") != (seq[i - 1] == "N")]
        for k, edge in enumerate(edges):
            for pos0 in (edge - 3, edge + 2):
                if 0 < pos0 < len(seq) - 5 and "N" not in seq[pos0 - 1 : pos0 + 3]:
                    ref = seq[pos0]
                    if k % 2:
                        recs.append((name, pos0 + 1, seq[pos0 : pos0 + 3], (ref,), ["0|1"]))
                    else:
                        recs.append((name, pos0 + 1, ref, (ref + "ACGTACG",), ["1|0"]))
        recs.append((name, len(seq) - 40, seq[len(seq) - 41], ("A" if seq[-41] != "A" else "C",),
                     ["1|1"]))  # fmt: skip
    recs.sort(key=lambda r: (list(seqs).index(r[0]), r[1]))
    lengths = {n: len(s) for n, s in seqs.items()}
    return write_vcf(tmp_path_factory.mktemp("vcf") / "indels.vcf", lengths, ["S1"], recs)


def test_haplotype_windows_cover_every_real_base(gappy_fasta, indel_vcf):
    from ntscale.genome import default_window_bp

    src = WindowSource(gappy_fasta, tokenizer="v2", max_tokens=50, vcf_path=indel_vcf)
    gaps = load_gap_index(src.fasta)
    names = ["mid_100_0", "mid_100_3", "mid_5000_5", "lead_6"]
    window_bp = default_window_bp(50, reserve_tokens=5)
    plan = plan_windows(
        src.contigs, window_bp=window_bp, include=names, strands=("+", "-"), gaps=gaps,
        max_tokens=50,
    )  # fmt: skip
    plan = with_haplotypes(plan, len(src.haplotype_names), src.haplotype_names)
    got = fetch_all(src, plan)
    assert (got["status"] == WindowStatus.OK).all()
    assert not got["has_n"].any()
    cov = coverage_of(plan, got)
    assert cov["tracks"] == 4  # 2 haplotypes x 2 strands
    assert cov["fraction_covered"] == 1.0
    covered, real = mask_coverage(gappy_fasta, plan, got)
    assert (covered, real) == (cov["real_bases_covered"], cov["real_bases_total"])
    # the indels were applied: some haplotype window differs in length from its reference
    lengths = np.array([len(s) for s in got["seqs"]])
    assert (lengths != plan.end - plan.start).any()


def test_shrunk_haplotype_tail_is_recorded(gappy_fasta, indel_vcf):
    """Planned without the VCF's insertion sites, a window whose insertions push it over the
    budget is shrunk; its tail is an uncovered interval with the reason, not a silent loss."""
    src = WindowSource(gappy_fasta, tokenizer="v2", max_tokens=50, vcf_path=indel_vcf)
    plan = plan_windows(
        src.contigs, window_bp=294, include=["mid_100_0"], gaps=load_gap_index(src.fasta),
        max_tokens=50,
    )  # fmt: skip
    plan = with_haplotypes(plan, len(src.haplotype_names), src.haplotype_names)
    got = fetch_all(src, plan)
    assert (got["status"] == WindowStatus.SHRUNK_TO_TOKEN_BUDGET).any()
    cov = coverage_of(plan, got)
    reasons = set(cov["uncovered_by_reason"])
    assert reasons == {"SHRUNK_TO_TOKEN_BUDGET: the window's tail was cut to fit the tokens"}
    covered, real = mask_coverage(gappy_fasta, plan, got)
    assert (covered, real) == (cov["real_bases_covered"], cov["real_bases_total"])
    assert cov["uncovered_bp"] == real - covered > 0


def test_insertion_aware_plan_leaves_no_haplotype_tail(gappy_fasta, indel_vcf):
    """The same case planned with the VCF's insertion sites: the windows over insertions are
    split at plan time, nothing is shrunk, every real base of every haplotype is covered."""
    from ntscale.genome.hap_budget import insertion_sites

    src = WindowSource(gappy_fasta, tokenizer="v2", max_tokens=50, vcf_path=indel_vcf)
    names = ["mid_100_0", "mid_100_3", "mid_5000_5", "lead_6"]
    sites = insertion_sites(indel_vcf, names, {n: n for n in names})
    # mid_100_0: a 7 bp insertion on haplotype S1:0 before its N run, a 2 bp deletion on
    # S1:1 after it: (starts, bp added per haplotype, bp removed per haplotype)
    pos, ins, dels = sites["mid_100_0"]
    assert (pos.tolist(), ins.tolist(), dels.tolist()) == (
        [697, 802], [[7, 0], [0, 0]], [[0, 0], [0, 2]],
    )  # fmt: skip
    kw = {"window_bp": 294, "include": names, "strands": ("+", "-"), "max_tokens": 50}
    gaps = load_gap_index(src.fasta)
    blind = plan_windows(src.contigs, gaps=gaps, **kw)
    plan = plan_windows(src.contigs, gaps=gaps, insertions=sites, **kw)
    assert plan.summary.n_split_for_insertions > 0
    # Only windows with an insertion nearby got shorter: most keep the full 294 bp.
    assert plan.n_windows < 2 * blind.n_windows
    assert (
        np.count_nonzero(plan.end - plan.start == 294)
        >= np.count_nonzero(blind.end - blind.start == 294)
        - 2 * plan.summary.n_split_for_insertions
    )
    plan = with_haplotypes(plan, len(src.haplotype_names), src.haplotype_names)
    got = fetch_all(src, plan)
    assert (got["status"] == WindowStatus.OK).all()
    assert (got["n_tokens"] <= 50).all()
    cov = coverage_of(plan, got)
    assert cov["fraction_covered"] == 1.0 and cov["tracks"] == 4
    covered, real = mask_coverage(gappy_fasta, plan, got)
    assert covered == real == cov["real_bases_total"]


def test_holes_name_their_reason(tmp_path):
    """Stride gaps and windows skipped by the unphased policy are listed with their reason."""
    from ntscale.genome import HaplotypePolicy

    seq = random_seq(1_000, 11)
    fasta = write_fasta(tmp_path / "s.fa", {"c": seq})
    alt = "A" if seq[449] != "A" else "C"
    record = ("c", 450, seq[449], (alt,), ["0/1"])  # unphased het at 0-based 449
    vcf = write_vcf(tmp_path / "u.vcf", {"c": 1_000}, ["S1"], [record])
    src = WindowSource(
        fasta, tokenizer="v2", max_tokens=50, vcf_path=vcf,
        policy=HaplotypePolicy(unphased="skip"),
    )  # fmt: skip
    gaps = load_gap_index(src.fasta)
    plan = plan_windows(src.contigs, window_bp=240, stride_bp=300, gaps=gaps, max_tokens=50)
    plan = with_haplotypes(plan, len(src.haplotype_names), src.haplotype_names)
    got = fetch_all(src, plan)
    cov = coverage_of(plan, got)
    # windows [0,240) [300,540) [600,840) [760,1000) (shifted last); stride leaves 240-300,
    # 540-600 out; the unphased het at 449 skips [300,540) on both haplotypes of S1.
    assert cov["uncovered_by_reason"] == {
        "stride (300 bp) > window (240 bp)": 2 * (60 + 60),
        "SKIPPED_HAPLOTYPE": 2 * 240,
    }
    assert cov["n_uncovered_intervals"] == 2 * 3  # per haplotype
    holes = {(h["start"], h["end"], h["reason"][:5]) for h in cov["uncovered"]}
    assert holes == {(240, 300, "strid"), (300, 540, "SKIPP"), (540, 600, "strid")}
