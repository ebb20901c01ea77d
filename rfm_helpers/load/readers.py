"""Readers: one registered entry per format, each turning a :class:`TableSource` into a :class:`RawTable`.

A reader only reads: it finds the header row, keeps every value as written (text for text
formats, typed cells for spreadsheets, Parquet and SQL) and the line number of every row.
What the values mean is decided later, per column (:mod:`.parsing`). A new format is a new
function decorated with :func:`register` (e.g. ``format: spark``), not a new branch.

Line numbers (``source_row``): for text files the physical line in the file (1-based,
counting title lines, the header and blank lines; exact unless a quoted value spans an
empty line); for sheets the sheet row; for Parquet, SQL and DataFrames the 1-based position.
"""
from __future__ import annotations

import csv
import difflib
import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from .result import DataValidationError, Remark

__all__ = ["RawTable", "READERS", "register", "read_table", "format_for"]

_LEGACY_ENCODINGS = ["cp1251", "koi8_r", "cp866", "cp1252", "latin_1"]
_HEAD_BYTES = 1 << 20
_SEPS = (";", ",", "\t", "|")


@dataclass
class RawTable:
    """Values as read: ``table`` (Arrow; text columns as strings), ``source_row`` per row,
    the header as written and the reader's remarks."""

    table: pa.Table
    source_row: np.ndarray
    header: list[str]
    remarks: list[Remark] = field(default_factory=list)
    text_source: bool = True   # every value was text in the source (CSV, HTML)

    def __post_init__(self) -> None:
        assert len(self.source_row) == self.table.num_rows


Reader = Callable[[Any, "ReadContext"], RawTable]
READERS: dict[str, Reader] = {}


@dataclass
class ReadContext:
    label: str                      # the data as the user named it
    wanted: list[str]               # mapped column names (help find the header row)


def register(name: str) -> Callable[[Reader], Reader]:
    """Register a reader for ``format: name``."""
    def deco(fn: Reader) -> Reader:
        READERS[name] = fn
        return fn
    return deco


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(2048)
    except OSError:
        return b""


def _looks_html(head: bytes) -> bool:
    h = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return h.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<meta", b"<head", b"<body", b"<!--"))


def format_for(spec: Any) -> str:
    """The reader for a spec: its ``format``, or from the file's suffix and first bytes."""
    fmt = getattr(spec, "format", "auto")
    if fmt != "auto":
        return fmt
    if getattr(spec, "_frame", None) is not None:
        return "dataframe"
    if getattr(spec, "sql", None) is not None:
        return "sql"
    path = spec.resolved_path
    if path is None:
        return "csv"
    suffix = path.suffix.lower()
    head = _magic(path)
    if head.startswith(b"PAR1") or suffix in (".parquet", ".pq"):
        return "parquet"
    if _looks_html(head):
        return "html"
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or suffix in (".xlsx", ".xlsm", ".xlsb", ".ods"):
        return "excel"
    if suffix == ".xls" and head and b"\x00" in head[:512]:
        return "excel"
    return "csv"


def read_table(spec: Any, wanted: list[str]) -> RawTable:
    fmt = format_for(spec)
    ctx = ReadContext(label=spec.data_label, wanted=[w for w in wanted if w])
    if fmt not in READERS:
        raise DataValidationError(f"{ctx.label}: unknown format {fmt!r} (use one of {sorted(READERS)})")
    if fmt not in ("sql", "dataframe"):
        path = spec.resolved_path
        if path is None or not path.exists():
            raise DataValidationError(f"{ctx.label}: file not found" + (
                f" (looked in {path.parent})" if path is not None and not Path(spec.path).is_absolute() else ""))
    raw = READERS[fmt](spec, ctx)
    if raw.table.num_rows == 0:
        raise DataValidationError(f"{ctx.label}: the file has a header ({', '.join(raw.header)}) but no data rows")
    return raw


# ------------------------------------------------------------------------------ header rows
def _check_duplicates(header: list[str], label: str) -> None:
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        where = "; ".join(f"{h!r} at positions {[i + 1 for i, x in enumerate(header) if x == h]}" for h in dup)
        raise DataValidationError(f"{label}: duplicated column name(s) in the header: {where}. Rename the "
                                  "columns so each is unique.")


