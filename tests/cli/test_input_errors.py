"""Bad input gives one `error:` line naming the file, the record and the reason (exit 2),
never a traceback; `--debug` keeps the traceback."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pysam
import pytest
from cli_helpers import FASTA, REPO, TINY_MODEL, invoke

from ntscale.cli.main import main

BAD_VCF = REPO / "tests" / "data" / "htslib_bad_vcf"
VCF = REPO / "examples" / "data" / "chr20_2mb.vcf.gz"


def write_fasta(path: Path, names: tuple[str, ...], n_bp: int = 1200) -> Path:
    rng = random.Random(7)
    with open(path, "w") as fh:
        for name in names:
            seq = "".join(rng.choice("ACGT") for _ in range(n_bp))
            fh.write(f">{name}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, n_bp, 60)))
    return path


def indexed_vcf(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / (src.name + ".gz")
    pysam.tabix_compress(str(src), str(out), force=True)
    pysam.tabix_index(str(out), preset="vcf", force=True)
    return out


def embed_args(fasta: Path, out: Path | str, *extra: str) -> list[str]:
    return [
        "embed", "--fasta", str(fasta), "--model", str(TINY_MODEL), "--out", str(out),
        "--window", "600", "--dtype", "fp32", "--batch-size", "2", "--no-progress", *extra,
    ]  # fmt: skip


def refused(fasta: Path, out: Path | str, *extra: str) -> str:
    """Embed with these inputs; assert exit 2; return the one error line."""
    r = invoke(*embed_args(fasta, out, *extra))
    line = r.error_line()
    assert r.code == 2
    return line


def vcf_refused(tmp_path: Path, contig: str, src: Path) -> tuple[Path, str]:
    """Embed a one-contig FASTA with `src` (bgzipped and indexed): (the VCF, the error line)."""
    fa = write_fasta(tmp_path / "g.fa", (contig,))
    vcf = indexed_vcf(src, tmp_path)
    return vcf, refused(fa, tmp_path / "o.zarr", "--vcf", str(vcf))


def test_vcf_with_samples_but_no_gt(tmp_path):
    vcf, line = vcf_refused(tmp_path, "1", BAD_VCF / "formatmissing.vcf")
    assert f"{vcf}: header: the VCF has 3 sample(s) but its header declares no GT" in line


def test_vcf_record_without_gt_names_the_record(tmp_path):
    text = (BAD_VCF / "formatmissing.vcf").read_text()
    text = text.replace(
        "#CHROM", '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n#CHROM'
    )
    src = tmp_path / "gt_declared.vcf"
    src.write_text(text)
    vcf, line = vcf_refused(tmp_path, "1", src)
    assert f"{vcf}: 1:100 a A>T: the record has no" in line and "GT (genotype) field" in line


def test_malformed_vcf_record(tmp_path):
    vcf, line = vcf_refused(tmp_path, "3", BAD_VCF / "noroundtrip-out.vcf")
    # The driver reads no genotype (cohort planning: sites only), so the bad GT is found by
    # the worker reading its window's genotypes: the record named is the region read.
    assert f"{vcf}: 3:1-600: malformed VCF record: htslib cannot parse the first record" in line


def test_truncated_bgzf_fasta(tmp_path):
    fa = tmp_path / "cut.fa.gz"
    fa.write_bytes(FASTA.read_bytes()[:300_000])  # an interrupted download, its index kept
    for suffix in (".fai", ".gzi"):
        shutil.copy(str(FASTA) + suffix, str(fa) + suffix)
    line = refused(fa, tmp_path / "o.zarr")
    assert f"{fa}: .fai line 1: the FASTA ends before the last base of contig '20'" in line
    assert "truncated" in line


def chr_prefixed_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A FASTA naming its contig 'chr1' and a phased VCF naming it '1'."""
    fa = write_fasta(tmp_path / "g.fa", ("chr1",))
    base = pysam.FastaFile(str(fa)).fetch("chr1", 99, 100)
    alt = "A" if base != "A" else "C"
    src = tmp_path / "calls.vcf"
    src.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=1200>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        f"1\t100\tv1\t{base}\t{alt}\t.\tPASS\t.\tGT\t0|1\n"
    )
    return fa, indexed_vcf(src, tmp_path)


