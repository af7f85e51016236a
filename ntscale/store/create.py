"""Creating a store (the driver), or reopening one made by the same run (resume).

Metadata first: every array is created before any unit is dispatched, so that unit
writers in other processes only ever write chunks. A store made by another run (other
fingerprint, layout or contigs) is never mixed with.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from typing import Any

import numpy as np
import zarr

import ntscale
from ntscale.errors import StoreError
from ntscale.store import backend, lease
from ntscale.store.checksum import CHECKSUM_KIND
from ntscale.store.schema import (
    BASE_CHECKSUMS,
    BASE_UNITS_DONE,
    BASE_VALUES,
    COHORT_WINDOW_FIELDS,
    HAP_BASE_VALUES,
    HAP_ROW_COUNTS,
    HAP_SEGMENT_END,
    HAP_SEGMENT_ROW,
    HAP_SEGMENT_START,
    HAPLOTYPE_FIELDS,
    INTERVAL_FIELDS,
    LAYER_COORD,
    RESERVED_ATTRS,
    SCHEMA_VERSION,
    SEQUENCE_COUNTS,
    SEQUENCE_FIELDS,
    TRACK_COORD,
    VARIANT_CHECKSUMS,
    VARIANT_FIELDS,
    VARIANT_UNITS_DONE,
    WINDOW_CHECKSUMS,
    WINDOW_FIELDS,
    WINDOW_UNITS_DONE,
    RowField,
    StoreLayout,
    check_schema_version,
    diff_fingerprints,
    embedding_kinds,
    embedding_name,
    score_name,
    to_plain,
)
from ntscale.store.writer import StoreWriter

logger = logging.getLogger(__name__)


def _run_identity(
    fingerprint: dict[str, Any], layout: StoreLayout, contigs: list[list[Any]]
) -> dict[str, Any]:
    """What must match for two runs to share a store: the run's fingerprint, layout, contigs."""
    return {**to_plain(fingerprint), "layout": layout.to_json(), "contigs": to_plain(contigs)}


def create_or_open(
    url: str,
    layout: StoreLayout,
    *,
    fingerprint: dict[str, Any],
    attrs: dict[str, Any],
    contigs: list[tuple[str, int]],
    haplotype_names: list[str] | None = None,
) -> StoreWriter:
    """Create a store with all its arrays, or reopen one made by the same run (resume).

    Args:
        url: local path or fsspec URL (file://, s3://, gs://).
        layout: shapes, chunking and options of the arrays.
        fingerprint: what identifies the run's results (model name, checkpoint digest,
            window/stride/strands, layers, FASTA .fai digest, VCF, samples, ...). A store
            made with a different fingerprint, layout or contig list is never mixed with.
        attrs: extra JSON-able root attributes (model hyperparameters, command line, config).
        contigs: (name, length) of every contig; windows/contig_index indexes this list.
        haplotype_names: "SAMPLE:phase" of each haplotype, required for a cohort layout
            (`layout.n_haplotypes` names; written as the `haplotype` coordinate).

    Returns:
        A writer on the store.

    Raises:
        StoreError: the store was made by another run (names every differing key), is in
            use by another run (its lease), is of another schema version, or the path
            cannot be written.

    The caller holds the store's run lease from here until `finalize(url)` (or exit).
    """
    url = str(url)
    contig_list = [[str(name), int(length)] for name, length in contigs]
    clash = sorted(set(attrs) & set(RESERVED_ATTRS))
    if clash:
        raise StoreError(f"run attributes {clash} clash with store-owned root attributes")
    names = [str(x) for x in (haplotype_names or [])]
    n_haps = layout.n_haplotypes or layout.base_haplotypes
    if len(names) != n_haps:
        raise StoreError(f"{len(names)} haplotype names given for a layout of {n_haps} haplotypes")
    identity = _run_identity(fingerprint, layout, contig_list)
    backend.check_target(url)  # a regular file or a foreign folder: refused before leasing
    backend.check_remote_target(url)  # the same for object stores (a bucket root of data)
    backend.check_writable(url)
    lease.acquire(url)  # exclusive: one driver at a time; a new store is created once
    try:
        return _create_or_resume(url, layout, identity, attrs, fingerprint, contig_list, names)
    except BaseException:
        lease.release(url)
        raise


