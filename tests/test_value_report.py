"""The customer value page's words and charts (report/texts/value.py, report/charts/value.py)
and notebook 06 in English and Russian. Numbers come from small hand-made results, so no model is fitted."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from rfm_helpers.report.charts import value as charts  # noqa: E402
from rfm_helpers.report.i18n import translator  # noqa: E402
from rfm_helpers.report.texts import value as texts  # noqa: E402
from rfm_helpers.value.analysis import EXPORT_COLUMNS, write_value_export  # noqa: E402
from rfm_helpers.value.backtest import Backtest, decile_table  # noqa: E402
from rfm_helpers.value.segments import Sufficiency  # noqa: E402

NB = Path(__file__).resolve().parents[1] / "notebooks" / "06_customer_value.ipynb"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
LATIN_WORD = re.compile(r"\b[A-Za-z]{4,}\b")


def _backtest(verdict="baseline_better", spend=True):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"customer_id": [f"{i:04d}" for i in range(200)], "predicted": rng.gamma(0.5, 0.4, 200)})
    frame["actual"] = rng.poisson(frame["predicted"])
    frame["baseline"] = rng.poisson(frame["predicted"])
    for c in ("predicted", "actual", "baseline"):
        frame[f"{c}_revenue"] = frame[c] * 30.0
    totals = {"predicted": 100.0, "baseline": 120.0, "actual": 90.0, "predicted_revenue": 3000.0,
              "baseline_revenue": 3600.0, "actual_revenue": 2700.0, "model_mae": 0.31, "baseline_mae": 0.29,
              "model_total_error": 0.111, "baseline_total_error": 0.333, "model_revenue_error": 0.111,
              "baseline_revenue_error": 0.333}
    return Backtest(dt.date(1998, 4, 1), dt.date(1998, 6, 30), 90, 200, decile_table(frame), totals, verdict,
                    {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}, spend)


@pytest.mark.parametrize("verdict", ["model_better", "baseline_better", "mixed"])
@pytest.mark.parametrize("language", ["en", "ru"])
def test_backtest_sentences_say_the_verdict_honestly(verdict, language):
    t = translator(language, "RUB" if language == "ru" else "USD")
    text = " ".join(tpl.format(**v) for tpl, v in texts.backtest_sentences(t, _backtest(verdict)))
    if language == "en":
        assert {"model_better": "beats the baseline both", "baseline_better": "does not beat",
                "mixed": "not clearly better"}[verdict] in text
        assert "+11.1%" in text and "+33.3%" in text and "$3,000" in text
    else:
        assert CYRILLIC.search(text) and "+11,1\u00a0%" in text and "3\u00a0000\u00a0₽" in text
        assert not LATIN_WORD.search(text.replace("Gamma", "")), text


def test_backtest_table_and_chart_in_both_languages():
    for language in ("en", "ru"):
        t = translator(language)
        tab = texts.backtest_table(t, _backtest())
        assert len(tab) == 10 and tab.shape[1] == 8
        fig = charts.plot_backtest(_backtest(), t)
        words = [a.get_title() for a in fig.axes] + [fig.axes[0].get_xlabel()]
        assert all(CYRILLIC.search(w) for w in words) if language == "ru" else "Revenue in total" in words
        matplotlib.pyplot.close(fig)
    assert texts.backtest_table(translator("en"), _backtest(spend=False)).shape[1] == 5


def test_sufficiency_sentences_name_the_thresholds():
    suff = Sufficiency(False, False, False, [("short_history", {"days": 120, "min_days": 180}),
                                             ("few_repeat_customers", {"customers": 21, "min_customers": 200})],
                       120, 400, 21, 21)
    en = [tpl.format(**v) for tpl, v in texts.sufficiency_sentences(translator("en"), suff)]
    ru = [tpl.format(**v) for tpl, v in texts.sufficiency_sentences(translator("ru"), suff)]
    assert "120 days" in en[0] and "180 days" in en[0] and "21 customers" in en[1] and "200" in en[1]
    assert "120 дней" in ru[0] and "180 дней" in ru[0] and "21 клиент" in ru[1]


def test_group_table_and_chart():
    table = pd.DataFrame({"group": ["champions", "lost"], "customers": [10, 5], "expected_purchases": [4.0, 0.2],
                          "expected_revenue": [400.0, 8.0], "expected_revenue_low": [380.0, 7.0],
                          "expected_revenue_high": [420.0, 9.0], "revenue_share": [0.98, 0.02],
                          "clv": [1500.0, 30.0], "clv_low": [1400.0, 25.0], "clv_high": [1600.0, 35.0],
                          "mean_p_alive": [0.9, 0.1], "value_at_risk": [50.0, 300.0], "slipping": [1, 0]})
    labels = {"champions": "Чемпионы", "lost": "Потерянные"}
    t = translator("ru", "RUB")
    shown = texts.group_table(t, table, labels)
    assert list(shown.iloc[:, 0]) == ["Чемпионы", "Потерянные"] and shown.iloc[0, 3] == "400\u00a0₽"
    said = [tpl.format(**v) for tpl, v in texts.group_sentences(t, table, labels)]
    assert "«Чемпионы»" in said[0] and "«Потерянные»" in said[1]
    fig = charts.plot_value_by_group(table, t, labels)
    assert [lab.get_text() for lab in fig.axes[0].get_yticklabels()] == ["Чемпионы", "Потерянные"]
    matplotlib.pyplot.close(fig)


def test_export_is_sorted_by_value_at_risk_and_has_no_extra_columns(tmp_path):
    value = pd.DataFrame({c: [0.0, 0.0, 0.0] for c in EXPORT_COLUMNS})
    value["customer_id"] = ["007", "b", "a"]
    value["value_at_risk"] = [1.0, np.nan, 5.0]
    value["internal"] = 1
    path = write_value_export(value, tmp_path, "1998-06")
    back = pd.read_csv(path, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert list(back.columns) == EXPORT_COLUMNS and list(back["customer_id"]) == ["a", "007", "b"]
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_notebook_06_in_english_and_russian_and_parameters():
    import papermill as pm

    book = nbformat.read(NB, as_version=4)
    ru_book = nbformat.read(NB.parent / "ru" / NB.name, as_version=4)
    md = [c for c in book.cells if c.cell_type == "markdown"]
    ru_md = [c for c in ru_book.cells if c.cell_type == "markdown"]
    assert len(md) == len(ru_md)  # the Russian notebook is generated from the English one
    for en, ru in zip(md, ru_md):
        assert CYRILLIC.search(ru.source) and not CYRILLIC.search(en.source)
    params = pm.inspect_notebook(str(NB))
    assert params["currency"]["default"] == '"USD"'
    assert {"analysis_date", "source_config", "window_days", "language", "run_dir", "segment_map",
            "currency"} <= set(params)
