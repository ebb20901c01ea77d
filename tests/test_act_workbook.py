"""The workbook writer (rfm_helpers.act.workbook): the engine writes the list sheets' rows as
sheet XML; every cell must read back exactly as XlsxWriter's own cell writing of the same value
does (the independent reference: the library's write_string / write_number / write_datetime),
in openpyxl (the raw cell: type, style, number format) and in calamine (the value as Excel shows
it, ``_xHHHH_`` escapes decoded)."""
from __future__ import annotations

import datetime as dt
import math
import zipfile
from decimal import Decimal

import duckdb
import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from rfm_helpers.act import workbook as W
from rfm_helpers.act.columns import col
from rfm_helpers.act.files import select_columns

LONG = "x" * 40_000
LONG_ASTRAL = "😀" * 20_000  # 40,000 UTF-16 code units
TEXTS = ["plain", "00001", "=1+2", "@SUM(1;2)", "+79161234567", "a&b<c>d\"e'f", "a\x01b\x1fc", "\x00", "_x0041_",
         "_x004g_", "__x0041__", " lead", "trail ", "\tTab", "x\ny", "\r\n", "\u00a0nbsp", "e\u2028x", "Чемпионы",
         "😀 emoji", "a\ufffeb", LONG, LONG_ASTRAL, "y" * 16_000 + "😀" * 9_000, "", None]
COLUMNS = [col("customer_id", "id"), col("name", "text"), col("segment_label", "label"), col("email", "email"),
           col("n", "integer"), col("amount", "money"), col("share", "number"), col("day", "date"),
           col("consent", "flag"), col("metric", "label")]
NUMBERS = [0.1, 1e-7, 1e20, -0.0, 123456789012.5, 2.0 / 3.0, float("nan"), float("inf"), None]
MONEY = [Decimal("100.50"), Decimal("-0.01"), Decimal("0"), Decimal("1234567890123.45"), None]
DAYS = [dt.date(1900, 1, 1), dt.date(1900, 2, 28), dt.date(1900, 3, 1), dt.date(2024, 2, 29),
        dt.date(9999, 12, 31), dt.date(1998, 6, 30), None]


SHORT = [t for t in TEXTS if t is None or len(t) < 100]


def frame(n: int | None = None, texts: list = TEXTS) -> pd.DataFrame:
    n = n or len(texts)
    pick = lambda xs, i: xs[i % len(xs)]  # noqa: E731
    return pd.DataFrame({
        "customer_id": pd.array([pick(texts, i) if i < len(texts) else f"{i:07d}" for i in range(n)], dtype="string"),
        "name": pd.array([pick(texts, i + 3) for i in range(n)], dtype="string"),
        "segment_label": pd.array([pick(texts, i + 7) for i in range(n)], dtype="string"),
        "email": pd.array([pick(texts, i + 11) for i in range(n)], dtype="string"),
        "n": pd.array([None if i % 7 == 6 else (i * 7919) % 10**12 - 5 for i in range(n)], dtype="Int64"),
        "amount": [pick(MONEY, i) for i in range(n)],
        "share": [pick(NUMBERS, i) for i in range(n)],
        "day": [pick(DAYS, i) for i in range(n)],
        "consent": pd.array([None if i % 5 == 4 else i % 2 for i in range(n)], dtype="Int64"),
        "metric": pd.array([pick(["converted", "revenue", "other", None], i) for i in range(n)], dtype="string"),
    })


WORDS = W.ExportWords(language="ru", headers={"customer_id": "ID клиента", "amount": "Сумма"},
                      values={"metric": {"converted": "конверсия", "revenue": "выручка & <доход>"}}, yes="да", no="нет")


