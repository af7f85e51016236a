"""WindowSource on real data: chr20 haplotypes vs independent routes, token budget, pickling."""

from __future__ import annotations

import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pysam
import pysam.bcftools
import pytest
from genome_helpers import random_seq, write_fasta

from ntscale.errors import MissingInputError
from ntscale.genome import (
    VariantReader,
    VariantStatus,
    WindowSource,
    plan_windows,
    vcf_samples,
    with_haplotypes,
)
from ntscale.tokenizer import get_tokenizer, reverse_complement
from ntscale.types import Region, Strand, WindowStatus

SAMPLES = ("HG00096", "HG00097", "HG00099", "HG00100")
R0, R1 = 1_000_000, 1_150_000  # region of the haplotype comparisons


@pytest.fixture(scope="module")
def hap_rows(example_fasta: Path, example_vcf: Path):
    src = WindowSource(example_fasta, tokenizer="v2", max_tokens=10**9, vcf_path=example_vcf)
    plan = plan_windows(
        src.contigs, window_bp=12_282, regions=[Region("20", R0, R1)], last_window="truncate"
    )
    hp = with_haplotypes(plan, len(src.haplotype_names), src.haplotype_names)
    rows = src.fetch_rows(hp, np.arange(hp.n_windows))
    return src, hp, rows


def _whole(rows, h: int, n_haps: int) -> str:
    return "".join(w.sequence for w in rows[h::n_haps])


def _python_consensus(fasta: Path, vcf: Path, sample: str, hap: int) -> str:
    """Independent route: pysam records, left to right, skip records overlapping the last."""
    ref = pysam.FastaFile(str(fasta)).fetch("20", R0, R1)
    out, cur = [], R0
    with pysam.VariantFile(str(vcf)) as v:
        v.subset_samples([sample])
        for rec in v.fetch("20", R0, R1):
            allele = rec.samples[sample]["GT"][hap]
            if not R0 <= rec.start < R1 or not allele or rec.start < cur:
                continue
            assert rec.stop <= R1  # no record crosses the region end here
            out += [ref[cur - R0 : rec.start - R0], rec.alts[allele - 1]]
            cur = rec.stop
    return "".join(out) + ref[cur - R0 :]


def test_example_samples_and_pinned_counts(hap_rows) -> None:
    src, hp, rows = hap_rows
    assert src.vcf.samples == SAMPLES
    assert hp.n_windows == 13 * 8  # 150 kb in 12,282 bp windows (last truncated) x 8 haps
    assert sum(w.n_variants for w in rows) == 1229  # = ALT alleles in the region (pysam count)
    assert all(w.status == WindowStatus.OK for w in rows)


def test_haplotypes_match_plain_python_route(hap_rows, example_fasta, example_vcf) -> None:
    src, hp, rows = hap_rows
    for h, name in enumerate(src.haplotype_names):
        sample, hap = name.split(":")
        assert _whole(rows, h, 8) == _python_consensus(
            example_fasta, example_vcf, sample, int(hap)
        ), name


