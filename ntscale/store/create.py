"""Creating a store (the driver), or reopening one made by the same run (resume).

Metadata first: every array is created before any unit is dispatched, so that unit
writers in other processes only ever write chunks. A store made by another run (other
fingerprint, layout or contigs) is never mixed with.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import zarr

import ntscale
from ntscale.errors import StoreError
from ntscale.store import backend
from ntscale.store.schema import (
    RESERVED_ATTRS,
    SCHEMA_VERSION,
    VARIANT_FIELDS,
    VARIANT_UNITS_DONE,
    WINDOW_FIELDS,
    WINDOW_UNITS_DONE,
    StoreLayout,
    check_schema_version,
    diff_fingerprints,
    embedding_kinds,
    embedding_path,
    score_path,
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

    Returns:
        A writer on the store.

    Raises:
        StoreError: the store was made by another run (names every differing key), is of
            an unknown schema version, or the path cannot be written.
    """
    url = str(url)
    contig_list = [[str(name), int(length)] for name, length in contigs]
    clash = sorted(set(attrs) & set(RESERVED_ATTRS))
    if clash:
        raise StoreError(f"run attributes {clash} clash with store-owned root attributes")
    identity = _run_identity(fingerprint, layout, contig_list)

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
                url, lambda: _init_arrays(backend.open_existing(url, "r+"), layout, contig_list)
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
    }

    def create() -> None:
        group = backend.open_group(url, "w-")
        group.attrs.update(root_attrs)
        _init_arrays(group, layout, contig_list)

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


def _init_arrays(group: zarr.Group, layout: StoreLayout, contigs: list[list[Any]]) -> None:
    """Create every array (metadata only: unwritten rows read as fill values)."""
    comp = backend.compressors(layout.codec)
    n, u, dim = layout.n_windows, layout.unit_windows, layout.embed_dim

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
            overwrite=True,
            **kwargs,
        )

    for name, (dtype, fill) in WINDOW_FIELDS.items():
        arr = make(f"windows/{name}", (n,), (u,), dtype, fill, ("window",))
        if name == "contig_index":
            arr.attrs["contig_names"] = [c[0] for c in contigs]
    for layer in layout.layers:
        for kind in embedding_kinds(layout):
            if kind == "tokens":
                # One shard per unit (writers of different inner chunks of one shard lose
                # data); one inner chunk per window so one window reads on its own.
                t = layout.max_tokens
                make(
                    embedding_path(layer, kind),
                    (n, t, dim),
                    (1, t, dim),
                    layout.per_token_dtype,
                    float("nan"),
                    ("window", "token", "dim"),
                    shards=(u, t, dim),
                )
            else:
                make(
                    embedding_path(layer, kind),
                    (n, dim),
                    (u, dim),
                    "float32",
                    float("nan"),
                    ("window", "dim"),
                )
    make(
        WINDOW_UNITS_DONE,
        (layout.n_window_units,),
        (1,),
        "bool",
        False,
        ("window_unit",),
        compressors=None,
    )

    if layout.n_variants:
        nv, uv = layout.n_variants, layout.unit_variants
        for name, (dtype, fill) in VARIANT_FIELDS.items():
            arr = make(f"variants/{name}", (nv,), (uv,), dtype, fill, ("variant",))
            if name == "contig_index":
                arr.attrs["contig_names"] = [c[0] for c in contigs]
        for score in layout.score_names:
            make(score_path(score), (nv,), (uv,), "float32", float("nan"), ("variant",))
        make(
            VARIANT_UNITS_DONE,
            (layout.n_variant_units,),
            (1,),
            "bool",
            False,
            ("variant_unit",),
            compressors=None,
        )
    group.attrs["initialized"] = True
