"""Buy-till-you-die models from PyMC-Marketing's CLV module: fit, then score customers.

* **Purchases**: BG/NBD (``"bgnbd"``, Fader, Hardie & Lee 2005) by default, or the modified
  BG/NBD (``"mbgnbd"``, Batislam et al. 2007), which also lets a customer leave right after the
  first purchase. Under the plain BG/NBD a customer can only leave after a *repeat* purchase,
  so every one-time buyer has P(alive) = 1 by construction; the figures that rest on P(alive)
  (slipping customers, value at risk) are therefore restricted to repeat customers under
  BG/NBD (see :mod:`rfm_helpers.value.segments`).
* **Spend per order**: Gamma-Gamma (Fader & Hardie 2013), fitted on repeat customers with a
  positive mean repeat spend.

**Fitting.** ``method="map"`` (default): the maximum a posteriori point with flat priors
(PyMC's ``HalfFlat``) on every parameter, which is the maximum-likelihood estimate (PyMC's
``find_MAP`` optimises the log-likelihood without the log-transform's Jacobian), i.e. the same
estimate as lifetimes' fitters (tested on CDNOW). ``method="mcmc"``: the full posterior by
NUTS (same flat priors) on a seeded random sample of ``sample_customers`` customers.

**Intervals.** Every per-customer figure comes with an equal-tailed ``level`` interval that
expresses the uncertainty about the model's parameters:

* after a MAP fit, from the Laplace approximation: the covariance of the log-parameters is the
  inverse of the observed information (the Hessian of the log-likelihood at the optimum, by
  central differences of PyMC's compiled gradient). A figure ``f`` is evaluated at the
  optimum and at the ``2k`` points ``theta +- L e_j`` (``L`` the Cholesky factor), which gives
  its standard error by the delta method (exact for a linear ``f``); the interval is formed on
  the log scale (logit scale for probabilities) so it stays inside the possible range;
* after an MCMC fit, from the quantiles of the figure over the posterior draws.

These intervals do **not** include model error (the backtest in
:mod:`rfm_helpers.value.backtest` measures that), nor the randomness of what a customer will
actually do: they say how well the data pin down the expected value.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TRANSACTION_MODELS", "FIT_METHODS", "FittedValueModels", "fit_value_models",
           "score_customers", "monthly_discount_rate"]

#: Transaction model codes -> PyMC-Marketing class names.
TRANSACTION_MODELS = {"bgnbd": "BetaGeoModel", "mbgnbd": "ModifiedBetaGeoModel"}
FIT_METHODS = ("map", "mcmc")
_BG_PARAMS = ("r", "alpha", "a", "b")
_GG_PARAMS = ("p", "q", "v")
#: Days in the "month" of PyMC-Marketing's CLV function (it steps in 30-day months).
DAYS_PER_MONTH = 30


def _quiet():
    """Silence the import-time and fit-time chatter of PyMC/ArviZ (FutureWarnings about
    ArviZ's refactor, pytensor's BLAS notice); real errors still raise."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*ArviZ.*")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pytensor")
    warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
    return ctx


