"""Cross-checks of the value models (rfm_helpers.value.models, .formulas, .scoring) against
lifetimes and PyMC-Marketing, property tests of what the models imply, intervals, fitting on a
sample, MCMC, the backtest's cut-off, the whole stage on tiny data.

lifetimes (test extra) is an independent maximum-likelihood implementation of the same models;
its fit on the same summary is the reference for the MAP fit, and its predictions (like
PyMC-Marketing's own) the reference for the numpy closed forms.
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
from rfm_helpers.value import analysis, features, formulas, models, scoring
from rfm_helpers.value.backtest import run_backtest

from value_sim import TRUE_PURCHASE, TRUE_SPEND, simulate_summary

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
    """Relative agreement to 1e-9 (nine significant digits; on all CDNOW customers with the
    fitted parameters the largest relative difference is about 4e-14)."""
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
                                       rtol=1e-9, atol=0, err_msg=f"{model} {h}d")
        np.testing.assert_allclose(got["p_alive"], ref.conditional_probability_alive(f, r, T),
                                   rtol=1e-9, atol=0, err_msg=model)
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
    np.testing.assert_allclose(ours["clv"], ref_clv, rtol=1e-9, atol=0)


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
# Each example scores a batch of customer pairs with the numpy closed forms (milliseconds).
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
    assert bt2.totals["predicted"] == pytest.approx(bt.totals["predicted"], rel=1e-12)  # summation order
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
    assert va.headline is None and va.fitted is None and va.backtest is None and va.groups == {}
    assert {c for c, _ in va.sufficiency.problems} == {"short_history", "few_customers", "few_repeat_customers"}


def test_unknown_model_and_bad_settings_are_refused(summary):
    with pytest.raises(ValueError, match="transaction_model"):
        models.fit_value_models(summary.iloc[:100], transaction_model="pareto")
    with pytest.raises(ValueError, match="method"):
        models.fit_value_models(summary.iloc[:100], method="nuts")
    with pytest.raises(ValueError, match="discount"):
        models.monthly_discount_rate(25)
    assert models.monthly_discount_rate(0.1) == pytest.approx(1.1 ** (1 / 12) - 1)


# ----------------------------------------------------------------------------- PyMC-Marketing
def _pymc_model_with(params: dict, data: pd.DataFrame, model: str):
    """A PyMC-Marketing model built on ``data`` carrying exactly ``params`` as its one-draw
    posterior (no fitting)."""
    import arviz as az
    import xarray as xr

    clv, Prior = models._clv_module()
    names = list(params)
    if model == "gg":
        m = clv.GammaGammaModel(model_config=models._flat_config(names, Prior))
    else:
        m = models._model_class(clv, model)(model_config=models._flat_config(names, Prior))
    m.build_model(data)
    m.idata = az.InferenceData(posterior=xr.Dataset(
        {k: (("chain", "draw"), np.array([[float(v)]])) for k, v in params.items()},
        coords={"chain": [0], "draw": [0]}))
    return m


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_closed_forms_agree_with_pymc_marketing_given_the_same_parameters(summary, model):
    """Scoring is numpy (no pytensor); PyMC-Marketing's own predictions on the same parameters
    are the reference: P(alive), expected purchases, expected spend and its CLV function."""
    from pymc_marketing.clv.utils import customer_lifetime_value

    rows = summary.sample(1500, random_state=2).sort_values("customer_id").reset_index(drop=True)
    ours = models.score_customers(_given(P, SPEND, model), rows, horizons=(90, 365), clv_months=12,
                                  annual_discount_rate=0.1)
    data = models._bg_data(rows)
    bg = _pymc_model_with(P, data, model)
    np.testing.assert_allclose(ours["p_alive"], bg.expected_probability_alive(data).values.reshape(-1),
                               rtol=1e-9, atol=0)
    for h in (90, 365):
        np.testing.assert_allclose(ours[f"expected_purchases_{h}d"],
                                   bg.expected_purchases(data, future_t=h).values.reshape(-1), rtol=1e-9, atol=0)
    informative = (rows["frequency"] > 0) & (rows["monetary_value"] > 0)
    gg_data = pd.DataFrame({"customer_id": data["customer_id"],
                            "frequency": np.where(informative, rows["frequency"], 0).astype(float),
                            "monetary_value": np.where(informative, rows["monetary_value"], 0.0)})
    spend = _pymc_model_with(SPEND, gg_data, "gg").expected_customer_spend(gg_data).values.reshape(-1)
    np.testing.assert_allclose(ours["expected_spend"], spend, rtol=1e-9)
    clv = customer_lifetime_value(bg, data.assign(future_spend=spend), future_t=12,
                                  discount_rate=scoring.monthly_discount_rate(0.1), time_unit="D")
    np.testing.assert_allclose(ours["clv"], clv.values.reshape(-1), rtol=1e-9, atol=0)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "gg"])
def test_compiled_likelihoods_equal_the_pymc_marketing_models_own(summary, model):
    """The log-likelihood compiled once with the data as inputs equals the one PyMC-Marketing's
    model compiles with the data inside, at random parameters, on data sets of two sizes (so
    nothing of one data set, or of the template the spend graph was built on, is left in it)."""
    rng = np.random.default_rng(5)
    names = list(SPEND) if model == "gg" else list(P)
    for n in (257, 1100):
        rows = summary.sample(n, random_state=n)
        if model == "gg":
            rows = rows[(rows["frequency"] > 0) & (rows["monetary_value"] > 0)]
            data = pd.DataFrame({"customer_id": np.arange(len(rows)), "frequency": rows["frequency"].astype(float),
                                 "monetary_value": rows["monetary_value"]})
            f = models.spend_loglik()
            args = (data["frequency"].to_numpy(), data["monetary_value"].to_numpy(), np.ones(len(data)))
        else:
            data = models._bg_data(rows)
            f = models.purchase_loglik(model)
            args = (data["frequency"].to_numpy(), data["recency"].to_numpy(), data["T"].to_numpy(), np.ones(len(data)))
        reference = _pymc_model_with(dict.fromkeys(names, 1.0), data, model).model.compile_logp(jacobian=False)
        for _ in range(3):
            theta = rng.normal(np.log([(SPEND if model == "gg" else P)[k] for k in names]), 0.3)
            expected = reference({f"{k}_log__": np.asarray(v) for k, v in zip(names, theta)})
            np.testing.assert_allclose(float(f(theta, *args)[0]), float(expected), rtol=1e-10)


# ----------------------------------------------------------------------------- samples
def test_stratified_sample_is_seeded_proportional_and_order_free():
    s = simulate_summary(5000, seed=3)
    a = features.sample_summary(s, 800, seed=1)
    b = features.sample_summary(s.sample(frac=1, random_state=9), 800, seed=1)  # shuffled input
    c = features.sample_summary(s, 800, seed=2)
    assert list(a["customer_id"]) == list(b["customer_id"]) and len(a) == 800
    assert set(a["customer_id"]) != set(c["customer_id"]) and set(a["customer_id"]) <= set(s["customer_id"])
    share = (s["frequency"] > 0).mean()
    assert int((a["frequency"] > 0).sum()) == round(800 * share)  # repeat buyers in their exact share
    assert features.stratified_counts(10, 3, 0) == (3, 0) and features.stratified_counts(4, 3, 5) == (2, 2)
    pd.testing.assert_frame_equal(features.sample_summary(s, 6000, 1), s)  # fewer than k: all of them


def _z_scores(fit, reference: dict, population: int) -> dict[str, float]:
    """How far ``reference`` lies from ``fit``'s estimates, in the fit's Laplace standard errors
    (log scale), corrected for the sample being part of the population."""
    out = {}
    for names, point, cov in ((list(TRUE_PURCHASE), fit.purchase_params, fit.purchase_covariance),
                              (list(TRUE_SPEND), fit.spend_params, fit.spend_covariance)):
        se = np.sqrt(np.diag(cov)) * math.sqrt(1 - fit.n_fit_customers / population)
        for i, k in enumerate(names):
            out[k] = (math.log(reference[k]) - math.log(point[k])) / se[i]
    return out


@pytest.fixture(scope="module")
def simulated():
    s = simulate_summary(60_000, seed=0)
    return s, models.fit_value_models(s, fit_customers=None)


def test_fit_on_a_sample_agrees_with_the_fit_on_all_customers(simulated):
    """CDNOW-like customers simulated from the models (60,000; the fit uses 10,000). One draw
    cannot test a 90% interval -- with 7 parameters all fall inside only about half of the time
    -- so this checks that none is grossly off (|z| < 3.5: a non-random sample or a wrongly
    scaled covariance would break it) and that the parameters are recovered; the calibration of
    the intervals is measured by the slow coverage test below."""
    s, full = simulated
    fit = models.fit_value_models(s, fit_customers=10_000, random_seed=0)
    assert fit.sampled and fit.n_fit_customers == 10_000 and fit.n_customers == 60_000
    assert fit.n_fit_repeat == round(10_000 * (s["frequency"] > 0).mean())
    z = _z_scores(fit, {**full.purchase_params, **full.spend_params}, len(s))
    assert max(abs(v) for v in z.values()) < 3.5, z
    truth = {**TRUE_PURCHASE, **TRUE_SPEND}
    got = {**full.purchase_params, **full.spend_params}
    assert all(abs(math.log(got[k] / truth[k])) < 0.1 for k in truth), (got, truth)


@pytest.mark.slow
def test_sample_intervals_cover_the_fit_on_all_customers(simulated):
    """Coverage of the 90% Laplace intervals from 20 seeded samples of 10,000 of the 60,000
    simulated customers: the full-data estimate falls inside about 90% of the time (140
    intervals; at least 80% required, and no parameter's errors more than 1.5 times wider
    than its intervals claim)."""
    s, full = simulated
    reference = {**full.purchase_params, **full.spend_params}
    zs = [_z_scores(models.fit_value_models(s, fit_customers=10_000, random_seed=seed), reference, len(s))
          for seed in range(20)]
    inside = np.mean([abs(z[k]) <= 1.6449 for z in zs for k in reference])
    assert inside >= 0.8, inside
    for k in reference:
        assert np.std([z[k] for z in zs]) < 1.5, (k, [round(z[k], 2) for z in zs])


def test_unidentified_model_is_refused_not_reported():
    """Nobody ever leaves (every repeat customer bought on the last day): the dropout
    parameters run off to the edge, and the fit says so instead of returning numbers."""
    rows = pd.DataFrame({"customer_id": [f"c{i}" for i in range(400)],
                         "frequency": np.tile([1, 2, 3, 5], 100),
                         "T": np.tile([100.0, 200.0, 300.0, 400.0], 100), "monetary_value": 10.0})
    rows["recency"] = rows["T"]
    with pytest.raises(models.ModelNotIdentified, match="purchase"):
        models.fit_value_models(rows)


def test_scoring_in_small_chunks_gives_the_same_numbers(summary, fitted, monkeypatch):
    whole = models.score_customers(fitted, summary.iloc[:5000])
    monkeypatch.setattr(scoring, "CHUNK_ELEMENTS", 10)  # 1,024 customers a chunk
    assert scoring.chunk_rows(fitted) == 1024
    pd.testing.assert_frame_equal(models.score_customers(fitted, summary.iloc[:5000]), whole)


def test_expected_if_alive_factorisation(summary):
    """E[X(t)] = P(alive) * G(t | x, T): checked against lifetimes' conditional expectation."""
    from lifetimes import BetaGeoFitter

    rows = summary.sample(500, random_state=4)
    ref = BetaGeoFitter()
    ref.params_ = pd.Series(P)
    x, t_x, T = rows["frequency"].to_numpy(float), rows["recency"].to_numpy(float), rows["T"].to_numpy(float)
    args = [np.array([[P[k]]]) for k in ("r", "alpha", "a", "b")]
    got = (formulas.p_alive("bgnbd", *args, x, t_x, T) * formulas.expected_if_alive("bgnbd", *args, x, T, 90.0))[0]
    np.testing.assert_allclose(got, ref.conditional_expected_number_of_purchases_up_to_time(90, x, t_x, T),
                               rtol=0, atol=1e-9)
    ux, uT, inv = formulas.distinct_pairs(x, T)
    assert len(ux) < len(x) and np.array_equal(ux[inv], x) and np.array_equal(uT[inv], T)


