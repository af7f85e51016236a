"""The variant scoring job: a VCF in, zero-shot variant effect scores out (see docs/scoring.md).

One unit = a run of consecutive variant rows (one per ALT, in VCF order) = one chunk of
every `variants/*` array. The driver reads only coordinates and alleles and plans each
row's window(s); a worker fetches sequences, builds ref/alt windows, plans the forward
passes (shared between variants with the same reference window), runs them in
fixed-shape batches with the reductions on the device, combines the scores, writes the
unit and marks it done. Every row keeps a status (`ScoreStatus`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ntscale.config import STRAND_SETS, ScoreConfig, config_to_dict
from ntscale.runner.job import UnitResult, count_units, row_run_summary, unit_span
from ntscale.runner.model_info import describe_model, model_attrs, resolve_layers
from ntscale.runner.precision import resolve_dtype

if TYPE_CHECKING:
    from ntscale.runner.score_worker import ScoreWorker

log = logging.getLogger(__name__)

SCORE_DOCS = {
    "llr_masked": "log p(alt) - log p(ref) at the variant's token, that token masked "
    "(natural log, log-softmax over the full vocabulary); SNVs only",
    "llr_wt": "log p(alt) - log p(ref) at the variant's token of the unmasked reference "
    "window (wild-type marginal); SNVs only",
    "l2_mean": "L2 distance between mean-pooled ref and alt window embeddings",
    "cosine_mean": "1 - cosine similarity of mean-pooled ref and alt window embeddings",
    "l2_variant": "L2 distance between the mean embeddings of the tokens covering the variant",
    "cosine_variant": "1 - cosine similarity of the tokens covering the variant",
    "l2_flat": "Euclidean distance between the ref and alt [tokens x dim] embeddings "
    "flattened (CLS included), as TraitGym's euclidean_distance",
    "cosine_flat": "1 - cosine similarity of the flattened [tokens x dim] embeddings, as "
    "TraitGym's cosine_distance",
    "l2_aligned": "frame-aware indel distance: root-mean-square L2 distance over the token "
    "pairs of the ref and alt windows that hold the same bases (left of the variant; right "
    "of it only when the indel keeps the 6-mer frame); variant tokens excluded",
    "stratum_llr_wt": "calibration (not a score): the row's background stratum, "
    "trinucleotide class * 6 + base within the 6-mer; exports turn llr_wt into llr_wt_pct",
    "centre_offset_bp": "tiled mode, SNVs and MNVs (a position, not a score): signed bp from "
    "the window's centre position (6c + 3 forward) to the variant",
    "base_in_kmer": "tiled mode, SNVs and MNVs (a position, not a score): base 0-5 of its "
    "6-mer the variant sits at, on the first strand scored",
    "dot_flat": "inner product of the flattened [tokens x dim] embeddings, as TraitGym's "
    "inner_product (a similarity: higher = closer)",
}
STRAND_DOC = "the {strand} strand value of {name} ({name} is the mean over both strands)"
SIGN_DOCS = {
    "minus_llr": "-llr (exports only): higher = ALT less likely; TraitGym's convention for "
    "Mendelian traits",
    "abs_llr": "|llr| (exports only): TraitGym's convention for complex traits",
}


def table_digest(table: object) -> str:
    """sha256 of the rows' contig, pos, REF and ALT: identifies the VCF's variants."""
    h = hashlib.sha256()
    for c, p, r, a in zip(table.contig, table.pos, table.ref, table.alt, strict=True):
        h.update(f"{c}\t{p}\t{r}\t{a}\n".encode())
    return h.hexdigest()


def _windows(config: ScoreConfig, table: object, contigs: object, window_bp: int) -> object:
    """The rows' windows as the run plans them (whole table or one streamed unit)."""
    from ntscale.genome.variant_windows import plan_variant_windows

    return plan_variant_windows(
        table,
        dict(contigs),
        window_bp=window_bp,
        strands=STRAND_SETS[config.strands],
        mode=config.window_mode,
    )


