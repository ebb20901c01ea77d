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

from rfm_helpers import act  # noqa: E402
from rfm_helpers.report.charts import value as charts  # noqa: E402
from rfm_helpers.report.i18n import translator  # noqa: E402
from rfm_helpers.report.texts import value as texts  # noqa: E402
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


def test_a_sampled_backtest_says_so():
    import dataclasses

    bt = dataclasses.replace(_backtest(), population=4_409_924)
    en = " ".join(tpl.format(**v) for tpl, v in texts.backtest_sentences(translator("en"), bt))
    ru = " ".join(tpl.format(**v) for tpl, v in texts.backtest_sentences(translator("ru"), bt))
    assert "random sample of the 4,409,924 customers known at the cut-off" in en
    assert "случайная выборка" in ru and "4\u00a0409\u00a0924 клиента" in ru
    assert "random sample" not in " ".join(tpl.format(**v) for tpl, v in
                                          texts.backtest_sentences(translator("en"), _backtest()))


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
    assert shown.columns[0] == "Сегмент" and texts.group_table(t, table, labels, kind="cluster").columns[0] == "Кластер"
    assert all(CYRILLIC.search(c) or c == "CLV" for c in shown.columns), list(shown.columns)
    said = [tpl.format(**v) for tpl, v in texts.group_sentences(t, table, labels)]
    assert "«Чемпионы»" in said[0] and "«Потерянные»" in said[1]
    fig = charts.plot_value_by_group(table, t, labels)
    assert [lab.get_text() for lab in fig.axes[0].get_yticklabels()] == ["Чемпионы", "Потерянные"]
    matplotlib.pyplot.close(fig)


EXPORT_COLUMNS = [c.key for c in act.SCHEMAS["customer_value_<month>.csv"]]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_value_export_goes_through_the_run_writer_from_duckdb(tmp_path, language):
    """The value stage writes its per-customer rows from its DuckDB connection; the file is the
    act writer's: the run's dialect, every value quoted, money in exact cents, ids byte for
    byte, most value at risk first, no extra columns -- and byte-identical to the same table
    written from a pandas frame."""
    import duckdb

    value = pd.DataFrame({c: [0.0, 0.0, 0.0] for c in EXPORT_COLUMNS})
    value["customer_id"] = [" 007", "b;\"x\"", "=1+2"]
    value["value_at_risk"] = [1.005, np.nan, 5.0]
    value["clv"] = [2.5e12, 100.1 + 0.2, 0.5]
    value["p_alive"] = [0.5, 0.25, 1.0]
    value["p_alive_change"] = [-1e-9, 0.1234567, 0.0]
    value["slipping"] = [True, False, False]
    value["internal"] = 1
    sep, dec = (";", ",") if language == "ru" else (",", ".")
    con = duckdb.connect()
    try:
        con.register("value_customers", value)
        rec = act.write_customer_value(act.ExportWriter(tmp_path / "db", language), "value_customers", "1998-06",
                                       con=con)
    finally:
        con.close()
    frame_rec = act.write_customer_value(act.ExportWriter(tmp_path / "pd", language), value, "1998-06")
    path = tmp_path / "db" / rec.file
    assert rec.file == "customer_value_1998-06.csv" and rec.rows == 3
    assert path.read_bytes() == (tmp_path / "pd" / frame_rec.file).read_bytes()
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == sep.join(f'"{c}"' for c in EXPORT_COLUMNS)
    assert lines[1].startswith(f'"=1+2"{sep}"1"{sep}')  # value at risk 5.00 first; the id unaltered
    assert lines[2].startswith(f'" 007"{sep}"0{dec}5"{sep}') and f'"2500000000000{dec}00"' in lines[2]
    assert f'"1{dec}00"' in lines[2] or f'"1{dec}01"' in lines[2]  # 1.005 to cents, exactly two decimals
    assert lines[3].startswith(f'"b;""x"""{sep}') and f'"100{dec}30"' in lines[3]
    back = pd.read_csv(path, **act.dialect_for(language).read_options, dtype={"customer_id": str})
    assert list(back.columns) == EXPORT_COLUMNS
    assert list(back["customer_id"]) == ["=1+2", " 007", 'b;"x"'] and list(back["slipping"]) == [0, 1, 0]
    assert [w["code"] for w in rec.warnings] == ["formula_like_keys"]


