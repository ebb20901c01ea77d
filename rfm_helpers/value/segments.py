"""Customer value per segment and cluster; slipping customers; value at risk; sufficiency.

Per-customer figures (from :mod:`rfm_helpers.value.scoring`) are summed per RFM segment or
cluster here, in SQL over the scored customers (DuckDB), so only the group totals reach pandas.
Definitions:

``expected_revenue_<h>d``
    ``expected_purchases_<h>d * expected_spend``: expected revenue in the next ``h`` days.
``value_at_risk``
    ``(1 - p_alive) * expected_purchases_if_alive_365d * expected_spend`` (the middle factor:
    expected purchase days in 365 days of a customer known to be active): the revenue of the
    next 365 days the customer would bring if still active, times the probability that they
    have already left. It is what a win-back could recover, and what the call list ranks by.
    Under the plain BG/NBD a one-time buyer cannot have left (P(alive) = 1 by construction),
    so their value at risk is 0; the modified BG/NBD gives them one.
``slipping`` ("alive but slipping")
    Still more likely active than not (``p_alive >= 0.5``), among the most valuable customers
    (``clv`` in the top :data:`SLIPPING_TOP_SHARE` of all customers) and ``p_alive`` down by at
    least :data:`SLIPPING_DROP` since the end of last month (same fitted parameters, last
    month's history), so the drop is the customer's behaviour, not a refit. "Top share": fewer
    than ``max(1, floor(share * customers))`` customers have a larger CLV.

**Intervals of sums.** A group total's low/high is the sum of its customers' lows/highs: all
customers' errors come from the same few parameters and move together, so this is the widest
the parameter interval of the sum can be (never narrower than the truth).

**Data sufficiency** (:func:`sufficiency`): the thresholds below are rules of thumb for a
4-parameter purchase model and a 3-parameter spend model; under them the report says which
part is not supported instead of showing numbers the data cannot carry.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MIN_HISTORY_DAYS", "MIN_CUSTOMERS", "MIN_REPEAT_CUSTOMERS", "MIN_SPEND_CUSTOMERS",
           "NEW_CUSTOMER_DAYS", "SLIPPING_DROP", "SLIPPING_TOP_SHARE", "UNASSIGNED", "Sufficiency", "sufficiency",
           "summary_stats", "value_by_group", "value_by_groups", "value_headline", "p_alive_histogram", "order_groups",
           "GROUP_SQL", "HEADLINE_SQL", "HISTOGRAM_SQL", "slipping_threshold_sql", "slipping_sql"]

#: Days from the first to the last transaction needed to fit the models at all.
MIN_HISTORY_DAYS = 180
#: Customers needed to fit the purchase model.
MIN_CUSTOMERS = 500
#: Customers with at least one repeat purchase day needed for the purchase model (the dropout
#: parameters are learnt from repeat customers only).
MIN_REPEAT_CUSTOMERS = 200
#: Repeat customers with a positive mean repeat spend needed for the Gamma-Gamma spend model.
MIN_SPEND_CUSTOMERS = 100
#: Customers whose first purchase is this recent are "new": scored, but the model knows little.
NEW_CUSTOMER_DAYS = 30
#: Fall of P(alive) since last month that makes a valuable customer "slipping".
SLIPPING_DROP = 0.10
#: "Valuable": CLV among the top this share of customers.
SLIPPING_TOP_SHARE = 0.20


@dataclasses.dataclass
class Sufficiency:
    """What the data support. ``problems``: (code, values) pairs for the report, e.g.
    ``("short_history", {"days": 120, "min_days": 180})``."""

    can_model: bool
    can_spend: bool
    can_backtest: bool
    problems: list[tuple[str, dict[str, Any]]]
    history_days: int
    customers: int
    repeat_customers: int
    spend_customers: int


def summary_stats(summary: pd.DataFrame) -> dict[str, Any]:
    """The counts :func:`sufficiency` needs, from a summary frame (the store computes the
    same in SQL: :meth:`rfm_helpers.value.store.ValueStore.stats`)."""
    n = len(summary)
    return {"customers": n,
            "repeat_customers": int((summary["frequency"] > 0).sum()) if n else 0,
            "spend_customers": int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum()) if n else 0,
            "first_purchase": pd.Timestamp(summary["first_purchase"].min()) if n else None}


def sufficiency(summary, as_of: Any, *, holdout_days: int = 90, backtest_summary=None) -> Sufficiency:
    """Apply the thresholds. ``summary`` / ``backtest_summary``: the value summary as of the
    analysis date and as of the backtest's cut-off, as frames or as their
    :func:`summary_stats`."""
    stats = summary_stats(summary) if isinstance(summary, pd.DataFrame) else summary
    cal = summary_stats(backtest_summary) if isinstance(backtest_summary, pd.DataFrame) else backtest_summary
    problems: list[tuple[str, dict[str, Any]]] = []
    customers, repeat, spend = stats["customers"], stats["repeat_customers"], stats["spend_customers"]
    history = int((pd.Timestamp(as_of) - pd.Timestamp(stats["first_purchase"])).days) if customers else 0
    can_model = True
    if history < MIN_HISTORY_DAYS:
        problems.append(("short_history", {"days": history, "min_days": MIN_HISTORY_DAYS}))
        can_model = False
    if customers < MIN_CUSTOMERS:
        problems.append(("few_customers", {"customers": customers, "min_customers": MIN_CUSTOMERS}))
        can_model = False
    if repeat < MIN_REPEAT_CUSTOMERS:
        problems.append(("few_repeat_customers", {"customers": repeat, "min_customers": MIN_REPEAT_CUSTOMERS}))
        can_model = False
    can_spend = can_model and spend >= MIN_SPEND_CUSTOMERS
    if can_model and not can_spend:
        problems.append(("few_spend_customers", {"customers": spend, "min_customers": MIN_SPEND_CUSTOMERS}))
    can_backtest = can_model
    if can_model:
        need = MIN_HISTORY_DAYS + int(holdout_days)
        cal_repeat = cal["repeat_customers"] if cal else 0
        cal_customers = cal["customers"] if cal else 0
        if history < need:
            problems.append(("short_history_for_backtest", {"days": history, "min_days": need}))
            can_backtest = False
        elif cal_repeat < MIN_REPEAT_CUSTOMERS or cal_customers < MIN_CUSTOMERS:
            problems.append(("few_repeat_customers_for_backtest",
                             {"customers": cal_repeat, "min_customers": MIN_REPEAT_CUSTOMERS}))
            can_backtest = False
    return Sufficiency(can_model, can_spend, can_backtest, problems, history, customers, repeat, spend)


#: Key of the customers a grouping does not cover (e.g. RFM segments of a shorter window).
UNASSIGNED = ""

#: The sums per group of :data:`GROUP_SQL` and :data:`GROUPS_SQL` (``{h}``: the horizon).
_GROUP_MEASURES = """
       COUNT(*) AS customers,
       SUM(v.expected_purchases_{h}d) AS expected_purchases,
       SUM(v.expected_revenue_{h}d) AS expected_revenue,
       SUM(v.expected_revenue_{h}d_low) AS expected_revenue_low,
       SUM(v.expected_revenue_{h}d_high) AS expected_revenue_high,
       SUM(v.clv) AS clv, SUM(v.clv_low) AS clv_low, SUM(v.clv_high) AS clv_high,
       AVG(v.p_alive) AS mean_p_alive,
       SUM(v.value_at_risk) AS value_at_risk,
       COUNT(*) FILTER (WHERE v.slipping) AS slipping
