"""Campaign pages of the monthly run and the demonstration label.

The simulated campaign runs on the bundled sample only, and wherever it appears (its page, the
month page, its labelled figures in ``summary.json``) it says it is a demonstration; with nothing
registered on a shop's own data there is no demonstration and the page says how to register a
campaign. The slow test renders a month with a registered campaign through the runner."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rfm_helpers.campaigns import RunContext, evaluate_month
from rfm_helpers.report.i18n import translator
from rfm_helpers.report.render import month_index_html
from rfm_helpers.report.texts import campaign_registry as registry_texts
from rfm_helpers.report.texts import campaigns as texts
from rfm_helpers.rfm import compute_scored_rfm
from runner_fixtures import parse_html

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    from rfm_helpers.pipeline import prepare

    return prepare(analysis_date="1998-03-31", run_dir=tmp_path_factory.mktemp("run"))


def test_no_demonstration_on_a_shops_own_data_and_how_to_register(bundled, tmp_path):
    ctx = RunContext(bundled.transactions, bundled.as_of, bundled.rfm, source=None)  # not the bundled sample
    month = evaluate_month(ctx, tmp_path)
    assert month.results == [] and month.registered == [] and month.demo is None
    t = translator("en")
    (template, values), = registry_texts.registry_sentences(t, month.registered, demo=False)
    text = template.format(**values)
    assert text.startswith("<b>No campaign is registered.</b>")
    assert "rfm-report campaign create" in text and "rfm-report campaign register" in text


def test_the_demonstration_is_labelled_everywhere(bundled, tmp_path):
    ctx = RunContext(bundled.transactions, bundled.as_of, bundled.rfm, source=bundled.source)
    month = evaluate_month(ctx, tmp_path)
    demo = month.demo
    assert demo is not None and demo["campaign"]["demo"] is True and demo["truth"]["effects"]["treatment"]
    for language, word in (("en", "Demonstration"), ("ru", "Демонстрац")):
        t = translator(language)
        assert texts.campaign_title(t, demo).startswith(word)
        sentence = texts.demo_sentences(t, demo)[0]
        assert word in sentence[0]
        for _, _, label, _ in registry_texts.summary_figures(t, demo):
            assert label.startswith(word)
        assert any(word in tpl for tpl, _ in texts.money_sentences(t, demo))
    from rfm_helpers.report import campaign_pages

    section = campaign_pages.publish(month, tmp_path, translator("en"))
    assert section["evaluated"][0]["demo"] is True and section["demo"] is True
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    heads = [v for k, v in summary["campaign"].items() if k.startswith("campaign_demo")]
    assert summary["campaign"]["demo"]["value"] is True and not any(k.startswith("campaign") for k in summary.get("headline", {}))
    assert len(heads) == 2 and all(v["demo"] is True and v["label"].startswith("Demonstration") for v in heads)
    page = month_index_html({**summary, "run": {"month": "1998-03", "language": "en", "currency": "USD"}})
    assert "Demonstration: simulated, not a real result" in page and 'href="campaign-demo.html"' in page
    # the demonstration recovers the effect it was given
    truth = demo["truth"]["effects"]["treatment"]
    rev = demo["report"]["overall"]["revenue"][0]
    conv = demo["report"]["overall"]["converted"][0]
    assert rev["ci_low"] <= truth["revenue"] <= rev["ci_high"] and conv["ci_low"] <= truth["conversion"] <= conv["ci_high"]


@pytest.mark.slow
@pytest.mark.slow  # a real monthly run of two notebooks and two pages (about 40 s)
def test_monthly_run_renders_one_page_per_campaign(bundled, tmp_path):
    from rfm_helpers.campaigns.create import create_campaign
    from rfm_helpers.report.run import run_month

    tx = bundled.transactions
    rfm0 = compute_scored_rfm(tx[tx["order_date"] <= "1998-01-04"], "1998-01-04")
    reports = tmp_path / "reports"
    create_campaign(rfm=rfm0, as_of=dt.date(1998, 1, 4), reports_dir=reports, name="Nothing sent",
                    segments=["hibernating", "lost"], channel="email", send_date=dt.date(1998, 1, 5),
                    outcome_window_days=60, control_share=0.5, seed=1, primary_metric="revenue", min_effect=1.0)
    nbs = tmp_path / "nb"
    nbs.mkdir()
    for name in ("04_campaign_ab_test.ipynb", "campaign_page.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, nbs / name)
    out = run_month("1998-03", reports_dir=reports, notebooks_dir=nbs, progress=False)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    pages = {p["id"]: p for p in summary["run"]["campaign_pages"]}
    assert set(pages) == {"demo", "1998-01-05-nothing-sent"}
    assert pages["demo"]["demo"] is True and pages["1998-01-05-nothing-sent"]["demo"] is False
    evaluated = {e["id"]: e for e in summary["campaigns"]["evaluated"]}
    real = evaluated["1998-01-05-nothing-sent"]
    # nothing was really sent: the test finds no effect worth acting on
    assert real["verdict"] in ("do_not_roll_out", "inconclusive") and real["demo"] is False
    page = (out / "campaign-1998-01-05-nothing-sent.html").read_text(encoding="utf-8")
    assert "<title>Campaign “Nothing sent” — 1998-03</title>" in page
    assert "“treatment”" in page and "“control”" in page and "Demonstration" not in page
    demo_page = (out / "campaign-demo.html").read_text(encoding="utf-8")
    assert "Demonstration, not a real result." in demo_page
    month_links = parse_html((out / "index.html").read_text(encoding="utf-8")).links
    assert {"campaign-demo.html", "campaign-1998-01-05-nothing-sent.html"} <= set(month_links)
    top_links = parse_html((reports / "index.html").read_text(encoding="utf-8")).links
    assert "1998-03/campaign-1998-01-05-nothing-sent.html" in top_links
    # customer ids never reach a page (five-digit CDNOW ids with leading zeros)
    ids = set(pd.read_csv(reports / "campaigns" / "1998-01-05-nothing-sent" / "assignment.csv", dtype=str,
                          encoding="utf-8-sig")["customer_id"])
    for html in out.glob("*.html"):
        cells = set(parse_html(html.read_text(encoding="utf-8")).cells)
        assert not cells & ids, html.name
        assert not re.search(r"\b0\d{4}\b", re.sub(r"<[^>]+>", " ", html.read_text(encoding="utf-8"))
                             .split("<footer>")[0]), html.name