@pytest.mark.parametrize("how", ["yaml", "flag"])
def test_contig_map_auto_from_yaml_or_flag(tmp_path, how):
    import ntscale.store as store

    fa, vcf = chr_prefixed_inputs(tmp_path)
    out = tmp_path / "o.zarr"
    assert "--contig-map auto" in refused(fa, out, "--vcf", str(vcf))
    assert not out.exists()  # refused while planning, before the store is made
    if how == "yaml":
        cfg = tmp_path / "run.yaml"
        cfg.write_text("contig_map: auto\n")
        extra = ["--config", str(cfg)]
    else:
        extra = ["--contig-map", "chr1=1"]
    r = invoke(*embed_args(fa, out, "--vcf", str(vcf), *extra))
    assert r.code == 0, r.err
    ds = store.open(str(out))
    assert int(ds["n_variants"].values.sum()) >= 1  # the haplotype carrying the ALT


def test_unknown_store_protocol(tmp_path):
    fa = write_fasta(tmp_path / "g.fa", ("1",))
    line = refused(fa, "foo://b/x.zarr")
    assert "unknown storage protocol 'foo' in 'foo://b/x.zarr'" in line


def test_corrupt_root_zarr_json(tmp_path):
    fa = write_fasta(tmp_path / "g.fa", ("1",))
    out = tmp_path / "o.zarr"
    out.mkdir()
    (out / "zarr.json").write_text('{"zarr_format": 3, "node_type": ')
    assert f"the metadata of the store at '{out}' is damaged" in refused(fa, out)


def test_debug_keeps_the_traceback(tmp_path):
    from ntscale.errors import InputError

    fa = write_fasta(tmp_path / "g.fa", ("1",))
    vcf = indexed_vcf(BAD_VCF / "formatmissing.vcf", tmp_path)
    with pytest.raises(InputError, match="declares no GT"):
        main(["--debug", *embed_args(fa, tmp_path / "o.zarr", "--vcf", str(vcf))])


def test_truncated_vcf_is_refused_not_read_as_fewer_variants(tmp_path):
    vcf = tmp_path / "cut.vcf.gz"
    vcf.write_bytes(VCF.read_bytes()[:100_000])  # the index still covers the whole file
    shutil.copy(str(VCF) + ".csi", str(vcf) + ".csi")
    line = refused(FASTA, tmp_path / "o.zarr", "--vcf", str(vcf), "--samples", "HG00096")
    assert f"{vcf}: the VCF/BCF has no BGZF end-of-file block: it is truncated" in line


def test_corrupt_vcf_index(tmp_path):
    vcf = tmp_path / "v.vcf.gz"
    shutil.copy(VCF, vcf)
    (tmp_path / "v.vcf.gz.csi").write_bytes(b"\x1f\x8b" * 50)  # not an index
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1001200\n")
    line = refused(FASTA, tmp_path / "o.zarr", "--vcf", str(vcf), "--samples", "HG00096",
                   "--regions", str(bed))  # fmt: skip
    assert f"{vcf}: 20: cannot use the VCF's index" in line  # found while planning
    assert f"bcftools index -f {vcf}" in line


def test_not_a_fasta(tmp_path):
    fa = tmp_path / "notes.fa"
    fa.write_text("not a fasta\n")
    assert f"{fa}: htslib cannot index it: this is not a FASTA file" in refused(
        fa, tmp_path / "o.zarr"
    )


def test_an_unexpected_exception_is_one_line_too(tmp_path, monkeypatch):
    """Whatever no boundary caught still gives one line (exit 1); --debug shows it all."""
    import ntscale.genome.fasta as fasta_mod

    def broken(*_a, **_k):
        raise KeyError("no such thing")

    monkeypatch.setattr(fasta_mod, "check_fai", broken)
    fa = write_fasta(tmp_path / "g.fa", ("1",))
    r = invoke(*embed_args(fa, tmp_path / "o.zarr"))
    assert r.code == 1
    assert r.error_line().startswith("error: unexpected KeyError: 'no such thing'; rerun")
    with pytest.raises(KeyError):
        main(["--debug", *embed_args(fa, tmp_path / "o.zarr")])
