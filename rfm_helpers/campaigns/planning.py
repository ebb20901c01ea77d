"""Planning and money: detectable effects, the size a test needs, incremental revenue and ROI.

Power calculations use ``statsmodels.stats.power`` (normal approximation with Cohen's h for
conversion, the t-test for means); nothing here formats a number.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from .stats import Effect

__all__ = ["power_plan", "roi", "required_size", "detectable_effect"]


def _cohen_h_inverse(p1: float, h: float) -> float:
    """The proportion p2 > p1 whose Cohen's h against p1 is ``h``."""
    phi = 2 * math.asin(math.sqrt(p1)) + h
    return math.sin(min(phi, math.pi) / 2) ** 2


def _solve_effect(analysis: Any, nobs1: float, alpha: float, power: float, ratio: float) -> float:
    """Effect size with the requested power: statsmodels' power function, solved tightly with
    ``brentq`` (``solve_power``'s own solver stops at about 5 significant digits)."""
    from scipy.optimize import brentq

    def gap(es):
        return analysis.power(effect_size=es, nobs1=nobs1, alpha=alpha, ratio=ratio) - power

    # the MDE is about 2.8 standard errors (80% power); 6 SE keeps scipy's noncentral t finite
    upper = 6 * math.sqrt(1 / nobs1 + 1 / (nobs1 * ratio))
    return float(brentq(gap, 1e-9, upper, xtol=1e-14, rtol=1e-14))


def power_plan(customers: pd.DataFrame, *, control: str = "control", by: str = "segment", alpha: float = 0.05,
               power: float = 0.8, treated_share: float = 0.5, target_lift_pts: float = 0.01,
               min_customers: int = 20) -> pd.DataFrame:
    """Minimum detectable effects per segment if the next campaign splits the segment's
    customers ``treated_share`` / ``1 - treated_share`` (two-sided test at ``alpha``).

    Baselines (conversion rate, revenue standard deviation) come from the control group.
    Columns: segment size, baseline conversion, MDE for conversion (absolute, in
    proportion units), MDE for revenue per customer, and the customers per group needed to
    detect a ``target_lift_pts`` rise in conversion.
    """
    rows = []
    zpow, tpow = NormalIndPower(), TTestIndPower()
    for seg, part in customers.groupby(by, sort=True, observed=True):
        n = len(part)
        ctrl = part.loc[part["group"] == control]
        n_t = n * treated_share
        n_c = n - n_t
        if n < min_customers or len(ctrl) < 2 or n_t < 2 or n_c < 2:
            continue
        ratio = n_c / n_t
        p0 = float(ctrl["converted"].mean())
        sd = float(ctrl["revenue"].std(ddof=1))
        h = _solve_effect(zpow, n_t, alpha, power, ratio)
        d = _solve_effect(tpow, n_t, alpha, power, ratio)
        need = float("nan")
        if 0 < p0 < 1 - target_lift_pts:
            h_target = 2 * math.asin(math.sqrt(p0 + target_lift_pts)) - 2 * math.asin(math.sqrt(p0))
            need = zpow.solve_power(effect_size=h_target, nobs1=None, alpha=alpha, power=power, ratio=1.0)
        rows.append({by: str(seg), "customers": n, "baseline_conversion": p0,
                     "mde_conversion": _cohen_h_inverse(p0, float(h)) - p0,
                     "baseline_revenue": float(ctrl["revenue"].mean()), "revenue_sd": sd,
                     "mde_revenue": float(d) * sd, "n_per_group_for_target": math.ceil(need) if np.isfinite(need) else None})
    return pd.DataFrame(rows)


def roi(revenue_effect: Effect, total_cost: float, margin: float = 1.0) -> dict[str, float]:
    """Incremental revenue of the treated group and return on the campaign cost.

    Incremental revenue = (mean revenue treated - control) x treated customers, with the
    interval of the difference scaled the same way (the cost is known exactly, so the ROI
    interval is the same linear transform). ROI = (incremental revenue x ``margin`` - cost)
    / cost; with ``margin=1`` it is a revenue ROI, not a profit ROI.
    """
    n = revenue_effect.n_t
    inc = revenue_effect.diff * n
    lo, hi = revenue_effect.ci_low * n, revenue_effect.ci_high * n
    out = {"incremental_revenue": inc, "incremental_revenue_low": lo, "incremental_revenue_high": hi,
           "cost": float(total_cost), "margin": margin}
    if total_cost > 0:
        out.update(roi=(inc * margin - total_cost) / total_cost, roi_low=(lo * margin - total_cost) / total_cost,
                   roi_high=(hi * margin - total_cost) / total_cost)
    else:
        out.update(roi=float("nan"), roi_low=float("nan"), roi_high=float("nan"))
    return out


def _cohen_h(p0: float, p1: float) -> float:
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))


def required_size(metric: str, min_effect: float, *, baseline: float, sd: float, alpha: float = 0.05,
                  power: float = 0.8, control_share: float = 0.5) -> dict[str, Any] | None:
    """Customers a test needs to detect ``min_effect`` (treated - control, in the metric's units:
    a share for conversion) with ``power`` at ``alpha`` (two-sided), when ``control_share`` of
    them are held out. ``baseline``: the control group's conversion rate (conversion) or mean;
    ``sd``: the control group's standard deviation (means). Returns ``treated``, ``control``,
    ``total`` (rounded up), or ``None`` when it cannot be computed (no variation, or a target
    conversion rate of 100 % or more)."""
    if not min_effect or min_effect <= 0 or not 0 < control_share < 1:
        return None
    ratio = control_share / (1 - control_share)  # control per treated customer
    if metric == "converted":
        if not 0 <= baseline < 1 or baseline + min_effect >= 1:
            return None
        es = _cohen_h(baseline, baseline + min_effect)
        n1 = NormalIndPower().solve_power(effect_size=es, nobs1=None, alpha=alpha, power=power, ratio=ratio)
    else:
        if not sd or not np.isfinite(sd) or sd <= 0:
            return None
        n1 = TTestIndPower().solve_power(effect_size=min_effect / sd, nobs1=None, alpha=alpha, power=power,
                                         ratio=ratio)
    n1 = float(np.atleast_1d(n1)[0])
    treated, control = math.ceil(n1), math.ceil(n1 * ratio)
    return {"treated": treated, "control": control, "total": treated + control}


def detectable_effect(metric: str, n_t: int, n_c: int, *, baseline: float, sd: float, alpha: float = 0.05,
                      power: float = 0.8) -> float:
    """The smallest effect (treated - control, metric units) a test of ``n_t`` treated and ``n_c``
    control customers detects with ``power`` at ``alpha``; NaN when it cannot be computed."""
    if n_t < 2 or n_c < 2:
        return float("nan")
    ratio = n_c / n_t
    if metric == "converted":
        if not 0 <= baseline < 1:
            return float("nan")
        return _cohen_h_inverse(baseline, _solve_effect(NormalIndPower(), n_t, alpha, power, ratio)) - baseline
    if not sd or not np.isfinite(sd) or sd <= 0:
        return float("nan")
    return _solve_effect(TTestIndPower(), n_t, alpha, power, ratio) * sd
