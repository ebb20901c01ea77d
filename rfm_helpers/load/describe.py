"""Numbers about the clean transactions for the load report (aggregates only)."""
from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["describe_clean", "monthly_activity"]


def describe_clean(clean: pd.DataFrame) -> dict[str, Any]:
    """Headline facts of the clean transactions: first/last date, customers, rows, revenue."""
    if clean.empty:
        return {"first_date": None, "last_date": None, "customers": 0, "rows": 0, "revenue": 0.0}
    return {
        "first_date": clean["order_date"].min().date(),
        "last_date": clean["order_date"].max().date(),
        "customers": int(clean["customer_id"].nunique()),
        "rows": int(len(clean)),
        "revenue": float(clean["amount"].sum()),
    }


def monthly_activity(clean: pd.DataFrame) -> pd.DataFrame:
    """Orders (rows), active customers and revenue per calendar month (months without
    orders included with zeros): the data of the monthly-activity chart."""
    if clean.empty:
        return pd.DataFrame(columns=["month", "orders", "customers", "revenue"])
    month = clean["order_date"].dt.to_period("M")
    g = clean.groupby(month).agg(orders=("amount", "size"), customers=("customer_id", "nunique"),
                                 revenue=("amount", "sum"))
    full = pd.period_range(g.index.min(), g.index.max(), freq="M")
    g = g.reindex(full, fill_value=0)
    g.index.name = "month"
    return g.reset_index()
