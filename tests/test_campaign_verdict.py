"""The decision rules on constructed campaigns: a clear win, a clear loss, a test too small to tell
(with the size it would need, checked against statsmodels' power), harm on a guardrail, a broken
assignment, and several variants; plus the sentences that state them."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestIndPower

from rfm_helpers.campaigns.analysis import AnalysisSettings, Guardrail, analyse_campaign
from rfm_helpers.campaigns.data import CampaignData
from rfm_helpers.campaigns.verdict import DecisionRules, decide
from rfm_helpers.report.i18n import translator
from rfm_helpers.report.texts.campaigns import verdict_sentences

FAST = AnalysisSettings(bootstrap_mc_error=0.05)


def campaign(n=6000, lift=0.0, seed=0, groups=("control", "treatment"), shares=(0.5, 0.5), unsub=(0.01, 0.01),
             lifts=None):
    """Customers with revenue ~ 15 % buyers x Gamma(mean 60); ``lift`` added to every treated
    customer's expected revenue (a shift of the buyers' amounts); unsubscribes per group."""
    g = np.random.default_rng(seed)
    grp = g.choice(list(groups), n, p=list(shares))
    seg = g.choice(["a", "b", "c"], n)
    buy = g.random(n) < 0.15
    extra = np.zeros(n)
    for k, name in enumerate(groups):
        add = (lifts or {}).get(name, lift if name != groups[0] else 0.0)
        extra[grp == name] = add / 0.15
    revenue = buy * np.maximum(g.gamma(1.0, 60.0, n) + extra, 0.0)
    u = np.where(grp == groups[0], unsub[0], unsub[1])
    cust = pd.DataFrame({
        "customer_id": pd.array([f"{i:06d}" for i in range(n)], dtype="string"), "group": pd.array(grp, dtype="string"),
        "segment": seg, "converted": buy.astype(int), "revenue": revenue, "orders": buy.astype(int), "returns": 0.0,
        "pre_revenue": g.gamma(1.0, 20.0, n), "pre_orders": g.poisson(1.0, n), "monetary": g.gamma(1.0, 80.0, n),
        "frequency": g.poisson(2.0, n) + 1, "recency_days": g.integers(0, 400, n),
        "cost_per_contact": np.where(grp == groups[0], 0.0, 0.5), "unsubscribed": (g.random(n) < u).astype(int)})
    return CampaignData(customers=cust, send_date=dt.date(2024, 3, 1), window_days=30, control=groups[0],
                        groups=list(groups), planned_split=dict(zip(groups, shares)), last_data_date=dt.date(2024, 5, 1))


def verdict(data, rules, guardrails=()):
    rep = analyse_campaign(data, FAST, guardrails=guardrails)
    return rep, decide(rep, rules, data.planned_split)


def words(rep, v):
    t = translator("en", "USD")
    ev = {"verdict": v, "report": rep.to_dict(), "campaign": {"demo": False}}
    import re

    return re.sub(r"<[^>]+>", "", " ".join(tpl.format(**vals) for tpl, vals in verdict_sentences(t, ev)))


def test_clear_win_is_rolled_out():
    rep, v = verdict(campaign(n=8000, lift=4.0, seed=1), DecisionRules("revenue", 1.0))
    d = v["variants"]["treatment"]
    assert v["overall"]["code"] == "roll_out" and d["ci_low"] > 0 and d["diff"] >= 1.0
    assert words(rep, v).startswith("Roll out “treatment”. It changed revenue per customer by +$")


def test_clear_loss_is_not_rolled_out():
    rep, v = verdict(campaign(n=8000, lift=-4.0, seed=2), DecisionRules("revenue", 1.0))
    d = v["variants"]["treatment"]
    assert v["overall"]["code"] == "do_not_roll_out" and d["ci_high"] < 0
    assert "rules out the +$1.00 worth acting on" in words(rep, v)


def test_a_gain_too_small_to_matter_is_not_rolled_out_when_the_test_rules_the_threshold_out():
    rep, v = verdict(campaign(n=15000, lift=0.3, seed=3), DecisionRules("revenue", 2.0))
    d = v["variants"]["treatment"]
    assert v["overall"]["code"] == "do_not_roll_out" and d["ci_high"] < 2.0


def test_too_small_a_test_is_inconclusive_and_says_the_size_needed():
    data = campaign(n=600, lift=1.5, seed=4)
    rep, v = verdict(data, DecisionRules("revenue", 1.5))
    d = v["variants"]["treatment"]
    assert v["overall"]["code"] == "inconclusive" and d["ci_low"] < 1.5 < d["ci_high"]
    need = d["required"]
    sd = data.customers.loc[data.customers["group"] == "control", "revenue"].std(ddof=1)
    power = TTestIndPower().power(1.5 / sd, nobs1=need["treated"], alpha=0.05, ratio=1.0)
    assert 0.8 <= power < 0.801 and need["total"] == need["treated"] + need["control"] > 600
    assert d["detectable"] > 1.5  # this test could only have detected a larger effect
    text = words(rep, v)
    assert text.startswith("Inconclusive: the test was too small to decide on “treatment”")
    assert f"{need['treated']:,} treated" in text


def test_conversion_threshold_is_in_points():
    rep, v = verdict(campaign(n=8000, lift=4.0, seed=5), DecisionRules("converted", 1.0))
    assert DecisionRules("converted", 1.0).threshold == 0.01
    assert v["variants"]["treatment"]["min_effect"] == 1.0
    assert v["overall"]["code"] in ("do_not_roll_out", "inconclusive")  # the lift is in amounts, not buyers


def test_harm_on_a_guardrail_overrides_a_win():
    data = campaign(n=8000, lift=4.0, seed=6, unsub=(0.01, 0.04))
    rep, v = verdict(data, DecisionRules("revenue", 1.0), [Guardrail("unsubscribed", 0.005)])
    d = v["variants"]["treatment"]
    assert v["overall"]["code"] == "harmful" and d["harmful"][0]["metric"] == "unsubscribed"
    assert d["harmful"][0]["ci_low"] > 0.005
    share = data.customers.groupby("group")["unsubscribed"].mean()
    assert f"it worsened unsubscribes by +{100 * (share['treatment'] - share['control']):.1f} pts" in words(rep, v)
    # within the tolerance: no harm
    _, ok = verdict(data, DecisionRules("revenue", 1.0), [Guardrail("unsubscribed", 0.05)])
    assert ok["overall"]["code"] == "roll_out"
    # a guardrail without data is reported as not measured, never as harmless data
    rep2, v2 = verdict(data, DecisionRules("revenue", 1.0), [Guardrail("complaints", 0.0)])
    assert not rep2.guardrails["treatment"][0].available and v2["overall"]["code"] == "roll_out"


def test_a_broken_assignment_decides_nothing():
    data = campaign(n=8000, lift=4.0, seed=7)
    cust = data.customers
    drop = cust.index[cust["group"] == "treatment"][:600]
    data.customers = cust.drop(drop).reset_index(drop=True)
    rep, v = verdict(data, DecisionRules("revenue", 1.0))
    assert not rep.srm.passed and v["overall"]["code"] == "invalid"
    assert "Nothing about “treatment” is decided" in words(rep, v)


def test_several_variants_roll_out_the_best_one():
    data = campaign(n=12000, seed=8, groups=("control", "A", "B"), shares=(0.34, 0.33, 0.33),
                    lifts={"A": 2.0, "B": 6.0})
    rep, v = verdict(data, DecisionRules("revenue", 1.0))
    assert v["variants"]["A"]["n_comparisons"] == 2  # corrected across the variants
    assert v["overall"] == {"code": "roll_out", "variant": "B", "metric": "revenue", "min_effect": 1.0, "variants": 2}
    text = words(rep, v)
    assert text.index("“B”") < text.index("“A”")  # the chosen variant first, every variant named
