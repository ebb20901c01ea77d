"""One engine layer: run one SQL text on DuckDB or Spark, keep per-customer rows in the engine.

Every per-customer computation of the package is written once, as SQL in DuckDB's dialect,
and runs here:

* on **DuckDB** over a pandas DataFrame, an Arrow table, or Parquet/CSV files (streamed, so
  files larger than memory work);
* on **Spark** (a ``SparkSession`` you pass), after translating the same text to Spark SQL
  with sqlglot (:func:`translate`).

The API is small::

    with open_engine("duckdb") as eng:                  # or open_engine("spark", spark=session)
        tx = eng.register("tx", frame_or_path)          # -> Table: name + typed columns
        rel = eng.sql(f"SELECT ... FROM {tx.name}")     # -> Relation (lazy; stays in the engine)
        rel.write_parquet("out.parquet")                # written by the engine, streamed
        small = rel.to_pandas(label="segment sizes", kind="aggregate")

``Relation.to_pandas`` / :meth:`Engine.fetch` is the only door from the engine into pandas and
it is instrumented: each fetch is reported (engine, label, kind, rows, columns, bytes) to the
listeners registered with :func:`add_fetch_listener` / :func:`recording_fetches`, appended as a
JSON line to the file named by the environment variable ``RFM_FETCH_LOG`` (so fetches made in
notebook kernels can be checked by a test), and refused when ``kind="per_customer"`` and
``RFM_FETCH_MAX_ROWS`` is set lower than the row count.

**Calendar dates.** :meth:`Engine.calendar_date_sql` turns a typed column into a DATE that
does not depend on the machine's ``TZ``, DuckDB's ``TimeZone`` or Spark's session time zone:

* DATE, naive TIMESTAMP and Spark TIMESTAMP_NTZ are local wall-clock values: the date is
  the date as written;
* instants (tz-aware pandas/Arrow, DuckDB TIMESTAMPTZ, Spark TIMESTAMP, Parquet INT96 or
  ``isAdjustedToUTC`` timestamps) need the zone whose calendar counts: the zone recorded
  with the data (a pandas/Arrow time zone name), or ``time_zone=...``; when neither is known
  (Spark tables and Spark-written Parquet record none) they are refused with a message
  that names the option.

Parquet with nanosecond timestamps (pandas' default) cannot be read by Spark; write Parquet
for Spark with :func:`write_parquet` (microseconds).
"""
from __future__ import annotations

import contextlib
import functools
import glob as _glob
import json
import os
import re
import time
import uuid
import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import pandas as pd
import pyarrow as pa

__all__ = [
    "Column",
    "Table",
    "Relation",
    "Engine",
    "DuckDBEngine",
    "SparkEngine",
    "EngineDateError",
    "FetchRecord",
    "FetchLimitExceeded",
    "FETCH_KINDS",
    "open_engine",
    "translate",
    "add_fetch_listener",
    "recording_fetches",
    "write_parquet",
    "inspect_parquet",
    "check_time_zone",
    "is_spark_frame",
    "arrow_to_pandas",
]

#: What a fetched result is: one row per customer (must stay bounded in notebooks 03-05),
#: an aggregate (one row per segment, month, score...) or a bounded sample.
FETCH_KINDS = ("per_customer", "aggregate", "sample")


# =============================================================== fetch instrumentation
@dataclass(frozen=True)
class FetchRecord:
    """One result brought from an engine into Python."""

    engine: str
    label: str
    kind: str
    rows: int
    columns: int
    nbytes: int
    seconds: float


class FetchLimitExceeded(RuntimeError):
    """A per-customer fetch was larger than ``RFM_FETCH_MAX_ROWS`` allows."""


_listeners: list[Callable[[FetchRecord], None]] = []


def add_fetch_listener(listener: Callable[[FetchRecord], None]) -> Callable[[], None]:
    """Call ``listener(record)`` after every fetch; returns a function that removes it."""
    _listeners.append(listener)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _listeners.remove(listener)

    return remove


@contextlib.contextmanager
def recording_fetches() -> Iterator[list[FetchRecord]]:
    """``with recording_fetches() as log:`` - ``log`` lists every fetch made inside."""
    log: list[FetchRecord] = []
    remove = add_fetch_listener(log.append)
    try:
        yield log
    finally:
        remove()


