"""Recency, Frequency, Monetary: one SQL definition, several engines.

The aggregation from transactions to one row per customer is written once, as SQL in
DuckDB's dialect (:data:`RFM_SQL`). It runs

* in DuckDB over an in-memory pandas DataFrame (``engine="duckdb"``, the default),
* in DuckDB straight over Parquet or CSV files, streaming, so files larger than memory
  work (pass a path or a glob instead of a DataFrame),
* on Apache Spark (``engine="spark"``), after translating the same text to Spark SQL with
  `sqlglot <https://github.com/tobymao/sqlglot>`_.

Definitions (as of the analysis date ``as_of``, inclusive):

``recency_days``
    Days from the customer's last purchase on or before ``as_of`` to ``as_of``
    (0 = bought on the analysis date). Uses the whole history, not only the window,
    so lapsed customers keep a meaningful recency.
``frequency``
    Number of distinct orders inside the window. An order is an ``order_id`` when the
    data has one; otherwise all rows of one customer on one calendar day are one order.
``monetary``
    Total spend inside the window (sum of ``amount``).
``first_purchase`` / ``last_purchase``
    First and last purchase dates on or before ``as_of`` (whole history).
``tenure_days``
    Days since the first purchase.

With ``window_days=None`` (the default) the window is the whole history. With a window,
customers whose last purchase is older than the window are still listed (``frequency`` 0,
``monetary`` 0) unless ``include_lapsed=False``: they are the people a win-back campaign
is for.

Quantile scores (:func:`score_quantiles`) are computed in SQL too; see its docstring for
how ties are handled.
"""
from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pandas as pd
import pyarrow as pa

__all__ = [
    "RFM_SQL",
    "SCORE_SQL",
    "compute_rfm",
    "score_quantiles",
    "compute_scored_rfm",
    "rfm_sql",
    "scored_rfm_sql",
    "to_spark_sql",
    "parse_as_of",
]

#: The single definition of the per-customer aggregation. ``{source}`` is a table
#: expression (a view name or ``read_parquet('...')``), ``{key_list}`` the grouping columns.
#: ``{window_key}`` / ``{window_amount}`` are ``order_key`` / ``amount`` restricted to the
#: window (``CASE WHEN order_day > DATE '<as_of - window_days>' THEN ... END``), or the bare
#: columns for the whole history (the CASE would be always true; leaving it out is faster).
#: Without an order id, ``order_key`` is the purchase day itself (a DATE: counting distinct
#: dates is much cheaper than counting distinct strings).
RFM_SQL = """
WITH tx AS (
    SELECT
        CAST(customer_id AS VARCHAR) AS customer_id{key_select},
        CAST(order_date AS DATE) AS order_day,
        {order_key} AS order_key,
        CAST(amount AS DOUBLE) AS amount
    FROM {source}
    WHERE CAST(order_date AS DATE) <= DATE '{as_of}'
)
SELECT
    customer_id{key_list},
    CAST(DATE_DIFF('day', MAX(order_day), DATE '{as_of}') AS INTEGER) AS recency_days,
    CAST(COUNT(DISTINCT {window_key}) AS INTEGER) AS frequency,
    CAST(COALESCE(SUM({window_amount}), 0) AS DOUBLE) AS monetary,
    MIN(order_day) AS first_purchase,
    MAX(order_day) AS last_purchase,
    CAST(DATE_DIFF('day', MIN(order_day), DATE '{as_of}') AS INTEGER) AS tenure_days
FROM tx
GROUP BY customer_id{key_list}
{having}
ORDER BY customer_id{key_list}
"""

#: Quantile scores 1..5 for R, F and M in one pass; see :func:`score_quantiles`.
SCORE_SQL = """
SELECT
    *,
    CAST(LEAST({n}, 1 + FLOOR({n} * (RANK() OVER ({part} ORDER BY recency_days DESC) - 1)
                           / COUNT(*) OVER ({part_only}))) AS INTEGER) AS r_score,
    CAST(LEAST({n}, 1 + FLOOR({n} * (RANK() OVER ({part} ORDER BY frequency ASC) - 1)
                           / COUNT(*) OVER ({part_only}))) AS INTEGER) AS f_score,
    CAST(LEAST({n}, 1 + FLOOR({n} * (RANK() OVER ({part} ORDER BY monetary ASC) - 1)
                           / COUNT(*) OVER ({part_only}))) AS INTEGER) AS m_score
FROM {source}
"""



