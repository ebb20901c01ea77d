"""Open generated reports in headless Chromium (Chrome DevTools Protocol over a pipe, no extra
Python packages): the pages render without console errors or script dialogs, make no network
request beyond the file itself and data: URIs, show their images, and a full-page screenshot
is saved under test-artifacts/ for a person to look at.

The executive summary of the month page is checked as a reader sees it: at the top, in the
report's language (:func:`english_prose` finds English left on a Russian page), with no ``$``
in a ruble report, and with changes against the previous month from the second month of data
on (two consecutive months rendered into one reports folder by the real notebooks that record
the summary). The English summary is checked on the real run of the e2e tests
(:func:`check_summary`, called there), so no extra full run is made for it."""
from __future__ import annotations

import base64
import functools
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rfm_helpers.report import catalogs
from rfm_helpers.report import run as report_run
from runner_fixtures import basic_set

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed "
                       "(Debian: apt-get install chromium; `make browser` does it)"),
]


class Browser:
    """Minimal CDP client: Chromium started with --remote-debugging-pipe (fd 3 in, fd 4 out,
    NUL-separated JSON messages)."""

    def __init__(self, profile: Path):
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        # move the child's ends above fd 4 so the dup2 below never clobbers them
        to_child_r, from_child_w = os.dup(to_child_r), os.dup(from_child_w)

        def wire():  # runs in the child before exec
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [_chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._next = 0
        self._replies: dict[int, dict] = {}
        self.events: "queue.Queue[dict]" = queue.Queue()
        self._cv = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._replies[-1] = {"closed": True}
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cv:
                        self._replies[msg["id"]] = msg
                        self._cv.notify_all()
                else:
                    self.events.put(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        self._next += 1
        mid = self._next
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while mid not in self._replies:
                if -1 in self._replies or not self._cv.wait(deadline - time.monotonic()):
                    raise RuntimeError(f"no reply from Chromium to {method}")
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except RuntimeError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)


def visit(browser: Browser, url: str, screenshot: Path) -> dict:
    """Load ``url`` in a fresh tab; return requests, console errors, dialogs and page facts."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    sid = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Network", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=sid)
    while not browser.events.empty():
        browser.events.get_nowait()
    browser.send("Page.navigate", {"url": url}, session=sid)
    seen: list[dict] = []
    deadline = time.monotonic() + 30
    loaded_at = None
    while time.monotonic() < deadline:
        try:
            ev = browser.events.get(timeout=0.2)
        except queue.Empty:
            if loaded_at and time.monotonic() - loaded_at > 0.5:  # settle after load
                break
            continue
        if ev.get("sessionId") != sid:
            continue
        seen.append(ev)
        if ev["method"] == "Page.loadEventFired":
            loaded_at = time.monotonic()
    assert loaded_at, f"{url} did not finish loading"
    facts = browser.send("Runtime.evaluate", {"returnByValue": True, "expression": """({
        title: document.title,
        text: document.body.innerText,
        allText: document.body.textContent,
        images: document.images.length,
        brokenImages: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length,
        scripts: document.scripts.length,
        proseText: (() => { const c = document.body.cloneNode(true);
            c.querySelectorAll("table.rfm-params, code, pre, [translate=no]").forEach(e => e.remove());
            return c.textContent; })(),
        summary: (() => { const s = document.querySelector("section.rfm-exec"); if (!s) return null;
            const kids = Array.from(document.querySelector("main").children);
            return {index: kids.indexOf(s), headerIndex: kids.findIndex(k => k.matches("header")),
                    top: s.getBoundingClientRect().top + window.scrollY, text: s.innerText,
                    kpis: Array.from(s.querySelectorAll(".rfm-kpi")).map(k => ({
                        key: k.dataset.kpi, value: k.querySelector(".v").innerText,
                        deltas: Array.from(k.querySelectorAll(".c")).map(c => ({text: c.innerText,
                            direction: c.className.replace("c ", "")}))})),
                    actions: s.querySelectorAll(".rfm-actions > li").length,
                    links: Array.from(s.querySelectorAll("a")).map(a => a.href),
                    chartHeight: (s.querySelector("img.rfm-exec-chart") || {}).naturalHeight || 0}; })(),
        width: document.documentElement.scrollWidth,
        height: document.documentElement.scrollHeight})"""}, session=sid)["result"]["value"]
    browser.send("Emulation.setDeviceMetricsOverride", {
        "width": 1100, "height": min(int(facts["height"]), 8000), "deviceScaleFactor": 1, "mobile": False},
        session=sid)
    png = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                       session=sid)["data"]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(png))
    browser.send("Target.closeTarget", {"targetId": target})
    m = lambda name: [e["params"] for e in seen if e["method"] == name]  # noqa: E731
    return {
        "requests": [p["request"]["url"] for p in m("Network.requestWillBeSent")],
        "console_errors": [p for p in m("Runtime.consoleAPICalled") if p.get("type") in ("error", "assert")]
        + [p["entry"] for p in m("Log.entryAdded") if p["entry"].get("level") == "error"],
        "exceptions": m("Runtime.exceptionThrown"),
        "dialogs": m("Page.javascriptDialogOpening"),
        **facts,
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    nbs = basic_set(base / "nb")
    (nbs / "02_small.ipynb").unlink()  # one notebook is enough for the browser
    out = report_run.run_month("1998-06", reports_dir=base / "reports", notebooks_dir=nbs, progress=False)
    return out


@pytest.fixture(scope="module")
def rendered_ru(tmp_path_factory):
    """The same notebook as a Russian report in rubles."""
    base = tmp_path_factory.mktemp("browser-ru")
    nbs = basic_set(base / "nb")
    (nbs / "02_small.ipynb").unlink()
    return report_run.run_month("1998-06", reports_dir=base / "reports", notebooks_dir=nbs, language="ru",
                                currency="RUB", progress=False)


# --------------------------------------------------------------------------- English on a Russian page
#: Names that are not English prose (data set, tools, file format words the pages quote).
NAMES = frozenset({"cdnow", "python", "email", "excel", "duckdb", "spark", "pyspark", "pandas", "numpy", "scipy",
                   "statsmodels", "papermill", "pyarrow", "babel", "jupyter", "linux", "glibc", "rfm", "csv"})
_CODE_TOKEN = re.compile(r"\S*[\d_./\\@:=-]\S*")  # file names, versions, hashes, dates, identifiers
_LATIN_RUN = re.compile(r"[A-Za-z]+(?:[ ,]+[A-Za-z]+){2,}")


@functools.lru_cache(maxsize=1)
def english_vocabulary() -> frozenset[str]:
    """Every word (4+ letters) of the report's English message ids: words the Russian catalog
    translates, so none of them should be left on a Russian page."""
    words: set[str] = set()
    for m in catalogs.extract():
        for part in (m.id if isinstance(m.id, tuple) else (m.id,)):
            words |= {w.lower() for w in re.findall(r"[A-Za-z]{4,}", re.sub(r"\{[^}]*\}", " ", part or ""))}
    return frozenset(words - NAMES)


def english_prose(text: str) -> list[str]:
    """English left in the text of a Russian page: runs of three or more Latin words, and single
    words of the report's English vocabulary. File names, versions, hashes and identifiers
    (anything with a digit, ``_``, ``.``, ``/``, ``-``...) and :data:`NAMES` do not count."""
    plain = _CODE_TOKEN.sub(" | ", text)
    found = [r for r in _LATIN_RUN.findall(plain) if not {w.lower() for w in re.findall(r"[A-Za-z]+", r)} <= NAMES]
    vocabulary = english_vocabulary()
    return found + sorted({w for w in re.findall(r"[A-Za-z]{4,}", plain) if w.lower() in vocabulary})


def test_english_prose_detector():
    assert english_prose("Клиентов 23 502 · CDNOW_master.txt · pandas 3.1.1 · Email и SMS · RFM-отчёт") == []
    assert "Agreement quantile vs" in english_prose("Ключевые: Agreement quantile vs k-means (adjusted Rand)")
    assert english_prose("Выручка: Revenue") == ["Revenue"]  # one word of the catalog's English is enough


def check_summary(result: dict, *, language: str, month_title: str, previous: str | None) -> dict:
    """What a reader of a month page must find in its executive summary (``result`` of
    :func:`visit`): the summary first under the page header, four figures with their values,
    the changes against ``previous`` (the previous month's name) when given, else "no
    comparison", three actions, a chart, and links only to files that exist."""
    s = result["summary"]
    assert s is not None, "no executive summary on the month page"
    assert s["index"] == s["headerIndex"] + 1, "the summary is not the first thing under the header"
    assert s["top"] < 400, f"the summary starts {s['top']} px down the page"
    assert s["text"].startswith(month_title), s["text"][:80]
    assert [k["key"] for k in s["kpis"]] == ["customers", "active_customers", "revenue", "average_order_value"]
    assert all(k["value"] and k["value"] != "–" for k in s["kpis"])
    first = [k["deltas"][0] for k in s["kpis"]]  # against the previous month
    no_comparison = {"en": "no comparison", "ru": "сравнения нет"}[language]
    if previous:
        revenue = first[2]
        assert previous in revenue["text"] and revenue["direction"] in ("up", "down", "flat"), revenue
        assert re.search(r"[+-]\d", revenue["text"]), revenue
    else:
        assert all(no_comparison in d["text"] and d["direction"] == "none" for d in first), first
    assert s["actions"] == 3 and s["chartHeight"] > 200
    for href in s["links"]:
        assert href.startswith("file://") and Path(href[len("file://"):]).is_file(), href
    return s


@pytest.fixture(scope="module")
def ruble_months(tmp_path_factory):
    """Two consecutive months (the first two of the data) of a Russian report in rubles, in one
    reports folder, by the real notebooks that record the summary (02: the month's figures,
    05: segments and moves, with two months of history to stay quick)."""
    from rfm_helpers.report.execute import discover_notebooks
    from rfm_helpers.paths import notebooks_dir

    base = tmp_path_factory.mktemp("summary-ru")
    nbs = base / "nb"
    nbs.mkdir()
    for p in discover_notebooks(notebooks_dir()):
        if p.name.startswith(("02_", "05_")):
            shutil.copy(p, nbs / p.name)
    assert len(list(nbs.glob("*.ipynb"))) == 2
    t0 = time.perf_counter()
    out = report_run.run_range("1997-01", "1997-02", reports_dir=base / "reports", notebooks_dir=nbs, language="ru",
                               currency="RUB", extra_params={"history_months": 2}, progress=False)
    assert all(isinstance(v, Path) for v in out.values()), out
    print(f"two Russian months rendered in {time.perf_counter() - t0:.1f} s")
    return base / "reports"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _check_offline_and_clean(result: dict, page: Path):
    external = [u for u in result["requests"] if not u.startswith(("file://", "data:"))]
    assert external == [], f"{page.name} made external requests: {external}"
    assert result["console_errors"] == [], result["console_errors"]
    assert result["exceptions"] == [] and result["dialogs"] == []


def test_notebook_page_renders_offline(rendered, browser):
    page = rendered / "01_overview.html"
    shot = ARTIFACTS / "report-1998-06-01_overview.png"
    result = visit(browser, page.as_uri(), shot)
    _check_offline_and_clean(result, page)
    assert result["title"] == "Overview of customers — 1998-06"
    assert result["scripts"] == 0
    assert result["images"] >= 1 and result["brokenImages"] == 0
    assert "<script>alert(1)</script>" in result["text"]  # hostile channel name shown as text
    assert "analysis_date" in result["allText"] and "1998-06-30" in result["allText"]  # params box (folded)
    assert "Analysis date: June 30, 1998" in result["text"]  # the header says it in the report's words
    assert result["width"] <= 1300  # no sideways scrolling on a laptop-width window
    assert shot.stat().st_size > 10_000


def test_month_and_run_index_render(rendered, browser):
    for page, name in [(rendered / "index.html", "report-1998-06-index.png"),
                       (rendered.parent / "index.html", "reports-index.png")]:
        result = visit(browser, page.as_uri(), ARTIFACTS / name)
        _check_offline_and_clean(result, page)
        assert "1998-06" in result["text"] and "Customers" in result["text"]
        assert (ARTIFACTS / name).stat().st_size > 5_000


def test_russian_ruble_pages_render_in_their_language(rendered_ru, browser):
    """What a Russian reader sees: money in rubles formatted by Babel, no dollar sign, the
    page frame and the run manifest in Russian."""
    for page, name in [(rendered_ru / "index.html", "report-ru-1998-06-index.png"),
                       (rendered_ru / "01_overview.html", "report-ru-1998-06-01_overview.png"),
                       (rendered_ru.parent / "index.html", "reports-index-ru.png")]:
        result = visit(browser, page.as_uri(), ARTIFACTS / name)
        _check_offline_and_clean(result, page)
        text = result["text"]
        assert "$" not in text, f"{page.name}: a dollar sign in a ruble report"
        for english in ("Monthly RFM report", "All runs", "Analysis date", "Generated", "Headline figures",
                        "rows read", "commit "):
            assert english not in text, f"{page.name}: English '{english}' on a Russian page"
        if page.name == "index.html" and page.parent == rendered_ru:
            assert "12\u00a0346\u00a0₽" in text and "Ежемесячный RFM-отчёт" in text and "Июнь 1998" in text
            assert "Паспорт запуска" in text and "CDNOW_master.txt" in text


def test_harness_detects_external_requests_and_errors(tmp_path, browser):
    """The checks above would catch a page that calls out or logs errors (loopback only)."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><title>bad</title></head><body><p>x</p>"
                    "<img src='http://127.0.0.1:9/pixel.png'>"
                    "<script>console.error('boom')</script></body></html>", encoding="utf-8")
    result = visit(browser, page.as_uri(), tmp_path / "bad.png")
    assert "http://127.0.0.1:9/pixel.png" in result["requests"]
    assert any("boom" in json.dumps(e) for e in result["console_errors"])
    assert result["scripts"] == 1


def test_russian_ruble_summary_first_month_then_changes(ruble_months, browser):
    """The Russian month pages of the first two months of the data: the summary at the top, no
    dollar sign, no English; "no comparison" in the first month, changes against January in
    the second."""
    for month, title, previous in (("1997-01", "Январь 1997: главное", None),
                                   ("1997-02", "Февраль 1997: главное", "январь 1997")):
        page = ruble_months / month / "index.html"
        shot = ARTIFACTS / f"summary-ru-{month}.png"
        result = visit(browser, page.as_uri(), shot)
        _check_offline_and_clean(result, page)
        assert "$" not in result["allText"], f"{month}: a dollar sign in a ruble report"
        assert english_prose(result["proseText"]) == [], f"{month}: English on the Russian page"
        s = check_summary(result, language="ru", month_title=title, previous=previous)
        assert "₽" in s["kpis"][2]["value"] and "₽" in s["kpis"][3]["value"]
        assert result["brokenImages"] == 0 and shot.stat().st_size > 20_000
        if previous:  # a year earlier is not in the data yet
            assert all("сравнения нет" in k["deltas"][1]["text"] for k in s["kpis"])
    index = visit(browser, (ruble_months / "index.html").as_uri(), ARTIFACTS / "summary-ru-all-runs.png")
    assert "$" not in index["allText"] and english_prose(index["proseText"]) == []
    assert "к прошлому месяцу" in index["text"]  # the all-runs page shows the change of February
