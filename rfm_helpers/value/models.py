"""Buy-till-you-die models from PyMC-Marketing's CLV module: fitting.

* **Purchases**: BG/NBD (``"bgnbd"``, Fader, Hardie & Lee 2005) by default, or the modified
  BG/NBD (``"mbgnbd"``, Batislam et al. 2007), which also lets a customer leave right after the
  first purchase. Under the plain BG/NBD a customer can only leave after a *repeat* purchase,
  so every one-time buyer has P(alive) = 1 by construction; the figures that rest on P(alive)
  (slipping customers, value at risk) are therefore restricted to repeat customers under
  BG/NBD (see :mod:`rfm_helpers.value.segments`).
* **Spend per order**: Gamma-Gamma (Fader & Hardie 2013), fitted on repeat customers with a
  positive mean repeat spend.

**Which customers are fitted.** With more than ``fit_customers`` customers (default 50,000)
the models are fitted on a seeded random sample of that size, stratified by repeat / one-time
buyer (each group in its share of all customers; :func:`rfm_helpers.value.features.sample_sql`
says how customers are drawn). The intervals then reflect the sample's size: they are wider
than a fit on all customers would give, never narrower. Every customer is scored
(:mod:`rfm_helpers.value.scoring`).

**Fitting.** ``method="map"`` (default): the maximum a posteriori point with flat priors on every
parameter, which is the maximum-likelihood estimate, i.e. the same estimate as lifetimes' fitters
(tested on CDNOW). The log-likelihood is PyMC-Marketing's: the ``logp`` of its
``BetaGeoNBD`` / ``ModifiedBetaGeoNBD`` distributions and the likelihood term of its
``GammaGammaModel``. It is compiled **once per process with the data as inputs** and maximised
over the log-parameters by L-BFGS-B -- what ``pymc.find_MAP`` does (no Jacobian), without
compiling the data into the graph: ``find_MAP`` on a model built with the data as constants
makes pytensor generate and compile new C code for every new data set (every month), which
costs seconds to tens of seconds each time; with the data as inputs, the C code is compiled
once per machine and cached. ``method="mcmc"``: the posterior by NUTS through PyMC-Marketing's ``fit(method="mcmc")`` on a
seeded random sample of ``mcmc_customers`` customers (slower: compiled for each data set), with
flat priors on ``r``, ``alpha`` and the spend parameters and PyMC-Marketing's default prior on
the dropout (its mean ``a / (a + b)`` uniform on (0, 1), its concentration ``a + b`` Pareto(1, 1)):
with flat priors on ``a`` and ``b`` too, the posterior is improper -- ``a`` and ``b`` can grow
together without bound, and a sampler wanders off (seen on 300 CDNOW customers).

**Intervals.** Every per-customer figure comes with an equal-tailed ``level`` interval that
expresses the uncertainty about the model's parameters:

* after a MAP fit, from the Laplace approximation: the covariance of the log-parameters is the
  inverse of the observed information (the Hessian of the log-likelihood at the optimum, by
  central differences of the compiled gradient). A figure ``f`` is evaluated at the optimum and
  at the ``2k`` points ``theta +- L e_j`` (``L`` the Cholesky factor), which gives its standard
  error by the delta method (exact for a linear ``f``); the interval is formed on the log scale
  (logit scale for probabilities) so it stays inside the possible range;
* after an MCMC fit, from the quantiles of the figure over the posterior draws.

These intervals do **not** include model error (the backtest in
:mod:`rfm_helpers.value.backtest` measures that), nor the randomness of what a customer will
actually do: they say how well the data pin down the expected value.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
import warnings

import numpy as np
import pandas as pd

from .scoring import monthly_discount_rate, probability_alive, score_customers

__all__ = ["TRANSACTION_MODELS", "FIT_METHODS", "FIT_CUSTOMERS", "FittedValueModels", "ModelNotIdentified",
           "fit_value_models", "warm_up", "score_customers", "probability_alive", "monthly_discount_rate"]

#: Transaction model codes -> PyMC-Marketing class names.
TRANSACTION_MODELS = {"bgnbd": "BetaGeoModel", "mbgnbd": "ModifiedBetaGeoModel"}
FIT_METHODS = ("map", "mcmc")
#: Default bound on the customers a MAP fit uses (a stratified, seeded sample above it).
FIT_CUSTOMERS = 50_000
_BG_PARAMS = ("r", "alpha", "a", "b")
_GG_PARAMS = ("p", "q", "v")
#: Log-parameters are searched in [-LOG_BOUND, LOG_BOUND] (e^25 ~ 7e10); an optimum on the
#: bound means the data do not identify the parameter.
LOG_BOUND = 25.0


class ModelNotIdentified(RuntimeError):
    """The data do not pin the model's parameters down (optimum on a bound, or an information
    matrix that is not positive definite). ``model``: ``"purchase"`` or ``"spend"``."""

    def __init__(self, model: str, detail: str):
        super().__init__(f"the {model} model's parameters are not identified by the data: {detail}")
        self.model = model
        self.detail = detail


def _quiet():
    """Silence the import-time and fit-time chatter of PyMC/ArviZ (FutureWarnings about
    ArviZ's refactor, pytensor's BLAS notice); real errors still raise. In the warm-up thread
    this does nothing: ``warnings.catch_warnings`` swaps the process-wide filter list and is not
    thread-safe."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
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
        from pymc_extras.prior import Prior
        from pymc_marketing import clv
    finally:
        ctx.__exit__(None, None, None)
    return clv, Prior


