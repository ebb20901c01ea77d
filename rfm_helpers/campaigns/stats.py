"""Statistics for campaign A/B tests (treatment vs control, or several variants vs control).

Every computation calls scipy / statsmodels; this module arranges inputs and outputs and
returns numbers, never sentences (the words are in ``rfm_helpers/report/texts/campaigns.py``).

* :func:`srm_check` - sample-ratio mismatch, chi-square against the planned split.
* :func:`conversion_effect` - difference (Wald CI) and relative lift (log-ratio CI) with the
  pooled z-test; :func:`exact_conversion_effect` - Boschloo's (or, for larger groups,
  Fisher's) exact test with the Newcombe hybrid-score interval, for few conversions.
* :func:`mean_effect` - Welch t-test and interval; :func:`bootstrap_interval` - a seeded
  percentile bootstrap whose number of resamples is chosen from a Monte-Carlo error target
  (and that reports the error reached; :func:`bootstrap_diff` is ``scipy.stats.bootstrap``
  with a fixed number); :func:`rank_test` - Mann-Whitney U.
* :func:`cuped` and :func:`regression_adjusted` - variance reduction with pre-period
  covariates (CUPED; OLS with treatment-covariate interactions and HC2 errors, Lin 2013).
* :func:`interaction_test` - does the effect differ between segments? OLS of the outcome on
  treatment, segment and treatment x segment with HC2 errors, and the joint Wald test of the
  interaction terms.
* :func:`segment_effects` / :func:`compare_variants` - effects per segment or per variant,
  Holm or Benjamini-Hochberg corrected; :func:`cap_values` - optional capping of extreme
  revenue at a pooled quantile.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

__all__ = ["METRICS", "COVARIATES", "SRMResult", "Effect", "BootstrapCI", "InteractionTest", "srm_check",
           "conversion_effect", "exact_conversion_effect", "mean_effect", "bootstrap_diff", "bootstrap_interval",
           "rank_test", "cuped", "regression_adjusted", "interaction_test", "segment_effects", "compare_variants",
           "effects_frame", "cap_values", "effect_for"]

#: Outcome column -> unit kind (``points``: a 0/1 outcome shown in percentage points).
METRICS = {"converted": "points", "revenue": "money", "orders": "count"}
#: Pre-period covariates of the regression adjustment.
COVARIATES = ["pre_revenue", "pre_orders", "monetary", "frequency", "recency_days"]


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

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def srm_check(counts: Mapping[str, int], planned: Mapping[str, float], threshold: float = 0.001) -> SRMResult:
    """Chi-square test of the observed group sizes against the planned shares (``threshold``
    0.001, the usual strict choice for SRM alarms)."""
    names = list(planned)
    obs = np.array([int(counts.get(g, 0)) for g in names], dtype=float)
    shares = np.array([float(planned[g]) for g in names], dtype=float)
    exp = shares / shares.sum() * obs.sum()
    res = stats.chisquare(obs, exp)
    return SRMResult(observed=dict(zip(names, obs.astype(int).tolist())), expected=dict(zip(names, exp.tolist())),
                     statistic=float(res.statistic), p_value=float(res.pvalue), threshold=threshold)


# ----------------------------------------------------------------------------------------
# Effects
# ----------------------------------------------------------------------------------------

@dataclass
class Effect:
    """One treated-vs-control comparison of one metric (difference = treated - control).

    ``test`` is a code: ``z`` (two-proportion z-test), ``boschloo`` / ``fisher`` (exact),
    ``welch``, ``cuped``, ``ols_hc2``."""

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
        """Plain dict (tables, JSON)."""
        d = asdict(self)
        d["significant"] = self.significant
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Effect":
        names = cls.__dataclass_fields__
        return cls(**{k: (float("nan") if v is None and k.startswith(("rel_", "ci_", "mean_", "diff")) else v)
                      for k, v in d.items() if k in names})


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
    rel, rl, rh = _relative(x_t, n_t, x_c, n_c, alpha)
    return Effect("converted", group, control, n_t, n_c, p_t, p_c, p_t - p_c, float(lo), float(hi),
                  float(p), "z", alpha, rel, rl, rh)


def _relative(x_t: int, n_t: int, x_c: int, n_c: int, alpha: float) -> tuple[float, float, float]:
    if x_c > 0 and x_t > 0:
        rlo, rhi = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="log", compare="ratio", alpha=alpha)
        return float((x_t / n_t) / (x_c / n_c) - 1), float(rlo - 1), float(rhi - 1)
    return float("nan"), float("nan"), float("nan")


#: Groups up to this size get Boschloo's exact test (its cost grows with n_t x n_c: 0.3 s at
#: 200 per group, 4 s at 500); larger ones Fisher's exact test.
BOSCHLOO_MAX_N = 300


def exact_conversion_effect(converted_t: Sequence[int], converted_c: Sequence[int], alpha: float = 0.05,
                            *, group: str = "treatment", control: str = "control") -> Effect:
    """Conversion difference for few conversions: the p-value of Boschloo's exact test
    (``scipy.stats.boschloo_exact``; Fisher's exact test, ``scipy.stats.fisher_exact``, when a
    group is larger than :data:`BOSCHLOO_MAX_N`) and the Newcombe hybrid-score interval, which
    keeps its coverage with few events (the Wald interval does not)."""
    t = np.asarray(converted_t, dtype=float)
    c = np.asarray(converted_c, dtype=float)
    x_t, n_t, x_c, n_c = int(t.sum()), len(t), int(c.sum()), len(c)
    if n_t == 0 or n_c == 0:
        raise ValueError("both groups need customers")
    table = [[x_t, x_c], [n_t - x_t, n_c - x_c]]
    if x_t + x_c in (0, n_t + n_c):
        p, test = 1.0, "fisher"
    elif max(n_t, n_c) <= BOSCHLOO_MAX_N:
        p, test = float(stats.boschloo_exact(table, alternative="two-sided").pvalue), "boschloo"
    else:
        p, test = float(stats.fisher_exact(table, alternative="two-sided").pvalue), "fisher"
    lo, hi = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="newcomb", compare="diff", alpha=alpha)
    rel, rl, rh = _relative(x_t, n_t, x_c, n_c, alpha)
    return Effect("converted", group, control, n_t, n_c, x_t / n_t, x_c / n_c, x_t / n_t - x_c / n_c,
                  float(lo), float(hi), min(p, 1.0), test, alpha, rel, rl, rh)


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
                  "welch", alpha, float(rel))


def _diff_of_means(a, b, axis=-1):
    return a.mean(axis=axis) - b.mean(axis=axis)


def _bootstrap(t: np.ndarray, c: np.ndarray, alpha: float, n: int, rng: np.random.Generator):
    return stats.bootstrap((t, c), _diff_of_means, n_resamples=n, confidence_level=1 - alpha,
                           method="percentile", vectorized=True, paired=False,
                           batch=max(1, 4_000_000 // max(len(t), len(c), 1)), rng=rng)


def bootstrap_diff(y_t: Sequence[float], y_c: Sequence[float], alpha: float = 0.05, *,
                   n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Seeded percentile bootstrap interval for the difference in means with a fixed number of
    resamples (``scipy.stats.bootstrap``, groups resampled independently)."""
    res = _bootstrap(np.asarray(y_t, float), np.asarray(y_c, float), alpha, n_resamples, np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass
class BootstrapCI:
    """A percentile bootstrap interval with its Monte-Carlo error.

    ``mc_error_low`` / ``mc_error_high``: the standard error of each end that comes from
    resampling alone (another seed would move the end by about this much), estimated from
    the order statistics around the quantile; ``target``: the error asked for, as a share of
    the interval's width."""

    low: float
    high: float
    resamples: int
    mc_error_low: float
    mc_error_high: float
    target: float
    seed: int

    @property
    def mc_error(self) -> float:
        return max(self.mc_error_low, self.mc_error_high)

    @property
    def reached(self) -> bool:
        """Whether the Monte-Carlo error is within the target."""
        width = self.high - self.low
        return bool(width <= 0 or self.mc_error <= self.target * width)


def _quantile_mc_error(dist: np.ndarray, p: float, z: float = 1.959963984540054) -> float:
    """Standard error of the ``p`` quantile of ``dist`` due to the finite number of draws: the
    distribution-free interval for a quantile (binomial order statistics) divided by 2z."""
    x = np.sort(dist[np.isfinite(dist)])
    b = len(x)
    m = z * np.sqrt(b * p * (1 - p))
    lo, hi = int(max(np.floor(b * p - m), 0)), int(min(np.ceil(b * p + m), b - 1))
    return float((x[hi] - x[lo]) / (2 * z))


def _resampled_means(y: np.ndarray, b: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``b`` resamples (with replacement, size ``len(y)``) of ``y``, drawn in an
    equivalent, cheaper way: how many of the ``n`` draws hit a non-zero value is
    Binomial(n, k/n), and those draws are uniform over the ``k`` non-zero values. The same
    distribution as resampling every value, in about k/n of the work (most customers spend
    nothing in an outcome window)."""
    n = len(y)
    nz = y[y != 0]
    k = len(nz)
    out = np.zeros(b)
    if k == 0:
        return out
    step = max(1, int(20_000_000 // k))
    for s in range(0, b, step):
        m = rng.binomial(n, k / n, size=min(step, b - s))
        draws = nz[rng.integers(0, k, size=int(m.sum()))]
        out[s:s + len(m)] = np.bincount(np.repeat(np.arange(len(m)), m), weights=draws, minlength=len(m)) / n
    return out


def bootstrap_interval(y_t: Sequence[float], y_c: Sequence[float], alpha: float = 0.05, *, seed: int = 0,
                       mc_error: float = 0.01, start: int = 5000, max_resamples: int = 50000) -> BootstrapCI:
    """Percentile bootstrap interval for the difference in means (groups resampled
    independently), with the number of resamples chosen so that the Monte-Carlo error of each
    end is at most ``mc_error`` times the interval's width (1 % by default), up to
    ``max_resamples``; the error reached is reported.

    Starts with ``start`` resamples; while the error is above target, adds the resamples the
    error's 1/sqrt(B) law says are needed, from one seeded random stream (reproducible). The
    percentiles are those of ``scipy.stats.bootstrap(method="percentile")`` (numpy's linear
    interpolation); the resampling is :func:`_resampled_means`."""
    t, c = np.asarray(y_t, float), np.asarray(y_c, float)
    rng = np.random.default_rng(seed)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    dist = _resampled_means(t, start, rng) - _resampled_means(c, start, rng)
    while True:
        low, high = np.percentile(dist, q)
        err = max(_quantile_mc_error(dist, alpha / 2), _quantile_mc_error(dist, 1 - alpha / 2))
        width, b = float(high - low), len(dist)
        if width <= 0 or err <= mc_error * width or b >= max_resamples:
            break
        need = int(np.ceil(b * (err / (mc_error * width)) ** 2 * 1.1))
        more = int(min(max_resamples - b, max(need - b, 1000)))
        dist = np.concatenate([dist, _resampled_means(t, more, rng) - _resampled_means(c, more, rng)])
    return BootstrapCI(float(low), float(high), len(dist), _quantile_mc_error(dist, alpha / 2),
                       _quantile_mc_error(dist, 1 - alpha / 2), mc_error, seed)


def rank_test(y_t: Sequence[float], y_c: Sequence[float]) -> dict[str, float]:
    """Mann-Whitney U test (two-sided) and the probability that a random treated customer
    outranks a random control customer (ties count half)."""
    t = np.asarray(y_t, dtype=float)
    c = np.asarray(y_c, dtype=float)
    res = stats.mannwhitneyu(t, c, alternative="two-sided")
    return {"u": float(res.statistic), "p_value": float(res.pvalue),
            "prob_superiority": float(res.statistic / (len(t) * len(c)))}


def cap_values(y: np.ndarray, quantile: float | None) -> tuple[np.ndarray, float | None, int]:
    """``y`` capped at its ``quantile`` (pooled over every group, so the same cap applies to
    all); returns the capped values, the cap and how many values were lowered. ``None``: no
    capping."""
    y = np.asarray(y, dtype=float)
    if quantile is None:
        return y, None, 0
    if not 0.5 <= quantile < 1:
        raise ValueError("the capping quantile must be in [0.5, 1), e.g. 0.99")
    cap = float(np.quantile(y, quantile))
    return np.minimum(y, cap), cap, int((y > cap).sum())


# ----------------------------------------------------------------------------------------
# Variance reduction
# ----------------------------------------------------------------------------------------

def cuped(y: Sequence[float], x: Sequence[float], treated: Sequence[bool], alpha: float = 0.05, *,
          metric: str = "revenue", group: str = "treatment", control: str = "control") -> dict[str, Any]:
    """CUPED: compare ``y - theta * (x - mean(x))`` between groups, ``theta`` the pooled slope of
    ``y`` on the pre-period covariate ``x`` (``scipy.stats.linregress``). Returns the adjusted
    :class:`Effect` (Welch on the adjusted outcome), ``theta`` and ``variance_reduction``."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    tr = np.asarray(treated, dtype=bool)
    theta = float(stats.linregress(x, y).slope) if np.var(x) > 0 else 0.0
    y_adj = y - theta * (x - x.mean())
    raw = mean_effect(y[tr], y[~tr], alpha, metric=metric, group=group, control=control)
    adj = mean_effect(y_adj[tr], y_adj[~tr], alpha, metric=metric, group=group, control=control)
    adj.test = "cuped"
    se_raw, se_adj = _welch_se(y[tr], y[~tr]), _welch_se(y_adj[tr], y_adj[~tr])
    vr = float(1 - (se_adj / se_raw) ** 2) if se_raw > 0 else 0.0
    return {"effect": adj, "raw": raw, "theta": theta, "variance_reduction": vr, "se_raw": se_raw,
            "se_adjusted": se_adj}


def _welch_se(t: np.ndarray, c: np.ndarray) -> float:
    """Standard error of a difference in means with unequal variances (Welch / Neyman)."""
    return float(np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)))


