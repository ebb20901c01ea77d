"""The monthly report runner on tiny fixture notebooks: outputs, parameters, HTML safety,
secrets, index, CLI. Real-notebook runs live in test_e2e_report.py."""
from __future__ import annotations

import calendar
import datetime as dt
import json
import re

import nbformat
import papermill
import pytest
from hypothesis import given, strategies as st

from rfm_helpers import params, redaction
from rfm_helpers.report import cli, execute, render, templating
from rfm_helpers.report import run as report_run
from rfm_helpers.report.i18n import translator
from rfm_helpers.report.index import build_index, collect_runs
from runner_fixtures import basic_set, make_notebook, parse_html

# --------------------------------------------------------------------------- pure helpers


@given(st.integers(1900, 2100), st.integers(1, 12))
def test_month_end_is_last_day(year, month):
    end = params.month_end(f"{year:04d}-{month:02d}")
    assert (end + dt.timedelta(days=1)).day == 1
    assert end.day == calendar.monthrange(year, month)[1]


@given(st.integers(1990, 2030), st.integers(1, 12), st.integers(0, 40))
def test_months_between_consecutive(year, month, span):
    start = dt.date(year, month, 1)
    y, m = divmod(month - 1 + span, 12)
    end = f"{year + y:04d}-{m + 1:02d}"
    months = params.months_between(start.strftime("%Y-%m"), end)
    assert len(months) == span + 1
    assert months[0] == start.strftime("%Y-%m") and months[-1] == end
    for a, b in zip(months, months[1:]):  # each is the day after the previous month's end
        assert params.month_end(a) + dt.timedelta(days=1) == dt.date.fromisoformat(b + "-01")


@pytest.mark.parametrize("bad", ["1998-13", "1998-6", "98-06", "1998/06", "", "1998-00"])
def test_parse_month_rejects(bad):
    with pytest.raises(ValueError):
        params.parse_month(bad)


def test_parse_params_types():
    got = params.parse_params(["n=5", "share=0.25", "flag=true", "name=spring sale", "day=2024-01-31"])
    assert got == {"n": 5, "share": 0.25, "flag": True, "name": "spring sale", "day": "2024-01-31"}
    with pytest.raises(ValueError):
        params.parse_params(["novalue"])
    with pytest.raises(ValueError):
        params.parse_params(["not-an-identifier=1"])


def test_declared_parameters_agree_with_papermill(tmp_path):
    # papermill's own inspection as the independent reference (on lines it can parse)
    p = make_notebook(tmp_path / "01_x.ipynb", "X", ["pass"],
                      parameters="analysis_date = '1998-06-30'\nwindow_days = 0\nthreshold: int = 3\n")
    assert execute.declared_parameters(p) == set(papermill.inspect_notebook(str(p)))
    # ... and ours also reads lines whose comments contain quotes (papermill drops those)
    q = make_notebook(tmp_path / "02_y.ipynb", "Y", ["pass"],
                      parameters='source_config = ""   # "" = bundled sample\nlanguage = "en"  # "en" or "ru"\n')
    assert execute.declared_parameters(q) == {"source_config", "language"}
    assert execute.declared_parameters(make_notebook(tmp_path / "03_z.ipynb", "Z", ["pass"], parameters=None)) == set()


