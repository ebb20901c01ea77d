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

__all__ = ["SUMMARY_SQL", "HOLDOUT_SQL", "BASE_SQL", "SAMPLE_SQL", "SAMPLE_KEY_SQL", "summary_sql", "holdout_sql",
           "base_sql", "sample_sql", "sample_key_sql", "sample_summary", "stratified_counts", "compute_value_summary", "compute_holdout",
           "SUMMARY_COLUMNS"]

#: Columns of :func:`compute_value_summary`, in order.
SUMMARY_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase",
                   "last_purchase", "purchase_days", "nonpositive_days"]


def _days_cte(period: str) -> str:
    """The purchase-day rule every query here shares: one row per customer and calendar day
    of ``period`` (a condition on ``order_date``), with the day's summed spend in millionths
    (``spend``; divide by :data:`SPEND_SCALE` for money).

    **Exact sums.** Every amount is rounded to a millionth and counted as a whole number of
    millionths in a double: sums of whole numbers are exact (below 2**53 millionths, about nine
    billion per customer), so they do not depend on the order in which the engine's threads add
    the rows. Plain double sums did: the same data gave figures that differed between runs in
    their last bits, which after rounding moved a few export cents and the order of tied rows."""
    return ("WITH days AS (\n"
            "    SELECT CAST(customer_id AS VARCHAR) AS customer_id,\n"
            "           CAST(order_date AS DATE) AS day,\n"
            f"           SUM(round(CAST(amount AS DOUBLE) * {SPEND_SCALE})) AS spend\n"
            "    FROM {source}\n"
            f"    WHERE {period} AND customer_id IS NOT NULL\n"
            "    GROUP BY 1, 2\n"
            ")")


#: ``spend`` of the purchase-day rule is in units of ``1 / SPEND_SCALE`` (see :func:`_days_cte`).
SPEND_SCALE = 1_000_000

_UP_TO_AS_OF = "CAST(order_date AS DATE) <= DATE '{as_of}'"


#: ``{source}`` a table expression with ``customer_id``, ``order_date``, ``amount``;
#: ``{as_of}`` the analysis date (inclusive); ``{start}`` an optional lower bound clause.
SUMMARY_SQL = _days_cte(_UP_TO_AS_OF) + """,
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
       CASE WHEN purchase_days > 1 THEN (total_spend - first_spend) / {scale} / (purchase_days - 1)
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
HOLDOUT_SQL = _days_cte("CAST(order_date AS DATE) > DATE '{start}' AND CAST(order_date AS DATE) <= DATE '{end}'") + """
SELECT customer_id,
       CAST(COUNT(*) FILTER (WHERE spend > 0) AS INTEGER) AS purchases,
       CAST(COALESCE(SUM(spend) FILTER (WHERE spend > 0), 0) AS DOUBLE) / {scale} AS spend