def regression_adjusted(y: Sequence[float], treated: Sequence[bool], covariates: pd.DataFrame,
                        alpha: float = 0.05, *, metric: str = "revenue", group: str = "treatment",
                        control: str = "control", cov_type: str = "HC2") -> dict[str, Any]:
    """Lin's estimator: OLS of ``y`` on treatment, centred covariates and their interactions with
    treatment, HC2 standard errors. Returns the :class:`Effect`, the fit, the covariates used
    and ``variance_reduction`` = 1 - SE(adjusted)^2 / SE(unadjusted)^2 (unadjusted: the same OLS
    without covariates, HC2, i.e. the Neyman variance)."""
    from statsmodels.regression.linear_model import OLS  # not statsmodels.api (imports every model, ~1 s)

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
                 float(fit.params[1]), float(lo), float(hi), float(fit.pvalues[1]), "ols_hc2", alpha,
                 float(fit.params[1] / mc) if mc else float("nan"))
    vr = float(1 - fit.bse[1] ** 2 / base.bse[1] ** 2) if base.bse[1] > 0 else 0.0
    return {"effect": eff, "fit": fit, "covariates": names, "variance_reduction": vr,
            "se_raw": float(base.bse[1]), "se_adjusted": float(fit.bse[1])}


# ----------------------------------------------------------------------------------------
# Does the effect differ between segments?
# ----------------------------------------------------------------------------------------

