"""The Spark engine: a SparkSession you own; SQL translated from DuckDB's dialect."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from .base import Column, Engine, EngineDateError, Relation, Table, translate
from .files import _expand, _file_format, _to_microseconds, inspect_parquet


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

    def close(self) -> None:
        for v in self._views:
            with contextlib.suppress(Exception):
                self.session.catalog.dropTempView(v)
        self._views.clear()

    def materialize(self, relation: Relation | str, stem: str = "rfm_tmp") -> str:
        """Computed once, now, and kept in the executors (``localCheckpoint``: much cheaper to
        build than ``persist``'s columnar cache, measured 10x at 10^7 rows; the price is that
        a lost executor fails the query instead of recomputing)."""
        rel = self.sql(relation) if isinstance(relation, str) else relation
        df = rel.native.localCheckpoint(eager=True)
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
            schema = _spark_schema(table.schema)
            if _pyspark_major() >= 4:
                df = self.session.createDataFrame(table, schema=schema)
            else:  # PySpark 3.5 takes pandas, not Arrow; the explicit schema keeps naive times NTZ
                df = self.session.createDataFrame(table.to_pandas(), schema=schema)
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


def _pyspark_major() -> int:
    import pyspark

    return int(pyspark.__version__.split(".")[0])


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


