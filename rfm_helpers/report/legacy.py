"""Report helpers kept for the notebook cells that still call the old names.

Until their owners move them onto :mod:`rfm_helpers.report.texts`, some cells still call
``insights.localize``, ``insights.int_text``, ``insights.parameters_view`` and
``insights.report_text`` (notebook 01, notebook 04, notebook 06's parameters table) or read
words from a dict ``T`` (the campaign-file cells of notebooks 02, 03 and 05). Those names
resolve here (``rfm_helpers.insights`` forwards them lazily); every word comes from the
message catalogs. Delete this module once nothing imports it
(``grep -rn "insights\\.\\(localize\\|int_text\\|share_text\\|parameters_view\\|report_text\\)\\|T\\[" notebooks``).
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from .display import number_style
from .i18n import N_, Translator, translator
from .texts.common import PARAMETER_VALUES, parameters_view as _parameters_view

__all__ = ["report_text", "localize", "int_text", "share_text", "parameters_view", "file_cell_words"]


def _t(language: str) -> Translator:
    return translator(language if language in ("en", "ru") else "en")


def report_text(language: str = "en") -> dict:
    """The parameters caption and the parameter table's words (notebook 01 reads
    ``["params_caption"]``)."""
    t = _t(language)
    return {"params_caption": t._("Parameters of this run"),
            "columns": {"parameter": t._("Parameter"), "value": t._("Value")},
            "values": {k: t._(v) for k, v in PARAMETER_VALUES.items()}}


def localize(df: pd.DataFrame, names: dict, formats: dict | None = None,
             language: str = "en") -> tuple[pd.DataFrame, dict]:
    """``df`` with its columns renamed by ``names`` and ``formats`` re-keyed to the new
    headers; in Russian the formatted columns are written out in Russian number style and no
    formats are left for the table. New code: :func:`rfm_helpers.report.texts.common.frame`."""
    formats = dict(formats or {})
    if language == "ru":
        shown = df.copy()
        for col, f in formats.items():
            if col in shown.columns:
                shown[col] = shown[col].map(lambda v, f=f: "" if pd.isna(v) else number_style(f.format(v), "ru"))
        return shown.rename(columns=names), {}
    return df.rename(columns=names), {names.get(k, k): v for k, v in formats.items()}


def int_text(x: float, language: str = "en") -> str:
    """A whole number in the language's style (``69,579`` / ``69 579``)."""
    return _t(language).integer(x)


def share_text(x: float, language: str = "en", digits: int = 1) -> str:
    """A 0..1 share as a percentage in the language's style."""
    return _t(language).percent(x, digits)


def parameters_view(params: Mapping[str, Any], language: str = "en") -> pd.DataFrame:
    """:func:`rfm_helpers.report.texts.common.parameters_view` in ``language``."""
    return _parameters_view(_t(language), params)


#: Words read from ``T`` by the campaign-file cells (``T["..."]``), per notebook.
_FILE_CELL_WORDS = {
    "02": {"scores_written": N_("Per-customer scores for {n} customers were written to <code>{f}</code> in the "
                                "run folder.")},
    "03": {"mailing_caption": N_("Mailing lists written to {folder}/"),
           "xlsx_skipped": N_("Excel workbook not written: {rows} rows exceed xlsx_max_rows={limit}; use the CSV "
                              "files."),
           "call_list": N_("Call list: {rows} customers in {csv} and {xlsx} (highest priority first: value times "
                           "urgency)."),
           "exports_off": N_("Export of customer lists is switched off for this run.")},
    "05": {"movers_written": N_("The {n} customers behind these flows were written to <code>{f}</code> in the "
                                "run folder.")},
}
_FILE_CELL_COLUMNS = {
    "label": N_("Segment"), "customers": N_("Customers"), "test_rows": N_("Test rows"),
    "csv_file": N_("CSV file"), "xlsx_sheet": N_("Excel sheet"), "xlsx_file": N_("Excel file"),
}


def file_cell_words(t: Translator, notebook: str) -> dict:
    """The dict ``T`` the campaign-file cells of notebook ``notebook`` (``"02"``, ``"03"``,
    ``"05"``) read, in ``t``'s language."""
    words: dict[str, Any] = {k: t._(v) for k, v in _FILE_CELL_WORDS[notebook].items()}
    words["columns"] = {k: t._(v) for k, v in _FILE_CELL_COLUMNS.items()}
    return words
