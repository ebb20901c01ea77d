"""One writer for every export file of a run: the CSV dialect, the formula policy, the engine.

CSV dialect (one per run, chosen by the report language)
--------------------------------------------------------
* ``en``: ``,`` between fields, ``.`` as decimal mark; ``ru``: ``;`` and ``,``. Both UTF-8 with a
  byte-order mark (so Excel and LibreOffice read Cyrillic right), ``\\n`` line ends.
* **Every value is quoted** (RFC 4180: ``"..."``, an inner ``"`` doubled); only missing values
  are left empty. Spreadsheets' default import ticks several separators at once (LibreOffice:
  tab, comma and semicolon), so an unquoted ``1134,15`` or ``a;b`` would split into two cells;
  quoted, every row opens with the header's column count. Quoting does not make numbers text
  in the default import, and pandas reads quoted numbers as numbers.
* Money is rounded to cents in the engine as an exact decimal (``100.50``, never
  ``100.50000000000001``); other numbers keep up to 10 significant digits; dates are ISO
  ``YYYY-MM-DD``; flags are ``0``/``1``.

Formula injection (OWASP "CSV Injection")
-----------------------------------------
* Workbook (xlsx): every text cell is written as a string cell (never a formula, nothing is
  evaluated), with no apostrophe added.
* CSV: quoting every field means a separator or quote inside a value can never start a new
  cell. Free-text columns (``text``/``label`` kinds: names, group names, labels) whose value
  starts with ``=``, ``+``, ``-``, ``@``, tab, CR or LF get the OWASP apostrophe. Key columns
  (customer ids, e-mail addresses, E.164 phones) are never altered: an apostrophe there would
  break every join and import, which is what these files are for. Key values that a
  spreadsheet would run as a formula (``=1+2``, ``@SUM(1;2)``; not plain signed numbers such
  as ``-5`` or ``+79161234567``) are counted per file and column and reported as the
  ``formula_like_keys`` warning; LibreOffice's default CSV import does not evaluate formulas,
  the documented import recipe reads them as text, and the workbook shows them as text.

Engine
------
Per-customer files are written by DuckDB (``COPY ... TO``) straight from the table the caller
holds, so no second per-customer pandas copy is made; the workbook streams rows from the same
query in batches. :func:`engine` is the one place this package opens DuckDB (to be replaced
by ``rfm_helpers.engine`` when it lands).
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from .columns import KEY_KINDS, TEXT_KINDS, Column

__all__ = ["CsvDialect", "DIALECTS", "dialect_for", "FORMULA_TRIGGERS", "formula_like", "needs_apostrophe",
           "neutralize_text", "engine", "write_csv", "FileRecord", "sql_literal"]

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV Injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file of a run is written."""

    name: str
    sep: str
    decimal: str
    bom: bool = True
    encoding: str = "utf-8"

    @property
    def read_options(self) -> dict:
        """The ``pandas.read_csv`` options of the documented reading recipe (ids stay text)."""
        return {"sep": self.sep, "decimal": self.decimal, "encoding": "utf-8-sig" if self.bom else self.encoding,
                "keep_default_na": False, "na_values": [""]}


DIALECTS = {"en": CsvDialect("en", ",", "."), "ru": CsvDialect("ru", ";", ",")}


def dialect_for(language: str) -> CsvDialect:
    """The CSV dialect of a run in ``language`` (Russian: ``;`` and decimal comma; every other
    language: ``,`` and ``.``)."""
    return DIALECTS["ru" if str(language).lower().startswith("ru") else "en"]


# ----------------------------------------------------------------------------- formula policy

_PLAIN_NUMBER = re.compile(r"[+-][0-9]+(?:[.,][0-9]+)?")


