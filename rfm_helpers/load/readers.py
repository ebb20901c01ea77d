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

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pyarrow as pa

from .result import DataValidationError, Remark

__all__ = ["RawTable", "READERS", "register", "read_table", "format_for"]



@dataclass
class RawTable:
    """Values as read: ``table`` (Arrow; text columns as strings), ``source_row`` per row,
    the header as written and the reader's remarks."""

    table: pa.Table
    source_row: np.ndarray
    header: list[str]
    remarks: list[Remark] = field(default_factory=list)
    text_source: bool = True   # every value was text in the source (CSV, HTML)
    #: for big text files only the columns the load needs are kept in memory; this reads the
    #: original text of every column for the given row positions (the quarantine file)
    refetch: Optional[Callable[[np.ndarray], dict[str, list[str]]]] = None

    def __post_init__(self) -> None:
        assert len(self.source_row) == self.table.num_rows


Reader = Callable[[Any, "ReadContext"], RawTable]
READERS: dict[str, Reader] = {}


@dataclass
class ReadContext:
    label: str                      # the data as the user named it
    wanted: list[str]               # mapped column names (help find the header row)
    keep: Optional[list[str]] = None  # columns the load needs (None: all); others may be left on disk


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


def read_table(spec: Any, wanted: list[str], keep: Optional[list[str]] = None) -> RawTable:
    fmt = format_for(spec)
    ctx = ReadContext(label=spec.data_label, wanted=[w for w in wanted if w], keep=keep)
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


# the registered readers (each module registers its formats on import)
from . import read_sheets, read_text, read_typed  # noqa: E402

_REGISTERING_MODULES = (read_sheets, read_text, read_typed)
