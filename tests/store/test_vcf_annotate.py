"""The input VCF annotated in place (issue 23, point 3), on real 1000 Genomes records.

Twelve records of the bundled chr20 VCF (4 samples, phased GT), given QUAL, FILTER, an
INFO flag, a FORMAT field, a second ALT and a site without ALT, are scored with the tiny
checkpoint; the annotated VCF and BCF must give back every input field, add NTS_* INFO
(Number=A) equal to the store, and read with pysam's bcftools and, when installed, the
bcftools program (CI installs it).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pysam
import pysam.bcftools
import pytest

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.errors import StoreError
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob
from ntscale.store.export import export_vcf
from ntscale.store.vcf_annotate import info_id, output_path

N_RECORDS = 12


def _input(src: Path, path: Path) -> Path:
    """The first records of `src`, made varied: QUAL, FILTER, a flag, DP, 2 ALTs, no ALT."""
    with pysam.VariantFile(str(src)) as vf:
        header = vf.header.copy()
        header.add_line('##FILTER=<ID=q10,Description="quality below 10">')
        header.add_line('##INFO=<ID=DB,Number=0,Type=Flag,Description="in dbSNP">')
        header.add_line('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="depth">')
        with pysam.VariantFile(str(path), "w", header=header) as out:
            for k, rec in enumerate(vf):
                if k == N_RECORDS:
                    break
                new = out.new_record(
                    contig=rec.contig, start=rec.start, stop=rec.stop, id=rec.id,
                    alleles=rec.alleles, qual=10.5 * k if k % 3 else None,
                    filter=["q10"] if k % 4 == 1 else ["PASS"],
                    info={key: rec.info[key] for key in rec.info},
                )  # fmt: skip
                if k == 4:  # a second ALT
                    other = next(b for b in "ACGT" if b not in rec.alleles)
                    new.alleles = (*rec.alleles, other)
                    new.info["AF"] = (0.25, 0.5)
                    new.info["CM"] = (1.0, 1.0)
                if k == 7:  # becomes a site without ALT below (pysam needs 2 alleles)
                    del new.info["AF"]
                    del new.info["CM"]
                if k % 2:
                    new.info["DB"] = True
                for s, sample in enumerate(rec.samples.values()):
                    gt = sample["GT"] if k != 7 else (0, 0)
                    new.samples[s]["GT"] = gt
                    new.samples[s].phased = sample.phased
                    new.samples[s]["DP"] = 10 * s + k
                out.write(new)
    lines = path.read_text().splitlines()
    body = [i for i, x in enumerate(lines) if not x.startswith("#")]
    cols = lines[body[7]].split("\t")
    cols[4] = "."  # a reference call: ALT missing
    lines[body[7]] = "\t".join(cols)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict:
    d = tmp_path_factory.mktemp("annotate")
    data = repo_root / "examples" / "data"
    vcf = _input(data / "chr20_2mb.vcf.gz", d / "in.vcf")
    values = {
        "fasta": str(data / "chr20_2mb.fa.gz"),
        "vcf": str(vcf),
        "model": str(repo_root / "examples" / "checkpoints" / "nt-v2-tiny"),
        "out": str(d / "s.zarr"),
        "scores": ["llr", "l2"],
        "window_bp": 300,
        "unit_variants": 8,
        "dtype": "fp32",
        "progress": False,
    }
    run_local(ScoreJob.plan_from_config(build_config(ScoreConfig, values)))
    return {"dir": d, "vcf": vcf, "url": values["out"]}


def _fields(rec: pysam.VariantRecord) -> tuple:
    """Everything of a record but the NTS_* INFO."""
    info = {k: v for k, v in rec.info.items() if not k.startswith("NTS_")}
    samples = [(s.name, dict(s.items()), s.phased) for s in rec.samples.values()]
    return (rec.contig, rec.pos, rec.id, rec.alleles, rec.qual, list(rec.filter), info, samples)


@pytest.mark.parametrize("suffix", [".vcf.gz", ".bcf"])
def test_every_input_field_round_trips_and_scores_are_added(scored: dict, suffix: str) -> None:
    path = export_vcf(scored["url"], scored["dir"] / f"out{suffix}")
    assert path == scored["dir"] / f"out{suffix}"
    index = Path(f"{path}.csi" if suffix == ".bcf" else f"{path}.tbi")
    assert index.is_file()
    ds = nstore.open(scored["url"])
    status = ds["variant_status"].values.astype(str)
    llr = ds["score_llr_masked"].values
    with pysam.VariantFile(str(scored["vcf"])) as a, pysam.VariantFile(str(path)) as b:
        assert (suffix == ".bcf") == (b.format == "BCF")
        assert list(b.header.samples) == list(a.header.samples) and len(a.header.samples) == 4
        ins, outs = list(a), list(b)
        assert len(outs) == len(ins) == N_RECORDS
        row = 0
        for x, y in zip(ins, outs, strict=True):
            assert _fields(x) == _fields(y)
            n_alt = len(x.alts or ())
            if not n_alt:
                assert not any(k.startswith("NTS_") for k in y.info), y
                row += 1
                continue
            assert y.info["NTS_STATUS"] == tuple(status[row : row + n_alt])
            got = y.info.get("NTS_llr_masked", (None,) * n_alt)
            for g, want in zip(got, llr[row : row + n_alt], strict=True):
                assert (g is None) == math.isnan(want)
                if g is not None:
                    assert g == pytest.approx(float(want), rel=1e-5)  # VCF text: 6 digits
            row += n_alt
        assert row == len(status)
        assert b.header.info["NTS_llr_masked"].number == "A"
        meta = {r.key: r.value for r in b.header.records if r.value is not None}
    assert meta["ntscaleWindow"] == "300" and meta["ntscaleModelName"] == "nt-v2-tiny"
    assert meta["ntscaleScores"].startswith("llr_masked,")
    assert meta["fileDate"] == "19/11/2018 - 06:31:09"  # the input's own header lines kept
    q = pysam.bcftools.query("-f", "%POS\t%ALT\t%INFO/NTS_STATUS\t[%GT ]\n", str(path))
    lines = q.splitlines()
    assert len(lines) == N_RECORDS and lines[4].split("\t")[1].count(",") == 1
    assert lines[4].split("\t")[2].count(",") == 1  # one status per ALT


def test_drop_genotypes_writes_sites_only(scored: dict) -> None:
    path = export_vcf(scored["url"], scored["dir"] / "sites.vcf.gz", drop_genotypes=True)
    with pysam.VariantFile(str(path)) as vf:
        assert list(vf.header.samples) == []
        recs = list(vf)
        assert len(recs) == N_RECORDS and all(len(r.samples) == 0 for r in recs)
        assert recs[1].filter.keys() == ["q10"] and recs[1].info["DB"] is True
    assert output_path("x.vcf") == Path("x.vcf.gz") and output_path("x.bcf") == Path("x.bcf")
    assert info_id("llr_wt") == "NTS_llr_wt"


def test_a_changed_input_is_refused(scored: dict, tmp_path: Path) -> None:
    text = scored["vcf"].read_text()
    body = [x for x in text.splitlines() if not x.startswith("#")]
    cut = tmp_path / "cut.vcf"
    cut.write_text("\n".join([x for x in text.splitlines() if x.startswith("#")] + body[:-1]))
    with pytest.raises(StoreError, match=r"has 1[0-9] ALT rows, the store 1[0-9]"):
        export_vcf(scored["url"], tmp_path / "o.vcf.gz", vcf=cut)


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs bcftools (apt bcftools)")
@pytest.mark.parametrize("suffix", [".vcf.gz", ".bcf"])
def test_bcftools_reads_the_annotated_file(scored: dict, suffix: str) -> None:
    path = export_vcf(scored["url"], scored["dir"] / f"bt{suffix}")
    view = subprocess.run(["bcftools", "view", "-H", str(path)], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert len(view.stdout.splitlines()) == N_RECORDS
    q = subprocess.run(
        ["bcftools", "query", "-f", "%CHROM:%POS %INFO/NTS_STATUS %INFO/NTS_llr_masked [%GT,]\n",
         "-r", "20", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = q.stdout.splitlines()
    assert len(rows) == N_RECORDS and all(r.startswith("20:") for r in rows)
    ds = nstore.open(scored["url"])
    first = float(rows[0].split()[2])
    assert first == pytest.approx(float(ds["score_llr_masked"].values[0]), rel=1e-5)
    assert np.all([r.split()[3].count("|") == 4 for r in rows])  # phased GTs kept