def needs_apostrophe(value: Any) -> bool:
    """Whether a free-text value starts with a formula character (OWASP's list)."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def formula_like(value: Any) -> bool:
    """Whether a spreadsheet would run ``value`` as a formula: it starts with ``=``, ``@``,
    tab, CR or LF, or with ``+``/``-`` and is not a plain signed number (``-5``, ``+7916...``
    are read as numbers, not formulas)."""
    if not isinstance(value, str) or not value:
        return False
    if value[0] in "=@\t\r\n":
        return True
    return value[0] in "+-" and _PLAIN_NUMBER.fullmatch(value) is None


def neutralize_text(value: Any) -> Any:
    """A free-text value with the OWASP apostrophe when it starts with a formula character."""
    return "'" + value if needs_apostrophe(value) else value


_TRIGGER_RE = r"^[=+\-@\t\r\n]"


def _formula_like_sql(v: str) -> str:
    return (f"(regexp_matches({v}, '^[=@\\t\\r\\n]') OR (regexp_matches({v}, '^[+-]') "
            f"AND NOT regexp_matches({v}, '^[+-][0-9]+([.,][0-9]+)?$')))")


# ----------------------------------------------------------------------------- engine

@contextlib.contextmanager
def engine(**frames: Any) -> Iterator[Any]:
    """A DuckDB connection with ``frames`` (pandas DataFrames or Arrow tables) registered as
    views under their names. The one place this package opens DuckDB: tables are scanned in
    place (no copy), results are written to files or fetched in batches."""
    import duckdb

    # One thread: writing files is bound by the disk, and a single thread keeps the sort
    # buffers small and the rows in order (measured on 478k customers: half the time and a
    # quarter of the memory of two threads; benchmarks/bench_exports.py).
    import os
    import shutil
    import tempfile

    # bounded memory: sorting a list of tens of millions of customers spills to disk, into a
    # folder of this connection's own (two processes writing lists at once must not share one)
    spill = tempfile.mkdtemp(prefix="rfm-export-")
    con = duckdb.connect(config={"threads": 1, "memory_limit": os.environ.get("RFM_EXPORT_DUCKDB_MEMORY", "1GB"),
                                 "temp_directory": spill})
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def sql_literal(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _value_sql(c: Column, dialect: CsvDialect) -> str:
    """The SQL expression writing column ``c`` as text in ``dialect`` (NULL stays NULL)."""
    e = c.expr
    if c.kind in KEY_KINDS:
        return f"CAST({e} AS VARCHAR)"
    if c.kind in TEXT_KINDS:
        v = f"CAST({e} AS VARCHAR)"
        return f"CASE WHEN regexp_matches({v}, '{_TRIGGER_RE}') THEN '''' || {v} ELSE {v} END"
    dec = sql_literal(dialect.decimal)
    if c.kind == "integer":
        return f"CAST(CAST({e} AS BIGINT) AS VARCHAR)"
    if c.kind == "flag":
        return f"CAST(CAST({e} AS INTEGER) AS VARCHAR)"
    if c.kind == "money":
        return f"replace(CAST(CAST({e} AS DECIMAL(18, 2)) AS VARCHAR), '.', {dec})"
    if c.kind == "number":
        x = f"CAST({e} AS DOUBLE)"
        return (f"CASE WHEN isnan({x}) OR isinf({x}) THEN NULL "
                f"ELSE replace(format('{{:.10g}}', {x}), '.', {dec}) END")
    if c.kind == "date":
        return f"strftime(CAST({e} AS DATE), '%Y-%m-%d')"
    raise ValueError(f"column {c.key!r}: kind {c.kind!r} cannot be written")


def _header_line(keys: Sequence[str], dialect: CsvDialect) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=dialect.sep, quotechar='"', quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(keys)
    return buf.getvalue()


@dataclass
class FileRecord:
    """What was written: a file (or a workbook sheet), its rows and its warnings (codes with values)."""

    file: str
    rows: int
    kind: str = "csv"
    schema: str = ""
    warnings: list[dict] = field(default_factory=list)


def write_csv(con: Any, select_sql: str, columns: Sequence[Column], path: str | os.PathLike,
              dialect: CsvDialect, *, schema: str = "") -> FileRecord:
    """Write the rows of ``select_sql`` (run on ``con``) as ``columns`` to ``path`` in
    ``dialect``: the engine writes the rows (``COPY ... TO``, every value quoted), this function
    adds the byte-order mark and the header. Returns the rows written and the warning codes
    (``formula_like_keys``: key values a spreadsheet would evaluate, per column)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exprs = ", ".join(f'{_value_sql(c, dialect)} AS "{c.key}"' for c in columns)
    body = path.with_name(f".{path.name}.{os.getpid()}.part")
    sep = sql_literal(dialect.sep)
    try:
        con.execute(f"COPY (SELECT {exprs} FROM ({select_sql}) AS src) TO {sql_literal(str(body))} "
                    f"(FORMAT csv, DELIMITER {sep}, QUOTE '\"', ESCAPE '\"', HEADER false, FORCE_QUOTE *)")
        rows = _count_lines_free(con, select_sql)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as out:
            if dialect.bom:
                out.write(b"\xef\xbb\xbf")
            out.write(_header_line([c.key for c in columns], dialect).encode(dialect.encoding))
            with body.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, path)
    finally:
        body.unlink(missing_ok=True)
    warnings = _key_warnings(con, select_sql, columns, path.name)
    return FileRecord(path.name, rows, "csv", schema, warnings)


