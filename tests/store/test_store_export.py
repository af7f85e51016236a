"""Exports of a score store (VCF, TSV, Parquet), their derived columns (score_columns.py), and
the per-unit side arrays (unit_blocks.py), on a small store whose every value is set by hand."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from store_workers import CONTIGS

import ntscale.store as st
from ntscale.errors import StoreError
from ntscale.store.export import export_table, export_vcf, variant_frame
from ntscale.store.score_columns import percentiles, provenance_lines
from ntscale.store.unit_blocks import ensure_unit_array, read_unit_blocks, write_unit_block

NAN = float("nan")
SCORES = ("llr_wt", "stratum_llr_wt", "l2")
# Rows as the run wrote them (store order): contig, 0-based pos, id, ref, alt, status code,
# llr_wt, stratum, l2. Rows 0 and 3 are the two ALTs of one multi-allelic record.
ROWS = [
    ("chr2", 100, "rs7", "A", "G", 0, -1.0, 0.0, 0.5),
    ("chr1", 50, "", "C", "T", 0, 1.0, 0.0, NAN),
    ("chr1", 10, "del1", "ACG", "A", 1, NAN, NAN, 0.25),
    ("chr2", 100, "rs7", "A", "T", 0, 0.5, 0.0, 1.5),
    ("chrM", 0, "m1", "T", "C", 0, 3.0, 1.0, 0.1),
]
# percentiles of llr_wt in its stratum: stored quantiles -2, 0, 2 at levels 0, 50, 100
CALIBRATION = {
    "llr_wt": {
        "levels": [0, 50, 100],
        "quantiles": {"0": [-2.0, 0.0, 2.0]},
        # as the run writes them (scoring.calibration.stratum_label)
        "labels": {"0": "A[C>A]A, base 1 of 6", "1": "A[C>A]A, base 2 of 6"},
    }
}
ATTRS = {
    "variant_status_names": {"0": "ok", "1": "no_llr_not_snv"},
    "model": {"name": "nt-tiny", "checkpoint_digest": "sha256:feed", "dtype": "float32"},
    "scoring": {
        "window_bp": 600,
        "strands": "both",
        "layers": [2],
        "score_names": list(SCORES),
        "score_docs": {"llr": "log p(alt) - log p(ref)", "l2": 'L2 "distance" of pooled means'},
    },
    "config": {"execution": {"batch_size": 8}},
    "command_line": "ntscale score\n  --vcf in.vcf.gz",
    "calibration": CALIBRATION,
}


def _make_store(url: str, *, units: tuple[int, ...] = (0, 1, 2), attrs: dict = ATTRS) -> str:
    layout = st.StoreLayout(
        n_windows=0, unit_windows=1, n_variants=len(ROWS), unit_variants=2, score_names=SCORES
    )
    writer = st.create_or_open(url, layout, fingerprint={}, attrs=attrs, contigs=CONTIGS)
    for unit in units:
        lo, hi = layout.variant_rows(unit)
        cols = list(zip(*ROWS[lo:hi], strict=True))
        variants = {
            "contig": np.array(cols[0]), "pos": np.array(cols[1]), "id": np.array(cols[2]),
            "ref": np.array(cols[3]), "alt": np.array(cols[4]), "status": np.array(cols[5]),
        }  # fmt: skip
        scores = {name: np.array(cols[6 + i]) for i, name in enumerate(SCORES)}
        writer.write_variant_unit(unit, variants=variants, scores=scores)
        writer.mark_done(unit, part="variants")
    st.finalize(url)
    return url


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _make_store(str(tmp_path_factory.mktemp("export") / "scores.zarr"))


def test_percentiles_interpolate_in_the_stratum_background() -> None:
    values = np.array([-1.0, 1.0, 0.5, 3.0, NAN, -9.0, 9.0, 0.0])
    stratum = np.array([0, 0, 0, 1, 0, 0, 0, NAN])
    got = percentiles(values, stratum, CALIBRATION["llr_wt"])
    # linear CDF between the quantiles; outside them 0 and 100; no background: NaN
    np.testing.assert_array_equal(got[:3], [25.0, 75.0, 62.5])
    assert math.isnan(got[3]) and math.isnan(got[4]) and math.isnan(got[7])
    assert got[5] == 0.0 and got[6] == 100.0
    point_mass = {"levels": [0, 50, 100], "quantiles": {"0": [0.0, 0.0, 0.0]}}
    # every background value equals x: the mid-rank, 50, not 0 or 100
    assert percentiles(np.array([0.0]), np.array([0]), point_mass)[0] == 50.0


def test_variant_frame_columns_and_values(store: str) -> None:
    frame = variant_frame(store)
    assert list(frame.columns) == [
        "contig", "pos1", "id", "ref", "alt", "status", "llr_wt", "stratum_llr_wt", "l2",
        "minus_llr_wt", "abs_llr_wt", "llr_wt_pct", "stratum_llr_wt_label",
    ]  # fmt: skip
    # a readable stratum (issue 23.5): stratum 0 is A[C>A]A at base 1, 1 the same at base 2
    assert frame["stratum_llr_wt_label"].tolist() == [
        "A[C>A]A, base 1 of 6", "A[C>A]A, base 1 of 6", "", "A[C>A]A, base 1 of 6",
        "A[C>A]A, base 2 of 6",
    ]  # fmt: skip
    assert frame["contig"].tolist() == [r[0] for r in ROWS]  # store order, not sorted
    assert frame["pos1"].tolist() == [101, 51, 11, 101, 1]  # VCF positions are 1-based
    assert frame["status"].tolist() == ["ok", "ok", "no_llr_not_snv", "ok", "ok"]
    llr = np.array([r[6] for r in ROWS], np.float32)
    np.testing.assert_array_equal(frame["llr_wt"], llr)
    np.testing.assert_array_equal(frame["minus_llr_wt"], -llr)
    np.testing.assert_array_equal(frame["abs_llr_wt"], np.abs(llr))
    np.testing.assert_array_equal(frame["llr_wt_pct"], [25.0, 75.0, NAN, 62.5, NAN])
    assert frame["llr_wt"].dtype == np.float32


def test_tsv_leaves_nan_empty(store: str, tmp_path: Path) -> None:
    path = export_table(store, tmp_path / "scores.tsv")
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    prov = [x for x in lines if x.startswith("##")]
    assert prov[:2] == ["##ntscaleWindow=600", "##ntscaleStrands=both"]
    assert "##ntscaleModelDigest=sha256:feed" in prov
    rows = list(csv.reader(lines[len(prov) :], delimiter="\t"))
    assert rows[0][:7] == ["chrom", "pos", "id", "ref", "alt", "status", "llr_wt"]
    assert rows[1] == ["chr2", "101", "rs7", "A", "G", "ok", "-1", "0", "0.5", "1", "1", "25",
                       "A[C>A]A, base 1 of 6"]  # fmt: skip
    assert rows[2][8] == ""  # l2 of row 1 is NaN
    assert rows[3][6] == "" and rows[3][2] == "del1"
    assert rows[5][8] == "0.1"  # float32 0.1 printed with 7 significant digits
    assert len(rows) == 1 + len(ROWS)


def test_parquet_equals_the_frame(store: str, tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    path = export_table(store, tmp_path / "scores.parquet")
    want = variant_frame(store).rename(columns={"contig": "chrom", "pos1": "pos"})
    pd.testing.assert_frame_equal(pd.read_parquet(path), want)
    meta = json.loads(pq.read_schema(path).metadata[b"ntscale"])
    assert meta["ntscaleModelName"] == "nt-tiny" and meta["ntscaleWindow"] == "600"
    assert meta["ntscalePreset"] == "none"
    # --scored-only: the rows whose status carries scores (all five here are ok/no_llr)
    only = pd.read_parquet(export_table(store, tmp_path / "s.parquet", scored_only=True))
    assert len(only) == len(want)


def _input_vcf(path: Path, *, alt_of_row3: str = "T") -> Path:
    """The input the synthetic store's rows come from: one record per row, in row order."""
    head = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c},length={n}>" for c, n in CONTIGS),
            '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]  # fmt: skip
    body = [
        f"{c}\t{p + 1}\t{i or '.'}\t{r}\t{alt_of_row3 if k == 3 else a}\t{k * 10}\tPASS\tDP={k}"
        for k, (c, p, i, r, a, *_rest) in enumerate(ROWS)
    ]
    path.write_text("\n".join(head + body) + "\n")
    return path


