"""Spreadsheets (.xlsx, .xls, .xlsb, .ods through python-calamine) and HTML tables saved as .xls."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .raw import RawTable, ReadContext, _check_duplicates, _find_header, register
from .result import DataValidationError, Remark


def _cell_text(v: Any) -> str:
    import datetime as dt

    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _column_array(values: list[Any]) -> tuple[pa.Array, bool]:
    """An Arrow array for one sheet column: typed when all cells share a type, else text."""
    import datetime as dt

    kinds = {type(v) for v in values if v is not None and v != ""}
    if kinds and kinds <= {float, int}:
        return pa.array([None if v in (None, "") else float(v) for v in values], pa.float64()), False
    if kinds and kinds <= {dt.datetime, dt.date}:
        return pa.array([None if v in (None, "") else (v if isinstance(v, dt.datetime)
                                                         else dt.datetime(v.year, v.month, v.day))
                         for v in values], pa.timestamp("us")), False
    return pa.array([_cell_text(v).strip() for v in values], pa.string()), True


def _rows_to_table(rows: list[list[Any]], first_row_no: int, hidx: int, label: str,
                   remarks: list[Remark]) -> RawTable:
    header = [_cell_text(c).strip() for c in rows[hidx]]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise DataValidationError(f"{label}: the sheet is empty (no header, no rows)")
    header = [h or f"unnamed_{i + 1}" for i, h in enumerate(header)]
    _check_duplicates(header, label)
    body = rows[hidx + 1:]
    keep = [i for i, r in enumerate(body) if any(_cell_text(c).strip() for c in r)]
    width = len(header)
    cols = []
    all_text = True
    for j in range(width):
        arr, is_text = _column_array([body[i][j] if j < len(body[i]) else None for i in keep])
        all_text &= is_text
        cols.append(arr)
    table = pa.table(cols, names=header) if keep else pa.table({h: pa.array([], pa.string()) for h in header})
    line = np.array(keep, dtype=np.int64) + first_row_no + hidx + 1
    if hidx > 0:
        remarks.append(Remark("header_row_detected", {"row": first_row_no + hidx, "skipped": hidx}, "warning"))
    return RawTable(table, line, header, remarks, text_source=False)


@register("excel")
def read_excel(spec: Any, ctx: ReadContext) -> RawTable:
    from python_calamine import CalamineWorkbook

    path: Path = spec.resolved_path
    label = ctx.label
    remarks: list[Remark] = []
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as e:  # noqa: BLE001 - calamine raises its own error types
        raise DataValidationError(f"{label}: cannot be read as a spreadsheet (.xlsx, .xls, .xlsb, .ods): "
                                  f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    names = list(wb.sheet_names)
    sheet = spec.excel.sheet
    if sheet is None:
        nonempty = []
        for nm in names:
            rows = wb.get_sheet_by_name(nm).to_python(skip_empty_area=True, nrows=5)
            if any(any(_cell_text(c).strip() for c in r) for r in rows):
                nonempty.append(nm)
        if not nonempty:
            raise DataValidationError(f"{label}: every sheet is empty (sheets: {', '.join(names)})")
        if len(nonempty) > 1:
            raise DataValidationError(f"{label}: {len(nonempty)} sheets hold data ({', '.join(map(repr, nonempty))}); "
                                      f"say which one to read with excel: {{sheet: {nonempty[0]!r}}}")
        chosen = nonempty[0]
        if len(names) > 1:
            remarks.append(Remark("sheet_chosen", {"sheet": chosen, "sheets": names}))
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise DataValidationError(f"{label}: there is no sheet number {sheet} (0-based); the sheets are "
                                      f"{', '.join(map(repr, names))}")
        chosen = names[sheet]
    else:
        if sheet not in names:
            close = difflib.get_close_matches(sheet, names, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataValidationError(f"{label}: no sheet named {sheet!r}; the sheets are "
                                      f"{', '.join(map(repr, names))}.{hint}")
        chosen = sheet
    rows = wb.get_sheet_by_name(chosen).to_python(skip_empty_area=False)
    if not rows or not any(any(_cell_text(c).strip() for c in r) for r in rows):
        raise DataValidationError(f"{label}: sheet {chosen!r} is empty (no header, no rows)")
    cells = [[_cell_text(c) for c in r] for r in rows[:200]]
    hidx = _find_header(cells, ctx.wanted, spec.header_row, label, what="row")
    return _rows_to_table(rows, 1, hidx, label, remarks)


@register("html")
def read_html_table(spec: Any, ctx: ReadContext) -> RawTable:
    """An HTML table, e.g. Bitrix24's "Excel" export (an HTML page saved as ``.xls``)."""
    import lxml.html

    path: Path = spec.resolved_path
    label = ctx.label
    try:
        doc = lxml.html.fromstring(path.read_bytes())
    except Exception as e:  # noqa: BLE001
        raise DataValidationError(f"{label}: looks like an HTML page but cannot be parsed ({e})") from None
    tables = doc.xpath("//table")
    if not tables:
        raise DataValidationError(f"{label}: this is an HTML page (not a real spreadsheet) and holds no table; "
                                  "export the data as CSV or .xlsx")
    parsed = []
    for t in tables:
        rows = []
        for tr in t.xpath(".//tr"):
            if tr.xpath("ancestor::table[1]")[0] is not t:
                continue
            rows.append([" ".join(td.text_content().split()) for td in tr.xpath("./th|./td")])
        parsed.append(rows)
    k = int(np.argmax([len(r) for r in parsed]))
    rows = parsed[k]
    remarks = [Remark("html_table", {"table": k + 1}, "warning")]
    hidx = _find_header(rows[:200], ctx.wanted, spec.header_row, label, what="row")
    raw = _rows_to_table(rows, 1, hidx, label, remarks)
    raw.text_source = True
    return raw