_WARM_UP: dict[str, threading.Thread] = {}
_WARM_UP_LOCK = threading.Lock()


def warm_up(transaction_model: str = "bgnbd", method: str = "map") -> None:
    """Import PyMC-Marketing and (for ``method="map"``) compile the log-likelihoods in a
    background thread, once per process, so that this fixed cost (a few seconds) overlaps work
    the caller does meanwhile, e.g. DuckDB building the customer summary, which releases the
    GIL. The fit waits for it. Start it only when the calling thread is not itself importing
    new modules meanwhile (two threads importing the same packages can deadlock); a failure in
    the thread is ignored: the fit then does the work itself and raises any real error."""
    key = f"{transaction_model}:{method}"
    with _WARM_UP_LOCK:
        if key in _WARM_UP or (method == "map" and f"purchase:{transaction_model}" in _COMPILED):
            return
        thread = threading.Thread(target=_warm_up, args=(transaction_model, method), name="rfm-value-warm-up",
                                  daemon=True)
        _WARM_UP[key] = thread
        thread.start()


def _warm_up(transaction_model: str, method: str) -> None:
    try:
        _clv_module()
        if method == "map":
            purchase_loglik(transaction_model)
            spend_loglik()
    except Exception:  # noqa: BLE001 - the main thread repeats the work and raises for real
        pass


def _wait_for_warm_up() -> None:
    for thread in list(_WARM_UP.values()):
        thread.join()


@dataclasses.dataclass
class FittedValueModels:
    """Fitted purchase and spend models with the settings they were fitted with.

    ``purchase_params`` / ``spend_params``: point estimates (time unit: days).
    ``purchase_draws`` / ``spend_draws``: the parameter sets the intervals are computed from
    (MAP: the optimum first, then the ``2k`` Laplace sigma points; MCMC: posterior draws).
    ``spend_params`` is empty when the spend model could not be fitted (see ``spend_status``).
    ``n_customers``: customers in the data; ``n_fit_customers``: customers the purchase model
    was fitted on (fewer when sampled, see ``sampled``, ``fit_seed``).
    """

    transaction_model: str
    method: str
    level: float
    purchase_params: dict[str, float]
    purchase_draws: pd.DataFrame
    spend_params: dict[str, float]
    spend_draws: pd.DataFrame
    spend_status: str  # "ok", "too_few_repeat_customers", "infinite_mean" (q <= 1), "not_identified", "not_fitted"
    n_customers: int
    n_fit_customers: int
    n_spend_customers: int
    fit_seconds: float
    purchase_covariance: np.ndarray | None = None  # log-parameter covariance (MAP only)
    frequency_spend_correlation: float = math.nan
    spend_covariance: np.ndarray | None = None
    n_fit_repeat: int = 0
    sampled: bool = False
    fit_seed: int = 0

    @property
    def interval_kind(self) -> str:
        return "laplace" if self.method == "map" else "posterior"


# ----------------------------------------------------------------------------- likelihoods
_COMPILED: dict[str, object] = {}


def _flat_config(names, Prior) -> dict:
    return {k: Prior("HalfFlat") for k in names}


def _model_class(clv, transaction_model: str):
    try:
        return getattr(clv, TRANSACTION_MODELS[transaction_model])
    except KeyError:
        raise ValueError(f"transaction_model must be one of {sorted(TRANSACTION_MODELS)}, "
                         f"got {transaction_model!r}") from None


