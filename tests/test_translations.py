"""Russian versions of the report notebooks 01, 02, 03 and 05 and of their fixed texts.

Every Markdown cell of these notebooks exists in English (tag ``lang-en``) followed directly
by its Russian twin (tag ``lang-ru``); the runner keeps the cells of the run's language (see
:func:`rfm_helpers.report.render.select_language`). Texts written by code cells come from
``report_text(language)`` dictionaries whose English and Russian sides must match.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from rfm_helpers import clustering, insights, plots, plots_segments, tracking
from rfm_helpers.report.render import select_language

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
TRANSLATED = ["01_load_and_validate", "02_rfm", "03_segmentation", "05_segment_migration"]
LANG_TAGS = {"lang-en", "lang-ru"}
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


@pytest.fixture(params=TRANSLATED)
def book(request):
    return nbformat.read(NOTEBOOK_DIR / f"{request.param}.ipynb", as_version=4)


def _lang(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", [])) & LANG_TAGS


def test_every_markdown_cell_has_exactly_one_language(book):
    for cell in book.cells:
        if cell.cell_type == "markdown":
            assert len(_lang(cell)) == 1, f"tag lang-en or lang-ru:\n{cell.source[:120]}"
        else:
            assert not _lang(cell), "code cells are shared by both languages"


def test_english_and_russian_cells_alternate_as_twins(book):
    md = [c for c in book.cells if c.cell_type == "markdown"]
    langs = [next(iter(_lang(c))) for c in md]
    assert langs.count("lang-en") == langs.count("lang-ru")
    assert langs == ["lang-en", "lang-ru"] * (len(md) // 2)
    # twins sit next to each other (no code cell between) and keep the heading structure
    idx = [i for i, c in enumerate(book.cells) if c.cell_type == "markdown"]
    for (i_en, i_ru), (en, ru) in zip(zip(idx[::2], idx[1::2]), zip(md[::2], md[1::2])):
        assert i_ru == i_en + 1
        heads = [[ln.split(" ")[0] for ln in c.source.splitlines() if ln.startswith("#")] for c in (en, ru)]
        assert heads[0] == heads[1]
        assert en.source.startswith("---") == ru.source.startswith("---")


def test_russian_cells_are_russian(book):
    for cell in book.cells:
        if _lang(cell) == {"lang-ru"}:
            assert CYRILLIC.search(cell.source), cell.source[:120]
        elif _lang(cell) == {"lang-en"}:
            assert not CYRILLIC.search(cell.source), cell.source[:120]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_each_language_starts_with_its_title(book, language):
    shown = select_language(book, language)
    first = shown.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert bool(CYRILLIC.search(first.source)) == (language == "ru")
    assert all(_lang(c) in (set(), {f"lang-{language}"}) for c in shown.cells)


def _same_keys(en, ru, where="") -> None:
    assert isinstance(ru, type(en)) or (isinstance(en, str) and isinstance(ru, str)), where
    if isinstance(en, dict):
        assert set(en) == set(ru), f"{where}: {set(en) ^ set(ru)}"
        for k in en:
            _same_keys(en[k], ru[k], f"{where}.{k}")
    elif isinstance(en, str):
        # the same {placeholders} on both sides, so one set of values fills either template
        assert set(re.findall(r"{(\w*)}", en)) == set(re.findall(r"{(\w*)}", ru)), f"{where}: {en!r} / {ru!r}"


@pytest.mark.parametrize("texts", [insights._TEXT, tracking._REPORT_TEXT, plots._TEXT,
                                   clustering._REPORT_TEXT, clustering._CONCLUSION, plots_segments._TEXT],
                         ids=["insights", "tracking", "plots", "clustering", "conclusion",
                              "plots_segments"])
def test_text_dicts_have_the_same_keys_in_both_languages(texts):
    assert set(texts) == {"en", "ru"}
    _same_keys(texts["en"], texts["ru"], "texts")


def test_russian_texts_are_russian():
    for texts in (insights._TEXT, tracking._REPORT_TEXT, clustering._REPORT_TEXT):
        for key, value in texts["ru"].items():
            if isinstance(value, str):
                assert CYRILLIC.search(value), key


def test_english_headers_unchanged_and_formats_follow_renamed_columns():
    import pandas as pd

    df = pd.DataFrame({"customers": [1234], "revenue_share": [0.5]})
    fmt = {"customers": "{:,}", "revenue_share": "{:.1%}"}
    shown, f = insights.localize(df, insights.report_text("en")["columns"], fmt)
    assert list(shown.columns) == ["customers", "revenue_share"] and f == fmt
    shown, f = insights.localize(df, insights.report_text("ru")["columns"], fmt)
    assert list(shown.columns) == ["Клиентов", "Доля выручки"]
    assert f == {"Клиентов": "{:,}", "Доля выручки": "{:.1%}"}
    assert insights.report_text("xx") is insights.report_text("en")


def test_segmentation_headers_english_unchanged_russian_translated():
    en, ru = clustering.report_text("en"), clustering.report_text("ru")
    assert all(k == v for k, v in en["columns"].items())  # English reports keep the column names
    assert all(CYRILLIC.search(v) for k, v in ru["columns"].items() if not k.endswith("_file")), ru["columns"]
    assert clustering.report_text("xx") is en
    # every column of the tables shown in notebook 03 has a header in both languages
    shown = {"label", "customers", "customer_share", "revenue", "revenue_share", "median_recency_days",
             "median_frequency", "median_monetary", "method", "segments_used", "silhouette",
             "calinski_harabasz", "davies_bouldin", "bootstrap_ari_mean", "bootstrap_ari_min",
             "test_rows", "csv_file", "xlsx_sheet", "xlsx_file"}
    assert shown <= set(en["columns"]) == set(ru["columns"])


def test_parameters_view_translates_fixed_values_and_keeps_masking():
    view = insights.parameters_view({"window_days": "whole history", "source": "CDNOW (bundled sample)",
                                     "api_token": "s3cr3t-value"}, "ru")
    assert list(view.columns) == ["Параметр", "Значение"]
    assert list(view["Значение"]) == ["вся история", "CDNOW (встроенный пример)", "••••"]
    en = insights.parameters_view({"window_days": "whole history"}, "en")
    assert list(en.columns) == ["parameter", "value"] and en["value"].iloc[0] == "whole history"


def test_russian_tables_and_texts_use_russian_number_style():
    import pandas as pd

    df = pd.DataFrame({"customers": [4322, None], "revenue_share": [0.184, 0.5]})
    fmt = {"customers": "{:,.0f}", "revenue_share": "{:.1%}"}
    shown, f = insights.localize(df, insights.report_text("ru")["columns"], fmt, language="ru")
    assert f == {} and list(shown["Клиентов"]) == ["4\u00a0322", ""]
    assert list(shown["Доля выручки"]) == ["18,4%", "50,0%"]
    assert insights.int_text(69579, "ru") == "69\u00a0579" and insights.int_text(69579, "en") == "69,579"
    assert insights.share_text(0.184, "ru") == "18,4%" and insights.share_text(0.184, "en") == "18.4%"


@pytest.mark.parametrize("name", ["04_campaign_ab_test", "campaign_page", "campaign_create"])
def test_campaign_notebooks_read_in_russian(name):
    """The campaign notebooks (04, the campaign page, campaign creation): English/Russian twins of
    every Markdown cell, the same headings on both sides, a title first in either language, no
    '$' in any text cell (JupyterLab would typeset it as maths) and no prose in code cells:
    every sentence comes from rfm_helpers.report.texts through the run's translator."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    assert [next(iter(_lang(c))) for c in md] == ["lang-en", "lang-ru"] * (len(md) // 2)
    idx = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    for i_en, i_ru in zip(idx[::2], idx[1::2]):
        en, ru = nb.cells[i_en], nb.cells[i_ru]
        assert i_ru == i_en + 1
        assert [ln.split(" ")[0] for ln in en.source.splitlines() if ln.startswith("#")] == \
               [ln.split(" ")[0] for ln in ru.source.splitlines() if ln.startswith("#")]
        assert CYRILLIC.search(ru.source) and not CYRILLIC.search(en.source)
        assert "$" not in en.source + ru.source
    assert all(not _lang(c) for c in nb.cells if c.cell_type == "code")
    for language in ("en", "ru"):
        first = select_language(nb, language).cells[0]
        assert first.source.startswith("# ") and bool(CYRILLIC.search(first.source)) == (language == "ru")
    import ast

    for c in nb.cells:
        if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []):
            literals = [n.value for n in ast.walk(ast.parse(c.source))
                        if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            assert not [s for s in literals if len(s.split()) > 2 and not s.startswith("<")], literals
