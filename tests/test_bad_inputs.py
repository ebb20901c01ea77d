"""Bad and awkward inputs the loader meets in practice, each with its exact expected outcome.

Every case writes its file into ``tmp_path`` and states either the error (text that must
appear in the message: file name, column, line numbers) or the quarantine reason counts
and the number of kept rows. The test ids read as the list of cases.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.load import DataValidationError, load_transactions
from rfm_helpers.rfm import compute_rfm, score_quantiles

HEADER = "customer_id,order_date,amount\n"


@dataclass
class Case:
    id: str
    content: str | bytes | Callable[[Path], Path]
    spec: dict = field(default_factory=dict)
    analysis_date: Any = None
    error: tuple[str, ...] = ()          # substrings of the DataValidationError message
    reasons: dict[str, int] | None = None  # exact quarantine reason counts
    kept: int | None = None
    check: Callable[[Any], None] | None = None
    filename: str = "data.csv"
    encoding: str = "utf-8"


def _write(tmp_path: Path, case: Case) -> Path:
    if callable(case.content):
        return case.content(tmp_path)
    path = tmp_path / case.filename
    data = case.content if isinstance(case.content, bytes) else case.content.encode(case.encoding)
    path.write_bytes(data)
    return path


def _amounts(expected: list[float]) -> Callable:
    def check(r):
        assert r.clean["amount"].tolist() == pytest.approx(expected)
    return check


def _dates(expected: list[str]) -> Callable:
    def check(r):
        assert [d.strftime("%Y-%m-%d") for d in r.clean["order_date"]] == expected
    return check


def _lines(reason: str, expected: list[int]) -> Callable:
    def check(r):
        assert r.quarantine.loc[r.quarantine["reason"] == reason, "source_row"].tolist() == expected
    return check


def _all(*checks: Callable) -> Callable:
    def check(r):
        for c in checks:
            c(r)
    return check


# --- builders for cases that need more than a literal ---------------------------------

def _excel_serials(tmp_path: Path) -> Path:
    """Excel sheet with one real date cell and two unformatted serial numbers."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["customer_id", "order_date", "amount"])
    ws.append(["001", dt.datetime(2024, 1, 1), 10.0])
    ws.append(["002", 45293, 20.0])      # 2024-01-02 as a bare serial number
    ws.append(["003", "45294", 30.0])    # the same as text
    path = tmp_path / "serials.xlsx"
    wb.save(path)
    return path


def _excel_dup_columns(tmp_path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["customer_id", "order_date", "amount", "amount"])
    ws.append(["001", "2024-01-01", 10.0, 11.0])
    path = tmp_path / "dup.xlsx"
    wb.save(path)
    return path


