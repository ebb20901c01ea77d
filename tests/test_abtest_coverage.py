"""Does the analysis recover a known effect? Seeded repetitions on real CDNOW customers.

Each repetition re-randomises the eligible CDNOW customers (bought in the year before
1998-01-15) into control / treatment, injects the effect model of
:func:`rfm_helpers.campaign.simulate_campaign` (one extra $30 order for 5 % of treated
customers, a day in the 60-day window) and analyses it with the package functions:

* with the effect, the 95 % intervals (conversion z/Wald, revenue Welch, revenue CUPED,
  revenue regression adjustment) must cover the true effect in about 95 % of repetitions;
* without it, the tests must reject in about ``alpha`` = 5 % of repetitions.

Rates are judged with an exact binomial test (fail only when p < 0.001), never exact
values. The per-customer natural outcomes are computed once; each repetition only draws
the assignment and the extra orders (vectorised), so 200 repetitions take a few seconds.
Set ``RFM_AB_REPS`` to run more; run with ``-s`` to print the measured rates.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rfm_helpers import abtest as ab
from rfm_helpers.campaign import InjectedEffect, customer_outcomes, prepare_campaign, simulate_campaign
from rfm_helpers.load.bundled import read_cdnow_raw

REPS = int(os.environ.get("RFM_AB_REPS", "200"))
SEND, WINDOW = "1998-01-15", 60
EFFECT = InjectedEffect(extra_purchase_prob=0.05, extra_amount=30.0)


@pytest.fixture(scope="module")
def population():
    """Eligible CDNOW customers with natural outcomes and the CUPED covariate, built by the
    package itself (a no-effect demo campaign run through prepare_campaign)."""
    raw = read_cdnow_raw()
    tx = pd.DataFrame({"customer_id": raw["customer_id"].astype("string"),
                       "order_date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
                       "amount": raw["dollar_value"].astype("float64")})
    camp, tx0, truth = simulate_campaign(tx, SEND, WINDOW, seed=0, effect=InjectedEffect(0.0, 0.0))
    d = prepare_campaign(camp, tx0, WINDOW)
    c = d.customers
    # independent check that "natural" is what the window holds
    nat = customer_outcomes(tx, SEND, "1998-03-15")
    assert c["converted"].sum() == c["customer_id"].isin(nat["customer_id"]).sum()
    return {"conv": c["converted"].to_numpy(float), "rev": c["revenue"].to_numpy(float),
            "pre": c["pre_revenue"].to_numpy(float), "cov": c[ab.COVARIATES].to_numpy(float)}


def _rates(pop, effect: InjectedEffect, reps: int, seed: int, with_regression: bool = False):
    g = np.random.default_rng(seed)
    conv0, rev0, pre = pop["conv"], pop["rev"], pop["pre"]
    n = len(conv0)
    truth_conv = effect.extra_purchase_prob * (1 - conv0.mean())
    truth_rev = effect.extra_purchase_prob * effect.extra_amount
    labels = np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)]
    cover = {"conversion": 0, "revenue": 0, "revenue_cuped": 0, "revenue_regression": 0}
    reject = {"conversion": 0, "revenue": 0, "revenue_cuped": 0, "revenue_mann_whitney": 0}
    vr = []
    for _ in range(reps):
        tr = g.permutation(labels)
        hit = tr & (g.random(n) < effect.extra_purchase_prob)
        conv = np.maximum(conv0, hit)
        rev = rev0 + hit * effect.extra_amount
        ce = ab.conversion_effect(conv[tr], conv[~tr])
        me = ab.mean_effect(rev[tr], rev[~tr])
        cu = ab.cuped(rev, pre, tr)
        cover["conversion"] += ce.ci_low <= truth_conv <= ce.ci_high
        cover["revenue"] += me.ci_low <= truth_rev <= me.ci_high
        cover["revenue_cuped"] += cu["effect"].ci_low <= truth_rev <= cu["effect"].ci_high
        reject["conversion"] += ce.p_value < 0.05
        reject["revenue"] += me.p_value < 0.05
        reject["revenue_cuped"] += cu["effect"].p_value < 0.05
        if with_regression:
            ra = ab.regression_adjusted(rev, tr, pd.DataFrame(pop["cov"], columns=ab.COVARIATES))
            cover["revenue_regression"] += ra["effect"].ci_low <= truth_rev <= ra["effect"].ci_high
            vr.append(ra["variance_reduction"])
        if effect.extra_purchase_prob == 0:
            reject["revenue_mann_whitney"] += ab.rank_test(rev[tr], rev[~tr])["p_value"] < 0.05
        vr.append(cu["variance_reduction"])
    return cover, reject, vr


def _compatible(k: int, n: int, p: float) -> bool:
    return stats.binomtest(k, n, p).pvalue > 0.001


def test_intervals_cover_the_injected_effect(population):
    cover, reject, vr = _rates(population, EFFECT, REPS, seed=1)
    n_reg = max(REPS // 8, 25)  # OLS + HC2 on 22k rows is ~0.3 s a repetition
    cover_reg, _, _ = _rates(population, EFFECT, n_reg, seed=2, with_regression=True)
    print(f"\ncoverage over {REPS} reps: " + ", ".join(f"{k} {v / REPS:.3f}" for k, v in cover.items()
                                                    if k != "revenue_regression")
          + f"; regression adjustment {cover_reg['revenue_regression'] / n_reg:.3f} over {n_reg} reps"
          + f"; power: " + ", ".join(f"{k} {v / REPS:.3f}" for k, v in reject.items() if k != "revenue_mann_whitney"))
    for key in ("conversion", "revenue", "revenue_cuped"):
        assert _compatible(cover[key], REPS, 0.95), (key, cover[key])
    assert _compatible(cover_reg["revenue_regression"], n_reg, 0.95)
    # a 4-point conversion effect on ~11k per group is found essentially every time
    assert reject["conversion"] / REPS > 0.99
    # CUPED uses the pre-period: more power than the plain Welch test
    assert reject["revenue_cuped"] >= reject["revenue"]
    assert 0.1 < np.mean(vr) < 0.6


def test_no_effect_gives_about_alpha_false_positives(population):
    _, reject, _ = _rates(population, InjectedEffect(0.0, 0.0), REPS, seed=3)
    print(f"\nfalse-positive rate over {REPS} reps (alpha 0.05): "
          + ", ".join(f"{k} {v / REPS:.3f}" for k, v in reject.items()))
    for key, k in reject.items():
        assert _compatible(k, REPS, 0.05), (key, k)
