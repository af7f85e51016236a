"""One forward pass per distinct haplotype window: counts, sequence ids and equal stores.

The 300-sample test runs real 1000 Genomes haplotypes (tests/data/dedup, PROVENANCE.md)
and counts the distinct haplotypes of every window independently, from the genotypes
alone (pysam): two haplotypes give the same window sequence exactly when they carry the
same alleles at every record overlapping the window (true on this slice; the count of
distinct token sequences says the same).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pysam
import pytest
from storecmp import assert_same_bytes, assert_same_values

from ntscale.config import EmbedConfig, build_config
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.store import open as open_store
from ntscale.types import WindowStatus

REGION = ("20", 1_110_200, 1_116_200)  # ten 600 bp windows, 45 distinct haplotype windows
WINDOW = 600


@pytest.fixture(scope="module")
def vcf_300(repo_root: Path) -> Path:
    return repo_root / "tests" / "data" / "dedup" / "chr20_300.vcf.gz"


def genotype_patterns(vcf: Path, contig: str, start: int, end: int) -> list[tuple]:
    """Per haplotype (sample-major, phase-minor): its alleles at the records overlapping."""
    with pysam.VariantFile(str(vcf)) as v:
        samples = list(v.header.samples)
        records = list(v.fetch(contig, start, end))
        return [
            tuple(r.samples[samples[h // 2]]["GT"][h % 2] for r in records)
            for h in range(2 * len(samples))
        ]


def cohort_config(example, vcf: Path, out: Path, **overrides) -> EmbedConfig:
    contig, start, end = REGION
    bed = out.parent / "region.bed"
    bed.write_text(f"{contig}\t{start}\t{end}\n")
    values = {
        "fasta": str(example["fasta"]),
        "model": str(example["model"]),
        "vcf": str(vcf),
        "out": str(out),
        "regions": str(bed),
        "window_bp": WINDOW,
        "layers": [2],
        "unit_windows": 2,  # two genomic windows (all 600 haplotypes of each) per unit
        "batch_size": 32,
        "dtype": "fp32",
        "progress": False,
    }
    values.update(overrides)
    return build_config(EmbedConfig, values)


def independent_distinct(job: EmbedJob, cfg: EmbedConfig) -> int:
    """Distinct token sequences per unit, counted without the cohort path: every
    (window, haplotype) row built on its own (`WindowSource.fetch_rows` over the row plan
    of `with_haplotypes`), tokenized, and put in one set per unit."""
    from ntscale.genome import WindowSource, with_haplotypes

    names = job.haplotype_names
    rows_plan = with_haplotypes(job.plan, len(names), names)
    source = WindowSource(
        cfg.fasta, tokenizer="v2", max_tokens=job.max_tokens, vcf_path=cfg.vcf, samples=None
    )
    total = 0
    for unit in range(job.n_units()):
        a, b = job.unit_range(unit)
        rows = np.arange(a * len(names), b * len(names))
        seqs = source.fetch_rows(rows_plan, rows)
        total += len({tuple(source.tokenizer.encode(x.sequence)) for x in seqs if x.sequence})
    return total


def stored_bytes(store: Path, name: str) -> int:
    """Bytes on disk of one array's chunk objects."""
    return sum(p.stat().st_size for p in (store / name / "c").rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("window_bp", "unit_windows"),
    [
        pytest.param(None, None, marks=pytest.mark.slow),  # 12 kbp windows: ~3 min on CPU
        (WINDOW, 1),
        (WINDOW, 7),
        (WINDOW, 1000),
    ],
)
def test_300_samples_forward_passes_equal_an_independent_count(
    example, vcf_300, tmp_path, window_bp, unit_windows
):
    """Forward passes == distinct window sequences counted row by row, whatever the unit
    size (dedup is complete per window); stored embedding bytes bounded by distinct."""
    default_unit = next(
        f.default for f in dataclasses.fields(EmbedConfig) if f.name == "unit_windows"
    )
    overrides: dict = {"window_bp": window_bp, "unit_windows": unit_windows or default_unit}
    if window_bp is None:  # the model's default windows over the whole 30 kb slice
        bed = tmp_path / "slice.bed"
        bed.write_text("20\t1100000\t1130000\n")
        overrides["regions"] = str(bed)
    cfg = cohort_config(example, vcf_300, tmp_path / "c.zarr", **overrides)
    job = EmbedJob.plan_from_config(cfg)
    run = run_local(job)["run"]
    expected = independent_distinct(job, cfg)
    assert run["forward_windows"] == expected
    assert run["windows_run"] == job.plan.n_windows * 600
    ds = open_store(cfg.out)
    assert ds.attrs["last_run"]["forward_windows"] == expected
    assert ds.sizes["haplotype"] == 600 and ds.sizes["window"] == job.plan.n_windows
    # dedup complete per window: no two slots of one window hold the same sequence
    index = ds["sequence_index"].values
    ids = ds["sequence_id"].values
    for w in range(index.shape[0]):
        used = np.unique(index[w])
        assert len(np.unique(ids[used])) == len(used)
    # each distinct sequence stored once: bytes on disk <= 1.05 x distinct x L x D x 4
    n_layers, dim = ds.sizes["layer"], ds.sizes["dim"]
    assert stored_bytes(Path(cfg.out), "embedding_mean") <= 1.05 * expected * n_layers * dim * 4
    assert st_summary_sequences(cfg.out) == expected


