"""Issue 9: real shop exports in, right numbers out. One named case per kind of export the
issue lists (1C, amoCRM, Bitrix24, Shopify, WooCommerce, Excel, Google Sheets shapes), each on
a small file generated here, with its exact outcome: the error text (file, column, line,
the option that resolves it) or the kept rows, the quarantine reasons and the revenue.

Revenue truths are computed by hand from the generated rows (the constants in each case),
never copied from the loader's output.
"""
from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from rfm_helpers.load import DataValidationError, load_transactions, read_source_spec


@dataclass
class Case:
    id: str
    files: dict[str, Any]                  # file name -> text, bytes or a builder(path)
    spec: dict | str = field(default_factory=dict)   # dict spec (path filled in) or YAML text (spec.yaml)
    analysis_date: Any = None
    error: tuple[str, ...] = ()            # substrings of the error message
    kept: int | None = None
    reasons: dict[str, int] | None = None
    revenue: float | None = None
    customers: int | None = None
    dates: list[str] | None = None         # kept order dates (ISO, with time when given)
    remarks: tuple[str, ...] = ()          # remark codes that must be present
    check: Callable[[Any], Any] | None = None


def _xlsx(sheets: dict[str, list[list[Any]]], merge: str | None = None) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import openpyxl

        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for name, rows in sheets.items():
            ws = wb.create_sheet(name)
            for r in rows:
                ws.append(r)
            if merge and name == next(iter(sheets)):
                ws.merge_cells(merge)
        wb.save(path)
    return build


def _xls(rows: list[list[Any]]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import xlwt

        wb = xlwt.Workbook()
        ws = wb.add_sheet("Продажи")
        date_style = xlwt.easyxf(num_format_str="DD.MM.YYYY")
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                if isinstance(v, dt.date):
                    ws.write(i, j, v, date_style)
                else:
                    ws.write(i, j, v)
        wb.save(str(path))
    return build


def _ods(rows: list[list[str]]) -> Callable[[Path], None]:
    """A minimal OpenDocument spreadsheet (zip + content.xml), all cells as text or float."""
    def cell(v: Any) -> str:
        if isinstance(v, (int, float)):
            return f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p></table:table-cell>'
        return f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>'

    def build(path: Path) -> None:
        body = "".join("<table:table-row>" + "".join(cell(v) for v in r) + "</table:table-row>" for r in rows)
        content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
                   'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                   'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
                   'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
                   '<office:body><office:spreadsheet><table:table table:name="Лист1">' + body +
                   '</table:table></office:spreadsheet></office:body></office:document-content>')
        manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                    '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                    '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                    'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
            z.writestr("content.xml", content)
            z.writestr("META-INF/manifest.xml", manifest)
    return build


def _html_table(rows: list[list[str]], title: str = "") -> str:
    cells = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in rows)
    return (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>'
            f'{title}<table border="1">{cells}</table></body></html>')


H = "customer_id,order_date,amount\n"
MAP_RU = {"customer_id": "Клиент", "order_date": "Дата", "amount": "Сумма"}


def _repeat(n: int, row: str) -> str:
    return "".join(row.format(i=i) for i in range(n))


