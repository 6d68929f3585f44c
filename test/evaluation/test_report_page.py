"""The ``--report`` page: leaderboard metrics in order with definitions, sortable per-centre and per-case tables,
and, in a real headless Chromium, a page that loads with every image shown, working sorting and no console error.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.report import LEADERBOARD

EXAMPLES = Path(__file__).resolve().parents[2] / "ground_truth_examples"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The report of each task's bundled example predictions."""
    root = tmp_path_factory.mktemp("reports")
    out = {}
    for task in (1, 2, 3):
        argv = ["--input", EXAMPLES / "predictions" / f"task{task}", "--ground-truth", EXAMPLES / "ground_truth"]
        argv += ["--output", root / f"m{task}.json", "--report", root / f"task{task}", "--workers", "1"]
        assert main([str(a) for a in [*argv, "--bootstrap", "50"]]) == 0
        out[task] = root / f"task{task}" / "index.html"
    return out


class _Tables(HTMLParser):
    """Header cells of each table of class 'sortable', and the number of body rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list]] = []
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "sortable") in attrs:
            self.tables.append({"headers": [], "rows": []})
        elif tag == "th" and self.tables:
            self._in_th = True
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append(1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.tables[-1]["headers"].append(data)


@pytest.mark.parametrize("task", [1, 2, 3])
def test_leaderboard_first_in_order_then_centre_and_case_tables(reports: dict[int, Path], task: int) -> None:
    text = reports[task].read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(text)
    leaderboard, centres, cases = parser.tables
    assert leaderboard["headers"] == ["task", "order", "metric", "value", "definition"]
    order = [key for key, _ in LEADERBOARD[task]]
    positions = [text.index(f'data-v="{key}"') for key in order]
    assert positions == sorted(positions)  # leaderboard order
    for _, definition in LEADERBOARD[task]:
        assert html.escape(definition) in text
    assert centres["headers"][0] == "centre" and len(centres["rows"]) == 1 + 5  # header + 5 example centres
    assert cases["headers"][:2] == ["PatientID", "centre"] and len(cases["rows"]) >= 2


def test_task1_shows_overlays_of_the_worst_cases(reports: dict[int, Path]) -> None:
    text = reports[1].read_text(encoding="utf-8")
    worst = dict.fromkeys(re.findall(r"Task 1 worst case \d: ([A-Z]+-\d+), GTVp Dice ([0-9.]+)", text))
    assert len(worst) == 3  # (each named in the image's alt text and its caption)
    for k in (1, 2, 3):
        assert (reports[1].parent / f"task1_worst_{k}.png").stat().st_size > 1000
    dice = [float(d) for _, d in worst]
    assert dice == sorted(dice)  # worst first


def test_count_axes_have_integer_ticks(reports: dict[int, Path]) -> None:
    """The Dice histograms count cases: their y ticks are whole numbers."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.ticker import MaxNLocator

    from evaluation.report import _integer_ticks

    fig = matplotlib.figure.Figure()
    ax = fig.subplots()
    ax.hist([0.1, 0.5, 0.5], bins=4)
    _integer_ticks(ax.yaxis)
    assert isinstance(ax.yaxis.get_major_locator(), MaxNLocator)
    assert all(float(t).is_integer() for t in ax.get_yticks())


CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  var table = document.querySelectorAll("table.sortable")[2];
  var th = table.querySelectorAll("th")[0];
  th.click(); th.click();  // sort the per-case table by PatientID, descending
  var first = table.tBodies[0].rows[0].cells[0].dataset.v;
  document.body.setAttribute("data-check", "images=" + imgs.length + " broken=" + broken + " first=" + first);
});
</script>
"""


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.parametrize("task", [1, 2, 3])
def test_page_in_headless_chromium(reports: dict[int, Path], task: int, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the page was not checked in a browser")
    page = reports[task]
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    check = re.search(r'data-check="images=(\d+) broken=(\d+) first=([^"]*)"', result.stdout)
    assert check, f"the page's script did not run: {result.stderr[-2000:]}"
    assert int(check.group(1)) >= 1 and int(check.group(2)) == 0
    patients = sorted(re.findall(r"<td data-v=\"([A-Z]+-\d+)\">", page.read_text(encoding="utf-8")))
    assert check.group(3) == patients[-1]  # sorting works
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line and "probe.html" in line]
    assert not console, console