@dataclass
class InteractionTest:
    """Joint Wald test that the treatment effect is the same in every segment.

    Model: ``y ~ treated * C(segment)`` (OLS, HC2); the hypothesis: every treatment x segment
    coefficient is 0. ``statistic`` is chi-square with ``df`` degrees of freedom (``f_*`` the
    F form). ``effects``: the effect in each segment from the same model. ``dropped``: segments
    left out (``{segment: reason}``: ``small`` or ``no_variation``)."""

    metric: str
    group: str
    statistic: float
    df: int
    p_value: float
    f_statistic: float
    f_p_value: float
    segments: list[str]
    reference: str
    effects: dict[str, float]
    dropped: dict[str, str] = field(default_factory=dict)
    n: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def interaction_test(y: Sequence[float], treated: Sequence[bool], segment: Sequence[Any], *, metric: str = "revenue",
                     group: str = "treatment", cov_type: str = "HC2", min_per_group: int = 20,
                     min_events: int = 5) -> InteractionTest | None:
    """Treatment x segment interaction: OLS of ``y`` on an intercept, treatment, segment dummies
    and treatment x segment dummies (reference: the largest segment) with ``cov_type`` robust
    errors, and the joint Wald test that the interaction coefficients are all 0.

    Segments with fewer than ``min_per_group`` customers in a group are left out, and so are
    segments where the outcome does not vary within a group (for a 0/1 outcome: fewer than
    ``min_events`` conversions or non-conversions in a group), whose robust variance would be
    zero and make the test look more certain than it is. ``None`` when fewer than two segments
    remain."""
    from statsmodels.regression.linear_model import OLS

    y = np.asarray(y, dtype=float)
    tr = np.asarray(treated, dtype=bool)
    seg = pd.Series(np.asarray(segment, dtype=object)).astype(str).to_numpy()
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    dropped: dict[str, str] = {}
    kept: list[str] = []
    for s in sorted(set(seg)):
        m = seg == s
        yt, yc = y[m & tr], y[m & ~tr]
        if len(yt) < min_per_group or len(yc) < min_per_group:
            dropped[s] = "small"
        elif binary and min(yt.sum(), len(yt) - yt.sum(), yc.sum(), len(yc) - yc.sum()) < min_events:
            dropped[s] = "no_variation"
        elif yt.var() == 0 or yc.var() == 0:
            dropped[s] = "no_variation"
        else:
            kept.append(s)
    if len(kept) < 2:
        return None
    use = np.isin(seg, kept)
    y, tr, seg = y[use], tr[use].astype(float), seg[use]
    sizes = {s: int((seg == s).sum()) for s in kept}
    ref = max(kept, key=lambda s: (sizes[s], s))
    others = [s for s in kept if s != ref]
    dummies = np.column_stack([(seg == s).astype(float) for s in others])
    design = np.column_stack([np.ones_like(y), tr, dummies, dummies * tr[:, None]])
    fit = OLS(y, design).fit(cov_type=cov_type)
    k = len(others)
    R = np.zeros((k, design.shape[1]))
    R[:, 2 + k:] = np.eye(k)
    chi = fit.wald_test(R, use_f=False, scalar=True)
    f = fit.wald_test(R, use_f=True, scalar=True)
    effects = {ref: float(fit.params[1])}
    effects.update({s: float(fit.params[1] + fit.params[2 + k + i]) for i, s in enumerate(others)})
    return InteractionTest(metric, group, float(chi.statistic), k, float(chi.pvalue), float(f.statistic),
                           float(f.pvalue), kept, ref, effects, dropped, int(len(y)))