"""

#: Per-group sums over ``{values}`` (one row per customer with the score columns and
#: ``slipping``) left-joined with ``{groups}`` (``customer_id``, ``grp``); ``{h}`` the horizon.
GROUP_SQL = """
SELECT COALESCE(g.grp, '') AS "group",
""" + _GROUP_MEASURES + """FROM {values} v LEFT JOIN {groups} g ON v.customer_id = g.customer_id
GROUP BY 1
"""

#: :data:`GROUP_SQL` for several groupings in one join: ``{groups}`` has ``customer_id`` and one
#: column of keys per grouping, ``{keys}`` those columns (quoted) and ``{sets}`` one grouping set
#: per column; ``set`` says whose row it is (``GROUPING_ID``), ``"group"`` its key.
GROUPS_SQL = """
SELECT GROUPING_ID({keys}) AS "set", COALESCE({coalesce}, '') AS "group",
""" + _GROUP_MEASURES + """FROM {values} v LEFT JOIN {groups} g ON v.customer_id = g.customer_id
GROUP BY GROUPING SETS ({sets})
"""

#: Totals for the page over ``{values}``; ``{h}`` the horizon.
HEADLINE_SQL = """
SELECT COUNT(*) AS customers,
       SUM(expected_purchases_{h}d) AS expected_purchases,
       SUM(expected_revenue_{h}d) AS expected_revenue,
       SUM(expected_revenue_{h}d_low) AS expected_revenue_low,
       SUM(expected_revenue_{h}d_high) AS expected_revenue_high,
       SUM(clv) AS clv, SUM(clv_low) AS clv_low, SUM(clv_high) AS clv_high,
       SUM(value_at_risk) AS value_at_risk,
       AVG(p_alive) AS mean_p_alive,
       COUNT(*) FILTER (WHERE p_alive >= 0.5) AS likely_active,
       COUNT(*) FILTER (WHERE slipping) AS slipping,
       COALESCE(SUM(value_at_risk) FILTER (WHERE slipping), 0) AS slipping_value_at_risk,
       COALESCE(SUM(clv) FILTER (WHERE slipping), 0) AS slipping_clv,
       COUNT(*) FILTER (WHERE new_customer) AS new_customers,
       COUNT(*) FILTER (WHERE one_time_buyer) AS one_time_buyers