def test_vcf_keeps_the_input_records_and_leaves_nan_out(store: str, tmp_path: Path) -> None:
    src = _input_vcf(tmp_path / "in.vcf")
    path = export_vcf(store, tmp_path / "scores.vcf", vcf=src)
    assert path == tmp_path / "scores.vcf.gz"  # .gz appended
    assert not Path(f"{path}.tbi").exists()  # input order kept: unsorted, so not indexed
    with pysam.VariantFile(str(path)) as vcf:
        records = list(vcf)
        # input order, every input field kept
        assert [(r.chrom, r.pos, r.ref, r.alts, r.qual, r.info["DP"]) for r in records] == [
            (c, p + 1, ref, (a,), k * 10, k) for k, (c, p, _i, ref, a, *_r) in enumerate(ROWS)
        ]
        assert [list(r.filter) for r in records] == [["PASS"]] * 5
        assert [r.id for r in records] == ["rs7", None, "del1", "rs7", "m1"]
        assert dict(records[2].info) == {"DP": 2, "NTS_STATUS": ("no_llr_not_snv",),
                                         "NTS_l2": (0.25,)}  # fmt: skip
        assert "NTS_l2" not in records[1].info  # NaN: missing, not "nan"
        assert records[0].info["NTS_llr_wt_pct"] == (25.0,)
        assert records[4].info["NTS_abs_llr_wt"] == (3.0,)
        assert "NTS_llr_wt_pct" not in records[4].info
        for key in ("NTS_STATUS", "NTS_llr_wt", "NTS_l2", "NTS_minus_llr_wt"):
            assert vcf.header.info[key].number == "A"
        header = str(vcf.header)
    assert 'one of: ok,no_llr_not_snv,pending">' in header
    assert 'Description="ntscale llr_wt: log p(alt) - log p(ref)">' in header
    assert "Description=\"ntscale l2: L2 'distance' of pooled means\">" in header
    assert "##ntscaleModelDigest=sha256:feed" in header and "##ntscaleWindow=600" in header