def _find_header(rows: list[list[str]], wanted: list[str], header_row: Any, label: str,
                 what: str = "line") -> int:
    """Index (0-based, into ``rows``) of the header row. ``rows`` are the first rows of a
    table split into cells, blank rows as empty lists."""
    if isinstance(header_row, int):
        if header_row > len(rows):
            raise DataValidationError(f"{label}: header_row {header_row} is beyond the first {len(rows)} {what}s")
        return header_row - 1
    nonblank = [i for i, r in enumerate(rows) if any(str(c).strip() for c in r)]
    if not nonblank:
        return 0
    want = {w.casefold() for w in wanted}
    if want:
        for i in nonblank[:100]:
            cells = {str(c).strip().casefold() for c in rows[i]}
            if want <= cells:
                return i
    width = [sum(1 for c in rows[i] if str(c).strip()) for i in nonblank]
    body = width[len(width) // 4:] or width
    modal = Counter(w for w in body if w > 1).most_common(1)
    if not modal:
        return nonblank[0]
    m = modal[0][0]
    for i, w in zip(nonblank, width):
        if w >= m:
            cells = [str(c).strip() for c in rows[i] if str(c).strip()]
            # a header is words, not numbers or dates
            if not any(re.fullmatch(r"[-+]?[\d\s.,:/]+", c) for c in cells):
                return i
            return nonblank[0]
    return nonblank[0]


# ------------------------------------------------------------------------------ CSV
def _detect_encoding(head: bytes, encoding: str, label: str, remarks: list[Remark]) -> tuple[str, int]:
    """(python codec, bytes of BOM to skip)."""
    if head.startswith(b"\xef\xbb\xbf"):
        remarks.append(Remark("bom_removed"))
        return "utf-8", 3
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        remarks.append(Remark("utf16"))
        return "utf-16", 0
    enc = (encoding or "auto").lower()
    if enc != "auto":
        try:
            "".encode(enc)
        except LookupError:
            raise DataValidationError(f"{label}: unknown encoding {encoding!r} in csv.encoding") from None
        return enc, 0
    import codecs

    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head[:500_000], cp_isolation=_LEGACY_ENCODINGS).best()
    guess = best.encoding if best is not None else "cp1251"
    remarks.append(Remark("encoding_detected", {"encoding": guess}, "warning"))
    return guess, 0


def _split(line: str, sep: str, quote: str) -> list[str]:
    if sep in (r"\s+", " "):
        return line.split()
    return next(csv.reader([line], delimiter=sep, quotechar=quote or '"'), [])


