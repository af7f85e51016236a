"""Round trips: what units write is what numpy, xarray and dask read back."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from store_workers import (
    ATTRS,
    CONTIGS,
    FINGERPRINT,
    LAYOUT,
    unit_embeddings,
    unit_scores,
    unit_variants,
    unit_windows,
    write_variant_units,
    write_window_units,
)

import ntscale
import ntscale.store as st
from ntscale.store.schema import WINDOW_FIELDS
from ntscale.types import WindowStatus


def _create(url: str, layout: st.StoreLayout = LAYOUT) -> st.StoreWriter:
    return st.create_or_open(url, layout, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)


def _expected_windows(layout: st.StoreLayout) -> dict[str, np.ndarray]:
    parts = [unit_windows(layout, k) for k in range(layout.n_window_units)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _stored_windows(layout: st.StoreLayout) -> dict[str, np.ndarray]:
    """The window rows as the store keeps them: names, not indices or codes."""
    given = _expected_windows(layout)
    contig_index = given.pop("contig_index")
    haps = np.array([*ATTRS["haplotype_names"], "reference"])
    return {
        **given,
        "contig": np.array([c[0] for c in CONTIGS])[contig_index],
        "strand": np.where(given["strand"] == 1, "-", "+"),
        "haplotype": haps[given["haplotype"]],  # -1 (reference) -> the last name
        "status": np.array([WindowStatus(int(c)).name for c in given["status"]]),
    }


def _expected_embedding(layout: st.StoreLayout, layer: int, kind: str) -> np.ndarray:
    dtype = layout.per_token_dtype if kind == "tokens" else "float32"
    return np.concatenate(
        [
            unit_embeddings(layout, k)[kind][layout.layers.index(layer)]
            for k in range(layout.n_window_units)
        ]
    ).astype(dtype)


@pytest.fixture
def full_store(tmp_path: Path) -> str:
    url = str(tmp_path / "full.zarr")
    writer = _create(url)
    write_window_units(writer, list(range(LAYOUT.n_window_units)))
    write_variant_units(writer, list(range(LAYOUT.n_variant_units)))
    return url


def test_every_array_round_trips_through_zarr(full_store: str) -> None:
    group = zarr.open_group(full_store, mode="r")
    for name, values in _stored_windows(LAYOUT).items():
        got = group[name][:]
        np.testing.assert_array_equal(np.asarray(got.tolist()), values, err_msg=name)
        if WINDOW_FIELDS[name].dtype is not str:
            assert got.dtype == np.dtype(WINDOW_FIELDS[name].dtype)
        assert group[name].metadata.dimension_names == ("window",)
    for kind in ("mean", "cls", "tokens"):
        want = np.stack([_expected_embedding(LAYOUT, layer, kind) for layer in LAYOUT.layers])
        np.testing.assert_array_equal(group[f"embedding_{kind}"][:], want)
    assert group["embedding_mean"].dtype == np.float32
    assert group["embedding_tokens"].dtype == np.float16
    # a unit owns whole chunks: every layer of its rows in one chunk (one shard per unit)
    assert group["embedding_tokens"].shards == (2, 5, 4, 6)
    assert group["embedding_mean"].chunks == (2, 5, 6)
    assert group["embedding_mean"].metadata.dimension_names == ("layer", "window", "dim")
    var_parts = [unit_variants(LAYOUT, k) for k in range(LAYOUT.n_variant_units)]
    for name in ("contig", "pos", "id", "ref", "alt"):
        got = group[f"variant_{name}"][:]
        want = np.concatenate([p[name] for p in var_parts])
        np.testing.assert_array_equal(np.asarray(got.tolist()), want, err_msg=name)
    statuses = np.concatenate([p["status"] for p in var_parts])
    names = ATTRS["variant_status_names"]
    want_status = [names[str(int(c))] for c in statuses]
    assert group["variant_status"][:].tolist() == want_status
    for score in LAYOUT.score_names:
        want = np.concatenate(
            [unit_scores(LAYOUT, k)[score] for k in range(LAYOUT.n_variant_units)]
        )
        np.testing.assert_array_equal(group[f"score_{score}"][:], want.astype("f4"))
    assert group["completion/window_units"][:].all()
    assert group["completion/variant_units"][:].all()
    assert (group["completion/window_checksums"][:] != 0).all()
    assert (group["completion/variant_checksums"][:] != 0).all()


def test_root_attributes_hold_the_run_description(full_store: str) -> None:
    attrs = dict(zarr.open_group(full_store, mode="r").attrs)
    assert attrs["schema_version"] == st.SCHEMA_VERSION == 3
    assert attrs["ntscale_version"] == ntscale.__version__
    assert attrs["fingerprint"]["checkpoint_digest"] == "sha256:abc123"
    assert attrs["model"] == {"name": "nt-test-tiny", "embed_dim": 6}
    assert attrs["command_line"] == "ntscale embed"
    assert attrs["contigs"] == [["chr1", 5000], ["chr2", 3000], ["chrM", 100]]
    assert st.StoreLayout.from_json(attrs["layout"]) == LAYOUT
    assert attrs["created"].endswith("+00:00")
    assert attrs["initialized"] is True


def test_open_gives_lazy_dask_arrays_with_window_coordinates(full_store: str) -> None:
    ds = st.open(full_store)
    assert dict(ds.sizes) == {"layer": 2, "window": 23, "dim": 6, "token": 4, "variant": 7}
    for var in ("embedding_mean", "embedding_cls", "embedding_tokens", "score_llr"):
        assert isinstance(ds[var].data, da.Array), var
    # one dask chunk per work unit (per shard for tokens), all layers in it
    assert ds.embedding_mean.data.chunks == ((2,), (5, 5, 5, 5, 3), (6,))
    assert ds.embedding_tokens.data.chunks == ((2,), (5, 5, 5, 5, 3), (4,), (6,))
    assert ds.score_llr.data.chunks == ((3, 3, 1),)
    assert ds.embedding_tokens.dims == ("layer", "window", "token", "dim")
    np.testing.assert_array_equal(ds.layer.values, [1, 3])

    for name, values in _stored_windows(LAYOUT).items():
        assert name in ds.coords and ds[name].dims == ("window",), name
        np.testing.assert_array_equal(ds[name].values, values, err_msg=name)
    assert {"S1:0", "reference"} <= set(ds.haplotype.values.tolist())
    np.testing.assert_array_equal(
        ds.embedding_mean.sel(layer=3).values, _expected_embedding(LAYOUT, 3, "mean")
    )
    np.testing.assert_array_equal(
        ds.embedding_tokens.sel(layer=1).values, _expected_embedding(LAYOUT, 1, "tokens")
    )
    # dask analysis: per-window norms of OK windows on chr1
    ok = (ds.status == "OK") & (ds.contig == "chr1")
    norms = np.sqrt((ds.embedding_mean.sel(layer=1) ** 2).sum("dim")).where(ok, drop=True)
    want = np.linalg.norm(_expected_embedding(LAYOUT, 1, "mean"), axis=1)[ok.values]
    np.testing.assert_allclose(norms.compute().values, want, rtol=1e-6)
    assert ds.attrs["fingerprint"]["model_name"] == "nt-test-tiny"
    assert ds.variant_id.values[:3].tolist() == ["rs0", "rs1", "rs2"]


def test_unwritten_rows_read_as_fill_values(tmp_path: Path) -> None:
    url = str(tmp_path / "partial.zarr")
    write_window_units(_create(url), [1])
    ds = st.open(url)
    assert (ds.status.values[:5] == "PENDING").all()
    assert (ds.contig.values[:5] == "").all()
    assert (ds.strand.values[:5] == ".").all()
    assert (ds.haplotype.values[:5] == "").all()
    assert (ds.start.values[:5] == -1).all()
    assert np.isnan(ds.embedding_mean.values[:, :5]).all()
    assert not np.isnan(ds.embedding_mean.values[:, 5:10]).any()
    assert (ds.variant_status.values == "PENDING").all()


def test_file_url_store_round_trips(tmp_path: Path) -> None:
    url = (tmp_path / "viaurl.zarr").as_uri()
    assert url.startswith("file:///")
    writer = _create(url)
    write_window_units(writer, [0, 4])
    assert writer.done_units().tolist() == [True, False, False, False, True]
    ds = st.open(url)
    np.testing.assert_array_equal(
        ds.embedding_cls.sel(layer=3).values[20:23],
        unit_embeddings(LAYOUT, 4)["cls"][LAYOUT.layers.index(3)].astype("f4"),
    )
    # the same store read back through its plain path
    same = st.open(str(tmp_path / "viaurl.zarr"))
    np.testing.assert_array_equal(same.start.values, ds.start.values)


def test_store_summary_counts_units_and_statuses(full_store: str, tmp_path: Path) -> None:
    summary = st.store_summary(full_store)
    status = _expected_windows(LAYOUT)["status"]
    assert summary["complete"] is True
    assert summary["windows"] == {
        "rows": 23,
        "rows_done": 23,
        "units_total": 5,
        "units_done": 5,
        "by_status": {
            "OK": int((status == 0).sum()),
            "SKIPPED_ALL_N": int((status == 2).sum()),
        },
    }
    assert summary["variants"]["units_done"] == 3
    url = str(tmp_path / "half.zarr")
    writer = _create(url)
    write_window_units(writer, [0, 1])
    write_window_units(writer, [2], mark=False)  # written, not marked: still pending
    half = st.store_summary(url)
    assert half["complete"] is False
    assert half["windows"]["units_done"] == 2
    assert half["windows"]["rows_done"] == 10
    assert half["windows"]["by_status"]["PENDING"] == 13
    assert half["variants"]["by_status"] == {"PENDING": 7}


def test_bfloat16_and_float64_inputs_are_cast(tmp_path: Path) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    layout = st.StoreLayout(
        n_windows=2, unit_windows=2, layers=(2,), embed_dim=3, per_token=True, max_tokens=2
    )
    writer = st.create_or_open(
        str(tmp_path / "bf.zarr"), layout, fingerprint={}, attrs={}, contigs=CONTIGS
    )
    mean = np.array([[[1.5, -2.0, 0.25], [3.0, 4.0, 5.0]]], dtype=ml_dtypes.bfloat16)  # [L, n, D]
    tokens = np.arange(12, dtype=np.float64).reshape(1, 2, 2, 3) / 4  # [L, n, T, D]
    windows = {name: np.zeros(2, dtype=np.int64) for name in WINDOW_FIELDS}
    windows["haplotype"] = np.full(2, -1)
    embeddings = {"mean": mean, "tokens": tokens}
    nbytes = writer.write_window_unit(0, windows=windows, embeddings=embeddings)
    assert nbytes >= 2 * 3 * 4 + 2 * 2 * 3 * 2
    ds = st.open(str(tmp_path / "bf.zarr"))
    assert ds.embedding_mean.dtype == np.float32
    assert ds.embedding_tokens.dtype == np.float16
    np.testing.assert_array_equal(ds.embedding_mean.values, mean.astype(np.float32))
    np.testing.assert_array_equal(ds.embedding_tokens.values, tokens.astype(np.float16))


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n_windows=hs.integers(0, 9),
    unit=hs.integers(1, 4),
    layers=hs.sets(hs.integers(1, 6), max_size=2),
    dim=hs.integers(1, 3),
    cls=hs.booleans(),
    per_token=hs.booleans(),
    codec=hs.sampled_from(["zstd", "blosc", "none"]),
)
def test_random_layouts_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    n_windows: int,
    unit: int,
    layers: set[int],
    dim: int,
    cls: bool,
    per_token: bool,
    codec: str,
) -> None:
    layout = st.StoreLayout(
        n_windows=n_windows,
        unit_windows=unit,
        layers=tuple(sorted(layers)),
        embed_dim=dim,
        cls=cls,
        per_token=per_token,
        max_tokens=2,
        per_token_dtype="float32",
        codec=codec,
    )
    url = str(tmp_path_factory.mktemp("hyp") / "s.zarr")
    writer = _create(url, layout)
    write_window_units(writer, list(range(layout.n_window_units)))
    ds = st.open(url)
    assert ds.sizes.get("window", 0) == n_windows  # no window arrays in an empty store
    if n_windows:
        np.testing.assert_array_equal(ds.start.values, _expected_windows(layout)["start"])
        assert "start" in ds.coords  # a coordinate even when no embedding names it
    for layer in layout.layers:
        for kind in ("mean", "cls", "tokens"):
            if f"embedding_{kind}" in ds:
                got = ds[f"embedding_{kind}"].sel(layer=layer).values
                if n_windows:
                    np.testing.assert_array_equal(got, _expected_embedding(layout, layer, kind))
                else:
                    assert got.shape[0] == 0
    assert ("embedding_cls" in ds) == (cls and bool(layers))
    assert ("embedding_tokens" in ds) == (per_token and bool(layers))
    assert st.store_summary(url)["complete"] is True