def test_vcf_refuses_a_changed_or_missing_input(store: str, tmp_path: Path) -> None:
    src = _input_vcf(tmp_path / "in.vcf", alt_of_row3="C")
    with pytest.raises(StoreError, match=r"data line 4: .* the file changed since it was scored"):
        export_vcf(store, tmp_path / "x.vcf.gz", vcf=src)
    with pytest.raises(StoreError, match="does not name an input VCF file"):
        export_vcf(store, tmp_path / "x.vcf.gz")  # the synthetic store has no vcf setting
    with pytest.raises(StoreError, match="input VCF '/no/such.vcf' of the store is not there"):
        export_vcf(store, tmp_path / "x.vcf.gz", vcf="/no/such.vcf")
    bad = tmp_path / "bad.vcf"
    clash = '##INFO=<ID=NTS_l2,Number=1,Type=Float,Description="x">\n##INFO=<ID=DP'
    bad.write_text(_input_vcf(tmp_path / "ok.vcf").read_text().replace("##INFO=<ID=DP", clash))
    with pytest.raises(StoreError, match="already defines INFO NTS_l2 as Number=1"):
        export_vcf(store, tmp_path / "y.vcf.gz", vcf=bad)


def test_provenance_lines_are_one_line_each() -> None:
    assert provenance_lines(ATTRS) == [
        "##ntscaleWindow=600",
        "##ntscaleStrands=both",
        "##ntscaleDtype=float32",
        "##ntscaleModelName=nt-tiny",
        "##ntscaleModelDigest=sha256:feed",
        "##ntscalePreset=none",
        "##ntscaleLayers=2",
        "##ntscaleScores=llr_wt,stratum_llr_wt,l2",
        "##ntscaleBatchSize=8",
        "##ntscaleCommand=ntscale score --vcf in.vcf.gz",
        '##ntscaleScoreDefinition=l2: L2 "distance" of pooled means',
        "##ntscaleScoreDefinition=llr: log p(alt) - log p(ref)",
    ]
    assert provenance_lines({}) == ["##ntscalePreset=none"]


