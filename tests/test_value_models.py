"""Cross-checks of the value models (rfm_helpers.value.models) against lifetimes, property
tests of what the models imply, intervals, the backtest's cut-off, the whole stage on tiny data.

lifetimes (test extra) is an independent maximum-likelihood implementation of the same models;
its fit on the same summary is the reference for PyMC-Marketing's MAP-with-flat-priors fit.
"""
from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfm_helpers.load import bundled as datasets
from rfm_helpers.load import load_transactions
from rfm_helpers.value import analysis, features, models
from rfm_helpers.value.backtest import run_backtest

AS_OF = "1998-06-30"
warnings.filterwarnings("ignore", module="lifetimes")


@pytest.fixture(scope="module")
def cdnow_tx():
    return load_transactions(datasets.cdnow_source()).clean


@pytest.fixture(scope="module")
def summary(cdnow_tx):
    return features.compute_value_summary(cdnow_tx, AS_OF)


@pytest.fixture(scope="module")
def fitted(summary):
    return models.fit_value_models(summary, transaction_model="bgnbd")


def _sig3(a: float, b: float) -> bool:
    """Agreement to 3 significant digits: the relative difference is below half a unit of the
    third digit of the smaller value's magnitude (never a coarse 1e-2)."""
    return abs(a - b) <= 0.5 * 10 ** (math.floor(math.log10(abs(b))) - 2)


def test_bgnbd_parameters_agree_with_lifetimes_mle(summary, fitted):
    from lifetimes import BetaGeoFitter

    ref = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"]).params_
    for k in ("r", "alpha", "a", "b"):
        assert _sig3(fitted.purchase_params[k], ref[k]), (k, fitted.purchase_params[k], ref[k])


def test_mbgnbd_and_gamma_gamma_agree_with_lifetimes(summary, fitted):
    from lifetimes import GammaGammaFitter, ModifiedBetaGeoFitter

    mbg = models.fit_value_models(summary, transaction_model="mbgnbd")
    ref = ModifiedBetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"]).params_
    for k in ("r", "alpha", "a", "b"):
        assert _sig3(mbg.purchase_params[k], ref[k]), (k, mbg.purchase_params[k], ref[k])
    rep = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"]).params_
    for k in ("p", "q", "v"):
        assert _sig3(fitted.spend_params[k], gg[k]), (k, fitted.spend_params[k], gg[k])
    assert fitted.spend_status == "ok" and fitted.n_spend_customers == len(rep)


def _given(params: dict, spend: dict | None = None, transaction_model="bgnbd") -> models.FittedValueModels:
    """A fitted object carrying exactly ``params`` (no sigma points: point predictions only)."""
    spend = spend or {}
    return models.FittedValueModels(
        transaction_model=transaction_model, method="map", level=0.9, purchase_params=params,
        purchase_draws=pd.DataFrame([params])[["r", "alpha", "a", "b"]], spend_params=spend,
        spend_draws=pd.DataFrame([spend]) if spend else pd.DataFrame(columns=["p", "q", "v"]),
        spend_status="ok" if spend else "not_fitted", n_customers=0, n_fit_customers=0,
        n_spend_customers=0, fit_seconds=0.0)


def test_predictions_agree_with_lifetimes_given_the_same_parameters(summary):
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter

    params = {"r": 0.2683, "alpha": 41.98, "a": 0.4832, "b": 2.109}
    spend = {"p": 5.09, "q": 3.998, "v": 21.26}
    rows = summary.sample(3000, random_state=1).sort_values("customer_id").reset_index(drop=True)
    ours = models.score_customers(_given(params, spend), rows, horizons=(90, 365))
    f, r, T = rows["frequency"], rows["recency"], rows["T"]
    for cls, model in ((BetaGeoFitter, "bgnbd"), (ModifiedBetaGeoFitter, "mbgnbd")):
        ref = cls()
        ref.params_ = pd.Series(params)
        got = ours if model == "bgnbd" else models.score_customers(_given(params, spend, model), rows)
        for h in (90, 365):
            np.testing.assert_allclose(got[f"expected_purchases_{h}d"],
                                       ref.conditional_expected_number_of_purchases_up_to_time(h, f, r, T),
                                       rtol=0, atol=1e-6, err_msg=f"{model} {h}d")
        np.testing.assert_allclose(got["p_alive"], ref.conditional_probability_alive(f, r, T),
                                   rtol=0, atol=1e-6, err_msg=model)
    gg = GammaGammaFitter()
    gg.params_ = pd.Series(spend)
    np.testing.assert_allclose(ours["expected_spend"],
                               gg.conditional_expected_average_profit(f, rows["monetary_value"]), rtol=1e-9)
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(params)
    # lifetimes' own customer_lifetime_value is broken in its last release (it calls a removed
    # .predict); the same discounted sum, written out, over lifetimes' predictions:
    d = models.monthly_discount_rate(0.1)
    cum = [np.zeros(len(rows))] + [bgf.conditional_expected_number_of_purchases_up_to_time(30 * m, f, r, T)
                                   for m in range(1, 13)]
    ref_clv = sum((cum[m] - cum[m - 1]) / (1 + d) ** m for m in range(1, 13)) * \
        gg.conditional_expected_average_profit(f, rows["monetary_value"]).to_numpy()
    np.testing.assert_allclose(ours["clv"], ref_clv, rtol=1e-6, atol=1e-6)