def test_discover_notebooks_name_order(tmp_path):
    for name in ["10_last", "02_b", "01_a", "scratch", "1_bad"]:
        make_notebook(tmp_path / f"{name}.ipynb", name, ["pass"])
    assert [p.name for p in execute.discover_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_last.ipynb"]


def test_secret_values_and_redact():
    env = {"RFM_DB_URL": "postgresql://analyst:pa55word@db.local/shop", "HOME": "/root",
           "SHOP_API_TOKEN": "tok-123456789", "OTHER": "sqlite:///x.db?password=S3CRET-TOKEN-xyz",
           "SHORT_KEY": "abc"}
    vals = redaction.secret_values(env)
    assert "pa55word" in vals and "tok-123456789" in vals and "S3CRET-TOKEN-xyz" in vals
    assert "/root" not in vals and "abc" not in vals
    text, n = redaction.redact("conn postgresql://analyst:pa55word@db.local/shop and S3CRET-TOKEN-xyz", vals)
    assert n == 2 and "pa55word" not in text and "S3CRET" not in text


@pytest.mark.parametrize("params", [
    {"db_password": "x"},
    {"source_config": "postgresql://analyst:pa55word@db.local/shop"},
    {"note": "sqlite:///x.db?password=hunter22"},
])
def test_unsafe_parameters_refused(params):
    with pytest.raises(ValueError):
        redaction.check_parameters_safe(params, environ={})


def test_parameter_equal_to_secret_env_refused():
    with pytest.raises(ValueError, match="secret environment variable"):
        redaction.check_parameters_safe({"campaign": "x-tok-123456789-y"}, environ={"SHOP_TOKEN": "tok-123456789"})


def test_format_value():
    assert templating.format_value(23570) == "23,570"
    assert templating.format_value(12345.678) == "12,346"
    assert templating.format_value(0.25) == "0.25"
    assert templating.format_value(None) == ""
    assert templating.format_value(3.2e-20) == "3.2e-20"  # a tiny p-value is not shown as 0
    assert templating.format_value(0.0042) == "0.004"
    assert templating.format_value(0.0) == "0"
    assert templating.format_value(0.6771, "pct") == "67.7%"
    assert templating.format_value(2500316.4, "money") == "$2,500,316"  # money carries the run's currency
    assert templating.format_value(1.5948, "money") == "$1.59"  # cents below 100
    assert templating.format_value(3.2e-20, "pvalue") == "< 0.001"
    assert templating.format_value(0.0421, "pvalue") == "0.042"
    assert templating.format_value("Loyal", "pct") == "Loyal"


def test_headline_uses_recorded_format(tmp_path):
    from rfm_helpers.report import summary
    summary.record("share", 0.5, "Share", run_dir=tmp_path, fmt="pct")
    summary.record("n", 3, "N", run_dir=tmp_path)
    assert templating.headline(summary.load(tmp_path)) == [("Share", "50.0%"), ("N", "3")]
    with pytest.raises(ValueError, match="fmt"):
        summary.record("x", 1, run_dir=tmp_path, fmt="percent")


# --------------------------------------------------------------------------- a real run of fixtures


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    nbs = basic_set(base / "notebooks")
    out = report_run.run_month("1998-06", reports_dir=base / "reports", notebooks_dir=nbs,
                           extra_params={"threshold": 7}, progress=False)
    return out


def test_run_writes_everything(fixture_run):
    d = fixture_run
    assert d.name == "1998-06"
    for stem in ["01_overview", "02_small"]:
        assert (d / f"{stem}.ipynb").exists() and (d / f"{stem}.html").exists()
    assert (d / "index.html").exists() and (d / "summary.json").exists()
    leftovers = [p.name for p in d.parent.iterdir() if p.name.startswith((".tmp-", ".old-", ".failed-"))]
    assert leftovers == []


def test_html_hides_code_and_is_self_contained(fixture_run):
    page = (fixture_run / "01_overview.html").read_text(encoding="utf-8")
    assert "summary.record" not in page and "plt.subplots" not in page  # no code input
    assert "In&nbsp;[" not in page and "In [" not in page  # no prompts
    assert "<title>Overview of customers — 1998-06</title>" in page
    assert "What this report shows, in plain words." in page  # narrative kept
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page)
    tags = parse_html(page).tags
    assert not [t for t, _ in tags if t == "script"]  # no scripts at all (so no CDN require.js/MathJax)
    for tag, attrs in tags:
        for attr in ("src", "href"):
            v = attrs.get(attr) or ""
            assert not re.match(r"(?i)(https?:)?//", v), f"external {attr} on <{tag}>: {v}"
    assert "Traceback" not in page


def test_html_shows_parameters(fixture_run):
    cells = parse_html((fixture_run / "01_overview.html").read_text(encoding="utf-8")).cells
    pairs = dict(zip(cells[0::2], cells[1::2]))
    assert pairs["analysis_date"] == "1998-06-30"
    assert pairs["language"] == "en"
    small = parse_html((fixture_run / "02_small.html").read_text(encoding="utf-8")).cells
    assert dict(zip(small[0::2], small[1::2]))["threshold"] == "7"