def purchase_loglik(transaction_model: str):
    """``f(theta, x, t_x, T, w) -> (loglik, gradient)``: the weighted log-likelihood of
    PyMC-Marketing's ``BetaGeoNBD`` (``"bgnbd"``) or ``ModifiedBetaGeoNBD`` (``"mbgnbd"``)
    distribution at ``exp(theta) = (r, alpha, a, b)``, compiled once per process with the data
    as inputs (so one compiled function serves every data set)."""
    key = f"purchase:{transaction_model}"
    if key not in _COMPILED:
        _model_class(_clv_module()[0], transaction_model)  # checks the code
        ctx = _quiet()
        try:
            import pytensor
            import pytensor.tensor as pt
            from pymc_marketing.clv.distributions import BetaGeoNBD, ModifiedBetaGeoNBD

            dist = BetaGeoNBD if transaction_model == "bgnbd" else ModifiedBetaGeoNBD
            theta = pt.dvector("theta")
            x, t_x, T, w = pt.dvector("x"), pt.dvector("t_x"), pt.dvector("T"), pt.dvector("w")
            r, alpha, a, b = (pt.exp(theta[i]) for i in range(4))
            ll = pt.sum(w * dist.logp(pt.stack([t_x, x], axis=-1), a, b, r, alpha, T))
            _COMPILED[key] = pytensor.function([theta, x, t_x, T, w], [ll, pt.grad(ll, theta)])
        finally:
            ctx.__exit__(None, None, None)
    return _COMPILED[key]


def spend_loglik():
    """``f(theta, x, m, w) -> (loglik, gradient)``: the weighted log-likelihood of
    PyMC-Marketing's ``GammaGammaModel`` at ``exp(theta) = (p, q, v)``. The model is built by
    PyMC-Marketing on a seven-customer template; its shape assertions are dropped and its two
    data constants (frequency and mean spend) replaced by inputs, and the result is checked to
    hold nothing else of the template (tested against the model's own log-likelihood)."""
    if "spend" not in _COMPILED:
        clv, Prior = _clv_module()
        ctx = _quiet()
        try:
            import pytensor
            import pytensor.tensor as pt
            from pytensor.graph.traversal import ancestors
            from pytensor.tensor.variable import TensorConstant

            from pytensor.tensor.shape import SpecifyShape

            freq = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
            mean = np.array([10.5, 20.25, 30.125, 40.0625, 50.5, 60.75, 70.875])
            gg = clv.GammaGammaModel(model_config=_flat_config(_GG_PARAMS, Prior))
            gg.build_model(pd.DataFrame({"customer_id": np.arange(len(freq)), "frequency": freq,
                                         "monetary_value": mean}))
            model = gg.model
            terms = model.logp(jacobian=False, sum=False)
            # shape assertions pin the template's length: drop them (they do not change values)
            checks = {v: v.owner.inputs[0] for v in ancestors(terms)
                      if v.owner is not None and isinstance(v.owner.op, SpecifyShape)}
            if checks:
                terms = pytensor.clone_replace(terms, replace=checks)
            consts = [c for c in ancestors(terms) if isinstance(c, TensorConstant) and c.ndim >= 1]
            x, m, w = pt.dvector("x"), pt.dvector("m"), pt.dvector("w")
            swap = {}
            for c in consts:
                if np.array_equal(c.data, freq):
                    swap[c] = x
                elif np.array_equal(c.data, mean):
                    swap[c] = m
                else:
                    raise RuntimeError(f"PyMC-Marketing's GammaGammaModel holds an unexpected constant {c.data!r}")
            if set(swap.values()) != {x, m}:
                raise RuntimeError("PyMC-Marketing's GammaGammaModel no longer holds the data as two constants")
            # rebuilt node by node, so the types lose the template's static length
            terms = pytensor.clone_replace(terms, replace=swap, rebuild_strict=False)
            leftover = [c for c in ancestors(terms) if isinstance(c, TensorConstant)
                        and (c.ndim >= 1 or (c.dtype.startswith(("int", "uint")) and int(c.data) == len(freq)))]
            if leftover:
                raise RuntimeError(f"PyMC-Marketing's GammaGammaModel graph still depends on its template data: "
                                   f"{leftover}")
            values = [model.rvs_to_values[model[n]] for n in _GG_PARAMS]
            total = sum(pt.sum(w * term) if term.ndim == 1 else pt.sum(term) for term in terms)
            grads = pt.grad(total, values)
            fn = pytensor.function([*values, x, m, w], [total, *grads])
        finally:
            ctx.__exit__(None, None, None)

        def f(theta, x_, m_, w_, _fn=fn):
            out = _fn(*[np.asarray(t) for t in theta], x_, m_, w_)
            return out[0], np.array([float(g) for g in out[1:]])

        _COMPILED["spend"] = f
    return _COMPILED["spend"]