def test_intervals_contain_the_point_and_are_narrow_but_not_zero(summary, fitted):
    sc = models.score_customers(fitted, summary.iloc[:4000])
    for c in ("p_alive", "expected_purchases_90d", "expected_purchases_365d", "expected_spend", "clv"):
        assert (sc[f"{c}_low"] <= sc[c] + 1e-12).all() and (sc[c] <= sc[f"{c}_high"] + 1e-12).all(), c
    repeat = (summary["frequency"].iloc[:4000] > 0).to_numpy()
    width = (sc["expected_purchases_90d_high"] - sc["expected_purchases_90d_low"]) / sc["expected_purchases_90d"]
    assert (width > 0).all() and width.median() < 0.2
    # BG/NBD: one-time buyers are alive by construction, so their P(alive) interval is the point 1
    assert (sc.loc[~repeat, "p_alive"] == 1).all() and (sc.loc[~repeat, "p_alive_low"] == 1).all()
    assert 0 <= sc["p_alive_low"].min() and sc["p_alive_high"].max() <= 1


def test_laplace_interval_matches_posterior_sampling_of_the_same_gaussian(summary, fitted):
    """The delta-method interval equals (to Monte Carlo error) the quantiles of the figure over
    draws from the same Laplace approximation: the sigma-point shortcut is not a guess."""
    rng = np.random.default_rng(0)
    names = ["r", "alpha", "a", "b"]
    theta = np.log([fitted.purchase_params[n] for n in names])
    draws = np.exp(rng.multivariate_normal(theta, fitted.purchase_covariance, size=4000))
    sampled = models.FittedValueModels(**{**fitted.__dict__, "method": "mcmc",
                                          "purchase_draws": pd.DataFrame(draws, columns=names)})
    rows = summary[summary["frequency"] > 0].iloc[:300]
    a = models.score_customers(fitted, rows)
    b = models.score_customers(sampled, rows)
    for c in ("expected_purchases_90d", "p_alive"):
        wa = a[f"{c}_high"] - a[f"{c}_low"]
        wb = b[f"{c}_high"] - b[f"{c}_low"]
        np.testing.assert_allclose(wa, wb, rtol=0.1, err_msg=c)


P = {"r": 0.2683, "alpha": 41.98, "a": 0.4832, "b": 2.109}
SPEND = {"p": 5.09, "q": 3.998, "v": 21.26}


def _score(rows, model="bgnbd", **kw):
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T"]).astype(float)
    frame.insert(0, "customer_id", [f"c{i}" for i in range(len(frame))])
    frame["monetary_value"] = kw.pop("monetary", [20.0] * len(frame))
    return models.score_customers(_given(P, SPEND, model), frame, **kw)


customer = st.tuples(st.integers(1, 40), st.floats(1, 500), st.floats(0, 500))
# Each example scores a batch of customer pairs in one call (a call costs ~0.5 s of model
# building, the arithmetic is nothing), so few examples still cover many pairs.
PROPS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pairs(first, second, model, **kw):
    sc = _score(first + second, model, clv_months=1, **kw)
    n = len(first)
    return sc.iloc[:n].reset_index(drop=True), sc.iloc[n:].reset_index(drop=True)


@PROPS
@given(st.lists(st.tuples(customer, st.floats(0.5, 200)), min_size=1, max_size=25),
       st.sampled_from(["bgnbd", "mbgnbd"]))
def test_more_recent_purchase_means_more_alive_and_more_purchases(cases, model):
    older = [(x, t_x, t_x + gap + shift) for (x, t_x, gap), shift in cases]
    newer = [(x, t_x + shift, t_x + gap + shift) for (x, t_x, gap), shift in cases]  # same x and T
    a, b = _pairs(older, newer, model)
    assert (b["p_alive"] > a["p_alive"]).all()
    assert (b["expected_purchases_90d"] > a["expected_purchases_90d"]).all()


