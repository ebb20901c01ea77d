"""Statistics for campaign A/B tests (treatment vs control, or several variants vs control).

All computations call scipy / statsmodels; this module only arranges inputs and outputs:

* :func:`srm_check` - sample-ratio mismatch, chi-square goodness of fit against the planned
  split (``scipy.stats.chisquare``). Check it first: a failed SRM check means the groups
  were not formed as planned, and every other number is suspect.
* :func:`conversion_effect` - difference and relative lift in conversion with Wald / log
  ratio confidence intervals (``statsmodels ... confint_proportions_2indep``) and the pooled
  two-proportion z-test (``proportions_ztest``).
* :func:`mean_effect` - Welch t-test and its interval (``scipy.stats.ttest_ind``) for
  revenue or orders per customer; :func:`bootstrap_diff` - a seeded percentile bootstrap
  interval (``scipy.stats.bootstrap``); :func:`rank_test` - Mann-Whitney U.
* :func:`cuped` and :func:`regression_adjusted` - variance reduction with pre-period
  covariates (CUPED with pre-period revenue; OLS with treatment-covariate interactions and
  HC2 robust standard errors, Lin 2013), reporting the variance reduction achieved.
* :func:`segment_effects` / :func:`compare_variants` - effects per RFM segment or per
  variant with Holm or Benjamini-Hochberg correction (``multipletests``).
* :func:`power_plan` - minimum detectable effect and sample size per segment for the next
  campaign (``statsmodels.stats.power``).
* :func:`roi` - incremental revenue and return on campaign cost, with intervals.
* :func:`describe_effect` - the plain-language sentence for stakeholders, which never
  claims an effect the numbers do not support.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

__all__ = [
    "SRMResult", "Effect", "srm_check", "conversion_effect", "mean_effect", "bootstrap_diff",
    "rank_test", "cuped", "regression_adjusted", "segment_effects", "compare_variants",
    "power_plan", "roi", "describe_effect", "describe_srm", "analyse_campaign", "CampaignReport",
    "effects_frame", "METRICS", "overall_table", "revenue_methods_table", "segment_table", "power_table", "format_value", "format_p",
]

#: Outcome column -> (stakeholder name, unit kind). Conversion is a 0/1 outcome.
METRICS = {
    "converted": ("conversion", "points"),
    "revenue": ("revenue per customer", "money"),
    "orders": ("orders per customer", "count"),
}


# ----------------------------------------------------------------------------------------
# Sample ratio mismatch
# ----------------------------------------------------------------------------------------

@dataclass
class SRMResult:
    """Outcome of the sample-ratio-mismatch check."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    threshold: float

    @property
    def passed(self) -> bool:
        """True when the group sizes are compatible with the planned split."""
        return bool(self.p_value >= self.threshold)


def srm_check(counts: Mapping[str, int], planned: Mapping[str, float], threshold: float = 0.001) -> SRMResult:
    """Chi-square test of the observed group sizes against the planned shares.

    ``threshold`` is deliberately strict (0.001, the usual choice for SRM alarms): with
    thousands of customers even small mismatches are detectable and a failure is a strong
    signal that assignment or data collection went wrong.
    """
    names = list(planned)
    obs = np.array([int(counts.get(g, 0)) for g in names], dtype=float)
    shares = np.array([float(planned[g]) for g in names], dtype=float)
    exp = shares / shares.sum() * obs.sum()
    res = stats.chisquare(obs, exp)
    return SRMResult(observed=dict(zip(names, obs.astype(int).tolist())),
                     expected=dict(zip(names, exp.tolist())),
                     statistic=float(res.statistic), p_value=float(res.pvalue), threshold=threshold)


# ----------------------------------------------------------------------------------------
# Effects
# ----------------------------------------------------------------------------------------

@dataclass
class Effect:
    """One treated-vs-control comparison of one metric (difference = treated - control)."""

    metric: str
    group: str
    control: str
    n_t: int
    n_c: int
    mean_t: float
    mean_c: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    alpha: float
    rel_lift: float = float("nan")
    rel_ci_low: float = float("nan")
    rel_ci_high: float = float("nan")
    p_adjusted: float | None = None
    n_comparisons: int = 1
    segment: str | None = None

    @property
    def p_decision(self) -> float:
        """The p-value decisions use: the adjusted one when there is one."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def significant(self) -> bool:
        """Whether the (adjusted) p-value is below alpha."""
        return bool(np.isfinite(self.p_decision) and self.p_decision < self.alpha)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for tables and summary.json)."""
        d = asdict(self)
        d["significant"] = self.significant
        return d


