"""The load report's words: every remark code and reason code has a sentence in English and in
Russian (through the catalog), with the values formatted for the language."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from rfm_helpers.load import REASONS, REMARK_CODES, Remark
from rfm_helpers.report.i18n import translator
from rfm_helpers.report.texts.load import REASON_LABELS, reason_label, remark_text

CYRILLIC = re.compile(r"[А-Яа-яЁё]")

SAMPLE = {"column": "Сумма", "encoding": "cp1251", "separator": ";", "row": 4, "skipped": 3, "count": 1234,
          "sheet": "Продажи", "sheets": ["Инфо", "Продажи"], "table": 2, "found": "amount", "currency": "RUB",
          "marks": ["₽", "руб."], "rows": 5, "rates": {"USD": 92.5}, "digits": 2, "formats": ["ymd", "dmy4"],
          "order": "day_first", "evidence": "values", "ambiguous": 3, "region": "RU", "counted": {"Оплачен": 3},
          "excluded": {"Отменён": 2}, "orders": 21, "amount": 1500.5, "factor": 1000, "median": 35.0,
          "largest": 99000.0, "last_date": dt.date(2024, 1, 31), "analysis_date": dt.date(2024, 7, 31),
          "days": 182, "threshold": 45}


def _remark(code: str) -> Remark:
    values = {k: SAMPLE[k] for k in REMARK_CODES[code]}
    if code == "currency_converted":
        values["rows"] = {"USD": 5}
    return Remark(code, values)


@pytest.mark.parametrize("code", sorted(REMARK_CODES))
def test_every_remark_has_a_sentence_in_both_languages(code: str) -> None:
    en = remark_text(_remark(code), translator("en", "RUB"))
    ru = remark_text(_remark(code), translator("ru", "RUB"))
    assert not en.startswith(code) and not ru.startswith(code), en
    assert CYRILLIC.search(ru) and ru != en
    assert not re.search(r"\b(the|and|was|were|rows|column)\b", ru), ru
    assert "{" not in en and "{" not in ru


def test_russian_remarks_use_russian_numbers_and_plurals() -> None:
    t = translator("ru", "RUB")
    text = remark_text(Remark("ids_cleaned", {"column": "Клиент", "count": 1234}), t)
    assert "1\u00a0234 идентификатора клиентов" in text
    text = remark_text(Remark("refunds_netted", {"orders": 2, "rows": 5, "amount": 1500.5}), t)
    assert text.startswith("5 возвратов") and "1\u00a0500\u00a0₽" in text
    assert "182 дня" in remark_text(_remark("stale_data"), t)


def test_every_reason_has_a_label() -> None:
    assert set(REASON_LABELS) == set(REASONS)
    for code in REASONS:
        assert CYRILLIC.search(reason_label(code, translator("ru")))
        assert reason_label(code, translator("en")) == REASON_LABELS[code]
