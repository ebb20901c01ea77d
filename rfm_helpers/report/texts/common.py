"""Words and formats every report page shares: formatted tables, the parameters table.

A table shown on a page is built in two steps. The analysis module returns numbers with
column names that are codes (``customer_share``); :func:`frame` turns the columns a page
shows into text in the report's language: a translated header per column and each cell
formatted by Babel for the report's locale (``23 502``, ``18,4 %``, ``2 500 316 ₽``).
Show the result with ``table(..., pretty_headers=False)``: the headers are already words.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import re

import pandas as pd

from ...redaction import mask_parameters
from ..i18n import N_, Translator

__all__ = ["Column", "cell", "frame", "parameters_view", "list_text", "sentence", "PARAMETER_VALUES"]

#: ``(column, header message id, kind)``; kind is one of :data:`KINDS`.
Column = tuple[str, str, str]

#: How a cell is written: text as it is, a whole number, money in the run's currency (cents
#: below 100), money with cents, a 0..1 share as a percentage, a number with 1, 2 or 3 decimals.
KINDS: dict[str, Callable[[Translator, Any], str]] = {
    "text": lambda t, v: str(v),
    "int": lambda t, v: t.integer(v),
    "money": lambda t, v: t.money(float(v)),
    "money_cents": lambda t, v: t.money(float(v), cents=True),
    "money_whole": lambda t, v: t.money(float(v), cents=False),
    "pct": lambda t, v: t.percent(float(v)),
    "num1": lambda t, v: t.number(float(v), 1),
    "num2": lambda t, v: t.number(float(v), 2),
    "num3": lambda t, v: t.number(float(v), 3),
}

#: Parameter values that are words (set by :func:`rfm_helpers.pipeline.prepare` and the
#: notebooks), shown in the report's language.
PARAMETER_VALUES = {
    "whole history": N_("whole history"),
    "CDNOW (bundled sample)": N_("CDNOW (bundled sample)"),
    "automatic": N_("automatic"),
}


def cell(t: Translator, value: Any, kind: str = "text") -> str:
    """One value written as ``kind`` (see :data:`KINDS`); missing values are empty."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return KINDS[kind](t, value)


def frame(t: Translator, df: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """The ``columns`` of ``df`` (in that order) as text: translated headers, cells formatted
    by :func:`cell`. A column missing from ``df`` is left out."""
    out = {}
    for col, header, kind in columns:
        if col not in df.columns:
            continue
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} for column {col!r}; use one of {sorted(KINDS)}")
        out[t._(header)] = [cell(t, v, kind) for v in df[col]]
    return pd.DataFrame(out, index=df.index).reset_index(drop=True)


def parameters_view(t: Translator, params: Mapping[str, Any]) -> pd.DataFrame:
    """The run's parameters as a two-column table (secrets masked): the names as they are
    (they are what an analyst types), the values that are words in the report's language."""
    rows = []
    for name, value in mask_parameters(params).items():
        if isinstance(value, str) and value in PARAMETER_VALUES:
            value = t._(PARAMETER_VALUES[value])
        rows.append({t._("Parameter"): name, t._("Value"): "" if value is None else str(value)})
    return pd.DataFrame(rows, columns=[t._("Parameter"), t._("Value")])


def list_text(t: Translator, items: Sequence[Any]) -> str:
    """``2, 3 and 4`` / ``2, 3 и 4`` (Babel's list pattern of the report's locale)."""
    from babel.lists import format_list

    return format_list([str(i) for i in items], locale=t.locale)


_FIRST = re.compile(r"^(?:<[^>]+>)*\{(\w+)\}")


def sentence(template: str, values: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``(template, values)`` for :func:`rfm_helpers.report.display.say`, the value that opens
    the sentence (after any leading tags) with a capital first letter. Whether a name opens
    the sentence depends on the language (``{a} and {b} agree`` / ``Методы «{a}» и «{b}»``),
    so it is decided on the translated template."""
    out = {k: str(v) for k, v in values.items()}
    m = _FIRST.match(template)
    if m and m.group(1) in out:
        v = out[m.group(1)]
        out[m.group(1)] = v[:1].upper() + v[1:]
    return template, out