def conversion_effect(converted_t: Sequence[int], converted_c: Sequence[int], alpha: float = 0.05,
                      *, group: str = "treatment", control: str = "control") -> Effect:
    """Conversion difference (Wald CI), relative lift (log-ratio CI) and pooled z-test p-value."""
    t = np.asarray(converted_t, dtype=float)
    c = np.asarray(converted_c, dtype=float)
    x_t, n_t, x_c, n_c = int(t.sum()), len(t), int(c.sum()), len(c)
    if n_t == 0 or n_c == 0:
        raise ValueError("both groups need customers")
    p_t, p_c = x_t / n_t, x_c / n_c
    if 0 < x_t + x_c < n_t + n_c:
        _, p = proportions_ztest([x_t, x_c], [n_t, n_c], alternative="two-sided")
    else:  # nobody or everybody converted: no variation, no evidence of a difference
        p = 1.0
    if (0 < x_t < n_t) or (0 < x_c < n_c):
        lo, hi = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff", alpha=alpha)
    else:
        lo = hi = p_t - p_c
    rel = rl = rh = float("nan")
    if x_c > 0 and x_t > 0:
        rel = p_t / p_c - 1
        rlo, rhi = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="log", compare="ratio", alpha=alpha)
        rl, rh = rlo - 1, rhi - 1
    return Effect("converted", group, control, n_t, n_c, p_t, p_c, p_t - p_c, float(lo), float(hi),
                  float(p), "two-proportion z-test", alpha, float(rel), float(rl), float(rh))


def mean_effect(y_t: Sequence[float], y_c: Sequence[float], alpha: float = 0.05, *, metric: str = "revenue",
                group: str = "treatment", control: str = "control") -> Effect:
    """Difference in means with the Welch t-test and its confidence interval."""
    t = np.asarray(y_t, dtype=float)
    c = np.asarray(y_c, dtype=float)
    if len(t) < 2 or len(c) < 2:
        raise ValueError("each group needs at least 2 customers")
    diff = float(t.mean() - c.mean())
    if t.var(ddof=1) + c.var(ddof=1) == 0:
        lo = hi = diff
        p = 1.0 if diff == 0 else 0.0
    else:
        res = stats.ttest_ind(t, c, equal_var=False)
        ci = res.confidence_interval(confidence_level=1 - alpha)
        lo, hi, p = float(ci.low), float(ci.high), float(res.pvalue)
    rel = diff / c.mean() if c.mean() != 0 else float("nan")
    return Effect(metric, group, control, len(t), len(c), float(t.mean()), float(c.mean()), diff, lo, hi, p,
                  "Welch t-test", alpha, float(rel))


def bootstrap_diff(y_t: Sequence[float], y_c: Sequence[float], alpha: float = 0.05, *,
                   n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Seeded percentile bootstrap interval for the difference in means (``scipy.stats.bootstrap``,
    groups resampled independently)."""
    t = np.asarray(y_t, dtype=float)
    c = np.asarray(y_c, dtype=float)

    def diff(a, b, axis=-1):
        return a.mean(axis=axis) - b.mean(axis=axis)

    res = stats.bootstrap((t, c), diff, n_resamples=n_resamples, confidence_level=1 - alpha,
                          method="percentile", vectorized=True, paired=False,
                          batch=max(1, 4_000_000 // max(len(t), len(c), 1)),
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def rank_test(y_t: Sequence[float], y_c: Sequence[float]) -> dict[str, float]:
    """Mann-Whitney U test (two-sided) and the probability that a random treated customer
    outranks a random control customer (ties count half)."""
    t = np.asarray(y_t, dtype=float)
    c = np.asarray(y_c, dtype=float)
    res = stats.mannwhitneyu(t, c, alternative="two-sided")
    return {"u": float(res.statistic), "p_value": float(res.pvalue),
            "prob_superiority": float(res.statistic / (len(t) * len(c)))}


# ----------------------------------------------------------------------------------------
# Variance reduction
# ----------------------------------------------------------------------------------------

def cuped(y: Sequence[float], x: Sequence[float], treated: Sequence[bool], alpha: float = 0.05, *,
          metric: str = "revenue", group: str = "treatment", control: str = "control") -> dict[str, Any]:
    """CUPED: compare ``y - theta * (x - mean(x))`` between groups, with ``theta`` the pooled
    regression slope of ``y`` on the pre-period covariate ``x`` (``scipy.stats.linregress``).

    Returns the adjusted :class:`Effect` (Welch on the adjusted outcome), ``theta`` and
    ``variance_reduction`` = 1 - Var(adjusted estimate) / Var(unadjusted estimate).
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    tr = np.asarray(treated, dtype=bool)
    theta = float(stats.linregress(x, y).slope) if np.var(x) > 0 else 0.0
    y_adj = y - theta * (x - x.mean())
    raw = mean_effect(y[tr], y[~tr], alpha, metric=metric, group=group, control=control)
    adj = mean_effect(y_adj[tr], y_adj[~tr], alpha, metric=metric, group=group, control=control)
    adj.test = "CUPED (Welch on adjusted outcome)"
    se_raw, se_adj = _welch_se(y[tr], y[~tr]), _welch_se(y_adj[tr], y_adj[~tr])
    return {"effect": adj, "raw": raw, "theta": theta, "variance_reduction": float(1 - (se_adj / se_raw) ** 2),
            "se_raw": se_raw, "se_adjusted": se_adj}


def _welch_se(t: np.ndarray, c: np.ndarray) -> float:
    """Standard error of a difference in means with unequal variances (Welch / Neyman)."""
    return float(np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)))