FROM days
GROUP BY customer_id
ORDER BY customer_id
"""


#: The whole value stage's per-customer input in one pass over the transactions: the summary
#: as of ``{as_of}`` (columns as in :data:`SUMMARY_SQL`), the same as of the end of last month
#: (``last_*``, NULL for customers whose first purchase came later) and as of the backtest's
#: cut-off (``cal_*``), purchase days and spend after the cut-off (``holdout_*``) and in the
#: same number of days before it (``baseline_*``), and the customer's place in the seeded random
#: order of the fit samples (``sample_key``, :data:`SAMPLE_KEY_SQL`). Customers with days up to
#: ``{as_of}`` but no purchase day are kept with ``has_purchase = false`` (counted, never modelled).
BASE_SQL = _days_cte(_UP_TO_AS_OF) + """,
per_customer AS (
    SELECT customer_id,
           COUNT(*) AS all_days,
           MIN(day) FILTER (WHERE spend > 0) AS first_day,
           MAX(day) FILTER (WHERE spend > 0) AS last_now,
           ARG_MIN(spend, day) FILTER (WHERE spend > 0) AS first_spend,
           COUNT(*) FILTER (WHERE spend > 0 AND day <= DATE '{last_end}') AS n_last,
           MAX(day) FILTER (WHERE spend > 0 AND day <= DATE '{last_end}') AS last_last,
           COUNT(*) FILTER (WHERE spend > 0 AND day <= DATE '{cutoff}') AS n_cal,
           MAX(day) FILTER (WHERE spend > 0 AND day <= DATE '{cutoff}') AS last_cal,
           SUM(spend) FILTER (WHERE spend > 0 AND day <= DATE '{cutoff}') AS total_cal,
           COUNT(*) FILTER (WHERE spend > 0 AND day > DATE '{cutoff}') AS holdout_purchases,
           SUM(spend) FILTER (WHERE spend > 0 AND day > DATE '{cutoff}') AS holdout_spend,
           COUNT(*) FILTER (WHERE spend > 0 AND day > DATE '{baseline_start}'
                            AND day <= DATE '{cutoff}') AS baseline_purchases,
           SUM(spend) FILTER (WHERE spend > 0 AND day > DATE '{baseline_start}'
                              AND day <= DATE '{cutoff}') AS baseline_spend
    FROM days
    GROUP BY customer_id
), c AS (
    -- every day up to the analysis date is on or before the cut-off or after it: the purchase days
    -- and their spend up to the analysis date are the two parts' sums (whole millionths: exact)
    SELECT *, n_cal + holdout_purchases AS n_now, all_days - (n_cal + holdout_purchases) AS nonpositive_days,
           COALESCE(total_cal, 0) + COALESCE(holdout_spend, 0) AS total_now
    FROM per_customer
)
SELECT customer_id,
       n_now > 0 AS has_purchase,
       CASE WHEN n_now > 0 THEN CAST(n_now - 1 AS INTEGER) END AS frequency,
       CAST(DATE_DIFF('day', first_day, last_now) AS DOUBLE) AS recency,
       CAST(DATE_DIFF('day', first_day, DATE '{as_of}') AS DOUBLE) AS T,
       CASE WHEN n_now > 1 THEN (total_now - first_spend) / {scale} / (n_now - 1)
            WHEN n_now = 1 THEN 0.0 END AS monetary_value,
       first_day AS first_purchase,
       last_now AS last_purchase,
       CAST(nonpositive_days AS INTEGER) AS nonpositive_days,
       CASE WHEN n_last > 0 THEN CAST(n_last - 1 AS DOUBLE) END AS last_frequency,
       CASE WHEN n_last > 0 THEN CAST(DATE_DIFF('day', first_day, last_last) AS DOUBLE) END AS last_recency,
       CASE WHEN n_last > 0 THEN CAST(DATE_DIFF('day', first_day, DATE '{last_end}') AS DOUBLE) END AS last_T,
       CASE WHEN n_cal > 0 THEN CAST(n_cal - 1 AS INTEGER) END AS cal_frequency,
       CASE WHEN n_cal > 0 THEN CAST(DATE_DIFF('day', first_day, last_cal) AS DOUBLE) END AS cal_recency,
       CASE WHEN n_cal > 0 THEN CAST(DATE_DIFF('day', first_day, DATE '{cutoff}') AS DOUBLE) END AS cal_T,
       CASE WHEN n_cal > 1 THEN (total_cal - first_spend) / {scale} / (n_cal - 1)
            WHEN n_cal = 1 THEN 0.0 END AS cal_monetary_value,
       CAST(holdout_purchases AS INTEGER) AS holdout_purchases,
       COALESCE(holdout_spend / {scale}, 0.0) AS holdout_spend,
       CAST(baseline_purchases AS INTEGER) AS baseline_purchases,
       COALESCE(baseline_spend / {scale}, 0.0) AS baseline_spend,
       {sample_key} AS sample_key
