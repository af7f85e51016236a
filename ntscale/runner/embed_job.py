"""The whole-genome (or haplotype) embedding job: windows in, pooled per-layer embeddings out.

One unit = a run of consecutive planned windows = one chunk row of every `windows/*` and
`embeddings/*` array. Per unit: fetch sequences (pysam, haplotypes applied) -> tokenize ->
forward in fixed-shape batches -> pool on the device -> write the unit's chunks -> mark done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ntscale.config import STRAND_SETS, EmbedConfig, config_to_dict
from ntscale.errors import ConfigError
from ntscale.runner.job import UnitResult, count_units, unit_span
from ntscale.runner.model_info import describe_model, model_attrs, resolve_layers
from ntscale.runner.precision import resolve_dtype
from ntscale.types import WindowStatus

if TYPE_CHECKING:
    from ntscale.runner.embed_worker import EmbedWorker

log = logging.getLogger(__name__)

_SKIPPED = (WindowStatus.SKIPPED_ALL_N, WindowStatus.SKIPPED_HAPLOTYPE)
HAPLOTYPE_RESERVE_TOKENS = 10  # default haplotype window: (max_tokens - 1 - 10) * 6 bp


@dataclass(frozen=True)
class EmbedJob:
    """A planned embedding run: settings, the window plan and the model's identity."""

    config: EmbedConfig
    plan: object  # ntscale.genome.WindowPlan
    layers: tuple[int, ...]
    max_tokens: int
    embed_dim: int
    window_bp: int
    stride_bp: int
    model_info: dict
    contigs: tuple[tuple[str, int], ...]
    fai_digest: str
    inputs: dict  # content identities of FASTA, BED, VCF (ntscale.genome.identity)
    samples: tuple[str, ...]
    command_line: str

    # -- driver side -------------------------------------------------------------------
    @classmethod
    def plan_from_config(cls, config: EmbedConfig, *, command_line: str = "") -> EmbedJob:
        """Resolve the model, read the FASTA index (and BED/VCF header) and plan the windows."""
        from ntscale.genome import (
            FastaSource,
            VariantReader,
            default_window_bp,
            haplotype_names,
            plan_windows,
            read_bed,
            with_haplotypes,
        )
        from ntscale.genome.gaps import load_gap_index
        from ntscale.genome.identity import input_identities
        from ntscale.genome.tiling import check_window_fits

        # "auto" dtype -> the concrete one for the hardware that runs the model
        config = replace(config, execution=resolve_dtype(config.execution))
        info = describe_model(config.model)
        max_tokens = int(info["config"]["max_tokens"])
        layers = resolve_layers(config.layers, info, source=config.model)
        if config.window_bp is not None:
            check_window_fits(config.window_bp, max_tokens, model=f"model {info['name']!r}")
        # Indels change a haplotype's length and token count; 10 reserved tokens (12,222 bp
        # for v2) leave room for ~40 bp of insertions, so windows rarely need splitting
        # for their haplotypes to fit (hap_budget; figures in docs/genome.md).
        window_bp = config.window_bp or default_window_bp(
            max_tokens, reserve_tokens=HAPLOTYPE_RESERVE_TOKENS if config.vcf else 0
        )
        stride_bp = config.stride_bp or window_bp
        fasta = FastaSource(config.fasta)
        contigs = tuple(fasta.contigs)
        regions = read_bed(config.regions, contigs=contigs) if config.regions else None
        insertions = _insertions(config, fasta) if config.vcf else None
        plan = plan_windows(
            contigs,
            window_bp=window_bp,
            stride_bp=stride_bp,
            strands=STRAND_SETS[config.strands],
            include=config.include_contigs or None,
            exclude=config.exclude_contigs or None,
            min_contig_bp=config.min_contig_bp,
            regions=regions,
            last_window=config.last_window,
            # The index is loaded either way: coverage counts real (non-N) bases only.
            gaps=load_gap_index(fasta),
            gap_aware=config.gap_aware,
            max_tokens=max_tokens,
            insertions=insertions,
        )
        samples: tuple[str, ...] = ()
        if config.vcf:
            # Checked here, before the store is made: samples, GT, contig names.
            samples = VariantReader(
                config.vcf,
                samples=config.samples or None,
                fasta_contigs=[name for name, _ in contigs],
                contig_map=config.contig_map or None,
            ).samples
            names = haplotype_names(samples)
            plan = with_haplotypes(plan, len(names), names)
        if plan.n_windows == 0:
            raise ConfigError(
                f"no windows to embed in {config.fasta!r} with these settings "
                "(check include/exclude contigs, min_contig_bp and regions)"
            )
        return cls(
            config=config,
            plan=plan,
            layers=layers,
            max_tokens=max_tokens,
            embed_dim=int(info["config"]["embed_dim"]),
            window_bp=window_bp,
            stride_bp=stride_bp,
            model_info=info,
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
    def store_url(self) -> str:
        return self.config.out

    def n_units(self) -> int:
        return count_units(self.plan.n_windows, self.config.unit_windows)

    def n_done(self) -> int:
        from ntscale.store import open_writer

        return int(open_writer(self.store_url).done_units().sum())

    def unit_range(self, unit: int) -> tuple[int, int]:
        return unit_span(unit, self.config.unit_windows, self.plan.n_windows)

    def unit_rows(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return b - a

    def unit_bp(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return int((self.plan.end[a:b] - self.plan.start[a:b]).sum())

    def layout(self):
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=self.plan.n_windows,
            unit_windows=self.config.unit_windows,
            layers=self.layers,
            embed_dim=self.embed_dim,
            cls=self.config.cls,
            per_token=self.config.per_token,
            max_tokens=self.max_tokens,
        )

    def fingerprint(self) -> dict:
        """What must match for a store to be resumed (or refused) by this run."""
        c = self.config
        return {
            "job": "embed",
            "model": self.model_info["name"],
            "checkpoint_digest": self.model_info["digest"],
            "dtype": c.execution.dtype,
            "fasta": Path(c.fasta).name,
            "fai_digest": self.fai_digest,
            "window_bp": self.window_bp,
            "stride_bp": self.stride_bp,
            "strands": c.strands,
            "last_window": c.last_window,
            "gap_aware": c.gap_aware,
            "layers": list(self.layers),
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

    def prepare(self) -> np.ndarray:
        from ntscale.store import create_or_open

        writer = create_or_open(
            self.store_url,
            self.layout(),
            fingerprint=self.fingerprint(),
            attrs=self.attrs(),
            contigs=list(self.contigs),
        )
        return np.flatnonzero(~writer.done_units())

    def attrs(self) -> dict:
        c = self.config
        return {
            "job": "embed",
            "model": model_attrs(self.model_info, source=c.model, dtype=c.execution.dtype),
            "windows": {
                "window_bp": self.window_bp,
                "stride_bp": self.stride_bp,
                "strands": c.strands,
                "last_window": c.last_window,
                "gap_aware": c.gap_aware,
                "max_tokens": self.max_tokens,
                "unit_windows": c.unit_windows,
            },
            "fasta": {"name": Path(c.fasta).name, "fai_digest": self.fai_digest},
            "vcf": {"name": Path(c.vcf).name, "samples": list(self.samples)} if c.vcf else None,
            "haplotype_names": list(self.plan.haplotype_names),
            "pooling": "mean over sequence tokens (CLS and pad excluded)",
            "command_line": self.command_line,
            "config": config_to_dict(c),
        }

    def finish(self, results: Iterable[UnitResult], *, seconds: float) -> dict:
        from ntscale.store import finalize, open_writer, store_summary

        results = list(results)
        model_seconds = sum(r.model_seconds for r in results)
        rows = sum(r.n_rows for r in results)
        forward = sum(r.forward_windows for r in results)
        run = {
            "units_run": len(results),
            "windows_run": rows,  # rows written (every planned row, skipped ones included)
            "forward_windows": forward,  # forward passes: distinct sequences of each unit
            "dedup": self.config.dedup,
            "bp_run": sum(r.bp for r in results),
            "seconds": round(seconds, 3),
            "model_seconds": round(model_seconds, 3),
            "windows_per_second": round(rows / seconds, 3) if seconds > 0 else None,
            "forward_windows_per_second": round(forward / seconds, 3) if seconds > 0 else None,
        }
        writer = open_writer(self.store_url)
        if results:
            writer.set_attrs(last_run=run)
        # Coverage from what the store holds (every run, so a resumed store gets it too).
        coverage = self.coverage()
        writer.set_attrs(coverage=coverage)
        finalize(self.store_url)  # releases the run lease, writes consolidated metadata
        return {"run": run, "store": store_summary(self.store_url), "coverage": coverage}

    def coverage(self) -> dict:
        """The coverage record (`ntscale.genome.coverage`) of the rows stored so far."""
        import pandas as pd

        from ntscale.genome.coverage import compute_coverage
        from ntscale.store import open as open_store
        from ntscale.store.schema import REFERENCE_NAME

        ds = open_store(self.store_url)
        strand = np.where(ds["strand"].values == "-", 1, 0)
        # The store keeps names; the plan keeps codes (haplotype -1 = reference).
        hap_codes = pd.Index([*self.plan.haplotype_names, REFERENCE_NAME])
        haplotype = hap_codes.get_indexer(ds["haplotype"].values)
        haplotype = np.where(haplotype == len(self.plan.haplotype_names), -1, haplotype)
        status_codes = {s.name: int(s) for s in WindowStatus}
        status = np.array([status_codes[str(s)] for s in ds["status"].values], dtype=np.int64)
        return compute_coverage(
            self.plan,
            contig_index=pd.Index(self.plan.contigs).get_indexer(ds["contig"].values),
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


def _insertions(config: EmbedConfig, fasta: object) -> dict:
    """Per FASTA contig, the VCF's insertion sites (`ntscale.genome.hap_budget`)."""
    from ntscale.genome import VariantReader
    from ntscale.genome.hap_budget import insertion_sites

    reader = VariantReader(
        config.vcf,
        samples=list(config.samples) or None,
        fasta_contigs=fasta.contig_names,
        contig_map=config.contig_map or None,
    )
    names = fasta.contig_names
    return insertion_sites(
        config.vcf,
        names,
        {c: reader.vcf_contig(c) for c in names},
        samples=list(reader.samples),
    )


def _plain_contig_map(value: object) -> object:
    """'auto' as is, a mapping as a sorted dict (JSON-able, order-independent)."""
    return value if isinstance(value, str) else dict(sorted(value.items()))
