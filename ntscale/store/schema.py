"""Zarr layout of an ntscale store: names, dims, dtypes, fill values, chunks and codecs.

The store root *is* an xarray Dataset (a plain `xr.open_zarr(path)` gives it): one Zarr
array per variable at the root, Zarr `dimension_names` for the dims, and the CF
`coordinates` attribute on the data variables naming the per-row coordinates. The
completion state lives in the `completion/` sub-group and the run lease in `lease/`,
which xarray does not read. Shape glossary as in `ntscale.types`: L layers, W windows,
T tokens per window (CLS included), D embedding dim, N variants (one row per ALT).

Layout (schema version 2)::

    /                          root attrs: schema_version, ntscale_version, created,
                               fingerprint, layout, contigs + the run's own attrs
    layer                      [L] int32 layer numbers (the `layer` dimension coordinate)
    <window field>             [W] one row per window (WINDOW_FIELDS: contig, start, ...)
    embedding_mean             [L, W, D] float32, chunk (L, u, D)
    embedding_cls              [L, W, D] float32               (optional)
    embedding_tokens           [L, W, T, D] float16/32, shard (L, u, T, D) (optional)
    variant_<field>            [N] one row per ALT allele (VARIANT_FIELDS)
    score_<name>               [N] float32
    completion/window_units    [ceil(W / u)] bool, chunk 1 (done mask)
    completion/window_checksums [ceil(W / u)] uint64, chunk 1 (per-unit digest)
    completion/variant_units, completion/variant_checksums   the same per variant unit
    lease/zarr.json            the run lease while a run holds the store (store/lease.py)

The window (variant) axis is chunked by work unit: unit k owns rows
[k * unit, (k + 1) * unit) of every array, i.e. exactly one chunk (one shard for the
per-token arrays), so writers in different processes never touch the same object.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ntscale.errors import StoreError
from ntscale.types import WindowStatus

SCHEMA_VERSION = 3
"""Bumped whenever a reader of the previous version would misread a new store.

