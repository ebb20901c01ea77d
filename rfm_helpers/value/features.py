"""The per-customer summary that buy-till-you-die models need, computed in SQL (DuckDB).

One row per customer, from the clean transactions up to the analysis date ``as_of``
(inclusive), time in **calendar days**. The definitions are those of lifetimes'
``summary_data_from_transaction_data(..., freq="D")`` and PyMC-Marketing's
``clv.utils.rfm_summary(..., time_unit="D")`` (both tested against this SQL):

``purchase day``
    A calendar day on which the customer's amounts add up to more than zero. Several
    orders on one day are one purchase occasion (the models count occasions, and the
    reference implementations aggregate by day the same way). A day whose amounts add up
    to zero or less (a return or a free replacement, when the loader was told to keep such
    rows) is **not** a purchase day; it is counted in ``nonpositive_days`` so the report can
    say how many there were.
``frequency``
    Number of **repeat** purchase days: purchase days minus one (0 for a one-time buyer).
``recency``
    Days from the first to the last purchase day (0 for a one-time buyer). Note this is
    *not* the RFM ``recency_days`` (days since the last purchase): ``T - recency`` is.
``T``
    Days from the first purchase day to ``as_of`` (the customer's age).
``monetary_value``
    Mean spend per **repeat** purchase day: total spend on purchase days after the first one,
    divided by ``frequency``; 0 for one-time buyers (as in lifetimes and PyMC-Marketing: the
    first purchase is left out because it is often unlike later ones).
``first_purchase`` / ``last_purchase``
    First and last purchase days (dates).

Customers with no purchase day at all (only non-positive days) are left out; the count is
returned by :func:`compute_value_summary` via ``attrs["customers_without_purchase_day"]``.

:func:`holdout_sql` counts, with the same day rule, what customers did in a later period
(the backtest's "actual").
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from ..rfm import parse_as_of

__all__ = ["SUMMARY_SQL", "HOLDOUT_SQL", "summary_sql", "holdout_sql", "compute_value_summary",
           "compute_holdout", "SUMMARY_COLUMNS"]

#: Columns of :func:`compute_value_summary`, in order.
SUMMARY_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase",
                   "last_purchase", "purchase_days", "nonpositive_days"]

#: ``{source}`` a table expression with ``customer_id``, ``order_date``, ``amount``;
#: ``{as_of}`` the analysis date (inclusive); ``{start}`` an optional lower bound clause.
SUMMARY_SQL = """
WITH days AS (
    SELECT CAST(customer_id AS VARCHAR) AS customer_id,
           CAST(order_date AS DATE) AS day,
           SUM(CAST(amount AS DOUBLE)) AS spend
    FROM {source}
    WHERE CAST(order_date AS DATE) <= DATE '{as_of}' AND customer_id IS NOT NULL
    GROUP BY 1, 2
),
per_customer AS (
    SELECT customer_id,
           COUNT(*) FILTER (WHERE spend > 0) AS purchase_days,
           COUNT(*) FILTER (WHERE spend <= 0 OR spend IS NULL) AS nonpositive_days,
           MIN(day) FILTER (WHERE spend > 0) AS first_purchase,
           MAX(day) FILTER (WHERE spend > 0) AS last_purchase,
           SUM(spend) FILTER (WHERE spend > 0) AS total_spend,
           ARG_MIN(spend, day) FILTER (WHERE spend > 0) AS first_spend
    FROM days
    GROUP BY customer_id
)
SELECT customer_id,
       CAST(purchase_days - 1 AS INTEGER) AS frequency,
       CAST(DATE_DIFF('day', first_purchase, last_purchase) AS DOUBLE) AS recency,
       CAST(DATE_DIFF('day', first_purchase, DATE '{as_of}') AS DOUBLE) AS T,
       CASE WHEN purchase_days > 1 THEN (total_spend - first_spend) / (purchase_days - 1)
            ELSE 0.0 END AS monetary_value,
       first_purchase,
       last_purchase,
       CAST(purchase_days AS INTEGER) AS purchase_days,
       CAST(nonpositive_days AS INTEGER) AS nonpositive_days
