"""Gap-aware per-base tracks (issue 23, point 1): every real base of the regions valued.

The bundled chr20 slice (its leading 60 kb gap) with one N and one IUPAC letter written
into real sequence: a region across the gap's end and both letters gets a value at every
A/C/G/T base, status `allele_not_acgt` at the three kinds of non-ACGT base, and a
coverage record of 100% in the run summary, the store and `ntscale info`. Values next to
the N are recomputed from the model's own outputs on the N-free tile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest

import ntscale.store as nstore
from ntscale.analysis.info import format_info, store_info
from ntscale.config import TrackConfig, build_config
from ntscale.genome.perbase_tiling import plan_perbase_tiles
from ntscale.runner.local import run_local
from ntscale.runner.track_job import TrackJob, plan_track_tiles, real_bases, track_stride_bp

W = 600  # 100 six-mers: small tiles, so the region spans many
N_AT, IUPAC_AT = 64_000, 65_500  # 0-based: an N and an R written into real sequence
REGION = ("20", 59_000, 67_000)  # 1 kb of the leading gap, then 7 kb of real sequence


@pytest.fixture(scope="module")
def gapped_fasta(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """The slice's first 100 kb of contig 20 with an N and an R inserted (plain FASTA)."""
    src = repo_root / "examples" / "data" / "chr20_2mb.fa.gz"
    with pysam.FastaFile(str(src)) as fa:
        seq = list(fa.fetch("20", 0, 100_000))
    assert seq[N_AT].upper() in "ACGT" and seq[IUPAC_AT].upper() in "ACGT"
    seq[N_AT], seq[IUPAC_AT] = "N", "R"
    path = tmp_path_factory.mktemp("gapped") / "chr20_gapped.fa"
    text = "".join(seq)
    path.write_text(">20\n" + "\n".join(text[i : i + 60] for i in range(0, len(text), 60)) + "\n")
    pysam.faidx(str(path))
    return path


@pytest.fixture(scope="module")
def tiny_model(repo_root: Path):
    from ntscale.model import load

    return load(repo_root / "examples" / "checkpoints" / "nt-v2-tiny")


def _job(fasta: Path, tmp: Path, repo_root: Path, strands: str = "forward") -> TrackJob:
    bed = tmp / "r.bed"
    bed.write_text("\t".join(map(str, REGION)) + "\n")
    cfg = build_config(
        TrackConfig,
        {
            "fasta": str(fasta),
            "model": str(repo_root / "examples" / "checkpoints" / "nt-v2-tiny"),
            "out": str(tmp / "tracks.zarr"),
            "regions": str(bed),
            "tracks": str(tmp / "tr" / "t"),
            "window_bp": W,
            "strands": strands,
            "unit_bases": 3000,
            "execution": {"dtype": "fp32", "progress": False},
        },
        source="test",
    )
    return TrackJob.plan_from_config(cfg)


def test_tiles_hold_no_n_and_reach_every_real_base(gapped_fasta: Path, tmp_path: Path,
                                                   repo_root: Path) -> None:  # fmt: skip
    job = _job(gapped_fasta, tmp_path, repo_root)
    with pysam.FastaFile(str(gapped_fasta)) as fa:
        for t in job.tiles.tiles():
            seq = fa.fetch(t.contig, t.start, t.end).upper()
            assert set(seq) <= set("ACGT"), t  # N-free: fits the budget, no IUPAC token
        region = fa.fetch(*REGION).upper()
    real = np.array([c in "ACGT" for c in region])
    which = job.tiles.tile_of("20", np.arange(REGION[1], REGION[2]))
    np.testing.assert_array_equal(which >= 0, real)
    assert real_bases(job.regions, job.tiles.intervals) == int(real.sum())
    # the bases right after the leading gap and around the N read a tile starting there
    first = job.tiles.tile(int(which[60_000 - REGION[1]]))
    assert first.start == 60_000 and first.keep_start == 60_000
    after_n = job.tiles.tile(int(which[N_AT + 1 - REGION[1]]))
    assert after_n.start == N_AT + 1


