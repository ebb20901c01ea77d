"""Backtest: fit up to a cut-off, predict the next period, compare with what customers did.

The calibration summary is computed as of ``cutoff = as_of - holdout_days`` (only
transactions up to the cut-off, same definitions as :mod:`rfm_helpers.value.features`), the
models are fitted on it exactly as for the real run, and every calibration customer gets a
prediction of purchase days and revenue in ``(cutoff, as_of]``. Customers first seen after the
cut-off are not in the backtest (nothing was known about them at the cut-off).

**Baseline** ("customers repeat last period's frequency"): a customer's purchase days (and
spend) in the ``holdout_days`` just before the cut-off, predicted again for the period after it.

**Comparison.** Per decile of the model's predicted purchases (deciles of equal size over the
customers ordered by prediction, then customer id, so ties are split deterministically) and
in total: predicted (model), baseline and actual, for purchase days and revenue; the mean
absolute error per customer and the error of the total, for model and baseline. The verdict
(:func:`verdict`) compares both errors; nothing is rounded in the model's favour.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from ..rfm import parse_as_of
from .features import compute_holdout, compute_value_summary
from .models import fit_value_models, score_customers
from .segments import MIN_SPEND_CUSTOMERS

__all__ = ["Backtest", "run_backtest", "backtest_cutoff", "decile_table", "verdict"]


@dataclasses.dataclass
class Backtest:
    """Result of :func:`run_backtest` (all numbers; the words are in the report layer)."""

    cutoff: dt.date
    end: dt.date
    holdout_days: int
    customers: int
    deciles: pd.DataFrame  # one row per decile + nothing else; see decile_table
    totals: dict[str, float]
    verdict: str  # "model_better", "baseline_better", "mixed"
    purchase_params: dict[str, float]
    spend_available: bool


def backtest_cutoff(as_of: Any, holdout_days: int = 90) -> dt.date:
    """The backtest's cut-off date: ``as_of - holdout_days``."""
    return parse_as_of(as_of) - dt.timedelta(days=int(holdout_days))


def run_backtest(transactions: pd.DataFrame, as_of: Any, *, holdout_days: int = 90,
                 transaction_model: str = "bgnbd", level: float = 0.9,
                 calibration: pd.DataFrame | None = None) -> Backtest:
    """Fit on data up to ``as_of - holdout_days``, predict ``(cutoff, as_of]`` and compare.
    ``calibration``: the summary as of the cut-off when the caller has it already."""
    end = parse_as_of(as_of)
    holdout_days = int(holdout_days)
    if holdout_days < 7:
        raise ValueError(f"holdout_days must be at least 7, got {holdout_days}")
    cutoff = end - dt.timedelta(days=holdout_days)
    cal = calibration if calibration is not None else compute_value_summary(transactions, cutoff)
    fitted = fit_value_models(cal, transaction_model=transaction_model, level=level,
                              min_spend_customers=MIN_SPEND_CUSTOMERS)
    pred = score_customers(fitted, cal, horizons=(holdout_days,), clv_months=1)
    actual = compute_holdout(transactions, cutoff, end)
    before = compute_holdout(transactions, cutoff - dt.timedelta(days=holdout_days), cutoff)
    frame = pd.DataFrame({"customer_id": cal["customer_id"].to_numpy(),
                          "predicted": pred[f"expected_purchases_{holdout_days}d"].to_numpy()})
    spend = pred["expected_spend"].to_numpy()
    frame["predicted_revenue"] = frame["predicted"] * spend
    frame = frame.merge(actual.rename(columns={"purchases": "actual", "spend": "actual_revenue"}),
                        on="customer_id", how="left")
    frame = frame.merge(before.rename(columns={"purchases": "baseline", "spend": "baseline_revenue"}),
                        on="customer_id", how="left")
    for c in ("actual", "actual_revenue", "baseline", "baseline_revenue"):
        frame[c] = frame[c].fillna(0).astype("float64")
    deciles = decile_table(frame)
    totals = _totals(frame)
    return Backtest(cutoff=cutoff, end=end, holdout_days=holdout_days, customers=len(frame),
                    deciles=deciles, totals=totals, verdict=verdict(totals),
                    purchase_params=fitted.purchase_params,
                    spend_available=fitted.spend_status == "ok")


def decile_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per decile of ``predicted`` (1 = lowest predictions, 10 = highest): ``customers``,
    mean ``predicted``, ``baseline`` and ``actual`` purchase days per customer, the same for
    revenue, and the model's and baseline's ratio to actual (``predicted / actual``)."""
    if frame.empty:
        return pd.DataFrame(columns=["decile", "customers", "predicted", "baseline", "actual",
                                     "predicted_revenue", "baseline_revenue", "actual_revenue"])
    n = len(frame)
    pos = np.lexsort((frame["customer_id"].astype(str).to_numpy(), frame["predicted"].to_numpy()))
    dec = np.empty(n, dtype="int64")
    dec[pos] = 1 + (np.arange(n) * 10) // n
    out = frame.assign(decile=dec).groupby("decile").agg(
        customers=("customer_id", "size"), predicted=("predicted", "mean"), baseline=("baseline", "mean"),
        actual=("actual", "mean"), predicted_revenue=("predicted_revenue", "mean"),
        baseline_revenue=("baseline_revenue", "mean"), actual_revenue=("actual_revenue", "mean"))
    return out.reset_index()


def _totals(frame: pd.DataFrame) -> dict[str, float]:
    t = {k: float(frame[k].sum()) for k in ("predicted", "baseline", "actual", "predicted_revenue",
                                               "baseline_revenue", "actual_revenue")}
    t["model_mae"] = float((frame["predicted"] - frame["actual"]).abs().mean())
    t["baseline_mae"] = float((frame["baseline"] - frame["actual"]).abs().mean())
    t["model_total_error"] = _rel(t["predicted"], t["actual"])
    t["baseline_total_error"] = _rel(t["baseline"], t["actual"])
    t["model_revenue_error"] = _rel(t["predicted_revenue"], t["actual_revenue"])
    t["baseline_revenue_error"] = _rel(t["baseline_revenue"], t["actual_revenue"])
    t["model_revenue_mae"] = float((frame["predicted_revenue"] - frame["actual_revenue"]).abs().mean())
    t["baseline_revenue_mae"] = float((frame["baseline_revenue"] - frame["actual_revenue"]).abs().mean())
    return t


def _rel(pred: float, actual: float) -> float:
    """Signed relative error of a total (NaN when nothing actually happened)."""
    return (pred - actual) / actual if actual else float("nan")


def verdict(totals: dict[str, float]) -> str:
    """``model_better`` when the model has both the smaller mean absolute error per customer
    and the smaller error of the total purchases; ``baseline_better`` when the baseline wins
    both; otherwise ``mixed``."""
    mae = totals["model_mae"] < totals["baseline_mae"]
    tot = abs(totals["model_total_error"]) < abs(totals["baseline_total_error"])
    if mae and tot:
        return "model_better"
    if not mae and not tot:
        return "baseline_better"
    return "mixed"
