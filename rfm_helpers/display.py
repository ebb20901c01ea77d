"""Safe building blocks for stakeholder HTML: narrative, tables, parameters.

Everything that comes from the data (channel names, segment labels typed by users,
campaign names) is HTML-escaped here, so a ``<script>`` in a channel name renders as text.
Notebooks should show text and tables through these helpers rather than through raw
``Markdown(f"...")`` or ``Styler`` (which does not escape by default).
"""
from __future__ import annotations

import html
import re
from typing import Any, Mapping

import pandas as pd
from IPython.display import HTML, display

# Parameter names whose values are never shown (belt and braces: secrets should never be
# parameters in the first place; credentials come from environment variables).
_SECRET_HINTS = ("password", "passwd", "secret", "token", "key", "credential", "url", "dsn")


def esc(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(value), quote=True)


_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3})")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def number_style(text: str, language: str = "en") -> str:
    """Already formatted numbers in ``text`` in ``language``'s number style: unchanged in
    English; in Russian a non-breaking space between thousands and a decimal comma
    (``$2,500,316`` -> ``$2 500 316``, ``14.1%`` -> ``14,1%``). Only separators between
    digits change, so words such as ``руб.`` keep their dots."""
    if language != "ru":
        return text
    return _DECIMAL_POINT.sub(",", _THOUSANDS_COMMA.sub("\u00a0", text))


def fmt_int(x: float) -> str:
    return f"{int(round(x)):,}"


def fmt_money(x: float, currency: str = "$") -> str:
    return f"{currency}{x:,.0f}" if abs(x) >= 100 else f"{currency}{x:,.2f}"


def fmt_pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def say_html(template: str, **values: Any) -> str:
    """The HTML of :func:`say`: ``template`` is trusted HTML written by us (``<b>``,
    ``<br>``); every ``{value}`` is escaped before it is inserted."""
    return "<p class='rfm-say'>" + template.format(**{k: esc(v) for k, v in values.items()}) + "</p>"


def say(template: str, **values: Any) -> None:
    """Show a paragraph built by :func:`say_html` (values escaped)."""
    display(HTML(say_html(template, **values)))


def heading(text: str, level: int = 2) -> None:
    display(HTML(f"<h{level}>{esc(text)}</h{level}>"))


def pretty_header(name: Any) -> str:
    """``mean_recency_days`` -> ``Mean recency days`` (column names readable by people)."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def table_html(df: pd.DataFrame, caption: str | None = None, *, index: bool = False,
               formats: Mapping[str, str] | None = None, max_rows: int = 60,
               pretty_headers: bool = True) -> str:
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
    more = (f"<p class='rfm-caption'>First {max_rows} of {len(df)} rows.</p>"
            if len(df) > max_rows else "")
    return cap + body + more


def table(df: pd.DataFrame, caption: str | None = None, **kwargs: Any) -> None:
    """Show an aggregate table (see :func:`table_html`); never customer-level rows in reports."""
    display(HTML(table_html(df, caption, **kwargs)))


def parameters_frame(params: Mapping[str, Any]) -> pd.DataFrame:
    """The run's parameters as a table; values of secret-looking names are masked."""
    rows = []
    for k, v in params.items():
        masked = any(h in k.lower() for h in _SECRET_HINTS) and k.lower() not in {"source_config"}
        rows.append({"parameter": k, "value": "••••" if masked and v else v})
    return pd.DataFrame(rows)


_PARAMS_CAPTION = {"en": "Parameters of this run", "ru": "Параметры этого запуска"}


def parameters_table(params: Mapping[str, Any], language: str = "en") -> None:
    """Show the run's parameters (see :func:`parameters_frame`)."""
    table(parameters_frame(params), caption=_PARAMS_CAPTION.get(language, _PARAMS_CAPTION["en"]))
