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

How it is written (fast at scale, flat memory)
----------------------------------------------
XlsxWriter writes the workbook: the About sheet, the styles, every sheet's header row, frozen
pane, filter and column widths. The data rows of the list sheets (hundreds of thousands of
cells) are not written cell by cell in Python: the engine turns each row of the sheet's query
into its ``<row>`` element of the sheet's XML (SpreadsheetML, ECMA-376 part 1, 18.3.1; the same
markup XlsxWriter writes in its constant-memory mode: inline strings, cell references, the
style of XlsxWriter's format for each column kind), and the rows are streamed in batches into
that sheet's part of the package, between the header row and the end of ``<sheetData>``: the
engine numbers the rows too (``row_number() OVER ()`` over the ordered query) and the batches
come as Arrow buffers, handed to zlib as they are (no Python object per row); the cells of
columns that are the same on every row of a sheet (a list's segment, label, offer, channel:
``Sheet.constants``) are made once per sheet by the same SQL. The
texts follow XlsxWriter's escaping: ``&``, ``<``, ``>`` as entities; control characters (which
XML cannot carry) as Excel's ``_xHHHH_`` escape, and a literal ``_xHHHH_`` in a value escaped in
turn (``_x005F_xHHHH_``), so Excel shows the value byte for byte; a text longer than Excel's
limit of 32,767 characters per cell is cut there (the CSV file keeps it whole). The list
sheets are deflated at level 1 (on 478,000 rows: 47 MB and 6.2 s of CPU, against 35 MB and
9.4 s at zlib's default level 6).

Measured on 478,000 customers (``benchmarks/bench_exports.py --customers 478000 --xlsx
--methods act-openpyxl,act``; every list file, CSV and workbook): 83 s of CPU with the rows
written cell by cell by openpyxl's write-only mode, 7.8 s this way; memory flat whatever the
list length (rows are fetched 8,192 at a time). Words come from the caller
(:class:`ExportWords`); this module has none of its own.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import numbers
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .columns import KEY_KINDS, TEXT_KINDS, Column
from .files import FileRecord, select_columns, sql_literal

__all__ = ["ExportWords", "Sheet", "write_workbook", "sheet_title", "XLSX_MAX_ROWS", "EXCEL_MAX_ROWS"]

#: Rows per workbook sheet at most (the CSV files always hold every row).
XLSX_MAX_ROWS = 100_000
#: Excel's own limit of rows per sheet (header included).
EXCEL_MAX_ROWS = 1_048_576
#: Excel's limit of characters (UTF-16 code units) in one cell.
EXCEL_MAX_CHARS = 32_767
_DATE_FORMATS = {"ru": "DD.MM.YYYY", "en": "YYYY-MM-DD"}
#: Number formats per column kind (kinds missing here are written without a style: General).
_NUMBER_FORMATS = {"id": "@", "email": "@", "phone": "@", "money": "#,##0.00"}
#: Deflate level of the list sheets (measured on 478k rows: see benchmarks/bench_exports.py).
_ZIP_LEVEL = 1
#: Rows fetched from the engine per batch (about 1 MB of XML per 1,000 rows of 20 columns).
_BATCH_ROWS = 8_192
#: The row number in the engine's XML, replaced per row; XML 1.0 cannot carry it, and every
#: value's own control characters are escaped, so it appears nowhere else.
_ROW = "\x01"
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


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
    """One sheet: its title, columns and the engine query giving its rows in order.

    ``total_rows``: the rows the query gives (the caller's count: the sheet's rows are checked
    against it as they are written, and a capped sheet's query is counted again).

    ``constants``: columns (by key) that hold the same value on every row of the query (a list's
    segment and its texts), with that value: their cells are made once for the sheet, not once
    per row. The value must be what the query gives (the caller's promise; the same cell either way)."""

    title: str
    columns: Sequence[Column]
    sql: str
    total_rows: int
    csv_file: str = ""
    constants: Mapping[str, Any] = field(default_factory=dict)


def sheet_title(label: str, used: set[str]) -> str:
    """A valid, unique sheet title (at most 31 characters, none of ``[]:*?/\\``)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", str(label)).strip("'") or "Sheet"
    name, i = base[:31], 2
    while name.lower() in used:
        suffix = f" ({i})"
        name, i = base[:31 - len(suffix)] + suffix, i + 1
    used.add(name.lower())
    return name


def _width(header: str, values: Iterable[Any]) -> float:
    longest = max([len(str(header))] + [len(str(v)) for v in values if v is not None] or [8])
    return float(min(max(longest + 2, 8), 60))


# ----------------------------------------------------------------------------- cell XML in SQL

_CONTROL = [*range(0x00, 0x09), *range(0x0B, 0x20)]
# A value needing the slow path: a control character, a literal _xHHHH_, a non-character, or
# white space at either end (kept with xml:space="preserve", as XlsxWriter does).
_RARE_RE = r"[\x00-\x08\x0b-\x1f\x{FFFE}\x{FFFF}]|_x[0-9A-Fa-f]{4}_|^[\s\pZ]|[\s\pZ]$"


def _fit_sql(v: str) -> str:
    """SQL: ``v`` cut to Excel's 32,767 UTF-16 code units per cell, never inside a character
    (as XlsxWriter cuts; a character outside the Basic Multilingual Plane is two code units).
    Only texts longer than half the limit are looked at: each character is spelt as its code
    units (``Y``, or ``XX`` for two), the spelling is cut at the limit, and the characters left
    are the whole ``Y``/``XX`` in it."""
    n = EXCEL_MAX_CHARS
    astral = "[\\x{10000}-\\x{10FFFF}]"
    units = f"regexp_replace(regexp_replace({v}, '[^\\x{{10000}}-\\x{{10FFFF}}]', 'Y', 'g'), '{astral}', 'XX', 'g')"
    kept = f"left({units}, {n})"
    whole = f"length(replace({kept}, 'XX', 'Z')) - ((length({kept}) - length(replace({kept}, 'X', ''))) % 2)"
    fits = f"length({v}) + length(regexp_replace({v}, '[^\\x{{10000}}-\\x{{10FFFF}}]', '', 'g')) <= {n}"
    return (f"CASE WHEN length({v}) <= {n // 2} THEN {v} WHEN {fits} THEN {v} "
            f"ELSE left({v}, CAST({whole} AS BIGINT)) END")


def _entities(x: str) -> str:
    return f"replace(replace(replace({x}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"


def _text_sql(v: str) -> str:
    """SQL: the ``<t>`` element of a string cell holding the VARCHAR ``v``, the way XlsxWriter
    writes it (see the module's docstring). A value with nothing rare in it costs a pattern test
    and three ``replace``; leading or trailing white space is kept (``xml:space``)."""
    w = f"({_fit_sql(v)})"
    rare = f"regexp_replace({w}, '(_x[0-9A-Fa-f]{{4}}_)', '_x005F\\1', 'g')"
    for c in _CONTROL:
        rare = f"replace({rare}, chr({c}), '_x{c:04X}_')"
    rare = f"replace(replace({rare}, chr(65534), '_xFFFE_'), chr(65535), '_xFFFF_')"
    return (f"CASE WHEN regexp_matches({w}, '{_RARE_RE}') "
            f"THEN '<t xml:space=\"preserve\">' || {_entities(rare)} || '</t>' "
            f"ELSE '<t>' || {_entities(w)} || '</t>' END")


def _cell_parts(c: Column, letter: str, words: ExportWords, xf: Mapping[str, int]) -> tuple[str, str, str, str]:
    """The ``<c>`` element of column ``c`` (in column ``letter``) for one row, in parts: the
    markup before the row number, the markup after it up to the value, the SQL of the value's
    text (NULL for a missing value: then no cell, as an empty cell is written) and the markup
    after the value."""
    v = f'q."{c.key}"'
    head = f'<c r="{letter}'
    style = f' s="{xf[c.kind]}"' if c.kind in xf else ""
    if c.kind in TEXT_KINDS or c.kind == "flag":
        if c.kind == "flag":
            text = f"CASE WHEN {v} IS NULL THEN NULL WHEN {v} <> 0 THEN {sql_literal(words.yes)} ELSE {sql_literal(words.no)} END"
        else:
            shown = words.values.get(c.key)
            if shown:
                whens = " ".join(f"WHEN {sql_literal(str(k))} THEN {sql_literal(str(t))}" for k, t in shown.items())
                v = f"(CASE {v} {whens} ELSE {v} END)"
            text = f"NULLIF({v}, '')"
        return head, f'"{style} t="inlineStr"><is>', _text_sql(text), "</is></c>"
    if c.kind == "date":
        # Excel's serial day: days since 1899-12-31, one more from 1900-03-01 on (Excel counts
        # the day 1900-02-29, which never was); as XlsxWriter's datetime conversion
        num = (f"CAST(date_diff('day', DATE '1899-12-31', {v}) + "
               f"CASE WHEN {v} >= DATE '1900-03-01' THEN 1 ELSE 0 END AS VARCHAR)")
    else:  # money: DECIMAL(18,2) as text is exact; integers; numbers: the shortest round-trip text
        num = f"CAST({v} AS VARCHAR)"
    return head, f'"{style}><v>', num, "</v></c>"


def _cell_sql(c: Column, letter: str, words: ExportWords, xf: Mapping[str, int]) -> str:
    """SQL: the ``<c>`` element of column ``c`` (in column ``letter``) for one row, with the
    row number as :data:`_ROW`, or NULL for a missing value (no cell, as an empty cell is written)."""
    head, mid, value, tail = _cell_parts(c, letter, words, xf)
    return f"({sql_literal(head + _ROW + mid)} || {value} || {sql_literal(tail)})"


def _constant_cells(con: Any, columns: Sequence[Column], constants: Mapping[str, Any], words: ExportWords,
                    xf: Mapping[str, int]) -> dict[str, str | None]:
    """The ``<c>`` elements (row number still :data:`_ROW`; None: no cell) of the columns whose
    value is the same on every row (``constants``), made once by the very SQL of a row's cell."""
    return _constant_cells_of(con, [(columns, constants)], words, xf)[0]


def _constant_cells_of(con: Any, sheets: Sequence[tuple[Sequence[Column], Mapping[str, Any]]], words: ExportWords,
                       xf: Mapping[str, int]) -> list[dict[str, str | None]]:
    """:func:`_constant_cells` of several sheets (their ``(columns, constants)``), in their order, with
    one engine query per set of constant columns instead of one per sheet: the cells' SQL (long:
    the text escaping) is planned once and run on one row per sheet (each row typed on its own
    by :func:`select_columns`, so every row has the types it has alone: the same cells)."""
    from xlsxwriter.utility import xl_col_to_name

    out: list[dict[str, str | None]] = [{} for _ in sheets]
    groups: dict[tuple, list[int]] = {}
    for i, (columns, constants) in enumerate(sheets):
        const = tuple((j, c) for j, c in enumerate(columns) if c.key in constants)
        if const:
            groups.setdefault(const, []).append(i)
    for const, members in groups.items():
        cols = [c for _, c in const]
        idx = "_sheet"
        while idx in {c.key for c in cols}:  # a name none of the columns has
            idx += "_"
        rows = []
        for i in members:
            values = ", ".join(f'{_literal(sheets[i][1][c.key])} AS "{c.key}"' for c in cols)
            typed = select_columns(f"SELECT {values}", cols)
            rows.append(f'SELECT CAST({i} AS BIGINT) AS "{idx}", * FROM ({typed}) AS t')
        cells = ", ".join(_cell_sql(c, xl_col_to_name(j), words, xf) for j, c in const)
        got = con.execute(f'SELECT q."{idx}", {cells} FROM ({" UNION ALL ".join(rows)}) AS q ORDER BY 1').fetchall()
        if [int(r[0]) for r in got] != members:
            raise RuntimeError("the engine lost a sheet's row of constant cells")
        for r in got:
            out[int(r[0])] = {c.key: v for c, v in zip(cols, r[1:])}
    return out


def _literal(value: Any) -> str:
    """A constant column's value as a SQL literal (a text, a number, a date or NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Integral):
        return f"CAST({int(value)} AS BIGINT)"
    if isinstance(value, numbers.Real):
        return f"CAST({float(value)!r} AS DOUBLE)"
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return sql_literal(str(value))


def _rows_sql(typed: str, columns: Sequence[Column], words: ExportWords, xf: Mapping[str, int], limit: int,
              constant: Mapping[str, str | None] | None = None) -> str:
    """The sheet's rows as their ``<row>`` elements, numbered from 2 (the header is row 1), in
    the query's order: ``row_number() OVER ()`` numbers rows in the order they come (DuckDB
    keeps the order of an ordered subquery through projections, an empty window and LIMIT).
    ``constant``: ready cells (:func:`_constant_cells`) of columns that are the same on every row.

    Each row is one ``concat`` of its markup, its row number (as text once per row) and its
    values' texts, which are columns of the query below it: a cell whose value is NULL is left
    out (:func:`_cell_parts`). The same text as each :func:`_cell_sql` joined, without a string
    per cell and a pass replacing the row number in the whole row."""
    from xlsxwriter.utility import xl_col_to_name

    constant = constant or {}
    values, parts = [], ["'<row r=\"'", "r.n", "'\">'"]
    for j, c in enumerate(columns):
        if c.key in constant:
            if constant[c.key] is not None:
                for i, piece in enumerate(constant[c.key].split(_ROW)):
                    parts += (["r.n"] if i else []) + ([sql_literal(piece)] if piece else [])
            continue
        head, mid, value, tail = _cell_parts(c, xl_col_to_name(j), words, xf)
        values.append(f'{value} AS "v{j}"')
        parts.append(f'CASE WHEN r."v{j}" IS NULL THEN NULL ELSE concat({sql_literal(head)}, r.n, {sql_literal(mid)}, '
                     f'r."v{j}", {sql_literal(tail)}) END')
    parts.append("'</row>'")
    return (f"SELECT concat({', '.join(parts)}) AS x FROM ("
            f"SELECT {''.join(v + ', ' for v in values)}CAST(row_number() OVER () + 1 AS VARCHAR) AS n "
            f"FROM ({typed}) AS q LIMIT {int(limit)}) AS r")


# ----------------------------------------------------------------------------- the workbook

def _about_sheet(wb: Any, ws: Any, about: Sequence[Sequence[Any]], words: ExportWords, bold: Any, date: Any) -> None:
    bold_date = wb.add_format({"bold": True, "num_format": words.date_format})
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 28)
    ws.set_column(2, 6, 22)
    for i, row in enumerate(about):
        for j, v in enumerate(row):
            heading = len(row) == 1 and isinstance(v, str) and len(v) < 40  # a section title
            strong = i == 0 or heading or (j == 0 and isinstance(v, str) and v and len(row) > 1)
            if v is None:
                continue
            if isinstance(v, str):
                ws.write_string(i, j, v, bold if strong else None)
            elif isinstance(v, (dt.date, dt.datetime)):
                ws.write_datetime(i, j, v, bold_date if i == 0 else date)
            elif isinstance(v, bool):
                ws.write_boolean(i, j, v, bold if i == 0 else None)
            elif isinstance(v, numbers.Real):
                ws.write_number(i, j, float(v), bold if i == 0 else None)
            else:
                ws.write_string(i, j, str(v), bold if strong else None)


def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> its part in the package (from the workbook and its relationships)."""
    book = ET.fromstring(z.read("xl/workbook.xml"))
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): r.get("Target") for r in rels.iter(f"{_PKG_REL_NS}Relationship")}
    out = {}
    for s in book.iter(f"{_MAIN_NS}sheet"):
        t = target[s.get(f"{_REL_NS}id")]
        out[s.get("name")] = t.lstrip("/") if t.startswith("/") else f"xl/{t}"
    return out