def st_summary_sequences(url: str) -> int:
    from ntscale.store import store_summary

    return store_summary(url)["windows"]["sequences_stored"]


def test_300_samples_one_pass_per_distinct_haplotype_and_same_store(example, vcf_300, tmp_path):
    from ntscale.genome import FastaSource
    from ntscale.store import haplotype_rows
    from ntscale.tokenizer import get_tokenizer
    from ntscale.tokenizer.distinct import digest_to_id, token_digest

    cfg = cohort_config(example, vcf_300, tmp_path / "dedup.zarr")
    job = EmbedJob.plan_from_config(cfg)
    run = run_local(job)["run"]

    contig, start, end = REGION
    starts = list(range(start, end, WINDOW))
    patterns = {s: genotype_patterns(vcf_300, contig, s, s + WINDOW) for s in starts}
    # windows of one unit never share a sequence (different loci), so per-window counts add
    expected = sum(len(set(p)) for p in patterns.values())
    assert expected == 45
    assert run["windows_run"] == job.plan.n_windows * 600 == 600 * len(starts)
    assert run["forward_windows"] == expected
    assert run["dedup"] is True

    ds = haplotype_rows(open_store(cfg.out))
    assert ds.attrs["last_run"]["forward_windows"] == expected
    assert (ds["status"].values == WindowStatus.OK.name).all()
    ids = ds["sequence_id"].values
    fasta, tok = FastaSource(cfg.fasta), get_tokenizer("v2")
    for k, s in enumerate(starts):
        rows = slice(600 * k, 600 * (k + 1))
        assert list(ds["start"].values[rows]) == [s] * 600
        # same id <=> same alleles: the two partitions of the window's haplotypes are equal
        by_id, by_gt = {}, {}
        for h, (sid, gt) in enumerate(zip(ids[rows], patterns[s], strict=True)):
            by_id.setdefault(int(sid), set()).add(h)
            by_gt.setdefault(gt, set()).add(h)
        assert sorted(map(sorted, by_id.values())) == sorted(map(sorted, by_gt.values()))
        # haplotypes without ALT alleles here share the reference window's id
        ref_id = digest_to_id(token_digest(tok.encode(fasta.fetch(contig, s, s + WINDOW))))
        plain = ds["n_variants"].values[rows] == 0
        assert plain.any()
        assert (ids[rows][plain] == ref_id).all()
        assert (ids[rows][~plain] != ref_id).all()
        emb = ds["embedding_mean"].sel(layer=2).values[rows]
        for members in by_id.values():  # rows of one sequence hold the same numbers
            m = sorted(members)
            assert (emb[m] == emb[m[0]]).all()

    off = cohort_config(example, vcf_300, tmp_path / "nodedup.zarr", dedup=False)
    run_off = run_local(EmbedJob.plan_from_config(off))["run"]
    assert run_off["forward_windows"] == run_off["windows_run"] == job.plan.n_windows * 600
    # batch 32: the dedup run's short last batches (16 rows) are not the plain run's (32),
    # and XLA's CPU matmuls round a row differently in the last place across batch sizes
    assert_same_values(Path(cfg.out), Path(off.out))
    # the dedup run wastes under half of each unit's last batch (was up to 31 rows a unit)
    assert run["useful_rows"] == expected
    assert expected <= run["device_rows"] < expected + 16 * job.n_units()
    assert run_off["device_rows"] == run_off["useful_rows"] == job.plan.n_windows * 600


