"""The DuckDB engine: in memory, over frames, Arrow tables and files read in place."""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from .base import Column, Engine, EngineDateError, Relation, Table, _arrow_columns
from .files import _expand, _file_format, inspect_parquet


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
                              "timestamp; load the file with rfm_helpers.load.load_transactions, "
                              "which parses dates")


