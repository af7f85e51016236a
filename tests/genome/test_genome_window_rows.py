"""WindowSource rows (genome/source.py): strands, soft masking, N budget, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_fasta, write_vcf

from ntscale.errors import ConfigError
from ntscale.genome import WindowSource, plan_windows, with_haplotypes
from ntscale.tokenizer import reverse_complement
from ntscale.types import WindowStatus

# 60 random bases, 12 soft-masked, 20 N, 48 random: 140 bp
HEAD = random_seq(60, seed=21)
TAIL = random_seq(48, seed=22)
SEQ = HEAD + "acgtac" * 2 + "N" * 20 + TAIL


@pytest.fixture
def fasta(tmp_path: Path) -> Path:
    return write_fasta(tmp_path / "g.fa", {"c": SEQ})


def test_reference_rows_on_both_strands(fasta: Path) -> None:
    src = WindowSource(fasta, tokenizer="v2", max_tokens=100)
    fwd = src.fetch_window("c", 0, 60)
    rev = src.fetch_window("c", 0, 60, strand="-")
    assert fwd.sequence == HEAD and rev.sequence == reverse_complement(HEAD)
    assert fwd.n_tokens == rev.n_tokens == 11  # ten 6-mers + CLS
    assert fwd.status == rev.status == WindowStatus.OK
    assert fwd.frac_n == 0.0 and fwd.coord_map is None and fwd.n_variants == 0
    assert (fwd.start, fwd.end) == (rev.start, rev.end) == (0, 60)


def test_soft_masking_is_kept_and_ns_are_counted(fasta: Path) -> None:
    src = WindowSource(fasta, tokenizer="v2", max_tokens=100)
    masked = src.fetch_window("c", 60, 72)
    assert masked.sequence == "acgtacacgtac" and masked.n_tokens == 3
    mixed = src.fetch_window("c", 60, 100)
    # 12 bp (2 6-mers), 20 Ns (20 tokens), 8 bp (one 6-mer + 2 letters), CLS
    assert mixed.n_tokens == 2 + 20 + 3 + 1
    assert mixed.frac_n == 20 / 40


def test_n_rich_window_is_shrunk_to_the_budget_on_both_strands(fasta: Path) -> None:
    src = WindowSource(fasta, tokenizer="v2", max_tokens=20)
    # CLS + 2 6-mers = 3 tokens, then one per N: 17 Ns fit, so 29 bp are kept
    fwd = src.fetch_window("c", 60, 100)
    assert fwd.status == WindowStatus.SHRUNK_TO_TOKEN_BUDGET
    assert (fwd.start, fwd.end, fwd.n_tokens) == (60, 89, 20)
    assert fwd.sequence == SEQ[60:89] and fwd.frac_n == 17 / 29
    rev = src.fetch_window("c", 60, 100, strand="-")
    assert rev.sequence == reverse_complement(SEQ[60:89]) and rev.end == 89


def test_leading_ns_that_use_the_whole_budget_skip_the_window(fasta: Path) -> None:
    src = WindowSource(fasta, tokenizer="v2", max_tokens=10)
    w = src.fetch_window("c", 72, 110)  # 20 Ns first: 9 fit with CLS, nothing real
    assert w.status == WindowStatus.SKIPPED_ALL_N
    assert (w.sequence, w.n_tokens, w.frac_n, w.end) == ("", 0, 1.0, 81)
    all_n = src.fetch_window("c", 72, 92)
    assert all_n.status == WindowStatus.SKIPPED_ALL_N and all_n.end == 92


def test_haplotype_rows_on_the_reverse_strand(fasta: Path, tmp_path: Path) -> None:
    alt = "G" if HEAD[10] != "G" else "T"
    vcf = write_vcf(
        tmp_path / "v.vcf.gz",
        {"c": len(SEQ)},
        ["S"],
        [("c", 11, HEAD[10], (alt,), ["1|0"]), ("c", 31, HEAD[30], (HEAD[30] + "AA",), ["1|0"])],
    )
    src = WindowSource(fasta, tokenizer="v2", max_tokens=100, vcf_path=vcf)
    fwd = src.fetch_window("c", 0, 60, haplotype=0)
    want = HEAD[:10] + alt + HEAD[11:31] + "AA" + HEAD[31:]
    assert fwd.sequence == want and fwd.n_variants == 2
    want_map = [*range(31), -1, -1, *range(31, 60)]
    assert fwd.coord_map.tolist() == want_map
    rev = src.fetch_window("c", 0, 60, strand="-", haplotype=0)
    assert rev.sequence == reverse_complement(want)
    assert rev.coord_map.tolist() == want_map[::-1]
    other = src.fetch_window("c", 0, 60, haplotype=1)  # 0 on this haplotype: the reference
    assert other.sequence == HEAD and other.n_variants == 0
    np.testing.assert_array_equal(other.coord_map, np.arange(60))


def test_source_errors(fasta: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"max_tokens must be >= 2 \(CLS \+ one token\), got 1"):
        WindowSource(fasta, tokenizer="v2", max_tokens=1)
    plain = WindowSource(fasta, tokenizer="v1", max_tokens=100)
    assert plain.haplotype_names == () and plain.contigs == (("c", 140),)
    plan = plan_windows(plain.contigs, window_bp=60)
    hap_plan = with_haplotypes(plan, 2, ("S:0", "S:1"))
    with pytest.raises(
        ConfigError, match="the plan has haplotype rows but the WindowSource has no VCF"
    ):
        plain.fetch_rows(hap_plan, [0])
    vcf = write_vcf(
        tmp_path / "v.vcf.gz", {"c": 140}, ["T"], [("c", 120, SEQ[119], ("A",), ["0|0"])]
    )
    src = WindowSource(fasta, tokenizer="v2", max_tokens=100, vcf_path=vcf)
    with pytest.raises(ConfigError, match="the plan's haplotype names differ"):
        src.fetch_rows(hap_plan, [0, 1])
    with pytest.raises(ConfigError, match=r"haplotype id 2 out of range \(0..1\)"):
        src.fetch_window("c", 0, 60, haplotype=2)
    ok = with_haplotypes(plan, 2, src.haplotype_names)
    rows = src.fetch_rows(ok, [1, 0])  # in the order asked for
    assert [r.sequence for r in rows] == [HEAD, HEAD]
