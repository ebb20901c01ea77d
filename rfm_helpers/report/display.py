"""Safe building blocks for stakeholder HTML: narrative, tables, parameters.

Everything that comes from the data (channel names, segment labels typed by users,
campaign names) is HTML-escaped here, so a ``<script>`` in a channel name renders as text.
Notebooks should show text and tables through these helpers rather than through raw
``Markdown(f"...")`` or ``Styler`` (which does not escape by default).

**What JupyterLab shows equals what the report shows.** JupyterLab typesets text between two
``$`` signs in HTML and Markdown outputs as maths ("raised revenue by $1.59 (from $7.72 to
$9.31" became a formula); its MathJax does not honour the ``tex2jax_ignore`` class on outputs
(jupyterlab/jupyterlab#17935). MathJax reads an element's text piece by piece, starting a new
piece at every element boundary, and a formula must open and close within one piece. So every
HTML output made here goes through :func:`no_maths`, which puts each ``$`` (and each ``\\``, the
start of ``\\(``, ``\\[`` and ``\\begin``) of the text into its own ``<span class="rfm-nomath">``:
no piece of text then holds two delimiters, nothing is typeset, and the text a reader sees,
copies or finds is unchanged (checked in the real JupyterLab by ``tests/test_jupyterlab.py``).
Show any other HTML with :func:`show_html` rather than ``display(HTML(...))``.

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
    (Babel) instead. Kept while ``loading`` and
    :mod:`rfm_helpers.report.legacy` still call it.

    Already formatted numbers in ``text`` in ``language``'s number style: unchanged in
    English; in Russian a non-breaking space between thousands and a decimal comma
    (``$2,500,316`` -> ``$2 500 316``, ``14.1%`` -> ``14,1%``). Only separators between
    digits change, so words such as ``руб.`` keep their dots."""
    if language != "ru":
        return text
    return _DECIMAL_POINT.sub(",", _THOUSANDS_COMMA.sub("\u00a0", text))


#: Markup MathJax must never see as a whole: comments, scripts and styles are kept as they are,
#: every other tag is a boundary between two pieces of text.
_MARKUP = re.compile(r"(<!--.*?-->|<script\b.*?</script\s*>|<style\b.*?</style\s*>|<[^>]*>)", re.S | re.I)
#: Characters that open a formula for JupyterLab's MathJax: ``$``/``$$`` and ``\\(``, ``\\[``,
#: ``\\begin{...}`` (processEscapes and processEnvironments are on).
_TEX_START = re.compile(r"[$\\]")
NO_MATHS_CLASS = "rfm-nomath"


def no_maths(html_text: str) -> str:
    """``html_text`` with every ``$`` and ``\\`` of its text in an element of its own, so
    JupyterLab's MathJax finds no formula in it (see the module's docstring); tags, attributes,
    comments, scripts and styles are left as they are. The text shown does not change."""
    parts = _MARKUP.split(html_text)
    for i in range(0, len(parts), 2):  # even items: text between tags
        if "$" in parts[i] or "\\" in parts[i]:
            parts[i] = _TEX_START.sub(lambda m: f'<span class="{NO_MATHS_CLASS}">{m.group()}</span>', parts[i])
    return "".join(parts)


def show_html(html_text: str) -> None:
    """Show trusted HTML as a notebook output, safe from maths typesetting (:func:`no_maths`).
    Values from the data must already be escaped (:func:`esc`)."""
    display(HTML(no_maths(html_text)))


def say_html(template: str, **values: Any) -> str:
    """The HTML of :func:`say`: ``template`` is trusted HTML written by us (``<b>``,
    ``<br>``); every ``{value}`` is escaped before it is inserted. Safe from maths
    typesetting (:func:`no_maths`)."""
    return no_maths("<p class='rfm-say tex2jax_ignore'>"
                    + template.format(**{k: esc(v) for k, v in values.items()}) + "</p>")


def say(template: str, **values: Any) -> None:
    """Show a paragraph built by :func:`say_html` (values escaped)."""
    display(HTML(say_html(template, **values)))


def say_all(sentences: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Show each ``(template, values)`` pair of a ``rfm_helpers.report.texts`` function
    with :func:`say`."""
    for template, values in sentences:
        say(template, **values)


def heading(text: str, level: int = 2) -> None:
    show_html(f"<h{level}>{esc(text)}</h{level}>")


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
    body = shown.to_html(index=index, escape=True, border=0, classes="rfm-table tex2jax_ignore", na_rep="")
    cap = f"<p class='rfm-caption'><b>{esc(caption)}</b></p>" if caption else ""
    more = ""
    if len(df) > max_rows:
        t = run_translator(language)
        note = t.ngettext("First {shown} of {n} row.", "First {shown} of {n} rows.", len(df))
        more = f"<p class='rfm-caption'>{esc(note.format(shown=t.integer(max_rows), n=t.integer(len(df))))}</p>"
    return no_maths(cap + body + more)


def table(df: pd.DataFrame, caption: str | None = None, **kwargs: Any) -> None:
    """Show an aggregate table (see :func:`table_html`); never customer-level rows in reports."""
    display(HTML(table_html(df, caption, **kwargs)))


def parameters_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The run's parameters as a table; values of secret-looking names are masked."""
    return pd.DataFrame([{"parameter": k, "value": v} for k, v in mask_parameters(params).items()])


def parameters_table(params: Mapping[str, Any], language: str | None = None) -> None:
    """Show the run's parameters in the report's language (headers and the values that are
    words: :func:`rfm_helpers.report.texts.common.parameters_view`); secrets masked."""
    from .texts.common import parameters_view

    t = run_translator(language)
    table(parameters_view(t, params), caption=t._("Parameters of this run"), language=t.language,
          pretty_headers=False)