def _report_fetch(record: FetchRecord) -> None:
    for listener in list(_listeners):
        listener(record)
    path = os.environ.get("RFM_FETCH_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**asdict(record), "pid": os.getpid()}) + "\n")
    limit = os.environ.get("RFM_FETCH_MAX_ROWS")
    if limit and record.kind == "per_customer" and record.rows > int(limit):
        raise FetchLimitExceeded(
            f"{record.label}: fetched {record.rows:,} per-customer rows into pandas, more than "
            f"RFM_FETCH_MAX_ROWS={int(limit):,}; keep this work in the engine (write files with "
            "Relation.write_parquet, fetch aggregates)")


# ====================================================================== SQL translation
def translate(sql: str, dialect: str = "spark") -> str:
    """Translate DuckDB-dialect SQL to ``dialect`` with sqlglot, plus two corrections:

    * ``DATE_DIFF('day', a, b)`` becomes Spark's two-argument ``DATEDIFF(b, a)``, a plain
      count of calendar days. sqlglot writes ``DATEDIFF(DAY, a, b)``, which Spark computes
      on timestamps at midnight in the session time zone: across a summer-time change at
      midnight (America/Sao_Paulo until 2018) that day has no midnight and the difference
      comes out one day short.
    * ``WITH x AS MATERIALIZED (...)`` (DuckDB: compute a CTE used several times once) loses
      the keyword, which Spark does not parse; Spark reuses identical shuffles itself.
    """
    return _translate_cached(sql, dialect)


@functools.lru_cache(maxsize=64)
def _translate_cached(sql: str, dialect: str) -> str:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    if dialect == "spark":
        def fix(node):
            if isinstance(node, exp.DateDiff):
                unit = node.args.get("unit")
                if unit is None or unit.name.upper() in ("DAY", "DAYS", "D"):
                    return exp.Anonymous(this="DATEDIFF", expressions=[node.this, node.expression])
            if isinstance(node, exp.CTE) and node.args.get("materialized"):
                node.set("materialized", None)
            return node

        tree = tree.transform(fix)
    return tree.sql(dialect=dialect)


# ================================================================= columns and tables
class EngineDateError(ValueError):
    """A date column whose calendar day cannot be known without more information."""


@dataclass(frozen=True)
class Column:
    """A column as the engine sees it.

    ``kind`` is one of ``date``, ``timestamp`` (naive: local wall-clock time as written),
    ``instant`` (a point in time: its calendar day depends on a time zone), ``string``,
    ``integer``, ``decimal``, ``float``, ``boolean``, ``other``. ``time_zone`` is the zone
    recorded with an instant (a pandas/Arrow zone name), ``None`` when the data records none.
    """

    name: str
    kind: str
    engine_type: str
    time_zone: str | None = None
    note: str = ""


@dataclass
class Table:
    """A registered source: the name to use in SQL, its typed columns, where it came from."""

    name: str
    columns: dict[str, Column]
    origin: str
    files: list[str] = field(default_factory=list)

    def __contains__(self, column: str) -> bool:
        return column in self.columns


_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})$")


def check_time_zone(name: str | None) -> str | None:
    """The zone as both engines spell it: an IANA name (``Europe/Moscow``) as is, a fixed
    offset (``+03:00``, ``UTC+03:00``) as ``UTC+03:00``; ``ValueError`` for anything else."""
    if name is None or name == "":
        return None
    text = str(name).strip()
    m = _OFFSET_RE.match(text)
    if m:
        sign, hh, mm = m.groups()
        if int(hh) > 18 or int(mm) > 59:
            raise ValueError(f"time zone offset {name!r} is out of range")
        return f"UTC{sign}{int(hh):02d}:{mm}"
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time_zone {name!r} is not a time zone name such as 'Europe/Moscow' "
                         "or 'America/Sao_Paulo' (or an offset such as '+03:00')") from None
    return text


def _arrow_kind(t: pa.DataType) -> tuple[str, str | None]:
    if pa.types.is_timestamp(t):
        return ("instant", t.tz) if t.tz else ("timestamp", None)
    if pa.types.is_date(t):
        return "date", None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string", None
    if pa.types.is_dictionary(t):
        return _arrow_kind(t.value_type)
    if pa.types.is_integer(t):
        return "integer", None
    if pa.types.is_decimal(t):
        return "decimal", None
    if pa.types.is_floating(t):
        return "float", None
    if pa.types.is_boolean(t):
        return "boolean", None
    return "other", None


