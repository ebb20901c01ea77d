"""Words and number formats of a report, per language: gettext catalogs and Babel.

Every sentence, caption, label and chart title a person reads goes through a
:class:`Translator`. The English text is the message id (gettext's convention), so English
needs no catalog; every other language has one catalog,
``rfm_helpers/report/locale/<lang>/LC_MESSAGES/messages.po``, which is managed with Babel
(``make messages``: extract the ids from the code, templates and notebooks, merge them into
each catalog). Adding a language means adding one catalog.

Numbers, money, percentages, dates and month names are formatted by Babel for the report's
locale (``1 234 567,89 ₽``, ``18,4 %``, ``март 2026``); plural forms come from the catalog's
plural rule (``1 клиент``, ``2 клиента``, ``5 клиентов``).

Usage::

    from rfm_helpers.report.i18n import translator, N_
    t = translator("ru", currency="RUB")
    t._("Customers")                                   # 'Клиентов'
    t.ngettext("{n} customer", "{n} customers", 5).format(n=t.integer(5))   # '5 клиентов'
    t.plural(23502, "{n} customer", "{n} customers")    # '23 502 клиента'
    t.money(2500316)                                   # '2 500 316 ₽'
    t.percent(0.184)                                   # '18,4 %'
    t.month("2026-03")                                  # 'март 2026'

Messages use ``{name}`` placeholders (``str.format``), never ``%`` formatting; the catalog
check (``tests/test_i18n.py``) makes sure every translation keeps the same placeholders.
``N_("...")`` marks a message for extraction where the text is translated later (a table of
labels defined at import time).
"""
from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
import math
import re
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_symbol

__all__ = ["LOCALE_DIR", "DOMAIN", "N_", "Translator", "translator", "available_languages",
           "DEFAULT_CURRENCY"]

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
#: Currency of a source that does not state one (the bundled CDNOW sample is in US dollars).
DEFAULT_CURRENCY = "USD"
#: Babel locale per report language (a language without an entry uses its own code).
_LOCALES = {"en": "en_US", "ru": "ru_RU"}


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now."""
    return message


def available_languages() -> list[str]:
    """``en`` (the language of the message ids) plus every language with a catalog."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return ["en", *[lang for lang in found if lang != "en"]]


