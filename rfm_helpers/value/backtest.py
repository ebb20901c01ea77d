"""Backtest: fit up to a cut-off, predict the next period, compare with what customers did.

The calibration summary is computed as of ``cutoff = as_of - holdout_days`` (only
transactions up to the cut-off, same definitions as :mod:`rfm_helpers.value.features`), the
models are fitted on it exactly as for the real run (the same bounded, seeded sample rule),
and every calibration customer -- or, with more than :data:`BACKTEST_CUSTOMERS`, a stratified
seeded sample of that many (the errors of a total and per customer are measured as precisely
on 200,000 customers as on millions) -- gets a prediction of purchase days and revenue in
``(cutoff, as_of]``. The comparison runs in SQL (:data:`DECILE_SQL`); only the ten deciles and
the totals reach pandas. Customers first seen after the
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
from .features import stratified_counts
from .models import FIT_CUSTOMERS, FittedValueModels, fit_value_models
from .scoring import point_only
from .segments import MIN_SPEND_CUSTOMERS

#: Default bound on the calibration customers the backtest compares (a stratified sample above).
BACKTEST_CUSTOMERS = 200_000

__all__ = ["BACKTEST_CUSTOMERS", "Backtest", "run_backtest", "backtest_in_store", "backtest_cutoff", "decile_table", "verdict",
           "DECILE_SQL"]


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
    fitted: FittedValueModels | None = None
    population: int = 0  # calibration customers; ``customers`` of them were compared (a sample when fewer)

    @property
    def sampled(self) -> bool:
        return 0 < self.customers < self.population


def backtest_cutoff(as_of: Any, holdout_days: int = 90) -> dt.date:
    """The backtest's cut-off date: ``as_of - holdout_days``."""
    return parse_as_of(as_of) - dt.timedelta(days=int(holdout_days))


#: Per decile of predicted purchases over the calibration customers: ``{scores}`` has
#: ``customer_id``, ``predicted``, ``predicted_revenue``; ``value_base`` the actuals.
DECILE_SQL = """
WITH f AS (
    SELECT s.customer_id, s.predicted, s.predicted_revenue,
           CAST(b.holdout_purchases AS DOUBLE) AS actual, b.holdout_spend AS actual_revenue,
           CAST(b.baseline_purchases AS DOUBLE) AS baseline, b.baseline_spend AS baseline_revenue
    FROM {scores} s JOIN value_base b ON s.customer_id = b.customer_id
), r AS (
    SELECT *, ROW_NUMBER() OVER (ORDER BY predicted, customer_id) - 1 AS pos, COUNT(*) OVER () AS n FROM f
)
SELECT CAST(1 + (pos * 10) // n AS BIGINT) AS decile, COUNT(*) AS customers,
       AVG(predicted) AS predicted, AVG(baseline) AS baseline, AVG(actual) AS actual,
       AVG(predicted_revenue) AS predicted_revenue, AVG(baseline_revenue) AS baseline_revenue,
       AVG(actual_revenue) AS actual_revenue,
       SUM(predicted) AS sum_predicted, SUM(baseline) AS sum_baseline, SUM(actual) AS sum_actual,
       SUM(predicted_revenue) AS sum_predicted_revenue, SUM(baseline_revenue) AS sum_baseline_revenue,
       SUM(actual_revenue) AS sum_actual_revenue,
       SUM(ABS(predicted - actual)) AS abs_model, SUM(ABS(baseline - actual)) AS abs_baseline,
       SUM(ABS(predicted_revenue - actual_revenue)) AS abs_model_revenue,
       SUM(ABS(baseline_revenue - actual_revenue)) AS abs_baseline_revenue
FROM r GROUP BY 1 ORDER BY 1
"""


def run_backtest(transactions: pd.DataFrame, as_of: Any, *, holdout_days: int = 90,
                 transaction_model: str = "bgnbd", level: float = 0.9, fit_customers: int | None = FIT_CUSTOMERS,
                 random_seed: int = 0, backtest_customers: int | None = BACKTEST_CUSTOMERS) -> Backtest:
    """Fit on data up to ``as_of - holdout_days``, predict ``(cutoff, as_of]`` and compare."""
    from .store import ValueStore

    with ValueStore(transactions, as_of, holdout_days=holdout_days, seed=random_seed) as store:
        return backtest_in_store(store, transaction_model=transaction_model, level=level,
                                 fit_customers=fit_customers, random_seed=random_seed,
                                 backtest_customers=backtest_customers)


