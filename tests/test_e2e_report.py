"""End to end: ONE real run of every notebook on the bundled CDNOW data for 1998-06 (module
fixture), with assertions on the HTML it writes; plus a small run of the real notebooks 01/02
on a hostile SQL data set (script tags in channel names and customer ids, a password in the
database URL). Every test that needs a full real run lives in this file so it runs once."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest
import yaml

from rfm_helpers.load import bundled as datasets
from rfm_helpers.report import execute, render
from rfm_helpers.report import run as report_run
from runner_fixtures import make_notebook, parse_html

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MONTH = "1998-06"
SECRET = "S3CRET-TOKEN-xyz"
ENV_SECRET = "fake-env-secret-7f3a9c"
XSS = "<script>alert(1)</script>"


class _SecretEnv:
    """Secret-looking environment for a whole module (monkeypatch is function-scoped)."""

    def __init__(self, **values):
        self.values, self.old = values, {}

    def __enter__(self):
        self.old = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for k, v in self.old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _assert_no_secrets(folder: Path):
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for p in files:
        data = p.read_bytes()
        assert SECRET.encode() not in data, f"database password in {p}"
        assert ENV_SECRET.encode() not in data, f"environment secret in {p}"


# --------------------------------------------------------------------------- the real run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    present = [p.name for p in execute.discover_notebooks(NOTEBOOKS)]
    for required in ("01_", "02_"):
        assert any(n.startswith(required) for n in present), f"notebook {required}*.ipynb missing in {NOTEBOOKS}"
    reports = tmp_path_factory.mktemp("e2e") / "reports"
    db = tmp_path_factory.mktemp("db") / "unused.db"
    with _SecretEnv(RFM_DB_URL=f"sqlite:///{db}?password={SECRET}", SHOP_API_TOKEN=ENV_SECRET):
        out = report_run.run_month(MONTH, reports_dir=reports, progress=False)
    ran = [n["name"] for n in json.loads((out / "summary.json").read_text(encoding="utf-8"))["run"]["notebooks"]]
    assert ran == present, "the run must render every notebook found, in name order"
    return out


def _notebooks(out: Path) -> list[str]:
    """Stems of the notebooks of the run (checked against the folder in the fixture)."""
    return [Path(n["name"]).stem for n in
            json.loads((out / "summary.json").read_text(encoding="utf-8"))["run"]["notebooks"]]


def test_every_notebook_has_html_and_executed_copy(real_run):
    for stem in _notebooks(real_run):
        assert (real_run / f"{stem}.html").is_file(), stem
        nb = nbformat.read(real_run / f"{stem}.ipynb", as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert errors == [], stem


def test_no_raw_python_values_on_the_pages(real_run):
    """A stakeholder page shows tables, charts and sentences, never the repr of a value a cell
    happened to return (a dict of figures, a list, a DataFrame's text): every ``execute_result``
    of the executed notebooks is rich output (HTML or an image), not plain text alone."""
    for stem in _notebooks(real_run):
        nb = nbformat.read(real_run / f"{stem}.ipynb", as_version=4)
        raw = [(i, o["data"]["text/plain"][:80]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
               for o in c.get("outputs", []) if o.get("output_type") == "execute_result"
               and set(o.get("data", {})) <= {"text/plain"}]
        assert raw == [], f"{stem}: a cell's return value is printed on the page: {raw[:2]}"


def test_html_has_no_code_and_no_errors(real_run):
    for stem in _notebooks(real_run):
        page = (real_run / f"{stem}.html").read_text(encoding="utf-8")
        assert "input_area" not in page and "jp-InputArea" not in page, stem
        assert "Traceback" not in page and "ename" not in page, stem
        src = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
        code_lines = {ln.strip() for c in src.cells if c.cell_type == "code" for ln in c.source.splitlines()
                      if len(ln.strip()) >= 30 and not ln.strip().startswith("#")}
        leaked = [ln for ln in code_lines if ln in page or html.escape(ln) in page]
        assert leaked == [], f"{stem}: code visible in HTML: {leaked[:3]}"


def test_html_title_parameters_images(real_run):
    for stem in _notebooks(real_run):
        page = (real_run / f"{stem}.html").read_text(encoding="utf-8")
        src = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
        title = render.notebook_title(src, stem)
        assert f"<title>{html.escape(title)} — {MONTH}</title>" in page, stem
        cells = parse_html(page).cells
        assert "analysis_date" in cells and "1998-06-30" in cells, stem  # parameters table
        executed = nbformat.read(real_run / f"{stem}.ipynb", as_version=4)
        pngs = sum("image/png" in o.get("data", {}) for c in executed.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
        assert page.count("data:image/png;base64,") >= pngs, stem
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), stem
        assert "<script" not in page.lower(), stem
    rfm = next(p for p in real_run.glob("02_*.html"))
    assert "data:image/png;base64," in rfm.read_text(encoding="utf-8")  # the RFM report has plots


def test_summary_headline_and_metadata(real_run):
    s = json.loads((real_run / "summary.json").read_text(encoding="utf-8"))
    assert s["headline"], "no headline figures recorded"
    assert all({"value", "label"} <= set(v) for v in s["headline"].values())
    # independent check of one figure: customers with a paid order up to the analysis date,
    # counted straight from the raw bundled file
    raw = datasets.read_cdnow_raw()
    paid = raw[(raw["dollar_value"] > 0) & (raw["date"].astype(str) <= "19980630")]
    assert s["headline"]["customers"]["value"] == paid["customer_id"].nunique()
    run = s["run"]
    assert run["analysis_date"] == "1998-06-30" and run["status"] == "ok"
    assert all(n["status"] == "ok" and n["duration_s"] > 0 for n in run["notebooks"])
    assert run["duration_s"] > 0 and run["started_at"] <= run["finished_at"]


def test_executive_figures_of_the_real_run(real_run):
    """The summary's figures, checked against the raw bundled file; analyst and campaign figures
    kept for machines outside the headline section; the export files it names exist."""
    s = json.loads((real_run / "summary.json").read_text(encoding="utf-8"))
    month = s["executive"]["month"]["value"]
    raw = datasets.read_cdnow_raw()
    raw = raw[raw["dollar_value"] > 0]
    for name, start, end in (("current", 19980601, 19980630), ("previous", 19980501, 19980531),
                             ("year_ago", 19970601, 19970630)):
        inside = raw[raw["date"].between(start, end)]
        got = month["periods"][name]
        assert got["revenue"] == pytest.approx(inside["dollar_value"].sum(), abs=0.01), name
        assert got["orders"] == len(inside.groupby(["customer_id", "date"])), name
        assert got["covered"], name
    segments = s["executive"]["segments"]["value"]
    assert segments["previous_month"] == "1998-05"
    assert sum(r["customers"] for r in segments["segments"]) == month["periods"]["current"]["customers"]
    assert s["headline"]["customers"]["value"] == month["periods"]["current"]["customers"]
    assert {"rows_in", "rows_kept", "rows_invalid"} <= set(s["accounting"])
    assert "segmentation_ari_quantile_kmeans" in s["analyst"] and "value_backtest_error" in s["analyst"]
    assert s["campaign"]["demo"]["value"] is True and s["campaigns"]["evaluated"][0]["demo"] is True
    assert s["campaign"]["campaign_demo_verdict"]["demo"] is True  # labelled and tagged as a demonstration
    assert not any(k.startswith(("ab_", "rows_", "segmentation_")) for k in s["headline"])
    files = {**s["exports"]["mailing_lists"]["value"], "migration": s["exports"]["migration_list"]["value"]}
    assert all((real_run / "exports" / f).is_file() for f in files.values()), files
    page = (real_run / "index.html").read_text(encoding="utf-8")
    assert "simulated demonstration campaign" in page


def test_manifest_names_data_code_and_packages(real_run):
    """The manifest of a real run, checked against independent readings of the same facts."""
    import hashlib
    import importlib.metadata as md

    s = json.loads((real_run / "summary.json").read_text(encoding="utf-8"))
    data = s["manifest"]["data"]
    assert data["rows_read"] == len(datasets.read_cdnow_raw())  # what the loader read: every line of the file
    assert data["sha256"] == hashlib.sha256(datasets.cdnow_path().read_bytes()).hexdigest()
    assert s["manifest"]["packages"]["pandas"] == md.version("pandas")
    assert s["manifest"]["parameters"]["currency"] == "USD" == s["run"]["currency"]
    for page in real_run.glob("*.html"):
        footer = page.read_text(encoding="utf-8").split("<footer>", 1)[1]
        assert data["sha256"] in footer and "69,659 rows read" in footer, page.name


def test_month_and_reports_index(real_run):
    month_links = parse_html((real_run / "index.html").read_text(encoding="utf-8")).links
    for stem in _notebooks(real_run):
        assert f"{stem}.html" in month_links
    top = parse_html((real_run.parent / "index.html").read_text(encoding="utf-8")).links
    assert f"{MONTH}/index.html" in top


def test_no_customer_level_data_in_html(real_run):
    exported: set[str] = set()
    for f in (real_run / "exports").glob("*.csv"):
        text = f.read_text(encoding="utf-8-sig")
        first = text.splitlines()[0].split(",")
        if "customer_id" in first:
            col = first.index("customer_id")
            exported |= {ln.split(",")[col] for ln in text.splitlines()[1:] if ln}
    raw_ids = set(datasets.read_cdnow_raw()["customer_id"].astype(str))
    # zero-padded ids ("00042") can never be a count or an amount, so any match is an id
    ids = {i for i in exported | raw_ids if i.startswith("0")}
    assert len(ids) > 5000
    for page in real_run.glob("*.html"):
        shown = set(parse_html(page.read_text(encoding="utf-8")).cells)
        assert not (shown & ids), f"{page.name} shows customer ids: {sorted(shown & ids)[:5]}"


def test_no_secrets_in_any_output(real_run):
    _assert_no_secrets(real_run.parent)


def test_rerun_replaces_month_atomically(real_run, tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(real_run.parent, reports)
    subset = tmp_path / "nb"
    first = make_notebook(subset / "01_tiny.ipynb", "Tiny", ["x = 1"])  # any notebook set will do
    old_inode = (reports / MONTH).stat().st_ino
    out = report_run.run_month(MONTH, reports_dir=reports, notebooks_dir=subset, progress=False)
    assert out.stat().st_ino != old_inode  # a new folder was swapped in, not edited in place
    assert sorted(p.name for p in out.glob("*.html")) == sorted(["index.html", f"{first.stem}.html"])
    assert [p.name for p in reports.iterdir() if p.name.startswith((".tmp-", ".old-", ".failed-"))] == []
    assert f"{MONTH}/index.html" in parse_html((reports / "index.html").read_text(encoding="utf-8")).links


# --------------------------------------------------------------------------- hostile data


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """Real notebooks 01 and 02 on a SQL source whose channel names and customer ids carry a
    script tag and whose URL carries a password."""
    base = tmp_path_factory.mktemp("hostile")
    db = base / "shop.db"
    con = sqlite3.connect(db)
    con.execute("create table orders (client text, day text, total real, channel text)")
    rows = []
    for i in range(240):
        cust = f"0{i:04d}" if i % 3 else f"{XSS}{i:03d}"
        for k in range(1 + i % 4):
            rows.append((cust, f"1998-{1 + (i + k) % 6:02d}-{1 + (i * 7 + k) % 28:02d}", 10.0 + (i * 13 + k) % 90,
                         [XSS, "web", "Shop & Co"][(i + k) % 3]))
    con.executemany("insert into orders values (?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    cfg = base / "shop.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "hostile shop", "format": "sql",
        "sql": {"query": "select client, day, total, channel from orders", "url_env": "RFM_DB_URL"},
        "columns": {"customer_id": "client", "order_date": "day", "amount": "total", "channel": "channel"},
    }), encoding="utf-8")
    nbs = base / "nb"
    nbs.mkdir()
    for prefix in ("01_", "02_"):
        for p in NOTEBOOKS.glob(f"{prefix}*.ipynb"):
            shutil.copy(p, nbs / p.name)
    ids = {r[0] for r in rows}
    with _SecretEnv(RFM_DB_URL=f"sqlite:///{db}?password={SECRET}", SHOP_API_TOKEN=ENV_SECRET):
        out = report_run.run_month(MONTH, reports_dir=base / "reports", notebooks_dir=nbs,
                               source_config=str(cfg), progress=False)
    return out, ids


def test_hostile_text_is_escaped(hostile_run):
    out, _ = hostile_run
    pages = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.html")}
    assert pages
    for name, page in pages.items():
        assert XSS not in page, f"raw script tag in {name}"
        assert "<script" not in page.lower(), name
    rfm = next(v for k, v in pages.items() if k.startswith("02_"))
    assert html.escape(XSS) in rfm  # the channel named <script>... is shown, as text


def test_sql_source_manifest_has_no_file_hash_but_the_rows_read(hostile_run):
    out, _ = hostile_run
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))["manifest"]["data"]
    con = sqlite3.connect(out.parent.parent / "shop.db")
    (n,) = con.execute("select count(*) from orders").fetchone()
    con.close()
    assert data["kind"] == "sql" and data["sha256"] is None and data["note"] == "sql_no_file"
    assert data["rows_read"] == n
    footer = (out / "index.html").read_text(encoding="utf-8").split("<footer>", 1)[1]
    assert "SQL source: no file to hash" in footer and f"{n:,} rows read" in footer


def test_hostile_run_leaks_no_secret_and_no_ids(hostile_run):
    out, ids = hostile_run
    _assert_no_secrets(out.parent)
    for page in out.glob("*.html"):
        shown = set(parse_html(page.read_text(encoding="utf-8")).cells)
        assert not (shown & ids), f"{page.name} shows customer ids: {sorted(shown & ids)[:5]}"
    nb_text = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.ipynb"))
    assert "source_config" in nb_text and "sqlite:///" not in nb_text  # the URL never became a parameter


def test_real_pages_in_headless_browser(real_run, tmp_path):
    """Every page of the real run, opened in headless Chromium: no external request, no console
    error, no broken image; screenshots go to test-artifacts/ for a person to look at."""
    from test_browser import ARTIFACTS, Browser, _chromium, check_summary, visit

    if _chromium() is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    browser = Browser(tmp_path / "profile")
    try:
        pages = sorted(real_run.glob("*.html")) + [real_run.parent / "index.html"]
        for page in pages:
            name = "reports-index" if page.parent != real_run else f"e2e-{MONTH}-{page.stem}"
            result = visit(browser, page.as_uri(), ARTIFACTS / f"{name}.png")
            external = [u for u in result["requests"] if not u.startswith(("file://", "data:"))]
            assert external == [], f"{page.name}: {external}"
            assert result["console_errors"] == [] and result["exceptions"] == [], page.name
            assert result["brokenImages"] == 0 and result["scripts"] == 0, page.name
            assert result["width"] <= 1300, f"{page.name} scrolls sideways ({result['width']} px)"
            if page == real_run / "index.html":  # the English executive summary, as a reader sees it
                s = check_summary(result, language="en", month_title="June 1998 at a glance", previous="May 1998")
                assert "$" in s["kpis"][2]["value"] and "a year earlier (June 1997)" in s["kpis"][2]["deltas"][1]["text"]
                assert any(h.endswith(".csv") for h in s["links"]), "no action links an export file"
                for analyst in ("adjusted Rand", "CUPED", "Rows read", "p-value"):
                    assert analyst not in s["text"], analyst
    finally:
        browser.close()


def _outputs(month_dir: Path) -> dict[str, list]:
    """Every code cell's outputs of every executed notebook (the reports folder's path removed)."""
    out = {}
    for path in sorted(month_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = []
        for c in nb.cells:
            if c.cell_type != "code":
                continue
            shown = []
            for o in c.get("outputs", []):
                o = dict(o)
                o.pop("metadata", None)
                o.pop("execution_count", None)
                shown.append(json.dumps(o, sort_keys=True).replace(str(month_dir.parent), "<reports>"))
            cells.append(shown)
        out[path.stem] = cells
    return out


def _listing_free(text: str) -> str:
    """README.txt / .files.json without the times the files were written."""
    return "\n".join(ln for ln in text.splitlines() if "written_at" not in ln and "Written" not in ln
                     and "Записан" not in ln)


def test_one_notebook_at_a_time_gives_the_same_report(real_run, tmp_path, monkeypatch):
    """Notebooks 03-06 run three at a time (rfm_helpers.report.schedule) in kernels forked from the
    fork server (rfm_helpers.report.forkserver); run one at a time, each in a new interpreter,
    the report is the same: the summary (figures and their order), every export file byte for
    byte, every output of every notebook (tables, sentences, charts)."""
    monkeypatch.setenv("RFM_REPORT_JOBS", "1")
    monkeypatch.setenv("RFM_FORK_KERNELS", "0")
    alone = report_run.run_month(MONTH, reports_dir=tmp_path / "reports", progress=False)
    a, b = (json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in (real_run, alone))
    for s in (a, b):
        s.pop("run"), s.pop("manifest")
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?")  # when a campaign was evaluated
    assert stamp.sub("<time>", json.dumps(a)) == stamp.sub("<time>", json.dumps(b))  # same figures, same order
    files = sorted(p.relative_to(real_run / "exports").as_posix() for p in (real_run / "exports").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(alone / "exports").as_posix() for p in (alone / "exports").rglob("*") if p.is_file())
    for name in files:
        x, y = (d / "exports" / name for d in (real_run, alone))
        if name in ("README.txt", ".files.json"):
            assert _listing_free(x.read_text(encoding="utf-8")) == _listing_free(y.read_text(encoding="utf-8")), name
        elif name.endswith(".xlsx"):  # a zip package: its parts carry the time it was made
            import zipfile
            with zipfile.ZipFile(x) as zx, zipfile.ZipFile(y) as zy:
                parts = [n for n in zx.namelist() if n != "docProps/core.xml"]
                assert parts == [n for n in zy.namelist() if n != "docProps/core.xml"], name
                written = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d{4}")  # the About sheet's "Written"
                assert all(written.sub(b"", zx.read(n)) == written.sub(b"", zy.read(n)) for n in parts), name
        else:
            assert x.read_bytes() == y.read_bytes(), name
    assert _outputs(real_run) == _outputs(alone)