# ----------------------------------------------------------------------------- optimisation
def _maximise(f, data: tuple, k: int, what: str) -> np.ndarray:
    """Maximise ``f(theta, *data)`` over ``theta`` in ``[-LOG_BOUND, LOG_BOUND]^k`` from
    ``theta = 0`` (every parameter 1, PyMC's initial point for flat positive priors)."""
    from scipy.optimize import minimize

    scale = float(np.sum(data[-1])) or 1.0  # the mean log-likelihood is better conditioned

    def neg(theta):
        ll, grad = f(theta, *data)
        ll = float(ll)
        if not math.isfinite(ll):
            return 1e300, np.zeros(k)
        return -ll / scale, -np.asarray(grad, dtype="float64") / scale

    res = minimize(neg, np.zeros(k), jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * k,
                   options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10})
    theta = np.asarray(res.x, dtype="float64")
    if np.any(np.abs(theta) >= LOG_BOUND - 1e-6):
        raise ModelNotIdentified(what, "a parameter ran to the edge of the search range "
                                 f"({dict(zip(range(k), np.round(np.exp(theta), 6)))})")
    if not res.success and np.max(np.abs(neg(theta)[1])) > 1e-4:
        raise ModelNotIdentified(what, f"the optimiser did not converge ({res.message})")
    return theta


def _laplace(f, theta: np.ndarray, data: tuple, what: str) -> np.ndarray:
    """Covariance of the log-parameters: the inverse of minus the Hessian of the log-likelihood
    at ``theta``, by central differences of the compiled gradient."""
    k = len(theta)

    def grad(th):
        return np.asarray(f(th, *data)[1], dtype="float64")

    H = np.empty((k, k))
    for j in range(k):
        h = 1e-4 * max(1.0, abs(theta[j]))
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    info = -(H + H.T) / 2
    try:
        np.linalg.cholesky(info)
    except np.linalg.LinAlgError:
        raise ModelNotIdentified(what, "the information matrix is not positive definite") from None
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


def _compress(x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
    """Distinct ``(x, t_x, T)`` rows and how often each occurs: the likelihood only depends on
    these three numbers, so weighting distinct rows by their counts gives the same sum."""
    rows, counts = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
    return rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), counts.astype("float64")


def _fit_purchase_map(rows: pd.DataFrame, transaction_model: str):
    f = purchase_loglik(transaction_model)
    data = _compress(rows["frequency"].to_numpy(dtype="float64"), rows["recency"].to_numpy(dtype="float64"),
                     rows["T"].to_numpy(dtype="float64"))
    theta = _maximise(f, data, 4, "purchase")
    cov = _laplace(f, theta, data, "purchase")
    point = dict(zip(_BG_PARAMS, (float(v) for v in np.exp(theta))))
    return point, cov


def _fit_spend_map(repeat: pd.DataFrame):
    f = spend_loglik()
    data = (repeat["frequency"].to_numpy(dtype="float64"), repeat["monetary_value"].to_numpy(dtype="float64"),
            np.ones(len(repeat)))
    theta = _maximise(f, data, 3, "spend")
    cov = _laplace(f, theta, data, "spend")
    return dict(zip(_GG_PARAMS, (float(v) for v in np.exp(theta)))), cov


def _bg_data(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": np.arange(len(summary)),
                         "frequency": summary["frequency"].to_numpy(dtype="float64"),
                         "recency": summary["recency"].to_numpy(dtype="float64"),
                         "T": summary["T"].to_numpy(dtype="float64")})


def _mcmc(model, names, draws, chains, max_draws, seed) -> pd.DataFrame:
    model.fit(method="mcmc", draws=int(draws), tune=int(draws), chains=int(chains), cores=1,
              progressbar=False, random_seed=seed, compute_convergence_checks=False)
    return _posterior_draws(model.idata, names, max_draws, seed)