def _create_or_resume(
    url: str,
    layout: StoreLayout,
    identity: dict[str, Any],
    attrs: dict[str, Any],
    fingerprint: dict[str, Any],
    contig_list: list[list[Any]],
    names: list[str],
) -> StoreWriter:
    if backend.group_exists(url):
        group = backend.open_existing(url, "r")
        stored = dict(group.attrs)
        check_schema_version(stored, url)
        stored_identity = {
            **stored.get("fingerprint", {}),
            "layout": stored.get("layout"),
            "contigs": stored.get("contigs"),
        }
        diffs = diff_fingerprints(stored_identity, identity)
        if diffs:
            raise StoreError(
                f"output store {url!r} was made by a different run; refusing to mix results:\n  "
                + "\n  ".join(diffs)
                + f"\nFix: choose a new --out path, or delete {url!r} to start over."
            )
        backend.check_writable(url)
        if not stored.get("initialized"):
            # The driver died while creating arrays; no unit can have written yet.
            logger.info("store %s was not fully created; creating its arrays again", url)
            _with_write_errors(
                url, lambda: _init_arrays(backend.open_existing(url, "r+"), layout, names)
            )
        writer = StoreWriter(url)
        logger.info(
            "resuming store %s: %d of %d window units done",
            url,
            int(writer.done_units().sum()),
            layout.n_window_units,
        )
        return writer

    backend.check_writable(url)
    root_attrs = {
        **to_plain(attrs),
        "schema_version": SCHEMA_VERSION,
        "ntscale_version": ntscale.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fingerprint": to_plain(fingerprint),
        "layout": layout.to_json(),
        "contigs": contig_list,
        "initialized": False,
        "checksums": CHECKSUM_KIND,
        # CF: these arrays are coordinates (xarray reads them so, also with no data variable)
        "coordinates": " ".join(_coordinate_names(layout)),
    }

    def create() -> None:
        # "a", not "w-": the lease folder is already there; the lease makes this exclusive
        group = backend.open_group(url, "a")
        group.attrs.update(root_attrs)
        _init_arrays(group, layout, names)

    _with_write_errors(url, create)
    logger.info(
        "created store %s: %d windows in %d units, %d variants in %d units",
        url,
        layout.n_windows,
        layout.n_window_units,
        layout.n_variants,
        layout.n_variant_units,
    )
    return StoreWriter(url)


def _coordinate_names(layout: StoreLayout) -> list[str]:
    """Stored names of the arrays xarray reads as coordinates (the CF attribute)."""
    names: list[str] = []
    if layout.cohort:
        fields = (COHORT_WINDOW_FIELDS, HAPLOTYPE_FIELDS, SEQUENCE_FIELDS)
        names += [f.stored for group in fields for f in group.values()]
        names += ["haplotype", "sample"]
    elif layout.has_windows:
        names += [f.stored for f in WINDOW_FIELDS.values()]
    if layout.n_variants:
        names += [f.stored for f in VARIANT_FIELDS.values()]
    if layout.n_bases:
        names += [f.stored for f in INTERVAL_FIELDS.values()]
    return names


def finalize(url: str) -> None:
    """End a run on a store: release its lease, write consolidated metadata.

    Consolidated metadata (every array's metadata in the root zarr.json) lets
    `xr.open_zarr(path)` open the store with one read and no warning.
    """
    url = str(url)
    lease.release(url, strict=True)  # LeaseLost if another run took it: nothing written
    try:
        with warnings.catch_warnings():
            # zarr notes that consolidated metadata is not (yet) in the v3 spec; xarray
            # and zarr-python read it, other readers fall back to listing the arrays.
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            zarr.consolidate_metadata(backend.open_existing(url, "r+").store, zarr_format=3)
    except OSError as e:
        raise backend.write_error(url, e) from e


def _with_write_errors(url: str, fn: Any) -> Any:
    try:
        return fn()
    except FileExistsError as e:
        raise StoreError(
            f"output store {url!r} already holds data that is not an ntscale "
            "store; choose a new --out path"
        ) from e
    except OSError as e:
        raise backend.write_error(url, e) from e