def _arrow_columns(schema: pa.Schema) -> dict[str, Column]:
    out = {}
    for f in schema:
        kind, tz = _arrow_kind(f.type)
        out[f.name] = Column(f.name, kind, str(f.type), tz)
    return out


# ------------------------------------------------------------------------ Parquet files
def _expand(path: str | os.PathLike) -> list[str]:
    """Files behind a path, a directory (all ``*.parquet`` below it) or a glob."""
    p = str(path)
    if os.path.isdir(p):
        return sorted(str(x) for x in Path(p).rglob("*.parquet") if x.is_file())
    if any(ch in p for ch in "*?["):
        return sorted(_glob.glob(p, recursive=True))
    return [p] if os.path.exists(p) else []


def inspect_parquet(path: str | os.PathLike) -> dict[str, Column]:
    """Typed columns of Parquet file(s) from their footers (no data is read).

    Timestamps are classified by their Parquet annotation, not by what a reader makes of
    them: INT96 (how Spark and Hive write TIMESTAMP by default) and ``isAdjustedToUTC``
    timestamps are instants; their ``time_zone`` is the zone name an Arrow writer recorded
    (pandas keeps ``Europe/Moscow``), else ``None``. ``note`` says ``INT96`` or
    ``nanoseconds`` where it matters (Spark cannot read nanosecond timestamps). Every file
    matched by a glob or directory is inspected; a column typed differently in two files
    is refused, naming both files.
    """
    import pyarrow.parquet as pq

    files = _expand(path)
    if not files:
        raise FileNotFoundError(f"{path}: no Parquet file found")
    merged: dict[str, Column] = {}
    first_seen: dict[str, str] = {}
    for f in files:
        pf = pq.ParquetFile(f)
        arrow = pf.schema_arrow
        physical = {pf.schema.column(i).path: pf.schema.column(i) for i in range(len(pf.schema))}
        for fld in arrow:
            kind, tz = _arrow_kind(fld.type)
            note = ""
            col = physical.get(fld.name)
            if col is not None and col.physical_type == "INT96":
                kind, tz, note = "instant", None, "INT96"
            elif kind in ("timestamp", "instant") and col is not None:
                logical = json.loads(col.logical_type.to_json() or "{}") if col.logical_type else {}
                if logical.get("isAdjustedToUTC"):
                    kind = "instant"
                    # an Arrow writer's zone name is kept in the schema; a bare UTC flag
                    # (Spark, Hive, Arrow's own "UTC") does not say where the sale happened
                    tz = tz if tz and tz.upper() not in ("UTC", "+00:00", "Z", "ETC/UTC") else None
                if logical.get("timeUnit") == "nanoseconds" or getattr(fld.type, "unit", "") == "ns":
                    note = "nanoseconds"
            c = Column(fld.name, kind, str(fld.type), tz, note)
            prev = merged.get(fld.name)
            if prev is not None and (prev.kind, prev.time_zone) != (c.kind, c.time_zone):
                raise ValueError(
                    f"column {fld.name!r} is {prev.kind} ({prev.engine_type}) in {first_seen[fld.name]} "
                    f"but {c.kind} ({c.engine_type}) in {f}; write all files with one schema")
            if prev is None or (c.note and not prev.note):
                merged[fld.name] = c
                first_seen.setdefault(fld.name, f)
    return merged


def write_parquet(data: pd.DataFrame | pa.Table, path: str | os.PathLike) -> Path:
    """Write a DataFrame / Arrow table as Parquet that both DuckDB and Spark read exactly.

    Timestamps are written in microseconds (Spark refuses nanoseconds); naive timestamps
    stay naive (``isAdjustedToUTC=false``, read by Spark as TIMESTAMP_NTZ), tz-aware ones
    keep their zone name in the Arrow schema; dates stay DATE.
    """
    import pyarrow.parquet as pq

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_to_microseconds(table), path, coerce_timestamps="us",
                   allow_truncated_timestamps=True)
    return path


def _to_microseconds(table: pa.Table) -> pa.Table:
    fields = []
    changed = False
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us", t.tz)
            changed = True
        elif pa.types.is_dictionary(t):
            t = t.value_type
            changed = True
        fields.append(pa.field(f.name, t, f.nullable, f.metadata))
    return table.cast(pa.schema(fields, table.schema.metadata), safe=False) if changed else table