FROM c
"""

#: A customer's place in the seeded random order: the first 64 bits of
#: ``md5('{seed}:' || customer_id)`` as an unsigned integer. It depends only on the seed and the
#: id -- not on row order, threads or the DuckDB version (md5 is a standard) -- so the same
#: customers stay in the sample from month to month.
SAMPLE_KEY_SQL = "CAST('0x' || substr(md5('{seed}:' || CAST(customer_id AS VARCHAR)), 1, 16) AS UBIGINT)"

#: ``{k}`` rows of ``{source}`` among rows with ``{where}``: those first in the seeded order
#: ``{key}`` (:data:`SAMPLE_KEY_SQL`, or a column holding it), ties by customer id.
SAMPLE_SQL = """
SELECT * FROM {source} WHERE {where}
ORDER BY {key}, customer_id LIMIT {k}
"""


def base_sql(source: str, as_of: Any, last_end: Any, cutoff: Any, baseline_start: Any, seed: int = 0) -> str:
    """:data:`BASE_SQL` for a table expression ``source`` (``seed``: of the sample order)."""
    dates = [parse_as_of(d) for d in (as_of, last_end, cutoff, baseline_start)]
    if not dates[3] < dates[2] < dates[0] or dates[1] > dates[0]:
        raise ValueError(f"expected baseline start < cut-off < analysis date and last month's end <= analysis "
                         f"date, got {[d.isoformat() for d in dates]}")
    return BASE_SQL.format(source=source, scale=SPEND_SCALE, as_of=dates[0].isoformat(), last_end=dates[1].isoformat(),
                           cutoff=dates[2].isoformat(), baseline_start=dates[3].isoformat(),
                           sample_key=sample_key_sql(seed))


def stratified_counts(k: int, repeat: int, one_time: int) -> tuple[int, int]:
    """How many repeat and one-time customers a stratified sample of ``k`` takes: each group in
    proportion to its size (rounded), never more than the group holds."""
    n = repeat + one_time
    if k >= n:
        return repeat, one_time
    k_repeat = min(repeat, int(round(k * repeat / n)))
    return k_repeat, min(one_time, k - k_repeat)


def sample_key_sql(seed: int) -> str:
    """:data:`SAMPLE_KEY_SQL` for ``seed``."""
    return SAMPLE_KEY_SQL.format(seed=int(seed))


def sample_sql(source: str, k: int, seed: int, repeat: int, one_time: int, *, frequency: str = "frequency",
               where: str = "TRUE", key: str | None = None, ordered: bool = True) -> str:
    """A stratified seeded sample of ``k`` customers of ``source`` (SQL): repeat buyers
    (``frequency > 0``) and one-time buyers each in proportion to their counts ``repeat`` and
    ``one_time``, the first of each in the order :data:`SAMPLE_KEY_SQL` (``key``: a column that
    already holds it for ``seed``); ordered by customer id (``ordered=False``: in no order, for a
    table whose readers order what they take)."""
    k_repeat, k_once = stratified_counts(int(k), int(repeat), int(one_time))
    order = key or sample_key_sql(seed)
    parts = [SAMPLE_SQL.format(source=source, where=f"({where}) AND {frequency} {cond}", key=order, k=kk)
             for cond, kk in (("> 0", k_repeat), ("= 0", k_once))]
    return f"SELECT * FROM (({parts[0]}) UNION ALL ({parts[1]}))" + (" ORDER BY customer_id" if ordered else "")


def sample_summary(summary: pd.DataFrame, k: int, seed: int = 0) -> pd.DataFrame:
    """:func:`sample_sql` applied to a summary frame (same customers as the SQL path would take)."""
    if len(summary) <= k:
        return summary
    repeat = int((summary["frequency"] > 0).sum())
    con = duckdb.connect()
    try:
        frame = summary.assign(customer_id=summary["customer_id"].astype(str))
        con.register("value_summary", frame)
        out = con.sql(sample_sql("value_summary", k, seed, repeat, len(summary) - repeat)).df()
    finally:
        con.close()
    for c in summary.columns:
        if c in out.columns and c != "customer_id":
            out[c] = out[c].astype(summary[c].dtype)
    out["customer_id"] = out["customer_id"].astype(summary["customer_id"].dtype)
    return out.reset_index(drop=True)


def summary_sql(source: str, as_of: Any) -> str:
    """:data:`SUMMARY_SQL` for a table expression ``source`` (DuckDB dialect)."""
    return SUMMARY_SQL.format(source=source, scale=SPEND_SCALE, as_of=parse_as_of(as_of).isoformat())


def holdout_sql(source: str, start: Any, end: Any) -> str:
    """:data:`HOLDOUT_SQL` for the period ``(start, end]``."""
    s, e = parse_as_of(start), parse_as_of(end)
    if e <= s:
        raise ValueError(f"holdout period end {e} must be after its start {s}")
    return HOLDOUT_SQL.format(source=source, scale=SPEND_SCALE, start=s.isoformat(), end=e.isoformat())


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
        ).fetchall()[0][0])
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
