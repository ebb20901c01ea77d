"""The workbook for people (xlsx): typed cells, frozen header, filter, widths, an About sheet.

* ids, e-mails, phones and every other text are **string cells** (never a formula, nothing is
  evaluated, no apostrophe shown); ids, e-mails and phones also carry the Text number format,
  so editing a cell keeps ``00001`` as ``00001``;
* money and other numbers are number cells (money with two decimals), dates are date cells,
  flags read yes / no in the report's language;
* the first row is the header in the report's language, frozen, with a filter; column widths
  follow the header and the first rows' values;
* the first sheet names the source, the analysis date, the segment definitions and the rows
  of every sheet; a sheet holds at most ``max_rows`` rows (then the About sheet says how many
  rows the CSV file has and that the sheet shows the first ones, in the list's order).

Rows are streamed from the engine in batches into openpyxl's write-only workbook: memory stays
flat whatever the list length. Words come from the caller (:class:`ExportWords`); this module
has none of its own.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .columns import KEY_KINDS, TEXT_KINDS, Column
from .files import FileRecord, fetch_batches, select_columns

__all__ = ["ExportWords", "Sheet", "write_workbook", "sheet_title", "XLSX_MAX_ROWS", "EXCEL_MAX_ROWS"]

#: Rows per workbook sheet at most (the CSV files always hold every row).
XLSX_MAX_ROWS = 100_000
#: Excel's own limit of rows per sheet (header included).
EXCEL_MAX_ROWS = 1_048_576
_DATE_FORMATS = {"ru": "DD.MM.YYYY", "en": "YYYY-MM-DD"}


@dataclass
class ExportWords:
    """The words of the export files in one language (made by ``rfm_helpers.report.texts.act``).

    Without them (tests, scripts) headers are the English column keys."""

    language: str = "en"
    headers: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    yes: str = "yes"
    no: str = "no"
    integer: Callable[[int], str] = "{:,}".format

    def header(self, key: str) -> str:
        return self.headers.get(key, key)

    def label(self, code: str) -> str:
        """A label of the About sheet or the data dictionary (``code`` when unknown)."""
        return self.labels.get(code, code)

    @property
    def date_format(self) -> str:
        return _DATE_FORMATS.get(self.language, "YYYY-MM-DD")


@dataclass
class Sheet:
    """One sheet: its title, columns and the engine query giving its rows in order."""

    title: str
    columns: Sequence[Column]
    sql: str
    total_rows: int
    csv_file: str = ""


def sheet_title(label: str, used: set[str]) -> str:
    """A valid, unique sheet title (at most 31 characters, none of ``[]:*?/\\``)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", str(label)).strip("'") or "Sheet"
    name, i = base[:31], 2
    while name.lower() in used:
        suffix = f" ({i})"
        name, i = base[:31 - len(suffix)] + suffix, i + 1
    used.add(name.lower())
    return name


def _styles(ws: Any, words: ExportWords) -> dict[str, Any]:
    """Style arrays per kind, made once (assigning a number format per cell costs a lookup)."""
    from openpyxl.cell import WriteOnlyCell

    formats = {"id": "@", "email": "@", "phone": "@", "money": "#,##0.00", "date": words.date_format,
               "integer": "0", "number": "General"}
    out = {}
    for kind, fmt in formats.items():
        c = WriteOnlyCell(ws, value=None)
        c.number_format = fmt
        out[kind] = c._style
    return out


def _cells(ws: Any, columns: Sequence[Column], words: ExportWords, styles: dict) -> list:
    """One converter per column: value -> a write-only cell or a plain value."""
    from openpyxl.cell import WriteOnlyCell

    def text(style):
        def conv(v):
            if v is None:
                return None
            if style is None and not v.startswith("="):
                return v  # openpyxl writes a plain str as an inline string
            c = WriteOnlyCell(ws, value=v)
            c.data_type = "s"  # a string, even when it starts with '=' (openpyxl would make it a formula)
            if style is not None:
                c._style = style
            return c
        return conv

    def styled(style, mapper=None):
        def conv(v):
            if v is None:
                return None
            c = WriteOnlyCell(ws, value=mapper(v) if mapper else v)
            c._style = style
            return c
        return conv

    convs = []
    for col in columns:
        shown = words.values.get(col.key)
        if col.kind in KEY_KINDS:
            convs.append(text(styles[col.kind]))
        elif col.kind in TEXT_KINDS:
            if shown:
                base = text(None)
                convs.append(lambda v, base=base, shown=shown: base(shown.get(v, v) if v is not None else None))
            else:
                convs.append(text(None))
        elif col.kind == "flag":
            yes, no = words.yes, words.no
            convs.append(lambda v, yes=yes, no=no: None if v is None else (yes if v else no))
        elif col.kind == "date":
            convs.append(styled(styles["date"]))
        elif col.kind == "money":
            convs.append(styled(styles["money"]))
        else:
            convs.append(lambda v: v)
    return convs