def _file_format(path: str) -> str:
    low = path.lower()
    if os.path.isdir(path) or low.endswith((".parquet", ".pq")) or "*.parquet" in low:
        return "parquet"
    if low.endswith((".csv", ".csv.gz")) or "*.csv" in low:
        return "csv"
    raise ValueError(f"{path}: only Parquet (.parquet, a folder of them, or a glob) or CSV "
                     "(.csv, .csv.gz) files can be read by the engine")


# ============================================================================ relations
class Relation:
    """A query result that stays in its engine until fetched or written.

    ``native`` is the engine's own object (a ``DuckDBPyRelation`` or a Spark ``DataFrame``);
    ``sql`` the DuckDB-dialect text it came from.
    """

    def __init__(self, engine: "Engine", native: Any, sql: str = ""):
        self.engine = engine
        self.native = native
        self.sql = sql

    @property
    def columns(self) -> list[str]:
        return list(self.native.columns)

    def to_pandas(self, *, label: str, kind: str = "per_customer") -> pd.DataFrame:
        """Fetch into pandas (instrumented, see the module docstring)."""
        return self.engine.fetch(self, label=label, kind=kind)

    def to_arrow(self, *, label: str, kind: str = "per_customer") -> pa.Table:
        return self.engine.fetch_arrow(self, label=label, kind=kind)

    def write_parquet(self, path: str | os.PathLike) -> Path:
        """Let the engine write the rows (DuckDB: one file; Spark: a folder of part files)."""
        return self.engine.write_parquet(self, path)

    def create_view(self, name: str) -> str:
        """Name this result so later SQL can read it; returns the name."""
        return self.engine.create_view(name, self)