def test_haplotypes_match_bcftools_consensus(
    hap_rows, example_fasta, example_vcf, tmp_path: Path
) -> None:
    """bcftools consensus (htslib's own code, as shipped inside pysam) on the same region."""
    src, hp, rows = hap_rows
    region_fa = tmp_path / "region.fa"
    pysam.faidx(str(example_fasta), f"20:{R0 + 1}-{R1}", "-o", str(region_fa))
    for h, name in enumerate(src.haplotype_names):
        sample, hap = name.split(":")
        out = pysam.bcftools.consensus(
            "-H", str(int(hap) + 1), "-s", sample, "-f", str(region_fa), str(example_vcf)
        )
        assert _whole(rows, h, 8) == "".join(out.splitlines()[1:]), name


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="no bcftools binary installed")
def test_haplotypes_match_bcftools_binary(
    hap_rows, example_fasta, example_vcf, tmp_path: Path
) -> None:
    src, hp, rows = hap_rows
    region_fa = tmp_path / "region.fa"
    pysam.faidx(str(example_fasta), f"20:{R0 + 1}-{R1}", "-o", str(region_fa))
    out = subprocess.run(
        [
            "bcftools",
            "consensus",
            "-H",
            "1",
            "-s",
            "HG00096",
            "-f",
            str(region_fa),
            str(example_vcf),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _whole(rows, 0, 8) == "".join(out.splitlines()[1:])


def test_coordinate_map_invariants(hap_rows, example_fasta) -> None:
    src, hp, rows = hap_rows
    fa = pysam.FastaFile(str(example_fasta))
    for i, w in enumerate(rows):
        start, end = int(hp.start[i]), int(hp.end[i])
        ref = fa.fetch("20", start, end)
        cm = w.coord_map
        assert len(cm) == len(w.sequence)
        mapped = cm[cm >= 0]
        assert np.all(np.diff(mapped) > 0) and mapped.min() >= start and mapped.max() < end
        applied = [
            o
            for o in w.variants
            if o.status in (VariantStatus.APPLIED, VariantStatus.APPLIED_CLIPPED)
        ]
        spans = [(o.record.start, o.record.end) for o in applied]
        inserted = int(np.count_nonzero(cm < 0))
        deleted = (end - start) - mapped.size
        net = sum(len(o.record.alts[o.allele - 1]) - len(o.record.ref) for o in applied)
        assert inserted - deleted == net == len(w.sequence) - (end - start)
        # every base that differs from the reference lies inside an applied variant
        seq = np.frombuffer(w.sequence.encode(), np.uint8)
        refa = np.frombuffer(ref.encode(), np.uint8)
        idx = np.flatnonzero(cm >= 0)
        for k in idx[seq[idx] != refa[cm[idx] - start]]:
            assert any(s <= cm[k] < e for s, e in spans)


def test_overlapping_windows_are_slices_of_the_whole(example_fasta, example_vcf) -> None:
    src = WindowSource(
        example_fasta, tokenizer="v2", max_tokens=10**9, vcf_path=example_vcf, samples=["HG00097"]
    )
    whole = src.fetch_window("20", R0, R0 + 40_000, haplotype=1)
    anchor = np.maximum.accumulate(whole.coord_map)  # inserted bases take the base before
    plan = plan_windows(
        src.contigs,
        window_bp=6_000,
        stride_bp=2_500,
        last_window="truncate",
        regions=[Region("20", R0, R0 + 40_000)],
    )
    for i in range(plan.n_windows):
        s, e = int(plan.start[i]), int(plan.end[i])
        w = src.fetch_window("20", s, e, haplotype=1)
        keep = (anchor >= s) & (anchor < e)
        assert w.sequence == "".join(np.array(list(whole.sequence))[keep])


def test_reader_real_vcf_with_bad_ac_header(chr20_dir: Path) -> None:
    reader = VariantReader(
        chr20_dir / "reference.vcf.gz", samples=["HG00096"], fasta_contigs=["20"]
    )
    v = reader.query("20", 1_000_000, 1_010_000)
    assert len(v.records) == 76
    assert v.gt.shape == (76, 1, 2) and v.phased.all()
    assert v.records[0].pos1 == 1_000_226 and v.records[0].start == 1_000_225
    assert str(v.records[0]) == "20:1000226 rs376678365 A>T"
    assert len(reader.query("20", 0, 500_000).records) == 0


def test_all_n_window_is_skipped(example_fasta: Path) -> None:
    src = WindowSource(example_fasta, tokenizer="v2", max_tokens=2048)
    w = src.fetch_window("20", 0, 12_282)
    assert w.status == WindowStatus.SKIPPED_ALL_N
    assert (w.sequence, w.n_tokens, w.frac_n) == ("", 0, 1.0)
    # a leading N run that uses up the whole budget: skipped, with the shrunk end recorded
    w = src.fetch_window("20", 55_000, 67_282)
    assert w.status == WindowStatus.SKIPPED_ALL_N and w.end == 57_047


def test_n_run_shrinks_window_end(example_fasta: Path) -> None:
    src = WindowSource(example_fasta, tokenizer="v2", max_tokens=2048)
    tok = get_tokenizer("v2")
    fa = pysam.FastaFile(str(example_fasta))
    assert tok.count_tokens(fa.fetch("20", 59_000, 71_282)) == 2883  # 1,000 N overflow
    w = src.fetch_window("20", 59_000, 71_282)
    assert w.status == WindowStatus.SHRUNK_TO_TOKEN_BUDGET
    assert w.end == 66_282 and w.n_tokens == 2048
    assert w.sequence == fa.fetch("20", 59_000, 66_282)
    assert w.n_tokens == tok.count_tokens(w.sequence)
    assert tok.count_tokens(fa.fetch("20", 59_000, 66_288)) > 2048
    assert w.frac_n == pytest.approx(1_000 / 7_282)
    r = src.fetch_window("20", 59_000, 71_282, strand="-")
    assert r.sequence == reverse_complement(w.sequence) and r.end == 66_282
    assert r.n_tokens == 2048
    ok = src.fetch_window("20", 60_000, 72_282)
    assert ok.status == WindowStatus.OK and ok.n_tokens == 2048 and ok.frac_n == 0.0


def test_internal_n_run_shrink_pinned(tmp_path: Path) -> None:
    seq = random_seq(3_000, 2) + "N" * 100 + random_seq(3_000, 3)
    fa = write_fasta(tmp_path / "n.fa", {"n": seq})
    src = WindowSource(fa, tokenizer="v1", max_tokens=1_001)
    w = src.fetch_window("n", 0, 6_000)
    # CLS + 500 6-mers + 100 N leave 400 tokens: 2,400 bp more
    assert (w.status, w.end, w.n_tokens) == (WindowStatus.SHRUNK_TO_TOKEN_BUDGET, 5_500, 1_001)
    plan = plan_windows(src.contigs, window_bp=6_000, strands=("+", "-"))
    rows = src.fetch_rows(plan, np.arange(plan.n_windows))
    # the shifted last window [100, 6100) holds the N run too:
    # CLS + (483 6-mers + 2 letters) + 100 N leave 415 tokens: 2,490 bp after the run
    assert [r.status for r in rows] == [WindowStatus.SHRUNK_TO_TOKEN_BUDGET] * 4
    assert [r.end for r in rows] == [5_500, 5_500, 5_590, 5_590]
    assert all(r.n_tokens == 1_001 for r in rows)
    assert plan.strand[1] == Strand.REVERSE
    assert rows[1].sequence == reverse_complement(rows[0].sequence)


def test_window_source_pickles_and_reopens(example_fasta, example_vcf) -> None:
    src = WindowSource(
        example_fasta, tokenizer="v2", max_tokens=2048, vcf_path=example_vcf, samples=["HG00099"]
    )
    plan = plan_windows(
        src.contigs, window_bp=12_282, regions=[Region("20", R0, R0 + 30_000)], strands=("+", "-")
    )
    hp = with_haplotypes(plan, 2, src.haplotype_names)
    before = src.fetch_rows(hp, np.arange(hp.n_windows))  # opens pysam and cyvcf2 handles
    clone = pickle.loads(pickle.dumps(src))
    after = clone.fetch_rows(hp, np.arange(hp.n_windows))
    assert [w.sequence for w in after] == [w.sequence for w in before]
    assert [w.n_tokens for w in after] == [w.n_tokens for w in before]
    assert [w.status for w in after] == [w.status for w in before]


def test_vcf_samples(example_vcf: Path, tmp_path: Path) -> None:
    assert vcf_samples(example_vcf) == SAMPLES
    assert vcf_samples(example_vcf, ["HG00100", "HG00096"]) == ("HG00100", "HG00096")
    with pytest.raises(MissingInputError, match="VCF/BCF file not found"):
        vcf_samples(tmp_path / "x.vcf.gz")