def parse_as_of(value: Any) -> dt.date:
    """Turn ``'1998-06-30'``, a ``date``, ``datetime`` or ``Timestamp`` into a ``date``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("analysis date is required (e.g. '1998-06-30')")
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError(f"analysis date {value!r} is not a date")
    return ts.date()


def rfm_sql(
    source: str,
    as_of: Any,
    window_days: int | None = None,
    *,
    by: Iterable[str] = (),
    has_order_id: bool = False,
    include_lapsed: bool = True,
) -> str:
    """Render :data:`RFM_SQL` for a table expression ``source`` (DuckDB dialect)."""
    as_of_d = parse_as_of(as_of)
    if window_days is not None:
        if int(window_days) <= 0:
            raise ValueError(f"window_days must be positive, got {window_days!r}")
        window_start = as_of_d - dt.timedelta(days=int(window_days))
    keys = list(by)
    for k in keys:
        if not k.isidentifier():
            raise ValueError(f"grouping column {k!r} is not a plain column name")
    key_select = "".join(f",\n        CAST({k} AS VARCHAR) AS {k}" for k in keys)
    key_list = "".join(f", {k}" for k in keys)
    if has_order_id:
        order_key = "COALESCE(CAST(order_id AS VARCHAR), CAST(CAST(order_date AS DATE) AS VARCHAR))"
    else:
        order_key = "CAST(order_date AS DATE)"
    if window_days is None:
        window_key, window_amount = "order_key", "amount"
    else:
        cond = f"order_day > DATE '{window_start.isoformat()}'"
        window_key = f"CASE WHEN {cond} THEN order_key END"
        window_amount = f"CASE WHEN {cond} THEN amount END"
    having = "" if include_lapsed or window_days is None else (
        f"HAVING MAX(order_day) > DATE '{window_start.isoformat()}'"
    )
    return RFM_SQL.format(
        source=source,
        as_of=as_of_d.isoformat(),
        window_key=window_key,
        window_amount=window_amount,
        key_select=key_select,
        key_list=key_list,
        order_key=order_key,
        having=having,
    )


def score_sql(source: str, n: int = 5, by: Iterable[str] = ()) -> str:
    """Render :data:`SCORE_SQL` (scores are ranked within each group of ``by``)."""
    keys = list(by)
    part_only = f"PARTITION BY {', '.join(keys)}" if keys else ""
    return SCORE_SQL.format(source=source, n=int(n), part=part_only, part_only=part_only)


def scored_rfm_sql(
    source: str,
    as_of: Any,
    window_days: int | None = None,
    *,
    n: int = 5,
    by: Iterable[str] = (),
    has_order_id: bool = False,
    include_lapsed: bool = True,
) -> str:
    """:data:`RFM_SQL` followed by :data:`SCORE_SQL` in one statement (DuckDB dialect).

    Same definitions as ``score_quantiles(compute_rfm(...))``, but the engine never hands
    the per-customer table back to pandas in between; ``rfm_cell`` and ``rfm_score`` are
    computed in SQL as well.
    """
    if n < 2 or n > 9:
        raise ValueError("n must be between 2 and 9 (rfm_cell holds one digit per score)")
    keys = list(by)
    inner = rfm_sql(source, as_of, window_days, by=keys, has_order_id=has_order_id,
                    include_lapsed=include_lapsed)
    inner = inner.rstrip().rsplit("ORDER BY", 1)[0]  # ordering happens once, at the end
    scored = score_sql(f"({inner}) AS rfm", n, keys)
    return (
        "SELECT *, CAST(r_score AS VARCHAR) || CAST(f_score AS VARCHAR) || CAST(m_score AS VARCHAR)"
        " AS rfm_cell, r_score + f_score + m_score AS rfm_score\n"
        f"FROM ({scored}) AS scored\nORDER BY " + ", ".join(["customer_id", *keys])
    )


@functools.lru_cache(maxsize=8)
def to_spark_sql(duckdb_sql: str) -> str:
    """Translate DuckDB-dialect SQL to Spark SQL with sqlglot."""
    import sqlglot

    return sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]


def _is_spark_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyspark.")


def _file_source(path: str | Path) -> str:
    p = str(path)
    low = p.lower()
    esc = p.replace("'", "''")
    if low.endswith(".parquet") or low.endswith(".pq") or "*.parquet" in low:
        return f"read_parquet('{esc}')"
    if low.endswith(".csv") or low.endswith(".csv.gz") or "*.csv" in low:
        return f"read_csv_auto('{esc}', header=true, types={{'customer_id': 'VARCHAR'}})"
    raise ValueError(
        f"{p}: only Parquet or CSV files with canonical columns (customer_id, order_date, "
        "amount[, order_id, channel]) can be aggregated in place; load other formats with "
        "rfm_helpers.load.load_transactions first"
    )


def compute_rfm(
    transactions: Any,
    as_of: Any,
    window_days: int | None = None,
    *,
    by_channel: bool = False,
    include_lapsed: bool = True,
    engine: str = "auto",
    spark: Any = None,
) -> pd.DataFrame:
    """Per-customer RFM table as of ``as_of``.

    Parameters
    ----------
    transactions
        Clean transactions with the canonical columns ``customer_id``, ``order_date``,
        ``amount`` and optionally ``order_id`` and ``channel``: a pandas DataFrame, a
        path or glob of Parquet/CSV files (aggregated by DuckDB without loading them into
        pandas), or a Spark DataFrame.
    as_of
        Analysis date (inclusive). Purchases after it are ignored.
    window_days
        Frequency and monetary count purchases in the last ``window_days`` days only;
        ``None`` for the whole history.
    by_channel
        One row per customer and sales channel (needs a ``channel`` column).
    engine
        ``"duckdb"``, ``"spark"`` or ``"auto"`` (Spark for a Spark DataFrame, else DuckDB).

    Returns
    -------
    DataFrame with ``customer_id`` [, ``channel``], ``recency_days``, ``frequency``,
    ``monetary``, ``first_purchase``, ``last_purchase``, ``tenure_days``; sorted by key.
    """
    by = ["channel"] if by_channel else []
    build = functools.partial(rfm_sql, as_of=as_of, window_days=window_days, by=by,
                              include_lapsed=include_lapsed)
    return _execute(transactions, build, by, engine, spark)


def compute_scored_rfm(
    transactions: Any,
    as_of: Any,
    window_days: int | None = None,
    *,
    n: int = 5,
    by_channel: bool = False,
    include_lapsed: bool = True,
    engine: str = "auto",
    spark: Any = None,
) -> pd.DataFrame:
    """``score_quantiles(compute_rfm(...), n, by=...)`` in one SQL statement.

    The result is identical (same columns, dtypes, order and values; scores ranked within
    each channel when ``by_channel``) but the per-customer table is never round-tripped
    through pandas, which matters for tens of millions of transactions. Accepts the same
    inputs as :func:`compute_rfm` (DataFrame, Parquet/CSV path or glob, Spark DataFrame).
    """
    by = ["channel"] if by_channel else []
    build = functools.partial(scored_rfm_sql, as_of=as_of, window_days=window_days, n=n, by=by,
                              include_lapsed=include_lapsed)
    return _execute(transactions, build, by, engine, spark)


def _execute(transactions: Any, build, by: list[str], engine: str, spark: Any) -> pd.DataFrame:
    """Run ``build(source, has_order_id=...)`` on the chosen engine; tidy dtypes."""
    if engine == "auto":
        engine = "spark" if _is_spark_frame(transactions) else "duckdb"
    if engine == "spark":
        return _compute_spark(transactions, build, by, spark)
    if engine != "duckdb":
        raise ValueError(f"unknown engine {engine!r}: use 'duckdb', 'spark' or 'auto'")

    con = duckdb.connect()
    try:
        if isinstance(transactions, pd.DataFrame):
            _check_columns(transactions.columns, by)
            con.register("transactions_df", transactions)
            source = "transactions_df"
            columns = list(transactions.columns)
        elif isinstance(transactions, (str, Path)):
            source = _file_source(transactions)
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            _check_columns(columns, by)
        else:
            raise TypeError(
                f"transactions must be a DataFrame, a file path or a Spark DataFrame, "
                f"not {type(transactions).__name__}"
            )
        out = _fetch(con, build(source, has_order_id="order_id" in columns))
    finally:
        con.close()
    return _tidy(out, by)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Result as pandas via Arrow: strings arrive as pandas' string dtype directly."""
    table = con.sql(sql).to_arrow_table()
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype(),
                                         pa.large_string(): pd.StringDtype()}.get)