def reference(path, rows: list[tuple], words: W.ExportWords, header: list[str]) -> None:
    """The same cells written by XlsxWriter's own methods, one call per cell (constant-memory
    mode: inline strings, as the engine writes them; openpyxl decodes ``_xHHHH_`` in shared
    strings only, calamine in both)."""
    wb = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False})
    ws = wb.add_worksheet("Data")
    fmt = {k: wb.add_format({"num_format": f}) for k, f in
           {"@": "@", "money": "#,##0.00", "date": words.date_format}.items()}
    for j, h in enumerate(header):
        ws.write_string(0, j, h)
    for i, row in enumerate(rows, start=1):
        for j, (c, v) in enumerate(zip(COLUMNS, row)):
            if v is None or (c.kind in W.TEXT_KINDS and v == ""):
                continue
            if c.kind in ("id", "email"):
                ws.write_string(i, j, v, fmt["@"])
            elif c.kind in ("text", "label"):
                ws.write_string(i, j, words.values.get(c.key, {}).get(v, v))
            elif c.kind == "flag":
                ws.write_string(i, j, words.yes if v else words.no)
            elif c.kind == "money":
                ws.write_number(i, j, float(v), fmt["money"])
            elif c.kind == "date":
                ws.write_datetime(i, j, v, fmt["date"])
            else:
                ws.write_number(i, j, v)
    wb.close()


def write(tmp_path, df, words=WORDS, max_rows=W.XLSX_MAX_ROWS, about=None):
    con = duckdb.connect()
    con.register("t", df)
    path = tmp_path / "book.xlsx"
    recs = W.write_workbook(con, path, about or [["About"], ["Source", "shop.csv"], ["Date", dt.date(2024, 12, 31)]],
                            [W.Sheet("Data", COLUMNS, "SELECT * FROM t", len(df), "list.csv")], words,
                            max_rows=max_rows)
    typed = con.execute(select_columns("SELECT * FROM t", COLUMNS)).fetchall()
    return path, recs, typed


def calamine_rows(path, sheet):
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def test_every_cell_reads_as_xlsxwriter_writes_it(tmp_path):
    path, recs, typed = write(tmp_path, frame())
    ref = tmp_path / "ref.xlsx"
    header = [WORDS.header(c.key) for c in COLUMNS]
    reference(ref, typed, WORDS, header)
    ours, theirs = openpyxl.load_workbook(path)["Data"], openpyxl.load_workbook(ref)["Data"]
    assert ours.max_row == theirs.max_row == len(TEXTS) + 1 and ours.max_column == len(COLUMNS)
    for a_row, b_row in zip(ours.iter_rows(min_row=2), theirs.iter_rows(min_row=2)):
        for a, b in zip(a_row, b_row):
            assert (a.value, a.data_type, a.number_format) == (b.value, b.data_type, b.number_format), a.coordinate
            assert a.is_date == b.is_date and a.data_type != "f"
    got, want = calamine_rows(path, "Data"), calamine_rows(ref, "Data")
    assert got[1:] == want[1:]
    # and what a person sees is the data: texts byte for byte (cut at Excel's cell limit),
    # numbers, dates, words
    for row, seen in zip(typed, got[1:]):
        for c, v, s in zip(COLUMNS, row, seen):
            if v is None or (isinstance(v, float) and not math.isfinite(v)) or v == "":
                assert s == "", (c.key, v, s)
            elif c.kind in W.TEXT_KINDS:
                # U+FFFE is not a character: written as its escape, which calamine leaves as is
                shown = WORDS.values.get(c.key, {}).get(v, v).replace("\ufffe", "_xFFFE_")
                limit = len(shown.encode("utf-16-le")) // 2 > W.EXCEL_MAX_CHARS
                assert s == shown if not limit else (shown.startswith(s) and len(s.encode("utf-16-le")) // 2
                                                    in (W.EXCEL_MAX_CHARS, W.EXCEL_MAX_CHARS - 1)), c.key
            elif c.kind == "flag":
                assert s == ("да" if v else "нет")
            elif c.kind == "date":
                assert s == v
            else:
                assert s == float(v)


