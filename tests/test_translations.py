"""The campaign notebooks speak through the message catalogs (their Markdown translated by the
catalog, their sentences made by rfm_helpers.report.texts), and the Russian number style of the
report helpers kept for the notebook cells that still call them. The notebooks in both languages are checked in
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


@pytest.mark.parametrize("name", ["04_campaign_ab_test", "campaign_page", "campaign_create"])
def test_campaign_notebooks_speak_through_the_catalogs(name):
    """The campaign notebooks: English Markdown with a generated Russian twin, no '$' in any text
    cell (JupyterLab would typeset it as maths) and no prose in code cells: every sentence
    comes from rfm_helpers.report.texts through the run's translator."""
    import ast

    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    ru = nbformat.read(NOTEBOOK_DIR / "ru" / f"{name}.ipynb", as_version=4)
    for c, r in zip(nb.cells, ru.cells):
        if c.cell_type == "markdown":
            assert not CYRILLIC.search(c.source) and CYRILLIC.search(r.source)
            assert "$" not in c.source + r.source
            assert not set(c.get("metadata", {}).get("tags", [])) & {"lang-en", "lang-ru"}
    assert ru.cells[0].source.startswith("# ") and CYRILLIC.search(ru.cells[0].source)
    for c in nb.cells:
        if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []):
            literals = [n.value for n in ast.walk(ast.parse(c.source))
                        if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            assert not [s for s in literals if len(s.split()) > 2 and not s.startswith("<")], literals
