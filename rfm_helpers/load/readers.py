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

from pathlib import Path
from typing import Any, Optional

from . import read_sheets, read_text, read_typed  # noqa: F401 - importing them registers the readers
from .raw import READERS, RawTable, ReadContext, register
from .result import DataValidationError

__all__ = ["RawTable", "READERS", "register", "read_table", "format_for"]


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


def read_table(spec: Any, wanted: list[str], keep: Optional[list[str]] = None, in_place: bool = False) -> RawTable:
    """The source's values. ``in_place``: a Parquet file may come back without its rows
    (:func:`.read_typed.open_parquet`), for the loader to read in DuckDB."""
    fmt = format_for(spec)
    ctx = ReadContext(label=spec.data_label, wanted=[w for w in wanted if w], keep=keep)
    if fmt not in READERS:
        raise DataValidationError(f"{ctx.label}: unknown format {fmt!r} (use one of {sorted(READERS)})")
    if fmt not in ("sql", "dataframe"):
        path = spec.resolved_path
        if path is None or not path.exists():
            raise DataValidationError(f"{ctx.label}: file not found" + (
                f" (looked in {path.parent})" if path is not None and not Path(spec.path).is_absolute() else ""))
    if fmt == "parquet" and in_place and read_typed.stream_parquet_enabled():
        raw = read_typed.open_parquet(spec, ctx)
    else:
        raw = READERS[fmt](spec, ctx)
    if raw.num_rows == 0:
        raise DataValidationError(f"{ctx.label}: the file has a header ({', '.join(raw.header)}) but no data rows")
    return raw