def _clv_module():
    """PyMC-Marketing's CLV module, imported on first use (the import costs ~3-5 s)."""
    import logging

    for name in ("pymc", "pytensor", "pymc_marketing", "arviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = _quiet()
    try:
        from pymc_marketing import clv
        from pymc_extras.prior import Prior
    finally:
        ctx.__exit__(None, None, None)
    return clv, Prior


@dataclasses.dataclass
class FittedValueModels:
    """Fitted purchase and spend models with the settings they were fitted with.

    ``purchase_params`` / ``spend_params``: point estimates (time unit: days).
    ``purchase_draws`` / ``spend_draws``: the parameter sets the intervals are computed from
    (MAP: the optimum first, then the ``2k`` Laplace sigma points; MCMC: posterior draws).
    ``spend_params`` is empty when the spend model could not be fitted (see ``spend_status``).
    """

    transaction_model: str
    method: str
    level: float
    purchase_params: dict[str, float]
    purchase_draws: pd.DataFrame
    spend_params: dict[str, float]
    spend_draws: pd.DataFrame
    spend_status: str  # "ok", "too_few_repeat_customers", "infinite_mean" (q <= 1), "not_fitted"
    n_customers: int
    n_fit_customers: int
    n_spend_customers: int
    fit_seconds: float
    purchase_covariance: np.ndarray | None = None  # log-parameter covariance (MAP only)
    frequency_spend_correlation: float = math.nan

    @property
    def interval_kind(self) -> str:
        return "laplace" if self.method == "map" else "posterior"


# ----------------------------------------------------------------------------- fitting
def _flat_config(names, Prior) -> dict:
    return {k: Prior("HalfFlat") for k in names}


def _model_class(clv, transaction_model: str):
    try:
        return getattr(clv, TRANSACTION_MODELS[transaction_model])
    except KeyError:
        raise ValueError(f"transaction_model must be one of {sorted(TRANSACTION_MODELS)}, "
                         f"got {transaction_model!r}") from None


def _bg_data(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": np.arange(len(summary)),
                         "frequency": summary["frequency"].to_numpy(dtype="float64"),
                         "recency": summary["recency"].to_numpy(dtype="float64"),
                         "T": summary["T"].to_numpy(dtype="float64")})


def _laplace(model, names: tuple[str, ...], point: dict[str, float]) -> np.ndarray:
    """Covariance of the log-parameters: inverse of minus the Hessian of the log-likelihood
    (flat priors, no Jacobian) at ``point``, by central differences of the compiled gradient."""
    pm_model = model.model
    value_names = [v.name for v in pm_model.value_vars]
    order = [f"{n}_log__" for n in names]
    if sorted(order) != sorted(value_names):
        raise RuntimeError(f"unexpected free variables {value_names}; expected {order}")
    dlogp = pm_model.compile_dlogp(vars=[pm_model[n] for n in names], jacobian=False)
    theta = np.log([point[n] for n in names])
    k = len(theta)

    def grad(th):
        return np.asarray(dlogp({n: np.asarray(v) for n, v in zip(order, th)}), dtype="float64")

    H = np.empty((k, k))
    for j in range(k):
        h = 1e-4 * max(1.0, abs(theta[j]))
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    H = (H + H.T) / 2
    info = -H
    try:
        np.linalg.cholesky(info)
    except np.linalg.LinAlgError:
        raise RuntimeError("the fitted model is not at a proper maximum (information matrix not "
                           "positive definite); the data do not identify its parameters") from None
    return np.linalg.inv(info)


def _sigma_draws(names, point, cov) -> pd.DataFrame:
    """The optimum followed by ``theta +- L e_j`` in log space, as natural-scale parameters."""
    theta = np.log([point[n] for n in names])
    L = np.linalg.cholesky(cov)
    rows = [theta]
    for j in range(len(theta)):
        rows.append(theta + L[:, j])
        rows.append(theta - L[:, j])
    return pd.DataFrame(np.exp(np.array(rows)), columns=list(names))


def _posterior_draws(idata, names, max_draws: int, seed: int) -> pd.DataFrame:
    post = idata.posterior
    frame = pd.DataFrame({n: post[n].to_numpy().reshape(-1) for n in names})
    if len(frame) > max_draws:
        frame = frame.sample(max_draws, random_state=seed).reset_index(drop=True)
    return frame


