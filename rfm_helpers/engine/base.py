"""What both engines share: SQL translation, typed columns, relations, the Engine interface."""
from __future__ import annotations

import functools
import os
import re
import time
import uuid
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from .fetch import FETCH_KINDS, FetchRecord, _report_fetch


# ====================================================================== SQL translation
def translate(sql: str, dialect: str = "spark") -> str:
    """Translate DuckDB-dialect SQL to ``dialect`` with sqlglot, plus two corrections for Spark:

    * ``DATE_DIFF('day', a, b)`` becomes Spark's two-argument ``DATEDIFF(b, a)``, a plain
      count of calendar days. sqlglot writes ``DATEDIFF(DAY, a, b)``, which Spark computes
      on timestamps at midnight in the session time zone: across a summer-time change at
      midnight (America/Sao_Paulo until 2018) that day has no midnight and the difference
      comes out one day short.
    * Common table expressions (``WITH x AS [MATERIALIZED] (...)``) become subqueries in the
      FROM clauses that use them. Spark inlines CTEs anyway, but only after it has looked
      for cached data: a CTE reading a cached or checkpointed view would
      recompute it from the source; a subquery reads the cache.
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
            return node

        tree = _inline_ctes(tree.transform(fix))
    return tree.sql(dialect=dialect)


def _inline_ctes(tree):
    """Replace every non-recursive CTE by its query as a subquery where it is read."""
    from sqlglot import exp

    def substitute(node, defs):
        def swap(n):
            if isinstance(n, exp.Table) and not n.args.get("db") and n.name in defs:
                return exp.Subquery(this=defs[n.name].copy(),
                                    alias=exp.TableAlias(this=exp.to_identifier(n.alias_or_name)))
            return n

        return node.transform(swap)

    while True:
        w = next((w for w in tree.find_all(exp.With) if not w.args.get("recursive")), None)
        if w is None:
            return tree
        owner = w.parent
        defs: dict = {}
        for cte in w.expressions:
            defs[cte.alias_or_name] = substitute(cte.this, defs)
        owner.set("with_", None)
        replaced = substitute(owner, defs)
        if owner is tree:
            tree = replaced
        else:
            owner.replace(replaced)


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
        temporary table; Spark: ``localCheckpoint`` in the executors); returns its name."""
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


