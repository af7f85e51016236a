"""Coverage in `ntscale report` and `ntscale info` (stores made by the real pipeline)."""

from __future__ import annotations

import json

import ntscale.store as st
from ntscale.analysis import build_report, write_html
from ntscale.analysis.info import format_info, store_info
from ntscale.cli.main import main


def test_report_has_a_coverage_section(embed_store, tmp_path):
    # The fixture's run is not gap-aware (--no-gap-aware): its all-N window is skipped, but
    # holds no real base, so every real base is still covered.
    report = build_report(st.open(str(embed_store)), tmp_path / "rep", n_components=2)
    cov = report["coverage"]
    assert cov["gap_aware"] is False and cov["n_bases_requested"] == 600
    assert cov["real_bases_covered"] == cov["real_bases_total"] == 2 * (1_200 + 4_200)
    page = write_html(report, tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Coverage</h2>" in page and "coverage: 100.000% of real bases" in page
    # Holes are listed in a table: the same page with one uncovered interval.
    hole = {"contig": "20", "start": 60_000, "end": 60_100, "track": "-", "reason": "PENDING"}
    report["coverage"] |= {"uncovered": [hole], "uncovered_bp": 100,
                           "uncovered_by_reason": {"PENDING": 100}}  # fmt: skip
    page = write_html(report, tmp_path / "rep" / "holes.html").read_text()
    assert '<td class="num">60,000</td>' in page and "<td>PENDING</td>" in page
    assert "PENDING: 100 bp" in page


def test_info_text_and_json(embed_store, capsys):
    main(["info", str(embed_store), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["state"] == "finished" and info["job"] == "embed"
    assert info["model"]["name"] == "nt-v2-tiny" and info["model"]["dtype"] == "fp32"
    assert info["settings"]["window_bp"] == 600 and info["settings"]["layers"] == [1, 2]
    assert info["windows"]["by_status"] == {"OK": 18, "SKIPPED_ALL_N": 2}
    assert info["windows"]["units_done"] == info["windows"]["units_total"] == 5
    assert info["coverage"]["real_bases_covered"] == 2 * (1_200 + 4_200)
    assert info["last_run"]["units_run"] == 5
    main(["info", str(embed_store)])
    text = capsys.readouterr().out
    assert "(finished)" in text and "by status: OK 18, SKIPPED_ALL_N 2" in text
    assert "coverage: 100.000% of real bases" in text and "600 N bp requested" in text


def test_info_on_a_store_that_has_not_run(example_inputs, tmp_path):
    from ntscale.config import EmbedConfig, build_config
    from ntscale.runner.embed_job import EmbedJob

    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1002400\n")
    cfg = build_config(
        EmbedConfig,
        {
            "fasta": str(example_inputs["fasta"]),
            "model": str(example_inputs["model"]),
            "out": str(tmp_path / "pending.zarr"),
            "regions": str(bed),
            "window_bp": 600,
            "unit_windows": 2,
        },
    )
    EmbedJob.plan_from_config(cfg).prepare()  # created, as a killed run leaves it
    info = store_info(cfg.out)
    assert info["state"] == "incomplete: running or interrupted"
    assert info["windows"]["units_done"] == 0 and info["windows"]["units_total"] == 2
    assert info["windows"]["by_status"] == {"PENDING": 4}
    assert info["settings"]["layers"] == [2]  # the default: the last layer
    text = format_info(info)
    assert "coverage: not recorded yet" in text and "last run: none finished yet" in text


def test_info_on_a_score_store(score_store):
    info = store_info(str(score_store))
    assert info["job"] == "score" and info["state"] == "finished"
    assert info["variants"]["units_done"] == info["variants"]["units_total"]
    assert sum(info["variants"]["by_status"].values()) == info["variants"]["rows"] > 0
    text = format_info(info)
    assert "variants: 55 of 55 rows done" in text
    assert "coverage:" not in text  # no genome tiling to cover
    assert "last run: 4 units, 55 variants in" in text