@dataclass
class _Plan:
    title: str
    sheet: Sheet
    typed: str
    rows: int
    constant: Mapping[str, str | None] = field(default_factory=dict)


def write_workbook(con: Any, path: str | os.PathLike, about: Sequence[Sequence[Any]], sheets: Sequence[Sheet],
                   words: ExportWords, *, max_rows: int = XLSX_MAX_ROWS, about_title: str = "About") -> list[FileRecord]:
    """Write ``path``: the About sheet (rows of ``about``; the first row is its heading) and one
    sheet per entry of ``sheets`` (at most ``max_rows`` rows each, streamed from ``con``).
    Returns one record per sheet (rows written; ``capped`` warning when rows were left out)."""
    import xlsxwriter

    max_rows = int(min(max_rows, EXCEL_MAX_ROWS - 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shell = io.BytesIO()
    # Plain strings stay strings: no formulas, numbers or links made of them.
    wb = xlsxwriter.Workbook(shell, {"in_memory": True, "strings_to_formulas": False,
                                     "strings_to_numbers": False, "strings_to_urls": False})
    # one object per format: XlsxWriter numbers the styles of the objects it sees used
    bold = wb.add_format({"bold": True})
    by_code: dict[str, Any] = {}
    formats = {kind: by_code.get(code) or by_code.setdefault(code, wb.add_format({"num_format": code}))
               for kind, code in {**_NUMBER_FORMATS, "date": words.date_format}.items()}
    used: set[str] = set()
    _about_sheet(wb, wb.add_worksheet(sheet_title(about_title, used)), about, words, bold, formats["date"])
    plans = []
    for sh in sheets:
        title = sheet_title(sh.title, used)
        ws = wb.add_worksheet(title)
        typed = select_columns(sh.sql, sh.columns)
        # the sheet's rows: its total as the caller counted it (the streamed rows are checked
        # against it, :func:`_stream_sheet`); counted here only when the sheet is capped, where
        # the stream cannot tell whether rows beyond the cap match the total
        total = int(sh.total_rows)
        if total > max_rows:
            counted = int(con.execute(f"SELECT count(*) FROM ({typed}) AS q").fetchone()[0])
            if counted != total:
                raise RuntimeError(f"sheet {title!r}: the query gives {counted} rows, the sheet says {total}")
        rows = min(total, max_rows)
        first = con.execute(f"SELECT * FROM ({typed}) AS q LIMIT 200").fetchall()
        headers = [words.header(c.key) for c in sh.columns]
        for j, c in enumerate(sh.columns):
            sample = [r[j] for r in first]
            shown = words.values.get(c.key)
            if shown:
                sample = [shown.get(v, v) for v in sample]
            # the column's own format too: a value typed below the list gets it (ids stay text)
            ws.set_column(j, j, _width(headers[j], sample), formats.get(c.kind))
            ws.write_string(0, j, headers[j], bold)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, rows, len(sh.columns) - 1)
        plans.append(_Plan(title, sh, typed, rows))
    wb.close()  # styles are numbered now: those of the columns' formats are the cells' styles
    xf = {kind: f.xf_index for kind, f in formats.items() if f.xf_index is not None}
    unnumbered = {c.kind for p in plans for c in p.sheet.columns if c.kind in formats and c.kind not in xf}
    if unnumbered:
        raise RuntimeError(f"XlsxWriter gave no style number to the formats of {sorted(unnumbered)}")
    for plan, constant in zip(plans, _constant_cells_of(con, [(p.sheet.columns, p.sheet.constants) for p in plans],
                                                        words, xf)):
        plan.constant = constant
    records = []
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(shell) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL) as dst:
            parts = _sheet_parts(src)
            by_part = {parts[p.title]: p for p in plans}
            for info in src.infolist():
                plan = by_part.get(info.filename)
                if plan is None:
                    dst.writestr(info, src.read(info))
                    continue
                written = _stream_sheet(con, dst, info.filename, src.read(info).decode("utf-8"), plan, words, xf)
                rec = FileRecord(f"{path.name}#{plan.title}", written, "xlsx")
                if written < plan.sheet.total_rows:
                    rec.warnings.append({"code": "xlsx_capped", "file": path.name, "sheet": plan.title, "rows": written,
                                         "total": int(plan.sheet.total_rows), "csv_file": plan.sheet.csv_file})
                records.append((plan, rec))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    order = {id(p): i for i, p in enumerate(plans)}
    return [rec for _, rec in sorted(records, key=lambda pr: order[id(pr[0])])]