CASES = [
    # ------------------------------------------------------------------ dates
    Case("date_yyyy_mm_dd_with_dots_is_year_month_day", {"d.csv": H + "1,2024.03.04,10\n2,2024.12.25,10\n"},
         kept=2, dates=["2024-03-04", "2024-12-25"]),
    Case("date_us_12_hour_clock_read_month_first_from_the_column",
         {"d.csv": H + "1,11/05/2024 2:03:12 PM,10\n2,11/25/2024 9:15:00 AM,10\n3,12/01/2024 12:00:00 AM,10\n"},
         kept=3, dates=["2024-11-05 14:03:12", "2024-11-25 09:15:00", "2024-12-01"],
         remarks=("twelve_hour_clock", "date_order")),
    Case("date_ambiguous_slashes_refused_with_the_option_to_set",
         {"d.csv": H + "1,03/04/2024,10\n2,05/06/2024,10\n"},
         error=("d.csv", "'order_date'", "03/04/2024", "line 2", "dates.order: day_first", "month_first")),
    Case("date_ambiguous_slashes_read_with_dates_order",
         {"d.csv": H + "1,03/04/2024,10\n2,05/06/2024,10\n"}, spec={"dates": {"order": "month_first"}},
         kept=2, dates=["2024-03-04", "2024-05-06"]),
    Case("date_dotted_day_first_by_convention_and_said",
         {"d.csv": H + "1,03.04.2024,10\n2,05.06.2024,10\n"}, kept=2, dates=["2024-04-03", "2024-06-05"],
         check=lambda r: r.remark("date_order").values["evidence"] == "convention"),
    Case("date_russian_year_suffix_g",
         {"d.csv": "Клиент;Дата;Сумма\nА;25.11.2024 г.;10\nБ;01.12.2024г.;10\nВ;02.12.2024 г. 14:30;10\n"},
         spec={"columns": MAP_RU}, kept=3, dates=["2024-11-25", "2024-12-01", "2024-12-02 14:30:00"]),
    Case("date_russian_month_names",
         {"d.csv": "Клиент;Дата;Сумма\nА;25 ноября 2024;10\nБ;1 марта 2024 г.;10\nВ;3 мая 2024;10\n"},
         spec={"columns": MAP_RU}, kept=3, dates=["2024-11-25", "2024-03-01", "2024-05-03"],
         remarks=("month_names",)),
    Case("date_english_month_names",
         {"d.csv": 'customer_id;order_date;amount\n1;Nov 25, 2024;10\n2;25 Nov 2024;10\n'},
         kept=2, dates=["2024-11-25", "2024-11-25"]),
    Case("date_unrecognised_value_is_not_guessed",
         {"d.csv": H + _repeat(30, "{i},2024-01-05,10\n") + "x,next tuesday,10\n"},
         kept=30, reasons={"bad_date": 1},
         check=lambda r: r.quarantine["reason_detail"].tolist() == ["unreadable"]),
    # ------------------------------------------------------------------ the spec
    Case("spec_sheet_name_pandas_key_refused",
         {"d.xlsx": _xlsx({"2023": [["customer_id", "order_date", "amount"], ["1", "2023-01-01", 5]]})},
         spec="path: d.xlsx\nexcel:\n  sheet_name: '2024'\n",
         error=("spec.yaml, line 3", "unknown key 'sheet_name' in excel", "'excel.sheet'")),
    Case("spec_misspelt_columns_key_refused", {"d.csv": H + "1,2024-01-01,5\n"},
         spec="path: d.csv\ncolums:\n  customer_id: customer_id\n",
         error=("spec.yaml, line 2", "unknown key 'colums'", "'columns'")),
    Case("spec_order_number_column_key_refused", {"d.csv": H + "1,2024-01-01,5\n"},
         spec="path: d.csv\ncolumns:\n  order_number: Номер\n",
         error=("spec.yaml, line 3", "unknown key 'order_number' in columns", "'columns.order_id'")),
    Case("spec_status_column_that_does_not_exist", {"d.csv": H + "1,2024-01-01,5\n"},
         spec={"columns": {"status": "Статус"}},
         error=("d.csv", "expected column 'Статус' (for status", "Columns found")),
    Case("spec_yaml_saved_in_cp1251",
         {"d.csv": H + "1,2024-01-01,5\n",
          "spec.yaml": "name: Продажи\npath: d.csv\n".encode("cp1251")},
         spec="__file__", error=("spec.yaml, line 1", "not UTF-8", "cp1251", "Save it as UTF-8")),
    Case("spec_yaml_unquoted_percent_format", {"d.csv": H + "1,05.01.2024,5\n"},
         spec="path: d.csv\ndates:\n  format: %d.%m.%Y\n",
         error=("spec.yaml, line 3", "must be quoted", "'%d.%m.%Y'")),
    Case("spec_unknown_currency_code", {"d.csv": H + "1,2024-01-01,5\n"}, spec="path: d.csv\ncurrency: RUBL\n",
         error=("spec.yaml, line 2", "currency", "ISO 4217")),
    Case("spec_errors_name_the_data_file_as_written",
         {"data/sales.csv": "client,date,sum\n1,2024-01-01,5\n"}, spec="name: Sales 2024\npath: data/sales.csv\n",
         error=("data/sales.csv: expected column 'customer_id'",)),
    Case("spec_relative_path_resolves_against_the_yaml_folder",
         {"sub/data/sales.csv": H + "1,2024-01-01,5\n", "sub/spec.yaml": "path: data/sales.csv\ncurrency: EUR\n"},
         spec="__file__:sub/spec.yaml", kept=1, revenue=5.0, check=lambda r: r.currency == "EUR"),
    # ------------------------------------------------------------------ order semantics
    Case("orders_total_repeated_on_every_item_row_counted_once",
         {"o.csv": "order,client,date,qty,item,total\n"
                   "A1,c1,2024-01-01,1,pen,300\nA1,c1,2024-01-01,2,ink,300\n"
                   "A2,c2,2024-01-02,1,pad,150\nA2,c2,2024-01-02,1,pen,150\nA2,c2,2024-01-02,3,ink,150\n"
                   "A3,c1,2024-01-03,1,box,80\nA3,c1,2024-01-03,1,bag,80\n"
                   "A4,c3,2024-01-04,1,pen,40\n"},
         spec={"columns": {"order_id": "order", "customer_id": "client", "order_date": "date", "amount": "total",
                           "quantity": "qty"}},
         kept=4, reasons={"order_total_repeated": 4}, revenue=300 + 150 + 80 + 40, customers=3,
         remarks=("order_total_repeated",)),
    Case("orders_shopify_total_only_on_first_row",
         {"shopify.csv": "Name,Email,Created at,Total,Lineitem name\n"
                         "#1001,a@x.com,2024-02-01 10:00:00 +0300,120.50,Shirt\n#1001,a@x.com,,,Socks\n"
                         "#1002,b@x.com,2024-02-02 11:00:00 +0300,99.00,Hat\n"
                         "#1003,a@x.com,2024-02-03 12:00:00 +0300,10.00,Pin\n#1003,a@x.com,,,Cap\n#1003,a@x.com,,,Bag\n"},
         spec={"columns": {"order_id": "Name", "customer_id": "Email", "order_date": "Created at", "amount": "Total"},
               "currency": "USD"},
         kept=3, reasons={"order_continuation": 3}, revenue=120.5 + 99.0 + 10.0, customers=2,
         remarks=("order_continuation", "timezone_dropped")),
    Case("orders_layout_unclear_refused",
         {"o.csv": "order,client,date,item,total\nA1,c1,2024-01-01,pen,300\nA1,c1,2024-01-01,ink,300\n"
                   "A2,c2,2024-01-02,pad,5\n"},
         spec={"columns": {"order_id": "order", "customer_id": "client", "order_date": "date", "amount": "total"}},
         error=("o.csv", "'total'", "item lines or order totals", "amounts.level: line", "amounts.level: order")),
    Case("orders_line_level_amounts_add_up",
         {"o.csv": "order,client,date,item,total\nA1,c1,2024-01-01,a,300\nA1,c1,2024-01-01,b,20\n"
                   "A2,c2,2024-01-02,a,5\nA2,c2,2024-01-02,b,5\nA2,c2,2024-01-02,c,7\nA3,c2,2024-01-03,a,1\n"
                   "A3,c2,2024-01-03,b,2\n"},
         spec={"columns": {"order_id": "order", "customer_id": "client", "order_date": "date", "amount": "total"}},
         kept=7, reasons={}, revenue=300 + 20 + 5 + 5 + 7 + 1 + 2),
    Case("orders_woocommerce_refunds_netted_and_full_refund_not_a_purchase",
         {"woo.csv": "Order Number,Customer Email,Order Date,Order Total\n"
                     "101,a@x.com,2024-03-01,100.00\n102,b@x.com,2024-03-02,50.00\n103,a@x.com,2024-03-03,80.00\n"
                     "101,a@x.com,2024-03-05,-30.00\n102,b@x.com,2024-03-06,-50.00\n999,c@x.com,2024-03-07,-10.00\n"},
         spec={"columns": {"order_id": "Order Number", "customer_id": "Customer Email", "order_date": "Order Date",
                           "amount": "Order Total"}, "currency": "USD"},
         kept=2, reasons={"refund_netted": 2, "refunded_order": 1, "return_or_cancellation": 1},
         revenue=70.0 + 80.0, customers=1, remarks=("refunds_netted", "orders_fully_refunded", "unlinked_returns"),
         check=lambda r: r.clean["amount"].tolist() == [70.0, 80.0]),
    Case("orders_refund_rows_linked_by_refund_of_column",
         {"r.csv": "id,parent,client,date,sum\nS1,,c1,2024-01-01,200\nS1,,c1,2024-01-01,100\nR9,S1,c1,2024-01-09,-60\n"},
         spec={"columns": {"order_id": "id", "refund_of": "parent", "customer_id": "client", "order_date": "date",
                           "amount": "sum"}, "amounts": {"level": "line"}},
         kept=2, reasons={"refund_netted": 1}, revenue=240.0,
         check=lambda r: r.clean["amount"].tolist() == [160.0, 80.0]),
    Case("orders_partial_refund_spread_over_lines_exactly",
         {"r.csv": "id,client,date,item,sum\nS1,c1,2024-01-01,a,0.01\nS1,c1,2024-01-01,b,0.01\n"
                   "S1,c1,2024-01-05,refund,-0.01\nS2,c2,2024-01-02,a,100\nS2,c2,2024-01-02,b,50\n"
                   "S2,c2,2024-01-06,refund,-25\n"},
         spec={"columns": {"order_id": "id", "customer_id": "client", "order_date": "date", "amount": "sum"},
               "amounts": {"level": "line"}, "currency": "EUR"},
         kept=3, reasons={"zero_amount": 1, "refund_netted": 2}, revenue=0.01 + 125.0,
         check=lambda r: (r.clean["amount"].tolist() == [0.01, 83.34, 41.66]
                          and r.quarantine["reason_detail"].tolist()[0] == "after_refunds")),
    Case("orders_refund_after_the_analysis_date_not_netted",
         {"r.csv": "id,client,date,sum\nS1,c1,2024-01-01,200\nS1,c1,2024-02-09,-200\n"},
         spec={"columns": {"order_id": "id", "customer_id": "client", "order_date": "date", "amount": "sum"}},
         analysis_date="2024-01-31", kept=1, reasons={"after_analysis_date": 1}, revenue=200.0),
    Case("statuses_amocrm_stages_lost_and_cancelled_not_purchases",
         {"amo.csv": "Контакт;Дата закрытия;Бюджет;Этап сделки\n"
                     "Иван;01.02.2024;10 000;Успешно реализовано\nИван;05.02.2024;5 000;Закрыто и не реализовано\n"
                     "Пётр;06.02.2024;7 000;Успешно реализовано\nПётр;07.02.2024;3 000;Отменён\n"},
         spec={"columns": {"customer_id": "Контакт", "order_date": "Дата закрытия", "amount": "Бюджет",
                           "status": "Этап сделки"}, "currency": "RUB"},
         kept=2, reasons={"excluded_status": 2}, revenue=17000.0, customers=2,
         check=lambda r: r.statuses == {"counted": {"Успешно реализовано": 2},
                                        "excluded": {"Закрыто и не реализовано": 1, "Отменён": 1}}),
    Case("statuses_unknown_stage_refused_with_a_list",
         {"amo.csv": "Контакт;Дата;Бюджет;Этап\nИван;01.02.2024;10;Успешно реализовано\nИван;02.02.2024;10;Переговоры\n"
                     "Пётр;03.02.2024;10;Принимают решение\n"},
         spec={"columns": {"customer_id": "Контакт", "order_date": "Дата", "amount": "Бюджет", "status": "Этап"},
               "currency": "RUB"},
         error=("amo.csv", "'Этап' (status)", "'Переговоры': 1 rows (e.g. line 3)", "'Принимают решение'",
                "statuses: {include: [...]}")),
    Case("statuses_include_list_counts_only_those",
         {"amo.csv": "Контакт;Дата;Бюджет;Этап\nИван;01.02.2024;10;Оплачен\nИван;02.02.2024;20;Переговоры\n"
                     "Пётр;03.02.2024;40;ОПЛАЧЕН\n"},
         spec={"columns": {"customer_id": "Контакт", "order_date": "Дата", "amount": "Бюджет", "status": "Этап"},
               "currency": "RUB", "statuses": {"include": ["оплачен"]}},
         kept=2, reasons={"excluded_status": 1}, revenue=50.0,
         check=lambda r: r.quarantine["reason_value"].tolist() == ["переговоры"]),
    # ------------------------------------------------------------------ amounts and currencies
    Case("amounts_dot_thousands_without_cents",
         {"a.csv": "Клиент;Дата;Сумма\nА;01.02.2024;150.000\nБ;02.02.2024;1.250.000\nВ;03.02.2024;99\n"},
         spec={"columns": MAP_RU, "currency": "RUB"}, kept=3, revenue=150000 + 1250000 + 99,
         remarks=("thousands_separator",)),
    Case("amounts_dot_thousands_alone_refused",
         {"a.csv": "Клиент;Дата;Сумма\nА;01.02.2024;150.000\nБ;02.02.2024;250.000\n"},
         spec={"columns": MAP_RU, "currency": "RUB"},
         error=("a.csv", "'Сумма'", "'150.000' on line 2", "amounts.decimal")),
    Case("amounts_dot_thousands_alone_with_option",
         {"a.csv": "Клиент;Дата;Сумма\nА;01.02.2024;150.000\nБ;02.02.2024;250.000\n"},
         spec={"columns": MAP_RU, "currency": "RUB", "amounts": {"decimal": ","}}, kept=2, revenue=400000.0),
    Case("amounts_rub_and_usd_against_the_spec_currency_refused",
         {"a.csv": "Клиент;Дата;Сумма\nА;01.02.2024;100 руб.\nБ;02.02.2024;$5\n"},
         spec={"columns": MAP_RU, "currency": "RUB"},
         error=("a.csv", "currency is RUB", "USD: 1 rows (e.g. line 3)", "conversion: {rates: {USD: ...}}")),
    Case("amounts_rub_and_usd_converted_with_rates",
         {"a.csv": "Клиент;Дата;Сумма\nА;01.02.2024;100 руб.\nБ;02.02.2024;$5\nВ;02.02.2024;2,50 USD\n"},
         spec={"columns": MAP_RU, "currency": "RUB", "conversion": {"rates": {"USD": 92.5}}},
         kept=3, revenue=100 + 462.5 + 231.25, remarks=("currency_converted",)),
    Case("amounts_currency_column_with_two_currencies_refused",
         {"a.csv": "c,d,a,cur\n1,2024-01-01,10,RUB\n2,2024-01-01,10,USD\n"},
         spec={"columns": {"customer_id": "c", "order_date": "d", "amount": "a", "currency": "cur"}},
         error=("a.csv", "several currencies", "RUB", "USD")),
    Case("amounts_ruble_marks_r_and_R_read_and_currency_taken_from_them",
         {"a.csv": "Клиент;Дата;Сумма\nА;01.02.2024;350 р\nБ;01.02.2024;350 Р\nВ;01.02.2024;1 200 руб\n"
                   "Г;01.02.2024;99₽\nД;01.02.2024;10,50 р.\n"},
         spec={"columns": MAP_RU}, kept=5, revenue=350 + 350 + 1200 + 99 + 10.5,
         remarks=("currency_from_marks",), check=lambda r: r.currency == "RUB"),
    Case("amounts_more_decimals_than_the_currency_rounded_half_up",
         {"a.csv": H + "1,2024-01-01,10.005\n2,2024-01-01,1.2345\n3,2024-01-01,2.5\n4,2024-01-01,0.125\n"},
         spec={"currency": "USD"}, kept=4, revenue=10.01 + 1.23 + 2.5 + 0.13,
         check=lambda r: (r.clean["amount"].tolist() == [10.01, 1.23, 2.5, 0.13]
                          and r.remark("amount_rounded").values["count"] == 3)),
    Case("amounts_yen_have_no_minor_unit",
         {"a.csv": H + "1,2024-01-01,1234.5\n2,2024-01-01,100\n"}, spec={"currency": "JPY"},
         kept=2, revenue=1235 + 100, remarks=("amount_rounded",)),
    # ------------------------------------------------------------------ customer identity
    Case("ids_excel_scientific_notation_refused",
         {"i.csv": "Телефон;Дата;Сумма\n" + _repeat(25, "7,70117E+11;01.02.2024;10\n")},
         spec={"columns": {"customer_id": "Телефон", "order_date": "Дата", "amount": "Сумма"}},
         error=("i.csv", "'Телефон' (customer_id)", "25 of 25", "scientific notation", "export the column as text")),
    Case("ids_a_few_scientific_ids_set_aside",
         {"i.csv": H + _repeat(30, "{i},2024-01-01,10\n") + "7.70117E+11,2024-01-01,10\n"},
         kept=30, reasons={"bad_customer_id": 1}, remarks=("ids_scientific",)),
    Case("ids_spreadsheet_float_suffix_normalised",
         {"i.csv": H + "20001.0,2024-01-01,10\n20001,2024-01-02,10\n20002.0,2024-01-03,10\n"},
         kept=3, customers=2, remarks=("ids_float_suffix",)),
    Case("ids_email_case_folded",
         {"i.csv": H + "Anna@Mail.ru,2024-01-01,10\nanna@mail.ru,2024-01-02,10\n ANNA@MAIL.RU ,2024-01-03,10\n"
                       "not-an-email,2024-01-03,10\n"},
         spec={"ids": {"kind": "email"}}, kept=3, customers=1, reasons={"bad_customer_id": 1},
         check=lambda r: set(r.clean["customer_id"]) == {"anna@mail.ru"}),
    Case("ids_phone_numbers_to_e164",
         {"i.csv": "Телефон;Дата;Сумма\n+7 (912) 345-67-89;01.02.2024;10\n89123456789;02.02.2024;10\n"
                   "8 912 345 67 89;03.02.2024;10\n+7 495 123-45-67;04.02.2024;10\n123;05.02.2024;10\n"},
         spec={"columns": {"customer_id": "Телефон", "order_date": "Дата", "amount": "Сумма"},
               "ids": {"kind": "phone", "default_region": "RU"}},
         kept=4, customers=2, reasons={"bad_customer_id": 1},
         check=lambda r: set(r.clean["customer_id"]) == {"+79123456789", "+74951234567"}),
    Case("ids_invisible_characters_and_double_spaces_merged",
         {"i.csv": "Клиент;Дата;Сумма\nАнна Смирнова;01.02.2024;10\nАнна\u00a0Смирнова;02.02.2024;10\n"
                   "Анна  Смирнова;03.02.2024;10\nАнна Смирнова\u200b;04.02.2024;10\n\ufeffАнна Смирнова;05.02.2024;10\n"},
         spec={"columns": MAP_RU}, kept=5, customers=1,
         check=lambda r: r.remark("ids_cleaned").values["count"] == 4),
    # ------------------------------------------------------------------ file layouts
    Case("layout_1c_title_lines_above_the_header_and_an_itogo_row",
         {"1c.csv": "Отчет по продажам\nПериод: 01.01.2024 - 31.01.2024\n\n"
                    "Дата;Клиент;Сумма\n10.01.2024 12:00:00;Иванов;1 234,56\n11.01.2024 13:00:00;Петров;100,00\n"
                    "Итого;;1 334,56\n"},
         spec={"columns": MAP_RU, "currency": "RUB"}, kept=2, reasons={"total_row": 1}, revenue=1334.56,
         remarks=("header_row_detected", "totals_rows"),
         check=lambda r: (r.quarantine["source_row"].tolist() == [7] and r.customers_fully_quarantined() == 0)),
    Case("layout_header_row_option",
         {"h.csv": "Выгрузка;;\nclient;date;sum\nid;when;how much\n1;2024-01-01;5\n2;2024-01-02;6\n"},
         spec={"header_row": 3, "columns": {"customer_id": "id", "order_date": "when", "amount": "how much"}},
         kept=2, revenue=11.0, check=lambda r: r.quarantine.empty and r.rows_in == 2),
    Case("layout_excel_sep_hint_first_line",
         {"s.csv": "sep=;\ncustomer_id;order_date;amount\n1;2024-01-01;5,5\n2;2024-01-02;6\n"},
         kept=2, revenue=11.5, remarks=("sep_hint_line",),
         check=lambda r: r.clean["order_date"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]),
    Case("layout_xlsx_two_sheets_with_data_refused",
         {"w.xlsx": _xlsx({"2023": [["customer_id", "order_date", "amount"], ["1", "2023-01-01", 5]],
                           "2024": [["customer_id", "order_date", "amount"], ["1", "2024-01-01", 7]]})},
         error=("w.xlsx", "2 sheets hold data", "'2023', '2024'", "excel: {sheet: '2023'}")),
    Case("layout_xlsx_missing_sheet_lists_the_sheets",
         {"w.xlsx": _xlsx({"2023": [["customer_id", "order_date", "amount"], ["1", "2023-01-01", 5]],
                           "2024": [["customer_id", "order_date", "amount"], ["1", "2024-01-01", 7]]})},
         spec={"excel": {"sheet": "2025"}}, error=("w.xlsx", "no sheet named '2025'", "'2023', '2024'")),
    Case("layout_xlsx_data_on_the_second_sheet_with_a_merged_title",
         {"w.xlsx": _xlsx({"Инфо": [], "Продажи": [["Продажи за январь", None, None], [None, None, None],
                                                     ["Клиент", "Дата", "Сумма"],
                                                     ["001", dt.datetime(2024, 1, 5, 10, 30), 1500.5],
                                                     ["002", dt.datetime(2024, 1, 6), 99]]})},
         spec={"columns": MAP_RU, "currency": "RUB"}, kept=2, revenue=1599.5,
         remarks=("sheet_chosen", "header_row_detected"),
         check=lambda r: r.clean["customer_id"].tolist() == ["001", "002"]),
    Case("layout_real_xls_excel_97",
         {"old.xls": _xls([["Клиент", "Дата", "Сумма"], ["001", dt.date(2024, 1, 5), 10.5],
                           [20002.0, dt.date(2024, 1, 6), 20]])},
         spec={"columns": MAP_RU, "currency": "RUB"}, kept=2, revenue=30.5,
         check=lambda r: r.clean["customer_id"].tolist() == ["001", "20002"]),
    Case("layout_bitrix24_html_saved_as_xls",
         {"bitrix.xls": _html_table([["Контакт", "Дата создания", "Сумма"], ["Иван", "05.02.2024 10:00:00", "1 500,00"],
                                     ["Пётр", "06.02.2024 11:00:00", "250,50"]], title="<h1>Сделки</h1>")},
         spec={"columns": {"customer_id": "Контакт", "order_date": "Дата создания", "amount": "Сумма"},
               "currency": "RUB"}, kept=2, revenue=1750.5, remarks=("html_table",)),
    Case("layout_html_page_without_a_table_refused",
         {"page.xls": "<html><body><p>Доступ запрещён</p></body></html>"},
         error=("page.xls", "HTML page", "holds no table")),
    Case("layout_ods_spreadsheet",
         {"s.ods": _ods([["customer_id", "order_date", "amount"], ["A", "2024-01-05", 10.25],
                         ["B", "2024-01-06", 20]])},
         spec={"currency": "EUR"}, kept=2, revenue=30.25),
    # ------------------------------------------------------------------ analysis date vs data
    Case("analysis_date_stale_data_named",
         {"d.csv": H + "1,2024-01-01,5\n2,2024-01-31,5\n"}, analysis_date="2024-07-31", kept=2,
         remarks=("stale_data",),
         check=lambda r: (r.freshness.stale and r.freshness.days_without_data == 182
                          and r.remark("stale_data").severity == "high")),
    Case("analysis_date_within_45_days_not_stale",
         {"d.csv": H + "1,2024-01-01,5\n2,2024-01-31,5\n"}, analysis_date="2024-03-16", kept=2,
         check=lambda r: (not r.freshness.stale and r.freshness.days_without_data == 45
                          and r.remark("stale_data") is None)),
]


