"""The value stage of a monthly run in one call: summary, sufficiency, fit, score, backtest.

:func:`analyse_value` returns a :class:`ValueAnalysis` holding numbers and tables only; the
notebook turns them into words and charts through ``rfm_helpers.report``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from ..rfm import parse_as_of
from .backtest import Backtest, backtest_cutoff, run_backtest
from .features import compute_value_summary
from .models import FittedValueModels, fit_value_models, probability_alive, score_customers
from .segments import MIN_SPEND_CUSTOMERS, Sufficiency, customer_value, sufficiency

__all__ = ["ValueAnalysis", "analyse_value", "previous_month_end", "write_value_export",
           "EXPORT_COLUMNS"]


@dataclasses.dataclass
class ValueAnalysis:
    """Everything the value page shows. ``value`` (per customer) is ``None`` when the data do
    not support the models (see ``sufficiency.problems``); ``backtest`` is ``None`` when the
    history is too short for one."""

    as_of: dt.date
    summary: pd.DataFrame
    sufficiency: Sufficiency
    fitted: FittedValueModels | None
    value: pd.DataFrame | None
    backtest: Backtest | None
    last_month_end: dt.date
    settings: dict[str, Any]


def previous_month_end(as_of: Any) -> dt.date:
    """Last day of the month before ``as_of``'s month."""
    d = parse_as_of(as_of)
    return d.replace(day=1) - dt.timedelta(days=1)


def analyse_value(transactions: pd.DataFrame, as_of: Any, *, transaction_model: str = "bgnbd",
                  method: str = "map", level: float = 0.9, horizons: tuple[int, ...] = (90, 365),
                  clv_months: int = 12, annual_discount_rate: float = 0.10, holdout_days: int = 90,
                  backtest: bool = True, sample_customers: int = 2000) -> ValueAnalysis:
    """Run the value stage on clean transactions up to ``as_of`` (see the module docstrings
    of :mod:`~rfm_helpers.value.features`, :mod:`~rfm_helpers.value.models`,
    :mod:`~rfm_helpers.value.backtest` and :mod:`~rfm_helpers.value.segments`)."""
    as_of_d = parse_as_of(as_of)
    summary = compute_value_summary(transactions, as_of_d)
    cal = compute_value_summary(transactions, backtest_cutoff(as_of_d, holdout_days)) if backtest else None
    suff = sufficiency(summary, as_of_d, holdout_days=holdout_days, backtest_summary=cal)
    settings = {"transaction_model": transaction_model, "method": method, "level": level,
                "horizons": tuple(int(h) for h in horizons), "clv_months": int(clv_months),
                "annual_discount_rate": float(annual_discount_rate), "holdout_days": int(holdout_days)}
    last_end = previous_month_end(as_of_d)
    fitted = value = bt = None
    if suff.can_model:
        fitted = fit_value_models(summary, transaction_model=transaction_model, method=method, level=level,
                                  sample_customers=sample_customers, min_spend_customers=MIN_SPEND_CUSTOMERS)
        scores = score_customers(fitted, summary, horizons=horizons, clv_months=clv_months,
                                 annual_discount_rate=annual_discount_rate)
        last = compute_value_summary(transactions, last_end)
        p_last = probability_alive(fitted, last)
        value = customer_value(scores, summary, as_of_d, p_last, transaction_model)
        if backtest and suff.can_backtest:
            bt = run_backtest(transactions, as_of_d, holdout_days=holdout_days,
                              transaction_model=transaction_model, level=level, calibration=cal)
    return ValueAnalysis(as_of=as_of_d, summary=summary, sufficiency=suff, fitted=fitted, value=value,
                         backtest=bt, last_month_end=last_end, settings=settings)


#: Columns of the per-customer value export, in order.
EXPORT_COLUMNS = [
    "customer_id", "p_alive", "p_alive_low", "p_alive_high", "p_alive_last_month", "p_alive_change",
    "expected_purchases_90d", "expected_purchases_90d_low", "expected_purchases_90d_high",
    "expected_purchases_365d", "expected_purchases_365d_low", "expected_purchases_365d_high",
    "expected_spend", "expected_spend_low", "expected_spend_high",
    "expected_revenue_90d", "expected_revenue_90d_low", "expected_revenue_90d_high",
    "clv", "clv_low", "clv_high", "value_at_risk", "slipping", "one_time_buyer", "new_customer",
]


def write_value_export(value: pd.DataFrame, exports_dir: str | Path, month: str) -> Path:
    """Write the per-customer value table to ``exports_dir/customer_value_<month>.csv``
    (UTF-8 with BOM for Excel), sorted by value at risk (highest first), 6 decimals.
    Customer-level data goes to files, never into the report page."""
    cols = [c for c in EXPORT_COLUMNS if c in value.columns]
    path = Path(exports_dir) / f"customer_value_{month}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = value[cols].sort_values(["value_at_risk", "customer_id"], ascending=[False, True], na_position="last")
    out.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.6f")
    return path
