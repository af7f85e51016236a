"""Forward passes at cohort size: all 3,202 simulated samples (6,404 haplotypes).

tests/data/cohort/sim3202.vcf.gz (PROVENANCE.md) is a seeded out-of-Africa simulation of
3,202 genomes on 30 kb of real chr20. The expected number of forward passes is counted
here without ntscale's genome code: the VCF text is read line by line, every distinct
allele row of a window is written into the window's FASTA bases (pysam), and the distinct
strings of each unit are counted. The run must do exactly one pass per distinct window
sequence, at the default unit size and at 1, 7 and 1,000 windows per unit.
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pysam
import pytest

from ntscale.config import EmbedConfig, build_config
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.store import open as open_store

SLICE = ("20", 1_100_000, 1_130_000)  # the simulated stretch (0-based, half-open)


@pytest.fixture(scope="module")
def cohort(repo_root: Path) -> dict:
    """The VCF's records and [haplotypes, records] allele matrix, read as plain text."""
    vcf = repo_root / "tests" / "data" / "cohort" / "sim3202.vcf.gz"
    starts, refs, alts, rows = [], [], [], []
    with gzip.open(vcf, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            starts.append(int(f[1]) - 1)
            refs.append(f[3])
            alts.append(f[4].split(","))
            rows.append([int(a) for gt in f[9:] for a in gt.split("|")])
    assert all(len(r) == 1 for r in refs) and all(len(a) == 1 for x in alts for a in x)
    alleles = np.array(rows, np.int16).T  # [6,404, R], h = 2 * sample + phase
    assert alleles.shape[0] == 6404
    return {"vcf": vcf, "start": np.array(starts), "ref": refs, "alts": alts, "gt": alleles}


def window_strings(cohort: dict, fasta: pysam.FastaFile, contig: str, s: int, e: int) -> set:
    """Distinct sequences of one window over all haplotypes, built as byte strings."""
    base = fasta.fetch(contig, s, e).upper().encode()
    cols = np.flatnonzero((cohort["start"] >= s) & (cohort["start"] < e))
    out = set()
    for row in np.unique(cohort["gt"][:, cols], axis=0) if cols.size else [()]:
        seq = bytearray(base)
        for j, a in zip(cols.tolist(), list(row), strict=True):
            if a > 0:
                seq[cohort["start"][j] - s] = ord(cohort["alts"][j][a - 1])
        out.add(bytes(seq))
    return out


def independent_count(job: EmbedJob, cohort: dict, fasta_path: Path) -> tuple[int, int]:
    """(distinct sequences summed over units, distinct summed over windows)."""
    plan = job.plan
    assert set(plan.strand.tolist()) == {0}  # forward strand only at these settings
    per_unit = per_window = 0
    with pysam.FastaFile(str(fasta_path)) as fa:
        for unit in range(job.n_units()):
            a, b = job.unit_range(unit)
            seen: set = set()
            for w in range(a, b):
                contig = plan.contigs[int(plan.contig_index[w])]
                got = window_strings(cohort, fa, contig, int(plan.start[w]), int(plan.end[w]))
                per_window += len(got)
                seen |= got
            per_unit += len(seen)
    return per_unit, per_window


def config(example, cohort: dict, tmp_path: Path, **overrides) -> EmbedConfig:
    bed = tmp_path / "slice.bed"
    bed.write_text("{}\t{}\t{}\n".format(*SLICE))
    values = {
        "fasta": str(example["fasta"]),
        "model": str(example["model"]),
        "vcf": str(cohort["vcf"]),
        "out": str(tmp_path / "c.zarr"),
        "regions": str(bed),
        "layers": [2],
        "batch_size": 32,
        "dtype": "fp32",
        "progress": False,
    }
    values.update(overrides)
    return build_config(EmbedConfig, values)


@pytest.mark.parametrize(
    ("window_bp", "unit_windows", "region"),
    [
        # default settings (12 kbp windows, 2,048 tokens) over one window's worth of the slice
        pytest.param(None, None, (SLICE[1], SLICE[1] + 12_000), marks=pytest.mark.slow),
        (600, 1, (1_100_000, 1_106_000)),
        (600, 7, (1_100_000, 1_106_000)),
        (600, 1000, (1_100_000, 1_106_000)),
    ],
)
def test_3202_samples_forward_passes_equal_an_independent_count(
    example, cohort, tmp_path, window_bp, unit_windows, region
):
    default_unit = next(
        f.default for f in dataclasses.fields(EmbedConfig) if f.name == "unit_windows"
    )
    overrides: dict = {"unit_windows": unit_windows or default_unit}
    if window_bp is not None:
        overrides["window_bp"] = window_bp
    if region is not None:
        bed = tmp_path / "part.bed"
        bed.write_text(f"20\t{region[0]}\t{region[1]}\n")
        overrides["regions"] = str(bed)
    cfg = config(example, cohort, tmp_path, **overrides)
    job = EmbedJob.plan_from_config(cfg)
    assert len(job.haplotype_names) == 6404
    per_unit, per_window = independent_count(job, cohort, example["fasta"])
    run = run_local(job)["run"]
    assert run["forward_windows"] == per_unit
    assert run["windows_run"] == job.plan.n_windows * 6404
    assert run["useful_rows"] == per_unit <= run["device_rows"]
    # dedup is complete per window: units of one window give the per-window total
    if unit_windows == 1:
        assert per_unit == per_window
    # a cohort window is far from one sequence per haplotype
    assert per_window < 0.05 * job.plan.n_windows * 6404
    ds = open_store(cfg.out)
    assert ds.sizes["haplotype"] == 6404
    assert ds.attrs["last_run"]["forward_windows"] == per_unit
    index = ds["sequence_index"].values
    slots = np.unique(index[index >= 0])  # only used slots: the logical axis is mostly absent
    ids = dict(
        zip(slots.tolist(), ds["sequence_id"].isel(sequence=slots).values.tolist(), strict=True)
    )
    assert len(set(ids.values())) == per_unit == len(slots)  # each sequence stored once
    for w in range(index.shape[0]):
        used = np.unique(index[w][index[w] >= 0])
        assert len({ids[k] for k in used.tolist()}) == len(used)  # no sequence twice
