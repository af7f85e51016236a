"""Paths, fsspec URLs and codecs (store/backend.py) on real local and in-memory stores."""

from __future__ import annotations

import json
import re
from pathlib import Path

import fsspec
import numpy as np
import pytest
import zarr
from store_workers import ATTRS, CONTIGS, FINGERPRINT, LAYOUT, write_window_units

import ntscale.store as st
from ntscale.errors import StoreError
from ntscale.store import backend


def test_local_paths_and_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert backend.is_url("s3://bucket/x.zarr") and not backend.is_url("/data/x.zarr")
    assert backend.local_path("file:///data/x.zarr") == Path("/data/x.zarr")
    assert backend.local_path("~/runs/x.zarr") == tmp_path / "runs" / "x.zarr"
    assert backend.local_path("gs://bucket/x.zarr") is None
    # xarray gets a local path as a plain path, a URL as it is
    assert backend.xarray_target("~/x.zarr") == str(tmp_path / "x.zarr")
    assert backend.xarray_target("s3://b/x.zarr") == "s3://b/x.zarr"
    # fsspec's local filesystem creates parent folders only when asked
    assert backend.storage_options("file:///d/x.zarr") == {"auto_mkdir": True}
    assert backend.storage_options("/d/x.zarr") is None
    assert backend.storage_options("s3://b/x.zarr") is None


def test_home_relative_store_is_created_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    writer = st.create_or_open(
        "~/runs/home.zarr", LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS
    )
    write_window_units(writer, [0])
    assert (tmp_path / "runs" / "home.zarr" / "zarr.json").is_file()
    assert st.store_summary("~/runs/home.zarr")["windows"]["units_done"] == 1


def test_read_bytes_local_and_fsspec(tmp_path: Path) -> None:
    (tmp_path / "s.zarr").mkdir()
    (tmp_path / "s.zarr" / "zarr.json").write_bytes(b'{"x": 1}')
    assert backend.read_bytes(str(tmp_path / "s.zarr"), "zarr.json") == b'{"x": 1}'
    assert backend.read_bytes((tmp_path / "s.zarr").as_uri(), "zarr.json") == b'{"x": 1}'
    assert backend.read_bytes(str(tmp_path / "s.zarr"), "lease/zarr.json") is None
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/rb-test/s.zarr/a/b", b"bytes in memory")
    assert backend.read_bytes("memory://rb-test/s.zarr", "a/b") == b"bytes in memory"
    assert backend.read_bytes("memory://rb-test/s.zarr", "a/none") is None
    fs.rm("/rb-test", recursive=True)


def test_consolidated_metadata_is_written_by_finalize(tmp_path: Path) -> None:
    url = str(tmp_path / "c.zarr")
    assert backend.has_consolidated(url) is False  # nothing there
    writer = st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)
    write_window_units(writer, [0, 1])
    assert backend.has_consolidated(url) is False
    st.finalize(url)
    assert backend.has_consolidated(url) is True
    root = json.loads((tmp_path / "c.zarr" / "zarr.json").read_text())
    assert "embedding_mean" in root["consolidated_metadata"]["metadata"]
    (tmp_path / "c.zarr" / "zarr.json").write_text("{not json")
    assert backend.has_consolidated(url) is False


def test_damaged_root_metadata_is_a_store_error(tmp_path: Path) -> None:
    url = str(tmp_path / "d.zarr")
    st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)
    st.finalize(url)
    (tmp_path / "d.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_')
    message = f"the metadata of the store at {url!r} is damaged (zarr.json is not valid JSON: "
    for call in (lambda: st.open(url), lambda: st.open_writer(url), lambda: st.verify(url)):
        with pytest.raises(StoreError, match=re.escape(message)) as info:
            call()
        assert "delete the store to start over, or choose another --out path" in str(info.value)


def test_unknown_protocol_is_named() -> None:
    message = (
        "unknown storage protocol 'nosuchfs' in 'nosuchfs://b/x.zarr'; use a local path or an "
        "fsspec URL such as file://, s3:// or gs://"
    )
    with pytest.raises(StoreError, match=re.escape(message)):
        backend.open_group("nosuchfs://b/x.zarr", "r")
    with pytest.raises(StoreError, match=re.escape(message)):
        backend.filesystem("nosuchfs://b/x.zarr")
    fs, path = backend.filesystem("memory://bucket/x.zarr")
    assert path == "/bucket/x.zarr" and "memory" in fs.protocol


def test_a_zarr_array_is_not_a_store(tmp_path: Path) -> None:
    url = str(tmp_path / "array.zarr")
    zarr.create_array(url, shape=(3,), dtype="int32", zarr_format=3)
    message = f"{url!r} holds a Zarr array, not an ntscale store"
    with pytest.raises(StoreError, match=re.escape(message)):
        backend.group_exists(url)
    with pytest.raises(StoreError, match=re.escape(message)):
        st.open(url)


def test_group_exists_only_for_zarr_groups(tmp_path: Path) -> None:
    assert backend.group_exists(str(tmp_path / "absent.zarr")) is False
    (tmp_path / "empty").mkdir()
    assert backend.group_exists(str(tmp_path / "empty")) is False
    (tmp_path / "leased" / "lease").mkdir(parents=True)  # only a lease folder: no store yet
    assert backend.group_exists(str(tmp_path / "leased")) is False
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=3)
    assert backend.group_exists(str(tmp_path / "g.zarr")) is True


