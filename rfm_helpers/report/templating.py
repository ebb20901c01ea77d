"""What the report pages share: the Jinja environment (templates in ``report/templates/``,
their words through the run's :class:`~rfm_helpers.report.i18n.Translator` via the
``jinja2.ext.i18n`` extension) and the formatting of headline figures and parameters.

Templates mark their words with ``{{ _("...") }}`` (``{name}`` placeholders filled with
``.format``, never ``%``) and ``ngettext``; ``make messages`` extracts them into the catalogs.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
from pathlib import Path
from typing import Any, Mapping

from .i18n import DEFAULT_CURRENCY, N_, Translator, translator

__all__ = ["TEMPLATES_DIR", "jinja_env", "format_value", "headline", "format_timestamp", "display_params",
           "strip_external", "BUNDLED_SOURCE", "PARAM_WORDS"]

TEMPLATES_DIR = Path(__file__).with_name("templates")
#: How ``summary.json`` names the bundled sample as the source (a key, not a sentence).
BUNDLED_SOURCE = "bundled CDNOW sample"


@functools.lru_cache(maxsize=16)
def _env_for(language: str, currency: str):
    import jinja2

    t = translator(language, currency)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    # old-style callables: ``_()`` returns the translation and the template fills the
    # ``{placeholders}`` with ``.format`` (new-style would apply ``%`` to every message)
    env.install_gettext_callables(t.gettext, t.ngettext, newstyle=False, pgettext=t.pgettext,
                                  npgettext=t.npgettext)
    env.filters["ts"] = format_timestamp
    env.filters["value"] = lambda v, fmt=None, currency=None: format_value(v, fmt, t, currency=currency)
    env.globals["t"] = t
    return env


def jinja_env(t: Translator | None = None):
    """The template environment speaking ``t``'s language (cached per language and currency)."""
    t = t or translator("en", DEFAULT_CURRENCY)
    return _env_for(t.language, t.currency)


def format_timestamp(value: Any) -> str:
    """ISO timestamp -> ``2026-11-24 21:04 UTC`` for pages (text returned as is if unparsable)."""
    if not value:
        return ""
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_value(value: Any, fmt: str | None = None, t: Translator | None = None, *,
                 currency: str | None = None) -> str:
    """A headline value for display in ``t``'s locale (English/USD by default).

    ``fmt`` (as recorded by :func:`rfm_helpers.report.summary.record`): ``"money"`` in the run's
    currency (``$2,500,316``, ``2 500 316 ₽``; cents below 100), ``"pct"`` for a 0..1 share,
    ``"int"``, ``"float"``, ``"pvalue"`` (``< 0.001``), ``"text"``; default: by type, with
    thousands separators and at most 2 decimals, and a tiny number never shown as 0."""
    t = t or translator("en", DEFAULT_CURRENCY)
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if not _is_number(value) or fmt == "text":
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    if fmt == "pct":
        return t.percent(value, 1)
    if fmt == "money":
        return t.money(value, currency)
    if fmt == "int":
        return t.integer(value)
    if fmt == "pvalue":
        return f"< {t.number(0.001, 3)}" if value < 0.001 else t.number(value, 3)
    if isinstance(value, int):
        return t.integer(value)
    if value == 0:
        return "0"
    if abs(value) < 0.001:  # p-values and the like: never show a tiny number as 0
        return f"{value:.1e}".replace(".", t.locale.number_symbols["latn"]["decimal"])
    if abs(value) < 0.01:
        return t.number(value, 3)
    if abs(value) >= 1000:
        return t.integer(value)
    from babel.numbers import format_decimal

    return format_decimal(value, format="#,##0.##", locale=t.locale)


def headline(summary: Mapping[str, Any], t: Translator | None = None) -> list[tuple[str, str]]:
    """(label, formatted value) pairs of a summary's ``headline`` section, in recorded order;
    money in the run's currency (``summary["run"]["currency"]``)."""
    currency = (summary.get("run") or {}).get("currency") or None
    out = []
    for key, entry in (summary.get("headline") or {}).items():
        if isinstance(entry, Mapping):
            out.append((str(entry.get("label") or key),
                        format_value(entry.get("value"), entry.get("fmt"), t, currency=currency)))
        else:
            out.append((str(key), format_value(entry, None, t)))
    return out


#: Shown values of parameters that are a code rather than a word.
PARAM_WORDS = {"bundled": N_("bundled CDNOW sample"), "whole": N_("0 (whole history)")}


def display_params(params: Mapping[str, Any], t: Translator | None = None) -> list[tuple[str, str]]:
    """The parameters box of a page: (name, shown value); the bundled source and the whole
    history said in the report's language, ``run_dir`` left out, files by their name."""
    t = t or translator("en", DEFAULT_CURRENCY)
    rows = []
    for k, v in params.items():
        if k in ("run_dir", "month"):
            continue
        if k == "source_config":
            v = Path(v).name if v and v != BUNDLED_SOURCE else t._(PARAM_WORDS["bundled"])
        elif k == "window_days" and not v:
            v = t._(PARAM_WORDS["whole"])
        rows.append((k, "" if v is None else str(v)))
    return rows


_EXTERNAL_TAGS = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*['\"]?(?:https?:)?//[^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref\s*=\s*['\"]?(?:https?:)?//[^>]*>", re.I)


def strip_external(body: str) -> str:
    """Drop any ``<script src=http...>``/``<link href=http...>`` so the page never reaches out."""
    return _EXTERNAL_TAGS.sub("", body)