@functools.lru_cache(maxsize=None)
def _catalog(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (compiled in memory from the ``.po`` file, so
    an edited catalog needs no build step); English: the ids themselves."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == "en" or not po.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


class Translator:
    """Words and formats of one report language (and the run's currency).

    ``language`` must be one of :func:`available_languages`; ``currency`` is an ISO 4217
    code (``USD``, ``RUB``, ``EUR``...).
    """

    def __init__(self, language: str = "en", currency: str = DEFAULT_CURRENCY):
        languages = available_languages()
        if language not in languages:
            raise ValueError(f"language must be one of {languages}, got {language!r}")
        code = str(currency or DEFAULT_CURRENCY).strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"currency must be an ISO 4217 code such as USD, RUB or EUR, got {currency!r}")
        self.language = language
        self.currency = code
        self.locale = Locale.parse(_LOCALES.get(language, language))
        self._t = _catalog(language)

    def __repr__(self) -> str:
        return f"Translator({self.language!r}, currency={self.currency!r})"

    # ---------------------------------------------------------------- words
    def gettext(self, message: str) -> str:
        """``message`` in the report's language."""
        return self._t.gettext(message)

    _ = gettext

    def ngettext(self, singular: str, plural: str, n: float) -> str:
        """The form of ``singular``/``plural`` that goes with the number ``n`` (three forms in
        Russian). Fill the number in afterwards, formatted: ``.format(n=t.integer(n))``."""
        return self._t.ngettext(singular, plural, _plural_operand(n))

    def pgettext(self, context: str, message: str) -> str:
        """``message`` translated in ``context`` (one English word, two meanings)."""
        return self._t.pgettext(context, message)

    def npgettext(self, context: str, singular: str, plural: str, n: float) -> str:
        return self._t.npgettext(context, singular, plural, _plural_operand(n))

    def plural(self, n: float, singular: str, plural: str, **values: Any) -> str:
        """``ngettext`` with ``{n}`` filled in as a formatted integer (and any other
        ``values``): ``t.plural(23502, "{n} customer", "{n} customers")`` -> ``23 502 клиента``.
        A fractional ``n`` is rounded first, so the word agrees with the number shown
        (``21.6`` -> ``22 дня``, not ``22 день``)."""
        if n is None or (isinstance(n, float) and math.isnan(n)):
            return self.ngettext(singular, plural, 0).format(n=self.integer(n), **values)
        k = int(round(n))
        return self.ngettext(singular, plural, k).format(n=self.integer(k), **values)

    # ---------------------------------------------------------------- numbers
    def integer(self, n: float) -> str:
        """A whole number with the locale's grouping: ``23,502`` / ``23 502``."""
        if n is None or (isinstance(n, float) and math.isnan(n)):
            return "–"
        return format_decimal(int(round(n)), locale=self.locale)

    def number(self, x: float, digits: int = 1, *, signed: bool = False) -> str:
        """A number with exactly ``digits`` decimals: ``1,234.5`` / ``1 234,5``."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        if signed:
            pattern = f"+{pattern};-{pattern}"
        return format_decimal(x, format=pattern, locale=self.locale)

    def percent(self, share: float, digits: int = 1, *, signed: bool = False) -> str:
        """A 0..1 share as a percentage: ``18.4%`` / ``18,4 %``."""
        if share is None or (isinstance(share, float) and math.isnan(share)):
            return "–"
        pattern = _with_decimals(self.locale.percent_formats[None].pattern, digits)
        if signed:
            pattern = f"+{pattern};-{pattern}"
        return format_percent(share, format=pattern, locale=self.locale)

    def points(self, diff: float, digits: int = 1, *, signed: bool = True) -> str:
        """A difference of two shares in percentage points (``+4.6 pts`` / ``+4,6 п. п.``)."""
        return self._("{value} pts").format(value=self.number(100 * diff, digits, signed=signed))

    def money(self, x: float, currency: str | None = None, *, cents: bool | None = None,
              signed: bool = False) -> str:
        """A money amount in the locale's currency format: ``$2,500,316`` / ``2 500 316 ₽``.

        ``cents``: ``None`` shows cents only for amounts below 100 (a report reads
        ``2 500 316 ₽``, but ``7,72 ₽``; zero is ``0 ₽``); ``True``/``False`` force them on or off."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        code = (currency or self.currency).upper()
        show_cents = 0 < abs(x) < 100 if cents is None else cents
        pattern = _with_decimals(self.locale.currency_formats["standard"].pattern, 2 if show_cents else 0)
        symbol = get_currency_symbol(code, locale=self.locale)
        if symbol.isalpha() and len(symbol) > 1:  # an ISO code as the sign: RUB 2,500,316
            pattern = re.sub(r"^¤(?=[#0])", "¤\u00a0", pattern)
            pattern = re.sub(r"(?<=[#0])¤$", "\u00a0¤", pattern)
        if signed:
            pattern = f"+{pattern};-{pattern}"
        return format_currency(x, code, format=pattern, locale=self.locale, currency_digits=False)

    def currency_symbol(self, currency: str | None = None) -> str:
        """The currency's sign in this locale (``$``, ``₽``, ``€``; ``RUB`` where the
        locale has no sign of its own)."""
        return get_currency_symbol((currency or self.currency).upper(), locale=self.locale)

    # ---------------------------------------------------------------- dates
    def date(self, value: Any, format: str = "long") -> str:
        """A calendar date: ``June 30, 1998`` / ``30 июня 1998 г.`` (``format``: Babel's
        ``short``/``medium``/``long`` or a CLDR pattern)."""
        if value is None or value == "":
            return "–"
        return format_date(_as_date(value), format=format, locale=self.locale)

    def month(self, value: Any) -> str:
        """A calendar month as a stand-alone name with its year: ``June 1998`` / ``июнь 1998``.
        ``value``: ``YYYY-MM``, a date or a timestamp."""
        if isinstance(value, str) and len(value.strip()) == 7:
            value = value.strip() + "-01"
        return format_date(_as_date(value), format="LLLL y", locale=self.locale)


def _with_decimals(pattern: str, digits: int) -> str:
    """A CLDR number pattern (first, positive part) with exactly ``digits`` decimals."""
    pattern = pattern.split(";")[0]
    return re.sub(r"0(?:\.0+)?(?=[^#0.,]*$)", "0" + ("." + "0" * digits if digits > 0 else ""), pattern, count=1)


def _plural_operand(n: float) -> int:
    """gettext's plural rules take integers; a float count (1.5) uses the 'other'-like
    form of its integer part as Python's gettext would choke on it."""
    try:
        return int(abs(n))
    except (TypeError, ValueError, OverflowError):
        return 0


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().date()
    if hasattr(value, "to_timestamp"):  # pandas Period
        return value.to_timestamp().date()
    return dt.date.fromisoformat(str(value).strip()[:10])


@functools.lru_cache(maxsize=32)
def translator(language: str = "en", currency: str = DEFAULT_CURRENCY) -> Translator:
    """The (cached) :class:`Translator` for ``language`` and ``currency``."""
    return Translator(language, currency)
