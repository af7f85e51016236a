"""The variant scoring job: a VCF in, zero-shot variant effect scores out (see docs/scoring.md).

One unit = a run of consecutive variant rows (one per ALT, in VCF order) = one chunk of
every `variants/*` array. The driver reads only coordinates and alleles and plans each
row's window(s); a worker fetches sequences, builds ref/alt windows, plans the forward
passes (shared between variants with the same reference window), runs them in
fixed-shape batches with the reductions on the device, combines the scores, writes the
unit and marks it done. Every row keeps a status (`ScoreStatus`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ntscale.config import ScoreConfig
from ntscale.runner.job import UnitResult
from ntscale.runner.job_base import JobBase
from ntscale.runner.run_plan import RunPlan, resolve_run

if TYPE_CHECKING:
    from ntscale.genome.variant_stream import VariantUnits
    from ntscale.genome.variant_table import VariantTable
    from ntscale.genome.variant_windows import VariantWindows
    from ntscale.runner.score_worker import ScoreWorker
    from ntscale.store import StoreLayout

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


def table_digest(table: VariantTable) -> str:
    """sha256 of the rows' contig, pos, REF and ALT: identifies the VCF's variants."""
    h = hashlib.sha256()
    for c, p, r, a in zip(table.contig, table.pos, table.ref, table.alt, strict=True):
        h.update(f"{c}\t{p}\t{r}\t{a}\n".encode())
    return h.hexdigest()


def _windows(
    config: ScoreConfig, run: RunPlan, table: VariantTable, contigs: list[tuple[str, int]]
) -> VariantWindows:
    """The rows' windows as the run plans them (whole table or one streamed unit)."""
    from ntscale.genome.variant_windows import plan_variant_windows

    return plan_variant_windows(
        table,
        dict(contigs),
        window_bp=run.window_bp,
        strands=run.strands,
        mode=config.window_mode,
    )


