"""What every job (embed, score, tracks) shares: store, units, resume, attributes, finish.

A job's rows (windows, variants or bases) are cut into units of `unit_size` consecutive
rows; unit k owns rows [k * u, (k + 1) * u) of the store's `AXIS`, i.e. one chunk of
every array on it. `prepare` creates the store (or resumes one whose fingerprint equals
this run's) and takes its run lease; `finish` records the run, releases the lease and
writes consolidated metadata. A concrete job adds its rows, its store layout, what it
adds to the fingerprint and attributes, and its worker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ntscale.config import config_to_dict
from ntscale.runner.job import UnitResult, UnitWorker, count_units, row_run_summary, unit_span
from ntscale.runner.run_plan import RunConfig, RunPlan

if TYPE_CHECKING:
    from ntscale.store import StoreLayout


@dataclass(frozen=True, kw_only=True)
class JobBase(ABC):
    """The part of a planned run every job has (see the module docstring).

    Attributes:
        config: the settings as given; `run` holds their resolved values.
        run: window, layers, dtype, model, resolved once (`resolve_run`).
        contigs: (name, length) of the FASTA's contigs (and, for scores, the VCF's others).
        fai_digest: sha256 of the FASTA index.
        command_line: the command that planned the run (stored for provenance).
    """

    KIND: ClassVar[str]  # the `job` attribute and fingerprint key: embed, score, tracks
    AXIS: ClassVar[str]  # the store axis the units own: "windows" or "variants"
    ROWS: ClassVar[str]  # what a row is in the run summary: windows, variants, bases

    config: RunConfig
    run: RunPlan
    contigs: tuple[tuple[str, int], ...]
    fai_digest: str
    command_line: str

    # -- what a concrete job supplies ----------------------------------------------------
    @property
    @abstractmethod
    def n_rows(self) -> int:
        """Rows of the store's unit axis (every planned row keeps one)."""

    @property
    @abstractmethod
    def unit_size(self) -> int:
        """Rows per work unit (= the chunk length of the unit axis)."""

    @abstractmethod
    def layout(self) -> StoreLayout:
        """Shapes and chunks of the store (`ntscale.store.StoreLayout`)."""

    @abstractmethod
    def own_fingerprint(self) -> dict:
        """The job's own keys of the resume fingerprint (beyond model, FASTA, window)."""

    @abstractmethod
    def own_attrs(self) -> dict:
        """The job's own root attributes (beyond model, FASTA, command line, config)."""

    @abstractmethod
    def open_worker(self) -> UnitWorker:
        """Open files and load the model in the calling process (actor or local)."""

    # -- values of the run plan, read by the workers ---------------------------------------
    @property
    def layers(self) -> tuple[int, ...]:
        return self.run.layers

    @property
    def max_tokens(self) -> int:
        return self.run.max_tokens

    @property
    def window_bp(self) -> int:
        return self.run.window_bp

    # -- units ----------------------------------------------------------------------------
    @property
    def store_url(self) -> str:
        return self.config.out

    def n_units(self) -> int:
        return count_units(self.n_rows, self.unit_size)

    def unit_range(self, unit: int) -> tuple[int, int]:
        """Rows [a, b) of one unit: the store chunk it owns."""
        return unit_span(unit, self.unit_size, self.n_rows)

    def unit_rows(self, unit: int) -> int:
        a, b = self.unit_range(unit)
        return b - a

    def unit_bp(self, unit: int) -> int:
        """Reference bp covered by a unit, for progress (0 where meaningless)."""
        return 0

    def n_done(self) -> int:
        """Units marked done in the store now."""
        from ntscale.store import open_writer

        return int(open_writer(self.store_url).done_units(self.AXIS).sum())

    # -- the store ------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        """What must match for a store to be resumed (or refused) by this run."""
        return {
            "job": self.KIND,
            "model": self.run.model.name,
            "checkpoint_digest": self.run.model.digest,
            "dtype": self.run.dtype,
            "fasta": Path(self.config.fasta).name,
            "fai_digest": self.fai_digest,
            "window_bp": self.run.window_bp,
            "strands": self.config.strands,
            **self.own_fingerprint(),
        }

    def content_fingerprint(self) -> dict:
        """The fingerprint with input identities judged by content against the store's
        (a copied, renamed or touched input with the same content resumes; see
        `ntscale.genome.identity.reconcile_inputs`)."""
        fingerprint = self.fingerprint()
        if "inputs" not in fingerprint:
            return fingerprint
        from ntscale.genome.identity import reconcile_inputs
        from ntscale.store.reader import stored_fingerprint

        stored = stored_fingerprint(self.store_url)
        paths = {k: getattr(self.config, k, None) for k in ("fasta", "regions", "vcf")}
        before = None if stored is None else stored.get("inputs")
        inputs, same = reconcile_inputs(before, fingerprint["inputs"], paths)
        fingerprint["inputs"] = inputs
        if stored is not None and same.get("fasta") and "fasta" in stored:
            fingerprint["fasta"] = stored["fasta"]  # the name it had (a symlink's differs)
        return fingerprint

    def attrs(self) -> dict:
        """Root attributes: what ran (model, inputs, settings) and how it was asked for."""
        # the config as it ran: "auto" dtype recorded as the concrete one
        config = config_to_dict(self.config)
        config["execution"]["dtype"] = self.run.dtype
        config["execution"]["batch_size"] = self.run.batch_size  # table's pick or the user's
        # devices each worker split its batches over, and the rows each device ran
        config["execution"]["devices_per_actor"] = self.run.devices_per_actor
        config["execution"]["per_device_batch"] = self.run.per_device_batch(self.run.batch_size)
        return {
            "job": self.KIND,
            "model": self.run.model_attrs(source=self.config.model),
            "fasta": {"name": Path(self.config.fasta).name, "fai_digest": self.fai_digest},
            **self.own_attrs(),
            "command_line": self.command_line,
            "config": config,
        }

    def prepare(self) -> np.ndarray:
        """Create or verify the store and take its lease (driver); the units not yet done."""
        from ntscale.store import create_or_open

        writer = create_or_open(
            self.store_url,
            self.layout(),
            fingerprint=self.content_fingerprint(),
            attrs=self.attrs(),
            contigs=list(self.contigs),
            haplotype_names=self.store_haplotype_names(),
        )
        self.prepare_more()
        return np.flatnonzero(~writer.done_units(self.AXIS))

    def store_haplotype_names(self) -> list[str] | None:
        """Haplotype names of a cohort store's `haplotype` axis (None: no such axis)."""
        return None

    def prepare_more(self) -> None:
        """Job-specific arrays made after the store exists (none by default)."""
        return None

    def run_summary(self, results: list[UnitResult], seconds: float) -> dict:
        """The `last_run` record (rows with a status by default)."""
        return row_run_summary(results, seconds, rows=self.ROWS)

    def finish(self, results: Iterable[UnitResult], *, seconds: float) -> dict:
        """Record the run (`last_run`), release the lease, write consolidated metadata."""
        from ntscale.store import finalize, open_writer, store_summary

        results = list(results)
        run = self.run_summary(results, seconds)
        if results:
            open_writer(self.store_url).set_attrs(last_run=run)
        extra = self.finish_more(results)
        finalize(self.store_url)  # releases the run lease, writes consolidated metadata
        return {"run": run, "store": store_summary(self.store_url), **extra}

    def finish_more(self, results: list[UnitResult]) -> dict:
        """Job-specific records written before the store is finalised; adds to the summary."""
        return {}