_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')


def _chunk(column: Any) -> Any:
    """The UTF-8 bytes of a string column's values one after the other: the slice of its data
    buffer between the first and the last offset (Arrow keeps a string array's values there in
    order), without a Python object per value."""
    import numpy as np
    import pyarrow as pa

    if len(column) == 0:
        return b""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        _, offsets, data = column.buffers()
        width = np.int64 if pa.types.is_large_string(column.type) else np.int32
        bounds = np.frombuffer(offsets, dtype=width)[column.offset:column.offset + len(column) + 1]
        return memoryview(data)[int(bounds[0]):int(bounds[-1])]
    return "".join(column.to_pylist()).encode("utf-8")  # another layout (a string view): the same bytes


def _xml_batches(con: Any, sql: str) -> Iterable[tuple[Any, int]]:
    """The rows' XML of the engine query ``sql`` (one text per row, :func:`_rows_sql`) as UTF-8
    chunks (with the number of rows in each). A thread has the engine make the next chunks (the
    engine runs without Python's lock) while the caller deflates the previous ones (zlib runs
    without it too): on two cores the two overlap. At most four chunks wait."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    complete = getattr(con, "complete", None)
    if complete is not None:  # a count read with fetchone() leaves its result open; the Relation API refuses then
        complete()
    reader = con.sql(sql).to_arrow_reader(_BATCH_ROWS)

    def produce() -> None:
        try:
            for batch in reader:
                if stop.is_set():
                    break
                if batch.num_rows:
                    q.put((_chunk(batch.column(0)), batch.num_rows))
            q.put(None)
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
            q.put(e)

    worker = threading.Thread(target=produce, name="rfm-xlsx-rows", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a producer blocked on a full queue finish
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
        with contextlib.suppress(Exception):
            reader.close()


def _stream_sheet(con: Any, dst: zipfile.ZipFile, part: str, xml: str, plan: _Plan, words: ExportWords,
                  xf: Mapping[str, int]) -> int:
    """Write ``part`` into ``dst``: XlsxWriter's sheet ``xml`` (header row only) with the rows of
    ``plan`` streamed from the engine before the end of ``<sheetData>``. Returns the rows written."""
    from xlsxwriter.utility import xl_col_to_name

    head, sep, tail = xml.partition("</sheetData>")
    if not sep or len(_DIMENSION.findall(head)) != 1:
        raise RuntimeError(f"{part}: unexpected sheet XML from XlsxWriter (no </sheetData> or <dimension>)")
    last = f"{xl_col_to_name(len(plan.sheet.columns) - 1)}{plan.rows + 1}"
    head = _DIMENSION.sub(f'<dimension ref="A1:{last}"/>', head)
    # one row more than the sheet holds when it is not capped: a query giving more rows than the
    # sheet's total is caught (the sheet's total is the caller's count, :func:`write_workbook`)
    sql = _rows_sql(plan.typed, plan.sheet.columns, words, xf,
                    plan.rows + (1 if plan.rows == plan.sheet.total_rows else 0), plan.constant)
    written = 0
    # zip64 headers only when the part may pass 2 GiB (cells average ~50 bytes; 120 allowed for;
    # a larger part without them is refused by zipfile, loudly)
    big = plan.rows * len(plan.sheet.columns) * 120 > 2**31
    with dst.open(part, "w", force_zip64=big) as out:
        out.write(head.encode("utf-8"))
        for chunk, n in _xml_batches(con, sql):  # the engine builds the next rows while zlib deflates these
            out.write(chunk)
            written += n
        out.write((sep + tail).encode("utf-8"))
    if written != plan.rows:
        raise RuntimeError(f"{part}: the engine gave {written} rows for sheet {plan.title!r}, {plan.rows} were expected "
                           f"(the sheet's total: {plan.sheet.total_rows})")
    return written

