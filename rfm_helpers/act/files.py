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
           "neutralize_text", "engine", "write_csv", "FileRecord", "sql_literal", "key_warnings", "GZIP_LEVEL"]

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

    def decimal_mark(text: str) -> str:  # the engine writes '.': replaced only by another mark
        return text if dialect.decimal == "." else f"replace({text}, '.', {dec})"

    if c.kind == "integer":
        return f"CAST(CAST({e} AS BIGINT) AS VARCHAR)"
    if c.kind == "flag":
        return f"CAST(CAST({e} AS INTEGER) AS VARCHAR)"
    if c.kind == "money":
        return decimal_mark(f"CAST(CAST({e} AS DECIMAL(18, 2)) AS VARCHAR)")
    if c.kind == "number":
        x = f"CAST({e} AS DOUBLE)"
        shown = f"format('{{:.10g}}', {x})"
        return (f"CASE WHEN isnan({x}) OR isinf({x}) THEN NULL "
                f"ELSE {decimal_mark(shown)} END")
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


#: Deflate level of gzip-compressed CSV files (``.csv.gz``). Measured on 308 MB of list rows
#: (2M rows, one core): level 1 compresses at about 90 MB/s to 59 MB, level 6 at about 23 MB/s to
#: 48 MB; DuckDB's own ``COMPRESSION gzip`` took 36 s for the same file (8.5 MB/s), so the engine
#: writes plain text and Python's zlib compresses it on the other core as it arrives.
GZIP_LEVEL = 1


def write_csv(con: Any, select_sql: str, columns: Sequence[Column], path: str | os.PathLike,
              dialect: CsvDialect, *, schema: str = "", rows: int | None = None, compress: bool = False,
              warnings: list[dict] | None = None) -> FileRecord:
    """Write the rows of ``select_sql`` (run on ``con``) as ``columns`` to ``path`` in
    ``dialect``: the engine writes the rows (``COPY ... TO``, every value quoted), this function
    adds the byte-order mark and the header. Returns the rows written and the warning codes
    (``formula_like_keys``: key values a spreadsheet would evaluate, per column).

    ``compress``: ``path`` is written as one gzip member (the byte-order mark, the header and the
    rows; :data:`GZIP_LEVEL`): the engine's text streams through a pipe into the compressor, so
    the uncompressed file never touches the disk (where a pipe cannot be made, through a
    temporary file). ``rows`` (when the caller counted them) and ``warnings`` (when the caller
    computed :func:`key_warnings` for many files in one pass) save a scan each."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exprs = ", ".join(f'{_value_sql(c, dialect)} AS "{c.key}"' for c in columns)
    sep = sql_literal(dialect.sep)
    head = (b"\xef\xbb\xbf" if dialect.bom else b"") + _header_line([c.key for c in columns], dialect).encode(dialect.encoding)

    def copy(target: Path) -> None:
        con.execute(f"COPY (SELECT {exprs} FROM ({select_sql}) AS src) TO {sql_literal(str(target))} "
                    f"(FORMAT csv, DELIMITER {sep}, QUOTE '\"', ESCAPE '\"', HEADER false, FORCE_QUOTE *)")

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if compress:
            _copy_gzip(copy, head, path, tmp)
        else:
            body = path.with_name(f".{path.name}.{os.getpid()}.part")
            try:
                copy(body)
                with tmp.open("wb") as out:
                    out.write(head)
                    with body.open("rb") as src:
                        _append_file(src, out)
            finally:
                body.unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if rows is None:
        rows = _count_lines_free(con, select_sql)
    if warnings is None:
        warnings = _key_warnings(con, select_sql, columns, path.name)
    return FileRecord(path.name, int(rows), "csv.gz" if compress else "csv", schema, warnings)


def _append_file(src: Any, out: Any) -> None:
    """Append the open file ``src`` (from its position) to the open file ``out``: in the kernel
    (``copy_file_range``, no copy through Python's buffers) where it can, else by blocks."""
    out.flush()
    if hasattr(os, "copy_file_range"):
        try:
            while os.copy_file_range(src.fileno(), out.fileno(), 1 << 30):
                pass
            return
        except OSError:  # another file system, an old kernel: by blocks, from where it got to
            src.seek(os.lseek(src.fileno(), 0, os.SEEK_CUR))
            out.seek(0, os.SEEK_END)
    shutil.copyfileobj(src, out, 1 << 20)


def _copy_gzip(copy: Any, head: bytes, path: Path, tmp: Path) -> None:
    """``copy(target)`` makes the engine write the rows to ``target``; compress ``head`` and those
    rows into ``tmp`` as one gzip member (deterministic: no time stamp, no file name)."""
    import gzip
    import threading

    def compress_from(src: Any, raw: Any) -> None:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
            gz.write(head)
            shutil.copyfileobj(src, gz, 1 << 20)

    if not hasattr(os, "mkfifo"):  # no named pipes (Windows): through a temporary file
        body = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            copy(body)
            with body.open("rb") as src, tmp.open("wb") as raw:
                compress_from(src, raw)
        finally:
            body.unlink(missing_ok=True)
        return
    import tempfile

    folder = tempfile.mkdtemp(prefix="rfm-export-pipe-")
    pipe = Path(folder) / "rows"
    os.mkfifo(pipe)
    failed: list[BaseException] = []

    def pump() -> None:
        try:
            with open(pipe, "rb") as src, tmp.open("wb") as raw:
                compress_from(src, raw)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(e)

    worker = threading.Thread(target=pump, name="rfm-export-gzip", daemon=True)
    worker.start()
    try:
        copy(pipe)
    except BaseException:
        # the engine failed (maybe before opening the pipe): open it ourselves so the reader sees the end
        with contextlib.suppress(OSError):
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        worker.join(timeout=60)
        raise
    finally:
        worker.join()
        shutil.rmtree(folder, ignore_errors=True)
    if failed:
        raise failed[0]


def _count_lines_free(con: Any, select_sql: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM ({select_sql}) AS src").fetchone()[0])


def _key_warnings(con: Any, select_sql: str, columns: Sequence[Column], file: str) -> list[dict]:
    return key_warnings(con, select_sql, columns, {None: file})[None]


def key_warnings(con: Any, select_sql: str, columns: Sequence[Column], files: Mapping[Any, str],
                 by: str | None = None) -> dict[Any, list[dict]]:
    """The ``formula_like_keys`` warnings of the rows of ``select_sql``, per file: ``files`` maps
    a value of the column ``by`` (the rows of one file; ``by`` None: every row, key ``None``) to
    the file's name. One scan for any number of files."""
    keys = [c for c in columns if c.kind in KEY_KINDS]
    if not keys:
        return {k: [] for k in files}
    parts = ", ".join(f"count(*) FILTER (WHERE {_formula_like_sql(f'CAST({c.expr} AS VARCHAR)')})" for c in keys)
    if by is None:
        found = {None: con.execute(f"SELECT {parts} FROM ({select_sql}) AS src").fetchone()}
    else:
        found = {r[0]: r[1:] for r in con.execute(f'SELECT "{by}", {parts} FROM ({select_sql}) AS src GROUP BY 1').fetchall()}
    return {k: [{"code": "formula_like_keys", "file": f, "column": c.key, "count": int(n)}
                for c, n in zip(keys, found.get(k) or [0] * len(keys)) if n] for k, f in files.items()}


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