def backtest_in_store(store, *, transaction_model: str = "bgnbd", level: float = 0.9,
                      fit_customers: int | None = FIT_CUSTOMERS, random_seed: int = 0,
                      backtest_customers: int | None = BACKTEST_CUSTOMERS) -> Backtest:
    """The backtest on a :class:`~rfm_helpers.value.store.ValueStore`: the models are fitted on
    (a sample of) the customers as of the cut-off, exactly as for the real run; the calibration
    customers -- all of them, or a stratified seeded sample of ``backtest_customers`` when there
    are more -- are scored, and the comparison is made in SQL."""
    h = store.holdout_days
    stats = store.stats(calibration=True)
    within = None
    if fit_customers is not None and backtest_customers is not None and int(random_seed) == store.seed:
        # both samples follow the store's seeded order: the fit's is the first part of the compared one's
        # (when the rounding of the strata allows), so the compared customers are drawn once, and the
        # fit's from them
        fit_k = stratified_counts(int(fit_customers), stats["repeat_customers"], stats["one_time_buyers"])
        bt_k = stratified_counts(int(backtest_customers), stats["repeat_customers"], stats["one_time_buyers"])
        if fit_k[0] <= bt_k[0] and fit_k[1] <= bt_k[1]:
            within = store.keep_sample(int(backtest_customers), calibration=True)
    rows = store.sample(fit_customers, random_seed, calibration=True, within=within)
    fitted = fit_value_models(rows, transaction_model=transaction_model, level=level, fit_customers=None,
                              min_spend_customers=MIN_SPEND_CUSTOMERS, n_customers=stats["customers"],
                              random_seed=random_seed)
    store.score(point_only(fitted), "backtest", calibration=True, horizons=(h,), clv_months=1,
                columns=[f"expected_purchases_{h}d", f"expected_revenue_{h}d"], sample=backtest_customers,
                within=within)
    scores = (f"(SELECT customer_id, expected_purchases_{h}d AS predicted, expected_revenue_{h}d AS predicted_revenue "
              f"FROM {store.source('backtest')})")
    raw = store.con.sql(DECILE_SQL.format(scores=scores)).df()
    deciles = raw[["decile", "customers", "predicted", "baseline", "actual", "predicted_revenue",
                   "baseline_revenue", "actual_revenue"]].reset_index(drop=True)
    totals = _totals_from(raw)
    return Backtest(cutoff=store.cutoff, end=store.as_of, holdout_days=h, customers=int(raw["customers"].sum()),
                    deciles=deciles, totals=totals, verdict=verdict(totals),
                    purchase_params=fitted.purchase_params, spend_available=fitted.spend_status == "ok",
                    fitted=fitted, population=stats["customers"])


def _totals_from(raw: pd.DataFrame) -> dict[str, float]:
    n = float(raw["customers"].sum())
    t = {k: float(raw[f"sum_{k}"].sum()) for k in ("predicted", "baseline", "actual", "predicted_revenue",
                                                  "baseline_revenue", "actual_revenue")}
    t["model_mae"] = float(raw["abs_model"].sum()) / n if n else float("nan")
    t["baseline_mae"] = float(raw["abs_baseline"].sum()) / n if n else float("nan")
    t["model_total_error"] = _rel(t["predicted"], t["actual"])
    t["baseline_total_error"] = _rel(t["baseline"], t["actual"])
    t["model_revenue_error"] = _rel(t["predicted_revenue"], t["actual_revenue"])
    t["baseline_revenue_error"] = _rel(t["baseline_revenue"], t["actual_revenue"])
    t["model_revenue_mae"] = float(raw["abs_model_revenue"].sum()) / n if n else float("nan")
    t["baseline_revenue_mae"] = float(raw["abs_baseline_revenue"].sum()) / n if n else float("nan")
    return t


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
