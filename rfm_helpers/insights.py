"""Headline figures of an RFM table (notebook 02): numbers and tables, no words.

The sentences, captions and headers of the RFM page are made from these numbers in
:mod:`rfm_helpers.report.texts.rfm`, the charts in :mod:`rfm_helpers.report.charts.rfm`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


# ----------------------------------------------------------------------------------------
# The same figures from the scored RFM table kept in the engine (notebook 02 at scale):
# pandas receives aggregates only (one row per score, cell, channel, histogram bin...).
# ----------------------------------------------------------------------------------------

def headline_sql(engine: Any, table: str) -> RfmHeadline:
    """:func:`headline` of the per-customer table ``table`` in ``engine``, in one aggregate
    query. Counts, the median and the shares of customers are exactly pandas'; sums of money
    may differ in the last bits of the double (the engine adds in another order).

    The top-20% revenue is the sum of the ``k = ceil(0.2 n)`` largest spends, found from the
    distinct spends and their counts (few: cents up to some thousands) with a running count
    from the largest down: whole groups above the k-th spend, and as many customers of the
    k-th spend's group as complete k (equal spends are equal, so which of them is immaterial).
    A window over every customer sorted by spend did the same with a sort of all customers
    (48M at 1e8 transactions)."""
    row = engine.fetch(f"""
        WITH r AS (SELECT recency_days, frequency, CAST(monetary AS DOUBLE) AS monetary FROM {table}),
        n AS (SELECT GREATEST(1, CAST(CEIL(0.2 * count(*)) AS BIGINT)) AS k FROM r),
        d AS (SELECT monetary AS v, count(*) AS c FROM r GROUP BY monetary),
        s AS (SELECT v, c, sum(c) OVER (ORDER BY v DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
              FROM d),
        top AS (SELECT kahan_sum(v * (LEAST(cum, (SELECT k FROM n)) - (cum - c))) AS top FROM s
                WHERE cum - c < (SELECT k FROM n))
        SELECT count(*) AS customers, sum(monetary) AS revenue, sum(frequency) AS orders,
               median(recency_days) AS median_recency_days,
               count(*) FILTER (WHERE frequency <= 1) AS one_order, count(*) FILTER (WHERE recency_days <= 90) AS active,
               (SELECT top FROM top) AS top
        FROM r""", label="RFM headline", kind="aggregate").iloc[0]
    n = int(row["customers"])
    if n == 0:
        return RfmHeadline(0, 0.0, 0, float("nan"), float("nan"), float("nan"), float("nan"))
    revenue = float(row["revenue"])
    return RfmHeadline(customers=n, revenue=revenue, orders=int(row["orders"]),
                       median_recency_days=float(row["median_recency_days"]),
                       one_order_share=float(int(row["one_order"]) / n), active_90d_share=float(int(row["active"]) / n),
                       top20_revenue_share=float(row["top"]) / revenue if revenue > 0 else float("nan"))


def score_table_sql(engine: Any, table: str, n: int = 5) -> pd.DataFrame:
    """:func:`score_table` of the scored table ``table`` in ``engine`` (one GROUP BY)."""
    parts = [f"SELECT '{dim}' AS dimension, {col} AS score, count(*) AS customers, CAST(min({val}) AS DOUBLE) AS lo, "
             f"CAST(max({val}) AS DOUBLE) AS hi FROM {table} GROUP BY {col}"
             for dim, col, val in _SCORE_DIMS]
    got = engine.fetch(" UNION ALL ".join(parts), label="customers per score", kind="aggregate")
    rows = []
    for dim, col, val in _SCORE_DIMS:
        g = got[got["dimension"] == dim].set_index("score")
        for sc in range(1, n + 1):
            if sc in g.index:
                lo, hi = g.loc[sc, "lo"], g.loc[sc, "hi"]
                if val != "monetary":  # integer columns, as pandas' min/max give them
                    lo, hi = int(lo), int(hi)
                rows.append({"dimension": dim, "score": sc, "customers": int(g.loc[sc, "customers"]), "from": lo, "to": hi})
            else:
                rows.append({"dimension": dim, "score": sc, "customers": 0, "from": np.nan, "to": np.nan})
    return pd.DataFrame(rows)


_SCORE_DIMS = (("R", "r_score", "recency_days"), ("F", "f_score", "frequency"), ("M", "m_score", "monetary"))


def unused_from_score_table(scores: pd.DataFrame, dimension: str = "F") -> list[int]:
    """:func:`unused_scores` read from a :func:`score_table` (scores of ``dimension`` with no customer)."""
    rows = scores[scores["dimension"] == dimension]
    return [int(s) for s, c in zip(rows["score"], rows["customers"]) if int(c) == 0]


def score_cells_sql(engine: Any, table: str) -> pd.DataFrame:
    """Customers and their average spend per (``r_score``, ``f_score``) cell: the R x F map of
    notebook 02 as an aggregate (columns ``r_score``, ``f_score``, ``customers``, ``mean_monetary``)."""
    return engine.fetch(f"""SELECT r_score, f_score, count(*) AS customers, avg(CAST(monetary AS DOUBLE)) AS mean_monetary
                            FROM {table} GROUP BY r_score, f_score ORDER BY r_score, f_score""",
                        label="customers per R x F cell", kind="aggregate")


#: Bins of the spend histogram (log scale), as in :func:`rfm_helpers.report.charts.rfm.plot_distributions`.
SPEND_BINS = 40


def distributions_sql(engine: Any, table: str, bins: int = SPEND_BINS) -> dict[str, pd.DataFrame]:
    """What the distribution charts of notebook 02 draw, as aggregates of ``table``:

    ``recency``   customers per distinct ``recency_days`` (``value``, ``customers``);
    ``frequency`` customers per distinct ``frequency``;
    ``spend``     customers per bin of ``log10(monetary)`` over the positive spends: ``bins``
                  equal bins from the smallest to the largest (numpy's histogram rule, the last
                  bin closed), columns ``lo``/``hi`` (log10 edges) and ``customers``.

    Recency and frequency counts are exact (one row per distinct value: days and order counts
    are few); the spend bins are counted in the engine."""
    rec = engine.fetch(f"SELECT recency_days AS value, count(*) AS customers FROM {table} GROUP BY 1 ORDER BY 1",
                       label="customers per recency", kind="aggregate")
    freq = engine.fetch(f"SELECT frequency AS value, count(*) AS customers FROM {table} GROUP BY 1 ORDER BY 1",
                        label="customers per frequency", kind="aggregate")
    lo_hi = engine.scalar_rows(f"SELECT min(monetary), max(monetary), count(*) FROM {table} WHERE monetary > 0",
                               label="spend range")[0]
    if not lo_hi[2]:
        spend = pd.DataFrame({"lo": [], "hi": [], "customers": []})
    else:
        edges = np.histogram_bin_edges(np.log10([float(lo_hi[0]), float(lo_hi[1])]), bins=bins)
        inner = " ".join(f"WHEN lx < CAST('{float(e)!r}' AS DOUBLE) THEN {i}" for i, e in enumerate(edges[1:-1]))
        got = engine.fetch(f"""SELECT CASE {inner} ELSE {bins - 1} END AS bin, count(*) AS customers
                               FROM (SELECT log10(CAST(monetary AS DOUBLE)) AS lx FROM {table} WHERE monetary > 0) AS m
                               GROUP BY 1 ORDER BY 1""", label="customers per spend bin", kind="aggregate")
        counts = np.zeros(bins, dtype=np.int64)
        counts[got["bin"].astype(int).to_numpy()] = got["customers"].astype(np.int64).to_numpy()
        spend = pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "customers": counts})
    return {"recency": rec, "frequency": freq, "spend": spend}


def channel_table_sql(engine: Any, rfm_by_channel: str) -> pd.DataFrame:
    """:func:`channel_table` of a per-customer-and-channel RFM table or query in ``engine``
    (``rfm_helpers.rfm.rfm_relation(..., by_channel=True)``): one GROUP BY."""
    got = engine.fetch(f"""
        SELECT channel, count(DISTINCT customer_id) AS customers, sum(frequency) AS orders,
               sum(CAST(monetary AS DOUBLE)) AS revenue, median(recency_days) AS median_recency_days
        FROM {rfm_by_channel} AS c GROUP BY channel""", label="RFM per channel", kind="aggregate")
    got["revenue_share"] = got["revenue"] / got["revenue"].sum()
    got["orders"] = got["orders"].astype("int64")
    got["customers"] = got["customers"].astype("int64")
    return got.sort_values("revenue", ascending=False).reset_index(drop=True)


#: Report helpers that used to live here and moved to :mod:`rfm_helpers.report.legacy`; the
#: names still resolve (lazily) for the notebook cells that have not moved yet (notebooks 01
#: and 04, the campaign-file cells of 02, 03 and 05, notebook 06's parameters table).
_MOVED = ("report_text", "localize", "int_text", "share_text", "parameters_view")


def __getattr__(name: str):
    if name in _MOVED:
        from .report import legacy

        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