def _million_rows(tmp_path: Path) -> Path:
    n = 1_000_000
    rng = np.random.default_rng(7)
    ids = np.char.zfill(rng.integers(1, 200_000, n).astype(str), 6)
    cents = rng.integers(100, 100_000, n)
    amounts = np.char.add(np.char.add((cents // 100).astype(str), "."), np.char.zfill((cents % 100).astype(str), 2))
    amounts[499_999] = "12.3.4"  # the one bad row: data row 500,000 = line 500,001 (header is line 1)
    body = np.char.add(np.char.add(np.char.add(ids, ",2024-05-17,"), amounts), "\n")
    path = tmp_path / "million.csv"
    path.write_text(HEADER + "".join(body.tolist()), encoding="utf-8")
    return path


def _rfm_check(expect_single_customer: bool) -> Callable:
    def check(r):
        rfm = score_quantiles(compute_rfm(r.clean, dt.date(2024, 6, 30)), 5)
        if expect_single_customer:
            assert len(rfm) == 1 and rfm["frequency"].iloc[0] == 3
        else:
            assert rfm["frequency"].eq(1).all()
            assert rfm["f_score"].nunique() == 1  # everyone tied on frequency
    return check


CASES = [
    Case("wrong_delimiter", "customer_id;order_date;amount\n1;2024-01-01;5\n", spec={"csv": {"sep": ","}},
         error=("data.csv", "customer_id;order_date;amount", "separator")),
    Case("semicolon_sep_sniffed", "customer_id;order_date;amount\n1;2024-01-01;5\n2;2024-01-02;6\n",
         reasons={}, kept=2),
    Case("semicolon_sep_with_decimal_commas_in_every_row",
         "customer_id;order_date;amount\n1;2024-01-01;5,5\n2;2024-01-02;6,25\n3;2024-01-03;7,75\n",
         reasons={}, kept=3, check=_all(_amounts([5.5, 6.25, 7.75]),
                                        lambda r: r.remark("separator_detected").values == {"separator": ";"} or pytest.fail("sep"))),
    Case("tab_sep_sniffed", "customer_id\torder_date\tamount\n1\t2024-01-01\t5\n2\t2024-01-02\t6\n",
         reasons={}, kept=2),
    Case("utf8_bom", b"\xef\xbb\xbf" + (HEADER + "1,2024-01-01,5\n").encode(), reasons={}, kept=1,
         check=lambda r: r.remark("bom_removed") is not None),
    Case("cp1251_cyrillic_header_and_values",
         "Клиент;Дата;Сумма;Канал\nИван;01.02.2024;100;Розница\nПётр;02.02.2024;200;Интернет-магазин\n",
         encoding="cp1251",
         spec={"columns": {"customer_id": "Клиент", "order_date": "Дата", "amount": "Сумма", "channel": "Канал"}},
         reasons={}, kept=2,
         check=lambda r: (r.clean["channel"].tolist() == ["Розница", "Интернет-магазин"]
                          and r.clean["customer_id"].tolist() == ["Иван", "Пётр"]
                          and r.remark("encoding_detected").values == {"encoding": "cp1251"})
         or pytest.fail(str(r.clean))),
    Case("wrong_explicit_encoding", "Клиент,Дата,Сумма\nИван,01.02.2024,100\n".encode("cp1251"),
         spec={"csv": {"encoding": "utf-8"}}, error=("data.csv", "cannot be read as utf-8", "line 1")),
    Case("decimal_comma", "customer_id;order_date;amount\n1;2024-01-01;1234,56\n2;2024-01-02;7,5\n",
         reasons={}, kept=2, check=_amounts([1234.56, 7.5])),
    Case("thousands_separators",
         HEADER.replace(",", ";") + "1;2024-01-01;1 234,50\n2;2024-01-01;1\u00a0234,50\n3;2024-01-01;1'234,50\n"
         "4;2024-01-01;1.234,50\n5;2024-01-01;1\u202f234,50\n",
         reasons={}, kept=5, check=_amounts([1234.5] * 5)),
    Case("comma_thousands_dot_decimal", HEADER.replace(",", ";") + "1;2024-01-01;1,234.50\n2;2024-01-01;12,345,678.00\n",
         reasons={}, kept=2, check=_amounts([1234.5, 12345678.0])),
    # RUB, USD and EUR in one column would sum into one meaningless revenue: refused
    Case("currency_symbols_mixed",
         HEADER.replace(",", ";") + "1;2024-01-01;100 ₽\n2;2024-01-01;100 руб.\n3;2024-01-01;$100\n"
         "4;2024-01-01;€100\n5;2024-01-01;100 р.\n6;2024-01-01;1 500,50 RUB\n",
         error=("data.csv", "several currencies", "RUB: 4 rows", "USD: 1 rows (e.g. line 4)", "EUR", "conversion")),
    Case("currency_symbols_one_currency",
         HEADER.replace(",", ";") + "1;2024-01-01;100 ₽\n2;2024-01-01;100 руб.\n3;2024-01-01;100 р.\n"
         "4;2024-01-01;1 500,50 RUB\n5;2024-01-01;350 Р\n6;2024-01-01;350 р\n",
         reasons={}, kept=6, check=_all(_amounts([100, 100, 100, 1500.5, 350, 350]),
                                        lambda r: r.currency == "RUB" or pytest.fail(r.currency))),
    Case("ruble_suffix_with_decimal_comma",
         HEADER.replace(",", ";") + "1;2024-01-01;659,29 руб.\n2;2024-01-01;1 622,08 руб.\n3;2024-01-01;15 р.\n",
         reasons={}, kept=3, check=_amounts([659.29, 1622.08, 15])),
    Case("accounting_negatives", HEADER.replace(",", ";") + "1;2024-01-01;(1 234,50)\n2;2024-01-01;99,90-\n"
         "3;2024-01-01;−5,00\n4;2024-01-01;12,00\n",
         reasons={"return_or_cancellation": 3}, kept=1,
         check=lambda r: r.quarantine["amount"].tolist() == ["(1 234,50)", "99,90-", "−5,00"]
         or pytest.fail("raw values")),
    Case("duplicated_column_names_excel", _excel_dup_columns,
         error=("dup.xlsx", "duplicated column name", "'amount'")),
    Case("mixed_date_formats",
         HEADER + "1,05.01.2024,1\n2,2024-01-06,1\n3,20240107,1\n4,08/01/2024,1\n5,2024-01-09 14:30,1\n"
         "6,10.01.2024 09:15,1\n7,25/01/2024,1\n",
         reasons={}, kept=7,
         check=_dates(["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08", "2024-01-09", "2024-01-10",
                       "2024-01-25"])),
    Case("month_first_slash_dates", HEADER + "1,01/13/2024,1\n2,02/01/2024,1\n", reasons={}, kept=2,
         check=_dates(["2024-01-13", "2024-02-01"])),
    Case("contradictory_slash_dates", HEADER + "1,13/01/2024,1\n2,01/13/2024,1\n3,03/04/2024,1\n4,05/05/2024,1\n",
         reasons={"bad_date": 1}, kept=3,
         check=_all(_lines("bad_date", [4]), _dates(["2024-01-13", "2024-01-13", "2024-05-05"]))),
    Case("impossible_date", HEADER + "1,31.02.2024,1\n2,29.02.2024,1\n", reasons={"bad_date": 1}, kept=1,
         check=_lines("bad_date", [2])),
    Case("tz_aware_timestamps",
         HEADER + "1,2024-03-01T23:30:00+03:00,1\n2,2024-03-01T22:30:00Z,1\n3,2024-03-01 00:10:00-05:00,1\n",
         reasons={}, kept=3,
         check=_all(_dates(["2024-03-01"] * 3),
                    lambda r: r.clean["order_date"].iloc[0] == pd.Timestamp("2024-03-01 23:30"))),
    Case("excel_serial_dates_in_csv", HEADER + "1,45292,1\n2,45293.5,1\n", reasons={}, kept=2,
         check=_dates(["2024-01-01", "2024-01-02"])),
    Case("excel_serial_and_date_cells", _excel_serials, reasons={}, kept=3,
         check=_all(_dates(["2024-01-01", "2024-01-02", "2024-01-03"]),
                    lambda r: r.clean["customer_id"].tolist() == ["001", "002", "003"] or pytest.fail("ids"))),
    Case("empty_file", "", error=("data.csv", "empty")),
    Case("whitespace_only_file", "\n\n  \n", error=("data.csv", "empty")),
    Case("header_only", HEADER, error=("data.csv", "header", "no data rows")),
    Case("header_repeated_mid_file", HEADER + "1,2024-01-01,5\n" + HEADER + "2,2024-01-02,6\n",
         reasons={"repeated_header": 1}, kept=2, check=_lines("repeated_header", [3])),
    Case("duplicated_column_names", "customer_id,order_date,amount,amount\n1,2024-01-01,5,6\n",
         error=("data.csv", "duplicated column name", "'amount'", "[3, 4]")),
    Case("misspelt_column", "customer_id,order_date,amout\n1,2024-01-01,5\n",
         error=("data.csv", "'amount'", "Did you mean 'amout'", "Columns found")),
    Case("column_name_case_differs", "Customer_ID,Order_Date,AMOUNT\n1,2024-01-01,5\n", reasons={}, kept=1),
    Case("extra_columns_ignored", "note,customer_id,order_date,extra,amount\nx,1,2024-01-01,y,5\n",
         reasons={}, kept=1,
         check=lambda r: list(r.clean.columns) == ["customer_id", "order_date", "amount"] or pytest.fail("cols")),
    Case("optional_column_all_null", "customer_id,order_date,amount,channel\n1,2024-01-01,5,\n2,2024-01-01,6,\n",
         spec={"columns": {"channel": "channel"}}, reasons={}, kept=2,
         check=lambda r: "channel" not in r.clean.columns and any("channel" in w for w in r.warnings)),
    Case("required_column_all_null", HEADER + "1,2024-01-01,\n2,2024-01-02,\n",
         error=("data.csv", "'amount'", "empty in every row")),
    Case("amount_column_all_text", HEADER + "1,2024-01-01,abc\n2,2024-01-02,def\n",
         error=("data.csv", "'amount'", "none of the values is a number", "line 2: 'abc'")),
    Case("wrong_date_format_option", HEADER + "".join(f"{i},2024-01-{i % 28 + 1:02d},5\n" for i in range(30)),
         spec={"dates": {"format": "%d.%m.%Y"}},
         error=("data.csv", "'order_date'", "none of the values could be read as a date", "line 2")),
    Case("too_many_bad_dates", HEADER + "".join(f"{i},{'2024-01-05' if i % 4 else 'soon'},5\n" for i in range(40)),
         error=("data.csv", "'order_date'", "10 of 40", "25%", "line 2: 'soon'", "line 6: 'soon'")),
    Case("few_bad_dates_quarantined", HEADER + "".join(f"{i},{'2024-01-05' if i != 7 else 'soon'},5\n"
                                                        for i in range(40)),
         reasons={"bad_date": 1}, kept=39, check=_lines("bad_date", [9])),
    Case("leading_zero_ids", HEADER + "00042,2024-01-01,5\n42,2024-01-02,6\n  007 ,2024-01-03,7\n",
         reasons={}, kept=3,
         check=lambda r: r.clean["customer_id"].tolist() == ["00042", "42", "007"] or pytest.fail("ids")),
    Case("negative_and_zero_amounts", HEADER + "1,2024-01-01,-5\n2,2024-01-01,0\n3,2024-01-01,0.00\n"
         "4,2024-01-01,(12.50)\n5,2024-01-01,7\n",
         reasons={"return_or_cancellation": 2, "zero_amount": 2}, kept=1,
         check=_lines("return_or_cancellation", [2, 5])),
    Case("huge_outlier_kept_and_warned",
         HEADER + "".join(f"{i},2024-01-01,10\n" for i in range(20)) + "99,2024-01-01,5000000\n",
         reasons={}, kept=21,
         check=lambda r: (r.remark("outliers").values["row"] == 22 and r.remark("outliers").values["count"] == 1)
         or pytest.fail(str(r.remarks))),
    Case("future_dates", HEADER + "1,2024-06-30,5\n2,2024-07-01,5\n3,2031-01-01,5\n",
         analysis_date="2024-06-30", reasons={"after_analysis_date": 2}, kept=1,
         check=_lines("after_analysis_date", [3, 4])),
    Case("null_markers", HEADER + "n/a,2024-01-01,5\nNULL,2024-01-01,5\n1,N/A,5\n2,2024-01-01,n/a\n3,2024-01-01,-\n"
         "4,2024-01-01,5\n",
         reasons={"missing_customer_id": 2, "bad_date": 1, "bad_amount": 2}, kept=1),
    Case("blank_customer_id", HEADER + ",2024-01-01,5\n   ,2024-01-01,5\n1,2024-01-01,5\n",
         reasons={"missing_customer_id": 2}, kept=1, check=_lines("missing_customer_id", [2, 3])),
    Case("single_customer", HEADER + "A1,2024-01-01,5\nA1,2024-02-01,6\nA1,2024-03-01,7\n", reasons={}, kept=3,
         check=_rfm_check(True)),
    Case("all_customers_one_order", HEADER + "".join(f"c{i},2024-0{i % 5 + 1}-01,{10 + i}\n" for i in range(12)),
         reasons={}, kept=12, check=_rfm_check(False)),
    Case("cyrillic_utf8_names",
         "клиент,дата,сумма,канал\nАнна Смирнова,2024-01-01,5,Розница\nЁжиков Ё.,2024-01-01,6,Интернет\n",
         spec={"columns": {"customer_id": "клиент", "order_date": "дата", "amount": "сумма", "channel": "канал"}},
         reasons={}, kept=2,
         check=lambda r: r.clean["customer_id"].tolist() == ["Анна Смирнова", "Ёжиков Ё."] or pytest.fail("names")),
    Case("crlf_line_endings", (HEADER + "1,2024-01-01,5\n2,2024-01-02,6\n").replace("\n", "\r\n"),
         reasons={}, kept=2, check=_amounts([5, 6])),
    Case("trailing_separators", "customer_id;order_date;amount;\n1;2024-01-01;5;\n2;2024-01-02;6;\n",
         reasons={}, kept=2, check=_amounts([5, 6])),
    Case("quoted_separator_inside_field",
         'customer_id,order_date,amount,channel\n1,2024-01-01,"1,234.50","Moscow, Center"\n',
         spec={"columns": {"channel": "channel"}}, reasons={}, kept=1,
         check=lambda r: (r.clean["channel"].iloc[0] == "Moscow, Center" and r.clean["amount"].iloc[0] == 1234.5)
         or pytest.fail(str(r.clean))),
    Case("unquoted_separator_ragged_row", HEADER + "1,2024-01-01,5\n2,2024-01-02,1,5\n",
         error=("data.csv", "line 3", "4 fields", "header has 3")),
    Case("blank_lines_do_not_shift_line_numbers", HEADER + "1,2024-01-01,5\n\n2,2024-01-02,oops\n\n",
         reasons={"bad_amount": 1}, kept=1, check=_lines("bad_amount", [4])),
    Case("duplicates_without_order_id_kept", HEADER + "1,2024-01-01,5\n1,2024-01-01,5\n", reasons={}, kept=2),
    Case("duplicates_with_order_id_quarantined",
         "customer_id,order_date,amount,order_id\n1,2024-01-01,5,A\n1,2024-01-01,5,A\n1,2024-01-01,7,A\n",
         spec={"columns": {"order_id": "order_id"}}, reasons={"duplicate": 1}, kept=2,
         check=_all(_lines("duplicate", [3]),
                    lambda r: r.quarantine["reason_value"].iloc[0] == "2" or pytest.fail("detail"))),
    Case("whitespace_separated_leading_spaces", " customer_id  order_date amount\n 001  20240101  5.5\n 002 20240102 6\n",
         spec={"csv": {"sep": r"\s+"}}, reasons={}, kept=2,
         check=lambda r: r.clean["customer_id"].tolist() == ["001", "002"] or pytest.fail("ids")),
    Case("million_rows_one_bad_row", _million_rows, reasons={"bad_amount": 1}, kept=999_999,
         check=_lines("bad_amount", [500_001])),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    path = _write(tmp_path, case)
    spec = {"path": str(path), **case.spec}
    if case.error:
        with pytest.raises(DataValidationError) as info:
            load_transactions(spec, case.analysis_date)
        msg = str(info.value)
        for part in case.error:
            assert part in msg, f"{part!r} not in error message: {msg}"
        return
    r = load_transactions(spec, case.analysis_date)
    assert r.rows_in == r.rows_kept + r.rows_quarantined
    assert r.rows_kept == case.kept, r.quarantine.to_string()
    assert r.reason_counts().to_dict() == case.reasons
    assert r.quarantine["reason"].ne("").all() and r.quarantine["source_row"].is_unique
    assert r.clean["customer_id"].dtype == "string"
    assert str(r.clean["order_date"].dtype) == "datetime64[ns]"
    if case.check is not None:
        assert case.check(r) is not False, f"check failed for {case.id}"


def test_case_list_is_long_enough() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 50