# ----------------------------------------------------------------------------- the fit
def fit_value_models(summary: pd.DataFrame, *, transaction_model: str = "bgnbd", method: str = "map",
                     level: float = 0.9, fit_customers: int | None = FIT_CUSTOMERS, mcmc_customers: int = 2000,
                     draws: int = 500, chains: int = 2, max_draws: int = 200, random_seed: int = 0,
                     min_spend_customers: int = 30, n_customers: int | None = None) -> FittedValueModels:
    """Fit the purchase model on ``summary`` (from
    :func:`rfm_helpers.value.features.compute_value_summary`) and Gamma-Gamma on its repeat
    customers with a positive ``monetary_value``.

    ``summary`` larger than ``fit_customers`` (MAP) or ``mcmc_customers`` (MCMC) is first cut
    to a stratified sample of that size (:func:`rfm_helpers.value.features.sample_summary`,
    seed ``random_seed``). A caller that sampled already (from a DuckDB table) passes the
    sample and the population size as ``n_customers``. Checked here: the arguments; the data
    sufficiency rules are applied by the caller (:func:`rfm_helpers.value.segments.sufficiency`).
    Raises :class:`ModelNotIdentified` when the data do not pin the parameters down.
    """
    from .features import sample_summary

    if method not in FIT_METHODS:
        raise ValueError(f"method must be one of {FIT_METHODS}, got {method!r}")
    if transaction_model not in TRANSACTION_MODELS:
        raise ValueError(f"transaction_model must be one of {sorted(TRANSACTION_MODELS)}, "
                         f"got {transaction_model!r}")
    if not 0.5 <= float(level) < 1:
        raise ValueError(f"level must be between 0.5 and 1 (e.g. 0.9), got {level!r}")
    need = {"frequency", "recency", "T", "monetary_value"}
    if not need <= set(summary.columns):
        raise KeyError(f"summary lacks {sorted(need - set(summary.columns))}; use compute_value_summary")
    if len(summary) < 2 or (summary["frequency"] > 0).sum() < 1:
        raise ValueError("cannot fit a purchase model without repeat customers")
    _wait_for_warm_up()
    bound = mcmc_customers if method == "mcmc" else fit_customers
    population = int(n_customers) if n_customers is not None else len(summary)
    rows = summary
    if bound is not None and len(summary) > int(bound):
        rows = sample_summary(summary, int(bound), random_seed)
    t0 = time.perf_counter()
    repeat = rows[(rows["frequency"] > 0) & (rows["monetary_value"] > 0)]
    corr = (float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])
            if len(repeat) > 2 and repeat["frequency"].nunique() > 1 else math.nan)
    spend_params: dict[str, float] = {}
    gg_draws = pd.DataFrame(columns=list(_GG_PARAMS))
    cov = gg_cov = None
    status = "ok" if len(repeat) >= min_spend_customers else "too_few_repeat_customers"
    if method == "map":
        point, cov = _fit_purchase_map(rows, transaction_model)
        bg_draws = _sigma_draws(_BG_PARAMS, point, cov)
        if status == "ok":
            try:
                spend_params, gg_cov = _fit_spend_map(repeat)
                gg_draws = _sigma_draws(_GG_PARAMS, spend_params, gg_cov)
            except ModelNotIdentified:
                status = "not_identified"
    else:
        clv, Prior = _clv_module()
        ctx = _quiet()
        try:
            # flat priors on a and b make the posterior improper (a and b can grow together
            # without bound): the dropout keeps PyMC-Marketing's default prior instead
            bg = _model_class(clv, transaction_model)(model_config=_flat_config(("r", "alpha"), Prior))
            bg.build_model(_bg_data(rows))
            bg_draws = _mcmc(bg, _BG_PARAMS, draws, chains, max_draws, random_seed)
            point = {n: float(bg_draws[n].median()) for n in _BG_PARAMS}
            if status == "ok":
                gg = clv.GammaGammaModel(model_config=_flat_config(_GG_PARAMS, Prior))
                gg.build_model(pd.DataFrame({"customer_id": np.arange(len(repeat)),
                                             "frequency": repeat["frequency"].to_numpy(dtype="float64"),
                                             "monetary_value": repeat["monetary_value"].to_numpy(dtype="float64")}))
                gg_draws = _mcmc(gg, _GG_PARAMS, draws, chains, max_draws, random_seed)
                spend_params = {n: float(gg_draws[n].median()) for n in _GG_PARAMS}
        finally:
            ctx.__exit__(None, None, None)
    if status == "ok" and (spend_params["q"] <= 1 or (gg_draws["q"] <= 1).any()):
        status = "infinite_mean"
    return FittedValueModels(
        transaction_model=transaction_model, method=method, level=float(level),
        purchase_params=point, purchase_draws=bg_draws, spend_params=spend_params,
        spend_draws=gg_draws, spend_status=status, n_customers=population,
        n_fit_customers=len(rows), n_spend_customers=len(repeat),
        fit_seconds=time.perf_counter() - t0, purchase_covariance=cov,
        frequency_spend_correlation=corr, spend_covariance=gg_cov,
        n_fit_repeat=int((rows["frequency"] > 0).sum()), sampled=len(rows) < population,
        fit_seed=int(random_seed))