def fit_value_models(summary: pd.DataFrame, *, transaction_model: str = "bgnbd", method: str = "map",
                     level: float = 0.9, sample_customers: int = 2000, draws: int = 500,
                     chains: int = 2, max_draws: int = 200, random_seed: int = 0,
                     min_spend_customers: int = 30) -> FittedValueModels:
    """Fit the purchase model on ``summary`` (from
    :func:`rfm_helpers.value.features.compute_value_summary`) and Gamma-Gamma on its repeat
    customers with a positive ``monetary_value``. Checked here: the arguments; the data
    sufficiency rules are applied by the caller (:func:`rfm_helpers.value.segments.sufficiency`).
    """
    import time

    if method not in FIT_METHODS:
        raise ValueError(f"method must be one of {FIT_METHODS}, got {method!r}")
    if not 0.5 <= float(level) < 1:
        raise ValueError(f"level must be between 0.5 and 1 (e.g. 0.9), got {level!r}")
    need = {"frequency", "recency", "T", "monetary_value"}
    if not need <= set(summary.columns):
        raise KeyError(f"summary lacks {sorted(need - set(summary.columns))}; use compute_value_summary")
    if len(summary) < 2 or (summary["frequency"] > 0).sum() < 1:
        raise ValueError("cannot fit a purchase model without repeat customers")
    clv, Prior = _clv_module()
    cls = _model_class(clv, transaction_model)
    t0 = time.perf_counter()
    rng = np.random.default_rng(random_seed)
    fit_rows = summary
    if method == "mcmc" and len(summary) > sample_customers:
        fit_rows = summary.iloc[np.sort(rng.choice(len(summary), int(sample_customers), replace=False))]
    ctx = _quiet()
    try:
        bg = cls(model_config=_flat_config(_BG_PARAMS, Prior))
        bg.build_model(_bg_data(fit_rows))
        cov = None
        if method == "map":
            bg.fit(method="map", progressbar=False)
            point = {n: float(bg.fit_result[n].to_numpy().reshape(-1)[0]) for n in _BG_PARAMS}
            cov = _laplace(bg, _BG_PARAMS, point)
            bg_draws = _sigma_draws(_BG_PARAMS, point, cov)
        else:
            bg.fit(method="mcmc", draws=int(draws), tune=int(draws), chains=int(chains), cores=1,
                   progressbar=False, random_seed=random_seed, compute_convergence_checks=False)
            bg_draws = _posterior_draws(bg.idata, _BG_PARAMS, max_draws, random_seed)
            point = {n: float(bg_draws[n].median()) for n in _BG_PARAMS}

        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        corr = (float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])
                if len(repeat) > 2 and repeat["frequency"].nunique() > 1 else math.nan)
        spend_params: dict[str, float] = {}
        gg_draws = pd.DataFrame(columns=list(_GG_PARAMS))
        status = "ok"
        n_spend = len(repeat)
        if n_spend < min_spend_customers:
            status = "too_few_repeat_customers"
        else:
            gg_rows = repeat
            if method == "mcmc" and len(repeat) > sample_customers:
                gg_rows = repeat.iloc[np.sort(rng.choice(len(repeat), int(sample_customers), replace=False))]
            gg_data = pd.DataFrame({"customer_id": np.arange(len(gg_rows)),
                                    "frequency": gg_rows["frequency"].to_numpy(dtype="float64"),
                                    "monetary_value": gg_rows["monetary_value"].to_numpy(dtype="float64")})
            gg = clv.GammaGammaModel(model_config=_flat_config(_GG_PARAMS, Prior))
            gg.build_model(gg_data)
            if method == "map":
                gg.fit(method="map", progressbar=False)
                spend_params = {n: float(gg.fit_result[n].to_numpy().reshape(-1)[0]) for n in _GG_PARAMS}
                gg_cov = _laplace(gg, _GG_PARAMS, spend_params)
                gg_draws = _sigma_draws(_GG_PARAMS, spend_params, gg_cov)
            else:
                gg.fit(method="mcmc", draws=int(draws), tune=int(draws), chains=int(chains), cores=1,
                       progressbar=False, random_seed=random_seed, compute_convergence_checks=False)
                gg_draws = _posterior_draws(gg.idata, _GG_PARAMS, max_draws, random_seed)
                spend_params = {n: float(gg_draws[n].median()) for n in _GG_PARAMS}
            if spend_params["q"] <= 1 or (gg_draws["q"] <= 1).any():
                status = "infinite_mean"
    finally:
        ctx.__exit__(None, None, None)
    return FittedValueModels(
        transaction_model=transaction_model, method=method, level=float(level),
        purchase_params=point, purchase_draws=bg_draws, spend_params=spend_params,
        spend_draws=gg_draws, spend_status=status, n_customers=len(summary),
        n_fit_customers=len(fit_rows), n_spend_customers=n_spend,
        fit_seconds=time.perf_counter() - t0, purchase_covariance=cov,
        frequency_spend_correlation=corr)


