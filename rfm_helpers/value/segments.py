"""Customer value per segment and cluster; slipping customers; value at risk; sufficiency.

Per-customer figures (from :func:`rfm_helpers.value.models.score_customers`) are combined
with the RFM segments or clusters here. Definitions:

``expected_revenue_<h>d``
    ``expected_purchases_<h>d * expected_spend``: expected revenue in the next ``h`` days.
``value_at_risk``
    ``(1 - p_alive) * expected_purchases_if_alive_365d * expected_spend``: the revenue of the
    next 365 days the customer would bring if still active, times the probability that they
    have already left. It is what a win-back could recover, and what the call list ranks by.
    Under the plain BG/NBD a one-time buyer cannot have left (P(alive) = 1 by construction),
    so their value at risk is 0; the modified BG/NBD gives them one.
``slipping`` ("alive but slipping")
    Still more likely active than not (``p_alive >= 0.5``), among the most valuable customers
    (``clv`` in the top :data:`SLIPPING_TOP_SHARE` of all customers) and ``p_alive`` down by at
    least :data:`SLIPPING_DROP` since the end of last month (same fitted parameters, last
    month's history), so the drop is the customer's behaviour, not a refit.

**Intervals of sums.** A group total's low/high is the sum of its customers' lows/highs: all
customers' errors come from the same few parameters and move together, so this is the widest
the parameter interval of the sum can be (never narrower than the truth).

**Data sufficiency** (:func:`sufficiency`): the thresholds below are rules of thumb for a
4-parameter purchase model and a 3-parameter spend model; under them the report says which
part is not supported instead of showing numbers the data cannot carry.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MIN_HISTORY_DAYS", "MIN_CUSTOMERS", "MIN_REPEAT_CUSTOMERS", "MIN_SPEND_CUSTOMERS",
           "NEW_CUSTOMER_DAYS", "SLIPPING_DROP", "SLIPPING_TOP_SHARE", "Sufficiency", "sufficiency",
           "customer_value", "value_by_group", "slipping_customers", "value_headline"]

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


def sufficiency(summary: pd.DataFrame, as_of: Any, *, holdout_days: int = 90,
                backtest_summary: pd.DataFrame | None = None) -> Sufficiency:
    """Apply the thresholds to the value summary (and the backtest's calibration summary)."""
    problems: list[tuple[str, dict[str, Any]]] = []
    customers = len(summary)
    repeat = int((summary["frequency"] > 0).sum()) if customers else 0
    spend = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum()) if customers else 0
    as_of_d = pd.Timestamp(as_of)
    history = int((as_of_d - summary["first_purchase"].min()).days) if customers else 0
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
        cal_repeat = (int((backtest_summary["frequency"] > 0).sum())
                      if backtest_summary is not None and len(backtest_summary) else 0)
        cal_customers = len(backtest_summary) if backtest_summary is not None else 0
        if history < need:
            problems.append(("short_history_for_backtest", {"days": history, "min_days": need}))
            can_backtest = False
        elif cal_repeat < MIN_REPEAT_CUSTOMERS or cal_customers < MIN_CUSTOMERS:
            problems.append(("few_repeat_customers_for_backtest",
                             {"customers": cal_repeat, "min_customers": MIN_REPEAT_CUSTOMERS}))
            can_backtest = False
    return Sufficiency(can_model, can_spend, can_backtest, problems, history, customers, repeat, spend)


