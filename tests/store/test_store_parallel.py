"""Parallel writers in separate processes, completion marks and resume."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import zarr
from store_workers import (
    ATTRS,
    CONTIGS,
    FINGERPRINT,
    LAYOUT,
    unit_embeddings,
    unit_windows,
    write_units_by_url,
    write_variant_units,
    write_window_units,
)

import ntscale.store as st


def _create(url: str) -> st.StoreWriter:
    return st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)


def _chunk_files(url: str) -> dict[str, bytes]:
    """Every file of a store but the root metadata (which holds the creation time)."""
    root = Path(url)
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p != root / "zarr.json"
    }


def test_parallel_writers_in_spawned_processes_equal_a_serial_write(tmp_path: Path) -> None:
    serial = str(tmp_path / "serial.zarr")
    writer = _create(serial)
    write_window_units(writer, list(range(LAYOUT.n_window_units)))
    write_variant_units(writer, list(range(LAYOUT.n_variant_units)))

    parallel = str(tmp_path / "parallel.zarr")
    shared = _create(parallel)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        # units interleaved between the two processes, in reverse order; one worker gets
        # the writer pickled, the other reopens the store by URL
        jobs = [
            pool.submit(write_window_units, shared, [4, 2, 0]),
            pool.submit(write_units_by_url, parallel, [3, 1], [2, 0]),
            pool.submit(write_variant_units, shared, [1]),
        ]
        written = [job.result() for job in jobs]
    assert all(n > 0 for n in written)
    assert shared.done_units().all()
    assert shared.done_units(part="variants").all()

    st.finalize(serial)
    st.finalize(parallel)
    a, b = _chunk_files(serial), _chunk_files(parallel)
    assert sorted(a) == sorted(b)
    assert a == b  # byte-identical chunks and array metadata
    ds_a, ds_b = st.open(serial), st.open(parallel)
    assert ds_a.drop_attrs().identical(ds_b.drop_attrs())


def test_writer_pickles_by_url(tmp_path: Path) -> None:
    url = str(tmp_path / "p.zarr")
    writer = _create(url)
    data = pickle.dumps(writer)
    assert len(data) < 300  # the URL, not the arrays
    clone = pickle.loads(data)
    assert clone.url == url and clone.layout == LAYOUT
    assert repr(clone) == f"StoreWriter({url!r})"


def test_unit_written_but_not_marked_is_not_done(tmp_path: Path) -> None:
    url = str(tmp_path / "killed.zarr")
    writer = _create(url)
    write_window_units(writer, [0, 1])
    write_window_units(writer, [3], mark=False)  # a unit killed before its mark
    assert writer.done_units().tolist() == [True, True, False, False, False]
    assert st.open_writer(url).done_units().tolist() == [True, True, False, False, False]
    # the unit's data is there, but only the mark says it is complete
    assert (zarr.open_group(url, mode="r")["status"][15:20] != "PENDING").any()


def test_resume_keeps_done_units_and_finishes_to_the_same_bytes(tmp_path: Path) -> None:
    straight = str(tmp_path / "straight.zarr")
    write_window_units(_create(straight), list(range(LAYOUT.n_window_units)))
    write_variant_units(st.open_writer(straight), list(range(LAYOUT.n_variant_units)))

    url = str(tmp_path / "resumed.zarr")
    first = _create(url)
    write_window_units(first, [0, 2])
    write_window_units(first, [3], mark=False)
    created = dict(zarr.open_group(url, mode="r").attrs)["created"]

    again = _create(url)  # the same command run again
    done = again.done_units()
    assert done.tolist() == [True, False, True, False, False]
    todo = [k for k in range(LAYOUT.n_window_units) if not done[k]]
    assert todo == [1, 3, 4]
    write_window_units(again, todo)
    write_variant_units(again, list(range(LAYOUT.n_variant_units)))
    assert dict(zarr.open_group(url, mode="r").attrs)["created"] == created
    st.finalize(url)
    st.finalize(straight)
    assert _chunk_files(url) == _chunk_files(straight)
    assert st.store_summary(url)["complete"] is True


def test_store_interrupted_during_creation_is_created_again(tmp_path: Path) -> None:
    url = str(tmp_path / "halfmade.zarr")
    _create(url)
    group = zarr.open_group(url, mode="r+")
    del group["embedding_cls"]  # the driver died before creating every array
    group.attrs["initialized"] = False
    writer = _create(url)
    write_window_units(writer, [0])
    assert zarr.open_group(url, mode="r").attrs["initialized"] is True
    np.testing.assert_array_equal(
        st.open(url).embedding_cls.sel(layer=3).values[:5],
        unit_embeddings(LAYOUT, 0)["cls"][LAYOUT.layers.index(3)].astype("f4"),
    )


def test_set_attrs_records_a_run_summary(tmp_path: Path) -> None:
    url = str(tmp_path / "attrs.zarr")
    writer = _create(url)
    writer.set_attrs(summary={"windows_per_s": 12.5, "units": (1, 2)})
    assert st.open(url).attrs["summary"] == {"windows_per_s": 12.5, "units": [1, 2]}
    # a later resume with different run attrs (e.g. batch size) is allowed
    st.create_or_open(
        url, LAYOUT, fingerprint=FINGERPRINT, attrs={"batch_size": 3}, contigs=CONTIGS
    )


def test_unit_rows_and_last_short_unit() -> None:
    assert LAYOUT.n_window_units == 5
    assert LAYOUT.window_rows(0) == (0, 5)
    assert LAYOUT.window_rows(4) == (20, 23)
    assert LAYOUT.n_variant_units == 3
    assert LAYOUT.variant_rows(2) == (6, 7)
    assert unit_windows(LAYOUT, 4)["start"].shape == (3,)
