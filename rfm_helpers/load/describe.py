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


#: aggregates already computed, per file (path, size, modification time): the load page asks for
#: the same facts twice (coverage sentences and the facts table); each is a full pass with a
#: distinct count of customers (at 1e8 rows, 48M customers: tens of seconds)
_DONE: dict[tuple, pd.DataFrame] = {}


def _aggregate(path: str, sql: str, label: str) -> pd.DataFrame:
    """One aggregate query over the Parquet file ``path`` (as table ``clean``), within the
    notebook engine's memory limit (``RFM_DUCKDB_MEMORY``) and spilling to a private temporary
    folder; the answer is kept for the same file and query."""
    import shutil
    import tempfile

    from ..engine import DuckDBEngine

    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, sql)
    if key in _DONE:
        return _DONE[key].copy()
    spill = tempfile.mkdtemp(prefix="rfm-describe-")
    try:
        with DuckDBEngine(memory_limit=os.environ.get("RFM_DUCKDB_MEMORY", "3GB")) as eng:
            eng.con.execute("SET temp_directory = '" + spill.replace("'", "''") + "'")
            eng.con.execute("CREATE VIEW clean AS SELECT * FROM read_parquet('" + path.replace("'", "''") + "')")
            out = eng.fetch(sql, label=label, kind="aggregate")
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    if len(_DONE) > 16:
        _DONE.clear()
    _DONE[key] = out
    return out.copy()


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
        # date_trunc, not strftime: the same months, without formatting a text per row (2-3x faster)
        g = _aggregate(source, "SELECT CAST(date_trunc('month', order_date) AS DATE) AS month, count(*) AS orders, "
                               "count(DISTINCT customer_id) AS customers, kahan_sum(amount) AS revenue "
                               "FROM clean GROUP BY 1 ORDER BY 1", "monthly activity")
        if g.empty:
            return pd.DataFrame(columns=["month", "orders", "customers", "revenue"])
        g.index = pd.PeriodIndex(pd.to_datetime(g.pop("month")), freq="M")
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
