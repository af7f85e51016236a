"""`ntscale score` with an NTv3 model, as a job on the shared path (`JobBase`).

Rows are the VCF's ALT alleles (one per ALT, in VCF order); unit k owns rows
[k * unit_variants, (k + 1) * unit_variants) and writes one chunk of every variant array
of an ordinary score store (`variant_*`, `score_*`; statuses in their one lower-case
spelling), so exports (`--vcf-out`, `--table-out`), `verify`, `info`, resume, Ray and the
dry run work as for NT scores.

Per SNV: a window centred on it (a multiple of 2^n bases, shifted inside the contig at
its ends: status `off_centre`) -> masked-REF forward (`llr_masked`) and, post-trained,
REF and ALT forwards of one species' bigWig tracks (`track_delta_sum.<track>`,
`track_delta_max.<track>`). Indels and MNVs (post-trained, `track_delta`): REF and ALT
windows of the same length with the same left flank, ALT's outputs aligned to REF
coordinates (`ntscale.scoring.ntv3_scores.align_indel`); their `llr_masked` stays NaN
(status `no_llr_not_snv`, `off_centre_not_snv` at contig ends). REF windows shared by
several variants of a unit run once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ntscale.config import ScoreConfig
from ntscale.errors import ConfigError
from ntscale.runner.faults import before_unit
from ntscale.runner.job import UnitResult
from ntscale.runner.job_base import JobBase
from ntscale.runner.ntv3_job import (
    NTv3Worker,
    RowCounter,
    check_options,
    ntv3_attrs,
    ntv3_fingerprint,
    plan_ntv3_run,
)
from ntscale.scoring.ntv3_scores import (
    align_indel,
    indel_windows,
    masked_llr,
    parse_ntv3_scores,
    track_deltas,
    variant_window,
)

if TYPE_CHECKING:
    from ntscale.genome.variant_table import VariantTable
    from ntscale.store import StoreLayout

log = logging.getLogger(__name__)

# ScoreConfig settings NTv3 scoring does not use, with the values that mean "not given"
UNUSED = {
    "layers": (), "window_mode": "centred", "strands": "forward", "share_windows": True,
    "preset": None, "collapse_n": False, "calibrate": False, "regions": None, "revision": None,
}  # fmt: skip

SCORE_DOCS = {
    "llr_masked": "log p(ALT) - log p(REF) at the variant base, that base masked, in a REF "
    "window centred on it (natural log); SNVs only",
    "track_delta_sum": "sum over the heads' output bases of |ALT - REF| predicted track "
    "(indels: ALT aligned to REF coordinates, see docs/model.md)",
    "track_delta_max": "max over the heads' output bases of |ALT - REF| predicted track",
}


def track_score_names(tracks: tuple[str, ...]) -> tuple[str, ...]:
    """Score names of the track deltas: track_delta_sum.<t>, then track_delta_max.<t>."""
    return tuple(f"track_delta_{k}.{t}" for k in ("sum", "max") for t in tracks)


@dataclass(frozen=True, kw_only=True)
class NTv3ScoreJob(JobBase):
    """A planned NTv3 scoring run (see the module docstring)."""

    KIND: ClassVar[str] = "ntv3_score"
    AXIS: ClassVar[str] = "variants"
    ROWS: ClassVar[str] = "variants"

    config: ScoreConfig
    table: VariantTable
    kinds: tuple[str, ...]
    tracks: tuple[str, ...]
    names: tuple[str, ...]
    variants_digest: str

    @classmethod
    def plan_from_config(cls, config: ScoreConfig, *, command_line: str = "") -> NTv3ScoreJob:
        """Describe the model, check species and tracks, read the VCF's rows."""
        from ntscale.genome import FastaSource
        from ntscale.genome.variant_table import read_variant_table
        from ntscale.model.ntv3_perbase import select_tracks
        from ntscale.runner.score_job import table_digest

        check_options(config, UNUSED, "score")
        try:
            kinds = parse_ntv3_scores(config.scores)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        run = plan_ntv3_run(config, default_batch=8)
        c = run.model.config
        tracks: tuple[str, ...] = ()
        if "track_delta" in kinds:
            if not c.post_trained:
                raise ConfigError(f"{c.name}: track_delta needs a post-trained NTv3 model (tracks)")
            tracks = tuple(config.track_names or c.tracks_of(config.species))
            if not tracks:
                raise ConfigError(f"{c.name}: species {config.species!r} has no bigWig tracks")
            bad = [t for t in tracks if t.startswith("bed.")]
            if bad:
                raise ConfigError(f"track_delta scores bigWig tracks, not {bad}")
            select_tracks(c, config.species, tracks)  # names every unknown track
        fasta = FastaSource(config.fasta)
        table = read_variant_table(config.vcf, contigs=fasta.contigs)
        names = (("llr_masked",) if "llr_masked" in kinds else ()) + track_score_names(tracks)
        return cls(
            config=config,
            run=run,
            table=table,
            kinds=kinds,
            tracks=tracks,
            names=names,
            variants_digest=table_digest(table),
            contigs=tuple(fasta.contigs) + tuple((x, 0) for x in table.extra_contigs),
            fai_digest=fasta.fai_digest(),
            command_line=command_line,
        )

    @property
    def n_rows(self) -> int:
        return int(self.table.n_variants)

    @property
    def unit_size(self) -> int:
        return self.config.unit_variants

    def layout(self) -> StoreLayout:
        from ntscale.store import StoreLayout

        return StoreLayout(
            n_windows=0,
            unit_windows=1,
            n_variants=self.n_rows,
            unit_variants=self.unit_size,
            score_names=self.names,
        )

    def own_fingerprint(self) -> dict:
        return {
            **ntv3_fingerprint(self),
            "vcf": Path(self.config.vcf).name,
            "variants_digest": self.variants_digest,
            "scores": list(self.names),
            "unit_variants": self.unit_size,
        }

    def own_attrs(self) -> dict:
        from ntscale.types import score_status_names

        docs = {n: SCORE_DOCS[n.split(".")[0]] for n in self.names}
        return {
            "ntv3": ntv3_attrs(self),
            "scoring": {
                "window_bp": self.run.window_bp,
                "window_mode": "centred",
                "strands": "forward",
                "score_names": list(self.names),
                "score_docs": docs,
                "tracks": list(self.tracks),
                "indel_alignment": "ALT outputs aligned to REF coordinates; bases inserted "
                "in ALT (or deleted from REF) are left out (docs/model.md)",
                "llr_sign": "llr = log p(alt) - log p(ref): negative = alt less likely",
                "log_probabilities": "natural log, log-softmax over the model's vocabulary",
                "unit_variants": self.unit_size,
            },
            "vcf": {"name": Path(self.config.vcf).name, "rows": self.n_rows},
            "variant_status_names": score_status_names(),
        }

    def open_worker(self) -> NTv3ScoreWorker:
        return NTv3ScoreWorker(self)