def regression_adjusted(y: Sequence[float], treated: Sequence[bool], covariates: pd.DataFrame,
                        alpha: float = 0.05, *, metric: str = "revenue", group: str = "treatment",
                        control: str = "control", cov_type: str = "HC2") -> dict[str, Any]:
    """Regression adjustment: OLS of ``y`` on treatment, centred covariates and their
    interactions with treatment (Lin's estimator), robust (HC2) standard errors.

    Returns the :class:`Effect` (coefficient of treatment), the fitted statsmodels result and
    ``variance_reduction`` = 1 - SE(adjusted)^2 / SE(unadjusted)^2, where the unadjusted SE
    comes from the same OLS without covariates (HC2, i.e. the Neyman variance).
    """
    # the OLS class only: ``statsmodels.api`` imports every model family (~1 s)
    from statsmodels.regression.linear_model import OLS

    y = np.asarray(y, dtype=float)
    tr = np.asarray(treated, dtype=float)
    X = covariates.astype(float).to_numpy()
    X = X - X.mean(axis=0)
    keep = X.std(axis=0) > 0
    X = X[:, keep]
    names = [str(c) for c, k in zip(covariates.columns, keep) if k]
    design = np.column_stack([np.ones_like(y), tr, X, X * tr[:, None]])
    fit = OLS(y, design).fit(cov_type=cov_type)
    base = OLS(y, np.column_stack([np.ones_like(y), tr])).fit(cov_type=cov_type)
    lo, hi = fit.conf_int(alpha=alpha)[1]
    mt, mc = y[tr == 1].mean(), y[tr == 0].mean()
    eff = Effect(metric, group, control, int(tr.sum()), int((1 - tr).sum()), float(mt), float(mc),
                 float(fit.params[1]), float(lo), float(hi), float(fit.pvalues[1]),
                 f"OLS with pre-period covariates ({', '.join(names)}), {cov_type} SE", alpha,
                 float(fit.params[1] / mc) if mc else float("nan"))
    return {"effect": eff, "fit": fit, "covariates": names,
            "variance_reduction": float(1 - fit.bse[1] ** 2 / base.bse[1] ** 2),
            "se_raw": float(base.bse[1]), "se_adjusted": float(fit.bse[1])}


# ----------------------------------------------------------------------------------------
# Several comparisons
# ----------------------------------------------------------------------------------------

def _effect_for(metric: str, t: pd.Series, c: pd.Series, alpha: float, group: str, control: str) -> Effect:
    if metric == "converted":
        return conversion_effect(t, c, alpha, group=group, control=control)
    return mean_effect(t, c, alpha, metric=metric, group=group, control=control)


def _adjust(effects: list[Effect], correction: str) -> list[Effect]:
    ok = [e for e in effects if np.isfinite(e.p_value)]
    if ok:
        _, adj, _, _ = multipletests([e.p_value for e in ok], method=correction)
        for e, a in zip(ok, adj):
            e.p_adjusted = float(a)
            e.n_comparisons = len(ok)
    return effects


def segment_effects(customers: pd.DataFrame, metric: str = "converted", *, group: str = "treatment",
                    control: str = "control", by: str = "segment", alpha: float = 0.05,
                    correction: str = "holm", min_per_group: int = 20) -> list[Effect]:
    """Effect of ``group`` vs ``control`` on ``metric`` within each value of ``by`` (the RFM
    segment), with p-values adjusted across segments (``"holm"`` or ``"fdr_bh"``).

    Segments with fewer than ``min_per_group`` customers in either group are skipped (too
    small to say anything).
    """
    out = []
    for seg, part in customers.groupby(by, sort=True, observed=True):
        t = part.loc[part["group"] == group, metric]
        c = part.loc[part["group"] == control, metric]
        if len(t) < min_per_group or len(c) < min_per_group:
            continue
        e = _effect_for(metric, t, c, alpha, group, control)
        e.segment = str(seg)
        out.append(e)
    return _adjust(out, correction)


def compare_variants(customers: pd.DataFrame, metric: str, variants: Sequence[str], *,
                     control: str = "control", alpha: float = 0.05, correction: str = "holm") -> list[Effect]:
    """Each variant vs control on ``metric``, p-values adjusted across variants."""
    c = customers.loc[customers["group"] == control, metric]
    effects = [_effect_for(metric, customers.loc[customers["group"] == v, metric], c, alpha, v, control)
               for v in variants]
    if len(effects) > 1:
        _adjust(effects, correction)
    return effects


def effects_frame(effects: Sequence[Effect]) -> pd.DataFrame:
    """Effects as a table (one row each)."""
    return pd.DataFrame([e.as_dict() for e in effects])


# ----------------------------------------------------------------------------------------
# Planning and money
# ----------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------
# Words
# ----------------------------------------------------------------------------------------