def _count_lines_free(con: Any, select_sql: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM ({select_sql}) AS src").fetchone()[0])


def _key_warnings(con: Any, select_sql: str, columns: Sequence[Column], file: str) -> list[dict]:
    keys = [c for c in columns if c.kind in KEY_KINDS]
    if not keys:
        return []
    parts = ", ".join(f"count(*) FILTER (WHERE {_formula_like_sql(f'CAST({c.expr} AS VARCHAR)')})" for c in keys)
    counts = con.execute(f"SELECT {parts} FROM ({select_sql}) AS src").fetchone()
    return [{"code": "formula_like_keys", "file": file, "column": c.key, "count": int(n)}
            for c, n in zip(keys, counts) if n]


def select_columns(select_sql: str, columns: Sequence[Column]) -> str:
    """SQL returning ``columns`` typed for a workbook: ids and texts as VARCHAR, money as
    DECIMAL(18,2), dates as DATE, numbers as DOUBLE, integers and flags as BIGINT."""
    out = []
    for c in columns:
        e = c.expr
        if c.kind in TEXT_KINDS:
            s = f"CAST({e} AS VARCHAR)"
        elif c.kind == "money":
            s = f"CAST({e} AS DECIMAL(18, 2))"
        elif c.kind == "number":
            s = f"CASE WHEN isnan(CAST({e} AS DOUBLE)) OR isinf(CAST({e} AS DOUBLE)) THEN NULL ELSE CAST({e} AS DOUBLE) END"
        elif c.kind == "date":
            s = f"CAST({e} AS DATE)"
        else:
            s = f"CAST({e} AS BIGINT)"
        out.append(f'{s} AS "{c.key}"')
    return f"SELECT {', '.join(out)} FROM ({select_sql}) AS src"


def fetch_batches(con: Any, sql: str, size: int = 20_000, limit: int | None = None) -> Iterator[list[tuple]]:
    """Rows of ``sql`` as Python tuples, ``size`` at a time (at most ``limit`` rows)."""
    cur = con.execute(sql if limit is None else f"SELECT * FROM ({sql}) AS q LIMIT {int(limit)}")
    while True:
        rows = cur.fetchmany(size)
        if not rows:
            return
        yield rows


def frame_columns(frame: pd.DataFrame | None, candidates: Iterable[Column]) -> list[Column]:
    """The ``candidates`` present as columns of ``frame``."""
    if frame is None:
        return []
    have = set(map(str, frame.columns))
    return [c for c in candidates if c.key in have]


def merge_records(records: Iterable[FileRecord]) -> list[dict]:
    """All warnings of ``records`` in one list."""
    return [w for r in records for w in r.warnings]