def prepared_dir(out: str, *, dry_run: bool) -> Path:
    """Where the prepared input VCF goes: `<out>.inputs/` beside a local store, else (a
    remote store, or a dry run, which writes nothing of its own) a temporary folder."""
    import atexit
    import shutil
    import tempfile

    if dry_run or "://" in out:
        tmp = Path(tempfile.mkdtemp(prefix="ntscale-input-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        return tmp
    return Path(f"{out.rstrip('/')}.inputs")


def _prepare_input(
    config: ScoreConfig, contigs: list[tuple[str, int]], *, dry_run: bool
) -> tuple[ScoreConfig, dict]:
    """The config reading the prepared input VCF, and what was given (both unchanged when
    the input is a plain VCF path)."""
    from ntscale.genome.regions import read_bed
    from ntscale.genome.variant_input import needs_preparing, prepare_variants

    if not needs_preparing(config.vcf, regions=config.regions, contig_map=config.contig_map):
        return config, {}
    regions = ()
    if config.regions:
        regions = tuple((r.contig, r.start, r.end) for r in read_bed(config.regions, contigs))
    path = prepare_variants(
        config.vcf,
        dest=prepared_dir(config.out, dry_run=dry_run),
        fasta_contigs=contigs,
        regions=regions,
        contig_map=config.contig_map or None,
    )
    cmap = config.contig_map
    given = {
        "vcf": config.vcf,
        "regions": config.regions,
        "contig_map": cmap if isinstance(cmap, str) else dict(cmap),
        "prepared": str(path),
    }
    return dataclasses.replace(config, vcf=str(path)), given


@dataclass(frozen=True, kw_only=True)
class ScoreJob(JobBase):
    """A planned scoring run: where the variants are, the score names, the VCF's identity.

    A sorted, indexed VCF is streamed: the job holds only unit boundaries (`units`) and
    each worker reads its unit's rows; `table` and `windows` are then None. Otherwise (no
    index, unsorted, or `calibrate`, which needs every row's window) the job holds the
    whole table and its windows and `units` is None.
    """

    KIND: ClassVar[str] = "score"
    AXIS: ClassVar[str] = "variants"
    ROWS: ClassVar[str] = "variants"

    config: ScoreConfig
    table: VariantTable | None  # None when streamed
    windows: VariantWindows | None  # None when streamed
    units: VariantUnits | None  # unit boundaries when streamed, else None
    kinds: tuple[str, ...]
    names: tuple[str, ...]
    inputs: dict  # content identities of FASTA and VCF (ntscale.genome.identity)
    variants_digest: str
    n_records: int
    input_source: dict = field(default_factory=dict)  # what was given, when prepared

    # -- driver side -------------------------------------------------------------------
    @classmethod
    def plan_from_config(
        cls,
        config: ScoreConfig,
        *,
        command_line: str = "",
        stream: bool | None = None,
        dry_run: bool = False,
    ) -> ScoreJob:
        """Resolve the model, scan the VCF and plan the units (or every variant's window).

        `stream`: None streams an indexed, sorted VCF (not with `calibrate`); False
        always reads the whole table; True refuses to fall back (for tests/benchmarks).
        Stdin, a variant table, --regions or --contig-map first make a prepared VCF
        (`ntscale.genome.variant_input`) beside the store (`dry_run`: in a temporary folder).
        """
        from ntscale.genome import FastaSource
        from ntscale.genome.identity import input_identities
        from ntscale.genome.variant_table import read_variant_table
        from ntscale.model import describe, describe_for_plan
        from ntscale.scoring import parse_scores, score_names
        from ntscale.scoring.scores import POSITION_NAMES

        run = resolve_run(
            config,
            (describe_for_plan if dry_run else describe)(config.model, revision=config.revision),
        )
        fasta = FastaSource(config.fasta)
        config, input_source = _prepare_input(config, fasta.contigs, dry_run=dry_run)
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
            windows = _windows(config, run, table, fasta.contigs)
        source = table if units is None else units
        kinds = parse_scores(config.scores)
        contigs = tuple(fasta.contigs) + tuple((c, 0) for c in source.extra_contigs)
        return cls(
            config=config,
            run=run,
            table=table,
            windows=windows,
            units=units,
            n_records=int(source.n_records),
            kinds=kinds,
            names=score_names(kinds, run.layers, per_strand=config.strands == "both")
            + (POSITION_NAMES if config.window_mode == "tiled" else ())
            + (("stratum_llr_wt",) if config.calibrate else ()),
            contigs=contigs,
            fai_digest=fasta.fai_digest(),
            inputs=input_identities(
                fasta=config.fasta, fai_sha256=fasta.fai_digest(), vcf=config.vcf
            ),
            variants_digest=table_digest(table) if units is None else units.digest,
            command_line=command_line,
            input_source=input_source,
        )

    @property
    def n_variants(self) -> int:
        return int((self.table if self.units is None else self.units).n_variants)

    @property
    def n_rows(self) -> int:
        return self.n_variants

    @property
    def unit_size(self) -> int:
        return self.config.unit_variants

    def unit_table(self, unit: int) -> tuple[VariantTable, VariantWindows, int]:
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
        return table, _windows(self.config, self.run, table, contigs), 0

    def layout(self) -> StoreLayout:
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=0,
            unit_windows=1,
            n_variants=self.n_variants,
            unit_variants=self.config.unit_variants,
            score_names=self.names,
        )

    def own_fingerprint(self) -> dict:
        c = self.config
        return {
            "vcf": Path(c.vcf).name,
            "variants_digest": self.variants_digest,
            "window_mode": c.window_mode,
            "scores": list(self.names),
            "layers": list(self.run.layers),
            # an input edited in place (same name) must not be mixed into the store
            "inputs": self.inputs,
            "collapse_n": c.collapse_n,
            "calibrate": c.calibrate,
        }

    def own_attrs(self) -> dict:
        from ntscale.types import score_status_names

        c = self.config
        return {
            "scoring": {
                "window_bp": self.run.window_bp,
                "window_mode": c.window_mode,
                "strands": c.strands,
                "layers": list(self.run.layers),
                "score_names": list(self.names),
                "score_docs": self.score_docs(),
                "preset": c.preset,
                "preset_departures": self.preset_departures(),
                "collapse_n": c.collapse_n,
                "calibrate": c.calibrate,
                "llr_sign": "llr = log p(alt) - log p(ref): negative = alt less likely "
                "(exports add minus_<llr> = -llr and abs_<llr> = |llr|)",
                "log_probabilities": "natural log, log-softmax over the full vocabulary",
                "unit_variants": c.unit_variants,
                "max_tokens": self.run.max_tokens,
            },
            "vcf": {
                "name": Path(c.vcf).name,
                "records": self.n_records,
                "rows": self.n_variants,
                **({"given": self.input_source} if self.input_source else {}),
            },
            "variant_status_names": score_status_names(),
        }

    def preset_departures(self) -> dict[str, list[str]]:
        """Settings that differ from the run's --preset: name -> [given, protocol]."""
        from ntscale.scoring.presets import preset_departures

        c = self.config
        fields = ("preset", "window_bp", "window_mode", "strands", "scores", "collapse_n")
        values = {f: getattr(c, f) for f in fields} | {"dtype": self.run.dtype}
        values["window_bp"] = self.run.window_bp
        out = preset_departures(values)
        show = lambda v: ",".join(map(str, v)) if isinstance(v, tuple | list) else str(v)  # noqa: E731
        return {k: [show(g), show(p)] for k, (g, p) in out.items()}

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

    def prepare_more(self) -> None:
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

    def finish_more(self, results: list[UnitResult]) -> dict:
        if results and self.config.calibrate:
            self._store_calibration()
        return {}

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
                    "labels": {str(s): cal.stratum_label(s) for s in keep.tolist()},
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