_TEXT = {
    "en": {
        "srm_fail": ("Results {where}are not reliable: the group sizes ({observed}) differ from the planned "
                     "split more than chance allows (sample-ratio mismatch, {p}). Check how customers "
                     "were assigned and whether some sends or purchases are missing before using any result."),
        "srm_ok": "Group sizes match the planned split (sample-ratio check {p}).",
        "up": "raised", "down": "lowered",
        "sig": "The campaign {verb} {metric}{where} by {size} (from {base} to {treated}; {conf}% CI {lo} to {hi}{corr}).",
        "ns": ("No evidence that the campaign changed {metric}{where}: the difference was {size} "
               "({conf}% CI {lo} to {hi}{corr}), which is compatible with no effect."),
        "ns_corr": ("No reliable evidence that the campaign changed {metric}{where}: the difference was {size} "
                    "({conf}% CI {lo} to {hi}), but after correcting for {k} comparisons it could be chance{corr}."),
        "in": " in {seg}", "points": "{x} points", "corr": "; {p}, corrected for {k} comparisons",
        "p": "; {p}", "for": "for {seg} ",
    },
    "ru": {
        "srm_fail": ("Результаты {where}ненадёжны: размеры групп ({observed}) отличаются от плана сильнее, "
                     "чем допускает случайность (несоответствие долей групп, {p}). Проверьте распределение "
                     "клиентов по группам и полноту данных, прежде чем использовать выводы."),
        "srm_ok": "Размеры групп соответствуют плану (проверка долей, {p}).",
        "up": "повысила", "down": "снизила",
        "sig": "Кампания {verb} показатель «{metric}»{where} на {size} (с {base} до {treated}; {conf}% ДИ от {lo} до {hi}{corr}).",
        "ns": ("Нет свидетельств, что кампания изменила показатель «{metric}»{where}: разница {size} "
               "({conf}% ДИ от {lo} до {hi}{corr}), что совместимо с отсутствием эффекта."),
        "ns_corr": ("Нет надёжных свидетельств, что кампания изменила показатель «{metric}»{where}: разница {size} "
                    "({conf}% ДИ от {lo} до {hi}), но с поправкой на {k} сравнений она может быть случайной{corr}."),
        "in": " в сегменте «{seg}»", "points": "{x} п.п.", "corr": "; {p} с поправкой на {k} сравнений",
        "p": "; {p}", "for": "для «{seg}» ",
    },
}
_METRIC_RU = {"converted": "конверсия", "revenue": "выручка на клиента", "orders": "заказы на клиента"}


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _fmt_value(x: float, kind: str, signed: bool = False, currency: str = "$") -> str:
    sign = "+" if signed and x > 0 else ("−" if x < 0 else "")
    ax = abs(x)
    if kind == "points":
        return f"{sign}{100 * ax:.1f}"
    if kind == "rate":
        return f"{100 * ax:.1f}%"
    if kind == "money":
        return f"{sign}{currency}{ax:,.0f}" if ax >= 1000 else f"{sign}{currency}{ax:,.2f}"
    return f"{sign}{ax:,.3f}"


def describe_srm(srm: SRMResult, *, segment: str | None = None, language: str = "en") -> str:
    """One sentence on the sample-ratio check (a warning when it failed)."""
    T = _TEXT[language]
    if srm.passed:
        return T["srm_ok"].format(p=_fmt_p(srm.p_value))
    observed = ", ".join(f"{g}: {n:,}" for g, n in srm.observed.items())
    where = T["for"].format(seg=segment) if segment else ""
    return T["srm_fail"].format(where=where, observed=observed, p=_fmt_p(srm.p_value))


def describe_effect(effect: Effect, *, srm_passed: bool = True, srm: SRMResult | None = None,
                    language: str = "en", currency: str = "$") -> str:
    """Plain-language sentence for one effect.

    * SRM failed: says the result is not reliable and gives no effect claim at all.
    * (Adjusted) p-value below alpha **and** the interval excludes zero: "raised/lowered
      ... by X (CI ...)".
    * Otherwise: "no evidence ..." with the interval, mentioning the correction when the
      raw interval alone would have excluded zero.
    """
    T = _TEXT[language]
    if srm is not None:
        srm_passed = srm.passed
    if not srm_passed:
        if srm is not None:
            return describe_srm(srm, segment=effect.segment, language=language)
        where = T["for"].format(seg=effect.segment) if effect.segment else ""
        return T["srm_fail"].format(where=where, observed="n/a", p="p = n/a")
    name, kind = METRICS.get(effect.metric, (effect.metric, "count"))
    if language == "ru":
        name = _METRIC_RU.get(effect.metric, name)
    where = T["in"].format(seg=effect.segment) if effect.segment else ""
    conf = f"{100 * (1 - effect.alpha):g}"

    def v(x, signed=False):
        return _fmt_value(x, kind, signed, currency)

    if kind == "points":
        size_signed = T["points"].format(x=_fmt_value(effect.diff, "points", True))
        size_abs = T["points"].format(x=_fmt_value(abs(effect.diff), "points"))
        lo, hi = _fmt_value(effect.ci_low, "points", True), _fmt_value(effect.ci_high, "points", True)
        base, treated = _fmt_value(effect.mean_c, "rate"), _fmt_value(effect.mean_t, "rate")
    else:
        size_signed, size_abs = v(effect.diff, True), v(abs(effect.diff))
        lo, hi = v(effect.ci_low, True), v(effect.ci_high, True)
        base, treated = v(effect.mean_c), v(effect.mean_t)
    corr = (T["corr"].format(p=_fmt_p(effect.p_adjusted), k=effect.n_comparisons)
            if effect.p_adjusted is not None and effect.n_comparisons > 1 else T["p"].format(p=_fmt_p(effect.p_value)))
    excludes_zero = effect.ci_low > 0 or effect.ci_high < 0
    if effect.significant and excludes_zero:
        verb = T["up"] if effect.diff > 0 else T["down"]
        return T["sig"].format(verb=verb, metric=name, where=where, size=size_abs, base=base, treated=treated,
                               conf=conf, lo=lo, hi=hi, corr=corr)
    if excludes_zero and effect.p_adjusted is not None and effect.n_comparisons > 1:
        return T["ns_corr"].format(metric=name, where=where, size=size_signed, conf=conf, lo=lo, hi=hi,
                                   k=effect.n_comparisons, corr=corr)
    return T["ns"].format(metric=name, where=where, size=size_signed, conf=conf, lo=lo, hi=hi, corr=corr)


