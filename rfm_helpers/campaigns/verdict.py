"""The decision: rules fixed when a campaign is registered, applied to its measured effects.

For each variant, in this order:

``invalid``
    The group sizes differ from the planned split more than chance allows (sample-ratio
    check failed): the assignment or the data are broken, nothing else is decided.
``harmful``
    A guardrail got worse beyond its tolerance: the whole interval of the guardrail's change
    lies on the harmful side of ``max_harm``.
``roll_out``
    The primary metric improved significantly (the interval excludes 0; with several variants
    after the correction across variants) **and** the estimate is at least the minimum effect
    worth acting on.
``do_not_roll_out``
    The test rules out the minimum effect: the whole interval lies below it (no effect, a
    loss, or a gain too small to be worth it).
``inconclusive``
    Anything else: the interval still holds both the minimum effect and less than that, so
    the test was too small to tell. The customers a test would need to detect the minimum
    effect (same split, the registered power) come with it.

The campaign's verdict: a variant to roll out (the largest estimate among those that may be
rolled out), else ``harmful`` if a variant is harmful, else ``inconclusive`` if any is, else
``invalid`` if the check failed, else ``do_not_roll_out``. Every verdict is a code with its
values; the sentences are in ``rfm_helpers/report/texts/campaigns.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .planning import detectable_effect, required_size

__all__ = ["DecisionRules", "decide", "VERDICTS", "primary_min_effect"]

VERDICTS = ("roll_out", "do_not_roll_out", "inconclusive", "harmful", "invalid")


@dataclass(frozen=True)
class DecisionRules:
    """What decides a campaign, fixed at registration.

    ``min_effect`` is in the metric's own unit as a person states it: percentage points for
    conversion (``1.0`` = one point), money per customer for revenue, orders per customer
    for orders."""

    primary_metric: str
    min_effect: float
    alpha: float = 0.05
    power: float = 0.8

    @property
    def threshold(self) -> float:
        """``min_effect`` in the effect's own scale (a share for conversion)."""
        return primary_min_effect(self.primary_metric, self.min_effect)


def primary_min_effect(metric: str, min_effect: float) -> float:
    return min_effect / 100.0 if metric == "converted" else float(min_effect)


def _variant(report: Any, v: str, rules: DecisionRules, control_share: float) -> dict[str, Any]:
    e = report.effect(rules.primary_metric, v)
    m = rules.threshold
    out: dict[str, Any] = {"variant": v, "metric": rules.primary_metric, "diff": e.diff, "ci_low": e.ci_low,
                           "ci_high": e.ci_high, "p_value": e.p_value, "p_adjusted": e.p_adjusted,
                           "n_comparisons": e.n_comparisons, "min_effect": rules.min_effect, "n_t": e.n_t,
                           "n_c": e.n_c, "mean_t": e.mean_t, "mean_c": e.mean_c, "test": e.test,
                           "harmful": [], "required": None, "detectable": None}
    stats = report.groups[report.control][rules.primary_metric]
    baseline, sd = stats["mean"], stats["sd"]
    out["detectable"] = detectable_effect(rules.primary_metric, e.n_t, e.n_c, baseline=baseline, sd=sd,
                                          alpha=rules.alpha, power=rules.power)
    if not report.srm.passed:
        out["code"] = "invalid"
        return out
    harm = [g for g in report.guardrails.get(v, []) if g.harmful]
    if harm:
        out["code"] = "harmful"
        out["harmful"] = [{"metric": g.metric, "diff": g.effect.diff, "ci_low": g.effect.ci_low,
                           "ci_high": g.effect.ci_high, "max_harm": g.max_harm, "direction": g.direction}
                          for g in harm]
        return out
    significant = e.significant and e.ci_low > 0
    if significant and e.diff >= m:
        out["code"] = "roll_out"
    elif e.ci_high < m:
        out["code"] = "do_not_roll_out"
    else:
        out["code"] = "inconclusive"
        need = required_size(rules.primary_metric, m, baseline=baseline, sd=sd, alpha=rules.alpha,
                             power=rules.power, control_share=control_share)
        out["required"] = need
    return out


def decide(report: Any, rules: DecisionRules, planned_split: Mapping[str, float]) -> dict[str, Any]:
    """The verdict of every variant and of the campaign (codes with values; see the module)."""
    if rules.primary_metric not in report.overall:
        raise ValueError(f"primary metric {rules.primary_metric!r} is not measured; use one of {list(report.overall)}")
    per: dict[str, dict[str, Any]] = {}
    for v in report.variants:
        share = planned_split.get(report.control, 0.5) / (planned_split.get(report.control, 0.5)
                                                          + planned_split.get(v, 0.5))
        per[v] = _variant(report, v, rules, share)
    codes = [p["code"] for p in per.values()]
    rollable = [p for p in per.values() if p["code"] == "roll_out"]
    if rollable:
        best = max(rollable, key=lambda p: p["diff"])
    else:
        order = ["harmful", "inconclusive", "invalid", "do_not_roll_out"]
        code = next(c for c in order if c in codes)
        best = next(p for p in per.values() if p["code"] == code)
    overall = {"code": best["code"], "variant": best["variant"], "metric": rules.primary_metric,
               "min_effect": rules.min_effect, "variants": len(per)}
    return {"overall": overall, "variants": per, "rules": {"primary_metric": rules.primary_metric,
                                                          "min_effect": rules.min_effect, "alpha": rules.alpha,
                                                          "power": rules.power}}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
