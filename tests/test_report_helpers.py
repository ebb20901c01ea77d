"""display (escaping), summary (headline figures), insights (sentences) and pipeline helpers."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfm_helpers import insights
from rfm_helpers.report import display, summary
from rfm_helpers.pipeline import resolve_source


def test_say_escapes_values_but_keeps_trusted_markup():
    html = display.say_html("Channel <b>{c}</b>", c="<script>alert(1)</script>")
    assert "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>" in html
    assert "<script>" not in html


def test_table_escapes_cells_and_headers():
    df = pd.DataFrame({"<img src=x onerror=alert(1)>": ["<script>x</script>"], "n": [1]})
    html = display.table_html(df, caption="<b>cap</b>")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;cap&lt;/b&gt;" in html


def test_table_headers_are_readable_and_long_tables_say_so():
    html = display.table_html(pd.DataFrame({"mean_recency_days": range(5)}), max_rows=2)
    assert "Mean recency days" in html and "First 2 of 5 rows" in html


def test_parameters_table_masks_secret_looking_values():
    html = display.table_html(display.parameters_frame(
        {"analysis_date": "1998-06-30", "db_password": "hunter2", "api_token": "abc"}))
    assert "hunter2" not in html and "abc" not in html and "1998-06-30" in html


def test_summary_records_to_run_dir(tmp_path):
    summary.record("customers", 10, "Customers", run_dir=tmp_path)
    summary.record("revenue", 1.5, run_dir=tmp_path)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["headline"]["customers"] == {"value": 10, "label": "Customers"}
    assert data["headline"]["revenue"]["label"] == "Revenue"
    assert summary.load(tmp_path) == data


def test_summary_uses_env_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RFM_RUN_DIR", str(tmp_path))
    summary.record("x", "é", section="other")
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))["other"]["x"]["value"] == "é"


def rfm(monetary, frequency=None, recency=None):
    n = len(monetary)
    return pd.DataFrame({
        "customer_id": [str(i) for i in range(n)],
        "recency_days": recency if recency is not None else [10] * n,
        "frequency": frequency if frequency is not None else [1] * n,
        "monetary": np.asarray(monetary, dtype=float),
    })


def test_headline_by_hand():
    h = insights.headline(rfm([100, 0, 0, 0, 0, 0, 0, 0, 0, 0], [3] + [1] * 9, [5] * 5 + [100] * 5))
    assert h.customers == 10 and h.orders == 12 and h.revenue == 100
    assert h.top20_revenue_share == 1.0
    assert h.one_order_share == 0.9
    assert h.active_90d_share == 0.5
    assert h.median_recency_days == 52.5


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_top20_share_matches_numpy_and_is_at_least_20_percent(values):
    h = insights.headline(rfm(values))
    v = np.sort(np.asarray(values))[::-1]
    k = int(np.ceil(0.2 * len(v)))
    assert h.top20_revenue_share == pytest.approx(v[:k].sum() / v.sum())
    assert h.top20_revenue_share >= k / len(v) - 1e-9


@pytest.mark.parametrize("language,word,scores", [("en", "customers", "2, 3, and 4"), ("ru", "клиентов", "2, 3 и 4")])
def test_sentences_mention_empty_scores_when_ties(language, word, scores):
    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.texts import rfm as texts

    frame = rfm([1.0] * 10, [1] * 8 + [2, 3])
    frame["f_score"] = [1] * 8 + [5, 5]
    assert insights.unused_scores(frame, "f_score") == [2, 3, 4]
    said = [tpl.format(**v) for tpl, v in texts.base_sentences(
        translator(language), insights.headline(frame), "1998-06-30", insights.unused_scores(frame, "f_score"))]
    assert any(word in s for s in said)
    assert any(scores in s for s in said)


def test_channel_table_shares_sum_to_one():
    by_channel = pd.DataFrame({"customer_id": ["a", "a", "b"], "channel": ["web", "shop", "web"],
                               "frequency": [1, 2, 3], "monetary": [10.0, 30.0, 60.0],
                               "recency_days": [1, 2, 3]})
    t = insights.channel_table(by_channel)
    assert t["revenue_share"].sum() == pytest.approx(1.0)
    assert t.set_index("channel").loc["web", "customers"] == 2


def test_resolve_source_yaml_relative_path(tmp_path):
    (tmp_path / "data.csv").write_text("x")
    cfg = tmp_path / "shop.yaml"
    cfg.write_text("format: csv\npath: data.csv\ncolumns: {customer_id: Клиент}\n", encoding="utf-8")
    spec = resolve_source(str(cfg))
    assert spec.resolved_path == (tmp_path / "data.csv").resolve()
    assert spec.name == "shop" and spec.columns.customer_id == "Клиент"
    assert resolve_source("").name.startswith("CDNOW")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        resolve_source(str(tmp_path / "nope.yaml"))


def test_prepare_loads_once_per_run_and_matches_an_uncached_load(tmp_path, monkeypatch):
    from rfm_helpers import load, pipeline
    from rfm_helpers.rfm import compute_rfm, score_quantiles

    calls = []
    real = load.load_transactions
    monkeypatch.setattr(load, "load_transactions", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = pipeline.prepare("1998-03-31", run_dir=tmp_path)
    second = pipeline.prepare("1998-03-31", run_dir=tmp_path)
    assert len(calls) == 1
    assert len(list((tmp_path / pipeline.CACHE_DIR).glob("load-*.pkl"))) == 1
    pd.testing.assert_frame_equal(first.rfm, second.rfm)
    assert second.load.rows_in == first.load.rows_in == second.load.rows_kept + second.load.rows_quarantined
    # the one-statement scored RFM equals the two-step computation
    expected = score_quantiles(compute_rfm(first.transactions, first.as_of))
    pd.testing.assert_frame_equal(first.rfm, expected)
    # another analysis date is another cache entry
    pipeline.prepare("1998-02-28", run_dir=tmp_path)
    assert len(calls) == 2


def test_project_root_is_found_from_anywhere(tmp_path, monkeypatch):
    from rfm_helpers import paths, pipeline

    monkeypatch.chdir(tmp_path)
    root = paths.project_root()
    assert (root / "pyproject.toml").exists() and (root / "notebooks").is_dir()
    assert paths.notebooks_dir() == root / "notebooks"
    assert pipeline.project_root() is not None and pipeline.project_root() == root  # still importable there


@pytest.mark.parametrize("text,expected", [
    ("$2,500,316", "$2\u00a0500\u00a0316"),
    ("14.1%", "14,1%"),
    ("+$1.59 … +$2,540.25", "+$1,59 … +$2\u00a0540,25"),
    ("1,234 руб.", "1\u00a0234 руб."),          # the abbreviation keeps its dot
    ("p = 0.003", "p = 0,003"),
])
def test_number_style_russian(text, expected):
    assert display.number_style(text, "ru") == expected
    assert display.number_style(text, "en") == text


def test_the_value_opening_a_sentence_gets_a_capital_in_each_language():
    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.texts.segment import conclusion_sentences

    found = [("agreement", {"a": "quantile", "b": "thresholds", "ari": 0.18, "level": "low"})]
    en = [tpl.format(**v) for tpl, v in conclusion_sentences(translator("en"), found)]
    ru = [tpl.format(**v) for tpl, v in conclusion_sentences(translator("ru"), found)]
    assert en[0].startswith("Quantile scores and business thresholds agree little (adjusted Rand index 0.18)")
    assert ru[0].startswith("Методы «баллы по квантилям» и «бизнес-пороги» согласуются слабо")  # quoted, not first


def test_tables_are_text_in_the_reports_locale():
    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.texts.common import frame

    df = pd.DataFrame({"customers": [4322, None], "revenue": [1316264.4, 7.5], "revenue_share": [0.526, 0.0]})
    cols = [("customers", "Customers", "int"), ("revenue", "Revenue", "money"), ("revenue_share", "Share of revenue", "pct")]
    ru = frame(translator("ru", "RUB"), df, cols)
    assert list(ru.columns) == ["Клиентов", "Выручка", "Доля выручки"]
    assert ru.iloc[0].tolist() == ["4\u00a0322", "1\u00a0316\u00a0264\u00a0₽", "52,6\u00a0%"]
    assert ru.iloc[1].tolist() == ["", "7,50\u00a0₽", "0,0\u00a0%"]
    en = frame(translator("en", "USD"), df, cols)
    assert en.iloc[0].tolist() == ["4,322", "$1,316,264", "52.6%"]