# ----------------------------------------------------------------------------------------
# Everything at once
# ----------------------------------------------------------------------------------------

@dataclass
class CampaignReport:
    """All results of :func:`analyse_campaign` (per variant where it applies)."""

    srm: SRMResult
    alpha: float
    overall: dict[str, list[Effect]]            # metric -> one Effect per variant
    bootstrap: dict[str, tuple[float, float]]   # variant -> revenue bootstrap CI
    ranks: dict[str, dict[str, float]]          # variant -> Mann-Whitney on revenue
    cuped: dict[str, dict[str, Any]]            # variant -> CUPED on revenue
    regression: dict[str, dict[str, Any]]       # variant -> regression adjustment on revenue
    segments: dict[str, dict[str, list[Effect]]]  # variant -> metric -> per-segment effects
    segment_srm: dict[str, SRMResult]
    power: pd.DataFrame
    roi: dict[str, dict[str, float]] = field(default_factory=dict)

    def srm_for(self, segment: str | None) -> SRMResult:
        """The sample-ratio check that governs a segment's result: the overall check when it
        failed (then nothing is reliable), else the segment's own check."""
        if not self.srm.passed or segment is None:
            return self.srm
        return self.segment_srm.get(str(segment), self.srm)


#: Pre-period covariates used by the regression adjustment.
COVARIATES = ["pre_revenue", "pre_orders", "monetary", "frequency", "recency_days"]


def analyse_campaign(data: Any, *, alpha: float = 0.05, correction: str = "holm", n_boot: int = 2000,
                     seed: int = 0, srm_threshold: float = 0.001, margin: float = 1.0,
                     segment_col: str = "segment_label") -> CampaignReport:
    """Run every analysis on a :class:`rfm_helpers.campaign.CampaignData`."""
    cust = data.customers
    control = data.control
    variants = data.variants
    srm = srm_check(data.counts().to_dict(), data.planned_split, srm_threshold)
    overall = {m: compare_variants(cust, m, variants, control=control, alpha=alpha, correction=correction)
               for m in METRICS}
    boot, ranks, cup, reg, segs, rois = {}, {}, {}, {}, {}, {}
    ctrl = cust.loc[cust["group"] == control]
    seg_srm = {}
    for seg, part in cust.groupby(segment_col, sort=True, observed=True):
        seg_srm[str(seg)] = srm_check(part["group"].value_counts().to_dict(), data.planned_split, srm_threshold)
    for v in variants:
        vt = cust.loc[cust["group"] == v]
        pair = pd.concat([vt, ctrl], ignore_index=True)
        tr = (pair["group"] == v).to_numpy()
        boot[v] = bootstrap_diff(vt["revenue"], ctrl["revenue"], alpha, n_resamples=n_boot, seed=seed)
        ranks[v] = rank_test(vt["revenue"], ctrl["revenue"])
        cup[v] = cuped(pair["revenue"], pair["pre_revenue"], tr, alpha, group=v, control=control)
        reg[v] = regression_adjusted(pair["revenue"], tr, pair[COVARIATES], alpha, group=v, control=control)
        segs[v] = {m: segment_effects(pair, m, group=v, control=control, by=segment_col, alpha=alpha,
                                      correction=correction) for m in ("converted", "revenue")}
        if data.has_cost:
            rev = next(e for e in overall["revenue"] if e.group == v)
            rois[v] = roi(rev, float(vt["cost_per_contact"].fillna(0).sum()), margin)
    power = power_plan(cust, control=control, by=segment_col, alpha=alpha)
    return CampaignReport(srm=srm, alpha=alpha, overall=overall, bootstrap=boot, ranks=ranks, cuped=cup,
                          regression=reg, segments=segs, segment_srm=seg_srm, power=power, roi=rois)


# ----------------------------------------------------------------------------------------
# Tables for the report (aggregates only)
# ----------------------------------------------------------------------------------------

def _ci_text(lo: float, hi: float, kind: str, currency: str = "$") -> str:
    return f"{_fmt_value(lo, kind, True, currency)} to {_fmt_value(hi, kind, True, currency)}"