def _check_columns(columns: Iterable[str], by: list[str]) -> None:
    missing = [c for c in ["customer_id", "order_date", "amount", *by] if c not in set(columns)]
    if missing:
        raise KeyError(
            f"transactions lack column(s) {missing}; found {sorted(columns)}. "
            "Load raw files with rfm_helpers.load.load_transactions, which maps columns."
        )


def _tidy(out: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Same dtypes whatever the engine returned (casts only where needed: at millions of
    customers every needless copy shows)."""
    def cast(col: str, dtype: str) -> None:
        if col in out.columns and str(out[col].dtype) != str(pd.Series(dtype=dtype).dtype):
            out[col] = out[col].astype(dtype)

    for c in ("customer_id", *by, "rfm_cell"):
        cast(c, "string")
    for c in ("first_purchase", "last_purchase"):
        # one resolution whatever the engine returns (Spark gives datetime.date objects,
        # DuckDB dates): microseconds, pandas 3's default for parsed dates
        if not pd.api.types.is_datetime64_dtype(out[c]):
            out[c] = pd.to_datetime(out[c])
        cast(c, "datetime64[us]")
    for c in ("recency_days", "frequency", "tenure_days", "r_score", "f_score", "m_score", "rfm_score"):
        cast(c, "int64")
    cast("monetary", "float64")
    return out.reset_index(drop=True)


def _compute_spark(transactions, build, by, spark) -> pd.DataFrame:
    if not _is_spark_frame(transactions):
        if spark is None:
            raise ValueError("engine='spark' with a pandas DataFrame needs a SparkSession (spark=...)")
        transactions = spark.createDataFrame(transactions)
    _check_columns(transactions.columns, by)
    session = transactions.sparkSession
    view = "rfm_transactions"
    transactions.createOrReplaceTempView(view)
    sql = build(view, has_order_id="order_id" in transactions.columns)
    out = session.sql(to_spark_sql(sql)).toPandas()
    return _tidy(out, by)


def score_quantiles(rfm: pd.DataFrame, n: int = 5, *, by: Iterable[str] = ()) -> pd.DataFrame:
    """Add quantile scores ``r_score``, ``f_score``, ``m_score`` (1..n) and ``rfm_cell``.

    **Ties.** A value's score is ``1 + floor(n * share of customers with a strictly worse
    value)``, capped at ``n``. So

    * equal values always get equal scores (a customer's score never depends on row order);
    * scores never decrease as the value improves;
    * the worst value always scores 1;
    * with no ties each score holds ``1/n`` of the customers.

    With heavy ties some scores stay empty. In CDNOW about 60% of customers bought once,
    so every one-order customer gets ``f_score`` 1 and the next score used is the one whose
    band contains the 60th percentile; we never split equal customers between scores to
    fill the bands artificially (pandas ``qcut`` on ranks would do that). For recency,
    smaller is better (fewer days since the last order scores higher).

    ``rfm_cell`` is the three digits, e.g. ``"545"``; ``rfm_score`` their sum. Rows come
    back sorted by ``customer_id`` (and ``by`` keys).
    """
    if n < 2:
        raise ValueError("n must be at least 2")
    if rfm.empty:
        out = rfm.copy()
        for c in ("r_score", "f_score", "m_score"):
            out[c] = pd.Series(dtype="int64")
        out["rfm_cell"] = pd.Series(dtype="string")
        out["rfm_score"] = pd.Series(dtype="int64")
        return out
    con = duckdb.connect()
    try:
        con.register("rfm_df", rfm)
        out = con.execute(score_sql("rfm_df", n, by) + " ORDER BY " +
                          ", ".join(["customer_id", *by])).df()
    finally:
        con.close()
    out = out[list(rfm.columns) + ["r_score", "f_score", "m_score"]]
    out = _restore_dtypes(out, rfm)
    for c in ("r_score", "f_score", "m_score"):
        out[c] = out[c].astype("int64")
    out["rfm_cell"] = (out["r_score"].astype(str) + out["f_score"].astype(str)
                       + out["m_score"].astype(str)).astype("string")
    out["rfm_score"] = out["r_score"] + out["f_score"] + out["m_score"]
    return out.reset_index(drop=True)


def _restore_dtypes(out: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    for c in like.columns:
        try:
            out[c] = out[c].astype(like[c].dtype)
        except (TypeError, ValueError):
            pass
    return out
