"""The statistics added for decisions, each against an independent computation: the treatment x
segment interaction against statsmodels' formula OLS (HC2) and its Wald test, the exact tests
against scipy and the Newcombe interval against statsmodels, the bootstrap against
``scipy.stats.bootstrap`` and plain resampling (with its Monte-Carlo error checked across seeds),
the size a test needs against statsmodels' power, and revenue capping."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import confint_proportions_2indep

from rfm_helpers.campaigns import planning
from rfm_helpers.campaigns import stats as ab

RTOL = 1e-6


def _segmented(n=4000, seed=0, effects=(1.0, 3.0, 0.0), sizes=(0.5, 0.3, 0.2)):
    g = np.random.default_rng(seed)
    seg = g.choice(["big", "mid", "small"], n, p=list(sizes))
    tr = g.random(n) < 0.5
    eff = pd.Series(seg).map(dict(zip(["big", "mid", "small"], effects))).to_numpy()
    base = pd.Series(seg).map({"big": 5.0, "mid": 10.0, "small": 2.0}).to_numpy()
    y = base + eff * tr + g.gamma(1.0, 4.0, n) * (1 + tr * 0.3)  # unequal variances: HC2 matters
    return y, tr, seg


def test_interaction_test_matches_statsmodels_formula_ols_hc2():
    import statsmodels.formula.api as smf

    y, tr, seg = _segmented()
    res = ab.interaction_test(y, tr, seg, metric="revenue")
    assert res.reference == "big" and res.df == 2 and res.segments == ["big", "mid", "small"]
    data = pd.DataFrame({"y": y, "t": tr.astype(float), "seg": seg})
    fit = smf.ols("y ~ t * C(seg, Treatment(reference='big'))", data).fit(cov_type="HC2")
    names = [n for n in fit.params.index if n.startswith("t:")]
    assert len(names) == 2
    wald = fit.wald_test(", ".join(f"{n} = 0" for n in names), use_f=False, scalar=True)
    assert res.statistic == pytest.approx(float(wald.statistic), rel=RTOL)
    assert res.p_value == pytest.approx(float(wald.pvalue), rel=RTOL)
    f = fit.wald_test(", ".join(f"{n} = 0" for n in names), use_f=True, scalar=True)
    assert res.f_statistic == pytest.approx(float(f.statistic), rel=RTOL)
    # the per-segment effects of the model are the plain differences of means (saturated model)
    for s in res.segments:
        m = seg == s
        assert res.effects[s] == pytest.approx(y[m & tr].mean() - y[m & ~tr].mean(), rel=1e-9)
    assert res.p_value < 1e-6  # the effects really differ (1, 3 and 0)


def test_interaction_test_equals_the_closed_form_heterogeneity_test():
    """Without statsmodels: in the saturated model the HC2 variance of a cell mean is
    s^2 / n, so the Wald test is Cochran's Q of the per-segment Welch differences
    (weights 1 / (s_t^2/n_t + s_c^2/n_c)) against chi-square with k - 1 degrees of freedom."""
    y, tr, seg = _segmented(seed=5, effects=(1.0, 1.5, 0.5))
    d, w = [], []
    for s in ("big", "mid", "small"):
        t, c = y[(seg == s) & tr], y[(seg == s) & ~tr]
        d.append(t.mean() - c.mean())
        w.append(1 / (t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)))
    d, w = np.array(d), np.array(w)
    q = float((w * (d - (w * d).sum() / w.sum()) ** 2).sum())
    res = ab.interaction_test(y, tr, seg)
    assert res.statistic == pytest.approx(q, rel=1e-9)
    assert res.p_value == pytest.approx(stats.chi2.sf(q, 2), rel=1e-9)


def test_interaction_test_finds_nothing_when_the_effect_is_the_same_everywhere():
    rejections = 0
    for seed in range(40):
        y, tr, seg = _segmented(n=1500, seed=100 + seed, effects=(2.0, 2.0, 2.0))
        rejections += ab.interaction_test(y, tr, seg).p_value < 0.05
    assert stats.binomtest(rejections, 40, 0.05).pvalue > 0.001


def test_interaction_test_leaves_out_small_and_flat_segments():
    y, tr, seg = _segmented(n=3000)
    seg = seg.copy()
    seg[:30] = "tiny"  # at most 30 customers: fewer than 20 in a group
    p = pd.Series(seg).map({"big": 0.3, "mid": 0.2, "small": 0.0, "tiny": 0.5}).to_numpy()
    conv = (np.random.default_rng(3).random(len(y)) < p).astype(float)  # nobody converts in "small"
    res = ab.interaction_test(conv, tr, seg, metric="converted")
    assert res.dropped == {"tiny": "small", "small": "no_variation"} and set(res.segments) == {"big", "mid"}
    assert ab.interaction_test(conv[seg == "big"], tr[seg == "big"], seg[seg == "big"]) is None


def test_exact_conversion_effect_uses_boschloo_then_fisher_with_newcombe_interval():
    t = np.r_[np.ones(3), np.zeros(97)]
    c = np.r_[np.ones(9), np.zeros(91)]
    e = ab.exact_conversion_effect(t, c)
    table = [[3, 9], [97, 91]]
    assert e.test == "boschloo"
    assert e.p_value == pytest.approx(stats.boschloo_exact(table).pvalue, rel=1e-9)
    lo, hi = confint_proportions_2indep(3, 100, 9, 100, method="newcomb", compare="diff")
    assert (e.ci_low, e.ci_high) == pytest.approx((lo, hi), rel=1e-12)
    big_t = np.r_[np.ones(4), np.zeros(996)]
    big_c = np.r_[np.ones(12), np.zeros(988)]
    f = ab.exact_conversion_effect(big_t, big_c)
    assert f.test == "fisher"
    assert f.p_value == pytest.approx(stats.fisher_exact([[4, 12], [996, 988]]).pvalue, rel=1e-9)
    assert ab.exact_conversion_effect(np.zeros(30), np.zeros(40)).p_value == 1.0


def test_segment_effects_switch_to_the_exact_test_for_few_conversions():
    g = np.random.default_rng(4)
    n = 2000
    seg = np.where(np.arange(n) < 1600, "many", "few")
    grp = np.where(g.random(n) < 0.5, "treatment", "control")
    p = np.where(seg == "many", 0.3, 0.01)
    cust = pd.DataFrame({"segment": seg, "group": grp, "converted": (g.random(n) < p).astype(int)})
    effs = {e.segment: e for e in ab.segment_effects(cust, "converted")}
    assert effs["many"].test == "z" and effs["few"].test in ("boschloo", "fisher")


def test_bootstrap_sampler_has_the_distribution_of_plain_resampling():
    g = np.random.default_rng(1)
    y = (g.random(3000) < 0.2) * g.gamma(1.0, 50.0, 3000)
    fast = ab._resampled_means(y, 20000, np.random.default_rng(2))
    plain = np.array([g.choice(y, len(y)).mean() for _ in range(4000)])
    se = y.std() / math.sqrt(len(y))  # the exact sd of a resampled mean (divisor n)
    assert fast.std() == pytest.approx(se, rel=0.02) and plain.std() == pytest.approx(se, rel=0.04)
    assert fast.mean() == pytest.approx(y.mean(), abs=3 * se / math.sqrt(20000))
    assert np.quantile(fast, [0.025, 0.975]) == pytest.approx(np.quantile(plain, [0.025, 0.975]), abs=0.1 * se)


def test_bootstrap_interval_is_seeded_meets_its_target_and_agrees_with_scipy():
    g = np.random.default_rng(7)
    a = (g.random(4000) < 0.15) * g.gamma(1.0, 60.0, 4000)
    b = (g.random(4000) < 0.12) * g.gamma(1.0, 60.0, 4000)
    ci = ab.bootstrap_interval(a, b, seed=3)
    assert ci == ab.bootstrap_interval(a, b, seed=3)
    assert ci.reached and ci.mc_error <= 0.01 * (ci.high - ci.low) and 5000 <= ci.resamples <= 50000
    lo, hi = ab.bootstrap_diff(a, b, n_resamples=20000, seed=5)  # scipy.stats.bootstrap, percentile
    assert abs(ci.low - lo) < 4 * ci.mc_error_low + 0.02 * (hi - lo)
    assert abs(ci.high - hi) < 4 * ci.mc_error_high + 0.02 * (hi - lo)
    capped = ab.bootstrap_interval(a, b, seed=3, mc_error=1e-4, max_resamples=6000)
    assert capped.resamples == 6000 and not capped.reached


def test_bootstrap_monte_carlo_error_is_what_other_seeds_show():
    g = np.random.default_rng(11)
    a = (g.random(800) < 0.3) * g.gamma(1.0, 30.0, 800)
    b = (g.random(800) < 0.25) * g.gamma(1.0, 30.0, 800)
    runs = [ab.bootstrap_interval(a, b, seed=s, start=3000, max_resamples=3000) for s in range(60)]
    spread = np.std([r.low for r in runs], ddof=1)
    stated = np.mean([r.mc_error_low for r in runs])
    assert 0.7 < spread / stated < 1.4


def test_cap_values():
    y = np.array([0.0, 1, 2, 3, 1000])
    capped, cap, n = ab.cap_values(y, 0.8)
    assert cap == pytest.approx(np.quantile(y, 0.8)) and n == 1 and capped.max() == cap
    assert ab.cap_values(y, None)[1] is None
    with pytest.raises(ValueError):
        ab.cap_values(y, 1.0)


@pytest.mark.parametrize("share", [0.5, 0.1])
def test_required_size_has_the_power_asked_for(share):
    ratio = share / (1 - share)
    need = planning.required_size("converted", 0.01, baseline=0.05, sd=0.0, control_share=share)
    h = 2 * math.asin(math.sqrt(0.06)) - 2 * math.asin(math.sqrt(0.05))
    power = NormalIndPower().power(h, nobs1=need["treated"], alpha=0.05, ratio=ratio)
    below = NormalIndPower().power(h, nobs1=need["treated"] - 1, alpha=0.05, ratio=ratio)
    n1 = NormalIndPower().solve_power(h, nobs1=None, alpha=0.05, power=0.8, ratio=ratio)
    assert below < 0.8 <= power and need["control"] == math.ceil(n1 * ratio)
    rev = planning.required_size("revenue", 1.0, baseline=7.7, sd=40.0, control_share=share)
    p = TTestIndPower().power(1.0 / 40.0, nobs1=rev["treated"], alpha=0.05, ratio=ratio)
    assert 0.8 <= p < 0.8005
    assert planning.required_size("converted", 0.5, baseline=0.6, sd=0) is None  # beyond 100 %
    mde = planning.detectable_effect("revenue", rev["treated"], rev["control"], baseline=7.7, sd=40.0)
    assert mde == pytest.approx(1.0, rel=1e-3)