def _write(tmp_path: Path, case: Case) -> Path:
    for name, content in case.files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(p)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return tmp_path / next(iter(case.files))


def _load(tmp_path: Path, case: Case):
    data = _write(tmp_path, case)
    if isinstance(case.spec, str):
        if case.spec.startswith("__file__"):
            name = case.spec.split(":", 1)[1] if ":" in case.spec else "spec.yaml"
            spec_path = tmp_path / name
        else:
            spec_path = tmp_path / "spec.yaml"
            spec_path.write_text(case.spec, encoding="utf-8")
        return load_transactions(read_source_spec(spec_path, label=spec_path.name), case.analysis_date)
    return load_transactions({"path": str(data), **case.spec}, case.analysis_date)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_export_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if case.error:
        with pytest.raises(DataValidationError) as info:
            _load(tmp_path, case)
        msg = str(info.value)
        for part in case.error:
            assert part in msg, f"{part!r} not in error message: {msg}"
        return
    r = _load(tmp_path, case)
    assert r.rows_in == r.rows_kept + r.rows_quarantined == len(r.clean) + len(r.quarantine)
    if case.kept is not None:
        assert r.rows_kept == case.kept, r.quarantine.to_string()
    if case.reasons is not None:
        assert r.reason_counts().to_dict() == case.reasons
    if case.revenue is not None:
        assert r.clean["amount"].sum() == pytest.approx(case.revenue, abs=1e-9)
    if case.customers is not None:
        assert r.clean["customer_id"].nunique() == case.customers
    if case.dates is not None:
        shown = [d.strftime("%Y-%m-%d %H:%M:%S") if (d.hour or d.minute or d.second) else d.strftime("%Y-%m-%d")
                 for d in r.clean["order_date"]]
        assert shown == case.dates
    codes = {x.code for x in r.remarks}
    for code in case.remarks:
        assert code in codes, f"remark {code} missing from {sorted(codes)}"
    if case.check is not None:
        assert case.check(r) is not False, f"check failed for {case.id}"