def _init_arrays(group: zarr.Group, layout: StoreLayout, haplotype_names: list[str]) -> None:
    """Create every array (metadata only: unwritten rows read as fill values)."""
    comp = backend.compressors(layout.codec)
    n, u, dim, n_layers = (
        layout.n_windows,
        layout.unit_windows,
        layout.embed_dim,
        len(layout.layers),
    )

    def make(
        path: str,
        shape: tuple[int, ...],
        chunks: tuple[int, ...],
        dtype: Any,
        fill: Any,
        dims: tuple[str, ...],
        *,
        shards: tuple[int, ...] | None = None,
        compressors: Any = comp,
        attrs: dict[str, Any] | None = None,
    ) -> zarr.Array:
        kwargs: dict[str, Any] = {}
        if dtype is not str:
            kwargs["compressors"] = compressors
        return group.create_array(
            path,
            shape=shape,
            chunks=chunks,
            shards=shards,
            dtype=dtype,
            fill_value=fill,
            dimension_names=dims,
            attributes=attrs or {},
            overwrite=True,
            **kwargs,
        )

    def field_attrs(field: RowField) -> dict[str, Any]:
        return {"description": field.doc}

    if layout.cohort:
        _init_cohort_rows(make, layout, haplotype_names)
        window_coords = " ".join(f.stored for f in SEQUENCE_FIELDS.values())
        row_dim, n_rows, u_rows = "sequence", layout.n_sequences, layout.sequence_chunk_len
    else:
        if layout.has_windows:
            for field in WINDOW_FIELDS.values():
                make(
                    field.stored,
                    (n,),
                    (u,),
                    field.dtype,
                    field.fill,
                    ("window",),
                    attrs=field_attrs(field),
                )
        window_coords = " ".join(f.stored for f in WINDOW_FIELDS.values())
        row_dim, n_rows, u_rows = "window", n, u
    if layout.layers:
        layer = make(LAYER_COORD, (n_layers,), (n_layers,), "int32", 0, (LAYER_COORD,))
        layer[:] = np.asarray(layout.layers, dtype=np.int32)
        for kind in embedding_kinds(layout):
            attrs = {"coordinates": window_coords}
            if kind == "tokens":
                # One shard per unit (writers of different inner chunks of one shard lose
                # data); one inner chunk per layer and window so one window reads alone.
                t = layout.max_tokens
                make(
                    embedding_name(kind),
                    (n_layers, n_rows, t, dim),
                    (1, 1, t, dim),
                    layout.per_token_dtype,
                    float("nan"),
                    (LAYER_COORD, row_dim, "token", "dim"),
                    shards=(n_layers, u_rows, t, dim),
                    attrs=attrs,
                )
            else:
                make(
                    embedding_name(kind),
                    (n_layers, n_rows, dim),
                    (n_layers, u_rows, dim),
                    "float32",
                    float("nan"),
                    (LAYER_COORD, row_dim, "dim"),
                    attrs=attrs,
                )
    unit_arrays = [(WINDOW_UNITS_DONE, "bool", False), (WINDOW_CHECKSUMS, "uint64", 0)]
    if layout.cohort:
        unit_arrays.append((SEQUENCE_COUNTS, "int64", 0))
    for path, dtype, fill in unit_arrays:
        make(path, (layout.n_window_units,), (1,), dtype, fill, ("window_unit",), compressors=None)

    if layout.n_variants:
        nv, uv = layout.n_variants, layout.unit_variants
        for field in VARIANT_FIELDS.values():
            make(
                field.stored,
                (nv,),
                (uv,),
                field.dtype,
                field.fill,
                ("variant",),
                attrs=field_attrs(field),
            )
        variant_coords = " ".join(f.stored for f in VARIANT_FIELDS.values())
        for score in layout.score_names:
            make(
                score_name(score),
                (nv,),
                (uv,),
                "float32",
                float("nan"),
                ("variant",),
                attrs={"coordinates": variant_coords},
            )
        for path, dtype, fill in (
            (VARIANT_UNITS_DONE, "bool", False),
            (VARIANT_CHECKSUMS, "uint64", 0),
        ):
            make(
                path,
                (layout.n_variant_units,),
                (1,),
                dtype,
                fill,
                ("variant_unit",),
                compressors=None,
            )
    if layout.n_bases:
        _init_perbase(make, layout)
        if layout.base_haplotypes:
            _init_perbase_haplotypes(make, layout, haplotype_names)
    group.attrs["initialized"] = True