def test_sheet_layout_about_and_record(tmp_path):
    path, recs, typed = write(tmp_path, frame())
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["About", "Data"]
    about = wb["About"]
    assert about["A1"].value == "About" and about["A1"].font.b and about["A2"].font.b and not about["B2"].font.b
    assert about["B3"].is_date and about["B3"].value == dt.datetime(2024, 12, 31) and about["B3"].number_format == "DD.MM.YYYY"
    ws = wb["Data"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:J{len(TEXTS) + 1}"
    assert [c.value for c in ws[1]][:2] == ["ID клиента", "name"] and all(c.font.b for c in ws[1])
    assert ws.column_dimensions["A"].width >= len("ID клиента") and ws.column_dimensions["B"].width <= 61
    assert [(r.file, r.rows, r.warnings) for r in recs] == [("book.xlsx#Data", len(TEXTS), [])]
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None and z.namelist()[0] == "[Content_Types].xml"
        assert f'<dimension ref="A1:J{len(TEXTS) + 1}"/>' in z.read("xl/worksheets/sheet2.xml").decode()


def test_rows_across_batches_are_numbered_in_order_and_capped(tmp_path):
    n = W._BATCH_ROWS * 2 + 17
    df = frame(n, texts=SHORT)
    path, recs, typed = write(tmp_path, df, max_rows=n - 5)
    rows = calamine_rows(path, "Data")
    assert len(rows) == n - 5 + 1
    k = len(SHORT)
    assert [r[0] for r in rows[k + 1:]] == [f"{i:07d}" for i in range(k, n - 5)]
    assert recs[0].rows == n - 5 and recs[0].warnings == [
        {"code": "xlsx_capped", "file": "book.xlsx", "sheet": "Data", "rows": n - 5, "total": n, "csv_file": "list.csv"}]
    ws = openpyxl.load_workbook(path, read_only=True)["Data"]
    assert ws.max_row == n - 5 + 1


def test_an_empty_list_is_a_header_only_sheet(tmp_path):
    path, recs, _ = write(tmp_path, frame().iloc[:0])
    ws = openpyxl.load_workbook(path)["Data"]
    assert ws.max_row == 1 and ws.auto_filter.ref == "A1:J1" and recs[0].rows == 0


def test_a_failing_query_leaves_no_file(tmp_path):
    con = duckdb.connect()
    con.register("t", frame())
    bad = W.Sheet("Data", [*COLUMNS, col("missing", "text")], "SELECT * FROM t", 1)
    with pytest.raises(duckdb.Error):
        W.write_workbook(con, tmp_path / "book.xlsx", [["About"]], [bad], WORDS)
    assert list(tmp_path.iterdir()) == []


def test_rows_keep_the_lists_order_across_batches_and_threads(tmp_path):
    n = W._BATCH_ROWS + 1000
    df = pd.DataFrame({"customer_id": pd.array([f"{i:06d}" for i in range(n)], dtype="string"),
                       "amount": [Decimal(str(round((i * 7919) % 100_003 / 7, 2))) for i in range(n)]})
    con = duckdb.connect(config={"threads": 2})
    con.register("t", df)
    cols = [col("customer_id", "id"), col("amount", "money")]
    sql = "SELECT * FROM t ORDER BY amount DESC, customer_id"
    W.write_workbook(con, tmp_path / "b.xlsx", [["About"]], [W.Sheet("L", cols, sql, n)], WORDS, max_rows=n - 1)
    got = calamine_rows(tmp_path / "b.xlsx", "L")[1:]
    want = df.sort_values(["amount", "customer_id"], ascending=[False, True]).head(n - 1)
    assert [r[0] for r in got] == want["customer_id"].tolist()
    assert [r[1] for r in got] == [float(a) for a in want["amount"]]


def _sheet_xml(path, part="xl/worksheets/sheet2.xml") -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(part)


@pytest.mark.parametrize("value", [*TEXTS, 0, 7, 2.5, dt.date(2024, 2, 29)])
def test_constant_columns_give_the_cells_of_every_row(tmp_path, value):
    """A column the caller names constant (a list's segment and texts) is made once per sheet:
    the sheet's bytes are those of the same column made row by row, whatever the value (XML
    escapes, control characters, Excel's cut at 32,767 characters, NULL: no cell)."""
    n = 5
    kind = "integer" if isinstance(value, int) else "number" if isinstance(value, float) else (
        "date" if isinstance(value, dt.date) else "label")
    cols = [col("customer_id", "id"), col("c", kind), col("text", "text"), col("n", "integer")]
    df = pd.DataFrame({"customer_id": pd.array([f"{i:03d}" for i in range(n)], dtype="string"),
                       "c": pd.Series([value] * n, dtype="string" if kind == "label" else object),
                       "text": pd.array(["x"] * n, dtype="string"), "n": range(n)})
    con = duckdb.connect()
    con.register("t", df)
    sql = f"SELECT customer_id, {W._literal(value)} AS c, text, n FROM t ORDER BY n DESC"
    plain, once = tmp_path / "plain.xlsx", tmp_path / "once.xlsx"
    W.write_workbook(con, plain, [["About"]], [W.Sheet("L", cols, sql, n)], WORDS)
    W.write_workbook(con, once, [["About"]], [W.Sheet("L", cols, sql, n, constants={"c": value, "text": "x"})], WORDS)
    assert _sheet_xml(once) == _sheet_xml(plain)
    assert [r[0] for r in calamine_rows(once, "L")[1:]] == [f"{i:03d}" for i in reversed(range(n))]


def test_constant_cells_of_many_sheets_are_those_of_each_sheet_alone(tmp_path):
    """The constant cells of every sheet of a workbook come from one engine query (one row per
    sheet): each sheet's bytes are still those of its column made row by row, whatever the
    values of the other sheets (texts, NULL, numbers of other types) and whatever columns they
    name constant."""
    n = 3
    df = pd.DataFrame({"customer_id": pd.array([f"{i:03d}" for i in range(n)], dtype="string"), "n": range(n)})
    con = duckdb.connect()
    con.register("t", df)
    label = [col("customer_id", "id"), col("c", "label"), col("n", "integer")]
    values = [v for v in TEXTS if v is None or len(v) < 20_000] + [LONG]
    cases = [(label, v, {"c": v}) for v in values]
    cases += [([col("customer_id", "id"), col("c", "number"), col("n", "integer")], 2.5, {"c": 2.5}),
              ([col("customer_id", "id"), col("c", "integer"), col("n", "integer")], 2**62 + 1, {"c": 2**62 + 1}),
              (label, "no constants", {})]
    sheets_plain, sheets_once = [], []
    for i, (cols, value, constants) in enumerate(cases):
        sql = f"SELECT customer_id, {W._literal(value)} AS c, n FROM t ORDER BY n DESC"
        sheets_plain.append(W.Sheet(f"S{i}", cols, sql, n))
        sheets_once.append(W.Sheet(f"S{i}", cols, sql, n, constants=constants))
    plain, once = tmp_path / "plain.xlsx", tmp_path / "once.xlsx"
    W.write_workbook(con, plain, [["About"]], sheets_plain, WORDS)
    W.write_workbook(con, once, [["About"]], sheets_once, WORDS)
    for i in range(len(cases)):
        part = f"xl/worksheets/sheet{i + 2}.xml"
        assert _sheet_xml(once, part) == _sheet_xml(plain, part), cases[i][1]


@pytest.mark.parametrize("total, max_rows", [(4, 10), (6, 10), (4, 3), (6, 3)])
def test_a_sheet_whose_total_is_not_its_querys_rows_is_refused(tmp_path, total, max_rows):
    """The sheet's total (the caller's count: the About sheet lists it) is not counted again for
    a sheet that holds every row: the rows written are checked against it (one row more is
    asked for); a capped sheet's query is counted. Either way a wrong total leaves no file."""
    con = duckdb.connect()
    con.register("t", frame(5, SHORT))
    with pytest.raises(RuntimeError, match="rows"):
        W.write_workbook(con, tmp_path / "book.xlsx", [["About"]], [W.Sheet("Data", COLUMNS, "SELECT * FROM t", total)],
                         WORDS, max_rows=max_rows)
    assert list(tmp_path.iterdir()) == []
