"""Safe building blocks for stakeholder HTML: narrative, tables, parameters.

Everything that comes from the data (channel names, segment labels typed by users,
campaign names) is HTML-escaped here, so a ``<script>`` in a channel name renders as text.
Notebooks should show text and tables through these helpers rather than through raw
``Markdown(f"...")`` or ``Styler`` (which does not escape by default).

The few words these helpers add themselves (a table's "First 60 of 100 rows.", the
parameters caption) come from the message catalogs in the report's language: pass
``language=``, else the language the report runner gives the notebook's kernel
(``RFM_LANGUAGE``), else English.
"""
from __future__ import annotations

import html
import os
import re
from typing import Any, Iterable, Mapping

import pandas as pd
from IPython.display import HTML, display

from ..redaction import mask_parameters
from .i18n import DEFAULT_CURRENCY, Translator, translator

#: Environment variables through which the report runner tells a notebook's kernel the run's
#: language and currency (a notebook's own ``language`` argument wins).
LANGUAGE_ENV = "RFM_LANGUAGE"
CURRENCY_ENV = "RFM_CURRENCY"


def run_translator(language: str | None = None, currency: str | None = None) -> Translator:
    """The translator of the current run: explicit arguments, else the runner's environment,
    else English / US dollars."""
    return translator(language or os.environ.get(LANGUAGE_ENV) or "en",
                      currency or os.environ.get(CURRENCY_ENV) or DEFAULT_CURRENCY)


def esc(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(value), quote=True)


_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3})")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def number_style(text: str, language: str = "en") -> str:
    """Deprecated: format numbers with the run's :class:`~rfm_helpers.report.i18n.Translator`
    (Babel) instead. Kept while ``loading``, ``campaign``, ``abtest`` and
    :mod:`rfm_helpers.report.legacy` still call it.

    Already formatted numbers in ``text`` in ``language``'s number style: unchanged in
    English; in Russian a non-breaking space between thousands and a decimal comma
    (``$2,500,316`` -> ``$2 500 316``, ``14.1%`` -> ``14,1%``). Only separators between
    digits change, so words such as ``руб.`` keep their dots."""
    if language != "ru":
        return text
    return _DECIMAL_POINT.sub(",", _THOUSANDS_COMMA.sub("\u00a0", text))


def say_html(template: str, **values: Any) -> str:
    """The HTML of :func:`say`: ``template`` is trusted HTML written by us (``<b>``,
    ``<br>``); every ``{value}`` is escaped before it is inserted."""
    return "<p class='rfm-say'>" + template.format(**{k: esc(v) for k, v in values.items()}) + "</p>"


def say(template: str, **values: Any) -> None:
    """Show a paragraph built by :func:`say_html` (values escaped)."""
    display(HTML(say_html(template, **values)))


def say_all(sentences: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Show each ``(template, values)`` pair of a ``rfm_helpers.report.texts`` function
    with :func:`say`."""
    for template, values in sentences:
        say(template, **values)


def heading(text: str, level: int = 2) -> None:
    display(HTML(f"<h{level}>{esc(text)}</h{level}>"))


def pretty_header(name: Any) -> str:
    """``mean_recency_days`` -> ``Mean recency days`` (column names readable by people)."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def table_html(df: pd.DataFrame, caption: str | None = None, *, index: bool = False,
               formats: Mapping[str, str] | None = None, max_rows: int = 60,
               pretty_headers: bool = True, language: str | None = None) -> str:
    """The HTML of :func:`table`: cells, headers and caption escaped; ``formats`` maps a
    column to a format string such as ``"{:.1%}"``; underscores in headers become spaces."""
    shown = df.head(max_rows).copy()
    for col, f in (formats or {}).items():
        if col in shown.columns:
            shown[col] = shown[col].map(lambda v, f=f: "" if pd.isna(v) else f.format(v))
    if pretty_headers:
        shown.columns = [pretty_header(c) for c in shown.columns]
    body = shown.to_html(index=index, escape=True, border=0, classes="rfm-table", na_rep="")
    cap = f"<p class='rfm-caption'><b>{esc(caption)}</b></p>" if caption else ""
    more = ""
    if len(df) > max_rows:
        t = run_translator(language)
        note = t.ngettext("First {shown} of {n} row.", "First {shown} of {n} rows.", len(df))
        more = f"<p class='rfm-caption'>{esc(note.format(shown=t.integer(max_rows), n=t.integer(len(df))))}</p>"
    return cap + body + more


def table(df: pd.DataFrame, caption: str | None = None, **kwargs: Any) -> None:
    """Show an aggregate table (see :func:`table_html`); never customer-level rows in reports."""
    display(HTML(table_html(df, caption, **kwargs)))


def parameters_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The run's parameters as a table; values of secret-looking names are masked."""
    return pd.DataFrame([{"parameter": k, "value": v} for k, v in mask_parameters(params).items()])


def parameters_table(params: Mapping[str, Any], language: str | None = None) -> None:
    """Show the run's parameters (see :func:`parameters_frame`)."""
    t = run_translator(language)
    table(parameters_frame(params), caption=t._("Parameters of this run"), language=t.language)