# ----------------------------------------------------------------------------------------
# Several comparisons
# ----------------------------------------------------------------------------------------

def _few_events(t: np.ndarray, c: np.ndarray, below: int) -> bool:
    return min(t.sum(), len(t) - t.sum(), c.sum(), len(c) - c.sum()) < below


def effect_for(metric: str, t: Sequence[float], c: Sequence[float], alpha: float, group: str, control: str,
               exact_below: int | None = None) -> Effect:
    """The effect of one metric: conversion (z-test, or the exact test when a group has fewer
    than ``exact_below`` conversions or non-conversions) or a mean (Welch)."""
    if metric == "converted":
        t_, c_ = np.asarray(t, float), np.asarray(c, float)
        if exact_below and _few_events(t_, c_, exact_below):
            return exact_conversion_effect(t_, c_, alpha, group=group, control=control)
        return conversion_effect(t_, c_, alpha, group=group, control=control)
    return mean_effect(t, c, alpha, metric=metric, group=group, control=control)


def _adjust(effects: list[Effect], correction: str) -> list[Effect]:
    ok = [e for e in effects if np.isfinite(e.p_value)]
    if ok:
        import gc

        # statsmodels' Holm correction calls gc.collect(), which walks every live object (a
        # campaign's population in pandas: about 0.3 s each call); frozen objects are skipped
        gc.freeze()
        try:
            _, adj, _, _ = multipletests([e.p_value for e in ok], method=correction)
        finally:
            gc.unfreeze()
        for e, a in zip(ok, adj):
            e.p_adjusted = float(a)
            e.n_comparisons = len(ok)
    return effects