FROM per_customer
WHERE purchase_days > 0
ORDER BY customer_id
"""

#: Purchase days and spend per customer in ``(start, end]`` (same day rule as the summary).
HOLDOUT_SQL = """
WITH days AS (
    SELECT CAST(customer_id AS VARCHAR) AS customer_id,
           CAST(order_date AS DATE) AS day,
           SUM(CAST(amount AS DOUBLE)) AS spend
    FROM {source}
    WHERE CAST(order_date AS DATE) > DATE '{start}' AND CAST(order_date AS DATE) <= DATE '{end}'
          AND customer_id IS NOT NULL
    GROUP BY 1, 2
)
SELECT customer_id,
       CAST(COUNT(*) FILTER (WHERE spend > 0) AS INTEGER) AS purchases,
       CAST(COALESCE(SUM(spend) FILTER (WHERE spend > 0), 0) AS DOUBLE) AS spend
FROM days
GROUP BY customer_id
ORDER BY customer_id
"""


def summary_sql(source: str, as_of: Any) -> str:
    """:data:`SUMMARY_SQL` for a table expression ``source`` (DuckDB dialect)."""
    return SUMMARY_SQL.format(source=source, as_of=parse_as_of(as_of).isoformat())


def holdout_sql(source: str, start: Any, end: Any) -> str:
    """:data:`HOLDOUT_SQL` for the period ``(start, end]``."""
    s, e = parse_as_of(start), parse_as_of(end)
    if e <= s:
        raise ValueError(f"holdout period end {e} must be after its start {s}")
    return HOLDOUT_SQL.format(source=source, start=s.isoformat(), end=e.isoformat())


def _run(transactions: Any, sql_of_source) -> pd.DataFrame:
    if not isinstance(transactions, pd.DataFrame):
        raise TypeError(f"transactions must be a pandas DataFrame, not {type(transactions).__name__}")
    missing = [c for c in ("customer_id", "order_date", "amount") if c not in transactions.columns]
    if missing:
        raise KeyError(f"transactions lack column(s) {missing}; found {sorted(transactions.columns)}")
    con = duckdb.connect()
    try:
        con.register("value_tx", transactions[["customer_id", "order_date", "amount"]])
        table = con.sql(sql_of_source("value_tx")).to_arrow_table()
    finally:
        con.close()
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype(),
                                         pa.large_string(): pd.StringDtype()}.get)


def compute_value_summary(transactions: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T``, ``monetary_value`` (see the module
    docstring) as of ``as_of``, plus ``first_purchase``, ``last_purchase``, ``purchase_days``
    and ``nonpositive_days``. Sorted by ``customer_id``.

    ``attrs``: ``as_of`` (date), ``customers_without_purchase_day`` (customers whose every
    day added up to zero or less: not modelled), ``nonpositive_days`` (total such days).
    """
    as_of_d = parse_as_of(as_of)
    out = _run(transactions, lambda src: summary_sql(src, as_of_d))
    for c in ("first_purchase", "last_purchase"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[us]")
    for c in ("frequency", "purchase_days", "nonpositive_days"):
        out[c] = out[c].astype("int64")
    for c in ("recency", "T", "monetary_value"):
        out[c] = out[c].astype("float64")
    out["customer_id"] = out["customer_id"].astype("string")
    seen = _customers_up_to(transactions, as_of_d)
    out.attrs["as_of"] = as_of_d
    out.attrs["customers_without_purchase_day"] = int(seen - len(out))
    out.attrs["nonpositive_days"] = int(out["nonpositive_days"].sum())
    return out.reset_index(drop=True)


def _customers_up_to(transactions: pd.DataFrame, as_of: dt.date) -> int:
    con = duckdb.connect()
    try:
        con.register("value_tx", transactions[["customer_id", "order_date"]])
        return int(con.execute(
            "SELECT COUNT(DISTINCT CAST(customer_id AS VARCHAR)) FROM value_tx "
            f"WHERE CAST(order_date AS DATE) <= DATE '{as_of.isoformat()}' AND customer_id IS NOT NULL"
        ).fetchone()[0])
    finally:
        con.close()


def compute_holdout(transactions: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    """Purchase days (``purchases``) and their spend (``spend``) per customer in ``(start, end]``
    (customers with no day in the period are absent: treat them as 0)."""
    out = _run(transactions, lambda src: holdout_sql(src, start, end))
    out["customer_id"] = out["customer_id"].astype("string")
    out["purchases"] = out["purchases"].astype("int64")
    out["spend"] = out["spend"].astype("float64")
    return out.reset_index(drop=True)
