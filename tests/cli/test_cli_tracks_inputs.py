"""`ntscale score --tracks`: an empty BED is refused before any store is made, and a
folder given as the prefix gets the tracks inside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import FASTA, TINY_MODEL, invoke

W = 1998


def _tracks_args(out: Path, bed: Path, prefix: str) -> list[str]:
    return [
        "score", "--fasta", str(FASTA), "--model", str(TINY_MODEL), "--out", str(out),
        "--tracks", prefix, "--regions", str(bed), "--window", str(W), "--dtype", "fp32",
        "--strands", "forward", "--no-progress",
    ]  # fmt: skip


@pytest.mark.parametrize("content", ["", "# only a comment\ntrack name=x\n"])
def test_an_empty_bed_is_refused_and_makes_no_store(tmp_path: Path, content: str) -> None:
    bed = tmp_path / "empty.bed"
    bed.write_text(content)
    out = tmp_path / "t.zarr"
    r = invoke(*_tracks_args(out, bed, str(tmp_path / "tr")))
    assert r.code == 2, r.err
    assert r.error_line() == (
        f"error: {bed}: the BED has no regions (empty, or only comments and headers); "
        "per-base tracks need at least one region"
    )
    assert not out.exists()


@pytest.mark.slow
def test_a_folder_prefix_writes_the_tracks_inside_it(tmp_path: Path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000300\n")
    r = invoke(*_tracks_args(tmp_path / "t.zarr", bed, f"{tmp_path / 'out2'}/"))
    assert r.code == 0, r.err
    inside = sorted(p.name for p in (tmp_path / "out2").iterdir())
    assert inside and all(n.startswith("tracks.") for n in inside), inside
    assert {Path(n).suffix for n in inside} == {".bw"}  # bedGraph only with --bedgraph
    assert not list(tmp_path.glob("out2.*"))  # nothing beside the folder


def test_track_prefix_rules(tmp_path: Path) -> None:
    from ntscale.store.tracks import track_prefix

    (tmp_path / "d").mkdir()
    assert track_prefix(tmp_path / "d") == tmp_path / "d" / "tracks"  # an existing folder
    assert track_prefix(f"{tmp_path}/new/") == tmp_path / "new" / "tracks"
    assert track_prefix(tmp_path / "run1") == tmp_path / "run1"  # a plain prefix