class NTv3ScoreWorker(NTv3Worker):
    """Runs NTv3 scoring units (see the module docstring)."""

    def __call__(self, unit: int) -> UnitResult:
        from ntscale.tokenizer.ntv3 import BASE_IDS, NTV3_MASK, tokenize_bases
        from ntscale.types import ScoreStatus

        before_unit(unit)
        rows = RowCounter()
        job, t = self.job, self.job.table
        a, b = job.unit_range(unit)
        n, block, window = b - a, job.run.model.config.block_bp, job.run.window_bp
        status = t.status[a:b].astype(np.uint8).copy()
        llr = np.full(n, np.nan, np.float32)
        d_sum = np.full((n, len(job.tracks)), np.nan, np.float32)
        d_max = np.full((n, len(job.tracks)), np.nan, np.float32)
        src = self.input()
        cache: dict[tuple[str, int, int], np.ndarray] = {}

        def ref_tokens(contig: str, s: int, e: int) -> np.ndarray:
            if (contig, s, e) not in cache:
                seq = src.fetch(contig, s, e)
                cache[contig, s, e] = tokenize_bases(seq, where=f"{contig}:{s}-{e}")
            return cache[contig, s, e]

        snvs, indels = [], []  # (row, ...) jobs
        to_score = (status == ScoreStatus.OK) | (status == ScoreStatus.NO_LLR_NOT_SNV)
        for i in np.flatnonzero(to_score):
            r = a + int(i)
            contig, pos, ref, alt = str(t.contig[r]), int(t.pos[r]), str(t.ref[r]), str(t.alt[r])
            length = src.contig_length(contig)
            if len(ref) == len(alt) == 1:
                try:
                    s, e = variant_window(pos, length, window, block)
                except ValueError:
                    status[i] = ScoreStatus.ALLELE_EXCEEDS_WINDOW
                    continue
                tok = ref_tokens(contig, s, e)
                if tok[pos - s] != BASE_IDS[ref]:
                    status[i] = ScoreStatus.REF_MISMATCH
                    continue
                if pos - s != (e - s) // 2:
                    status[i] = ScoreStatus.OFF_CENTRE
                snvs.append((int(i), (contig, s, e), pos - s, BASE_IDS[ref], BASE_IDS[alt]))
            else:  # MNV or indel: no single-base LLR; track deltas on aligned outputs
                status[i] = ScoreStatus.NO_LLR_NOT_SNV
                if "track_delta" not in job.kinds:
                    continue
                if src.fetch(contig, pos, pos + len(ref)).upper() != ref.upper():
                    status[i] = ScoreStatus.REF_MISMATCH
                    continue
                try:
                    plan = indel_windows(contig, pos, ref, alt, length, window, block)
                except ValueError:
                    status[i] = ScoreStatus.ALLELE_EXCEEDS_WINDOW
                    continue
                if plan.off_centre:
                    status[i] = ScoreStatus.OFF_CENTRE_NOT_SNV
                indels.append((int(i), plan))

        track_opts = {"outputs": ("bigwig",), "tracks": job.tracks}
        if "llr_masked" in job.kinds and snvs:
            masked = []
            for _, key, off, _, _ in snvs:
                tok = ref_tokens(*key).copy()
                tok[off] = NTV3_MASK
                masked.append(tok)
            for (i, _, off, r_id, a_id), o in zip(
                snvs, self._by_length(masked, rows, outputs=("logits",)), strict=True
            ):
                llr[i] = masked_llr(o["logits"][off], r_id, a_id)
        if "track_delta" in job.kinds and (snvs or indels):
            keys = sorted({key for _, key, _, _, _ in snvs} | {p.ref_key for _, p in indels})
            ref_out = self._by_length([ref_tokens(*k) for k in keys], rows, **track_opts)
            ref_tracks = {k: o["bigwig"] for k, o in zip(keys, ref_out, strict=True)}
            alts = []
            for _, key, off, _, a_id in snvs:
                tok = ref_tokens(*key).copy()
                tok[off] = a_id
                alts.append(tok)
            for _, p in indels:
                seq = src.fetch(p.ref_key[0], p.alt_start, p.alt_end)
                alts.append(tokenize_bases(p.alt_sequence(seq), where=f"{p.ref_key}"))
            alt_out = self._by_length(alts, rows, **track_opts)
            for (i, key, _, _, _), o in zip(snvs, alt_out[: len(snvs)], strict=True):
                d_sum[i], d_max[i] = track_deltas(ref_tracks[key], o["bigwig"])
            for (i, p), o in zip(indels, alt_out[len(snvs) :], strict=True):
                crop = self.model.config.crop_bounds(p.ref_key[2] - p.ref_key[1])
                ref_al, alt_al = align_indel(ref_tracks[p.ref_key], o["bigwig"], p, crop)
                d_sum[i], d_max[i] = track_deltas(ref_al, alt_al)
        scores = {"llr_masked": llr} if "llr_masked" in job.kinds else {}
        for j, name in enumerate(job.tracks):
            scores[f"track_delta_sum.{name}"] = d_sum[:, j]
            scores[f"track_delta_max.{name}"] = d_max[:, j]
        variants = {
            "contig": t.contig[a:b].astype(str),
            "pos": t.pos[a:b],
            "id": t.id[a:b].astype(str),
            "ref": t.ref[a:b].astype(str),
            "alt": t.alt[a:b].astype(str),
            "status": status,
        }
        nbytes = self.writer.write_variant_unit(unit, variants=variants, scores=scores)
        self.writer.mark_done(unit, part="variants")
        return rows.result(unit, [ScoreStatus(int(x)).name.lower() for x in status], nbytes)

    def _by_length(self, tokens: list[np.ndarray], rows: RowCounter, **kw) -> list[dict]:
        """`batched` over rows grouped by length, outputs back in the given order."""
        out: list[dict | None] = [None] * len(tokens)
        groups: dict[int, list[int]] = {}
        for i, tok in enumerate(tokens):
            groups.setdefault(len(tok), []).append(i)
        for idx in groups.values():
            for i, o in zip(idx, self.batched([tokens[i] for i in idx], rows, **kw), strict=True):
                out[i] = o
        return out  # type: ignore[return-value]


def score_values(ds, name: str):  # noqa: ANN001, ANN201 -- xarray in, xarray out
    """[variant, track] DataArray of `track_delta_<name>` ("sum" or "max") of an NTv3 score
    store opened with `ntscale.store.open` (or xarray), tracks as the `track` coordinate."""
    import xarray as xr

    prefix = f"score_track_delta_{name}."
    keys = [k for k in ds.data_vars if str(k).startswith(prefix)]
    tracks = [str(k)[len(prefix) :] for k in keys]
    return xr.concat([ds[k] for k in keys], dim="track").assign_coords(track=tracks).T


__all__ = ["NTv3ScoreJob", "NTv3ScoreWorker", "score_values", "track_score_names"]
