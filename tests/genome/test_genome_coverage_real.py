"""100% of real bases covered on real genomes: the bundled chr20 slice, C. elegans, and a
synthetic FASTA with the length and the N runs of real chromosome 20 (tests/data/coverage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest
from test_genome_coverage import coverage_of, fetch_all, mask_coverage

from ntscale.genome import WindowSource, default_window_bp, plan_windows
from ntscale.genome.gaps import load_gap_index
from ntscale.types import WindowStatus

CHR20_LENGTH = 63_025_520


@pytest.mark.parametrize(
    ("max_tokens", "window_bp", "stride_bp"),
    [(2048, 12_282, 12_282), (2048, 12_282, 6_000), (1000, 5_994, 5_994)],
)
def test_bundled_chr20_slice(example_fasta, max_tokens, window_bp, stride_bp):
    src = WindowSource(example_fasta, tokenizer="v2", max_tokens=max_tokens)
    gaps = load_gap_index(src.fasta)
    assert gaps.contig_runs("20").tolist() == [[0, 60_000]]
    plan = plan_windows(
        src.contigs, window_bp=window_bp, stride_bp=stride_bp, strands=("+", "-"), gaps=gaps,
        max_tokens=max_tokens,
    )  # fmt: skip
    got = fetch_all(src, plan)
    assert (got["status"] == WindowStatus.OK).all()
    cov = coverage_of(plan, got)
    assert cov["n_bases_requested"] == 60_000
    assert cov["real_bases_covered"] == cov["real_bases_total"] == 2 * 1_940_000
    assert plan.start[0] == 60_000 and plan.end[-1] == 2_000_000


def test_c_elegans(ce_fasta):
    src = WindowSource(ce_fasta, tokenizer="v2", max_tokens=2048)
    plan = plan_windows(
        src.contigs, window_bp=12_282, strands=("+", "-"), gaps=load_gap_index(src.fasta),
        max_tokens=2048,
    )  # fmt: skip
    got = fetch_all(src, plan)
    assert (got["status"] == WindowStatus.OK).all()
    cov = coverage_of(plan, got)
    assert cov["fraction_covered"] == 1.0 and cov["uncovered"] == []
    assert cov["bases_requested"] == 1_039_800
    covered, real = mask_coverage(ce_fasta, plan, got)
    assert (covered, real) == (cov["real_bases_covered"], cov["real_bases_total"])


@pytest.fixture(scope="module")
def chr20_like(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plain FASTA of contig '20' with real chr20's length and N runs; random ACGT elsewhere
    (64 MB under tmp; plain, because BGZF-compressing it would take most of the test)."""
    bed = repo_root / "tests" / "data" / "coverage" / "chr20_nruns.bed"
    runs = np.loadtxt(bed, dtype=np.int64, usecols=(1, 2), ndmin=2)
    rng = np.random.default_rng(20)
    block = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 1 << 20)]
    seq = np.resize(block, CHR20_LENGTH)
    for s, e in runs:
        seq[s:e] = ord("N")
    width = 60
    n_full = CHR20_LENGTH // width
    lines = np.full((n_full, width + 1), ord("\n"), np.uint8)
    lines[:, :width] = seq[: n_full * width].reshape(n_full, width)
    plain = tmp_path_factory.mktemp("chr20") / "chr20_like.fa"
    with open(plain, "wb") as fh:
        fh.write(b">20\n")
        fh.write(lines.tobytes())
        rest = seq[n_full * width :].tobytes()
        fh.write(rest + b"\n" if rest else b"")
    pysam.faidx(str(plain))
    return plain


def test_chr20_length_and_n_runs(chr20_like, repo_root):
    """Whole chr20-sized contig, NT-v2 haplotype-safe default window, both strands."""
    src = WindowSource(chr20_like, tokenizer="v2", max_tokens=2048)
    gaps = load_gap_index(src.fasta)
    bed = repo_root / "tests" / "data" / "coverage" / "chr20_nruns.bed"
    want = np.loadtxt(bed, dtype=np.int64, usecols=(1, 2), ndmin=2)
    np.testing.assert_array_equal(gaps.contig_runs("20"), want)
    window_bp = default_window_bp(2048)
    plan = plan_windows(
        src.contigs, window_bp=window_bp, strands=("+", "-"), gaps=gaps, max_tokens=2048
    )
    # Every window is N-free and full length except one short window per piece end at most.
    pieces = len(want) - 1  # runs at both contig ends: one N-free piece between two runs
    assert np.count_nonzero(plan.end - plan.start < window_bp) <= 2 * pieces
    # Fetch only the windows next to a gap edge (the full fetch is the same code path).
    edges = np.unique(want.ravel())
    near = np.flatnonzero(np.isin(plan.start, edges) | np.isin(plan.end, edges))
    assert near.size >= 2 * (2 * pieces)
    rows = src.fetch_rows(plan, near)
    assert all(r.status == WindowStatus.OK and "N" not in r.sequence for r in rows)
    cov = coverage_of(plan, {"end": plan.end, "status": np.zeros(plan.n_windows, np.int64)})
    assert cov["n_bases_requested"] == 3_520_000
    assert cov["real_bases_covered"] == cov["real_bases_total"] == 2 * (CHR20_LENGTH - 3_520_000)
