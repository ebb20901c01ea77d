"""Numbers about the clean transactions for the load report (aggregates only).

Both functions take the kept rows as a pandas frame, as a Parquet file of them, or as a
:class:`~rfm_helpers.load.LoadResult`: when a result's rows are in a file (a run's load cache,
:attr:`~rfm_helpers.load.LoadResult.clean_file`) and not already in pandas, DuckDB computes the
aggregates over the file, so the transactions never have to be read into pandas.
"""
from __future__ import annotations

import os
from typing import Any

import pandas as pd

__all__ = ["describe_clean", "monthly_activity"]


def _file_or_frame(clean: Any) -> Any:
    """A Parquet path (str) or the frame to aggregate."""
    from .result import LoadResult

    if isinstance(clean, LoadResult):
        if clean.clean_file and clean.__dict__.get("_clean") is None:
            return str(clean.clean_file)
        return clean.clean
    if isinstance(clean, (str, os.PathLike)):
        return str(clean)
    return clean


def _aggregate(path: str, sql: str, label: str) -> pd.DataFrame:
    """One aggregate query over the Parquet file ``path`` (as table ``clean``)."""
    from ..engine import DuckDBEngine

    with DuckDBEngine() as eng:
        eng.con.execute("CREATE VIEW clean AS SELECT * FROM read_parquet('" + path.replace("'", "''") + "')")
        return eng.fetch(sql, label=label, kind="aggregate")


def describe_clean(clean: Any) -> dict[str, Any]:
    """Headline facts of the clean transactions: first/last date, customers, rows, revenue."""
    source = _file_or_frame(clean)
    if isinstance(source, str):
        row = _aggregate(source, "SELECT min(order_date) AS first, max(order_date) AS last, "
                                 "count(DISTINCT customer_id) AS customers, count(*) AS n, "
                                 "kahan_sum(amount) AS revenue FROM clean", "load facts").iloc[0]
        if not row["n"]:
            return {"first_date": None, "last_date": None, "customers": 0, "rows": 0, "revenue": 0.0}
        return {"first_date": pd.Timestamp(row["first"]).date(), "last_date": pd.Timestamp(row["last"]).date(),
                "customers": int(row["customers"]), "rows": int(row["n"]), "revenue": float(row["revenue"])}
    if source.empty:
        return {"first_date": None, "last_date": None, "customers": 0, "rows": 0, "revenue": 0.0}
    return {
        "first_date": source["order_date"].min().date(),
        "last_date": source["order_date"].max().date(),
        "customers": int(source["customer_id"].nunique()),
        "rows": int(len(source)),
        "revenue": float(source["amount"].sum()),
    }


def monthly_activity(clean: Any) -> pd.DataFrame:
    """Orders (rows), active customers and revenue per calendar month (months without
    orders included with zeros): the data of the monthly-activity chart."""
    source = _file_or_frame(clean)
    if isinstance(source, str):
        g = _aggregate(source, "SELECT strftime(order_date, '%Y-%m') AS month, count(*) AS orders, "
                               "count(DISTINCT customer_id) AS customers, kahan_sum(amount) AS revenue "
                               "FROM clean GROUP BY 1 ORDER BY 1", "monthly activity")
        if g.empty:
            return pd.DataFrame(columns=["month", "orders", "customers", "revenue"])
        g.index = pd.PeriodIndex(g.pop("month"), freq="M")
        g = g.astype({"orders": "int64", "customers": "int64", "revenue": "float64"})
    else:
        if source.empty:
            return pd.DataFrame(columns=["month", "orders", "customers", "revenue"])
        month = source["order_date"].dt.to_period("M")
        g = source.groupby(month).agg(orders=("amount", "size"), customers=("customer_id", "nunique"),
                                      revenue=("amount", "sum"))
    full = pd.period_range(g.index.min(), g.index.max(), freq="M")
    g = g.reindex(full, fill_value=0)
    g.index.name = "month"
    return g.reset_index()