# ----------------------------------------------------------------------------- scoring
def monthly_discount_rate(annual_rate: float) -> float:
    """The monthly rate equivalent to ``annual_rate`` (``(1 + a) ** (1/12) - 1``)."""
    if not -1 < float(annual_rate) < 10:
        raise ValueError(f"annual discount rate must be a share such as 0.1 (10%), got {annual_rate!r}")
    return (1 + float(annual_rate)) ** (1 / 12) - 1


def _with_draws(model, draws: pd.DataFrame):
    """Put ``draws`` (one row per parameter set) into ``model`` as its posterior."""
    import arviz as az
    import xarray as xr

    ds = xr.Dataset({c: (("chain", "draw"), draws[c].to_numpy(dtype="float64")[None, :])
                     for c in draws.columns},
                    coords={"chain": [0], "draw": np.arange(len(draws))})
    model.idata = az.InferenceData(posterior=ds)
    return model


def _predictor(fitted: FittedValueModels, data: pd.DataFrame):
    """A PyMC-Marketing purchase model carrying ``fitted.purchase_draws`` (built on ``data``,
    no fitting)."""
    clv, Prior = _clv_module()
    ctx = _quiet()
    try:
        m = _model_class(clv, fitted.transaction_model)(model_config=_flat_config(_BG_PARAMS, Prior))
        m.build_model(data)
    finally:
        ctx.__exit__(None, None, None)
    return _with_draws(m, fitted.purchase_draws)


def _spend_predictor(fitted: FittedValueModels, data: pd.DataFrame):
    clv, Prior = _clv_module()
    ctx = _quiet()
    try:
        m = clv.GammaGammaModel(model_config=_flat_config(_GG_PARAMS, Prior))
        m.build_model(data)
    finally:
        ctx.__exit__(None, None, None)
    return _with_draws(m, fitted.spend_draws)


def _per_draw(x) -> np.ndarray:
    """An xarray result ``(chain, draw, customer_id)`` as a ``(draws, customers)`` array."""
    arr = np.asarray(x.transpose("chain", "draw", "customer_id").to_numpy(), dtype="float64")
    return arr.reshape(-1, arr.shape[-1])