# ============================================================================== engines
class Engine:
    """What both engines offer; see the module docstring for an example.

    ``sql`` takes DuckDB-dialect text (Spark translates it); ``native_sql`` runs text in the
    engine's own dialect and is meant for the small engine-specific adapters (dates).
    """

    kind = "?"

    def register(self, name: str, data: Any) -> Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def sql(self, text: str) -> Relation:  # pragma: no cover - abstract
        raise NotImplementedError

    def native_sql(self, text: str) -> Relation:  # pragma: no cover - abstract
        raise NotImplementedError

    def create_view(self, name: str, relation: Relation | str) -> str:  # pragma: no cover
        raise NotImplementedError

    def materialize(self, relation: Relation | str, stem: str = "rfm_tmp") -> str:  # pragma: no cover
        """Compute ``relation`` once and keep it in the engine until ``close`` (DuckDB: a
        temporary table; Spark: a persisted DataFrame, memory and disk); returns its name."""
        raise NotImplementedError

    def _arrow(self, relation: Relation) -> pa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def write_parquet(self, query: Relation | str, path: str | os.PathLike) -> Path:  # pragma: no cover
        raise NotImplementedError

    def calendar_date_sql(self, column: Column, time_zone: str | None, where: str) -> str:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- shared behaviour
    def unique_name(self, stem: str) -> str:
        """A view name nobody else uses in this session."""
        return f"{stem}_{uuid.uuid4().hex[:10]}"

    def fetch_arrow(self, query: Relation | str, *, label: str, kind: str = "per_customer") -> pa.Table:
        """The result as an Arrow table (instrumented)."""
        if kind not in FETCH_KINDS:
            raise ValueError(f"kind must be one of {FETCH_KINDS}, got {kind!r}")
        rel = self.sql(query) if isinstance(query, str) else query
        t0 = time.perf_counter()
        table = self._arrow(rel)
        _report_fetch(FetchRecord(self.kind, label, kind, table.num_rows, table.num_columns,
                                  int(table.nbytes), time.perf_counter() - t0))
        return table

    def fetch(self, query: Relation | str, *, label: str, kind: str = "per_customer") -> pd.DataFrame:
        """The result as pandas (instrumented): strings as pandas' string dtype, dates as
        ``datetime64``, decimals as float64."""
        return arrow_to_pandas(self.fetch_arrow(query, label=label, kind=kind))

    def scalar_rows(self, query: Relation | str, *, label: str) -> list[tuple]:
        """A small result as tuples (an aggregate)."""
        table = self.fetch_arrow(query, label=label, kind="aggregate")
        return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns))))

    def _instant_zone(self, column: Column, time_zone: str | None, where: str) -> str:
        zone = check_time_zone(time_zone) or (check_time_zone(column.time_zone) if column.time_zone else None)
        if zone:
            return zone
        how = f" ({column.note})" if column.note else ""
        raise EngineDateError(
            f"{where}: column {column.name!r} holds instants{how} - {column.engine_type} - whose "
            "calendar day depends on a time zone the data does not record (Spark tables and "
            "Spark-written Parquet store UTC, not the zone of the sale). Pass time_zone='Area/City' "
            "(the zone whose calendar days count, e.g. time_zone='Europe/Moscow'), or store "
            "order_date as DATE or as a timestamp without time zone (TIMESTAMP_NTZ).")


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas the same way for both engines: strings as pandas' string dtype,
    dates as ``datetime64`` (never Python objects), decimals as float64."""
    fields = []
    changed = False
    for f in table.schema:
        if pa.types.is_decimal(f.type):
            fields.append(pa.field(f.name, pa.float64()))
            changed = True
        else:
            fields.append(f)
    if changed:
        table = table.cast(pa.schema(fields))
    return table.to_pandas(date_as_object=False,
                           types_mapper={pa.string(): pd.StringDtype(),
                                         pa.large_string(): pd.StringDtype()}.get)


# ------------------------------------------------------------------------------ DuckDB
_DUCK_KINDS = [
    (re.compile(r"^TIMESTAMP WITH TIME ZONE$|^TIMESTAMPTZ$"), "instant"),
    (re.compile(r"^TIMESTAMP(_NS|_MS|_S)?$"), "timestamp"),
    (re.compile(r"^DATE$"), "date"),
    (re.compile(r"^VARCHAR"), "string"),
    (re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$"), "integer"),
    (re.compile(r"^DECIMAL"), "decimal"),
    (re.compile(r"^(DOUBLE|FLOAT|REAL)$"), "float"),
    (re.compile(r"^BOOLEAN$"), "boolean"),
]


def _duck_kind(type_name: str) -> str:
    for rx, kind in _DUCK_KINDS:
        if rx.search(type_name):
            return kind
    return "other"


class DuckDBEngine(Engine):
    """DuckDB, in memory. ``con``: an existing connection to use (left open on close).

    Connections this engine opens run with ``TimeZone = 'UTC'`` so that nothing can
    depend on the machine's ``TZ`` (dates are computed without time zones anyway).
    """

    kind = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, *, threads: int | None = None,
                 memory_limit: str | None = None):
        self._own = con is None
        self._temp: list[str] = []
        self.con = con if con is not None else duckdb.connect()
        if self._own:
            self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")

    def close(self) -> None:
        if self._own:
            self.con.close()
            return
        for t in self._temp:
            with contextlib.suppress(Exception):
                self.con.execute(f"DROP TABLE IF EXISTS {t}")
        self._temp.clear()

    def sql(self, text: str) -> Relation:
        return Relation(self, self.con.sql(text), text)

    def materialize(self, relation: Relation | str, stem: str = "rfm_tmp") -> str:
        text = relation if isinstance(relation, str) else relation.sql
        name = self.unique_name(stem)
        self.con.execute(f"CREATE TEMP TABLE {name} AS {text}")
        self._temp.append(name)
        return name

    native_sql = sql

    def create_view(self, name: str, relation: Relation | str) -> str:
        rel = self.sql(relation) if isinstance(relation, str) else relation
        rel.native.create_view(name, replace=True)
        return name

    def _arrow(self, relation: Relation) -> pa.Table:
        return relation.native.to_arrow_table()

    def write_parquet(self, query: Relation | str, path: str | os.PathLike) -> Path:
        rel = self.sql(query) if isinstance(query, str) else query
        cols = []
        for name, typ in zip(rel.native.columns, rel.native.types):
            q = '"' + name.replace('"', '""') + '"'
            cols.append(f"CAST({q} AS TIMESTAMP) AS {q}" if str(typ) == "TIMESTAMP_NS" else q)
        view = self.unique_name("rfm_out")
        rel.native.create_view(view, replace=True)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        esc = str(path).replace("'", "''")
        self.con.execute(f"COPY (SELECT {', '.join(cols)} FROM {view}) TO '{esc}' (FORMAT parquet)")
        self.con.execute(f"DROP VIEW {view}")
        return path

    # -------------------------------------------------------------------- registering
    def register(self, name: str, data: Any, *, text_columns: tuple[str, ...] = ("customer_id", "order_id")) -> Table:
        """Make ``data`` readable as ``name``: a pandas DataFrame, an Arrow table, a DuckDB
        relation, or a path / folder / glob of Parquet or CSV files (read in place).
        CSV ``text_columns`` stay text (``00042`` is not ``42``)."""
        if isinstance(data, pd.DataFrame):
            self.con.register(name, data)
            table = Table(name, self._describe(name), "DataFrame")
            return self._with_frame_zones(table, data)
        if isinstance(data, pa.Table):
            self.con.register(name, data)
            cols = self._describe(name)
            for c, a in _arrow_columns(data.schema).items():
                if a.kind == "instant" and c in cols:
                    cols[c] = Column(c, "instant", cols[c].engine_type, a.time_zone)
            return Table(name, cols, "Arrow table")
        if isinstance(data, (str, os.PathLike)):
            return self._register_files(name, str(data), text_columns)
        if isinstance(data, Relation) and data.engine is self:
            data.create_view(name)
            return Table(name, self._describe(name), "relation")
        if type(data).__module__.startswith("pyspark."):
            raise TypeError("a Spark DataFrame runs on the Spark engine: pass engine='spark' (or 'auto')")
        raise TypeError(f"cannot read {type(data).__name__} with DuckDB: pass a DataFrame, an "
                        "Arrow table or a Parquet/CSV path")

    def _describe(self, name: str) -> dict[str, Column]:
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
        return {r[0]: Column(r[0], _duck_kind(str(r[1])), str(r[1])) for r in rows}

    @staticmethod
    def _with_frame_zones(table: Table, frame: pd.DataFrame) -> Table:
        for c, col in list(table.columns.items()):
            if col.kind == "instant" and c in frame.columns:
                tz = getattr(frame[c].dtype, "tz", None)
                table.columns[c] = Column(c, "instant", col.engine_type, str(tz) if tz is not None else None)
        return table

    def _register_files(self, name: str, path: str, text_columns: tuple[str, ...]) -> Table:
        fmt = _file_format(path)
        esc = path.replace("'", "''")
        if fmt == "parquet":
            files = _expand(path)
            if not files:
                raise FileNotFoundError(f"{path}: no Parquet file found")
            target = f"{esc.rstrip('/')}/**/*.parquet" if os.path.isdir(path) else esc
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{target}')")
            cols = self._describe(name)
            for c, info in inspect_parquet(path).items():
                if c in cols and info.kind == "instant":
                    cols[c] = Column(c, "instant", cols[c].engine_type + (f" ({info.note})" if info.note else ""),
                                     info.time_zone, info.note)
            return Table(name, cols, f"file {path}", files)
        if not _expand(path):
            raise FileNotFoundError(f"{path}: no CSV file found")
        sniff = self.con.execute(f"DESCRIBE SELECT * FROM read_csv_auto('{esc}', header=true)").fetchall()
        present = [c for c in text_columns if c in {r[0] for r in sniff}]
        types = ", ".join(f"'{c}': 'VARCHAR'" for c in present)
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM "
                         f"read_csv_auto('{esc}', header=true{', types={' + types + '}' if types else ''})")
        return Table(name, self._describe(name), f"file {path}", _expand(path))

    # ------------------------------------------------------------------------ dates
    def calendar_date_sql(self, column: Column, time_zone: str | None, where: str) -> str:
        """DuckDB expression for the calendar date of ``column`` (see the module docstring)."""
        q = f'"{column.name}"'
        if column.kind == "date":
            return q
        if column.kind == "timestamp":
            return f"CAST({q} AS DATE)"
        if column.kind == "instant":
            zone = self._instant_zone(column, time_zone, where).replace("'", "''")
            if column.note == "INT96":  # DuckDB reads INT96 as a naive TIMESTAMP holding UTC
                return f"CAST(timezone('{zone}', timezone('UTC', {q})) AS DATE)"
            return f"CAST(timezone('{zone}', {q}) AS DATE)"
        raise EngineDateError(f"{where}: column {column.name!r} is {column.engine_type}, not a date or "
                              "timestamp; load the file with rfm_helpers.loading.load_transactions, "
                              "which parses dates")


# ------------------------------------------------------------------------------- Spark
class SparkEngine(Engine):
    """Spark through a ``SparkSession`` you own (this engine never stops it).

    Temporary views it creates are dropped on ``close``. SQL is translated from DuckDB's
    dialect with :func:`translate`. Results stay in Spark until fetched or written; fetches
    go through Arrow (``DataFrame.toArrow``) where PySpark has it.
    """

    kind = "spark"

    def __init__(self, session: Any):
        if session is None:
            raise ValueError("the Spark engine needs a SparkSession (spark=...)")
        self.session = session
        self._views: list[str] = []
        self._persisted: list[Any] = []

    def close(self) -> None:
        for v in self._views:
            with contextlib.suppress(Exception):
                self.session.catalog.dropTempView(v)
        self._views.clear()
        for df in self._persisted:
            with contextlib.suppress(Exception):
                df.unpersist()
        self._persisted.clear()

    def materialize(self, relation: Relation | str, stem: str = "rfm_tmp") -> str:
        from pyspark import StorageLevel

        rel = self.sql(relation) if isinstance(relation, str) else relation
        df = rel.native.persist(StorageLevel.MEMORY_AND_DISK)
        self._persisted.append(df)
        df.count()  # compute it now, once, before several queries read it
        return self.create_view(self.unique_name(stem), Relation(self, df, rel.sql))

    def sql(self, text: str) -> Relation:
        return Relation(self, self.session.sql(translate(text, "spark")), text)

    def native_sql(self, text: str) -> Relation:
        return Relation(self, self.session.sql(text), text)

    def create_view(self, name: str, relation: Relation | str) -> str:
        rel = self.sql(relation) if isinstance(relation, str) else relation
        rel.native.createOrReplaceTempView(name)
        self._views.append(name)
        return name

    def _arrow(self, relation: Relation) -> pa.Table:
        df = relation.native
        if hasattr(df, "toArrow"):
            return df.toArrow()
        return pa.Table.from_pandas(df.toPandas(), preserve_index=False)  # PySpark 3.5

    def write_parquet(self, query: Relation | str, path: str | os.PathLike) -> Path:
        rel = self.sql(query) if isinstance(query, str) else query
        rel.native.write.mode("overwrite").parquet(str(path))
        return Path(path)

    # -------------------------------------------------------------------- registering
    def register(self, name: str, data: Any, *, text_columns: tuple[str, ...] = ("customer_id", "order_id")) -> Table:
        """Make ``data`` readable as ``name``: a Spark DataFrame of this session, a pandas
        DataFrame or Arrow table (sent with an explicit schema: naive timestamps as
        TIMESTAMP_NTZ, so no session time zone touches them), or Parquet/CSV path(s) that the
        executors can read."""
        zones: dict[str, str] = {}
        origin = "Spark DataFrame"
        files: list[str] = []
        if type(data).__module__.startswith("pyspark."):
            df = data
        elif isinstance(data, (pd.DataFrame, pa.Table)):
            table = pa.Table.from_pandas(data, preserve_index=False) if isinstance(data, pd.DataFrame) else data
            table = _to_microseconds(table)
            zones = {f.name: f.type.tz for f in table.schema if pa.types.is_timestamp(f.type) and f.type.tz}
            df = self.session.createDataFrame(table, schema=_spark_schema(table.schema))
            origin = "DataFrame" if isinstance(data, pd.DataFrame) else "Arrow table"
        elif isinstance(data, (str, os.PathLike)):
            df, files = self._read_files(str(data))
            origin = f"file {data}"
        elif isinstance(data, Relation) and data.engine is self:
            df = data.native
            origin = "relation"
        else:
            raise TypeError(f"cannot read {type(data).__name__} with Spark")
        df.createOrReplaceTempView(name)
        self._views.append(name)
        cols = {}
        for f in df.schema.fields:
            kind = _spark_kind(f.dataType)
            cols[f.name] = Column(f.name, kind, f.dataType.simpleString(), zones.get(f.name))
        return Table(name, cols, origin, files)

    def _read_files(self, path: str):
        fmt = _file_format(path)
        files = _expand(path)
        reader = self.session.read
        if fmt == "parquet":
            if files:  # visible from the driver: check before Spark fails obscurely
                ns = [c.name for c in inspect_parquet(path).values() if c.note == "nanoseconds"]
                if ns:
                    raise ValueError(
                        f"{path}: column(s) {ns} hold nanosecond timestamps, which Spark cannot read "
                        "(PARQUET_TYPE_ILLEGAL). Rewrite the file with rfm_helpers.engine.write_parquet "
                        "(microseconds), or with pandas: df.to_parquet(path, coerce_timestamps='us', "
                        "allow_truncated_timestamps=True)")
            return reader.parquet(path), files
        # CSV: every column as text; the date adapter parses order_date without a time zone
        return reader.option("header", True).option("inferSchema", False).csv(path), files

    # ------------------------------------------------------------------------ dates
    def calendar_date_sql(self, column: Column, time_zone: str | None, where: str) -> str:
        """Spark expression for the calendar date of ``column``, independent of
        ``spark.sql.session.timeZone`` (see the module docstring)."""
        q = f"`{column.name}`"
        if column.kind == "date":
            return q
        if column.kind == "timestamp":
            return f"CAST({q} AS DATE)"
        if column.kind == "string":  # CSV text: wall-clock time as written, no zone applied
            return f"CAST(CAST({q} AS TIMESTAMP_NTZ) AS DATE)"
        if column.kind == "instant":
            zone = self._instant_zone(column, time_zone, where).replace("'", "\\'")
            # from_utc_timestamp shifts the instant by the zone's offset at that instant, then
            # whole days of UTC microseconds are counted: no session time zone is involved
            return (f"DATE_FROM_UNIX_DATE(CAST(FLOOR(UNIX_MICROS(FROM_UTC_TIMESTAMP({q}, '{zone}')) "
                    f"/ 86400000000) AS INT))")
        raise EngineDateError(f"{where}: column {column.name!r} is {column.engine_type}, not a date or timestamp")


def _spark_kind(t: Any) -> str:
    name = type(t).__name__
    return {
        "DateType": "date", "TimestampNTZType": "timestamp", "TimestampType": "instant",
        "StringType": "string", "VarcharType": "string", "CharType": "string",
        "ByteType": "integer", "ShortType": "integer", "IntegerType": "integer", "LongType": "integer",
        "DecimalType": "decimal", "DoubleType": "float", "FloatType": "float", "BooleanType": "boolean",
    }.get(name, "other")


def _spark_schema(schema: pa.Schema):
    from pyspark.sql import types as T

    def conv(t: pa.DataType):
        if pa.types.is_timestamp(t):
            return T.TimestampType() if t.tz else T.TimestampNTZType()
        if pa.types.is_date(t):
            return T.DateType()
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return T.StringType()
        if pa.types.is_dictionary(t):
            return conv(t.value_type)
        if pa.types.is_integer(t):
            return T.LongType() if t.bit_width > 32 else T.IntegerType()
        if pa.types.is_decimal(t):
            return T.DecimalType(t.precision, t.scale)
        if pa.types.is_floating(t):
            return T.DoubleType()
        if pa.types.is_boolean(t):
            return T.BooleanType()
        if pa.types.is_null(t):
            return T.StringType()
        raise TypeError(f"column type {t} cannot be sent to Spark")

    return T.StructType([T.StructField(f.name, conv(f.type), True) for f in schema])


# ============================================================================ choosing
def is_spark_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyspark.")


@contextlib.contextmanager
def open_engine(engine: Any = "auto", *, data: Any = None, spark: Any = None) -> Iterator[Engine]:
    """The engine to use, closed on exit if this call created it.

    ``engine``: an :class:`Engine` (used as is), ``"duckdb"``, ``"spark"`` (needs ``spark=``
    or a Spark DataFrame as ``data``), or ``"auto"`` (Spark for a Spark DataFrame, else DuckDB).
    """
    if isinstance(engine, Engine):
        yield engine
        return
    if engine == "auto":
        engine = "spark" if is_spark_frame(data) else "duckdb"
    if engine == "duckdb":
        eng: Engine = DuckDBEngine()
    elif engine == "spark":
        session = spark if spark is not None else (data.sparkSession if is_spark_frame(data) else None)
        if session is None:
            raise ValueError("engine='spark' with a pandas DataFrame or files needs a SparkSession (spark=...)")
        eng = SparkEngine(session)
    else:
        raise ValueError(f"unknown engine {engine!r}: use 'duckdb', 'spark', 'auto' or an Engine")
    try:
        yield eng
    finally:
        eng.close()