def overall_table(report: CampaignReport, currency: str = "$") -> pd.DataFrame:
    """One row per variant and metric: control and treated means, difference, interval, p-values."""
    rows = []
    for metric, effects in report.overall.items():
        name, kind = METRICS[metric]
        for e in effects:
            k = "rate" if kind == "points" else kind
            rows.append({"variant": e.group, "measure": name,
                         "control": _fmt_value(e.mean_c, k, currency=currency),
                         "treated": _fmt_value(e.mean_t, k, currency=currency),
                         "difference": (_fmt_value(e.diff, kind, True, currency) + (" pts" if kind == "points" else "")),
                         f"{100 * (1 - e.alpha):g}% CI": _ci_text(e.ci_low, e.ci_high, kind, currency),
                         "relative lift": "" if not np.isfinite(e.rel_lift) else f"{100 * e.rel_lift:+.1f}%",
                         "test": e.test, "p-value": _fmt_p(e.p_value).replace("p = ", "").replace("p ", ""),
                         "significant": "yes" if e.significant else "no"})
    return pd.DataFrame(rows)


def revenue_methods_table(report: CampaignReport, currency: str = "$") -> pd.DataFrame:
    """Revenue per customer by four methods per variant: Welch, bootstrap, CUPED, regression
    (with the variance reduction achieved), plus the Mann-Whitney rank test."""
    rows = []
    for e in report.overall["revenue"]:
        v = e.group
        lo, hi = report.bootstrap[v]
        cu, rg = report.cuped[v], report.regression[v]
        for method, diff, a, b, p, vr in [
            ("Welch t-test (plain difference)", e.diff, e.ci_low, e.ci_high, e.p_value, None),
            ("bootstrap (percentile, seeded)", e.diff, lo, hi, None, None),
            ("CUPED with pre-period revenue", cu["effect"].diff, cu["effect"].ci_low, cu["effect"].ci_high,
             cu["effect"].p_value, cu["variance_reduction"]),
            ("regression on pre-period RFM (HC2)", rg["effect"].diff, rg["effect"].ci_low, rg["effect"].ci_high,
             rg["effect"].p_value, rg["variance_reduction"]),
        ]:
            rows.append({"variant": v, "method": method, "difference": _fmt_value(diff, "money", True, currency),
                         f"{100 * (1 - e.alpha):g}% CI": _ci_text(a, b, "money", currency),
                         "p-value": "" if p is None else _fmt_p(p).replace("p = ", "").replace("p ", ""),
                         "variance reduction": "" if vr is None else f"{100 * vr:.1f}%"})
        r = report.ranks[v]
        rows.append({"variant": v, "method": "Mann-Whitney rank test", "difference": "",
                     f"{100 * (1 - e.alpha):g}% CI": f"P(treated > control) = {r['prob_superiority']:.3f}",
                     "p-value": _fmt_p(r["p_value"]).replace("p = ", "").replace("p ", ""),
                     "variance reduction": ""})
    return pd.DataFrame(rows)


def segment_table(effects: Sequence[Effect], currency: str = "$") -> pd.DataFrame:
    """Per-segment effects with raw and adjusted p-values."""
    rows = []
    for e in effects:
        kind = METRICS[e.metric][1]
        k = "rate" if kind == "points" else kind
        rows.append({"segment": e.segment, "treated customers": e.n_t, "control customers": e.n_c,
                     "control": _fmt_value(e.mean_c, k, currency=currency),
                     "treated": _fmt_value(e.mean_t, k, currency=currency),
                     "difference": _fmt_value(e.diff, kind, True, currency) + (" pts" if kind == "points" else ""),
                     f"{100 * (1 - e.alpha):g}% CI": _ci_text(e.ci_low, e.ci_high, kind, currency),
                     "p-value": _fmt_p(e.p_value).replace("p = ", "").replace("p ", ""),
                     "adjusted p": "" if e.p_adjusted is None else _fmt_p(e.p_adjusted).replace("p = ", "").replace("p ", ""),
                     "significant": "yes" if e.significant else "no"})
    return pd.DataFrame(rows)


def power_table(power: pd.DataFrame, by: str = "segment_label", currency: str = "$") -> pd.DataFrame:
    """The planning table in stakeholder units."""
    if power.empty:
        return power
    return pd.DataFrame({
        "segment": power[by], "customers": power["customers"],
        "baseline conversion": [f"{100 * x:.1f}%" for x in power["baseline_conversion"]],
        "smallest detectable lift": [f"+{100 * x:.1f} pts" for x in power["mde_conversion"]],
        "smallest detectable revenue change": [_fmt_value(x, "money", True, currency) for x in power["mde_revenue"]],
        "customers per group for +1 pt": power["n_per_group_for_target"],
    })


def format_value(x: float, kind: str, signed: bool = False, currency: str = "$") -> str:
    """Format a number for stakeholder text: ``kind`` is ``"points"`` (0.031 -> ``3.1``),
    ``"rate"`` (``3.1%``), ``"money"`` (``+$1.50`` / ``−$2.00``) or ``"count"``."""
    return _fmt_value(x, kind, signed, currency)