def _analysis(spend_status="ok", sampled=True):
    from rfm_helpers.value.analysis import ValueAnalysis
    from rfm_helpers.value.models import FittedValueModels

    fitted = FittedValueModels("mbgnbd", "map", 0.9, {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}, pd.DataFrame(),
                               {"p": 1.0, "q": 2.0, "v": 3.0}, pd.DataFrame(), spend_status, 478120,
                               50000 if sampled else 478120, 20123, 1.0, n_fit_repeat=20321, sampled=sampled, fit_seed=7)
    stats = {"customers": 478120, "one_time_buyers": 287000, "customers_without_purchase_day": 0, "nonpositive_days": 0}
    suff = Sufficiency(True, True, True, [], 700, 478120, 191120, 190000)
    return ValueAnalysis(dt.date(2024, 12, 31), stats, suff, fitted, None, None, {}, None, dt.date(2024, 11, 30),
                         {"horizons": (90, 365), "clv_months": 12, "annual_discount_rate": 0.1})


@pytest.mark.parametrize("language", ["en", "ru"])
def test_model_sentences_say_the_fit_used_a_sample(language):
    t = translator(language, "RUB" if language == "ru" else "USD")
    text = " ".join(tpl.format(**v) for tpl, v in texts.model_sentences(t, _analysis()))
    if language == "en":
        assert "random sample of 50,000 of the 478,120 customers" in text and "seed 7" in text
        assert "20,321 repeat" in text and "include the sampling error" in text
    else:
        assert "в выборке — 50\u00a0000, всего — 478\u00a0120 клиентов" in text and "— 7)" in text
        assert "ошибка выборки" in text
    full = " ".join(tpl.format(**v) for tpl, v in texts.model_sentences(t, _analysis(sampled=False)))
    assert ("sample" not in full) if language == "en" else ("выборк" not in full)


def test_without_a_spend_model_the_page_shows_no_money():
    t = translator("en")
    va = _analysis(spend_status="infinite_mean")
    said = " ".join(tpl.format(**v) for tpl, v in texts.model_sentences(t, va))
    assert "cannot be used (the fitted spend distribution has no finite mean" in said
    head = {"customers": 10, "expected_purchases": 3.0, "expected_revenue": float("nan"), "likely_active": 4,
            "mean_p_alive": 0.4, "slipping": 0, "new_customers": 0}
    text = " ".join(tpl.format(**v) for tpl, v in texts.headline_sentences(t, head, va))
    assert "$" not in text and "nan" not in text.lower() and "3 purchases" in text


def test_p_alive_chart_from_bands_and_unassigned_group_label():
    from rfm_helpers.value.segments import UNASSIGNED

    bands = pd.DataFrame({"low": np.linspace(0, 0.95, 20), "high": np.linspace(0.05, 1, 20),
                          "repeat_customers": np.arange(20), "one_time_buyers": np.arange(20)[::-1]})
    for language in ("en", "ru"):
        t = translator(language)
        fig = charts.plot_p_alive(bands, t)
        assert sum(p.get_height() for p in fig.axes[0].patches) == 2 * sum(range(20))
        matplotlib.pyplot.close(fig)
    assert texts.group_label(translator("en"), UNASSIGNED) == "Not in this grouping"
    assert texts.group_label(translator("ru"), UNASSIGNED) == "Вне группировки"


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
    assert params["currency"]["default"] == '""'  # empty: the source spec's currency, else USD (start())
    assert {"analysis_date", "source_config", "window_days", "language", "run_dir", "segment_map",
            "currency", "fit_customers", "fit_seed"} <= set(params)
    assert params["fit_customers"]["default"] == "50000"