def test_data_text_is_escaped(fixture_run):
    page = (fixture_run / "01_overview.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" in parse_html(page).cells  # rendered as text in the table
    assert "shop &amp; co" in page


def test_only_declared_parameters_are_passed(fixture_run):
    nb = nbformat.read(fixture_run / "02_small.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    names = set(re.findall(r"^(\w+) = ", injected[0].source, flags=re.M))
    assert names == {"analysis_date", "threshold"}
    full = nbformat.read(fixture_run / "01_overview.ipynb", as_version=4)
    inj = [c for c in full.cells if "injected-parameters" in c.metadata.get("tags", [])][0].source
    assert set(re.findall(r"^(\w+) = ", inj, flags=re.M)) == set(params.STANDARD_PARAMETERS)
    assert ".tmp-" not in (fixture_run / "01_overview.ipynb").read_text(encoding="utf-8")  # final path only
    assert str(fixture_run) in inj


def test_summary_has_headline_and_metadata(fixture_run):
    s = json.loads((fixture_run / "summary.json").read_text(encoding="utf-8"))
    assert s["headline"]["customers"] == {"value": 174, "label": "Customers"}
    run = s["run"]
    assert run["month"] == "1998-06" and run["analysis_date"] == "1998-06-30" and run["status"] == "ok"
    start, end = dt.datetime.fromisoformat(run["started_at"]), dt.datetime.fromisoformat(run["finished_at"])
    assert start <= end and run["duration_s"] >= 0
    assert [n["name"] for n in run["notebooks"]] == ["01_overview.ipynb", "02_small.ipynb"]
    assert all(n["status"] == "ok" for n in run["notebooks"])
    from rfm_helpers import __version__
    assert run["package_version"] == __version__


def test_month_index_links_notebooks(fixture_run):
    page = (fixture_run / "index.html").read_text(encoding="utf-8")
    hrefs = [a.get("href") for t, a in parse_html(page).tags if t == "a"]
    assert "01_overview.html" in hrefs and "02_small.html" in hrefs and "../index.html" in hrefs
    assert "$12,346" in page and "Customers" in page  # headline figures shown, money with its currency


def test_reports_index_lists_run(fixture_run):
    page = (fixture_run.parent / "index.html").read_text(encoding="utf-8")
    hrefs = [a.get("href") for t, a in parse_html(page).tags if t == "a"]
    assert "1998-06/index.html" in hrefs and "1998-06/01_overview.html" in hrefs
    assert "174" in page


def test_index_newest_first_and_escaped(tmp_path):
    for month, label in [("1997-03", "Old <b>run</b>"), ("1998-06", "New"), ("1997-12", "Mid")]:
        d = tmp_path / month
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({"headline": {"k": {"value": 1, "label": label}},
                                                    "run": {"month": month, "notebooks": []}}))
    (tmp_path / ".failed-1998-07").mkdir()  # never listed
    (tmp_path / "1998-05").mkdir()  # listed, flagged: no summary
    assert [r["month"] for r in collect_runs(tmp_path)] == ["1998-06", "1998-05", "1997-12", "1997-03"]
    page = build_index(tmp_path).read_text(encoding="utf-8")
    assert page.index("1998-06") < page.index("1997-12") < page.index("1997-03")
    assert "Old &lt;b&gt;run&lt;/b&gt;" in page and "1998-07" not in page
    assert "summary.json missing" in page


def test_index_shows_first_figures_and_links_the_rest(tmp_path):
    from rfm_helpers.report.index import MAX_FIGURES
    d = tmp_path / "1998-06"
    d.mkdir()
    (d / "index.html").write_text("x")
    figs = {f"k{i}": {"value": i, "label": f"Figure number {i}"} for i in range(MAX_FIGURES + 3)}
    (d / "summary.json").write_text(json.dumps({"headline": figs, "run": {"notebooks": []}}))
    page = build_index(tmp_path).read_text(encoding="utf-8")
    assert f"Figure number {MAX_FIGURES - 1}" in page and f"Figure number {MAX_FIGURES}" not in page
    assert "3 more on the month page" in page


def test_cli_range_and_failure_exit(tmp_path, capsys):
    nbs = tmp_path / "nb"
    make_notebook(nbs / "01_only.ipynb", "Only",
                  ["from rfm_helpers.report import summary\nsummary.record('month_end', analysis_date, 'Month end')\n"
                   "assert analysis_date != '1998-02-28', 'bad month'"])
    rc = cli.main(["run", "--from", "1998-02", "--to", "1998-03", "--reports-dir", str(tmp_path / "r"),
                   "--notebooks-dir", str(nbs), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1  # one month failed ...
    assert "1998-02" in err and "01_only.ipynb" in err and "AssertionError: bad month" in err
    months = sorted(p.name for p in (tmp_path / "r").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert months == ["1998-03"]  # ... the next month was still rendered (continue on failure)
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "1998-03/index.html" in page and "1998-03-31" in page and "1998-02/" not in page


def test_cli_bad_arguments(tmp_path):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--month", "1998-13"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--from", "1998-01"])
    assert e.value.code == 2
    rc = cli.main(["run", "--month", "1998-06", "--notebooks-dir", str(tmp_path), "--reports-dir",
                   str(tmp_path / "r"), "--no-progress"])
    assert rc == 2  # no notebooks found


def test_cli_refuses_credentials(tmp_path, capsys):
    basic_set(tmp_path / "nb")
    rc = cli.main(["run", "--month", "1998-06", "--notebooks-dir", str(tmp_path / "nb"), "--reports-dir",
                   str(tmp_path / "r"), "--source-config", "postgresql://u:pa55word@db/shop", "--no-progress"])
    assert rc == 2 and "credentials" in capsys.readouterr().err
    assert not (tmp_path / "r" / "1998-06").exists()


def test_secrets_never_reach_outputs(tmp_path, monkeypatch):
    """A notebook that (wrongly) prints the connection string and an env secret: every file of
    the published run is scrubbed; the loader's env var is still readable by the kernel."""
    db = tmp_path / "shop.db"
    monkeypatch.setenv("RFM_DB_URL", f"sqlite:///{db}?password=S3CRET-TOKEN-xyz")
    monkeypatch.setenv("SHOP_API_TOKEN", "fake-env-secret-4242")
    nbs = tmp_path / "nb"
    make_notebook(nbs / "01_leaky.ipynb", "Leaky", [
        "import os\nprint('connecting to', os.environ['RFM_DB_URL'])\n"
        "from rfm_helpers.report import display, summary\n"
        "display.say('token {t}', t=os.environ['SHOP_API_TOKEN'])\n"
        "summary.record('conn', os.environ['RFM_DB_URL'], 'Connection')\n"
        "open(os.path.join(run_dir, 'exports.csv'), 'w').write('x,' + os.environ['SHOP_API_TOKEN'])\n"
        "assert os.environ['RFM_DB_URL'].endswith('S3CRET-TOKEN-xyz')"])
    out = report_run.run_month("1998-06", reports_dir=tmp_path / "r", notebooks_dir=nbs, progress=False)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert len(files) >= 5
    for p in files:
        data = p.read_bytes()
        assert b"S3CRET-TOKEN-xyz" not in data, p
        assert b"fake-env-secret-4242" not in data, p
    assert redaction.REDACTED in (out / "01_leaky.html").read_text(encoding="utf-8")


def test_missing_source_config_fails_before_running(tmp_path, capsys):
    basic_set(tmp_path / "nb")
    rc = cli.main(["run", "--month", "1998-06", "--notebooks-dir", str(tmp_path / "nb"), "--reports-dir",
                   str(tmp_path / "r"), "--source-config", str(tmp_path / "nope.yaml"), "--no-progress"])
    assert rc == 2 and "nope.yaml" in capsys.readouterr().err
    assert not (tmp_path / "r" / "1998-06").exists()


def test_month_index_in_russian():
    page = render.month_index_html({"headline": {"c": {"value": 23502, "label": "Клиенты"}},
                                    "run": {"month": "1998-06", "language": "ru", "analysis_date": "1998-06-30",
                                            "notebooks": [{"title": "RFM <анализ>", "html": "02_rfm.html",
                                                           "status": "ok", "duration_s": 1.0}]}})
    assert '<html lang="ru">' in page and "Ежемесячный RFM-отчёт" in page
    assert "RFM &lt;анализ&gt;" in page and "23\u00a0502" in page and "Клиенты" in page


def test_cli_index_command(tmp_path, capsys):
    assert cli.main(["index", "--reports-dir", str(tmp_path)]) == 0
    assert "No reports yet." in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_bad_analysis_date_refused(tmp_path):
    basic_set(tmp_path / "nb")
    rc = cli.main(["run", "--month", "1998-06", "--analysis-date", "30.06.1998", "--notebooks-dir",
                   str(tmp_path / "nb"), "--reports-dir", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2 and not (tmp_path / "r" / "1998-06").exists()


def test_a_russian_run_executes_the_russian_set_and_never_a_stale_one(tmp_path, capsys):
    """The runner executes notebooks/ru/NN.ipynb when it is what a fresh build gives; a stale
    or missing one is replaced by a fresh translation for the run, with a warning."""
    from rfm_helpers.report.notebooks import build, language_notebook

    nbs = tmp_path / "nb"
    make_notebook(nbs / "01_overview.ipynb", "Parameters of this run", ["x = 1"])
    src = nbs / "01_overview.ipynb"
    scratch = tmp_path / "scratch"
    # no ru/ folder (a custom notebook folder): translated on the fly, silently
    path, note = language_notebook(src, "ru", scratch)
    assert path == scratch / src.name and note == ""
    assert nbformat.read(path, as_version=4).cells[0].source.startswith("# Параметры этого запуска")
    assert language_notebook(src, "en", scratch) == (src, "")
    build(nbs, ["ru"])
    committed = nbs / "ru" / src.name
    assert language_notebook(src, "ru", scratch) == (committed, "")
    # the English source changes: the committed translation is stale and is not executed
    nb = nbformat.read(src, as_version=4)
    nb.cells[-1].source = "x = 2"
    nbformat.write(nb, src)
    path, note = language_notebook(src, "ru", scratch)
    assert path == scratch / src.name and "out of date" in note and str(committed) in note
    assert nbformat.read(path, as_version=4).cells[-1].source == "x = 2"
    committed.unlink()
    assert "missing" in language_notebook(src, "ru", scratch)[1]


def test_parameter_box_speaks_the_reports_language():
    ru = dict(templating.display_params({"source_config": "", "window_days": 0, "run_dir": "/x"}, translator("ru")))
    assert ru == {"source_config": "встроенный пример CDNOW", "window_days": "0 (вся история)"}
    en = dict(templating.display_params({"source_config": "/data/shop.yaml", "window_days": 365}))
    assert en == {"source_config": "shop.yaml", "window_days": "365"}


# --------------------------------------------------------------------------- the run manifest


def test_manifest_in_summary_and_every_footer(fixture_run):
    import importlib.metadata as md
    import sys

    s = json.loads((fixture_run / "summary.json").read_text(encoding="utf-8"))
    m = s["manifest"]
    for name in ("pandas", "numpy", "duckdb", "pyarrow", "scikit-learn", "statsmodels", "papermill"):
        assert m["packages"][name] == md.version(name)  # read independently
    assert m["python"] == sys.version.split()[0]
    assert m["parameters"]["analysis_date"] == "1998-06-30" and m["parameters"]["threshold"] == 7
    data = m["data"]  # the bundled file, hashed independently here
    import hashlib
    from rfm_helpers.load import bundled as datasets
    assert data["kind"] == "file" and data["file"] == "CDNOW_master.txt"
    assert data["sha256"] == hashlib.sha256(datasets.cdnow_path().read_bytes()).hexdigest()
    assert data["rows_read"] is None and data["rows_note"] == "not_loaded"  # the fixtures load no data
    assert "_path" not in data and str(datasets.cdnow_path()) not in json.dumps(s)  # no absolute data path
    code = m["code"]
    assert set(code) >= {"commit", "dirty"}
    for page in ["index.html", "01_overview.html", "02_small.html"]:
        html_text = (fixture_run / page).read_text(encoding="utf-8")
        footer = html_text[html_text.index("<footer>"):]
        assert data["sha256"] in footer and "CDNOW_master.txt" in footer, page
        assert f"pandas {m['packages']['pandas']}" in footer and f"Python {m['python']}" in footer, page
        assert "row count unknown" in footer, page
        if code["commit"]:
            assert code["commit"][:12] in footer, page


def test_git_state_of_a_checkout(tmp_path):
    import subprocess

    from rfm_helpers.report.manifest import git_state

    assert git_state(tmp_path)["commit"] is None and git_state(tmp_path)["note"] == "not_git_checkout"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
           "HOME": str(tmp_path), "PATH": __import__("os").environ["PATH"]}
    git = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True,  # noqa: E731
                                    text=True, env=env).stdout.strip()
    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    state = git_state(tmp_path)
    assert state["commit"] == git("rev-parse", "HEAD") and state["dirty"] is False
    (tmp_path / "new_notebook.ipynb").write_text("{}")  # untracked files count: the run would use them
    assert git_state(tmp_path)["dirty"] is True


def test_sql_source_and_changed_file_in_the_manifest(tmp_path):
    from rfm_helpers.params import RunParams
    from rfm_helpers.report.manifest import data_fingerprint, finish_manifest

    sql = tmp_path / "db.yaml"
    sql.write_text("format: sql\nsql: {query: 'SELECT * FROM sales', url_env: RFM_DB_URL}\ncolumns: {}\n")
    d = data_fingerprint(RunParams.for_month("1998-06", source_config=str(sql)))
    assert d["kind"] == "sql" and d["sha256"] is None and d["note"] == "sql_no_file"
    import hashlib
    assert d["query_sha256"] == hashlib.sha256(b"SELECT * FROM sales").hexdigest()
    assert d["config"] == "db.yaml" and d["config_sha256"] == hashlib.sha256(sql.read_bytes()).hexdigest()
    csv = tmp_path / "sales.csv"
    csv.write_text("a,b\n1,2\n")
    spec = tmp_path / "shop.yaml"
    spec.write_text("path: sales.csv\ncolumns: {customer_id: a, order_date: b, amount: b}\n")
    manifest = {"data": data_fingerprint(RunParams.for_month("1998-06", source_config=str(spec))), "warnings": []}
    assert manifest["data"]["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    csv.write_text("a,b\n1,2\n3,4\n")  # the file changes while the report runs
    finish_manifest(manifest, tmp_path)
    assert manifest["warnings"] == [{"code": "data_changed", "file": "sales.csv"}]
    page = render.manifest_view({**manifest, "parameters": {"source_config": "shop.yaml"}}, translator("ru"))
    assert page["warnings"] == ["Файл данных sales.csv изменился во время расчёта отчёта: его SHA-256 может "
                                "не совпадать с тем, что прочитали блокноты."]


def test_manifest_is_redacted(tmp_path, monkeypatch):
    from rfm_helpers.redaction import REDACTED, redact_data

    manifest = {"data": {"source": "shop tok-123456789"}, "parameters": {"campaign": "tok-123456789"}}
    out = redact_data(manifest, ["tok-123456789"])
    assert out == {"data": {"source": f"shop {REDACTED}"}, "parameters": {"campaign": REDACTED}}


def test_russian_ruble_run_formats_money_with_babel(tmp_path):
    nbs = basic_set(tmp_path / "nb")
    (nbs / "02_small.ipynb").unlink()
    out = report_run.run_month("1998-06", reports_dir=tmp_path / "r", notebooks_dir=nbs, language="ru",
                               currency="RUB", progress=False)
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["run"]["currency"] == "RUB" and s["run"]["language"] == "ru"
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "12\u00a0346\u00a0₽" in page and "$" not in page  # Babel's ru_RU money format, no dollar sign
    assert "Июнь 1998" in page and "30 июня 1998\u202fг." in page
    top = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "12\u00a0346\u00a0₽" in top and "RFM-отчёты: все запуски" in top
    nb_page = (out / "01_overview.html").read_text(encoding="utf-8")
    assert "<tr><th translate=\"no\">currency</th><td>RUB</td></tr>" in nb_page and "Паспорт запуска" in nb_page
    injected = nbformat.read(out / "01_overview.ipynb", as_version=4).cells[2].source
    assert 'currency = "RUB"' in injected