def format_p(p: float) -> str:
    """``"p < 0.001"`` or ``"p = 0.047"``."""
    return _fmt_p(p)


# ----------------------------------------------------------------------------------------
# Report texts (notebook 04)
# ----------------------------------------------------------------------------------------
#: Fixed texts of the campaign report (captions, sentences written by code cells, column
#: headers, fixed table values, summary labels) in English and Russian; see :func:`report_text`.
_REPORT_TEXT = {
    "en": {
        "params_caption": "Parameters of this run",
        "window": ("Send date <b>{send}</b>; outcomes are purchases from {send} to <b>{end}</b> ({days} days). "
                   "The data run to {last}, so the whole window is observed."),
        "note": "<b>Note:</b> {msg}",
        "excluded_written": ("The excluded customers are listed in the exports folder "
                             "(campaign_excluded_customers.csv)."),
        "counts_caption": "Customers analysed per group",
        "srm_warning": "<b style='color:#b00020'>WARNING — SAMPLE-RATIO MISMATCH.</b> {msg}",
        "overall_caption": "Effect of the campaign, all customers",
        "methods_caption": "Revenue per customer: difference by method",
        "variance": ("Adjusting for pre-period behaviour reduced the variance of the revenue estimate by <b>{cu}</b> "
                     "(CUPED, pre-period revenue) and <b>{rg}</b> (regression on pre-period RFM){vname}."),
        "for_variant": " for {v}",
        "adjusted_from": "The campaign", "adjusted_to": "After adjustment, the campaign",
        "forest_title": "{v}: {metric} by segment",
        "segment_caption": "{metric} by segment ({v} vs {control}, {correction} correction)",
        "segment_srm": ("<b style='color:#b00020'>Warning:</b> group sizes differ from the plan within {segs}; "
                        "results there are not reliable."),
        "roi": ("Incremental revenue{vname}: <b>{inc}</b> (95% CI {lo} to {hi}) for a campaign cost of {cost}; "
                "return on cost {roi} (CI {rlo} to {rhi}){m}."),
        "roi_variant": " ({v})", "roi_margin": ", at a {m}% margin",
        "roi_unsure": "The interval for the return includes zero: the campaign may or may not have paid for itself.",
        "no_cost": "No cost per contact was given in the campaign file, so return on cost is not computed.",
        "power_caption": "Detectable effects per segment (80% power)",
        "headline": ("Conversion: {c} points ({pc}); revenue per customer: {r} ({pr}); variance reduction {vr}. "
                     "Per-segment effect tables were written to the exports folder."),
        "metrics": {"converted": "conversion", "revenue": "revenue per customer", "orders": "orders per customer"},
        "summary": {"ab_srm_p": "Campaign: sample-ratio check p-value",
                    "ab_conversion_lift_pts": "Campaign: conversion lift, points ({v})",
                    "ab_conversion_p": "Campaign: conversion p-value",
                    "ab_revenue_diff": "Campaign: revenue per customer difference",
                    "ab_revenue_p": "Campaign: revenue p-value",
                    "ab_variance_reduction_cuped": "Campaign: variance reduction (CUPED)",
                    "ab_variance_reduction_regression": "Campaign: variance reduction (regression)"},
        "corrections": {"holm": "holm", "fdr_bh": "fdr_bh"},
        "demo_campaign": "demo campaign (generated)",
        "columns": {},
        "values": {},
    },
    "ru": {
        "params_caption": "Параметры запуска",
        "window": ("Дата рассылки — <b>{send}</b>; учитываются покупки с {send} по <b>{end}</b> (дней: {days}). "
                   "Данные доходят до {last}, поэтому всё окно наблюдения уже в данных."),
        "note": "<b>Примечание:</b> {msg}",
        "excluded_written": ("Исключённые клиенты перечислены в папке выгрузок "
                             "(campaign_excluded_customers.csv)."),
        "counts_caption": "Клиентов в анализе по группам",
        "srm_warning": "<b style='color:#b00020'>ВНИМАНИЕ — РАЗМЕРЫ ГРУПП НЕ СООТВЕТСТВУЮТ ПЛАНУ.</b> {msg}",
        "overall_caption": "Эффект кампании, все клиенты",
        "methods_caption": "Выручка на клиента: разница по разным методам",
        "variance": ("Учёт поведения клиентов до рассылки снизил дисперсию оценки выручки на <b>{cu}</b> "
                     "(CUPED по выручке до рассылки) и на <b>{rg}</b> (регрессия на RFM-показатели до рассылки){vname}."),
        "for_variant": " для варианта {v}",
        "adjusted_from": "Кампания", "adjusted_to": "С учётом поведения до рассылки кампания",
        "forest_title": "{v}: {metric} по сегментам",
        "segment_caption": "{metric} по сегментам ({v} против {control}, поправка {correction})",
        "segment_srm": ("<b style='color:#b00020'>Внимание:</b> размеры групп отличаются от плана в сегментах: {segs}; "
                        "результаты по ним ненадёжны."),
        "roi": ("Дополнительная выручка{vname}: <b>{inc}</b> (95% ДИ от {lo} до {hi}) при затратах на кампанию {cost}; "
                "окупаемость {roi} (ДИ от {rlo} до {rhi}){m}."),
        "roi_variant": " (вариант {v})", "roi_margin": " при марже {m}%",
        "roi_unsure": ("Доверительный интервал окупаемости включает ноль: кампания могла как окупиться, "
                       "так и не окупиться."),
        "no_cost": "В файле кампании не указана стоимость контакта, поэтому окупаемость не рассчитана.",
        "power_caption": "Обнаружимые эффекты по сегментам (мощность 80%)",
        "headline": ("Конверсия: {c} п.п. ({pc}); выручка на клиента: {r} ({pr}); снижение дисперсии {vr}. "
                     "Таблицы эффектов по сегментам записаны в папку выгрузок."),
        "metrics": {"converted": "конверсия", "revenue": "выручка на клиента", "orders": "заказы на клиента"},
        "summary": {"ab_srm_p": "Кампания: p-значение проверки размеров групп",
                    "ab_conversion_lift_pts": "Кампания: прирост конверсии, п.п. ({v})",
                    "ab_conversion_p": "Кампания: p-значение для конверсии",
                    "ab_revenue_diff": "Кампания: разница выручки на клиента",
                    "ab_revenue_p": "Кампания: p-значение для выручки",
                    "ab_variance_reduction_cuped": "Кампания: снижение дисперсии (CUPED)",
                    "ab_variance_reduction_regression": "Кампания: снижение дисперсии (регрессия)"},
        "corrections": {"holm": "Холма", "fdr_bh": "Бенджамини–Хохберга"},
        "demo_campaign": "демонстрационная кампания (сгенерирована)",
        "columns": {"group": "Группа", "customers": "Клиентов", "variant": "Вариант", "measure": "Показатель",
                    "control": "Контроль", "treated": "Рассылка", "difference": "Разница",
                    "relative lift": "Относительный прирост", "test": "Тест", "p-value": "p-значение",
                    "significant": "Значимо", "method": "Метод", "variance reduction": "Снижение дисперсии",
                    "segment": "Сегмент", "treated customers": "Клиентов с рассылкой",
                    "control customers": "Клиентов в контроле", "adjusted p": "Скорректированное p",
                    "baseline conversion": "Базовая конверсия",
                    "smallest detectable lift": "Минимальный обнаружимый прирост",
                    "smallest detectable revenue change": "Минимальное обнаружимое изменение выручки",
                    "customers per group for +1 pt": "Клиентов на группу для +1 п.п."},
        "values": {"yes": "да", "no": "нет", "conversion": "конверсия", "revenue per customer": "выручка на клиента",
                   "orders per customer": "заказы на клиента",
                   "Welch t-test (plain difference)": "t-тест Уэлча (простая разница)",
                   "bootstrap (percentile, seeded)": "бутстреп (перцентильный, с фиксированным seed)",
                   "CUPED with pre-period revenue": "CUPED по выручке до рассылки",
                   "regression on pre-period RFM (HC2)": "регрессия на RFM до рассылки (HC2)",
                   "Mann-Whitney rank test": "ранговый тест Манна–Уитни",
                   "two-proportion z-test": "z-тест для двух долей", "Welch t-test": "t-тест Уэлча"},
    },
}

