"""Every store error message: what failed, the value, where, and the fix."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import zarr
from store_workers import ATTRS, CONTIGS, FINGERPRINT, LAYOUT, unit_embeddings, unit_windows

import ntscale.store as st
from ntscale.errors import NtscaleError, StoreError


def _create(url: str, **changes: object) -> st.StoreWriter:
    fingerprint = {**FINGERPRINT, **changes}
    return st.create_or_open(url, LAYOUT, fingerprint=fingerprint, attrs=ATTRS, contigs=CONTIGS)


def test_fingerprint_mismatch_lists_each_differing_key_with_both_values(tmp_path: Path) -> None:
    url = str(tmp_path / "run.zarr")
    _create(url)
    other_layout = st.StoreLayout(**{**LAYOUT.__dict__, "n_windows": 30})
    with pytest.raises(StoreError) as info:
        st.create_or_open(
            url,
            other_layout,
            fingerprint={**FINGERPRINT, "model_name": "nt-v2-50m", "samples": ["NA12878"]},
            attrs=ATTRS,
            contigs=CONTIGS,
        )
    assert str(info.value) == (
        f"output store {url!r} was made by a different run; refusing to mix results:\n"
        "  layout.n_windows: store has 23, this run has 30\n"
        "  model_name: store has 'nt-test-tiny', this run has 'nt-v2-50m'\n"
        "  samples: store has [], this run has ['NA12878']\n"
        f"Fix: choose a new --out path, or delete {url!r} to start over."
    )
    assert isinstance(info.value, NtscaleError) and isinstance(info.value, ValueError)


def test_fingerprint_mismatch_names_new_and_missing_keys(tmp_path: Path) -> None:
    url = str(tmp_path / "run.zarr")
    _create(url)
    fingerprint = {k: v for k, v in FINGERPRINT.items() if k != "vcf"}
    fingerprint["dtype"] = "bf16"
    with pytest.raises(
        StoreError,
        match=re.escape(
            "  dtype: store has <absent>, this run has 'bf16'\n"
            "  vcf: store has None, this run has <absent>\n"
        ),
    ):
        st.create_or_open(url, LAYOUT, fingerprint=fingerprint, attrs=ATTRS, contigs=CONTIGS)


def test_long_contig_list_difference_names_the_first_differing_entry(tmp_path: Path) -> None:
    url = str(tmp_path / "genome.zarr")
    contigs = [(f"chr{i}", 1_000_000 + i) for i in range(40)]
    st.create_or_open(url, LAYOUT, fingerprint={}, attrs={}, contigs=contigs)
    changed = [*contigs[:7], ("chr7_alt", 5), *contigs[8:]]
    with pytest.raises(
        StoreError,
        match=re.escape(
            "  contigs: store has 40 entries, this run has 40; first difference at entry 7: "
            "store has ['chr7', 1000007], this run has ['chr7_alt', 5]\n"
        ),
    ):
        st.create_or_open(url, LAYOUT, fingerprint={}, attrs={}, contigs=changed)


def test_path_under_a_regular_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    url = str(blocker / "out.zarr")
    with pytest.raises(StoreError) as info:
        _create(url)
    assert str(info.value) == (
        f"cannot write the output store at {url!r}: {str(blocker)!r} is a regular file, "
        "not a folder; choose a writable --out path"
    )


def test_file_url_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    url = (blocker / "out.zarr").as_uri()
    with pytest.raises(StoreError, match="cannot write the output store at 'file://"):
        _create(url)


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root writes through chmod 0o555; "
    "test_path_under_a_regular_file_is_refused_naming_the_path covers it",
)
def test_read_only_folder_is_refused_naming_the_path(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    url = str(ro / "out.zarr")
    try:
        with pytest.raises(StoreError) as info:
            _create(url)
    finally:
        ro.chmod(0o755)
    assert str(info.value) == (
        f"cannot write the output store at {url!r}: {str(ro)!r} is not writable; "
        "choose a writable --out path"
    )


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.zarr"
    path.write_text("x")
    with pytest.raises(
        StoreError,
        match=re.escape(
            f"output store path {str(path)!r} is a regular file, not a Zarr store; "
            "choose another --out path"
        ),
    ):
        _create(str(path))


def test_non_empty_folder_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("mine")
    url = str(tmp_path / "results")
    with pytest.raises(
        StoreError,
        match=re.escape(
            f"output store path {url!r} is a non-empty folder that is not a Zarr store; "
            "choose a new --out path or empty the folder"
        ),
    ):
        _create(url)
    assert (tmp_path / "results" / "notes.txt").read_text() == "mine"


def test_empty_existing_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    writer = _create(str(tmp_path / "empty"))
    assert writer.done_units().shape == (5,)


def test_zarr_group_that_is_not_an_ntscale_store_is_refused(tmp_path: Path) -> None:
    url = str(tmp_path / "foreign.zarr")
    zarr.open_group(url, mode="w").attrs["owner"] = "someone else"
    message = (
        f"{url!r} is a Zarr group but not an ntscale store (no 'schema_version' root "
        "attribute); choose another --out path"
    )
    with pytest.raises(StoreError, match=re.escape(message)):
        _create(url)
    with pytest.raises(StoreError, match=re.escape(message)):
        st.open(url)


def test_future_schema_version_is_refused(tmp_path: Path) -> None:
    url = str(tmp_path / "future.zarr")
    _create(url)
    zarr.open_group(url, mode="r+").attrs["schema_version"] = st.SCHEMA_VERSION + 1
    v = st.SCHEMA_VERSION
    message = (
        f"{url!r} was written with store schema version {v + 1}, newer than this ntscale reads "
        f"(up to {v}); upgrade ntscale to read it"
    )
    for call in (
        lambda: st.open(url),
        lambda: st.store_summary(url),
        lambda: _create(url),
        lambda: st.open_writer(url),
    ):
        with pytest.raises(StoreError, match=re.escape(message)):
            call()


def test_schema_1_store_is_refused_with_one_line(tmp_path: Path) -> None:
    url = str(tmp_path / "old.zarr")
    _create(url)
    zarr.open_group(url, mode="r+").attrs["schema_version"] = 1
    message = (
        f"{url!r} was written with store schema version 1 (an older ntscale); this ntscale "
        f"reads schema version {st.SCHEMA_VERSION}: re-run the job into a new --out path, or "
        "read it with the ntscale version that wrote it"
    )
    for call in (
        lambda: st.open(url),
        lambda: st.store_summary(url),
        lambda: _create(url),
        lambda: st.open_writer(url),
        lambda: st.verify(url),
    ):
        with pytest.raises(StoreError, match=re.escape(message)) as err:
            call()
        assert "\n" not in str(err.value)


def test_missing_store_is_reported(tmp_path: Path) -> None:
    url = str(tmp_path / "nothing.zarr")
    with pytest.raises(
        StoreError,
        match=re.escape(f"no ntscale store at {url!r} (nothing there, or not a Zarr v3 group)"),
    ):
        st.open(url)
    with pytest.raises(StoreError, match="no ntscale store at 'file://"):
        st.open_writer((tmp_path / "nothing.zarr").as_uri())


def test_run_attrs_may_not_override_store_attrs(tmp_path: Path) -> None:
    with pytest.raises(
        StoreError,
        match=re.escape(
            "run attributes ['created', 'schema_version'] clash with store-owned root attributes"
        ),
    ):
        st.create_or_open(
            str(tmp_path / "x.zarr"),
            LAYOUT,
            fingerprint={},
            attrs={"schema_version": 9, "created": "now"},
            contigs=CONTIGS,
        )
    writer = _create(str(tmp_path / "y.zarr"))
    with pytest.raises(
        StoreError,
        match=re.escape("attributes ['layout'] are owned by the store and cannot be set"),
    ):
        writer.set_attrs(layout={})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unit_windows": 0}, "unit_windows=0 must be >= 1"),
        ({"layers": (2, 2)}, "layers=(2, 2) must be distinct layer numbers >= 1"),
        ({"layers": (0,)}, "layers=(0,) must be distinct layer numbers >= 1"),
        ({"embed_dim": 0}, "embed_dim=0 must be >= 1 when layers are stored"),
        ({"max_tokens": 0}, "max_tokens=0 must be >= 1 with per_token=True"),
        (
            {"per_token_dtype": "bfloat16"},
            "per_token_dtype='bfloat16' must be one of ('float16', 'float32') "
            "(bfloat16 is not a Zarr data type)",
        ),
        ({"codec": "gzip"}, "codec='gzip' must be one of ('zstd', 'blosc', 'none')"),
        ({"score_names": ("a/b",)}, "score_names=('a/b',) must be distinct names without '/'"),
        ({"n_windows": -1}, "n_windows=-1 must be >= 0"),
    ],
)
def test_invalid_layouts_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(StoreError, match=re.escape("invalid store layout: " + message)):
        st.StoreLayout(**{**LAYOUT.__dict__, **changes})


def test_unknown_layout_field_in_a_store_is_refused() -> None:
    with pytest.raises(
        StoreError, match=re.escape("store layout has unknown fields ['shiny']; upgrade ntscale")
    ):
        st.StoreLayout.from_json({**LAYOUT.to_json(), "shiny": 1})


@pytest.fixture
def writer(tmp_path: Path) -> st.StoreWriter:
    return _create(str(tmp_path / "w.zarr"))


def test_unit_out_of_range_is_refused(writer: st.StoreWriter) -> None:
    with pytest.raises(
        StoreError, match=re.escape("window unit 5 is out of range: the store has 5 units")
    ):
        writer.mark_done(5)
    with pytest.raises(
        StoreError, match=re.escape("variant unit -1 is out of range: the store has 3 units")
    ):
        writer.mark_done(-1, part="variants")
    parts = "('windows', 'variants', 'bases')"
    with pytest.raises(StoreError, match=re.escape(f"part 'haplotypes' must be one of {parts}")):
        writer.done_units(part="haplotypes")


def test_wrong_unit_rows_are_refused_naming_unit_and_field(writer: st.StoreWriter) -> None:
    windows = unit_windows(LAYOUT, 4)  # 3 rows: the short last unit
    emb = unit_embeddings(LAYOUT, 4)
    with pytest.raises(
        StoreError,
        match=re.escape("window unit 3 (rows 15-20): field 'contig' has shape (3,), expected (5,)"),
    ):
        writer.write_window_unit(3, windows=windows, embeddings=emb)
    bad = {k: v for k, v in windows.items() if k != "frac_n"}
    bad["gc"] = np.zeros(3)
    with pytest.raises(
        StoreError,
        match=re.escape("window unit 4 (rows 20-23): fields missing ['frac_n'], unknown ['gc']"),
    ):
        writer.write_window_unit(4, windows=bad, embeddings=emb)
    one_layer = {kind: values[:1] for kind, values in emb.items()}  # layer 1 only: L = 1
    with pytest.raises(
        StoreError,
        match=re.escape(
            "window unit 4 (rows 20-23): embedding 'mean' has shape (1, 3, 6), expected "
            "(2, 3, 6) (layers [1, 3] stacked first, in that order)"
        ),
    ):
        writer.write_window_unit(4, windows=windows, embeddings=one_layer)
    rows_first = {kind: np.swapaxes(values, 0, 1) for kind, values in emb.items()}  # [n, L, ...]
    with pytest.raises(
        StoreError,
        match=re.escape("embedding 'mean' has shape (3, 2, 6), expected (2, 3, 6)"),
    ):
        writer.write_window_unit(4, windows=windows, embeddings=rows_first)
    no_cls = {kind: values for kind, values in emb.items() if kind != "cls"}
    with pytest.raises(
        StoreError,
        match=re.escape(
            "window unit 4 (rows 20-23): embedding kinds ['mean', 'tokens'], the store holds "
            "['mean', 'cls', 'tokens']; pass one [L, n, ...] array per kind"
        ),
    ):
        writer.write_window_unit(4, windows=windows, embeddings=no_cls)
    with pytest.raises(
        StoreError,
        match=re.escape("embedding kinds ['cls', 'max', 'mean', 'tokens'], the store holds"),
    ):
        writer.write_window_unit(4, windows=windows, embeddings={**emb, "max": emb["mean"]})
    short_tokens = {**emb, "tokens": emb["tokens"][:, :, :2]}
    with pytest.raises(
        StoreError,
        match=re.escape(
            "window unit 4 (rows 20-23): embedding 'tokens' has shape (2, 3, 2, 6), expected "
            "(2, 3, 4, 6)"
        ),
    ):
        writer.write_window_unit(4, windows=windows, embeddings=short_tokens)
    assert not writer.done_units().any()


def test_unknown_contigs_are_refused(writer: st.StoreWriter) -> None:
    windows = {**unit_windows(LAYOUT, 4), "contig_index": np.array([0, 3, 1])}
    with pytest.raises(
        StoreError,
        match=re.escape("window unit 4 (rows 20-23): contig_index 3 out of range for 3 contigs"),
    ):
        writer.write_window_unit(4, windows=windows, embeddings=unit_embeddings(LAYOUT, 4))
    windows.pop("contig_index")
    windows["contig"] = np.array(["chr1", "chrUn", "chr2"])
    with pytest.raises(
        StoreError,
        match=re.escape(
            "window unit 4 (rows 20-23): contig 'chrUn' is not among the store's contigs "
            "['chr1', 'chr2', 'chrM']"
        ),
    ):
        writer.write_window_unit(4, windows=windows, embeddings=unit_embeddings(LAYOUT, 4))


def test_variant_part_is_required_for_variant_writes(tmp_path: Path) -> None:
    layout = st.StoreLayout(n_windows=2, unit_windows=2)
    writer = st.create_or_open(
        str(tmp_path / "nv.zarr"), layout, fingerprint={}, attrs={}, contigs=CONTIGS
    )
    with pytest.raises(
        StoreError, match=re.escape(f"store {writer.url!r} has no variant part (n_variants=0)")
    ):
        writer.write_variant_unit(0, variants={}, scores={})
    with pytest.raises(StoreError, match=re.escape("has no variant part")):
        writer.done_units(part="variants")


def test_scores_must_match_the_layout(writer: st.StoreWriter) -> None:
    from store_workers import unit_variants

    with pytest.raises(
        StoreError,
        match=re.escape(
            "variant unit 0 (rows 0-3): scores ['llr'], the store holds ['l2_layer3', 'llr']"
        ),
    ):
        writer.write_variant_unit(0, variants=unit_variants(LAYOUT, 0), scores={"llr": np.zeros(3)})
    with pytest.raises(
        StoreError,
        match=re.escape("variant unit 0 (rows 0-3): score 'llr' has shape (2,), expected (3,)"),
    ):
        writer.write_variant_unit(
            0,
            variants=unit_variants(LAYOUT, 0),
            scores={"llr": np.zeros(2), "l2_layer3": np.zeros(3)},
        )


def test_os_error_during_a_unit_write_names_the_store(writer: st.StoreWriter) -> None:
    chunk_dir = Path(writer.url) / "start" / "c"
    chunk_dir.parent.mkdir(parents=True, exist_ok=True)
    chunk_dir.write_text("in the way")  # the chunk folder cannot be created
    with pytest.raises(StoreError) as info:
        writer.write_window_unit(
            0, windows=unit_windows(LAYOUT, 0), embeddings=unit_embeddings(LAYOUT, 0)
        )
    assert str(info.value) == (
        f"cannot write the output store at {writer.url!r}: File exists ({chunk_dir}); "
        "choose a writable --out path"
    )
    assert not writer.done_units().any()