FROM {values}
"""

#: Customers per 5-point band of P(alive) (band 0: [0, 0.05), ..., band 19: [0.95, 1]),
#: repeat customers and one-time buyers apart.
HISTOGRAM_SQL = """
SELECT LEAST(CAST(FLOOR(p_alive * {bins}) AS INTEGER), {bins} - 1) AS band,
       COUNT(*) FILTER (WHERE NOT one_time_buyer) AS repeat_customers,
       COUNT(*) FILTER (WHERE one_time_buyer) AS one_time_buyers
FROM {values} WHERE p_alive IS NOT NULL
GROUP BY 1 ORDER BY 1
"""


def slipping_threshold_sql(values: str, n: int) -> str:
    """The CLV a customer needs to be among the top :data:`SLIPPING_TOP_SHARE` of ``n``
    customers: the ``max(1, floor(share * n))``-th largest CLV (a customer is in the top when
    fewer than that many customers have a larger CLV, ties included)."""
    k = max(1, int(math.floor(SLIPPING_TOP_SHARE * n)))
    return f"SELECT clv FROM {values} WHERE clv IS NOT NULL ORDER BY clv DESC LIMIT 1 OFFSET {k - 1}"


def slipping_sql(threshold: float | None) -> str:
    """SQL condition for "alive but slipping" given :func:`slipping_threshold_sql`'s value."""
    if threshold is None or not math.isfinite(threshold):
        return "FALSE"
    return (f"COALESCE(clv >= {threshold!r} AND p_alive >= 0.5 AND p_alive_change <= -{SLIPPING_DROP!r}, FALSE)")


def _con_with(frames: dict[str, pd.DataFrame]):
    import duckdb

    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name, frame)
    return con