def test_exports_refuse_incomplete_and_embedding_stores(tmp_path: Path) -> None:
    partial = _make_store(str(tmp_path / "partial.zarr"), units=(0, 2))
    message = (
        f"store {partial!r} is incomplete: 1 of 3 variant units are not done yet; run the "
        "same `ntscale score` command again to finish it, then export"
    )
    for call in (
        lambda: variant_frame(partial),
        lambda: export_table(partial, tmp_path / "t.tsv"),
        lambda: export_vcf(partial, tmp_path / "t.vcf.gz"),
    ):
        with pytest.raises(StoreError, match=re.escape(message)):
            call()
    assert not (tmp_path / "t.tsv").exists() and not (tmp_path / "t.vcf.gz").exists()
    frame = variant_frame(partial, require_complete=False)
    assert frame["status"].tolist()[2:4] == ["pending", "pending"]
    embed = str(tmp_path / "embed.zarr")
    layout = st.StoreLayout(n_windows=2, unit_windows=2, layers=(1,), embed_dim=2)
    st.create_or_open(embed, layout, fingerprint={}, attrs={}, contigs=CONTIGS)
    with pytest.raises(StoreError, match=re.escape("holds no variant scores (not made by")):
        variant_frame(embed)


def test_table_suffix_and_unwritable_paths(store: str, tmp_path: Path) -> None:
    with pytest.raises(
        StoreError, match=re.escape(f"table path {str(tmp_path / 'x.txt')!r} must end in .tsv")
    ):
        export_table(store, tmp_path / "x.txt")
    with pytest.raises(StoreError, match=re.escape("cannot write table")):
        export_table(store, tmp_path / "no" / "such" / "dir" / "x.tsv")
    with pytest.raises(StoreError, match=re.escape("cannot write VCF")):
        export_vcf(store, tmp_path / "no" / "such" / "dir" / "x.vcf.gz",
                   vcf=_input_vcf(tmp_path / "in.vcf"))  # fmt: skip


def test_unit_blocks_round_trip(tmp_path: Path) -> None:
    url = _make_store(str(tmp_path / "blocks.zarr"), units=())
    name = "calibration/histogram"
    assert read_unit_blocks(url, name) is None
    ensure_unit_array(url, name, n_units=3, block=(2, 4), dtype="int32")
    ensure_unit_array(url, name, n_units=3, block=(2, 4), dtype="int32")  # exists: kept
    block = np.arange(8, dtype=np.int32).reshape(2, 4)
    assert write_unit_block(url, name, 1, block) == 32
    got = read_unit_blocks(url, name)
    assert got.shape == (3, 2, 4) and got.dtype == np.int32
    np.testing.assert_array_equal(got[1], block)
    assert (got[[0, 2]] == 0).all()  # units not written read as zeros
    assert (tmp_path / "blocks.zarr" / "calibration" / "histogram" / "c" / "1").exists()
    assert not (tmp_path / "blocks.zarr" / "calibration" / "histogram" / "c" / "0").exists()
    with pytest.raises(
        StoreError,
        match=re.escape(
            f"store {url!r}: {name} has shape (3, 2, 4) int32, this run needs "
            "(3, 2, 5) int32; write to a new --out"
        ),  # fmt: skip
    ):
        ensure_unit_array(url, name, n_units=3, block=(2, 5), dtype="int32")
    assert "histogram" not in st.open(url).variables  # a sub-group: not in the Dataset


