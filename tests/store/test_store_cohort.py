"""Cohort stores (schema 3): windows x haplotypes, each distinct sequence stored once.

Real Zarr stores written unit by unit with made-up distinct sequences; the per-haplotype
values read back through `sequence_index` (the documented xarray line and the
`ntscale.store` helpers) must equal what each (window, haplotype) was given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import ntscale.store as st
from ntscale.errors import StoreError
from ntscale.store.schema import SEQUENCE_COUNTS
from ntscale.types import WindowStatus

SAMPLES = ("S1", "S2", "S3")
NAMES = [f"{s}:{p}" for s in SAMPLES for p in (0, 1)]
H, W, U, L, D = 6, 5, 2, 2, 4


def make_units(seed: int = 0) -> list[dict]:
    """Per unit: what the worker passes (windows, per-haplotype, distinct sequences)."""
    rng = np.random.default_rng(seed)
    units = []
    for k in range((W + U - 1) // U):
        lo, hi = k * U, min((k + 1) * U, W)
        n = hi - lo
        # few distinct sequences per window, one skipped haplotype in unit 0
        local = rng.integers(0, 3, size=(n, H)) + 3 * np.arange(n)[:, None]
        used, index = np.unique(local, return_inverse=True)
        index = index.reshape(n, H)
        status = np.full((n, H), int(WindowStatus.OK), np.uint8)
        if k == 0:
            index[0, 5] = -1
            status[0, 5] = int(WindowStatus.SKIPPED_HAPLOTYPE)
            used_rows = np.unique(index[index >= 0])
            remap = np.full(index.max() + 1, -1)
            remap[used_rows] = np.arange(used_rows.size)
            index = np.where(index >= 0, remap[index], -1)
            used = used[used_rows]
        d = used.shape[0]
        units.append(
            {
                "windows": {
                    "contig_index": np.zeros(n, np.int64),
                    "start": np.arange(lo, hi) * 100,
                    "end": np.arange(lo, hi) * 100 + 100,
                    "strand": np.zeros(n, np.int8),
                },
                "haplotypes": {
                    "status": status,
                    "n_variants": rng.integers(0, 4, size=(n, H)),
                    "hap_end": np.repeat((np.arange(lo, hi) * 100 + 100)[:, None], H, 1),
                    "sequence_index": index,
                },
                "sequences": {
                    "n_tokens": np.full(d, 18, np.int32),
                    "frac_n": np.zeros(d, np.float32),
                    "sequence_id": (used + 1).astype(np.uint64),
                },
                "embeddings": {"mean": rng.normal(size=(L, d, D)).astype(np.float32)},
            }
        )
    return units


def create(path: Path, **layout) -> st.StoreWriter:
    lay = st.StoreLayout(
        n_windows=W, unit_windows=U, layers=(1, 2), embed_dim=D, n_haplotypes=H, **layout
    )
    return st.create_or_open(
        str(path),
        lay,
        fingerprint={"job": "test"},
        attrs={},
        contigs=[("chr1", 1000)],
        haplotype_names=NAMES,
    )


def write_all(writer: st.StoreWriter, units: list[dict]) -> None:
    for k, unit in enumerate(units):
        writer.write_cohort_unit(k, **unit)
        writer.mark_done(k)
    st.finalize(writer.url)


def expected_per_haplotype(units: list[dict]) -> np.ndarray:
    """[L, W, H, D] values given per (window, haplotype), NaN where skipped."""
    out = []
    for unit in units:
        idx, emb = unit["haplotypes"]["sequence_index"], unit["embeddings"]["mean"]
        vals = emb[:, np.clip(idx, 0, None)]
        vals[:, idx < 0] = np.nan
        out.append(vals)
    return np.concatenate(out, axis=1)


def test_layout_reserves_whole_chunks_per_unit_and_one_nan_slot():
    lay = st.StoreLayout(n_windows=W, unit_windows=U, n_haplotypes=H, sequence_chunk=5)
    assert lay.cohort and lay.sequence_chunk_len == 5
    assert lay.unit_sequences == 15  # U x H = 12 rows, rounded up to chunks of 5
    assert lay.n_sequences == 3 * 15 + 1
    assert lay.sequence_slots(1, 7) == (15, 25)
    assert lay.sequence_slots(2, 0) == (30, 30)
    with pytest.raises(StoreError, match="16 distinct sequences, the unit has 15 slots"):
        lay.sequence_slots(0, 16)
    assert not st.StoreLayout(n_windows=W, unit_windows=U).cohort


def test_documented_line_and_helpers_give_each_haplotypes_values(tmp_path: Path):
    units = make_units()
    write_all(create(tmp_path / "c.zarr"), units)
    expected = expected_per_haplotype(units)

    ds = xr.open_zarr(tmp_path / "c.zarr")
    per_hap = ds.embedding_mean.isel(sequence=ds.sequence_index.load())
    assert per_hap.dims == ("layer", "window", "haplotype", "dim")
    np.testing.assert_array_equal(per_hap.values, expected)

    ds = st.open(str(tmp_path / "c.zarr"))
    got = st.haplotype_embeddings(ds)
    np.testing.assert_array_equal(got.values, expected)
    assert got.sel(haplotype="S2:1").dims == ("layer", "window", "dim")
    assert list(ds.sample.values) == ["S1", "S1", "S2", "S2", "S3", "S3"]

    pair = st.sample_embeddings(ds, ["S3", "S1"])
    assert pair.dims == ("layer", "window", "sample", "phase", "dim")
    np.testing.assert_array_equal(pair.sel(sample="S3", phase=1).values, expected[:, :, 5])
    np.testing.assert_array_equal(pair.sel(sample="S1", phase=0).values, expected[:, :, 0])
    assert st.sample_embeddings(ds).sizes["sample"] == 3
    with pytest.raises(StoreError, match=r"sample\(s\) \['S9'\] not in the store"):
        st.sample_embeddings(ds, ["S9"])


def test_haplotype_rows_rebuild_the_row_layout(tmp_path: Path):
    units = make_units(1)
    write_all(create(tmp_path / "c.zarr"), units)
    rows = st.haplotype_rows(st.open(str(tmp_path / "c.zarr")))
    assert rows.sizes["window"] == W * H
    assert list(rows.haplotype.values[:H]) == NAMES
    assert rows.status.values[5] == "SKIPPED_HAPLOTYPE" and rows.sequence_id.values[5] == 0
    assert np.isnan(rows.frac_n.values[5]) and rows.n_tokens.values[5] == 0
    given = np.concatenate([u["haplotypes"]["n_variants"].reshape(-1) for u in units])
    np.testing.assert_array_equal(rows.n_variants.values, given)
    flat = expected_per_haplotype(units).reshape(L, W * H, D)
    np.testing.assert_array_equal(rows.embedding_mean.values, flat)


def test_sequence_axis_holds_only_written_chunks_and_counts(tmp_path: Path):
    units = make_units(2)
    writer = create(tmp_path / "c.zarr", sequence_chunk=4)
    write_all(writer, units)
    ds = st.open(str(tmp_path / "c.zarr"))
    lay = writer.layout
    counts = [u["sequences"]["sequence_id"].shape[0] for u in units]
    import zarr

    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    assert group[SEQUENCE_COUNTS][:].tolist() == counts
    # chunk objects of embedding_mean: one per 4 used slots of each unit, none elsewhere
    chunk_dir = tmp_path / "c.zarr" / "embedding_mean" / "c"
    written = sorted(int(p.parent.name) for p in chunk_dir.glob("0/*/0"))
    want = sorted(
        k * lay.unit_sequences // 4 + j for k, d in enumerate(counts) for j in range(-(-d // 4))
    )
    assert written == want
    assert int(ds.sequence_index.max()) < lay.n_sequences - 1  # last slot: never written
    assert np.isnan(ds.embedding_mean.isel(sequence=-1).values).all()
    summary = st.store_summary(str(tmp_path / "c.zarr"))
    assert summary["windows"]["rows"] == W * H and summary["complete"]
    assert summary["windows"]["sequences_stored"] == sum(counts)
    assert summary["windows"]["by_status"] == {"OK": W * H - 1, "SKIPPED_HAPLOTYPE": 1}


def test_verify_finds_a_deleted_sequence_chunk_and_resume_rewrites_the_same_bytes(tmp_path):
    units = make_units(3)
    write_all(create(tmp_path / "a.zarr"), units)
    assert st.verify(str(tmp_path / "a.zarr"))["ok"]
    victim = next(
        p for p in (tmp_path / "a.zarr" / "embedding_mean" / "c").rglob("*") if p.is_file()
    )
    before = victim.read_bytes()
    victim.unlink()
    report = st.verify(str(tmp_path / "a.zarr"), repair=True)
    assert not report["ok"] and report["repaired"] == 1
    writer = create(tmp_path / "a.zarr")  # resume
    todo = np.flatnonzero(~writer.done_units())
    assert todo.tolist() == [report["windows"]["damaged"][0]["unit"]]
    for k in todo:
        writer.write_cohort_unit(int(k), **units[k])
        writer.mark_done(int(k))
    st.finalize(writer.url)
    assert victim.read_bytes() == before
    assert st.verify(str(tmp_path / "a.zarr"))["ok"]


def test_cohort_writer_errors_name_the_unit_and_the_problem(tmp_path: Path):
    units = make_units()
    writer = create(tmp_path / "c.zarr")
    bad = {**units[0], "haplotypes": {**units[0]["haplotypes"]}}
    bad["haplotypes"]["sequence_index"] = units[0]["haplotypes"]["sequence_index"] + 50
    with pytest.raises(StoreError, match=r"window unit 0 \(rows 0-2\): sequence_index outside"):
        writer.write_cohort_unit(0, **bad)
    with pytest.raises(StoreError, match="haplotypes missing \\['hap_end'\\]"):
        h = {k: v for k, v in units[0]["haplotypes"].items() if k != "hap_end"}
        writer.write_cohort_unit(0, **{**units[0], "haplotypes": h})
    with pytest.raises(StoreError, match="a cohort store takes write_cohort_unit"):
        writer.write_window_unit(0, windows={}, embeddings={})
    with pytest.raises(StoreError, match="2 haplotype names given for a layout of 6"):
        create(tmp_path / "d.zarr").url  # noqa: B018 - fine
        st.create_or_open(
            str(tmp_path / "e.zarr"),
            writer.layout,
            fingerprint={},
            attrs={},
            contigs=[("chr1", 1000)],
            haplotype_names=NAMES[:2],
        )
    plain = st.StoreLayout(n_windows=2, unit_windows=2, layers=(1,), embed_dim=D)
    ref = st.create_or_open(
        str(tmp_path / "r.zarr"), plain, fingerprint={}, attrs={}, contigs=[("chr1", 1000)]
    )
    with pytest.raises(StoreError, match="is not a cohort store"):
        ref.write_cohort_unit(0, **units[0])
    with pytest.raises(StoreError, match="not a cohort store"):
        st.haplotype_embeddings(st.open(str(tmp_path / "r.zarr")))


def test_fresh_store_reads_pending_everywhere_and_refuses_another_cohort(tmp_path: Path):
    writer = create(tmp_path / "c.zarr")
    lay = writer.layout
    assert st.StoreLayout.from_json(lay.to_json()) == lay
    ds = st.open(str(tmp_path / "c.zarr"))
    assert dict(ds.sizes) == {"layer": 2, "window": W, "haplotype": H, "sequence": 37, "dim": D}
    assert (ds.sequence_index.values == -1).all()
    assert (np.asarray(ds.status.values.tolist()) == "PENDING").all()
    assert np.isnan(st.haplotype_embeddings(ds).values).all()  # -1: the NaN slot
    summary = st.store_summary(str(tmp_path / "c.zarr"))
    assert summary["windows"]["by_status"] == {"PENDING": W * H}
    assert summary["windows"]["sequences_stored"] == 0 and not summary["complete"]
    blocks = list(st.cohort.iter_haplotype_blocks(str(tmp_path / "c.zarr")))
    assert [b["status"].shape for b in blocks] == [(2, H), (2, H), (1, H)]
    assert all((b["hap_end"] == -1).all() for b in blocks)
    st.finalize(writer.url)
    other = st.StoreLayout(
        n_windows=W, unit_windows=U, layers=(1, 2), embed_dim=D, n_haplotypes=H - 2
    )
    with pytest.raises(StoreError, match="layout.n_haplotypes: store has 6, this run has 4"):
        st.create_or_open(
            str(tmp_path / "c.zarr"),
            other,
            fingerprint={"job": "test"},
            attrs={},
            contigs=[("chr1", 1000)],
            haplotype_names=NAMES[:4],
        )
    plain = st.StoreLayout(n_windows=2, unit_windows=2)
    st.create_or_open(str(tmp_path / "r.zarr"), plain, fingerprint={}, attrs={}, contigs=[])
    with pytest.raises(StoreError, match="is not a cohort store"):
        next(st.cohort.iter_haplotype_blocks(str(tmp_path / "r.zarr")))


def test_per_token_cohort_store_keeps_one_shard_per_sequence_chunk(tmp_path: Path):
    t = 3
    lay = st.StoreLayout(
        n_windows=2, unit_windows=1, layers=(1,), embed_dim=D, per_token=True, max_tokens=t,
        n_haplotypes=2, sequence_chunk=2, per_token_dtype="float32",
    )  # fmt: skip
    writer = st.create_or_open(
        str(tmp_path / "t.zarr"), lay, fingerprint={}, attrs={}, contigs=[("chr1", 1000)],
        haplotype_names=["A:0", "A:1"],
    )  # fmt: skip
    rng = np.random.default_rng(5)
    for k, d in enumerate((2, 1)):
        writer.write_cohort_unit(
            k,
            windows={"contig": np.array(["chr1"]), "start": np.array([k * 10]),
                     "end": np.array([k * 10 + 10]), "strand": np.array(["+"])},
            haplotypes={"status": np.array([["OK", "OK"]]), "n_variants": np.zeros((1, 2)),
                        "hap_end": np.array([[k * 10 + 10] * 2]),
                        "sequence_index": np.array([[0, d - 1]])},
            sequences={"n_tokens": np.full(d, t), "frac_n": np.zeros(d),
                       "sequence_id": np.arange(1, d + 1)},
            embeddings={"mean": rng.normal(size=(1, d, D)),
                        "tokens": rng.normal(size=(1, d, t, D))},
        )  # fmt: skip
        writer.mark_done(k)
    st.finalize(writer.url)
    assert st.verify(str(tmp_path / "t.zarr"))["ok"]
    ds = st.open(str(tmp_path / "t.zarr"))
    tokens = st.haplotype_embeddings(ds, "tokens")
    assert tokens.dims == ("layer", "window", "haplotype", "token", "dim")
    # window 1: both haplotypes share its one sequence
    np.testing.assert_array_equal(tokens.values[0, 1, 0], tokens.values[0, 1, 1])
    shards = sorted(
        p.parent.name for p in (tmp_path / "t.zarr" / "embedding_tokens").rglob("0") if p.is_file()
    )
    assert len(shards) == 2  # one shard per unit's used chunk
    with pytest.raises(StoreError, match="has no 'embedding_cls'"):
        st.haplotype_embeddings(ds, "cls")


def test_ntscale_open_is_the_plain_xarray_dataset(tmp_path: Path):
    import warnings

    write_all(create(tmp_path / "c.zarr"), make_units(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = xr.open_zarr(tmp_path / "c.zarr")
        ours = st.open(str(tmp_path / "c.zarr"))
    xr.testing.assert_identical(plain, ours)
    assert ours["haplotype"].values.dtype.kind == "U"  # loaded, plain str
    assert ours.chunks["window"][0] == U
    # the sequence axis is lazily indexed zarr, not dask (one task per 128 slots would be
    # millions of tasks on a whole-genome cohort): see the long-axis test below
    assert "sequence" not in ours.chunks and ours["embedding_mean"].chunks is None


def test_a_whole_genome_length_sequence_axis_opens_and_reads_by_the_used_slots(tmp_path):
    """38.4 million logical slots (300,000 chunks of 128), two units written: opening and
    the per-haplotype helpers cost what the selection uses, not the axis length."""
    h, u, n_windows, d = 600, 64, 64_000, 5
    names = [f"S{i}:{p}" for i in range(h // 2) for p in (0, 1)]
    lay = st.StoreLayout(
        n_windows=n_windows, unit_windows=u, layers=(1,), embed_dim=d, n_haplotypes=h
    )
    assert lay.n_sequences > 38_000_000 and lay.n_sequences // lay.sequence_chunk_len >= 300_000
    writer = st.create_or_open(
        str(tmp_path / "g.zarr"),
        lay,
        fingerprint={},
        attrs={},
        contigs=[("chr1", 10**9)],
        haplotype_names=names,
    )
    rng = np.random.default_rng(3)
    written = {}
    for k in (0, 7):
        index = rng.integers(0, 40, size=(u, h)) + 40 * np.arange(u)[:, None]
        used, inv = np.unique(index, return_inverse=True)
        emb = rng.normal(size=(1, used.size, d)).astype(np.float32)
        writer.write_cohort_unit(
            k,
            windows={
                "contig_index": np.zeros(u, np.int64),
                "start": np.arange(k * u, (k + 1) * u) * 100,
                "end": np.arange(k * u, (k + 1) * u) * 100 + 100,
                "strand": np.zeros(u, np.int8),
            },
            haplotypes={
                "status": np.zeros((u, h), np.uint8),
                "n_variants": np.zeros((u, h), np.int64),
                "hap_end": np.zeros((u, h), np.int64),
                "sequence_index": inv.reshape(u, h),
            },
            sequences={
                "n_tokens": np.full(used.size, 18, np.int32),
                "frac_n": np.zeros(used.size, np.float32),
                "sequence_id": np.arange(1, used.size + 1, dtype=np.uint64),
            },
            embeddings={"mean": emb},
        )
        writer.mark_done(k)
        written[k] = emb[:, inv.reshape(u, h)]  # [1, u, h, d]
    ds = st.open(str(tmp_path / "g.zarr"))
    assert ds["embedding_mean"].chunks is None  # no per-chunk dask state
    for k, expected in written.items():
        sub = ds.isel(window=slice(k * u, k * u + 3))
        got = st.haplotype_embeddings(sub)
        assert len(got.data.__dask_graph__()) < 1_000  # tasks: used slots only (not 300,000)
        np.testing.assert_array_equal(got.values, expected[:, :3])
        pair = st.sample_embeddings(sub, ["S3"]).values  # [1, 3, 1, 2, d]
        np.testing.assert_array_equal(pair[:, :, 0], expected[:, :3, 6:8])
    # a window no unit wrote: every haplotype points at the never-written last slot (NaN)
    empty = st.haplotype_embeddings(ds.isel(window=slice(200, 201)))
    assert np.isnan(empty.values).all()


def test_object_checksums_cover_every_sequence_chunk_of_a_unit(tmp_path: Path):
    """A cohort unit's sequence slots may span several chunks: each is in its checksum."""
    import zarr

    from ntscale.store.checksum import unit_keys

    units = make_units(2)
    writer = create(tmp_path / "c.zarr", sequence_chunk=2)
    write_all(writer, units)
    st.finalize(writer.url)
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
    counts = [u["sequences"]["sequence_id"].shape[0] for u in units]
    k = max(range(len(counts)), key=counts.__getitem__)
    assert counts[k] > 2  # this unit's slots span more than one chunk
    keys = [
        x for x in unit_keys(group, writer.layout, "windows", k) if x.startswith("embedding_mean/")
    ]
    first = k * writer.layout.unit_sequences // 2
    assert keys == [f"embedding_mean/c/0/{first + j}/0" for j in range(-(-counts[k] // 2))]
    last = tmp_path / "c.zarr" / keys[-1]
    data = bytearray(last.read_bytes())
    data[-1] ^= 0xFF
    last.write_bytes(bytes(data))
    report = st.verify(str(tmp_path / "c.zarr"))
    assert [d["unit"] for d in report["windows"]["damaged"]] == [k]