@PROPS
@given(st.lists(st.tuples(customer, st.floats(0.5, 200)), min_size=1, max_size=25),
       st.sampled_from(["bgnbd", "mbgnbd"]))
def test_longer_silence_means_less_alive(cases, model):
    short = [(x, t_x, t_x + gap) for (x, t_x, gap), _ in cases]
    long = [(x, t_x, t_x + gap + extra) for (x, t_x, gap), extra in cases]
    a, b = _pairs(short, long, model)
    assert (b["p_alive"] < a["p_alive"]).all()
    assert (b["expected_purchases_365d"] < a["expected_purchases_365d"]).all()


@PROPS
@given(st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30), st.floats(1, 500)), min_size=1, max_size=25),
       st.sampled_from(["bgnbd", "mbgnbd"]))
def test_more_purchases_up_to_today_means_more_alive_and_more_purchases(cases, model):
    """With the last purchase at the end of the period (recency = T) more purchases can only
    mean a busier, still active customer; with a silence after the last purchase the model
    lets more purchases *lower* P(alive) (a busy customer's silence says more), so no
    general monotonicity in frequency is claimed."""
    a, b = _pairs([(x, T, T) for x, _, T in cases], [(x + dx, T, T) for x, dx, T in cases], model)
    assert (b["p_alive"] >= a["p_alive"] - 1e-12).all()
    assert (b["expected_purchases_90d"] > a["expected_purchases_90d"]).all()


@PROPS
@given(st.lists(st.tuples(customer, st.floats(1, 500), st.floats(1.01, 5)), min_size=1, max_size=25))
def test_expected_spend_follows_own_spend_and_purchases_grow_with_horizon(cases):
    rows = [(x, t_x, t_x + gap) for (x, t_x, gap), _, _ in cases]
    a, b = _pairs(rows, rows, "bgnbd", monetary=[m for _, m, _ in cases] + [m * k for _, m, k in cases],
                  horizons=(30, 90, 365))
    assert (b["expected_spend"] > a["expected_spend"]).all()
    assert (a["expected_purchases_30d"] < a["expected_purchases_90d"]).all()
    assert (a["expected_purchases_90d"] < a["expected_purchases_365d"]).all()


def test_backtest_fit_never_sees_the_holdout(cdnow_tx):
    """Changing everything after the cut-off changes the actuals, never the fitted model."""
    bt = run_backtest(cdnow_tx, AS_OF, holdout_days=90)
    after = cdnow_tx["order_date"] > pd.Timestamp(bt.cutoff)
    doubled = cdnow_tx.assign(amount=np.where(after, cdnow_tx["amount"] * 2, cdnow_tx["amount"]))
    doubled = pd.concat([doubled, doubled[after]], ignore_index=True)   # and every later order twice
    bt2 = run_backtest(doubled, AS_OF, holdout_days=90)
    assert bt2.purchase_params == bt.purchase_params
    assert bt2.totals["predicted"] == bt.totals["predicted"]
    assert bt2.totals["actual"] == bt.totals["actual"]  # same purchase days
    assert bt2.totals["actual_revenue"] == pytest.approx(4 * bt.totals["actual_revenue"])  # 2 x 2
    assert bt.customers == int((features.compute_value_summary(cdnow_tx, bt.cutoff)).shape[0])
    assert bt.deciles["customers"].sum() == bt.customers
    assert bt.totals["actual"] == pytest.approx(bt.deciles.eval("actual * customers").sum())


def test_too_little_data_gives_reasons_not_a_crash():
    rng = np.random.default_rng(0)
    tx = pd.DataFrame({"customer_id": [f"c{i % 50}" for i in range(120)],
                       "order_date": pd.Timestamp("2024-05-01") + pd.to_timedelta(rng.integers(0, 60, 120), "D"),
                       "amount": rng.lognormal(3, 1, 120)})
    va = analysis.analyse_value(tx, "2024-06-30")
    assert va.value is None and va.fitted is None and va.backtest is None
    assert {c for c, _ in va.sufficiency.problems} == {"short_history", "few_customers", "few_repeat_customers"}


def test_unknown_model_and_bad_settings_are_refused(summary):
    with pytest.raises(ValueError, match="transaction_model"):
        models.fit_value_models(summary.iloc[:100], transaction_model="pareto")
    with pytest.raises(ValueError, match="method"):
        models.fit_value_models(summary.iloc[:100], method="nuts")
    with pytest.raises(ValueError, match="discount"):
        models.monthly_discount_rate(25)
    assert models.monthly_discount_rate(0.1) == pytest.approx(1.1 ** (1 / 12) - 1)