def test_at_least_forty_named_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 40


# ------------------------------------------------------------------ the pipeline entrance
def test_analysis_date_before_all_data_is_a_clear_error(tmp_path: Path) -> None:
    from rfm_helpers.pipeline import prepare

    (tmp_path / "d.csv").write_text(H + "1,2024-03-01,5\n2,2024-05-31,5\n", encoding="utf-8")
    (tmp_path / "shop.yaml").write_text("path: d.csv\ncurrency: EUR\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"no transactions on or before the analysis date 2024-01-31; "
                                                  r"the data run from 2024-03-01 to 2024-05-31"):
        prepare("2024-01-31", source_config=str(tmp_path / "shop.yaml"), run_dir=tmp_path / "run")


def test_relative_sqlite_url_resolves_against_the_yaml_and_never_creates_a_file(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from rfm_helpers.pipeline import resolve_source

    shop = tmp_path / "shop"
    shop.mkdir()
    with sqlite3.connect(shop / "shop.db") as con:
        con.execute("CREATE TABLE sales (client TEXT, day TEXT, total REAL)")
        con.execute("INSERT INTO sales VALUES ('a', '2024-01-05', 10.5), ('b', '2024-01-06', 0)")
    (shop / "spec.yaml").write_text("format: sql\ncurrency: RUB\nsql: {query: 'SELECT * FROM sales', "
                                    "url: 'sqlite:///shop.db'}\ncolumns: {customer_id: client, order_date: day, "
                                    "amount: total}\n", encoding="utf-8")
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = load_transactions(resolve_source(str(shop / "spec.yaml")))
    assert r.rows_kept == 1 and r.reason_counts().to_dict() == {"zero_amount": 1} and r.source_name == "spec"
    (shop / "spec.yaml").write_text((shop / "spec.yaml").read_text().replace("shop.db", "missing.db"))
    with pytest.raises(DataValidationError, match="SQLite database file missing.db was not found"):
        load_transactions(resolve_source(str(shop / "spec.yaml")))
    assert list(elsewhere.iterdir()) == [] and not (shop / "missing.db").exists()


def test_stale_data_is_recorded_in_summary_json(tmp_path: Path) -> None:
    import json

    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.texts.load import freshness_html, record_summary

    (tmp_path / "d.csv").write_text(H + "1,2024-01-01,5\n2,2024-01-31,5\n", encoding="utf-8")
    r = load_transactions({"path": str(tmp_path / "d.csv"), "currency": "RUB"}, "2024-07-31")
    record_summary(r, translator("ru", "RUB"), tmp_path)
    data = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    stale = data["warnings"]["stale_data"]
    assert stale["value"]["stale"] is True and stale["value"]["last_transaction_date"] == "2024-01-31"
    assert "182 дня" in stale["value"]["text"] and "31 января 2024" in stale["value"]["text"]
    assert data["freshness"]["data"]["value"]["days_without_data"] == 182
    assert "rfm-warning" in freshness_html(r, translator("en", "RUB"))