def segment_effects(customers: pd.DataFrame, metric: str = "converted", *, group: str = "treatment",
                    control: str = "control", by: str = "segment", alpha: float = 0.05,
                    correction: str = "holm", min_per_group: int = 20, exact_below: int | None = 10) -> list[Effect]:
    """Effect of ``group`` vs ``control`` on ``metric`` within each value of ``by``, p-values
    adjusted across segments (``holm``, ``fdr_bh``...). Segments with fewer than
    ``min_per_group`` customers in a group are skipped; conversion in a segment with fewer
    than ``exact_below`` conversions (or non-conversions) in a group uses the exact test."""
    out = []
    for seg, part in customers.groupby(by, sort=True, observed=True):
        t = part.loc[part["group"] == group, metric]
        c = part.loc[part["group"] == control, metric]
        if len(t) < min_per_group or len(c) < min_per_group:
            continue
        e = effect_for(metric, t, c, alpha, group, control, exact_below)
        e.segment = str(seg)
        out.append(e)
    return _adjust(out, correction)


def compare_variants(customers: pd.DataFrame, metric: str, variants: Sequence[str], *,
                     control: str = "control", alpha: float = 0.05, correction: str = "holm") -> list[Effect]:
    """Each variant vs control on ``metric``, p-values adjusted across variants."""
    c = customers.loc[customers["group"] == control, metric]
    effects = [effect_for(metric, customers.loc[customers["group"] == v, metric], c, alpha, v, control)
               for v in variants]
    if len(effects) > 1:
        _adjust(effects, correction)
    return effects


def effects_frame(effects: Sequence[Effect]) -> pd.DataFrame:
    """Effects as a table (one row each)."""
    return pd.DataFrame([e.as_dict() for e in effects])