def test_dedup_equals_per_row_with_strands_ns_shrunk_windows_and_per_token(
    small_config, example, tmp_path
):
    """Both strands, all-N and shrunk windows, CLS and per-token outputs, 2 samples."""
    bed = tmp_path / "mixed.bed"
    # an all-N window, one with 2,000 Ns (over the token budget: shrunk) and a plain
    # window with variants: three padded lengths (512, 2,048 tokens) in one run
    bed.write_text("20\t0\t3000\n20\t58000\t61000\n20\t1000000\t1003000\n")
    common = {
        "regions": str(bed),
        "window_bp": 3000,
        "vcf": str(example["vcf"]),
        "samples": ["HG00096", "HG00097"],
        "strands": "both",
        "cls": True,
        "per_token": True,
        "unit_windows": 12,
        "batch_size": 2,
        "gap_aware": False,  # keep the all-N and shrunk rows this test is about
    }
    on = small_config(out=str(tmp_path / "on.zarr"), **common)
    off = small_config(out=str(tmp_path / "off.zarr"), dedup=False, **common)
    run_on = run_local(EmbedJob.plan_from_config(on))["run"]
    run_off = run_local(EmbedJob.plan_from_config(off))["run"]
    assert_same_bytes(Path(on.out), Path(off.out))

    from ntscale.store import haplotype_rows

    ds = haplotype_rows(open_store(on.out))
    status, ids = ds["status"].values, ds["sequence_id"].values
    skipped = status == WindowStatus.SKIPPED_ALL_N.name
    assert run_on["windows_run"] == run_off["windows_run"] == ids.size
    assert run_off["forward_windows"] == ids.size - skipped.sum()  # skipped rows run nothing
    assert skipped.any() and (status == WindowStatus.SHRUNK_TO_TOKEN_BUDGET.name).any()
    assert (ids[skipped] == 0).all() and (ids[~skipped] != 0).all()
    # an independent count: tokenize every row's sequence, one set per unit
    from ntscale.genome import WindowSource

    job = EmbedJob.plan_from_config(on)
    assert job.unit_size == 24  # 12 genomic windows x 2 strands
    source = WindowSource(
        on.fasta, tokenizer="v2", max_tokens=job.max_tokens, vcf_path=on.vcf, samples=on.samples
    )
    from ntscale.genome import with_haplotypes

    h = len(job.haplotype_names)
    rows_plan = with_haplotypes(job.plan, h, job.haplotype_names)
    distinct = 0
    for u in range(job.n_units()):
        a, b = job.unit_range(u)
        seqs = source.fetch_rows(rows_plan, np.arange(a * h, b * h))
        distinct += len({tuple(source.tokenizer.encode(x.sequence)) for x in seqs if x.sequence})
    assert run_on["forward_windows"] == distinct
    assert distinct < run_on["windows_run"] - int(skipped.sum())
    # equal ids <=> equal (row-independent) numbers across the whole store
    mean = ds["embedding_mean"].sel(layer=1).values
    _, first = np.unique(ids[~skipped], return_index=True)
    assert len(np.unique(mean[~skipped][first], axis=0)) == len(first)


@pytest.mark.parametrize(("flag", "dedup"), [("--no-dedup", False), (None, True)])
def test_cli_dedup_option(example, tmp_path, flag, dedup):
    from ntscale.cli.main import main

    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000600\n")
    out = tmp_path / "cli.zarr"
    args = ["embed", "--no-progress", "--fasta", str(example["fasta"])]
    args += ["--model", str(example["model"]), "--out", str(out), "--regions", str(bed)]
    args += ["--vcf", str(example["vcf"]), "--window", "600", "--dtype", "fp32"]
    try:
        main(args + ([flag] if flag else []))
    except SystemExit as e:  # success may or may not exit explicitly
        assert e.code in (0, None)
    ds = open_store(str(out))
    run = ds.attrs["last_run"]
    assert run["dedup"] is dedup and run["windows_run"] == 8  # 4 samples x 2 haplotypes
    assert ds.sizes["haplotype"] == 8 and ds.sizes["window"] == 1
    used = np.unique(ds["sequence_index"].values)
    distinct = len(np.unique(ds["sequence_id"].values[used]))
    assert distinct == len(used)  # each distinct sequence stored once
    assert run["forward_windows"] == (distinct if dedup else 8)
    assert ds.attrs["config"]["dedup"] is dedup
