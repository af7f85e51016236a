"""The cohort simulator (scripts/simulate_cohort.py) at tiny sizes: real REF bases, phased
genotypes, one seed one file, and VCF, BCF and VCZ that read the same."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest

from ntscale.genome import open_variant_reader

pytest.importorskip("msprime")
pytest.importorskip("bio2zarr")


@pytest.fixture(scope="module")
def sim(repo_root: Path):
    spec = importlib.util.spec_from_file_location(
        "simulate_cohort", repo_root / "scripts" / "simulate_cohort.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["simulate_cohort"] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("simulate_cohort", None)


@pytest.fixture(scope="module")
def tiny(sim, example_fasta: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiny"
    args = ["--fasta", str(example_fasta), "--start", "1200000", "--length", "60000"]
    args += ["--samples", "7", "--seed", "5", "--out", str(out), "--vcz-variants-chunk", "50"]
    assert sim.main(args) == 0
    return out


def body(vcf: Path) -> list[list[str]]:
    with gzip.open(vcf, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]


def test_records_carry_the_real_base_as_ref_and_a_different_alt(tiny, example_fasta):
    rows = body(tiny.with_name("tiny.vcf.gz"))
    assert len(rows) > 30
    fa = pysam.FastaFile(str(example_fasta))
    positions = [int(r[1]) for r in rows]
    assert positions == sorted(set(positions))  # one record per position
    for r in rows:
        pos1, ref, alts = int(r[1]), r[3], r[4].split(",")
        assert 1_200_000 < pos1 <= 1_260_000
        assert ref == fa.fetch("20", pos1 - 1, pos1).upper()
        assert ref not in alts and len(set(alts)) == len(alts)
        assert all(a in "ACGT" and len(a) == 1 for a in alts)
        gts = r[9:]
        assert len(gts) == 7 and all(len(g) == 3 and g[1] == "|" for g in gts)
        carried = {int(x) for g in gts for x in (g[0], g[2])}
        assert carried - {0} == set(range(1, len(alts) + 1))  # every ALT is carried


def test_summary_samples_and_populations(tiny):
    summary = json.loads(tiny.with_name("tiny.json").read_text())
    assert summary["spec"]["samples"] == 7 and summary["spec"]["seed"] == 5
    assert summary["records"] == len(body(tiny.with_name("tiny.vcf.gz")))
    assert summary["sites"] == summary["records"] + summary["not_acgt"] + summary["no_alt"]
    lines = tiny.with_name("tiny.samples.tsv").read_text().splitlines()
    assert lines[0] == "sample\tpopulation" and len(lines) == 8
    pops = [line.split("\t")[1] for line in lines[1:]]
    assert {p: pops.count(p) for p in set(pops)} == {
        k: v for k, v in summary["populations"].items() if v
    }
    assert [line.split("\t")[0] for line in lines[1:]] == [f"SIM{i:05d}" for i in range(1, 8)]


def test_vcf_bcf_and_vcz_read_the_same(tiny):
    readers = [
        open_variant_reader(tiny.with_name(n)) for n in ("tiny.vcf.gz", "tiny.bcf", "tiny.vcz")
    ]
    got = [r.query("20", 1_200_000, 1_260_000) for r in readers]
    assert len(got[0].records) > 30
    for other in got[1:]:
        assert other.records == got[0].records
        np.testing.assert_array_equal(other.gt, got[0].gt)
        assert other.phased.all()


def test_same_seed_same_bytes_other_seed_other_cohort(sim, tiny, example_fasta, tmp_path):
    common = ["--fasta", str(example_fasta), "--start", "1200000", "--length", "60000"]
    common += ["--samples", "7", "--formats", "vcf"]
    assert sim.main([*common, "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    assert sim.main([*common, "--seed", "6", "--out", str(tmp_path / "b")]) == 0
    same = (tmp_path / "a.vcf.gz").read_bytes()
    assert same == tiny.with_name("tiny.vcf.gz").read_bytes()
    assert body(tmp_path / "b.vcf.gz") != body(tmp_path / "a.vcf.gz")
    assert not (tmp_path / "a.bcf").exists() and not (tmp_path / "a.vcz").exists()


def test_n_bases_get_no_record(sim, example_fasta, tmp_path):
    # chr20 bases 0-60,000 are N: only sites after 60,000 become records
    args = ["--fasta", str(example_fasta), "--start", "20000", "--length", "80000"]
    assert (
        sim.main([*args, "--samples", "20", "--formats", "vcf", "--out", str(tmp_path / "n")]) == 0
    )
    summary = json.loads((tmp_path / "n.json").read_text())
    assert summary["not_acgt"] > 0
    assert all(int(r[1]) > 60_000 for r in body(tmp_path / "n.vcf.gz"))


def test_committed_slice_is_what_the_generator_writes(sim, repo_root, example_fasta, tmp_path):
    args = ["--fasta", str(example_fasta), "--contig", "20", "--start", "1000000"]
    args += ["--length", "300000", "--samples", "16", "--seed", "22", "--formats", "vcf"]
    assert sim.main([*args, "--out", str(tmp_path / "sim16")]) == 0
    committed = repo_root / "tests" / "data" / "cohort" / "sim16.vcf.gz"
    assert (tmp_path / "sim16.vcf.gz").read_bytes() == committed.read_bytes()


def test_population_sizes_and_allele_rotation(sim):
    assert sim.population_sizes(3202) == {"YRI": 893, "CEU": 1724, "CHB": 585}
    for n in (1, 2, 3, 10, 300, 1000):
        sizes = sim.population_sizes(n)
        assert sum(sizes.values()) == n
    assert sim.rotate_alleles(("A", "C", "T"), "G") == ["G", "T", "C"]
    for ref in "ACGT":
        out = sim.rotate_alleles(("C", "A", "G", "T"), ref)
        assert out[0] == ref and sorted(out) == list("ACGT")


def test_bad_arguments_stop_with_a_message(sim, example_fasta, tmp_path, capsys):
    with pytest.raises(SystemExit):
        sim.main(["--fasta", str(example_fasta), "--contig", "21", "--out", str(tmp_path / "x")])
    assert "contig '21' not in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sim.main(
            [
                "--fasta",
                str(example_fasta),
                "--start",
                "1990000",
                "--length",
                "20000",
                "--out",
                str(tmp_path / "x"),
            ]
        )
    assert "outside the contig" in capsys.readouterr().err


def test_demography_is_the_three_population_ooa_model(sim):
    d = sim.ooa_demography()
    names = [p.name for p in d.populations]
    assert names[:3] == ["YRI", "CEU", "CHB"]
    d.validate()
    dbg = d.debug()
    # present-day CEU size after 848 generations of 0.4 % growth from 1,000
    assert d["CEU"].initial_size == pytest.approx(1000 * np.exp(0.004 * 848), rel=1e-9)
    assert dbg.epochs[-1].start_time == pytest.approx(220e3 / 25)
