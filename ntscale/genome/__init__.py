"""Genome input: FASTA access, window planning, BED regions, VCF/BCF/VCZ haplotypes.

Typical use (docs/genome.md has the semantics):

src = WindowSource("ref.fa.gz", tokenizer="v2", max_tokens=2048, vcf_path="calls.vcf.gz")
plan = plan_windows(src.contigs, window_bp=default_window_bp(2048), strands=("+", "-"))
plan = with_haplotypes(plan, len(src.haplotype_names), src.haplotype_names)
for unit_start in plan_units(plan.n_windows, 64):
    windows = src.fetch_rows(plan, np.arange(unit_start, min(unit_start + 64, len(plan))))
"""

from ntscale.genome.fasta import FastaSource, ensure_fasta_index
from ntscale.genome.haplotypes import (
    HaplotypePolicy,
    VariantOutcome,
    VariantStatus,
    minimal_edit,
)
from ntscale.genome.regions import read_bed
from ntscale.genome.source import WindowSequence, WindowSource
from ntscale.genome.vcf import VariantReader, VcfRecord, haplotype_names, vcf_samples
from ntscale.genome.vcz import VczReader, open_variant_reader
from ntscale.genome.windows import (
    PlanSummary,
    WindowPlan,
    default_window_bp,
    merge_regions,
    plan_units,
    plan_windows,
    with_haplotypes,
)

__all__ = [
    "FastaSource",
    "HaplotypePolicy",
    "PlanSummary",
    "VariantOutcome",
    "VariantReader",
    "VariantStatus",
    "VczReader",
    "VcfRecord",
    "WindowPlan",
    "WindowSequence",
    "WindowSource",
    "default_window_bp",
    "ensure_fasta_index",
    "merge_regions",
    "minimal_edit",
    "plan_units",
    "plan_windows",
    "read_bed",
    "vcf_samples",
    "haplotype_names",
    "open_variant_reader",
    "with_haplotypes",
]
