"""The HTML report in a real headless browser (Debian's chromium): the plots load.

Skipped when `chromium` is not on PATH (install it with `apt-get install -y chromium`).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import ntscale.store as st
from ntscale.analysis import build_report, write_html

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# After load, the page's own DOM says how many plot images decoded to a real size.
PROBE = (
    "<script>window.addEventListener('load', () => {{ const imgs = [...document.querySelectorAll"
    "('img.plot')]; document.body.setAttribute('data-decoded', imgs.filter(i => i.complete && "
    "i.naturalWidth > 100 && i.naturalHeight > 100).length); }});</script></body>"
)


def _dump_dom(path, tmp_path) -> str:
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("kind", ["embed", "score"])
def test_report_plots_render_in_chromium(kind, embed_store, score_store, tmp_path):
    store = embed_store if kind == "embed" else score_store
    report = build_report(st.open(str(store)), tmp_path / "report", store=str(store))
    page = write_html(report, tmp_path / "report" / "report.html")
    # The probe goes into a copy: the report itself has no scripts.
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE.format(), 1))
    dom = _dump_dom(probed, tmp_path)
    alts = re.findall(r'<img class="plot" alt="([^"]+)" src="data:image/png;base64,', dom)
    assert set(alts) == set(report["figures"]) and len(alts) == len(report["figures"])
    decoded = re.search(r'data-decoded="(\d+)"', dom)
    assert decoded is not None, "the page's load handler did not run"
    assert int(decoded.group(1)) == len(report["figures"])
    assert "ntscale report" in dom