def test_plan_track_tiles_keeps_only_tiles_that_meet_the_regions() -> None:
    runs = {"c": np.array([[100, 110]], np.int64)}
    regions = (("c", 2_000, 2_100),)
    tiles = plan_track_tiles(regions, {"c": 10_000}, runs, 600, 101)
    # the full plan over the contig's N-free pieces: tiles reach beyond the region
    full = plan_perbase_tiles(
        [("c", 0, 100), ("c", 110, 10_000)], window_bp=600, stride_bp=track_stride_bp(600)
    )
    meets = (full.keep_start < 2_100) & (full.keep_end > 2_000)
    np.testing.assert_array_equal(tiles.start, full.start[meets])
    np.testing.assert_array_equal(tiles.keep_end, full.keep_end[meets])
    assert 1 <= len(tiles) < len(full) and (tiles.end - tiles.start == 600).all()
    assert tiles.keep_start[0] <= 2_000 and tiles.keep_end[-1] >= 2_100
    assert track_stride_bp(1998) == 996 and track_stride_bp(7) == 6


@pytest.mark.slow
def test_every_real_base_is_valued_and_coverage_is_recorded(
    gapped_fasta: Path, tmp_path: Path, repo_root: Path, tiny_model
) -> None:
    job = _job(gapped_fasta, tmp_path, repo_root)
    summary = run_local(job, progress=False)
    ds = nstore.open(job.store_url)
    with pysam.FastaFile(str(gapped_fasta)) as fa:
        region = fa.fetch(*REGION).upper()
        real = np.array([c in "ACGT" for c in region])
        status = ds["variant_status"].values.astype(str)
        logp = ds["score_logp_wt"].values
        assert np.isfinite(logp[real]).all()  # 100% of real bases valued
        assert (status[real] == "ok").all()
        assert not np.isfinite(logp[~real]).any()
        assert set(status[~real]) == {"allele_not_acgt"}
        assert {region[i] for i in np.flatnonzero(~real)} == {"N", "R"}
        np.testing.assert_array_equal(ds["variant_ref"].values.astype(str), list(region))

        # next to the N: the store's logp_wt is the model's on the base's N-free tile
        for p in (N_AT - 1, N_AT + 1, IUPAC_AT + 1, 60_000):
            t = job.tiles.tile(int(job.tiles.tile_of("20", np.array([p]))[0]))
            seq = fa.fetch("20", t.start, t.end).upper()
            lp = _logp_wt(tiny_model, seq, p - t.start)
            np.testing.assert_allclose(logp[p - REGION[1]], lp, rtol=1e-4, atol=1e-5)

    n_real = int(real.sum())
    for cov in (summary["coverage"], ds.attrs["coverage"]):
        assert cov["fraction_covered"] == 1.0
        assert cov["real_bases_covered"] == cov["real_bases_total"] == n_real
        assert cov["n_bases_requested"] == REGION[2] - REGION[1] - n_real
        assert cov["uncovered_bp"] == 0
    text = format_info(store_info(job.store_url))
    assert "coverage: 100.000% of real bases with track values" in text


def _logp_wt(model, seq: str, offset: int) -> float:
    tok = model.tokenizer
    logits = model.apply(tok.encode_batch([seq]), logits=True)["logits"][0].astype(np.float64)
    m = logits.max(axis=-1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
    starts, lengths = tok.token_spans(seq)
    i = int(np.searchsorted(starts, offset, side="right") - 1)
    s = int(starts[i])
    return float(logp[i + 1, tok.token_to_id(seq[s : s + int(lengths[i])])])


def test_the_coverage_record_lists_a_hole_with_its_status(
    gapped_fasta: Path, tmp_path: Path, repo_root: Path
) -> None:
    """A store whose units have not run: every real base uncovered, under `pending`."""
    from ntscale.runner.track_job import track_coverage

    job = _job(gapped_fasta, tmp_path, repo_root)
    job.prepare()
    cov = track_coverage(job, max_listed=2)
    assert cov["real_bases_covered"] == 0 and cov["fraction_covered"] == 0.0
    assert cov["uncovered_bp"] == cov["real_bases_total"]
    assert set(cov["uncovered_by_reason"]) == {"pending"}
    assert len(cov["uncovered"]) == 2 and cov["n_uncovered_intervals"] >= 3
