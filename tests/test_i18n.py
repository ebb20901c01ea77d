"""Message catalogs and locale formatting (rfm_helpers.report.i18n / catalogs).

The catalog check is the one ``make messages`` / ``python -m rfm_helpers.report.catalogs check``
runs: every message id used in the code is translated in every catalog, no catalog keeps ids
the code no longer uses, and translations keep the id's ``{placeholders}``.
"""
from __future__ import annotations

import datetime as dt

import pytest

from rfm_helpers.report import catalogs
from rfm_helpers.report.i18n import Translator, available_languages, translator


def test_catalogs_are_complete_and_consistent():
    found = catalogs.problems()
    assert not found, "\n".join(found[:40]) + (f"\n... and {len(found) - 40} more" if len(found) > 40 else "")


def test_russian_is_available():
    assert available_languages()[:1] == ["en"] and "ru" in available_languages()


def test_unknown_language_and_currency_are_refused():
    with pytest.raises(ValueError, match="language must be one of"):
        Translator("de")
    with pytest.raises(ValueError, match="ISO 4217"):
        Translator("en", currency="$")


@pytest.mark.parametrize("n, expected", [(1, "1 клиент"), (2, "2 клиента"), (4, "4 клиента"), (5, "5 клиентов"),
                                         (11, "11 клиентов"), (12, "12 клиентов"), (21, "21 клиент"),
                                         (22, "22 клиента"), (111, "111 клиентов"), (23502, "23\u00a0502 клиента")])
def test_russian_plural_forms_follow_cldr(n, expected, monkeypatch):
    t = Translator("ru")
    # the rule itself is the catalog's Plural-Forms header; checked here on a known message
    forms = ("{n} клиент", "{n} клиента", "{n} клиентов")
    index = t._t.plural(n)
    assert forms[index].format(n=t.integer(n)) == expected


def test_english_plural():
    t = Translator("en")
    assert t.plural(1, "{n} customer", "{n} customers") == "1 customer"
    assert t.plural(23502, "{n} customer", "{n} customers") == "23,502 customers"


@pytest.mark.parametrize("language, currency, x, expected", [
    ("en", "USD", 2500316.4, "$2,500,316"),
    ("en", "USD", 7.724, "$7.72"),
    ("ru", "RUB", 1234567.89, "1\u00a0234\u00a0568\u00a0₽"),
    ("ru", "RUB", 7.724, "7,72\u00a0₽"),
    ("ru", "USD", 2500316, "2\u00a0500\u00a0316\u00a0$"),
    ("en", "RUB", 2500316, "RUB\u00a02,500,316"),
])
def test_money(language, currency, x, expected):
    assert translator(language, currency).money(x) == expected


def test_money_with_cents_and_sign():
    t = translator("ru", "RUB")
    assert t.money(1234567.891, cents=True) == "1\u00a0234\u00a0567,89\u00a0₽"
    assert t.money(48.67, signed=True) == "+48,67\u00a0₽"
    assert t.money(-48.67, signed=True) == "-48,67\u00a0₽"
    assert translator("en", "USD").money(1.59, signed=True) == "+$1.59"


def test_numbers_percentages_points():
    en, ru = translator("en"), translator("ru")
    assert (en.integer(23502), ru.integer(23502)) == ("23,502", "23\u00a0502")
    assert (en.percent(0.184), ru.percent(0.184)) == ("18.4%", "18,4\u00a0%")
    assert en.number(1234.5, 1) == "1,234.5" and ru.number(1234.5, 2) == "1\u00a0234,50"
    assert en.points(0.0457, 2) == "+4.57 pts"
    assert ru.points(-0.007) == "-0,7 п. п."
    assert en.integer(float("nan")) == "–"


def test_dates_and_months():
    en, ru = translator("en"), translator("ru")
    assert en.month("2026-03") == "March 2026" and ru.month("2026-03") == "март 2026"
    assert ru.date(dt.date(1998, 6, 30)) == "30 июня 1998\u202fг."
    assert en.date("1998-06-30") == "June 30, 1998"


def test_plural_word_agrees_with_the_rounded_number_shown():
    t = translator("ru")
    assert t.plural(21.4, "{n} day", "{n} days") == t.plural(21, "{n} day", "{n} days")
    assert t.plural(21.6, "{n} day", "{n} days").startswith("22")
    assert t.plural(21.6, "{n} day", "{n} days") == t.plural(22, "{n} day", "{n} days")


def test_zero_money_has_no_cents():
    assert translator("ru", "RUB").money(0) == "0\u00a0₽" and translator("en").money(0.0) == "$0"
    assert translator("en").money(0.5) == "$0.50"