def _interval(values: np.ndarray, fitted: FittedValueModels, scale: str) -> tuple[np.ndarray, ...]:
    """Point, low, high from per-draw ``values`` ``(draws, customers)``.

    Laplace: the first row is the optimum, then pairs ``+L e_j``, ``-L e_j``; the standard
    error on the ``scale`` (``log``, ``logit`` or ``identity``) is
    ``sqrt(sum_j ((g(f+) - g(f-)) / 2) ** 2)``. Posterior: the median and the quantiles."""
    from scipy.special import expit, logit
    from scipy.stats import norm

    alpha = 1 - fitted.level
    if fitted.interval_kind == "posterior":
        lo, mid, hi = np.quantile(values, [alpha / 2, 0.5, 1 - alpha / 2], axis=0)
        return mid, lo, hi
    point = values[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if scale == "log":
            g, ginv = (lambda v: np.log(np.maximum(v, 1e-300))), np.exp
        elif scale == "logit":
            g, ginv = (lambda v: logit(np.clip(v, 1e-15, 1 - 1e-15))), expit
        else:
            g, ginv = (lambda v: v), (lambda v: v)
        gv = g(values)
        half = (gv[1::2] - gv[2::2]) / 2
        se = np.sqrt(np.sum(half ** 2, axis=0))
        z = norm.ppf(1 - alpha / 2)
        lo, hi = ginv(g(point) - z * se), ginv(g(point) + z * se)
    # exact values (a one-time buyer's P(alive) under BG/NBD is 1; zero stays zero)
    fixed = np.isclose(values.max(axis=0), values.min(axis=0), rtol=0, atol=0)
    lo = np.where(fixed, point, np.minimum(lo, point))
    hi = np.where(fixed, point, np.maximum(hi, point))
    return point, lo, hi


def score_customers(fitted: FittedValueModels, summary: pd.DataFrame, *,
                    horizons: tuple[int, ...] = (90, 365), clv_months: int = 12,
                    annual_discount_rate: float = 0.10, chunk_size: int = 100_000) -> pd.DataFrame:
    """Per-customer predictions with ``level`` intervals (``*_low``, ``*_high``), one row
    per row of ``summary`` (same order, ``customer_id`` first):

    ``p_alive``
        Probability that the customer is still active at the summary's date.
    ``expected_purchases_<h>d``
        Expected number of purchase days in the next ``h`` days, for each of ``horizons``.
    ``expected_spend``
        Expected spend per future purchase day (Gamma-Gamma; the population mean for
        customers without a positive repeat spend). NaN when the spend model is unusable.
    ``clv``
        Discounted expected revenue over the next ``clv_months`` months of 30 days
        (PyMC-Marketing's ``customer_lifetime_value``: monthly steps, the monthly rate
        equivalent to ``annual_discount_rate``); NaN without a spend model.
    ``expected_purchases_if_alive_<h>d`` (point only)
        Expected purchase days in the next ``h`` days if the customer is active
        (``expected_purchases / p_alive``): what is at stake if the customer has left.

    The work is done in chunks of ``chunk_size`` customers (memory stays bounded).
    """
    horizons = tuple(int(h) for h in horizons)
    if not horizons or min(horizons) <= 0:
        raise ValueError(f"horizons must be positive numbers of days, got {horizons!r}")
    if int(clv_months) < 1:
        raise ValueError(f"clv_months must be at least 1, got {clv_months!r}")
    monthly = monthly_discount_rate(annual_discount_rate)
    parts = [
        _score_chunk(fitted, summary.iloc[i:i + chunk_size], horizons, int(clv_months), monthly)
        for i in range(0, len(summary), int(chunk_size))
    ] or [_score_chunk(fitted, summary.iloc[:0], horizons, int(clv_months), monthly)]
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update({"level": fitted.level, "horizons": horizons, "clv_months": int(clv_months),
                      "annual_discount_rate": float(annual_discount_rate)})
    return out


def _score_chunk(fitted, rows, horizons, clv_months, monthly) -> pd.DataFrame:
    out = pd.DataFrame({"customer_id": rows["customer_id"].to_numpy()})
    n = len(rows)
    if n == 0:
        for c in _score_columns(horizons):
            out[c] = pd.Series(dtype="float64")
        return out
    data = _bg_data(rows)
    ctx = _quiet()
    try:
        bg = _predictor(fitted, data)
        pa = _per_draw(bg.expected_probability_alive(data))
        p, lo, hi = _interval(pa, fitted, "logit")
        out["p_alive"], out["p_alive_low"], out["p_alive_high"] = p, lo, hi
        point_alive = p
        for h in horizons:
            e = _per_draw(bg.expected_purchases(data, future_t=float(h)))
            p, lo, hi = _interval(e, fitted, "log")
            out[f"expected_purchases_{h}d"] = p
            out[f"expected_purchases_{h}d_low"] = lo
            out[f"expected_purchases_{h}d_high"] = hi
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"expected_purchases_if_alive_{h}d"] = np.where(point_alive > 0, p / point_alive, np.nan)
        if fitted.spend_status == "ok":
            from pymc_marketing.clv.utils import customer_lifetime_value

            gg_data = pd.DataFrame({"customer_id": data["customer_id"],
                                    "frequency": data["frequency"],
                                    "monetary_value": np.where(rows["monetary_value"].to_numpy() > 0,
                                                               rows["monetary_value"].to_numpy(), 0.0)})
            # a non-positive repeat mean carries no information about spend: such customers
            # get the population mean (frequency 0 in the Gamma-Gamma formula)
            gg_data.loc[gg_data["monetary_value"] <= 0, "frequency"] = 0.0
            gg = _spend_predictor(fitted, gg_data)
            s = _per_draw(gg.expected_customer_spend(gg_data))
            p, lo, hi = _interval(s, fitted, "log")
            out["expected_spend"], out["expected_spend_low"], out["expected_spend_high"] = p, lo, hi
            clv = _clv_draws(fitted, bg, data, s, clv_months, monthly, customer_lifetime_value)
            p, lo, hi = _interval(clv, fitted, "log") if fitted.interval_kind == "posterior" else \
                _interval_product(clv, fitted)
            out["clv"], out["clv_low"], out["clv_high"] = p, lo, hi
        else:
            for c in ("expected_spend", "expected_spend_low", "expected_spend_high", "clv", "clv_low",
                      "clv_high"):
                out[c] = np.nan
    finally:
        ctx.__exit__(None, None, None)
    return out[["customer_id", *_score_columns(horizons)]]


