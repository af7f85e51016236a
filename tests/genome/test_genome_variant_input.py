"""Prepared variant inputs (genome/variant_input.py): tables, stdin, regions, contig renames.

Each rule of the module docstring on small hand-made inputs: a TraitGym-style table
becomes one VCF record per row in table order; `--regions` keeps exactly the records that
overlap a region; `--contig-map` renames records and header contigs; every other field of a
record is kept; a prepared file whose content is unchanged is not rewritten (a resumed run
sees the same file); bad tables are refused naming the file, row and reason.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from ntscale.errors import InputError
from ntscale.genome.variant_input import (
    PREPARED_NAME,
    contig_renamer,
    is_table,
    needs_preparing,
    prepare_variants,
    read_table,
)

CONTIGS = [("chr1", 1_000), ("chr2", 500)]
VCF = """\
##fileformat=VCFv4.2
##contig=<ID=1,length=1000>
##contig=<ID=2,length=500>
##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">
##FORMAT=<ID=GT,Number=1,Type=String,Description="genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
1\t10\ta\tA\tG\t30\tPASS\tDP=5\tGT\t0|1\t1|1
1\t100\tb\tACG\tA\t.\t.\tDP=6\tGT\t0|0\t0|1
1\t500\tc\tC\tT,G\t12.5\tPASS\t.\tGT\t1|2\t0|0
2\t7\td\tT\tC\t.\t.\t.\tGT\t0/1\t./.
"""


def _records(path: Path) -> list[tuple]:
    with pysam.VariantFile(str(path)) as vf:
        return [
            (r.contig, r.pos, r.id, r.alleles, r.qual,
             r.info.get("DP") if "DP" in vf.header.info else None,
             [s["GT"] for s in r.samples.values()])
            for r in vf
        ]  # fmt: skip


@pytest.fixture
def vcf(tmp_path: Path) -> Path:
    path = tmp_path / "in.vcf"
    path.write_text(VCF)
    return path


def test_what_needs_preparing() -> None:
    assert not needs_preparing("a.vcf.gz", regions=None, contig_map={})
    assert needs_preparing("-", regions=None, contig_map={})
    assert needs_preparing("a.vcf.gz", regions="r.bed", contig_map={})
    assert needs_preparing("a.vcf.gz", regions=None, contig_map="auto")
    for name in ("t.tsv", "t.CSV", "t.tsv.gz", "t.parquet"):
        assert is_table(name) and needs_preparing(name, regions=None, contig_map={})
    assert not is_table("t.vcf") and not is_table("t.bcf")


def test_contig_renamer_inverts_the_embed_mapping_and_does_auto() -> None:
    assert contig_renamer({"chr1": "1"}, ["chr1"]) == {"1": "chr1"}
    assert contig_renamer("auto", ["chr1", "2"]) == {"1": "chr1", "chr2": "2"}
    assert contig_renamer(None, ["chr1"]) == {} and contig_renamer({}, ["x"]) == {}


def test_contig_map_renames_records_and_header_and_keeps_every_field(
    vcf: Path, tmp_path: Path
) -> None:
    out = prepare_variants(str(vcf), dest=tmp_path / "p", fasta_contigs=CONTIGS,
                           contig_map="auto")  # fmt: skip
    assert out == tmp_path / "p" / PREPARED_NAME
    got = _records(out)
    want = [(("chr" + r[0]),) + r[1:] for r in _records(vcf)]
    assert got == want  # IDs, QUAL, INFO, genotypes (phased and not) all kept
    with pysam.VariantFile(str(out)) as vf:
        assert list(vf.header.contigs) == ["chr1", "chr2"]
        assert vf.header.contigs["chr1"].length == 1000
    assert Path(f"{out}.tbi").is_file()  # sorted: indexed, so the run can stream it


def test_regions_keep_the_records_that_overlap(vcf: Path, tmp_path: Path) -> None:
    # [101, 102) overlaps only the deletion (0-based [99, 102)); the SNV at chr2 POS 7 is
    # 0-based [6, 7), inside [0, 7).
    regions = [("chr1", 101, 102), ("chr2", 0, 7)]
    out = prepare_variants(str(vcf), dest=tmp_path / "p", fasta_contigs=CONTIGS,
                           regions=regions, contig_map={"chr1": "1", "chr2": "2"})  # fmt: skip
    assert [r[2] for r in _records(out)] == ["b", "d"]
    out = prepare_variants(str(vcf), dest=tmp_path / "q", fasta_contigs=CONTIGS,
                           regions=[("chr1", 9, 10)], contig_map="auto")  # fmt: skip
    assert [r[2] for r in _records(out)] == ["a"]
    with pytest.raises(InputError, match=r"no variant record in the --regions \(4 record"):
        prepare_variants(str(vcf), dest=tmp_path / "r", fasta_contigs=CONTIGS,
                         regions=[("chr1", 900, 950)], contig_map="auto")  # fmt: skip


def _brute_overlap(regions: list, c: str, s: int, e: int) -> bool:
    return any(rc == c and rs < e and re_ > s for rc, rs, re_ in regions)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_region_filter_matches_a_brute_force_overlap(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = VCF.splitlines()[:6]
    recs = []
    for pos1 in sorted(rng.choice(np.arange(1, 990), size=40, replace=False).tolist()):
        ref = "ACGTA"[: int(rng.integers(1, 6))]
        recs.append((pos1, ref))
        lines.append(f"1\t{pos1}\tv{pos1}\t{ref}\tT\t.\t.\t.\tGT\t0|1\t0|0")
    (tmp_path / "r.vcf").write_text("\n".join(lines) + "\n")
    starts = np.sort(rng.choice(np.arange(0, 950), size=5, replace=False))
    regions = []
    for s in starts.tolist():  # disjoint, sorted (as read_bed gives them)
        if regions and s < regions[-1][2]:
            continue
        regions.append(("chr1", s, s + int(rng.integers(1, 40))))
    try:
        out = prepare_variants(
            str(tmp_path / "r.vcf"), dest=tmp_path / "p", fasta_contigs=CONTIGS,
            regions=regions, contig_map="auto",
        )  # fmt: skip
        got = [r[2] for r in _records(out)]
    except InputError:
        got = []
    want = [f"v{p}" for p, ref in recs if _brute_overlap(regions, "chr1", p - 1, p - 1 + len(ref))]
    assert got == want


def _table(tmp_path: Path, suffix: str) -> Path:
    frame = pd.DataFrame(
        {
            "chrom": ["chr2", "chr1", "chr1"],
            "pos": [5, 20, 3],
            "ref": ["a", "C", "G"],
            "alt": ["G", "T", "GA"],
            "label": [True, False, True],  # TraitGym's extra columns are allowed
        }
    )
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv.gz":
        with gzip.open(path, "wt") as f:
            frame.to_csv(f, sep="\t", index=False)
    else:
        frame.to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".tsv", ".csv", ".tsv.gz"])
def test_a_table_becomes_one_record_per_row_in_table_order(tmp_path: Path, suffix: str) -> None:
    path = _table(tmp_path, suffix)
    assert read_table(path) == [("chr2", 5, ".", "A", "G"), ("chr1", 20, ".", "C", "T"),
                                ("chr1", 3, ".", "G", "GA")]  # fmt: skip
    out = prepare_variants(str(path), dest=tmp_path / "p", fasta_contigs=CONTIGS)
    got = [(r[0], r[1], r[3]) for r in _records(out)]
    assert got == [("chr2", 5, ("A", "G")), ("chr1", 20, ("C", "T")), ("chr1", 3, ("G", "GA"))]
    assert not Path(f"{out}.tbi").exists()  # table order is not sorted: read whole
    with pysam.VariantFile(str(out)) as vf:
        assert dict(vf.header.contigs["chr1"].header_record) is not None
        assert f"##ntscaleVariantTable={path.name}" in str(vf.header)


def test_a_table_with_an_id_column_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("#CHROM\tPOS\tID\tREF\tALT\nchr1\t3\trs1\tG\tA\nchr1\t4\t\tT\tC\n")
    assert read_table(path) == [("chr1", 3, "rs1", "G", "A"), ("chr1", 4, ".", "T", "C")]


def test_bad_tables_name_the_file_row_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("chrom,position,ref,alt\nchr1,3,G,A\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) pos; it needs chrom, pos"):
        read_table(path)
    path.write_text("chrom,pos,ref,alt\nchr1,3,G,A\nchr1,x,G,A\n")
    with pytest.raises(InputError, match=r"table row 2.*pos must be a 1-based integer") as e:
        read_table(path)
    assert str(path) in str(e.value)
    path.write_text("chrom,pos,ref,alt\nchr1,0,G,A\n")
    with pytest.raises(InputError, match="table row 1"):
        read_table(path)
    with pytest.raises(InputError, match="variant table not found"):
        read_table(tmp_path / "none.tsv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot read the variant table"):
        read_table(tmp_path / "bad.parquet")


def test_unchanged_content_keeps_the_prepared_file(vcf: Path, tmp_path: Path) -> None:
    dest = tmp_path / "p"
    out = prepare_variants(str(vcf), dest=dest, fasta_contigs=CONTIGS, contig_map="auto")
    first = out.stat().st_mtime_ns
    again = prepare_variants(str(vcf), dest=dest, fasta_contigs=CONTIGS, contig_map="auto")
    assert again == out and out.stat().st_mtime_ns == first  # not rewritten: a resume matches
    assert sorted(p.name for p in dest.iterdir()) == [PREPARED_NAME, PREPARED_NAME + ".tbi"]
    changed = prepare_variants(str(vcf), dest=dest, fasta_contigs=CONTIGS,
                               regions=[("chr1", 0, 50)], contig_map="auto")  # fmt: skip
    assert changed == out and [r[2] for r in _records(out)] == ["a"]


def test_standard_input_is_read(vcf: Path, tmp_path: Path) -> None:
    """`-` reads the VCF on stdin (a real child process with a pipe)."""
    code = (
        "import sys; from pathlib import Path; "
        "from ntscale.genome.variant_input import prepare_variants; "
        f"print(prepare_variants('-', dest=Path({str(tmp_path / 'p')!r}), "
        f"fasta_contigs={CONTIGS!r}, contig_map='auto'))"
    )
    r = subprocess.run([sys.executable, "-c", code], input=VCF, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = Path(r.stdout.strip())
    assert [r_[2] for r_ in _records(out)] == ["a", "b", "c", "d"]
    bad = subprocess.run([sys.executable, "-c", code], input="not a vcf\n", capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert bad.returncode != 0 and "cannot read the input as VCF/BCF" in bad.stderr


def test_pandas_reads_back_what_read_table_reads(tmp_path: Path) -> None:
    path = _table(tmp_path, ".tsv")
    frame = pd.read_csv(io.StringIO(path.read_text()), sep="\t")
    rows = read_table(path)
    assert [r[1] for r in rows] == frame["pos"].tolist()
    assert [r[0] for r in rows] == frame["chrom"].tolist()