def _init_cohort_rows(make: Any, layout: StoreLayout, haplotype_names: list[str]) -> None:
    """The per-window, per-(window, haplotype) and per-sequence arrays of a cohort store,
    and the haplotype names (written here: they are known before any unit runs)."""
    n, u, h = layout.n_windows, layout.unit_windows, layout.n_haplotypes
    for field in COHORT_WINDOW_FIELDS.values():
        make(
            field.stored,
            (n,),
            (u,),
            field.dtype,
            field.fill,
            ("window",),
            attrs={"description": field.doc},
        )
    for field in HAPLOTYPE_FIELDS.values():
        make(
            field.stored,
            (n, h),
            (u, h),
            field.dtype,
            field.fill,
            ("window", "haplotype"),
            attrs={"description": field.doc},
        )
    s, c = layout.n_sequences, layout.sequence_chunk_len
    for field in SEQUENCE_FIELDS.values():
        make(
            field.stored,
            (s,),
            (c,),
            field.dtype,
            field.fill,
            ("sequence",),
            attrs={"description": field.doc},
        )
    _init_haplotype_names(make, haplotype_names)


def _init_haplotype_names(make: Any, haplotype_names: list[str]) -> None:
    """The `haplotype` ("SAMPLE:phase") and `sample` coordinates, written at creation."""
    h = len(haplotype_names)
    samples = [name.rsplit(":", 1)[0] for name in haplotype_names]
    for name, values, doc in (
        ("haplotype", haplotype_names, '"SAMPLE:phase" (phase = GT allele order)'),
        ("sample", samples, "the sample of each haplotype"),
    ):
        arr = make(name, (h,), (max(h, 1),), str, "", ("haplotype",), attrs={"description": doc})
        arr[:] = np.asarray(values, dtype=str)


def _init_perbase_haplotypes(make: Any, layout: StoreLayout, haplotype_names: list[str]) -> None:
    """Per-base haplotype values once per distinct window sequence (store/perbase_haps.py):
    values on `hap_row`, per-unit segments and their [segment, haplotype] rows, counts."""
    n_tracks, h = len(layout.track_names), layout.base_haplotypes
    n_rows, c = layout.n_base_units * layout.unit_hap_rows, layout.hap_row_chunk
    make(HAP_BASE_VALUES, (n_rows, n_tracks), (c, n_tracks), layout.base_dtype, float("nan"),
         ("hap_row", TRACK_COORD), attrs={"description": "per-base values of each distinct "
         "haplotype window sequence in reference coordinates (haplotype_perbase gives them "
         "per haplotype)"})  # fmt: skip
    n_seg, s = layout.n_base_units * layout.base_hap_segments, layout.base_hap_segments
    for name, doc in ((HAP_SEGMENT_START, "first base row of a unit's window segment"),
                      (HAP_SEGMENT_END, "end base row of the segment")):  # fmt: skip
        make(name, (n_seg,), (s,), "int64", -1, ("hap_segment",), attrs={"description": doc})
    make(HAP_SEGMENT_ROW, (n_seg, h), (s, h), "int64", -1, ("hap_segment", "haplotype"),
         attrs={"description": "hap_row of the haplotype's value at the segment's first "
         "base; -2: the reference's values, -1: none"})  # fmt: skip
    make(HAP_ROW_COUNTS, (layout.n_base_units,), (1,), "int64", 0, ("base_unit",),
         compressors=None)  # fmt: skip
    _init_haplotype_names(make, haplotype_names)


def _init_perbase(make: Any, layout: StoreLayout) -> None:
    """The per-base part: values [base, track] chunked by unit, tracks, intervals, marks."""
    n_tracks = len(layout.track_names)
    make(
        BASE_VALUES,
        (layout.n_bases, n_tracks),
        (layout.unit_bases, n_tracks),
        layout.base_dtype,
        float("nan"),
        ("base", TRACK_COORD),
        attrs={"description": "per-base values of each track (NaN: no value)"},
    )
    track = make(TRACK_COORD, (n_tracks,), (n_tracks,), str, "", (TRACK_COORD,))
    track[:] = np.asarray(layout.track_names, dtype=str)
    ni = max(layout.n_intervals, 1)
    for field in INTERVAL_FIELDS.values():
        arr = make(field.stored, (layout.n_intervals,), (ni,), field.dtype, field.fill,
                   ("interval",), attrs={"description": field.doc})  # fmt: skip
        del arr
    for path, dtype, fill in ((BASE_UNITS_DONE, "bool", False), (BASE_CHECKSUMS, "uint64", 0)):
        make(path, (layout.n_base_units,), (1,), dtype, fill, ("base_unit",), compressors=None)