@pytest.mark.parametrize(
    ("codec", "names"),
    [("zstd", ["bytes", "zstd"]), ("blosc", ["bytes", "blosc"]), ("none", ["bytes"])],
)
def test_codec_of_the_layout_is_the_arrays_codec(
    tmp_path: Path, codec: str, names: list[str]
) -> None:
    layout = st.StoreLayout(n_windows=4, unit_windows=2, layers=(1,), embed_dim=3, codec=codec)
    url = str(tmp_path / f"{codec}.zarr")
    st.create_or_open(url, layout, fingerprint={}, attrs={}, contigs=CONTIGS)
    meta = json.loads((tmp_path / f"{codec}.zarr" / "embedding_mean" / "zarr.json").read_text())
    assert [c["name"] for c in meta["codecs"]] == names
    if codec == "zstd":
        assert meta["codecs"][1]["configuration"]["level"] == backend.ZSTD_LEVEL == 1
    if codec == "blosc":
        conf = meta["codecs"][1]["configuration"]
        assert (conf["cname"], conf["clevel"], conf["shuffle"]) == ("zstd", 1, "shuffle")
    # completion marks are tiny: never compressed
    done = json.loads(
        (tmp_path / f"{codec}.zarr" / "completion" / "window_units" / "zarr.json").read_text()
    )
    assert [c["name"] for c in done["codecs"]] == ["bytes"]
    with pytest.raises(StoreError, match="unknown codec 'lz4'"):
        backend.compressors("lz4")


def test_write_error_names_the_store_and_the_file() -> None:
    err = backend.write_error("out.zarr", OSError(28, "No space left on device", "/d/out.zarr/c"))
    assert str(err) == (
        "cannot write the output store at 'out.zarr': No space left on device (/d/out.zarr/c); "
        "choose a writable --out path"
    )
    bare = backend.write_error("s3://b/o.zarr", OSError("connection reset"))
    assert str(bare) == (
        "cannot write the output store at 's3://b/o.zarr': connection reset; "
        "choose a writable --out path"
    )


def test_remote_urls_are_not_probed_for_writability() -> None:
    backend.check_writable("s3://bucket/never/contacted.zarr")  # no network, no error
    backend.check_target("s3://bucket/never/contacted.zarr")


def test_memory_filesystem_store_round_trips() -> None:
    url = "memory://backend-test/m.zarr"
    layout = st.StoreLayout(n_windows=3, unit_windows=2, layers=(2,), embed_dim=2)
    writer = st.create_or_open(url, layout, fingerprint={}, attrs={}, contigs=CONTIGS)
    windows = {
        "contig": np.array(["chr1", "chrM"]), "start": np.array([0, 10]),
        "end": np.array([10, 20]), "strand": np.array(["+", "-"]),
        "haplotype": np.array(["reference", "reference"]), "n_tokens": np.array([3, 3]),
        "frac_n": np.array([0.0, 0.5]), "n_variants": np.array([0, 0]),
        "status": np.array(["OK", "OK"]), "sequence_id": np.array([7, 9], np.uint64),
    }  # fmt: skip
    mean = np.array([[[1.0, 2.0], [3.0, 4.0]]], np.float32)  # [L, n, D]
    writer.write_window_unit(0, windows=windows, embeddings={"mean": mean})
    writer.mark_done(0)
    st.finalize(url)
    ds = st.open(url)
    np.testing.assert_array_equal(ds.embedding_mean.sel(layer=2).values[:2], mean[0])
    assert ds.contig.values.tolist() == ["chr1", "chrM", ""]
    assert st.verify(url)["windows"]["not_done"] == [1]
    fsspec.filesystem("memory").rm("/backend-test", recursive=True)


def test_a_remote_prefix_holding_other_objects_is_refused() -> None:
    """Object stores have no folders: `--out s3://bucket` (a bucket root with other data)
    is refused by listing, as a local folder of other files is (memory:// stands in)."""
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/ct-bucket/notes.txt", b"not a store")
    fs.pipe_file("/ct-bucket/data/x.csv", b"1,2")
    with pytest.raises(StoreError, match=r"already holds other objects \(data, notes.txt\)"):
        backend.check_remote_target("memory://ct-bucket")
    backend.check_remote_target("memory://ct-bucket/new.zarr")  # nothing there yet: fine
    fs.pipe_file("/ct-bucket/s.zarr/zarr.json", b"{}")
    fs.pipe_file("/ct-bucket/s.zarr/start/c/0", b"chunk")
    backend.check_remote_target("memory://ct-bucket/s.zarr")  # a store (resume): fine
    fs.pipe_file("/ct-bucket/leased/lease/zarr.json", b"{}")
    backend.check_remote_target("memory://ct-bucket/leased")  # a lease only: being made
    backend.check_remote_target(str(Path("/tmp")))  # local paths: check_target's part