# English tables keep their headers and values as written (same keys on both sides).
_REPORT_TEXT["en"]["columns"] = {k: k for k in _REPORT_TEXT["ru"]["columns"]}
_REPORT_TEXT["en"]["values"] = {k: k for k in _REPORT_TEXT["ru"]["values"]}


def report_text(language: str = "en") -> dict:
    """Fixed texts of notebook 04 in ``language`` (English when the language is unknown)."""
    return _REPORT_TEXT.get(language, _REPORT_TEXT["en"])


def _ru_cell(value):
    """A formatted table cell in Russian style: ``4 322``, ``+3,6 п.п.``, ``+$1,59 … +$2,54``."""
    from .display import number_style

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return number_style(f"{int(value):,}", "ru")
    if not isinstance(value, str):
        return value
    text = value.replace(" pts", " п.п.").replace(" to ", " … ")
    text = text.replace("P(treated > control)", "P(рассылка > контроль)")
    return number_style(text, "ru")


def number_style(values: Mapping[str, Any], language: str = "en") -> dict:
    """Formatted numbers for a report sentence (``{"inc": "+$17,333"}``) in ``language``'s
    number style: unchanged in English, ``+$17 333`` / ``35,4%`` in Russian."""
    return {k: _ru_cell(v) if language == "ru" else v for k, v in values.items()}


def table_view(df: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """A result table of this module with headers, fixed values (yes/no, method, test and
    measure names, ``pts``, ``95% CI``) and number style in ``language``; names from the data
    (groups, variants) are unchanged. English tables are returned as they are."""
    if language != "ru" or df.empty:
        return df
    t = report_text(language)
    shown = df.astype(object).replace(t["values"])
    for col in shown.columns:
        shown[col] = shown[col].map(_ru_cell)
    names = {c: t["columns"].get(c, c.replace("% CI", "% ДИ")) for c in shown.columns}
    return shown.rename(columns=names)
