"""Russian texts still kept in dictionaries by the campaign modules (their owner is moving them
onto the message catalogs), and the Russian number style of the report helpers kept for the
notebook cells that still call them. The notebooks in both languages are checked in
``test_notebook_sets.py``; the catalogs in ``test_i18n.py``.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from rfm_helpers import insights

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _same_keys(en, ru, where="") -> None:
    assert isinstance(ru, type(en)) or (isinstance(en, str) and isinstance(ru, str)), where
    if isinstance(en, dict):
        assert set(en) == set(ru), f"{where}: {set(en) ^ set(ru)}"
        for k in en:
            _same_keys(en[k], ru[k], f"{where}.{k}")
    elif isinstance(en, str):
        # the same {placeholders} on both sides, so one set of values fills either template
        assert set(re.findall(r"{(\w*)}", en)) == set(re.findall(r"{(\w*)}", ru)), f"{where}: {en!r} / {ru!r}"


def test_legacy_localize_keeps_english_headers_and_formats():
    import pandas as pd

    df = pd.DataFrame({"customers": [1234], "revenue_share": [0.5]})
    fmt = {"customers": "{:,}", "revenue_share": "{:.1%}"}
    shown, f = insights.localize(df, {"customers": "customers"}, fmt)
    assert list(shown.columns) == ["customers", "revenue_share"] and f == fmt
    shown, f = insights.localize(df, {"customers": "Клиентов", "revenue_share": "Доля выручки"}, fmt)
    assert list(shown.columns) == ["Клиентов", "Доля выручки"]
    assert f == {"Клиентов": "{:,}", "Доля выручки": "{:.1%}"}
    assert insights.report_text("ru")["params_caption"] == "Параметры этого запуска"
    assert insights.report_text("xx")["params_caption"] == "Parameters of this run"


def test_parameters_view_translates_fixed_values_and_keeps_masking():
    view = insights.parameters_view({"window_days": "whole history", "source": "CDNOW (bundled sample)",
                                     "api_token": "s3cr3t-value", "n_clusters": "automatic"}, "ru")
    assert list(view.columns) == ["Параметр", "Значение"]
    assert list(view["Значение"]) == ["вся история", "CDNOW (встроенный пример)", "••••", "автоматически"]
    assert list(view["Параметр"]) == ["window_days", "source", "api_token", "n_clusters"]  # names as typed
    en = insights.parameters_view({"window_days": "whole history"}, "en")
    assert list(en.columns) == ["Parameter", "Value"] and en["Value"].iloc[0] == "whole history"


def test_russian_tables_and_texts_use_russian_number_style():
    import pandas as pd

    df = pd.DataFrame({"customers": [4322, None], "revenue_share": [0.184, 0.5]})
    fmt = {"customers": "{:,.0f}", "revenue_share": "{:.1%}"}
    shown, f = insights.localize(df, {"customers": "Клиентов", "revenue_share": "Доля выручки"}, fmt, language="ru")
    assert f == {} and list(shown["Клиентов"]) == ["4\u00a0322", ""]
    assert list(shown["Доля выручки"]) == ["18,4%", "50,0%"]
    assert insights.int_text(69579, "ru") == "69\u00a0579" and insights.int_text(69579, "en") == "69,579"
    assert insights.share_text(0.184, "ru") == "18,4\u00a0%" and insights.share_text(0.184, "en") == "18.4%"


def test_notebook_04_campaign_reads_in_russian():
    """Notebook 04 (campaign A/B test): a Russian title, matching report texts and chart labels,
    Russian table headers and values, and the English tables left exactly as they were."""
    import pandas as pd

    from rfm_helpers import abtest, campaign, plots_abtest

    nb = nbformat.read(NOTEBOOK_DIR / "ru" / "04_campaign_ab_test.ipynb", as_version=4)
    assert nb.cells[0].source.startswith("# ") and CYRILLIC.search(nb.cells[0].source)
    for texts in (abtest._REPORT_TEXT, plots_abtest._TEXT, campaign._DEMO_SENTENCE):
        assert set(texts) == {"en", "ru"}
        _same_keys(texts["en"], texts["ru"], "texts")
    for key, value in abtest.report_text("ru").items():
        if isinstance(value, str) and key != "corrections":
            assert CYRILLIC.search(value), key
    assert abtest.report_text("xx") is abtest.report_text("en")

    df = pd.DataFrame({"segment": ["Чемпионы"], "treated customers": [2119], "difference": ["+6.0 pts"],
                       "95% CI": ["+$1,020.50 to +$7.09"], "significant": ["no"]})
    assert abtest.table_view(df, "en") is df
    ru = abtest.table_view(df, "ru")
    assert list(ru.columns) == ["Сегмент", "Клиентов с рассылкой", "Разница", "95% ДИ", "Значимо"]
    assert ru.iloc[0].tolist() == ["Чемпионы", "2\u00a0119", "+6,0 п.п.", "+$1\u00a0020,50 … +$7,09", "нет"]