# ----------------------------------------------------------------------------- MCMC
@pytest.mark.slow
def test_mcmc_fit_gives_a_posterior_near_the_map_and_usable_intervals(summary):
    """fit_method="mcmc": NUTS through PyMC-Marketing on a seeded sample of 300 customers,
    100 tuning + 100 draws x 2 chains (tens of seconds with compilation on the shared 2-core
    machine). With flat priors on r and alpha their posterior medians sit near the
    maximum-likelihood point of the same sample, and so does the mean dropout probability
    a / (a + b) (the dropout's prior is proper, see models); the posterior intervals contain the
    point figures and are not degenerate."""
    fit = models.fit_value_models(summary, method="mcmc", mcmc_customers=300, draws=100, chains=2, max_draws=200,
                                  random_seed=1, min_spend_customers=30)
    assert fit.method == "mcmc" and fit.interval_kind == "posterior" and fit.n_fit_customers == 300
    assert len(fit.purchase_draws) == 200 and len(fit.spend_draws) == 200 and fit.spend_status == "ok"
    mle = models.fit_value_models(features.sample_summary(summary, 300, 1), fit_customers=None)
    se = np.sqrt(np.diag(mle.purchase_covariance))
    for i, k in enumerate(("r", "alpha")):
        assert abs(math.log(fit.purchase_params[k] / mle.purchase_params[k])) < 2 * se[i], k
    drop = fit.purchase_draws["a"] / (fit.purchase_draws["a"] + fit.purchase_draws["b"])
    mle_drop = mle.purchase_params["a"] / (mle.purchase_params["a"] + mle.purchase_params["b"])
    assert drop.quantile(0.02) < mle_drop < drop.quantile(0.98)
    sc = models.score_customers(fit, summary.iloc[:300])
    for c in ("p_alive", "expected_purchases_90d", "expected_spend", "clv"):
        assert (sc[f"{c}_low"] <= sc[c] + 1e-12).all() and (sc[c] <= sc[f"{c}_high"] + 1e-12).all(), c
    repeat = (summary["frequency"].iloc[:300] > 0).to_numpy()
    assert (sc.loc[repeat, "expected_purchases_90d_high"] > sc.loc[repeat, "expected_purchases_90d_low"]).all()