1: one group per layer, windows/* and variants/* groups, integer contigs and statuses.
2: xarray-native root Dataset, string contigs/strands/haplotypes/statuses, checksums.
3: cohort stores (a VCF): window x haplotype arrays, each distinct sequence stored once
   on a `sequence` axis, `sequence_index(window, haplotype)` (docs/store.md).
"""

PENDING = int(WindowStatus.PENDING)
"""Status code of a row whose unit has not been written (windows and variants)."""

PENDING_NAME = "PENDING"
"""Stored status of a row whose unit has not been written (the status arrays' fill)."""

REFERENCE_NAME = "reference"
"""Stored `haplotype` of a reference (not haplotype-resolved) window."""


@dataclass(frozen=True)
class RowField:
    """One per-row coordinate: stored name, Zarr dtype (`str` = UTF-8), fill, meaning."""

    stored: str
    dtype: Any
    fill: Any
    doc: str


# THE table of per-row fields (add a field here, and pass it to write_*_unit).
# Key = the name the writer accepts; `stored` = the array (and xarray coordinate) name.
WINDOW_FIELDS: dict[str, RowField] = {
    "contig": RowField("contig", str, "", "contig name (writer also takes contig_index)"),
    "start": RowField("start", "int64", -1, "0-based start on the reference"),
    "end": RowField("end", "int64", -1, "0-based exclusive end on the reference"),
    "strand": RowField("strand", str, ".", '"+" or "-" ("." = row not written)'),
    "haplotype": RowField(
        "haplotype", str, "", '"SAMPLE:phase" or "reference" ("" = row not written)'
    ),
    "n_tokens": RowField("n_tokens", "int32", 0, "tokens fed to the model, CLS included"),
    "frac_n": RowField("frac_n", "float32", float("nan"), "fraction of N bases"),
    "n_variants": RowField("n_variants", "int32", 0, "VCF alleles applied to the window"),
    "status": RowField("status", str, PENDING_NAME, "WindowStatus name"),
    # first 8 bytes of the BLAKE2b-128 digest of the window's token ids (ntscale.tokenizer.
    # distinct): equal ids <=> equal embeddings, across units and stores; 0 = no sequence
    "sequence_id": RowField(
        "sequence_id", "uint64", 0, "digest of the token ids: equal ids = equal embeddings"
    ),
}

# Cohort stores (layout.n_haplotypes > 0): per window row, per (window, haplotype) and
# per distinct sequence (docs/store.md, "Cohort stores").
COHORT_WINDOW_FIELDS: dict[str, RowField] = {
    k: WINDOW_FIELDS[k] for k in ("contig", "start", "end", "strand")
}
HAPLOTYPE_FIELDS: dict[str, RowField] = {
    "status": WINDOW_FIELDS["status"],
    "n_variants": WINDOW_FIELDS["n_variants"],
    "hap_end": RowField(
        "hap_end", "int64", -1, "reference end covered by this haplotype (< end when shrunk)"
    ),
    "sequence_index": RowField(
        "sequence_index", "int64", -1, "slot on the sequence axis (-1: none, a NaN slot)"
    ),
}
SEQUENCE_FIELDS: dict[str, RowField] = {
    k: WINDOW_FIELDS[k] for k in ("n_tokens", "frac_n", "sequence_id")
}
HAPLOTYPE_COORDS = ("haplotype", "sample")  # [H] names, written at creation
SEQUENCE_COUNTS = "completion/sequence_counts"  # distinct sequences of each window unit

VARIANT_FIELDS: dict[str, RowField] = {
    "contig": RowField("variant_contig", str, "", "contig name (or contig_index)"),
    "pos": RowField("variant_pos", "int64", -1, "0-based start of the REF allele"),
    "id": RowField("variant_id", str, "", "VCF ID"),
    "ref": RowField("variant_ref", str, "", "REF allele"),
    "alt": RowField("variant_alt", str, "", "the ALT allele of this row"),
    "status": RowField("variant_status", str, PENDING_NAME, "scoring status name"),
}

EMBEDDING_KINDS = ("mean", "cls", "tokens")
PER_TOKEN_DTYPES = ("float16", "float32")
CODECS = ("zstd", "blosc", "none")

WINDOW_UNITS_DONE = "completion/window_units"
VARIANT_UNITS_DONE = "completion/variant_units"
WINDOW_CHECKSUMS = "completion/window_checksums"
VARIANT_CHECKSUMS = "completion/variant_checksums"
LAYER_COORD = "layer"

# Per-base part (SegmentNT, NTv3 tracks): values [base, track] over the N-free intervals.
BASE_VALUES = "perbase_values"
# Haplotype input (`segment --vcf`), in reference coordinates, once per distinct window
# sequence (docs/store.md): values on the `hap_row` axis, per-unit segments (a window's kept
# rows) on `hap_segment`, and [hap_segment, haplotype] the row of each haplotype's values.
HAP_BASE_VALUES = "hap_perbase_values"  # [hap_row, track]
HAP_SEGMENT_START = "hap_segment_start"  # [hap_segment] first base row (-1: unused)
HAP_SEGMENT_END = "hap_segment_end"  # [hap_segment] end base row (-1: unused)
HAP_SEGMENT_ROW = "hap_segment_row"  # [hap_segment, haplotype] first hap_row, or below
HAP_ROW_REFERENCE = -2  # the haplotype's window sequence is the reference's: perbase_values
HAP_ROW_NONE = -1  # no value (NaN): skipped, or no sequence the model takes
HAP_ROW_COUNTS = "completion/hap_row_counts"  # hap_row rows each base unit used
HAP_ROW_CHUNK = 1 << 14  # hap_row rows per chunk (at most a unit's bases)
HAP_BASE_ARRAYS = (HAP_BASE_VALUES, HAP_SEGMENT_START, HAP_SEGMENT_END, HAP_SEGMENT_ROW,
                   HAP_ROW_COUNTS)  # fmt: skip
TRACK_COORD = "track"
BASE_UNITS_DONE = "completion/base_units"
BASE_CHECKSUMS = "completion/base_checksums"
INTERVAL_FIELDS: dict[str, RowField] = {
    "contig": RowField("interval_contig", str, "", "contig of the N-free interval"),
    "start": RowField("interval_start", "int64", -1, "0-based start on the reference"),
    "end": RowField("interval_end", "int64", -1, "0-based exclusive end"),
    "offset": RowField("interval_offset", "int64", -1, "row of its first base on `base`"),
    "status": RowField("interval_status", str, "", "valued, or why its bases have no values"),
}

# Root attribute keys owned by the store; the run's attrs may not override them.
RESERVED_ATTRS = (
    "schema_version",
    "ntscale_version",
    "created",
    "fingerprint",
    "layout",
    "contigs",
    "initialized",
    "checksums",
    "coordinates",
)


@dataclass(frozen=True, kw_only=True)
class StoreLayout:
    """Shapes, chunking and options of one store; fixed when the store is created.

    Attributes:
        n_windows: W, rows of the window axis (every planned window keeps a row).
        unit_windows: rows per window work unit = chunk (and shard) length of the window axis.
        layers: transformer layers (1-based) whose embeddings are stored.
        embed_dim: D.
        cls: also store the CLS-token embedding per layer.
        per_token: also store every token's embedding per layer ([W, T, D], large).
        max_tokens: T of the per-token arrays (the padded token length, CLS included).
        per_token_dtype: "float16" (default, half the bytes) or "float32".
        n_variants: N, rows of the variant axis (0: no variant part).
        unit_variants: rows per variant work unit.
        score_names: one float32 [N] array `score_<name>` per name.
        codec: "zstd" (default), "blosc" (zstd inside blosc with byte shuffle) or "none".
        n_haplotypes: H > 0 makes a cohort store (window x haplotype arrays, a sequence
            axis); 0 = one row per window (reference windows).
        sequence_chunk: c, sequence slots per chunk of the sequence axis (cohort stores).
        base_haplotypes: H > 0: a per-base store with haplotype values (`segment --vcf`).
        base_hap_segments: segments (windows) reserved per base unit on `hap_segment`
            (the most windows any unit runs); required with base_haplotypes.
    """

    n_windows: int
    unit_windows: int
    layers: tuple[int, ...] = ()
    embed_dim: int = 0
    cls: bool = False
    per_token: bool = False
    max_tokens: int = 0
    per_token_dtype: str = "float16"
    n_variants: int = 0
    unit_variants: int = 1024
    score_names: tuple[str, ...] = ()
    codec: str = "zstd"
    n_haplotypes: int = 0
    sequence_chunk: int = 128
    n_bases: int = 0
    unit_bases: int = 1
    track_names: tuple[str, ...] = ()
    base_dtype: str = "float16"
    n_intervals: int = 0
    base_haplotypes: int = 0
    base_hap_segments: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
        object.__setattr__(self, "score_names", tuple(str(x) for x in self.score_names))
        object.__setattr__(self, "track_names", tuple(str(x) for x in self.track_names))
        problems = _perbase_problems(self)
        if self.n_windows < 0:
            problems.append(f"n_windows={self.n_windows!r} must be >= 0")
        if self.unit_windows < 1:
            problems.append(f"unit_windows={self.unit_windows!r} must be >= 1")
        if self.n_variants < 0:
            problems.append(f"n_variants={self.n_variants!r} must be >= 0")
        if self.unit_variants < 1:
            problems.append(f"unit_variants={self.unit_variants!r} must be >= 1")
        if len(set(self.layers)) != len(self.layers) or any(x < 1 for x in self.layers):
            problems.append(f"layers={self.layers!r} must be distinct layer numbers >= 1")
        if self.layers and self.embed_dim < 1:
            problems.append(f"embed_dim={self.embed_dim!r} must be >= 1 when layers are stored")
        if self.per_token and self.max_tokens < 1:
            problems.append(f"max_tokens={self.max_tokens!r} must be >= 1 with per_token=True")
        if self.per_token_dtype not in PER_TOKEN_DTYPES:
            hint = " (bfloat16 is not a Zarr data type)" if "bf" in self.per_token_dtype else ""
            problems.append(
                f"per_token_dtype={self.per_token_dtype!r} must be one of {PER_TOKEN_DTYPES}{hint}"
            )
        if len(set(self.score_names)) != len(self.score_names) or any(
            not n or "/" in n for n in self.score_names
        ):
            problems.append(f"score_names={self.score_names!r} must be distinct names without '/'")
        if self.n_haplotypes < 0 or self.sequence_chunk < 1:
            problems.append(
                f"n_haplotypes={self.n_haplotypes!r} must be >= 0 and "
                f"sequence_chunk={self.sequence_chunk!r} >= 1"
            )
        if self.codec not in CODECS:
            problems.append(f"codec={self.codec!r} must be one of {CODECS}")
        if problems:
            raise StoreError("invalid store layout: " + "; ".join(problems))

    @property
    def has_windows(self) -> bool:
        """An embedding store (window arrays exist, even with 0 windows); False: scores only."""
        return self.n_windows > 0 or bool(self.layers)

    @property
    def cohort(self) -> bool:
        """Window x haplotype layout with a sequence axis (docs/store.md)."""
        return self.n_haplotypes > 0

    @property
    def sequence_chunk_len(self) -> int:
        """c: slots per chunk of the sequence axis (at most one unit's rows)."""
        return max(1, min(self.sequence_chunk, self.unit_windows * self.n_haplotypes))

    @property
    def unit_sequences(self) -> int:
        """C: sequence slots reserved per window unit (its rows, rounded up to chunks)."""
        c = self.sequence_chunk_len
        return math.ceil(self.unit_windows * self.n_haplotypes / c) * c

    @property
    def n_sequences(self) -> int:
        """S: U x C slots plus the last, never written one (sequence_index -1 points at it)."""
        return self.n_window_units * self.unit_sequences + 1 if self.cohort else 0

    def sequence_slots(self, unit: int, n_distinct: int) -> tuple[int, int]:
        """Slots [lo, hi) unit `unit` writes for n_distinct sequences (whole chunks)."""
        _check_unit(unit, self.n_window_units, "window")
        c, cap = self.sequence_chunk_len, self.unit_sequences
        if not 0 <= n_distinct <= cap:
            raise StoreError(
                f"window unit {unit}: {n_distinct} distinct sequences, the unit has {cap} slots"
            )
        lo = unit * cap
        return lo, lo + math.ceil(n_distinct / c) * c

    @property
    def n_window_units(self) -> int:
        return math.ceil(self.n_windows / self.unit_windows)

    @property
    def hap_row_chunk(self) -> int:
        """Rows per chunk of the `hap_row` axis (per-base haplotype values)."""
        return max(1, min(HAP_ROW_CHUNK, self.unit_bases))

    @property
    def unit_hap_rows(self) -> int:
        """hap_row rows reserved per base unit: its bases x H (every haplotype distinct),
        rounded up to whole chunks, so units write disjoint chunks."""
        c = self.hap_row_chunk
        return math.ceil(self.unit_bases * self.base_haplotypes / c) * c

    def hap_rows(self, unit: int, n_rows: int) -> tuple[int, int]:
        """hap_row rows [lo, hi) unit `unit` writes for n_rows values (whole chunks)."""
        _check_unit(unit, self.n_base_units, "base")
        c, cap = self.hap_row_chunk, self.unit_hap_rows
        if not 0 <= n_rows <= cap:
            raise StoreError(f"base unit {unit}: {n_rows} haplotype rows, the unit has {cap}")
        lo = unit * cap
        return lo, lo + math.ceil(n_rows / c) * c

    def hap_segments(self, unit: int) -> tuple[int, int]:
        """hap_segment rows [lo, hi) reserved for base unit `unit`."""
        _check_unit(unit, self.n_base_units, "base")
        return unit * self.base_hap_segments, (unit + 1) * self.base_hap_segments

    @property
    def n_variant_units(self) -> int:
        return math.ceil(self.n_variants / self.unit_variants)

    @property
    def n_base_units(self) -> int:
        return math.ceil(self.n_bases / self.unit_bases)

    def base_rows(self, unit: int) -> tuple[int, int]:
        """Rows [lo, hi) of the base axis owned by per-base unit `unit`."""
        _check_unit(unit, self.n_base_units, "base")
        lo = unit * self.unit_bases
        return lo, min(lo + self.unit_bases, self.n_bases)

    def rows(self, part: str, unit: int) -> tuple[int, int]:
        """Rows [lo, hi) of unit `unit` of `part` ("windows", "variants" or "bases")."""
        if part == "windows":
            return self.window_rows(unit)
        if part == "variants":
            return self.variant_rows(unit)
        return self.base_rows(unit)

    def n_units(self, part: str) -> int:
        """Work units of `part` ("windows", "variants" or "bases")."""
        return {
            "windows": self.n_window_units,
            "variants": self.n_variant_units,
            "bases": self.n_base_units,
        }[part]

    def window_rows(self, unit: int) -> tuple[int, int]:
        """Rows [lo, hi) of window unit `unit` (the last unit may be short)."""
        _check_unit(unit, self.n_window_units, "window")
        lo = unit * self.unit_windows
        return lo, min(lo + self.unit_windows, self.n_windows)

    def variant_rows(self, unit: int) -> tuple[int, int]:
        """Rows [lo, hi) of variant unit `unit` (the last unit may be short)."""
        _check_unit(unit, self.n_variant_units, "variant")
        lo = unit * self.unit_variants
        return lo, min(lo + self.unit_variants, self.n_variants)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form stored in the root attrs (tuples become lists).

        The per-base fields appear only in per-base stores, so the layout (part of the
        resume identity) of every other store reads as it did before they existed.
        """
        data = dataclasses.asdict(self)
        if not self.n_bases:
            for name in PERBASE_LAYOUT_FIELDS:
                data.pop(name)
        if not self.base_haplotypes:  # reference per-base stores read as before it existed
            data.pop("base_haplotypes")
            data.pop("base_hap_segments")
        return to_plain(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreLayout:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StoreError(f"store layout has unknown fields {unknown}; upgrade ntscale")
        return cls(**data)


PERBASE_LAYOUT_FIELDS = ("n_bases", "unit_bases", "track_names", "base_dtype", "n_intervals")
PERBASE_DTYPES = ("float16", "float32")


def _perbase_problems(layout: StoreLayout) -> list[str]:
    """What is wrong with the per-base fields of a layout (empty list: nothing)."""
    problems = []
    if layout.n_bases < 0 or layout.unit_bases < 1 or layout.n_intervals < 0:
        problems.append(
            f"n_bases={layout.n_bases!r}, n_intervals={layout.n_intervals!r} must be >= 0 "
            f"and unit_bases={layout.unit_bases!r} >= 1"
        )
    if layout.base_dtype not in PERBASE_DTYPES:
        problems.append(f"base_dtype={layout.base_dtype!r} must be one of {PERBASE_DTYPES}")
    if layout.n_bases and not layout.track_names:
        problems.append("a per-base store needs at least one track name")
    if len(set(layout.track_names)) != len(layout.track_names):
        problems.append(f"track_names={layout.track_names!r} must be distinct")
    if layout.base_haplotypes < 0 or (layout.base_haplotypes and layout.n_haplotypes):
        problems.append(
            f"base_haplotypes={layout.base_haplotypes!r} must be >= 0 and not set together "
            "with n_haplotypes (a per-base store's haplotypes are on its base arrays)"
        )
    if layout.base_haplotypes > 0 and layout.base_hap_segments < 1:
        problems.append(
            f"base_haplotypes={layout.base_haplotypes!r} without base_hap_segments: a store "
            "of the dense per-haplotype layout (hap_perbase_values [base, haplotype, track], "
            "ntscale before per-window deduplication); run `ntscale segment --vcf` again into "
            "a new --out, or read it with the ntscale version that wrote it"
        )
    return problems


def _check_unit(unit: int, n_units: int, kind: str) -> None:
    if not 0 <= int(unit) < n_units:
        raise StoreError(f"{kind} unit {unit!r} is out of range: the store has {n_units} units")


def embedding_name(kind: str) -> str:
    """Array (and xarray variable) name of one embedding kind ("mean", "cls", "tokens")."""
    return f"embedding_{kind}"


def score_name(name: str) -> str:
    """Array (and xarray variable) name of one score."""
    return f"score_{name}"


def embedding_kinds(layout: StoreLayout) -> tuple[str, ...]:
    """The embedding kinds this layout stores, in EMBEDDING_KINDS order."""
    flags = {"mean": True, "cls": layout.cls, "tokens": layout.per_token}
    return tuple(k for k in EMBEDDING_KINDS if flags[k])


def to_plain(value: Any) -> Any:
    """JSON-normalise a value (tuples -> lists, numpy scalars -> Python) for comparisons."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys ("layout.n_windows") for readable diffs."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


_ABSENT = object()


def diff_fingerprints(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per key whose value differs between a store and this run, sorted by key."""
    a, b = flatten(to_plain(stored)), flatten(to_plain(new))
    lines = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if va != vb:
            lines.append(f"{key}: {_describe_difference(va, vb)}")
    return lines


def _describe_difference(va: Any, vb: Any, max_chars: int = 160) -> str:
    sa = "<absent>" if va is _ABSENT else repr(va)
    sb = "<absent>" if vb is _ABSENT else repr(vb)
    if len(sa) + len(sb) <= max_chars or not (isinstance(va, list) and isinstance(vb, list)):
        return f"store has {sa}, this run has {sb}"
    # Long lists (a genome's contigs): name the first differing entry, not the whole list.
    first = next(
        (i for i, (x, y) in enumerate(zip(va, vb, strict=False)) if x != y), min(len(va), len(vb))
    )
    xa = repr(va[first]) if first < len(va) else "<absent>"
    xb = repr(vb[first]) if first < len(vb) else "<absent>"
    return (
        f"store has {len(va)} entries, this run has {len(vb)}; first difference at "
        f"entry {first}: store has {xa}, this run has {xb}"
    )


def check_schema_version(attrs: dict[str, Any], url: str) -> None:
    """Refuse stores that are not ntscale stores or come from a newer schema."""
    version = attrs.get("schema_version")
    if version is None:
        raise StoreError(
            f"{url!r} is a Zarr group but not an ntscale store (no 'schema_version' root "
            "attribute); choose another --out path"
        )
    if not isinstance(version, int) or version < 1:
        raise StoreError(f"{url!r} has an invalid schema_version {version!r}")
    if version < SCHEMA_VERSION:
        raise StoreError(
            f"{url!r} was written with store schema version {version} (an older ntscale); "
            f"this ntscale reads schema version {SCHEMA_VERSION}: re-run the job into a new "
            "--out path, or read it with the ntscale version that wrote it"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{url!r} was written with store schema version {version}, newer than this "
            f"ntscale reads (up to {SCHEMA_VERSION}); upgrade ntscale to read it"
        )
