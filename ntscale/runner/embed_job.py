"""The whole-genome (or cohort) embedding job: windows in, pooled per-layer embeddings out.

One unit = a run of consecutive planned window rows = one chunk of every per-window array.
Per unit: fetch sequences (haplotypes applied) -> tokenize -> forward in fixed-shape
batches -> pool on the device -> write the unit's chunks -> mark done.

With a VCF the job is a cohort run (store layout in docs/store.md, "Cohort stores"): the
plan holds the reference windows and the haplotype names only (its memory does not grow
with samples x windows), a unit holds `unit_windows` genomic windows with all their
strands and haplotypes, and the workers read the genotypes of their own windows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ntscale.config import EmbedConfig
from ntscale.errors import ConfigError
from ntscale.runner.job import UnitResult, device_row_summary
from ntscale.runner.job_base import JobBase
from ntscale.runner.run_plan import resolve_run
from ntscale.types import WindowStatus

if TYPE_CHECKING:
    from ntscale.genome import FastaSource, WindowPlan
    from ntscale.runner.embed_worker import EmbedWorker
    from ntscale.store import StoreLayout

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EmbedJob(JobBase):
    """A planned embedding run: the window plan, the samples and input identities."""

    KIND: ClassVar[str] = "embed"
    AXIS: ClassVar[str] = "windows"
    ROWS: ClassVar[str] = "windows"

    config: EmbedConfig
    plan: WindowPlan
    inputs: dict  # content identities of FASTA, BED, VCF (ntscale.genome.identity)
    samples: tuple[str, ...]

    # -- driver side -------------------------------------------------------------------
    @classmethod
    def plan_from_config(
        cls, config: EmbedConfig, *, command_line: str = "", dry_run: bool = False
    ) -> EmbedJob:
        """Resolve the model, read the FASTA index (and BED/VCF header) and plan the windows."""
        from ntscale.genome import (
            FastaSource,
            open_variant_reader,
            plan_windows,
            read_bed,
        )
        from ntscale.genome.gaps import load_gap_index
        from ntscale.genome.identity import input_identities
        from ntscale.model import describe, describe_for_plan

        # a dry run of a published model plans from its published shapes (no download)
        run = resolve_run(
            config,
            (describe_for_plan if dry_run else describe)(config.model, revision=config.revision),
        )
        fasta = FastaSource(config.fasta)
        contigs = tuple(fasta.contigs)
        regions = read_bed(config.regions, contigs=contigs) if config.regions else None
        insertions = _insertions(config, fasta) if config.vcf else None
        plan = plan_windows(
            contigs,
            window_bp=run.window_bp,
            stride_bp=run.stride_bp,
            strands=run.strands,
            include=config.include_contigs or None,
            exclude=config.exclude_contigs or None,
            min_contig_bp=config.min_contig_bp,
            regions=regions,
            last_window=config.last_window,
            # The index is loaded either way: coverage counts real (non-N) bases only.
            gaps=load_gap_index(fasta),
            gap_aware=config.gap_aware,
            max_tokens=run.max_tokens,
            insertions=insertions,
            k=run.model.config.k,
        )
        samples: tuple[str, ...] = ()
        if config.vcf:
            # Checked here, before the store is made: samples, GT, contig names. The plan
            # keeps the reference windows; haplotypes are a second store axis.
            samples = open_variant_reader(
                config.vcf,
                samples=config.samples or None,
                fasta_contigs=[name for name, _ in contigs],
                contig_map=config.contig_map or None,
            ).samples
        if plan.n_windows == 0:
            raise ConfigError(
                f"no windows to embed in {config.fasta!r} with these settings "
                "(check include/exclude contigs, min_contig_bp and regions)"
            )
        return cls(
            config=config,
            run=run,
            plan=plan,
            contigs=contigs,
            fai_digest=fasta.fai_digest(),
            inputs=input_identities(
                fasta=config.fasta,
                fai_sha256=fasta.fai_digest(),
                regions=config.regions,
                vcf=config.vcf,
            ),
            samples=samples,
            command_line=command_line,
        )

    @property
    def cohort(self) -> bool:
        """A VCF run: window x haplotype store with each distinct sequence once."""
        return bool(self.config.vcf)

    @property
    def haplotype_names(self) -> tuple[str, ...]:
        """'SAMPLE:phase' of each haplotype of a cohort run (empty without a VCF)."""
        from ntscale.genome import haplotype_names

        return haplotype_names(self.samples)

    @property
    def n_rows(self) -> int:
        return self.plan.n_windows

    @property
    def unit_size(self) -> int:
        # cohort: unit_windows genomic windows with all their strands (rows '+', '-')
        strands = len(set(self.plan.strand.tolist())) if self.cohort and self.n_rows else 1
        return self.config.unit_windows * strands

    def store_haplotype_names(self) -> list[str] | None:
        return list(self.haplotype_names) if self.cohort else None

    @property
    def embed_dim(self) -> int:
        return self.run.embed_dim

    @property
    def _per_window_row(self) -> int:
        """Rows (and bp) counted per window row: its haplotypes in a cohort run."""
        return len(self.samples) * 2 if self.cohort else 1

    def unit_rows(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return (b - a) * self._per_window_row  # as the worker counts them (UnitResult)

    def unit_bp(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return int((self.plan.end[a:b] - self.plan.start[a:b]).sum()) * self._per_window_row

    def layout(self) -> StoreLayout:
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=self.plan.n_windows,
            unit_windows=self.unit_size,
            layers=self.run.layers,
            embed_dim=self.run.embed_dim,
            cls=self.config.cls,
            per_token=self.config.per_token,
            max_tokens=self.run.max_tokens,
            n_haplotypes=len(self.haplotype_names) if self.cohort else 0,
        )

    def own_fingerprint(self) -> dict:
        c = self.config
        return {
            "stride_bp": self.run.stride_bp,
            "last_window": c.last_window,
            "gap_aware": c.gap_aware,
            "layers": list(self.run.layers),
            "regions": Path(c.regions).name if c.regions else None,
            "include_contigs": list(c.include_contigs),
            "exclude_contigs": list(c.exclude_contigs),
            "min_contig_bp": c.min_contig_bp,
            "vcf": Path(c.vcf).name if c.vcf else None,
            "samples": list(self.samples),
            # haplotype policies change the sequences, so they must match to resume
            "unphased": c.unphased if c.vcf else None,
            "ref_mismatch": c.ref_mismatch if c.vcf else None,
            "contig_map": _plain_contig_map(c.contig_map) if c.vcf else None,
            "per_token": c.per_token,
            "cls": c.cls,
            "unit_windows": c.unit_windows,
            "n_windows": self.plan.n_windows,
            # an input edited in place (same name) must not be mixed into the store
            "inputs": self.inputs,
        }

    def own_attrs(self) -> dict:
        c = self.config
        return {
            "windows": {
                "window_bp": self.run.window_bp,
                "stride_bp": self.run.stride_bp,
                "strands": c.strands,
                "last_window": c.last_window,
                "gap_aware": c.gap_aware,
                "max_tokens": self.run.max_tokens,
                "unit_windows": c.unit_windows,
            },
            "vcf": {"name": Path(c.vcf).name, "samples": list(self.samples)} if c.vcf else None,
            "haplotype_names": list(self.haplotype_names),
            "pooling": "mean over sequence tokens (CLS and pad excluded)",
        }

    def run_summary(self, results: list[UnitResult], seconds: float) -> dict:
        rows = sum(r.n_rows for r in results)
        forward = sum(r.forward_windows for r in results)
        return {
            "units_run": len(results),
            "windows_run": rows,  # rows written (every planned row, skipped ones included)
            "forward_windows": forward,  # forward passes: distinct sequences of each unit
            "dedup": self.config.dedup,
            "bp_run": sum(r.bp for r in results),
            "seconds": round(seconds, 3),
            "model_seconds": round(sum(r.model_seconds for r in results), 3),
            "windows_per_second": round(rows / seconds, 3) if seconds > 0 else None,
            "forward_windows_per_second": round(forward / seconds, 3) if seconds > 0 else None,
            **device_row_summary(results),
        }

    def finish_more(self, results: list[UnitResult]) -> dict:
        from ntscale.store import open_writer

        # Coverage from what the store holds (every run, so a resumed store gets it too).
        coverage = self.coverage()
        open_writer(self.store_url).set_attrs(coverage=coverage)
        return {"coverage": coverage}

    def coverage(self) -> dict:
        """The coverage record (`ntscale.genome.coverage`) of the rows stored so far."""
        import pandas as pd

        from ntscale.genome.coverage import compute_coverage
        from ntscale.store import open as open_store
        from ntscale.store.schema import REFERENCE_NAME

        plan = self.plan
        status_codes = {s.name: int(s) for s in WindowStatus}
        if self.cohort:
            # one track per (strand, haplotype), read unit by unit (no W x H rows)
            from ntscale.genome.coverage import cohort_coverage
            from ntscale.store.cohort import iter_haplotype_blocks

            def blocks():  # noqa: ANN202 - generator of (status codes, end) [u, H]
                for b in iter_haplotype_blocks(self.store_url):
                    names, inverse = np.unique(b["status"], return_inverse=True)
                    codes = np.array([status_codes[str(x)] for x in names], np.int64)
                    yield codes[inverse.reshape(b["status"].shape)], b["hap_end"]

            return cohort_coverage(plan, self.haplotype_names, blocks())
        ds = open_store(self.store_url)
        strand = np.where(ds["strand"].values == "-", 1, 0)
        # The store keeps names; the plan keeps codes (haplotype -1 = reference).
        hap_codes = pd.Index([*plan.haplotype_names, REFERENCE_NAME])
        haplotype = hap_codes.get_indexer(ds["haplotype"].values)
        haplotype = np.where(haplotype == len(plan.haplotype_names), -1, haplotype)
        status = np.array([status_codes[str(s)] for s in ds["status"].values], dtype=np.int64)
        return compute_coverage(
            plan,
            contig_index=pd.Index(plan.contigs).get_indexer(ds["contig"].values),
            start=ds["start"].values,
            end=ds["end"].values,
            strand=strand,
            haplotype=haplotype,
            status=status,
        )

    # -- executing side ----------------------------------------------------------------
    def open_worker(self) -> EmbedWorker:
        from ntscale.runner.embed_worker import EmbedWorker

        return EmbedWorker(self)


def _insertions(config: EmbedConfig, fasta: FastaSource) -> dict:
    """Per FASTA contig, the VCF's indel sites (`ntscale.genome.hap_budget`), [R] bounds."""
    from ntscale.genome import open_variant_reader
    from ntscale.genome.hap_budget import insertion_sites

    reader = open_variant_reader(
        config.vcf,
        samples=list(config.samples) or None,
        fasta_contigs=fasta.contig_names,
        contig_map=config.contig_map or None,
    )
    names = fasta.contig_names
    # no genotype read in the driver (cohort scale): per-record bounds from the ALTs
    return insertion_sites(
        config.vcf,
        names,
        {c: reader.vcf_contig(c) for c in names},
        samples=list(reader.samples),
        genotypes=False,
    )


def _plain_contig_map(value: Mapping[str, str] | str) -> dict[str, str] | str:
    """'auto' as is, a mapping as a sorted dict (JSON-able, order-independent)."""
    return value if isinstance(value, str) else dict(sorted(value.items()))