def _score_columns(horizons) -> list[str]:
    cols = ["p_alive", "p_alive_low", "p_alive_high"]
    for h in horizons:
        cols += [f"expected_purchases_{h}d", f"expected_purchases_{h}d_low", f"expected_purchases_{h}d_high"]
    cols += ["expected_spend", "expected_spend_low", "expected_spend_high", "clv", "clv_low", "clv_high"]
    cols += [f"expected_purchases_if_alive_{h}d" for h in horizons]
    return cols


def _clv_draws(fitted, bg, data, spend_draws, clv_months, monthly, customer_lifetime_value) -> np.ndarray:
    """CLV per draw, ``(draws, customers)``.

    CLV is linear in the spend per order, so PyMC-Marketing's ``customer_lifetime_value`` is
    run once with a unit spend (the discounted expected number of purchases, per purchase
    draw) and multiplied by the spend. Laplace: the two models were fitted separately, so their
    errors are independent; the rows are [purchase sigma points x point spend] followed by
    [point purchases x spend sigma points 1..]. MCMC: purchase draw i with spend draw i."""
    pv = _per_draw(customer_lifetime_value(bg, data.assign(future_spend=1.0), future_t=clv_months,
                                           discount_rate=monthly, time_unit="D"))
    if fitted.interval_kind == "laplace":
        return np.vstack([pv * spend_draws[0][None, :], pv[0][None, :] * spend_draws[1:]])
    k = min(len(pv), len(spend_draws))
    return pv[:k] * spend_draws[:k]


def _interval_product(clv: np.ndarray, fitted: FittedValueModels):
    """Laplace interval of CLV from the stacked draws of :func:`_clv_draws`: the purchase
    model's sigma points (rows 1..2k) and the spend model's (the rows after), combined on the
    log scale as independent errors."""
    from scipy.stats import norm

    k_bg = len(fitted.purchase_draws)
    point = clv[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log(np.maximum(clv, 1e-300))
        bg_half = (g[1:k_bg:2] - g[2:k_bg:2]) / 2
        gg = g[k_bg:]
        gg_half = (gg[0::2] - gg[1::2]) / 2
        se = np.sqrt(np.sum(bg_half ** 2, axis=0) + np.sum(gg_half ** 2, axis=0))
        z = norm.ppf(1 - (1 - fitted.level) / 2)
        lo, hi = np.exp(g[0] - z * se), np.exp(g[0] + z * se)
    zero = point <= 0
    return point, np.where(zero, point, lo), np.where(zero, point, hi)


def probability_alive(fitted: FittedValueModels, summary: pd.DataFrame) -> pd.Series:
    """Point P(alive) per customer of ``summary`` (indexed by ``customer_id``), with the
    fitted parameters: used for last month's P(alive) with this month's parameters."""
    point = pd.DataFrame([fitted.purchase_params])[list(_BG_PARAMS)]
    one = dataclasses.replace(fitted, purchase_draws=point, method="mcmc")
    if len(summary) == 0:
        return pd.Series(dtype="float64", index=pd.Index([], name="customer_id"), name="p_alive")
    data = _bg_data(summary)
    ctx = _quiet()
    try:
        values = _per_draw(_predictor(one, data).expected_probability_alive(data))[0]
    finally:
        ctx.__exit__(None, None, None)
    return pd.Series(values, index=pd.Index(summary["customer_id"].to_numpy(), name="customer_id"),
                     name="p_alive")
