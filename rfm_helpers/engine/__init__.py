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
``RFM_FETCH_MAX_ROWS`` is set lower than the row count. The run's clean transactions read
from the load cache's Parquet file into pandas (``Prepared.transactions``, ``LoadResult.clean``)
are reported the same way, as ``kind="per_transaction"``.

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

Modules: ``base`` (translation, columns, relations, the Engine interface), ``duckdb_engine``,
``spark_engine``, ``files`` (Parquet footers, Parquet for Spark), ``fetch`` (instrumentation).
Next steps this layout is made for: a loader whose row rules are one SQL text runs through
``Engine.sql`` on either engine; a Spark table as a source is one more branch of
``SparkEngine.register`` (``session.table(name)``), the session coming from the source spec.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from .base import (Column, Engine, EngineDateError, Relation, Table, arrow_to_pandas, check_time_zone,
                   translate)
from .duckdb_engine import DuckDBEngine
from .fetch import (FETCH_KINDS, FetchLimitExceeded, FetchRecord, add_fetch_listener,
                    recording_fetches)
from .files import inspect_parquet, write_parquet
from .spark_engine import SparkEngine

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