def _track_store(url: str, *, done: bool = True) -> str:
    # per-base rows as `ntscale score --tracks` writes them, in no particular order
    rows = [("chr2", 5, 0.5, -1.0), ("chr1", 3, -2.0, -3.5), ("chr1", 1, 1.25, NAN),
            ("chr1", 2, NAN, NAN), ("chr1", 0, 1.2500001, -3.5)]  # fmt: skip
    names = ("llr_mean", "logp_wt")
    layout = st.StoreLayout(
        n_windows=0, unit_windows=1, n_variants=len(rows), unit_variants=8, score_names=names
    )
    attrs = {"job": "tracks", "scoring": {"score_names": list(names)}}
    writer = st.create_or_open(url, layout, fingerprint={}, attrs=attrs, contigs=CONTIGS)
    n = len(rows)
    variants = {
        "contig": np.array([r[0] for r in rows]), "pos": np.array([r[1] for r in rows]),
        "id": np.full(n, ""), "ref": np.full(n, "N"), "alt": np.full(n, ""),
        "status": np.full(n, "ok"),
    }  # fmt: skip
    scores = {name: np.array([r[2 + i] for r in rows]) for i, name in enumerate(names)}
    writer.write_variant_unit(0, variants=variants, scores=scores)
    if done:
        writer.mark_done(0, part="variants")
    st.finalize(url)
    return url


def test_tracks_are_written_as_bigwig_and_bedgraph(tmp_path: Path) -> None:
    import pyBigWig
    import pysam

    from ntscale.store.tracks import export_tracks

    url = _track_store(str(tmp_path / "tracks.zarr"))
    prefix = tmp_path / "out" / "sample"
    # bigWig only by default: no per-base text file beside it
    assert export_tracks(url, prefix) == [
        Path(f"{prefix}.llr_mean.bw"), Path(f"{prefix}.logp_wt.bw")
    ]  # fmt: skip
    assert not list(prefix.parent.glob("*.bedGraph*"))
    files = export_tracks(url, prefix, bedgraph=True)
    assert files == [
        Path(f"{prefix}.llr_mean.bw"), Path(f"{prefix}.llr_mean.bedGraph.gz"),
        Path(f"{prefix}.logp_wt.bw"), Path(f"{prefix}.logp_wt.bedGraph.gz"),
    ]  # fmt: skip
    assert not list(prefix.parent.glob("*.bedGraph"))  # only the bgzipped copy is left
    # sorted by contig (store order) and position; bases without a value left out; touching
    # bases with the same printed value merged (chr1 0-2), a gap (chr1:1-3 NaN) never bridged
    with pysam.TabixFile(str(files[1])) as tb:
        assert list(tb.fetch()) == ["chr1\t0\t2\t1.25", "chr1\t3\t4\t-2", "chr2\t5\t6\t0.5"]
        assert list(tb.fetch("chr1", 1, 2)) == ["chr1\t0\t2\t1.25"]  # the index answers
    with pysam.TabixFile(str(files[3])) as tb:
        assert list(tb.fetch()) == ["chr1\t0\t1\t-3.5", "chr1\t3\t4\t-3.5", "chr2\t5\t6\t-1"]
    assert Path(f"{files[1]}.tbi").exists()
    bw = pyBigWig.open(str(files[0]))
    try:
        assert bw.chroms() == {"chr1": 5000, "chr2": 3000, "chrM": 100}
        np.testing.assert_allclose(bw.values("chr1", 0, 5), [1.25, 1.25, NAN, -2.0, NAN])
        assert bw.values("chr2", 5, 6) == [0.5]
    finally:
        bw.close()


def test_tracks_refuse_other_and_unfinished_stores(store: str, tmp_path: Path) -> None:
    from ntscale.store.tracks import export_tracks

    with pytest.raises(StoreError, match=re.escape(f"store {store!r} is not a track store")):
        export_tracks(store, tmp_path / "x")
    url = _track_store(str(tmp_path / "unfinished.zarr"), done=False)
    with pytest.raises(
        StoreError,
        match=re.escape(
            f"store {url!r} is incomplete (0 of 1 units done); run the same "
            "`ntscale score --tracks` command again, then export"
        ),
    ):
        export_tracks(url, tmp_path / "x")
    assert not list(tmp_path.glob("x.*"))
