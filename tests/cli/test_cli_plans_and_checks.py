"""The dry run of `score --tracks` (planned, nothing run or written), `--json` only with
`--dry-run`, haplotype policies checked with the other settings, and `verify` of a score
store.

Tile numbers are worked out by hand: the bundled contig 20 is 2,000,000 bp, 600 bp tiles
start every 300 bp (tile k starts at 300k, centre 300k + 300), and a base reads the tile
whose centre is nearest, ties to the left. REGION's first base 1,000,000 lies between
the centres of tiles 3332 (999,900) and 3333 (1,000,200): nearest 3332; its last base
1,002,399 between 3339 (1,002,000) and 3340 (1,002,300): nearest 3340 (99 bp away).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FASTA, REGION, TINY_MODEL, invoke

TILE_BP, STRIDE_BP, CONTIG_BP = 600, 300, 2_000_000


def nearest_tile_by_distance(base: int) -> int:
    """Brute force: the tile index whose centre is nearest (ties: the lower index)."""
    n_tiles = (CONTIG_BP - TILE_BP) // STRIDE_BP + 1
    centres = np.arange(n_tiles) * STRIDE_BP + TILE_BP // 2
    return int(np.argmin(np.abs(centres - base)))  # argmin takes the first of equal distances


def tracks(tmp_path: Path, bed: Path, *extra: str | Path) -> list[str | Path]:
    return ["score", "--fasta", FASTA, "--model", TINY_MODEL, "--out", tmp_path / "t.zarr",
            "--regions", bed, "--tracks", tmp_path / "t", "--window", str(TILE_BP),
            "--dtype", "fp32", *extra]  # fmt: skip


def test_brute_force_agrees_with_the_hand_worked_tiles() -> None:
    assert nearest_tile_by_distance(REGION[1]) == 3332
    assert nearest_tile_by_distance(REGION[2] - 1) == 3340
    assert nearest_tile_by_distance(1_000_050) == 3332  # 150 bp from both centres: left


@pytest.mark.parametrize(
    ("unit_bases", "strands", "units", "tiles"),
    [
        ("65536", "forward", 1, 9),  # tiles 3332..3340
        # two units of 1,200 bases: 3332..3336 and 3336..3340, tile 3336 passed in both
        ("1200", "both", 2, 10),
    ],
)
def test_tracks_dry_run_plans_the_passes_and_writes_nothing(
    tmp_path: Path, region_bed: Path, unit_bases: str, strands: str, units: int, tiles: int
) -> None:
    bases = np.arange(*REGION[1:])
    per_unit = np.array_split(bases, units)
    assert tiles == sum(len({nearest_tile_by_distance(int(b)) for b in u}) for u in per_unit)
    r = invoke(*tracks(tmp_path, region_bed, "--unit-bases", unit_bases, "--strands", strands),
               "--dry-run", "--json")  # fmt: skip
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    n_strands = 2 if strands == "both" else 1
    assert plan["bases"] == REGION[2] - REGION[1] and plan["regions"] == 1
    assert plan["units"] == units and plan["window_bp"] == TILE_BP
    assert plan["tiles"] == tiles and plan["forward_passes"] == tiles * n_strands
    assert plan["tracks"][0] == f"{tmp_path / 't'}.llr_min.bw"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store, no track file


def test_tracks_dry_run_text(tmp_path: Path, region_bed: Path) -> None:
    r = invoke(*tracks(tmp_path, region_bed), "--dry-run")
    assert r.code == 0, r.err
    assert r.out.startswith("plan (dry run, nothing written): model nt-v2-tiny, per-base tracks")
    assert "forward passes: 9 (9 tile(s) per strand)" in r.out
    assert not (tmp_path / "t.zarr").exists()


def test_unphased_policy_is_checked_before_anything_runs(tmp_path: Path, region_bed) -> None:
    # refused with the other settings, even without --vcf and in a dry run
    r = invoke("embed", "--fasta", FASTA, "--model", TINY_MODEL, "--out", tmp_path / "o.zarr",
               "--regions", region_bed, "--unphased", "maybe", "--dry-run")  # fmt: skip
    assert r.code == 2
    assert r.error_line().startswith(
        "error: unphased must be one of error, ref, alt, skip; got 'maybe'"
    )


def test_ref_mismatch_policy_from_yaml_is_checked(tmp_path: Path, region_bed) -> None:
    cfg = tmp_path / "embed.yaml"
    cfg.write_text(f"fasta: {FASTA}\nmodel: {TINY_MODEL}\nout: {tmp_path / 'o.zarr'}\n"
                   f"regions: {region_bed}\nref_mismatch: ignore\n")  # fmt: skip
    r = invoke("embed", "--config", cfg, "--dry-run")
    assert r.code == 2
    line = r.error_line()
    assert line.startswith("error: ref_mismatch must be one of error, skip; got 'ignore'")
    assert str(cfg) in line


def test_verify_of_a_score_store_reports_only_its_variants(score_store: Path) -> None:
    r = invoke("verify", score_store)
    assert r.code == 0, r.err
    assert "windows:" not in r.out
    assert r.out.splitlines()[0].startswith("variants: 1 of 1 units intact, 0 damaged, 0 not done")
