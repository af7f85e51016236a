"""Per-unit checksums (store/checksum.py) and every kind of damage `verify` reports."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import zarr
from store_workers import (
    ATTRS,
    CONTIGS,
    FINGERPRINT,
    LAYOUT,
    unit_embeddings,
    unit_windows,
    write_variant_units,
    write_window_units,
)

import ntscale.store as st
from ntscale.errors import StoreError
from ntscale.store import lease
from ntscale.store.checksum import (
    CHECKSUM_KIND,
    object_digest,
    read_unit,
    stored_digest,
    unit_arrays,
    unit_digest,
    unit_keys,
)
from ntscale.store.schema import WINDOW_FIELDS


def _create(url: str) -> st.StoreWriter:
    return st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)


def test_digest_follows_its_definition() -> None:
    # BLAKE2b-64 over "name \0 kind(shape):crc32 \0" per array, in name order (docs/store.md)
    blocks = {"start": np.array([5, 7], np.int64), "contig": np.array(["chr1", "chr2"])}
    h = hashlib.blake2b(digest_size=8)
    h.update(b"contig\x00str(2,):" + str(zlib.crc32(b"chr1\x1fchr2")).encode() + b"\x00")
    crc = zlib.crc32(np.array([5, 7], "<i8").tobytes())
    h.update(b"start\x00<i8(2,):" + str(crc).encode() + b"\x00")
    assert unit_digest(blocks) == int.from_bytes(h.digest(), "little")


def test_digest_of_strings_does_not_depend_on_their_numpy_dtype() -> None:
    values = ["chr1", "chrM", ""]
    want = unit_digest({"contig": np.array(values)})
    assert unit_digest({"contig": np.array(values, dtype=object)}) == want
    assert unit_digest({"contig": np.array(values, dtype=np.dtypes.StringDType())}) == want
    assert unit_digest({"contig": values}) == want


def test_digest_changes_with_any_name_value_dtype_or_shape() -> None:
    base = {"a": np.arange(6, dtype=np.float32), "b": np.array(["x"])}
    want = unit_digest(base)
    assert unit_digest(dict(reversed(list(base.items())))) == want  # key order is irrelevant
    variants = [
        {**base, "a": np.arange(6, dtype=np.float64)},
        {**base, "a": np.arange(6, dtype=np.float32).reshape(2, 3)},
        {**base, "a": np.r_[np.arange(5), 6].astype(np.float32)},
        {"c": base["a"], "b": base["b"]},
        {**base, "b": np.array(["y"])},
        {"a": base["a"]},
    ]
    digests = {unit_digest(v) for v in variants}
    assert want not in digests and len(digests) == len(variants)
    assert all(0 < d < 2**64 for d in digests)  # 0 is reserved for "no checksum"


def test_unit_arrays_name_every_array_a_unit_writes() -> None:
    windows = unit_arrays(LAYOUT, "windows")
    want = sorted(
        [(f.stored, 0) for f in WINDOW_FIELDS.values()]
        + [("embedding_mean", 1), ("embedding_cls", 1), ("embedding_tokens", 1)]
    )
    assert windows == want
    assert unit_arrays(LAYOUT, "variants") == sorted(
        [(f"variant_{k}", 0) for k in ("contig", "pos", "id", "ref", "alt", "status")]
        + [("score_l2_layer3", 0), ("score_llr", 0)]
    )
    no_layers = st.StoreLayout(n_windows=4, unit_windows=2)
    assert all(axis == 0 for _, axis in unit_arrays(no_layers, "windows"))


def test_checksum_of_a_unit_marked_by_another_writer_equals_the_writers_own(
    tmp_path: Path,
) -> None:
    one, two = str(tmp_path / "one.zarr"), str(tmp_path / "two.zarr")
    write_window_units(_create(one), [1, 4])  # written and marked by the same writer
    writer = _create(two)
    write_window_units(writer, [1, 4], mark=False)
    other = st.open_writer(two)  # e.g. the driver after a worker died before marking
    other.mark_done(1)
    other.mark_done(4)
    np.testing.assert_array_equal(st.open_writer(one).checksums(), st.open_writer(two).checksums())
    stored = st.open_writer(one).checksums()
    assert stored[[0, 2, 3]].tolist() == [0, 0, 0] and (stored[[1, 4]] != 0).all()
    group = zarr.open_group(one, mode="r")
    # the stored checksum is the object digest: unit 4's own objects, read raw
    keys = unit_keys(group, LAYOUT, "windows", 4)
    assert "embedding_tokens/c/0/4/0/0" in keys and "status/c/4" in keys
    crcs = {k: zlib.crc32((tmp_path / "one.zarr" / k).read_bytes()) for k in keys}
    assert object_digest(4, crcs) == int(stored[4])
    assert stored_digest(group, LAYOUT, one, "windows", 4, CHECKSUM_KIND) == int(stored[4])
    # older stores (no `checksums` attribute) keep the value digest
    assert stored_digest(group, LAYOUT, one, "windows", 4, None) == unit_digest(
        read_unit(group, LAYOUT, "windows", 4)
    )


def test_object_digest_follows_its_definition_and_binds_the_unit() -> None:
    # BLAKE2b-64 over "unit <k>\0" then "key=crc32\0" per object in key order (docs/store.md)
    crcs = {"status/c/3": 17, "start/c/3": None}
    h = hashlib.blake2b(digest_size=8)
    h.update(b"unit 3\x00start/c/3=absent\x00status/c/3=17\x00")
    assert object_digest(3, crcs) == int.from_bytes(h.digest(), "little")
    assert object_digest(4, crcs) != object_digest(3, crcs)
    assert object_digest(3, {**crcs, "status/c/3": 18}) != object_digest(3, crcs)


def test_read_unit_returns_the_unit_rows_as_stored(tmp_path: Path) -> None:
    url = str(tmp_path / "r.zarr")
    write_window_units(_create(url), [4])
    got = read_unit(zarr.open_group(url, mode="r"), LAYOUT, "windows", 4)
    given = unit_windows(LAYOUT, 4)
    np.testing.assert_array_equal(got["start"], given["start"])
    assert got["strand"].tolist() == np.where(given["strand"] == 1, "-", "+").tolist()
    emb = unit_embeddings(LAYOUT, 4)
    assert got["embedding_tokens"].shape == (2, 3, 4, 6)  # all layers, the 3 rows of unit 4
    np.testing.assert_array_equal(got["embedding_cls"][1], emb["cls"][1].astype(np.float32))


@pytest.fixture
def full(tmp_path: Path) -> tuple[str, Path]:
    url = tmp_path / "v.zarr"
    writer = _create(str(url))
    write_window_units(writer, list(range(LAYOUT.n_window_units)))
    write_variant_units(writer, list(range(LAYOUT.n_variant_units)))
    st.finalize(str(url))
    return str(url), url


def test_done_mark_without_a_checksum_is_damage(full: tuple[str, Path]) -> None:
    url, _ = full
    zarr.open_group(url, mode="r+")["completion/window_checksums"][1] = np.uint64(0)
    report = st.verify(url)
    assert report["windows"]["damaged"] == [
        {"unit": 1, "rows": [5, 10], "reason": "done mark without a checksum"}
    ]


def test_a_lost_token_shard_and_a_lost_score_chunk_are_found(full: tuple[str, Path]) -> None:
    url, path = full
    (path / "embedding_tokens" / "c" / "0" / "3" / "0" / "0").unlink()  # unit 3's shard
    (path / "score_llr" / "c" / "2").unlink()  # variant unit 2 (the short last one)
    report = st.verify(url)
    assert [d["unit"] for d in report["windows"]["damaged"]] == [3]
    assert report["variants"]["damaged"] == [
        {
            "unit": 2,
            "rows": [6, 7],
            "reason": "stored values differ from the checksum of the done mark "
            "(chunk damaged, missing, changed or moved)",
        }
    ]
    assert report["windows"]["units_ok"] == 4 and report["variants"]["units_ok"] == 2


def test_a_changed_string_row_is_found(full: tuple[str, Path]) -> None:
    url, _ = full
    zarr.open_group(url, mode="r+")["variant_alt"][0] = "TTTT"
    assert [d["unit"] for d in st.verify(url)["variants"]["damaged"]] == [0]


def test_units_without_a_mark_are_listed_not_damaged(tmp_path: Path) -> None:
    url = str(tmp_path / "part.zarr")
    writer = _create(url)
    write_window_units(writer, [0, 2])
    write_window_units(writer, [3], mark=False)
    report = st.verify(url)
    assert report["ok"] is False
    assert report["windows"]["not_done"] == [1, 3, 4] and report["windows"]["damaged"] == []
    assert report["variants"]["not_done"] == [0, 1, 2]


def _plant_live_lease(path: Path) -> None:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    info = {"host": "another-node", "pid": 1, "started": now, "heartbeat": now, "token": "x"}
    assert lease._write_claim(str(path), 0, info)


def test_repair_takes_the_lease_only_when_there_is_damage(full: tuple[str, Path]) -> None:
    url, path = full
    _plant_live_lease(path)  # another run holds the store
    assert st.verify(url, repair=True)["repaired"] == 0  # intact: no lease needed
    (path / "n_tokens" / "c" / "0").unlink()
    with pytest.raises(StoreError, match=re.escape("is in use by another run (host another-node")):
        st.verify(url, repair=True)
    assert st.open_writer(url).done_units().all()  # nothing cleared while refused
    assert st.verify(url)["windows"]["damaged"][0]["unit"] == 0  # read-only verify still works