def customer_value(scores: pd.DataFrame, summary: pd.DataFrame, as_of: Any,
                   p_alive_last_month: pd.Series | None = None,
                   transaction_model: str = "bgnbd") -> pd.DataFrame:
    """``scores`` plus ``expected_revenue_<h>d`` (with low/high), ``value_at_risk``,
    ``p_alive_last_month``, ``p_alive_change``, ``one_time_buyer``, ``new_customer`` and
    ``slipping`` (see the module docstring). ``p_alive_last_month``: indexed by customer id."""
    out = scores.copy()
    spend = out["expected_spend"].to_numpy()
    for h in out.attrs.get("horizons", (90, 365)):
        e = f"expected_purchases_{h}d"
        out[f"expected_revenue_{h}d"] = out[e] * spend
        out[f"expected_revenue_{h}d_low"] = out[f"{e}_low"] * out["expected_spend_low"]
        out[f"expected_revenue_{h}d_high"] = out[f"{e}_high"] * out["expected_spend_high"]
    if_alive = out.get("expected_purchases_if_alive_365d")
    out["value_at_risk"] = (1 - out["p_alive"]) * (if_alive if if_alive is not None else np.nan) * spend
    by_id = summary.set_index("customer_id")
    out["one_time_buyer"] = by_id["frequency"].reindex(out["customer_id"]).to_numpy() == 0
    first = by_id["first_purchase"].reindex(out["customer_id"]).to_numpy()
    out["new_customer"] = (pd.Timestamp(as_of) - pd.to_datetime(first)).days < NEW_CUSTOMER_DAYS
    if p_alive_last_month is not None:
        out["p_alive_last_month"] = p_alive_last_month.reindex(out["customer_id"]).to_numpy()
    else:
        out["p_alive_last_month"] = np.nan
    out["p_alive_change"] = out["p_alive"] - out["p_alive_last_month"]
    top = out["clv"].rank(ascending=False, method="min") <= max(1, SLIPPING_TOP_SHARE * len(out))
    out["slipping"] = (top & (out["p_alive"] >= 0.5) & (out["p_alive_change"] <= -SLIPPING_DROP)).fillna(False)
    out.attrs.update(scores.attrs)
    out.attrs["transaction_model"] = transaction_model
    return out


def value_by_group(value: pd.DataFrame, groups: pd.Series, *, order: list[str] | None = None,
                   horizon: int = 90) -> pd.DataFrame:
    """One row per group (``order`` first, then any other groups): ``customers``,
    ``expected_purchases``, ``expected_revenue`` (next ``horizon`` days, with ``_low``/``_high``),
    ``revenue_share`` (of all expected revenue), ``clv`` (sum, with low/high), ``mean_p_alive``,
    ``value_at_risk``, ``slipping`` (count). ``groups`` is aligned with ``value``'s rows."""
    rev = f"expected_revenue_{horizon}d"
    g = pd.Series(np.asarray(groups.astype("string")), index=value.index, name="group")
    frame = value.assign(group=g.to_numpy())
    agg = frame.groupby("group", observed=True, sort=False).agg(
        customers=("customer_id", "size"),
        expected_purchases=(f"expected_purchases_{horizon}d", "sum"),
        expected_revenue=(rev, "sum"), expected_revenue_low=(f"{rev}_low", "sum"),
        expected_revenue_high=(f"{rev}_high", "sum"),
        clv=("clv", "sum"), clv_low=("clv_low", "sum"), clv_high=("clv_high", "sum"),
        mean_p_alive=("p_alive", "mean"), value_at_risk=("value_at_risk", "sum"),
        slipping=("slipping", "sum"))
    keys = [k for k in (order or []) if k in agg.index] + [k for k in agg.index if k not in (order or [])]
    agg = agg.reindex(keys)
    total = agg["expected_revenue"].sum()
    agg.insert(5, "revenue_share", agg["expected_revenue"] / total if total else np.nan)
    agg["slipping"] = agg["slipping"].astype("int64")
    return agg.reset_index()


def slipping_customers(value: pd.DataFrame) -> pd.DataFrame:
    """The slipping customers, most value at risk first (for the export, never the page)."""
    cols = ["customer_id", "p_alive", "p_alive_last_month", "p_alive_change", "clv", "value_at_risk"]
    return value.loc[value["slipping"], cols].sort_values("value_at_risk", ascending=False)


def value_headline(value: pd.DataFrame, horizon: int = 90) -> dict[str, float]:
    """Totals for the month page: expected revenue and purchases in the next ``horizon``
    days (with low/high), 12-month CLV, value at risk, slipping customers and their value."""
    rev = f"expected_revenue_{horizon}d"
    slip = value["slipping"]
    return {
        "customers": int(len(value)),
        "expected_purchases": float(value[f"expected_purchases_{horizon}d"].sum()),
        "expected_revenue": float(value[rev].sum()),
        "expected_revenue_low": float(value[f"{rev}_low"].sum()),
        "expected_revenue_high": float(value[f"{rev}_high"].sum()),
        "clv": float(value["clv"].sum()),
        "value_at_risk": float(value["value_at_risk"].sum()),
        "mean_p_alive": float(value["p_alive"].mean()),
        "likely_active": int((value["p_alive"] >= 0.5).sum()),
        "slipping": int(slip.sum()),
        "slipping_value_at_risk": float(value.loc[slip, "value_at_risk"].sum()),
        "slipping_clv": float(value.loc[slip, "clv"].sum()),
        "new_customers": int(value["new_customer"].sum()),
        "one_time_buyers": int(value["one_time_buyer"].sum()),
    }