@dataclass(frozen=True)
class ScoreJob:
    """A planned scoring run: settings, where the variants are, the model's identity.

    A sorted, indexed VCF is streamed: the job holds only unit boundaries (`units`) and
    each worker reads its unit's rows; `table` and `windows` are then None. Otherwise (no
    index, unsorted, or `calibrate`, which needs every row's window) the job holds the
    whole table and its windows and `units` is None.
    """

    config: ScoreConfig
    table: object  # ntscale.genome.variant_table.VariantTable, or None when streamed
    windows: object  # ntscale.genome.variant_windows.VariantWindows, or None when streamed
    kinds: tuple[str, ...]
    layers: tuple[int, ...]
    names: tuple[str, ...]
    max_tokens: int
    model_info: dict
    contigs: tuple[tuple[str, int], ...]
    fai_digest: str
    inputs: dict  # content identities of FASTA and VCF (ntscale.genome.identity)
    variants_digest: str
    command_line: str
    window_bp: int
    n_records: int
    units: object = None  # ntscale.genome.variant_stream.VariantUnits when streamed

    # -- driver side -------------------------------------------------------------------
    @classmethod
    def plan_from_config(
        cls, config: ScoreConfig, *, command_line: str = "", stream: bool | None = None
    ) -> ScoreJob:
        """Resolve the model, scan the VCF and plan the units (or every variant's window).

        `stream`: None streams an indexed, sorted VCF (not with `calibrate`); False
        always reads the whole table; True refuses to fall back (for tests/benchmarks).
        """
        from ntscale.genome import FastaSource, default_window_bp
        from ntscale.genome.identity import input_identities
        from ntscale.genome.variant_table import read_variant_table
        from ntscale.scoring import parse_scores, score_names
        from ntscale.scoring.scores import POSITION_NAMES

        # "auto" dtype -> the concrete one for the hardware that runs the model
        config = replace(config, execution=resolve_dtype(config.execution))
        info = describe_model(config.model)
        max_tokens = int(info["config"]["max_tokens"])
        layers = resolve_layers(config.layers, info, source=config.model)
        if config.window_bp is not None:
            from ntscale.genome.tiling import check_window_fits

            check_window_fits(config.window_bp, max_tokens, model=f"model {info['name']!r}")
        window_bp = config.window_bp or default_window_bp(max_tokens)
        fasta = FastaSource(config.fasta)
        table = windows = units = None
        if stream is not False and not config.calibrate:
            from ntscale.genome.variant_stream import scan_variant_units

            units = scan_variant_units(
                config.vcf, contigs=fasta.contigs, unit_variants=config.unit_variants
            )
        if units is None and stream:
            raise ValueError(f"{config.vcf}: cannot be streamed (no index, unsorted, calibrate)")
        if units is None:
            table = read_variant_table(config.vcf, contigs=fasta.contigs)
            windows = _windows(config, table, fasta.contigs, window_bp)
        source = table if units is None else units
        kinds = parse_scores(config.scores)
        contigs = tuple(fasta.contigs) + tuple((c, 0) for c in source.extra_contigs)
        return cls(
            config=config,
            table=table,
            windows=windows,
            units=units,
            window_bp=window_bp,
            n_records=int(source.n_records),
            kinds=kinds,
            layers=layers,
            names=score_names(kinds, layers, per_strand=config.strands == "both")
            + (POSITION_NAMES if config.window_mode == "tiled" else ())
            + (("stratum_llr_wt",) if config.calibrate else ()),
            max_tokens=max_tokens,
            model_info=info,
            contigs=contigs,
            fai_digest=fasta.fai_digest(),
            inputs=input_identities(
                fasta=config.fasta, fai_sha256=fasta.fai_digest(), vcf=config.vcf
            ),
            variants_digest=table_digest(table) if units is None else units.digest,
            command_line=command_line,
        )

    @property
    def store_url(self) -> str:
        return self.config.out

    @property
    def n_variants(self) -> int:
        return int((self.table if self.units is None else self.units).n_variants)

    def unit_table(self, unit: int) -> tuple[object, object, int]:
        """(table, windows, row offset) holding the unit's rows [a, b) at offset - a.

        Whole-table jobs return their table (offset a); streamed ones read the unit's rows
        from the VCF and plan their windows with the same functions (offset 0).
        """
        if self.units is None:
            return self.table, self.windows, self.unit_range(unit)[0]
        from ntscale.genome import FastaSource
        from ntscale.genome.variant_stream import read_unit_table

        contigs = FastaSource(self.config.fasta).contigs
        table = read_unit_table(self.units, unit, contigs=contigs)
        windows = _windows(self.config, table, contigs, self.window_bp)
        return table, windows, 0

    def whole_table(self) -> tuple[object, object]:
        """Every row and its windows (read now when streamed): for plan reports only."""
        if self.units is None:
            return self.table, self.windows
        from ntscale.genome import FastaSource
        from ntscale.genome.variant_table import read_variant_table

        contigs = FastaSource(self.config.fasta).contigs
        table = read_variant_table(self.config.vcf, contigs=contigs)
        windows = _windows(self.config, table, contigs, self.window_bp)
        return table, windows

    def n_units(self) -> int:
        return count_units(self.n_variants, self.config.unit_variants)

    def unit_range(self, unit: int) -> tuple[int, int]:
        return unit_span(unit, self.config.unit_variants, self.n_variants)

    def unit_rows(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return b - a

    def unit_bp(self, unit: int) -> int:
        return 0

    def layout(self):
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=0,
            unit_windows=1,
            n_variants=self.n_variants,
            unit_variants=self.config.unit_variants,
            score_names=self.names,
        )

    def fingerprint(self) -> dict:
        """What must match for a store to be resumed (or refused) by this run."""
        c = self.config
        return {
            "job": "score",
            "model": self.model_info["name"],
            "checkpoint_digest": self.model_info["digest"],
            "dtype": c.execution.dtype,
            "fasta": Path(c.fasta).name,
            "fai_digest": self.fai_digest,
            "vcf": Path(c.vcf).name,
            "variants_digest": self.variants_digest,
            "window_bp": self.window_bp,
            "window_mode": c.window_mode,
            "strands": c.strands,
            "scores": list(self.names),
            "layers": list(self.layers),
            # an input edited in place (same name) must not be mixed into the store
            "inputs": self.inputs,
            "collapse_n": c.collapse_n,
            "calibrate": c.calibrate,
        }

    def attrs(self) -> dict:
        from ntscale.types import score_status_names

        c = self.config
        return {
            "job": "score",
            "model": model_attrs(self.model_info, source=c.model, dtype=c.execution.dtype),
            "scoring": {
                "window_bp": self.window_bp,
                "window_mode": c.window_mode,
                "strands": c.strands,
                "layers": list(self.layers),
                "score_names": list(self.names),
                "score_docs": self.score_docs(),
                "preset": c.preset,
                "collapse_n": c.collapse_n,
                "calibrate": c.calibrate,
                "llr_sign": "llr = log p(alt) - log p(ref): negative = alt less likely "
                "(exports add minus_<llr> = -llr and abs_<llr> = |llr|)",
                "log_probabilities": "natural log, log-softmax over the full vocabulary",
                "unit_variants": c.unit_variants,
                "max_tokens": self.max_tokens,
            },
            "fasta": {"name": Path(c.fasta).name, "fai_digest": self.fai_digest},
            "vcf": {
                "name": Path(c.vcf).name,
                "records": self.n_records,
                "rows": self.n_variants,
            },
            "variant_status_names": score_status_names(),
            "command_line": self.command_line,
            "config": config_to_dict(c),
        }

    def n_done(self) -> int:
        from ntscale.store import open_writer

        return int(open_writer(self.store_url).done_units("variants").sum())

    def score_docs(self) -> dict[str, str]:
        """Formula of every score family the run writes (for the store and exports)."""
        docs = {k: v for k, v in SCORE_DOCS.items() if any(n.startswith(k) for n in self.names)}
        for n in self.names:
            for tail, strand in (("_fwd", "forward"), ("_rev", "reverse")):
                if n.endswith(tail):
                    docs[n] = STRAND_DOC.format(strand=strand, name=n[: -len(tail)])
        if any(n.startswith("llr") for n in self.names):
            docs.update(SIGN_DOCS)
        return docs

    def prepare(self) -> np.ndarray:
        from ntscale.store import create_or_open

        writer = create_or_open(
            self.store_url,
            self.layout(),
            fingerprint=self.fingerprint(),
            attrs=self.attrs(),
            contigs=list(self.contigs),
        )
        if self.config.calibrate:
            from ntscale.runner.score_calibration import BACKGROUND_ARRAY
            from ntscale.scoring.calibration import N_BINS, N_STRATA
            from ntscale.store.unit_blocks import ensure_unit_array

            ensure_unit_array(
                self.store_url,
                BACKGROUND_ARRAY,
                n_units=self.n_units(),
                block=(N_STRATA, N_BINS),
                dtype="int32",
            )
        return np.flatnonzero(~writer.done_units("variants"))

    def finish(self, results: Iterable[UnitResult], *, seconds: float) -> dict:
        from ntscale.store import finalize, open_writer, store_summary

        results = list(results)
        run = row_run_summary(results, seconds, rows="variants")
        if results:
            open_writer(self.store_url).set_attrs(last_run=run)
        if results and self.config.calibrate:
            self._store_calibration()
        finalize(self.store_url)  # releases the run lease, writes consolidated metadata
        return {"run": run, "store": store_summary(self.store_url)}

    def _store_calibration(self) -> None:
        """Sum the done units' background histograms into quantile tables (root attrs)."""
        from ntscale.runner.score_calibration import BACKGROUND_ARRAY
        from ntscale.scoring import calibration as cal
        from ntscale.store import open_writer
        from ntscale.store.unit_blocks import read_unit_blocks

        writer = open_writer(self.store_url)
        blocks = read_unit_blocks(self.store_url, BACKGROUND_ARRAY)
        done = writer.done_units("variants")
        if blocks is None or not done.all():
            return
        hist = blocks.sum(axis=0, dtype=np.int64)
        table = cal.quantile_table(hist)
        counts = hist.sum(axis=1)
        keep = np.flatnonzero(counts > 0)
        writer.set_attrs(
            calibration={
                "llr_wt": {
                    "levels": cal.LEVELS.tolist(),
                    "quantiles": {
                        str(s): [float(f"{v:.6g}") for v in table[s]] for s in keep.tolist()
                    },
                    "counts": {str(s): int(counts[s]) for s in keep.tolist()},
                    "n_background": int(counts.sum()),
                    "strata": "trinucleotide class (96, pyrimidine-centred REF) * 6 + base "
                    "within the 6-mer (first strand); see ntscale.scoring.calibration",
                    "histogram": f"{BACKGROUND_ARRAY} [unit, stratum, bin], bins of "
                    f"{cal.HIST_WIDTH} nats on [{cal.HIST_LO}, {cal.HIST_HI}]",
                }
            }
        )

    # -- executing side ----------------------------------------------------------------
    def open_worker(self) -> ScoreWorker:
        from ntscale.runner.score_worker import ScoreWorker

        return ScoreWorker(self)
