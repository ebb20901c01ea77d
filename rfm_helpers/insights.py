"""Headline figures of an RFM table (notebook 02): numbers and tables, no words.

The sentences, captions and headers of the RFM page are made from these numbers in
:mod:`rfm_helpers.report.texts.rfm`, the charts in :mod:`rfm_helpers.report.charts.rfm`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RfmHeadline:
    """A handful of figures that describe the customer base as of the analysis date."""

    customers: int
    revenue: float
    orders: int
    median_recency_days: float
    one_order_share: float
    active_90d_share: float
    top20_revenue_share: float

    def as_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (np.floating, float)) else int(v))
                for k, v in self.__dict__.items()}


def headline(rfm: pd.DataFrame) -> RfmHeadline:
    """Compute :class:`RfmHeadline` from an RFM table (one row per customer)."""
    n = len(rfm)
    if n == 0:
        return RfmHeadline(0, 0.0, 0, float("nan"), float("nan"), float("nan"), float("nan"))
    revenue = float(rfm["monetary"].sum())
    top = rfm["monetary"].sort_values(ascending=False)
    k = max(1, int(np.ceil(0.2 * n)))
    top20 = float(top.iloc[:k].sum() / revenue) if revenue > 0 else float("nan")
    return RfmHeadline(
        customers=n,
        revenue=revenue,
        orders=int(rfm["frequency"].sum()),
        median_recency_days=float(rfm["recency_days"].median()),
        one_order_share=float((rfm["frequency"] <= 1).mean()),
        active_90d_share=float((rfm["recency_days"] <= 90).mean()),
        top20_revenue_share=top20,
    )


def unused_scores(scored: pd.DataFrame, column: str = "f_score", n: int = 5) -> list[int]:
    """Scores 1..``n`` of ``column`` that no customer has (ties leave bands empty: with many
    one-order customers, frequency scores 2 to 4 are often unused)."""
    if column not in scored.columns:
        return []
    used = set(pd.unique(scored[column]).tolist())
    return [k for k in range(1, n + 1) if k not in used]


def channel_table(rfm_by_channel: pd.DataFrame) -> pd.DataFrame:
    """Customers, orders, revenue and median recency per sales channel (aggregate only)."""
    g = rfm_by_channel.groupby("channel", dropna=False).agg(
        customers=("customer_id", "nunique"), orders=("frequency", "sum"),
        revenue=("monetary", "sum"), median_recency_days=("recency_days", "median"))
    g["revenue_share"] = g["revenue"] / g["revenue"].sum()
    return g.sort_values("revenue", ascending=False).reset_index()


def score_table(scored: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Per score: customers and the value range it covers, for R, F and M (aggregate only).

    Columns ``dimension`` (``R``/``F``/``M``), ``score``, ``customers``, ``from``, ``to``
    (NaN for an empty score)."""
    rows = []
    for dim, col, val in [("R", "r_score", "recency_days"), ("F", "f_score", "frequency"),
                          ("M", "m_score", "monetary")]:
        g = scored.groupby(col)[val].agg(["count", "min", "max"])
        for s in range(1, n + 1):
            if s in g.index:
                rows.append({"dimension": dim, "score": s, "customers": int(g.loc[s, "count"]),
                             "from": g.loc[s, "min"], "to": g.loc[s, "max"]})
            else:
                rows.append({"dimension": dim, "score": s, "customers": 0, "from": np.nan, "to": np.nan})
    return pd.DataFrame(rows)


#: Report helpers that used to live here and moved to :mod:`rfm_helpers.report.legacy`; the
#: names still resolve (lazily) for the notebook cells that have not moved yet (notebooks 01
#: and 04, the campaign-file cells of 02, 03 and 05, notebook 06's parameters table).
_MOVED = ("report_text", "localize", "int_text", "share_text", "parameters_view")


def __getattr__(name: str):
    if name in _MOVED:
        from .report import legacy

        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
