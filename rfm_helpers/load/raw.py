"""What a reader returns and how readers register (:mod:`.readers` dispatches to them).

Kept apart from the dispatcher so that the reader modules (``read_text``, ``read_sheets``,
``read_typed``) and the dispatcher that imports them do not import each other.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import pyarrow as pa

from .result import DataValidationError, Remark

__all__ = ["RawTable", "ReadContext", "READERS", "register"]


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
    #: a Parquet file read in place by DuckDB (:func:`.read_typed.open_parquet`): ``table`` then
    #: holds the schema only (no rows), ``rows`` the file's row count and line numbers are positions
    parquet: Optional[str] = None
    rows: Optional[int] = None

    def __post_init__(self) -> None:
        assert len(self.source_row) == self.table.num_rows or self.parquet is not None

    @property
    def num_rows(self) -> int:
        """Rows read (for a Parquet file read in place: the file's rows)."""
        return self.table.num_rows if self.parquet is None else int(self.rows or 0)


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