def _width(header: str, values: Iterable[Any]) -> float:
    longest = max([len(str(header))] + [len(str(v)) for v in values if v is not None] or [8])
    return float(min(max(longest + 2, 8), 60))


def write_workbook(con: Any, path: str | os.PathLike, about: Sequence[Sequence[Any]], sheets: Sequence[Sheet],
                   words: ExportWords, *, max_rows: int = XLSX_MAX_ROWS, about_title: str = "About") -> list[FileRecord]:
    """Write ``path``: the About sheet (rows of ``about``; the first row is its heading) and one
    sheet per entry of ``sheets`` (at most ``max_rows`` rows each, streamed from ``con``).
    Returns one record per sheet (rows written; ``capped`` warning when rows were left out)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    max_rows = int(min(max_rows, EXCEL_MAX_ROWS - 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook(write_only=True)
    used: set[str] = set()
    bold = Font(bold=True)

    info = wb.create_sheet(title=sheet_title(about_title, used))
    info.column_dimensions["A"].width = 34
    info.column_dimensions["B"].width = 28
    for col in "CDEFG":
        info.column_dimensions[col].width = 22
    for i, row in enumerate(about):
        cells = []
        for j, v in enumerate(row):
            if isinstance(v, str):
                c = WriteOnlyCell(info, value=v)
                c.data_type = "s"
            elif isinstance(v, (dt.date, dt.datetime)):
                c = WriteOnlyCell(info, value=v)
                c.number_format = words.date_format
            else:
                c = WriteOnlyCell(info, value=v)
            heading = len(row) == 1 and isinstance(v, str) and len(v) < 40  # a section title
            if i == 0 or heading or (j == 0 and isinstance(v, str) and v and len(row) > 1):
                c.font = bold
            cells.append(c)
        info.append(cells)

    records = []
    for sh in sheets:
        title = sheet_title(sh.title, used)
        ws = wb.create_sheet(title=title)
        styles = _styles(ws, words)
        convs = _cells(ws, sh.columns, words, styles)
        typed = select_columns(sh.sql, sh.columns)
        batches = fetch_batches(con, typed, limit=max_rows)
        first = next(batches, [])
        n = len(sh.columns)
        ws.freeze_panes = "A2"
        headers = [words.header(c.key) for c in sh.columns]
        for j, c in enumerate(sh.columns):
            sample = [r[j] for r in first[:200]]
            shown = words.values.get(c.key)
            if shown:
                sample = [shown.get(v, v) for v in sample]
            ws.column_dimensions[get_column_letter(j + 1)].width = _width(headers[j], sample)
        head = []
        for h in headers:
            hc = WriteOnlyCell(ws, value=h)
            hc.data_type = "s"
            hc.font = bold
            head.append(hc)
        ws.append(head)
        written = 0
        for batch in _chain(first, batches):
            for row in batch:
                ws.append([convs[j](row[j]) for j in range(n)])
            written += len(batch)
        ws.auto_filter.ref = f"A1:{get_column_letter(n)}{written + 1}"
        rec = FileRecord(f"{path.name}#{title}", written, "xlsx")
        if written < sh.total_rows:
            rec.warnings.append({"code": "xlsx_capped", "file": path.name, "sheet": title, "rows": written,
                                 "total": int(sh.total_rows), "csv_file": sh.csv_file})
        records.append(rec)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    wb.save(tmp)
    os.replace(tmp, path)
    return records


def _chain(first: list, rest: Iterable[list]) -> Iterable[list]:
    if first:
        yield first
    yield from rest
