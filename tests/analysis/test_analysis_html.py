"""The report page (analysis/html.py) from report dicts written by hand: tables read back with
an HTML parser, values formatted and escaped, figures inlined byte for byte."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ntscale.analysis import plots
from ntscale.analysis.html import render_html, write_html


class _Page(HTMLParser):
    """Tables by id (rows of cell texts), figure sources by id, every h2/h3 title and tag."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: dict[str, str] = {}
        self.titles: list[str] = []
        self.tags: set[str] = set()
        self._table: str | None = None
        self._figure: str | None = None
        self._cell: list[str] | None = None
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "figure":
            self._figure = a["id"]
        elif tag == "img" and self._figure:
            self.images[self._figure] = a["src"] or ""
        elif tag in ("h2", "h3"):
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag in ("h2", "h3") and self._title is not None:
            self.titles.append("".join(self._title))
            self._title = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._title is not None:
            self._title.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def figure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fig") / "status.png"
    return plots.plot_status_counts({"OK": 3}, path, title="windows by status")


def _report(figure: Path) -> dict:
    return {
        "store": "runs/<chr20>&co.zarr",
        "generated": "2026-12-01T08:00:00+00:00",
        "metadata": {
            "job": "embed",
            "model": "nt<tiny>",
            "rows": 1234567,
            "ratio": 0.123456789,
            "flag": True,
            "vcf": None,
            "layers": [6, 12],
        },  # fmt: skip
        "throughput": {},
        "windows": {
            "n": 10,
            "layer": 12,
            "status_counts": {"OK": 8, "PENDING": 2},
            "gc_source": None,
            "per_contig": [{"contig": "chrA", "windows": 4, "mean_gc": None}],
            "pca": {"skipped": "PCA needs at least 3 embedded windows; layer 12 has 2"},
        },
        "figures": {"window_status": str(figure)},
    }


def test_values_are_formatted_and_escaped(figure: Path) -> None:
    page = render_html(_report(figure))
    parsed = _parse(page)
    assert "<title>ntscale report: runs/&lt;chr20&gt;&amp;co.zarr</title>" in page
    assert parsed.tables["metadata"] == [
        ["job", "embed"], ["model", "nt<tiny>"], ["rows", "1,234,567"], ["ratio", "0.123457"],
        ["flag", "True"], ["vcf", "—"], ["layers", "6, 12"],  # lists as text (issue 23.11)
    ]  # fmt: skip
    assert '<td class="num">1,234,567</td>' in page and "<td>True</td>" in page  # bool: text
    assert parsed.tables["window-status"] == [["windows", "10"], ["OK", "8"], ["PENDING", "2"]]
    assert parsed.tables["per-contig"] == [["contig", "windows", "mean_gc"], ["chrA", "4", "—"]]


def test_missing_parts_are_said_not_hidden(figure: Path) -> None:
    page = render_html(_report(figure))
    assert "<p>(no run summary in the store)</p>" in page
    assert "No GC content: the run's FASTA was not found" in page
    assert "<p>PCA skipped: PCA needs at least 3 embedded windows; layer 12 has 2</p>" in page
    assert _parse(page).titles == ["Run", "Throughput (last run)", "Windows", "Per contig",
                                   "Embedding PCA (layer 12)"]  # fmt: skip


def test_figures_are_inlined_and_nothing_is_external(figure: Path, tmp_path: Path) -> None:
    out = write_html(_report(figure), tmp_path / "sub" / "report.html")
    page = out.read_text(encoding="utf-8")
    parsed = _parse(page)
    src = parsed.images["fig-window_status"]
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) == figure.read_bytes()
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert "http://" not in page and "https://" not in page
    assert "Windows by status (every planned window keeps its row)." in page


def test_pca_table_has_one_row_per_component(figure: Path) -> None:
    report = _report(figure)
    report["windows"]["gc_source"] = "/data/hg38.fa"
    report["windows"]["pca"] = {
        "n_windows": 1500, "total_variance": 12.5,
        "explained_variance": [5.0, 2.5], "explained_variance_ratio": [0.4, 0.2],
        "correlations": {"gc": [0.9, None], "frac_n": [-0.25, 0.125]},
    }  # fmt: skip
    report["throughput"] = {"windows_per_second": 210.5, "units_run": 3}
    page = render_html(report)
    parsed = _parse(page)
    assert parsed.tables["pca"] == [
        ["PC", "explained_variance", "explained_variance_ratio", "r(gc)", "r(frac_n)"],
        ["1", "5", "0.4", "0.9", "-0.25"],
        ["2", "2.5", "0.2", "—", "0.125"],
    ]
    assert "<p>1,500 embedded windows; total variance 12.5.</p>" in page
    assert "GC content from <code>/data/hg38.fa</code>." in page
    assert parsed.tables["throughput"] == [["windows_per_second", "210.5"], ["units_run", "3"]]


def test_variant_section_tables(figure: Path) -> None:
    stats = [{"group": "SNV", "n": 4, "mean": 0.625}, {"group": "<other>", "n": 1, "mean": None}]
    report = {
        "store": "v.zarr",
        "metadata": {"job": "score"},
        "variants": {
            "n": 5,
            "status_counts": {"ok": 4, "no_llr_not_snv": 1},
            "type_counts": {"SNV": 4, "indel": 1},
            "scores": ["llr"],
            "distributions": {"llr": {"by_type": stats, "by_status": stats[:1]}},
            "top": {
                "score": "llr",
                "by": "abs",
                "rows": [{"row": 3, "llr": -2.5}, {"row": 0, "llr": 1.0}],
            },  # fmt: skip
        },
        "figures": {"variant_status": str(figure)},
    }
    parsed = _parse(render_html(report))
    assert parsed.tables["variant-status"] == [["variants", "5"], ["ok", "4"],
                                               ["no_llr_not_snv", "1"]]  # fmt: skip
    assert parsed.tables["variant-types"] == [["SNV", "4"], ["indel", "1"]]
    assert parsed.tables["dist-type-llr"][2] == ["<other>", "1", "—"]
    assert parsed.tables["dist-status-llr"] == [["group", "n", "mean"], ["SNV", "4", "0.625"]]
    assert parsed.tables["top-variants"] == [["row", "llr"], ["3", "-2.5"], ["0", "1"]]
    assert "Top 2 variants by |llr|" in parsed.titles
    assert "fig-variant_status" in parsed.images
    assert "Windows" not in parsed.titles  # a score store has no window section


def test_empty_record_tables_say_none() -> None:
    report = {"metadata": {}, "windows": {"n": 0, "layer": 1, "status_counts": {},
              "gc_source": None, "per_contig": [], "pca": {"skipped": "no windows"}}}  # fmt: skip
    page = render_html(report)
    assert "<h3>Per contig</h3>\n<p>(none)</p>" in page
    assert "<title>ntscale report: </title>" in page
