"""`ntscale info` on score and track stores (issue 23, point 7): the window the run used
(not the config's None for "max"), the scores, the preset and how the run departs from it,
rows named as they are (bases, variants), and the coverage of a track store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntscale.analysis.info import format_info, scoring_settings, store_info
from ntscale.cli.main import main


def _run(*args: str) -> None:
    try:
        main([*args, "--dtype", "fp32", "--no-progress"])
    except SystemExit as e:  # typer may exit 0 after a command
        assert e.code in (0, None)


@pytest.fixture(scope="module")
def preset_store(tmp_path_factory: pytest.TempPathFactory, example_inputs) -> Path:
    """One SNV scored with --preset traitgym but --scores llr (a departure)."""
    d = tmp_path_factory.mktemp("info")
    vcf = d / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=20,length=2000000>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "20\t1000001\ts1\tT\tC\t.\tPASS\t.\n")  # fmt: skip
    out = d / "s.zarr"
    _run("score", "--fasta", str(example_inputs["fasta"]), "--vcf", str(vcf), "--model",
         str(example_inputs["model"]), "--out", str(out), "--preset", "traitgym",
         "--scores", "llr")  # fmt: skip
    return out


def test_score_store_settings_are_the_run_s(preset_store: Path) -> None:
    info = store_info(str(preset_store))
    s = info["settings"]
    assert s["window_bp"] == 5994  # the preset's window: the config alone says None
    assert s["preset"] == "traitgym" and s["strands"] == "both" and s["collapse_n"] is True
    assert s["preset_departures"] == {"scores": ["llr", "llr_masked,flat"]}
    assert s["scores"][:3] == ["llr_masked", "llr_masked_fwd", "llr_masked_rev"]
    text = format_info(info)
    assert "window_bp=None" not in text and "layers=[]" not in text
    assert "last run: 1 units, 1 variants in" in text
    assert "variants: 1 of 1 rows done" in text


def test_track_store_says_bases_and_its_coverage(tmp_path: Path, example_inputs) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("20\t59900\t60600\n")  # 100 bp of the leading gap, then 600 real bp
    out = tmp_path / "t.zarr"
    _run("score", "--fasta", str(example_inputs["fasta"]), "--model", str(example_inputs["model"]),
         "--out", str(out), "--tracks", str(tmp_path / "t"), "--regions", str(bed),
         "--window", "600")  # fmt: skip
    info = store_info(str(out))
    assert info["settings"]["window_bp"] == 600 and info["settings"]["tiles"] >= 1
    assert info["settings"]["tiling"] == "perbase-nfree-1"
    assert info["coverage"]["real_bases_covered"] == 600
    text = format_info(info)
    assert "bases: 700 of 700 rows done" in text
    assert "by status: allele_not_acgt 100, ok 600" in text
    assert "last run: 1 units, 700 bases in" in text and "windows in" not in text
    assert "coverage: 100.000% of real bases with track values (600 of 600 bp" in text


def test_scoring_settings_leave_out_what_is_not_set() -> None:
    assert scoring_settings({}) == {}
    got = scoring_settings({"scoring": {"window_bp": 6, "preset": None, "score_names": ["a"]}})
    assert got == {"window_bp": 6, "scores": ["a"]}
    got = scoring_settings({"scoring": {"preset": "traitgym", "preset_departures": {}}})
    assert got == {"preset": "traitgym", "preset_departures": "none"}