def order_groups(table: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Rows in ``order`` first, then the other groups (largest expected revenue first), the
    customers no group covers last; ``revenue_share`` of all expected revenue added."""
    order = [k for k in (order or []) if k in set(table["group"])]
    rest = table[~table["group"].isin(order) & (table["group"] != UNASSIGNED)].sort_values(
        ["expected_revenue", "group"], ascending=[False, True])["group"].tolist()
    keys = order + rest + ([UNASSIGNED] if (table["group"] == UNASSIGNED).any() else [])
    out = table.set_index("group").reindex(keys).reset_index()
    total = out["expected_revenue"].sum()
    out.insert(5, "revenue_share", out["expected_revenue"] / total if total else np.nan)
    out["customers"] = out["customers"].astype("int64")
    out["slipping"] = out["slipping"].astype("int64")
    return out


def value_by_group(values: Any, groups: Any, *, order: list[str] | None = None, horizon: int = 90,
                   con=None) -> pd.DataFrame:
    """One row per group: ``customers``, ``expected_purchases``, ``expected_revenue`` (next
    ``horizon`` days, with ``_low``/``_high``), ``revenue_share`` (of all expected revenue),
    ``clv`` (sum, with low/high), ``mean_p_alive``, ``value_at_risk``, ``slipping`` (count).

    ``values``: per-customer scores (a table name in ``con``, or a frame); ``groups``: a table
    name with ``customer_id`` and ``grp``, or a Series of group keys indexed by customer id.
    Customers the grouping does not cover form the group :data:`UNASSIGNED` (never dropped)."""
    frames = {}
    if isinstance(values, pd.DataFrame):
        frames["value_values"], values = values, "value_values"
    if isinstance(groups, pd.Series):
        frames["value_groups"] = pd.DataFrame({"customer_id": groups.index.astype(str),
                                               "grp": groups.astype("string").to_numpy()})
        groups = "value_groups"
    own = con is None
    con = _con_with(frames) if own else con
    try:
        if not own:
            for name, frame in frames.items():
                con.register(name, frame)
        table = con.sql(GROUP_SQL.format(values=values, groups=groups, h=int(horizon))).df()
    finally:
        if own:
            con.close()
        else:
            for name in frames:
                con.unregister(name)
    return order_groups(table, order)


def value_by_groups(values: str, groups: str, columns: dict[str, str], *, orders: dict[str, list] | None = None,
                    horizon: int = 90, con=None) -> dict[str, pd.DataFrame]:
    """:func:`value_by_group` for several groupings held in one table ``groups`` (``customer_id``
    and one column of keys per grouping; ``columns``: grouping name -> column) in one join of the
    scored customers ``values`` (table names on ``con``), instead of one join per grouping: the
    same tables, keyed by grouping name."""
    if not columns:
        return {}
    distinct = list(dict.fromkeys(columns.values()))  # a column named by two groupings is summed once
    quoted = ['g."' + str(c).replace('"', '""') + '"' for c in distinct]
    keys = ", ".join(quoted)
    table = con.sql(GROUPS_SQL.format(values=values, groups=groups, h=int(horizon), keys=keys,
                                      coalesce="COALESCE(" + ", ".join(quoted) + ")" if len(quoted) > 1 else quoted[0],
                                      sets=", ".join(f"({q})" for q in quoted))).df()
    n = len(distinct)
    out = {}
    for name, column in columns.items():
        # GROUPING_ID has a bit per column, the first column the highest: set when not grouped by it
        set_id = (1 << n) - 1 - (1 << (n - 1 - distinct.index(column)))
        part = table[table["set"] == set_id].drop(columns="set").reset_index(drop=True)
        out[name] = order_groups(part, (orders or {}).get(name))
    return out


def value_headline(values: Any, horizon: int = 90, con=None) -> dict[str, float]:
    """Totals for the month page: expected revenue and purchases in the next ``horizon``
    days (with low/high), 12-month CLV, value at risk, slipping customers and their value."""
    own = con is None
    if isinstance(values, pd.DataFrame):
        con, values = _con_with({"value_values": values}), "value_values"
        own = True
    try:
        row = con.sql(HEADLINE_SQL.format(values=values, h=int(horizon))).df().iloc[0]
    finally:
        if own:
            con.close()
    ints = {"customers", "likely_active", "slipping", "new_customers", "one_time_buyers"}
    return {k: (int(v) if k in ints else float(v) if v is not None and v == v else math.nan)
            for k, v in row.items()}


def p_alive_histogram(values: Any, bins: int = 20, con=None) -> pd.DataFrame:
    """Customers per band of P(alive): ``low``, ``high`` (band edges), ``repeat_customers``,
    ``one_time_buyers``; every band present (zero counts included)."""
    own = con is None
    if isinstance(values, pd.DataFrame):
        con, values = _con_with({"value_values": values}), "value_values"
        own = True
    try:
        counts = con.sql(HISTOGRAM_SQL.format(values=values, bins=int(bins))).df().set_index("band")
    finally:
        if own:
            con.close()
    counts = counts.reindex(range(int(bins)), fill_value=0)
    edges = np.linspace(0, 1, int(bins) + 1)
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:],
                         "repeat_customers": counts["repeat_customers"].to_numpy(dtype="int64"),
                         "one_time_buyers": counts["one_time_buyers"].to_numpy(dtype="int64")})
