"""Everything measured about one campaign, as numbers: :func:`analyse_campaign`.

The result (:class:`CampaignReport`) holds aggregates only (effects, intervals, tests, group
means, per-segment tables) and turns into plain JSON (:meth:`CampaignReport.to_dict`), so a
campaign page can be drawn from a stored evaluation without the customer rows.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .planning import power_plan, roi
from .stats import (COVARIATES, METRICS, BootstrapCI, Effect, InteractionTest, SRMResult, bootstrap_interval,
                    cap_values, compare_variants, cuped, effect_for, interaction_test, rank_test,
                    regression_adjusted, segment_effects, srm_check)

__all__ = ["AnalysisSettings", "Guardrail", "GuardrailResult", "CampaignReport", "analyse_campaign", "group_stats"]


@dataclass(frozen=True)
class AnalysisSettings:
    """How a campaign is analysed (fixed at registration; part of the evaluation's inputs)."""

    alpha: float = 0.05
    correction: str = "holm"
    seed: int = 0
    bootstrap_mc_error: float = 0.01
    bootstrap_max_resamples: int = 50000
    margin: float = 1.0
    cap_revenue_quantile: float | None = None
    srm_threshold: float = 0.001
    min_per_group: int = 20
    exact_below: int = 10
    power: float = 0.8

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Guardrail:
    """A metric the campaign must not make worse: ``metric`` is a column of the campaign's
    customers (``unsubscribed``, ``returns`` or one of an outcomes file); harm is a change in
    ``direction`` larger than ``max_harm`` (metric units; a share for 0/1 metrics)."""

    metric: str
    max_harm: float = 0.0
    direction: str = "increase"


@dataclass
class GuardrailResult:
    """One guardrail of one variant: the effect, and whether the interval shows harm beyond
    ``max_harm`` (its whole interval lies on the harmful side of the tolerance)."""

    metric: str
    group: str
    effect: Effect | None
    max_harm: float
    direction: str
    harmful: bool
    available: bool = True

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["effect"] = None if self.effect is None else self.effect.as_dict()
        return d


@dataclass
class CampaignReport:
    """All results of :func:`analyse_campaign` (per variant where it applies); aggregates only."""

    settings: AnalysisSettings
    control: str
    variants: list[str]
    srm: SRMResult
    segment_srm: dict[str, SRMResult]
    overall: dict[str, list[Effect]]
    groups: dict[str, dict[str, dict[str, float]]]
    bootstrap: dict[str, BootstrapCI]
    ranks: dict[str, dict[str, float]]
    cuped: dict[str, dict[str, Any]]
    regression: dict[str, dict[str, Any]]
    segments: dict[str, dict[str, list[Effect]]]
    interaction: dict[str, dict[str, InteractionTest | None]]
    guardrails: dict[str, list[GuardrailResult]]
    power: pd.DataFrame
    roi: dict[str, dict[str, float]] = field(default_factory=dict)
    capping: dict[str, Any] | None = None

    def srm_for(self, segment: str | None) -> SRMResult:
        """The sample-ratio check that governs a segment's result: the overall one when it
        failed (then nothing is reliable), else the segment's own."""
        if not self.srm.passed or segment is None:
            return self.srm
        return self.segment_srm.get(str(segment), self.srm)

    def effect(self, metric: str, variant: str) -> Effect:
        return next(e for e in self.overall[metric] if e.group == variant)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (no customer rows)."""
        def eff(xs):
            return [e.as_dict() for e in xs]

        return {
            "settings": self.settings.as_dict(), "control": self.control, "variants": list(self.variants),
            "srm": self.srm.as_dict(), "segment_srm": {k: v.as_dict() for k, v in self.segment_srm.items()},
            "overall": {m: eff(xs) for m, xs in self.overall.items()}, "groups": self.groups,
            "bootstrap": {v: {**asdict(b), "mc_error": b.mc_error, "reached": b.reached} for v, b in self.bootstrap.items()},
            "ranks": self.ranks,
            "cuped": {v: {"effect": c["effect"].as_dict(), "theta": c["theta"], "variance_reduction": c["variance_reduction"]}
                      for v, c in self.cuped.items()},
            "regression": {v: {"effect": r["effect"].as_dict(), "covariates": r["covariates"],
                               "variance_reduction": r["variance_reduction"]} for v, r in self.regression.items()},
            "segments": {v: {m: eff(xs) for m, xs in ms.items()} for v, ms in self.segments.items()},
            "interaction": {v: {m: (None if x is None else x.as_dict()) for m, x in ms.items()}
                            for v, ms in self.interaction.items()},
            "guardrails": {v: [g.as_dict() for g in gs] for v, gs in self.guardrails.items()},
            "power": self.power.to_dict(orient="records"), "roi": self.roi, "capping": self.capping,
        }


def group_stats(customers: pd.DataFrame, groups: Sequence[str], metrics: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per group and metric: customers, mean, standard deviation and standard error."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for g in groups:
        part = customers.loc[customers["group"] == g]
        out[g] = {}
        for m in metrics:
            y = part[m].to_numpy(float)
            sd = float(y.std(ddof=1)) if len(y) > 1 else float("nan")
            out[g][m] = {"n": int(len(y)), "mean": float(y.mean()) if len(y) else float("nan"), "sd": sd,
                         "se": sd / np.sqrt(len(y)) if len(y) > 1 else float("nan")}
    return out


def _guardrail(part: pd.DataFrame, g: Guardrail, v: str, control: str, alpha: float) -> GuardrailResult:
    if g.metric not in part.columns:
        return GuardrailResult(g.metric, v, None, g.max_harm, g.direction, False, available=False)
    t = part.loc[part["group"] == v, g.metric].to_numpy(float)
    c = part.loc[part["group"] == control, g.metric].to_numpy(float)
    binary = bool(np.isin(np.r_[t, c], (0.0, 1.0)).all())
    e = effect_for("converted" if binary else "revenue", t, c, alpha, v, control, exact_below=10)
    e.metric = g.metric
    if g.direction == "increase":
        harmful = bool(e.ci_low > g.max_harm)
    else:
        harmful = bool(e.ci_high < -g.max_harm)
    return GuardrailResult(g.metric, v, e, g.max_harm, g.direction, harmful)


def analyse_campaign(data: Any, settings: AnalysisSettings | None = None, *, guardrails: Sequence[Guardrail] = (),
                     segment_col: str = "segment") -> CampaignReport:
    """Run every analysis on a :class:`~rfm_helpers.campaigns.data.CampaignData`.

    With ``settings.cap_revenue_quantile`` the revenue of every customer is capped at that
    pooled quantile before any revenue statistic (the report says so and by how much)."""
    s = settings or AnalysisSettings()
    cust = data.customers.copy()
    control, variants = data.control, data.variants
    capping = None
    if s.cap_revenue_quantile is not None:
        capped, cap, n = cap_values(cust["revenue"].to_numpy(float), s.cap_revenue_quantile)
        cust["revenue"] = capped
        capping = {"quantile": s.cap_revenue_quantile, "cap": cap, "customers": n}
    srm = srm_check(data.counts().to_dict(), data.planned_split, s.srm_threshold)
    seg_srm = {str(seg): srm_check(part["group"].value_counts().to_dict(), data.planned_split, s.srm_threshold)
               for seg, part in cust.groupby(segment_col, sort=True, observed=True)}
    overall = {m: compare_variants(cust, m, variants, control=control, alpha=s.alpha, correction=s.correction)
               for m in METRICS}
    boot, ranks, cup, reg, segs, inter, guard, rois = {}, {}, {}, {}, {}, {}, {}, {}
    ctrl = cust.loc[cust["group"] == control]
    for i, v in enumerate(variants):
        vt = cust.loc[cust["group"] == v]
        pair = pd.concat([vt, ctrl], ignore_index=True)
        tr = (pair["group"] == v).to_numpy()
        boot[v] = bootstrap_interval(vt["revenue"], ctrl["revenue"], s.alpha, seed=s.seed + i,
                                     mc_error=s.bootstrap_mc_error, max_resamples=s.bootstrap_max_resamples)
        ranks[v] = rank_test(vt["revenue"], ctrl["revenue"])
        cup[v] = cuped(pair["revenue"], pair["pre_revenue"], tr, s.alpha, group=v, control=control)
        reg[v] = regression_adjusted(pair["revenue"], tr, pair[COVARIATES], s.alpha, group=v, control=control)
        segs[v] = {m: segment_effects(pair, m, group=v, control=control, by=segment_col, alpha=s.alpha,
                                      correction=s.correction, min_per_group=s.min_per_group,
                                      exact_below=s.exact_below) for m in ("converted", "revenue")}
        inter[v] = {m: interaction_test(pair[m], tr, pair[segment_col], metric=m, group=v,
                                        min_per_group=s.min_per_group) for m in ("converted", "revenue")}
        guard[v] = [_guardrail(pair, g, v, control, s.alpha) for g in guardrails]
        if data.has_cost:
            rois[v] = roi(overall_effect(overall, "revenue", v), float(vt["cost_per_contact"].fillna(0).sum()), s.margin)
    power = power_plan(cust, control=control, by=segment_col, alpha=s.alpha, power=s.power)
    return CampaignReport(settings=s, control=control, variants=list(variants), srm=srm, segment_srm=seg_srm,
                          overall=overall, groups=group_stats(cust, data.groups, list(METRICS)), bootstrap=boot,
                          ranks=ranks, cuped=cup, regression=reg, segments=segs, interaction=inter, guardrails=guard,
                          power=power, roi=rois, capping=capping)


def overall_effect(overall: Mapping[str, list[Effect]], metric: str, variant: str) -> Effect:
    return next(e for e in overall[metric] if e.group == variant)
