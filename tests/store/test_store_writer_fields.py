"""What the writer accepts for each per-row field and what the store keeps (names, not codes),
the arrays' own metadata, and what a resume keeps of the first run (store/writer.py, create.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import zarr
from store_workers import CONTIGS

import ntscale.store as st
from ntscale.errors import StoreError
from ntscale.store.schema import VARIANT_FIELDS, WINDOW_FIELDS

LAYOUT = st.StoreLayout(n_windows=4, unit_windows=4, layers=(2,), embed_dim=2, n_variants=3,
                        unit_variants=3, score_names=("llr",))  # fmt: skip
ATTRS = {"haplotype_names": ["HG1:0", "HG1:1"], "variant_status_names": {"0": "ok", "4": "bad"}}


@pytest.fixture
def writer(tmp_path: Path) -> st.StoreWriter:
    return st.create_or_open(str(tmp_path / "f.zarr"), LAYOUT, fingerprint={"run": 1},
                             attrs=ATTRS, contigs=CONTIGS)  # fmt: skip


def _windows(**changes: object) -> dict[str, object]:
    rows = {
        "contig_index": np.array([2, 0, 1, 0]), "start": np.array([0, 10, 20, 30]),
        "end": np.array([5, 15, 25, 35]), "strand": np.array([0, 1, 1, 0], np.int8),
        "haplotype": np.array([-1, 0, 1, -1]), "n_tokens": np.array([2, 2, 2, 0]),
        "frac_n": np.array([0.0, 0.5, 0.25, 1.0]), "n_variants": np.array([0, 1, 2, 0]),
        "status": np.array([0, 1, 3, 2], np.uint8), "sequence_id": np.array([1, 2, 3, 0]),
    }  # fmt: skip
    rows.update(changes)
    return rows


def _embeddings() -> dict:
    return {"mean": np.arange(8, dtype=np.float64).reshape(1, 4, 2)}  # [L, n, D]


def test_codes_and_indices_are_stored_as_names(writer: st.StoreWriter) -> None:
    writer.write_window_unit(0, windows=_windows(), embeddings=_embeddings())
    ds = st.open(writer.url)
    assert ds.contig.values.tolist() == ["chrM", "chr1", "chr2", "chr1"]
    assert ds.strand.values.tolist() == ["+", "-", "-", "+"]
    assert ds.haplotype.values.tolist() == ["reference", "HG1:0", "HG1:1", "reference"]
    assert ds.status.values.tolist() == [
        "OK", "SHRUNK_TO_TOKEN_BUDGET", "SKIPPED_HAPLOTYPE", "SKIPPED_ALL_N"
    ]  # fmt: skip
    assert ds.sequence_id.dtype == np.uint64 and ds.n_tokens.dtype == np.int32


def test_names_are_taken_as_they_are(writer: st.StoreWriter) -> None:
    rows = _windows(strand=np.array(["-", "+", "+", "-"]),
                    haplotype=np.array(["S9:1", "reference", "S9:0", "reference"]),
                    status=np.array(["OK", "OK", "SKIPPED_ALL_N", "OK"]))  # fmt: skip
    rows["contig"] = np.array(["chr2", "chr2", "chrM", "chr1"])
    del rows["contig_index"]
    writer.write_window_unit(0, windows=rows, embeddings=_embeddings())
    ds = st.open(writer.url)
    assert ds.contig.values.tolist() == ["chr2", "chr2", "chrM", "chr1"]
    assert ds.strand.values.tolist() == ["-", "+", "+", "-"]
    assert ds.haplotype.values.tolist() == ["S9:1", "reference", "S9:0", "reference"]


def test_variant_status_codes_use_the_store_names(writer: st.StoreWriter) -> None:
    variants = {"contig_index": np.array([0, 1, 2]), "pos": np.array([4, 5, 6]),
                "id": np.array(["a", "", "c"]), "ref": np.array(["A", "C", "G"]),
                "alt": np.array(["T", "G", "A"]), "status": np.array([4, 0, 9])}  # fmt: skip
    writer.write_variant_unit(0, variants=variants, scores={"llr": np.array([1.0, 2.0, 3.0])})
    ds = st.open(writer.url)
    # a code without a name is kept as its number, never dropped
    assert ds.variant_status.values.tolist() == ["bad", "ok", "9"]
    assert ds.variant_contig.values.tolist() == ["chr1", "chr2", "chrM"]
    assert ds.score_llr.dtype == np.float32


def test_unknown_window_status_codes_are_kept_as_numbers(writer: st.StoreWriter) -> None:
    writer.write_window_unit(0, windows=_windows(status=np.array([0, 0, 42, 255])),
                             embeddings=_embeddings())  # fmt: skip
    assert st.open(writer.url).status.values.tolist() == ["OK", "OK", "42", "PENDING"]


def test_haplotype_index_out_of_range(writer: st.StoreWriter) -> None:
    with pytest.raises(
        StoreError,
        match=re.escape(
            "window unit 0 (rows 0-4): haplotype index 2 is not -1 (reference) or an index "
            "into the root attribute haplotype_names (2 names)"
        ),
    ):
        writer.write_window_unit(0, windows=_windows(haplotype=np.array([0, 2, -1, -2])),
                                 embeddings=_embeddings())  # fmt: skip


def test_array_metadata(writer: st.StoreWriter) -> None:
    group = zarr.open_group(writer.url, mode="r")
    for name, field in {**WINDOW_FIELDS, **VARIANT_FIELDS}.items():
        arr = group[field.stored]
        assert arr.attrs["description"] == field.doc, name
        if isinstance(field.fill, float) and np.isnan(field.fill):
            assert np.isnan(arr.fill_value), name
        else:
            assert arr.fill_value == field.fill, name
    assert group["layer"][:].tolist() == [2]
    assert group["layer"].metadata.dimension_names == ("layer",)
    coords = group["embedding_mean"].attrs["coordinates"].split()
    assert coords == [f.stored for f in WINDOW_FIELDS.values()]
    assert group["score_llr"].attrs["coordinates"].split() == [
        f.stored for f in VARIANT_FIELDS.values()
    ]
    assert group["completion/variant_checksums"].metadata.dimension_names == ("variant_unit",)
    root = json.loads((Path(writer.url) / "zarr.json").read_text())["attributes"]
    assert root["coordinates"].split() == [
        f.stored for f in (*WINDOW_FIELDS.values(), *VARIANT_FIELDS.values())
    ]


def test_score_store_root_names_only_variant_coordinates(tmp_path: Path) -> None:
    layout = st.StoreLayout(n_windows=0, unit_windows=1, n_variants=2, score_names=("l2",))
    url = str(tmp_path / "s.zarr")
    st.create_or_open(url, layout, fingerprint={}, attrs={}, contigs=CONTIGS)
    attrs = zarr.open_group(url, mode="r").attrs
    assert attrs["coordinates"] == " ".join(f.stored for f in VARIANT_FIELDS.values())
    assert "contig" not in zarr.open_group(url, mode="r")  # no window arrays


def test_resume_keeps_the_first_runs_attributes(writer: st.StoreWriter) -> None:
    created = zarr.open_group(writer.url, mode="r").attrs["created"]
    again = st.create_or_open(writer.url, LAYOUT, fingerprint={"run": 1},
                              attrs={"haplotype_names": ["other"]}, contigs=CONTIGS)  # fmt: skip
    attrs = zarr.open_group(again.url, mode="r").attrs
    assert attrs["haplotype_names"] == ["HG1:0", "HG1:1"] and attrs["created"] == created
    assert again.haplotype_names == ["HG1:0", "HG1:1"]


def test_set_attrs_stores_plain_json_and_clear_done_resets(writer: st.StoreWriter) -> None:
    writer.set_attrs(last_run={"seconds": np.float32(1.5), "units": np.int64(1),
                               "layers": (2,)})  # fmt: skip
    assert zarr.open_group(writer.url, mode="r").attrs["last_run"] == {
        "seconds": 1.5, "units": 1, "layers": [2]
    }  # fmt: skip
    writer.write_window_unit(0, windows=_windows(), embeddings=_embeddings())
    writer.mark_done(0)
    assert writer.done_units().tolist() == [True] and writer.checksums()[0] != 0
    writer.clear_done([0])
    assert writer.done_units().tolist() == [False] and writer.checksums().tolist() == [0]
    assert st.open(writer.url).contig.values[0] == "chrM"  # the rows stay: only the mark goes
