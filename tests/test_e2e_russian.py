"""End to end in Russian: ONE real run of the generated Russian notebooks (``notebooks/ru/``) on the
bundled CDNOW data for 1998-06 in rubles (module fixture), and what a Russian reader gets:
no English prose, no dollar sign, Russian plural forms and money, each heading once.

A separate file from ``test_e2e_report.py`` (the English run), so that ``pytest -n 2 --dist
loadfile`` runs the two real runs on two workers at the same time.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from rfm_helpers.report import execute
from rfm_helpers.report import run as report_run
from rfm_helpers.report.i18n import available_languages
from rfm_helpers.report.prose import foreign_words, page_text
from rfm_helpers.segments import load_segment_maps

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MONTH = "1998-06"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
NBSP = "\u00a0"


@pytest.fixture(scope="module")
def run_ru(tmp_path_factory):
    out = report_run.run_month(MONTH, reports_dir=tmp_path_factory.mktemp("e2e-ru") / "reports", language="ru",
                               currency="RUB", progress=False)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [n["name"] for n in summary["run"]["notebooks"]] == [p.name for p in execute.discover_notebooks(NOTEBOOKS)]
    return out


def _allowed() -> set[str]:
    """Latin words a Russian page may show besides codes and proper names: the notebooks'
    parameter names (the parameter tables list them as typed) and the words among their
    default values (``classic``, ``map``...), the language codes, the segment map names, and
    the Greek-letter parameter names of the purchase model in notebook 06's parameter table."""
    words = {"source", "alpha", *available_languages()}  # prepare() names the source 'source'; BG/NBD: r, alpha, a, b
    for src in execute.discover_notebooks(NOTEBOOKS):
        for name, info in pm.inspect_notebook(str(src)).items():
            words.add(name)
            words.update(re.findall(r"[A-Za-z][A-Za-z_-]*", str(info["default"])))
    words.update(load_segment_maps()["maps"])
    return words


#: Pages that other developers are rewriting right now and that still show English words on the
#: Russian page (counted on 2026-11-30). The mark is strict: the test reports XPASS (a failure) as
#: soon as the page reads fully in Russian; then delete its line.
_BEING_REWRITTEN = {
    "01_load_and_validate": "loader's page: 1 English word - the file value 'Total' quoted in the Russian "
                            "data-quality rules ('«Итого», Total'); mark it <span lang=\"en\">Total</span> or as code",
    "04_campaign_ab_test": "campaign texts (campaigns developer, next): 13 English words - 11 x the group name "
                           "'treatment' in captions and table cells, 'sample-ratio mismatch'",
}
#: The month page repeats labels recorded by the notebooks; notebook 04's include the campaign's
#: group name, which is data (the demo campaign's groups are called 'control' and 'treatment').
_CAMPAIGN_GROUPS = {"control", "treatment"}


def _page_param(stem: str):
    if stem in _BEING_REWRITTEN:
        return pytest.param(stem, marks=pytest.mark.xfail(strict=True, reason=_BEING_REWRITTEN[stem]))
    return stem


@pytest.mark.parametrize("stem", [_page_param(p.stem) for p in execute.discover_notebooks(NOTEBOOKS)] + ["index"])
def test_russian_page_has_no_english_prose(run_ru, stem):
    allowed = _allowed() | (_CAMPAIGN_GROUPS if stem == "index" else set())
    found = foreign_words((run_ru / f"{stem}.html").read_text(encoding="utf-8"), allowed)
    assert found == [], f"{stem}.html: English words on the Russian page:\n" + "\n".join(map(str, found[:25]))


@pytest.mark.parametrize("stem", ["02_rfm", "03_segmentation", "05_segment_migration", "06_customer_value", "index"])
def test_ruble_pages_show_no_dollar_sign(run_ru, stem):
    text = " ".join(page_text((run_ru / f"{stem}.html").read_text(encoding="utf-8")))
    assert "$" not in text and "USD" not in text, stem
    assert "₽" in text, stem


def test_russian_numbers_money_and_plurals(run_ru):
    rfm = " ".join(page_text((run_ru / "02_rfm.html").read_text(encoding="utf-8")))
    # 23,502 customers and $2,500,316 in the bundled sample (the English e2e checks the count
    # against the raw file): Russian plural form and ruble money by Babel
    assert f"23{NBSP}502 клиента" in rfm and f"2{NBSP}500{NBSP}316{NBSP}₽" in rfm
    assert "клиентов" not in rfm.split("23\u00a0502", 1)[1][:12]
    index = " ".join(page_text((run_ru / "index.html").read_text(encoding="utf-8")))
    assert "₽" in index and "$" not in index
    # the agreement figure left the month page for summary.json's analyst section; its label was
    # English in Russian runs (issue 11)
    analyst = json.loads((run_ru / "summary.json").read_text(encoding="utf-8"))["analyst"]
    assert analyst["segmentation_ari_quantile_kmeans"]["label"].startswith(
        "Согласованность баллов по квантилям и k-средних")


@pytest.mark.parametrize("stem", [p.stem for p in execute.discover_notebooks(NOTEBOOKS)])
def test_each_russian_page_has_its_headings_once_in_russian(run_ru, stem):
    executed = nbformat.read(run_ru / f"{stem}.ipynb", as_version=4)
    heads = [ln.lstrip("#").strip() for c in executed.cells if c.cell_type == "markdown"
             for ln in c.source.splitlines() if ln.startswith("#")]
    assert heads and len(heads) == len(set(heads)), heads
    assert all(CYRILLIC.search(h) for h in heads), heads
    page = (run_ru / f"{stem}.html").read_text(encoding="utf-8")
    assert f"<title>{executed.cells[0].source.splitlines()[0].lstrip('# ').strip()}" in page


def test_russian_pages_in_headless_browser(run_ru, tmp_path):
    """The Russian pages in headless Chromium: offline, no errors, no broken image, no sideways
    scrolling; screenshots in test-artifacts/ for a person to look at."""
    from test_browser import ARTIFACTS, Browser, _chromium, visit

    if _chromium() is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    browser = Browser(tmp_path / "profile")
    try:
        for page in sorted(run_ru.glob("*.html")):
            result = visit(browser, page.as_uri(), ARTIFACTS / f"e2e-ru-{MONTH}-{page.stem}.png")
            assert [u for u in result["requests"] if not u.startswith(("file://", "data:"))] == [], page.name
            assert result["console_errors"] == [] and result["exceptions"] == [], page.name
            assert result["brokenImages"] == 0 and result["width"] <= 1300, page.name
    finally:
        browser.close()