def _sniff_sep(lines: list[str], quote: str) -> str | None:
    nonblank = [ln for ln in lines if ln.strip()][:100]
    best: tuple | None = None
    for sep in _SEPS:
        counts = [len(_split(ln, sep, quote)) for ln in nonblank]
        multi = [c for c in counts if c > 1]
        if not multi:
            continue
        m = Counter(multi[len(multi) // 4:] or multi).most_common(1)[0][0]
        first = next(i for i, c in enumerate(counts) if c == m)
        share = sum(1 for c in counts[first:] if c == m) / len(counts[first:])
        score = (share >= 0.9, m if share >= 0.9 else 0, share)
        if best is None or score > best[0]:
            best = (score, sep)
    if best is None or not best[0][0]:
        counts = {len(ln.split()) for ln in nonblank}
        if len(counts) == 1 and counts.pop() > 1:
            return r"\s+"
        return best[1] if best else None
    return best[1]


def _line_starts(head: bytes) -> list[int]:
    starts = [0]
    pos = head.find(b"\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = head.find(b"\n", pos + 1)
    return starts


def _blank_lines_after(path: Path, offset: int, first_line: int) -> tuple[np.ndarray, int]:
    """Physical line numbers of empty/whitespace-only lines from ``offset`` on (the first
    line there is ``first_line``), and the number of lines."""
    blanks: list[np.ndarray] = []
    line = first_line
    carry = b""
    with path.open("rb") as fh:
        fh.seek(offset)
        while True:
            chunk = fh.read(1 << 23)
            if not chunk:
                break
            data = carry + chunk
            arr = np.frombuffer(data, dtype=np.uint8)
            nl = np.flatnonzero(arr == 10)
            if len(nl) == 0:
                carry = data
                continue
            starts = np.concatenate(([0], nl[:-1] + 1))
            lengths = nl - starts
            short = np.flatnonzero(lengths <= 8)
            if len(short):
                is_blank = np.array([not data[starts[i]:nl[i]].strip() for i in short], dtype=bool)
                blanks.append(line + short[is_blank])
            line += len(nl)
            carry = data[nl[-1] + 1:]
    if carry.strip() == b"" and carry:
        pass
    return (np.concatenate(blanks) if blanks else np.zeros(0, dtype=np.int64)), line


@register("csv")
def read_csv(spec: Any, ctx: ReadContext) -> RawTable:
    import pyarrow.csv as pcsv

    path: Path = spec.resolved_path
    opts = spec.csv
    label = ctx.label
    remarks: list[Remark] = []
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise DataValidationError(f"{label}: the file is empty (no header, no rows)")
    enc, bom = _detect_encoding(head, opts.encoding, label, remarks)
    if enc.replace("_", "-").lower() in ("utf-16", "utf-16-le", "utf-16-be"):
        return _read_csv_small_text(path.read_bytes().decode(enc), spec, ctx, remarks)
    try:
        text_head = head[bom:].decode(enc, errors="strict") if len(head) < _HEAD_BYTES else \
            head[bom:].decode(enc, errors="ignore")
    except UnicodeDecodeError as e:
        line = head[: e.start].count(b"\n") + 1
        raise DataValidationError(f"{label}: cannot be read as {enc} text (first bad byte on line {line}); "
                                  "set csv.encoding to the file's encoding (e.g. cp1251) or to auto") from None
    raw_lines = text_head.split("\n")
    if len(head) >= _HEAD_BYTES:
        raw_lines = raw_lines[:-1]  # possibly cut
    lines = [ln.rstrip("\r") for ln in raw_lines]
    start = 0
    sep = opts.sep
    m = re.fullmatch(r"\s*sep=(.)\s*", lines[0]) if lines else None
    if m:
        hinted = m.group(1)
        if sep == "auto":
            sep = hinted
        remarks.append(Remark("sep_hint_line", {"separator": "TAB" if hinted == "\t" else hinted}))
        start = 1
    if sep == "auto":
        sep = _sniff_sep(lines[start:start + 200], opts.quote)
        if sep is None:
            sep = ","
        elif sep == r"\s+":
            remarks.append(Remark("whitespace_separated"))
        else:
            remarks.append(Remark("separator_detected", {"separator": "TAB" if sep == "\t" else sep}))
    cells = [_split(ln, sep, opts.quote) if ln.strip() else [] for ln in lines[start:start + 200]]
    hidx = start + _find_header(cells, ctx.wanted, spec.header_row if spec.header_row == "auto"
                                else spec.header_row - start, label)
    if isinstance(spec.header_row, int):
        hidx = spec.header_row - 1
    if hidx >= len(lines):
        raise DataValidationError(f"{label}: the file is empty (no header, no rows)")
    header = [h.strip() for h in _split(lines[hidx], sep, opts.quote)]
    first_nonblank = next((i for i in range(start, len(lines)) if lines[i].strip()), start)
    if hidx > first_nonblank:
        remarks.append(Remark("header_row_detected", {"row": hidx + 1, "skipped": hidx - start}, "warning"))
    # a trailing separator gives an empty last name: keep it as an unnamed column
    while header and header[-1] == "" and len(header) > 1 and sep not in (r"\s+",):
        header = header[:-1] + [f"unnamed_{len(header)}"]
    _check_duplicates(header, label)
    if sep in (r"\s+", " "):
        return _read_whitespace(path, enc, bom, hidx, header, label, remarks)
    starts = _line_starts(head)
    if hidx + 1 >= len(starts) or not head[starts[hidx + 1]:].strip():
        raise DataValidationError(f"{label}: the file has a header ({', '.join(header)}) but no data rows")
    offset = starts[hidx + 1]
    names = [f"c{i}" for i in range(len(header))]
    skipped_ws: list[str] = []

    def on_invalid(row: Any) -> str:
        if not row.text.strip():
            skipped_ws.append(row.text)
            return "skip"
        return "error"

    newlines = bool(opts.quote) and opts.quote.encode() in head
    read_opts = pcsv.ReadOptions(column_names=names, block_size=1 << 24, encoding=enc if enc != "utf-8" else "utf8")
    conv = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                               quoted_strings_can_be_null=False)

    def parse(newlines_in_values: bool) -> pa.Table:
        src = pa.OSFile(str(path))
        src.seek(offset)
        popts = pcsv.ParseOptions(delimiter=sep, quote_char=opts.quote or False,
                                  newlines_in_values=newlines_in_values, ignore_empty_lines=True,
                                  invalid_row_handler=on_invalid)
        return pcsv.read_csv(src, read_options=read_opts, parse_options=popts, convert_options=conv)

    try:
        try:
            table = parse(newlines)
        except pa.ArrowInvalid as e:
            if newlines or "Expected" not in str(e):
                raise
            skipped_ws.clear()
            table = parse(True)
    except pa.ArrowInvalid as e:
        msg = str(e)
        if "invalid UTF8" in msg or "UTF8" in msg:
            raise DataValidationError(f"{label}: not valid {enc} text further down the file; set csv.encoding "
                                      "to the file's encoding (e.g. cp1251)") from None
        mm = re.search(r"Expected (\d+) columns, got (\d+): ?(.*)", msg)
        if mm:
            line_no = _find_ragged_line(path, enc, offset, hidx + 2, sep, opts.quote, int(mm.group(1)))
            where = f"line {line_no}" if line_no else "a line"
            raise DataValidationError(
                f"{label}: {where} has {mm.group(2)} fields but the header has {mm.group(1)}; a value probably "
                f"contains the separator {sep!r} without quotes") from None
        raise DataValidationError(f"{label}: cannot be parsed as CSV ({msg.splitlines()[0]})") from None
    except UnicodeDecodeError as e:
        raise DataValidationError(f"{label}: cannot be read as {enc} text ({e.reason}); set csv.encoding to the "
                                  "file's encoding") from None
    table = table.rename_columns(header)
    # physical line numbers of the rows
    blanks, _ = _blank_lines_after(path, offset, hidx + 2)
    n = table.num_rows
    extra = None
    if newlines:
        for col in table.columns:
            if pa.compute.any(pa.compute.match_substring(col, "\n")).as_py():
                cnt = pa.compute.count_substring(col, "\n").to_numpy(zero_copy_only=False)
                extra = cnt if extra is None else extra + cnt
    first = hidx + 2
    if len(blanks) == 0 and extra is None:
        lines_no = np.arange(first, first + n, dtype=np.int64)
    else:
        # the k-th non-blank line after the header, skipping the lines spanned by earlier rows
        need = n + (int(extra.sum()) if extra is not None else 0) + len(blanks) + 1
        allx = np.arange(first, first + need, dtype=np.int64)
        nonblank = allx[~np.isin(allx, blanks)]
        idx = np.arange(n, dtype=np.int64)
        if extra is not None:
            idx = idx + np.concatenate(([0], np.cumsum(extra)[:-1]))
        lines_no = nonblank[np.minimum(idx, len(nonblank) - 1)]
    inner = int((blanks < (lines_no[-1] if n else 0)).sum()) if len(blanks) else 0
    if inner:
        remarks.append(Remark("blank_lines_skipped", {"count": inner}))
    # blank trailing columns from trailing separators
    for name in [h for h in header if h.startswith("unnamed_")]:
        col = table.column(name)
        if pa.compute.all(pa.compute.equal(pa.compute.utf8_trim_whitespace(col), "")).as_py() in (True, None):
            table = table.drop_columns([name])
            header.remove(name)
    return RawTable(table, lines_no, header, remarks)


def _find_ragged_line(path: Path, enc: str, offset: int, first_line: int, sep: str, quote: str,
                      expected: int) -> int | None:
    with path.open("r", encoding=enc, errors="replace", newline="") as fh:
        fh.seek(0)
        text_iter = io.StringIO(path.read_bytes()[offset:].decode(enc, errors="replace"))
        reader = csv.reader(text_iter, delimiter=sep, quotechar=quote or '"')
        for row in reader:
            if row and any(c.strip() for c in row) and len(row) != expected:
                return first_line + reader.line_num - 1
    return None


def _read_whitespace(path: Path, enc: str, bom: int, hidx: int, header: list[str], label: str,
                     remarks: list[Remark]) -> RawTable:
    text = path.read_bytes()[bom:].decode(enc)
    lines = text.split("\n")
    body = lines[hidx + 1:]
    df = pd.read_csv(io.StringIO("\n".join(body)), sep=r"\s+", header=None, names=header, dtype=str,
                     keep_default_na=False, na_filter=False, skip_blank_lines=True, engine="c", index_col=False)
    nb = np.array([i for i, ln in enumerate(body) if ln.strip()], dtype=np.int64) + hidx + 2
    table = pa.Table.from_pandas(df.astype(str), preserve_index=False)
    inner = len(body) - len(nb) - sum(1 for ln in reversed(body) if not ln.strip())
    if inner > 0:
        remarks.append(Remark("blank_lines_skipped", {"count": inner}))
    return RawTable(table, nb[: table.num_rows], header, remarks)


def _read_csv_small_text(text: str, spec: Any, ctx: ReadContext, remarks: list[Remark]) -> RawTable:
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as tmp:
        tmp.write(text.lstrip("\ufeff").encode("utf-8"))
    try:
        sub = spec.model_copy(update={"path": tmp.name, "csv": spec.csv.model_copy(update={"encoding": "utf-8"})})
        sub._base_dir = None
        raw = read_csv(sub, ctx)
    finally:
        os.unlink(tmp.name)
    raw.remarks = remarks + raw.remarks
    return raw


# ------------------------------------------------------------------------------ sheets
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


# ------------------------------------------------------------------------------ typed sources
def _frame_to_raw(df: pd.DataFrame) -> RawTable:
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    cols, names = [], list(df.columns)
    for c in names:
        s = df[c]
        if s.dtype == object:
            kinds = {type(v) for v in s.dropna()}
            if kinds <= {str}:
                cols.append(pa.array(s.where(s.notna(), ""), pa.string()))
            else:
                cols.append(pa.array(s.map(_cell_text).astype(str), pa.string()))
            continue
        try:
            arr = pa.array(s, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array(s.map(_cell_text).astype(str), pa.string())
        cols.append(arr)
    table = pa.table(cols, names=names)
    return RawTable(table, np.arange(len(df), dtype=np.int64) + 1, names, [], text_source=False)


@register("dataframe")
def read_dataframe(spec: Any, ctx: ReadContext) -> RawTable:
    df = spec._frame
    if df is None or len(df) == 0:
        raise DataValidationError(f"{ctx.label}: no rows")
    _check_duplicates([str(c).strip() for c in df.columns], ctx.label)
    return _frame_to_raw(df.copy())


@register("parquet")
def read_parquet(spec: Any, ctx: ReadContext) -> RawTable:
    import pyarrow.parquet as pq

    table = pq.read_table(spec.resolved_path)
    names = [str(c).strip() for c in table.column_names]
    table = table.rename_columns(names)
    if table.num_rows == 0:
        raise DataValidationError(f"{ctx.label}: the file has columns ({', '.join(names)}) but no rows")
    return RawTable(table, np.arange(table.num_rows, dtype=np.int64) + 1, names, [], text_source=False)


def _scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "••••")
    return text


def _sqlite_url(url: str, base_dir: Path | None, label: str):
    """A relative SQLite URL resolved against the spec's folder, opened read-only (a missing
    file is an error, never a new empty database)."""
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    db = u.database or ""
    if not db or db == ":memory:":
        return u
    p = Path(db)
    if not p.is_absolute() and base_dir is not None:
        p = (base_dir / p).resolve()
    if not p.exists():
        raise DataValidationError(f"{label}: the SQLite database file {db} was not found"
                                  + (f" (looked in {p.parent})" if base_dir is not None else ""))
    return sa.engine.URL.create("sqlite", database=p.as_uri(), query={"mode": "ro", "uri": "true"})


@register("sql")
def read_sql(spec: Any, ctx: ReadContext) -> RawTable:
    import sqlalchemy as sa

    label = ctx.label
    sql = spec.sql
    if sql is None or not sql.query:
        raise DataValidationError(f"{label}: the sql source needs sql.query")
    url = sql.url or os.environ.get(sql.url_env)
    if not url:
        raise DataValidationError(f"{label}: environment variable {sql.url_env} with the database URL is not set")
    secrets = [url]
    try:
        u = sa.engine.make_url(url)
        secrets += [u.password or "", u.render_as_string(hide_password=True), u.username or ""]
    except Exception:  # noqa: BLE001 - an unparsable URL: still never echo it
        raise DataValidationError(f"{label}: the database URL is not a valid SQLAlchemy URL") from None
    if sql.url and u.password:
        raise DataValidationError(f"{label}: a database URL with a password must not be written in the spec; put "
                                  f"it in an environment variable named in sql.url_env")
    target: Any = url
    if u.get_backend_name() == "sqlite":
        target = _sqlite_url(url, spec._base_dir, label)
    try:
        engine = sa.create_engine(target)
        try:
            with engine.connect() as conn:
                df = pd.read_sql_query(sa.text(sql.query), conn)
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - database errors are reported without the URL
        msg = _scrub(str(getattr(e, "orig", None) or e).splitlines()[0] if str(e) else type(e).__name__, secrets)
        raise DataValidationError(f"{label}: the database query failed ({type(e).__name__}: {msg})") from None
    if len(df) == 0:
        raise DataValidationError(f"{label}: the query returned columns ({', '.join(map(str, df.columns))}) "
                                  "but no rows")
    return _frame_to_raw(df)
