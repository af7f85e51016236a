"""Seeded unit data and a writer function importable by spawned worker processes."""

from __future__ import annotations

import numpy as np

import ntscale.store as st
from ntscale.types import REFERENCE_HAPLOTYPE, WindowStatus

CONTIGS = [("chr1", 5_000), ("chr2", 3_000), ("chrM", 100)]
FINGERPRINT = {
    "model_name": "nt-test-tiny",
    "checkpoint_digest": "sha256:abc123",
    "window_bp": 60,
    "stride_bp": 50,
    "strands": ["+", "-"],
    "layers": [1, 3],
    "fasta": "toy.fa",
    "fai_digest": "sha256:fai0",
    "vcf": None,
    "samples": [],
}
ATTRS = {
    "model": {"name": "nt-test-tiny", "embed_dim": 6},
    "command_line": "ntscale embed",
    "haplotype_names": ["S1:0", "S1:1", "S2:0", "S2:1"],
    "variant_status_names": {"0": "OK", "1": "SKIPPED_SYMBOLIC", "2": "SKIPPED_EDGE"},
}

LAYOUT = st.StoreLayout(
    n_windows=23,
    unit_windows=5,
    layers=(1, 3),
    embed_dim=6,
    cls=True,
    per_token=True,
    max_tokens=4,
    n_variants=7,
    unit_variants=3,
    score_names=("l2_layer3", "llr"),
)


def unit_windows(layout: st.StoreLayout, unit: int, seed: int = 0) -> dict[str, np.ndarray]:
    lo, hi = layout.window_rows(unit)
    rng = np.random.default_rng([seed, unit])
    n = hi - lo
    return {
        "contig_index": rng.integers(0, len(CONTIGS), n).astype(np.int32),
        "start": np.arange(lo, hi, dtype=np.int64) * 50,
        "end": np.arange(lo, hi, dtype=np.int64) * 50 + 60,
        "strand": (np.arange(lo, hi) % 2).astype(np.int8),
        "haplotype": rng.integers(REFERENCE_HAPLOTYPE, 4, n).astype(np.int32),
        "n_tokens": rng.integers(1, layout.max_tokens + 1, n).astype(np.int32),
        "frac_n": rng.random(n).astype(np.float32),
        "n_variants": rng.integers(0, 9, n).astype(np.int32),
        "status": rng.choice(
            [int(WindowStatus.OK), int(WindowStatus.SKIPPED_ALL_N)], n, p=[0.8, 0.2]
        ).astype(np.uint8),
        "sequence_id": rng.integers(1, 2**64 - 1, n, dtype=np.uint64, endpoint=True),
    }


def unit_embeddings(layout: st.StoreLayout, unit: int, seed: int = 0) -> dict[str, np.ndarray]:
    """{kind: [L, n, ...]} float64, layers stacked first in layout order (the writer's form)."""
    lo, hi = layout.window_rows(unit)
    rng = np.random.default_rng([seed, unit, 1])
    n, d = hi - lo, layout.embed_dim
    per_layer = []
    for _ in layout.layers:  # drawn layer by layer, kind by kind: the values stay pinned
        kinds = {"mean": rng.standard_normal((n, d))}
        if layout.cls:
            kinds["cls"] = rng.standard_normal((n, d))
        if layout.per_token:
            kinds["tokens"] = rng.standard_normal((n, layout.max_tokens, d))
        per_layer.append(kinds)
    if not per_layer:
        return {}
    return {kind: np.stack([x[kind] for x in per_layer]) for kind in per_layer[0]}


def unit_variants(layout: st.StoreLayout, unit: int, seed: int = 0) -> dict[str, np.ndarray]:
    lo, hi = layout.variant_rows(unit)
    rng = np.random.default_rng([seed, unit, 2])
    n = hi - lo
    bases = np.array(list("ACGT"))
    return {
        "contig": np.array([CONTIGS[i][0] for i in rng.integers(0, len(CONTIGS), n)]),
        "pos": np.arange(lo, hi, dtype=np.int64) * 7,
        "id": np.array([f"rs{i}" for i in range(lo, hi)]),
        "ref": bases[rng.integers(0, 4, n)],
        "alt": np.array(["".join(bases[rng.integers(0, 4, k)]) for k in rng.integers(1, 4, n)]),
        "status": rng.integers(0, 3, n).astype(np.uint8),
    }


def unit_scores(layout: st.StoreLayout, unit: int, seed: int = 0) -> dict[str, np.ndarray]:
    lo, hi = layout.variant_rows(unit)
    rng = np.random.default_rng([seed, unit, 3])
    return {name: rng.standard_normal(hi - lo) for name in layout.score_names}


def write_window_units(writer: st.StoreWriter, units: list[int], *, mark: bool = True) -> int:
    """Write (and mark done) window units; runs in a worker process when spawned."""
    written = 0
    for unit in units:
        written += writer.write_window_unit(
            unit,
            windows=unit_windows(writer.layout, unit),
            embeddings=unit_embeddings(writer.layout, unit),
        )
        if mark:
            writer.mark_done(unit)
    return written


def write_variant_units(writer: st.StoreWriter, units: list[int]) -> int:
    written = 0
    for unit in units:
        written += writer.write_variant_unit(
            unit,
            variants=unit_variants(writer.layout, unit),
            scores=unit_scores(writer.layout, unit),
        )
        writer.mark_done(unit, part="variants")
    return written


def write_units_by_url(url: str, window_units: list[int], variant_units: list[int]) -> int:
    """Worker entry point that reopens the store by URL (the other way a worker gets one)."""
    writer = st.open_writer(url)
    return write_window_units(writer, window_units) + write_variant_units(writer, variant_units)
