"""Closed forms of the purchase and spend models in numpy/scipy, given fitted parameters.

These are the formulas PyMC-Marketing's ``BetaGeoModel``, ``ModifiedBetaGeoModel`` and
``GammaGammaModel`` evaluate (and lifetimes before them); the tests check them against both
libraries to 1e-6 on the same parameters. Evaluating them here needs no pytensor graph and no
compiler, so scoring millions of customers costs a few array operations.

Shapes: parameters are arrays of shape ``(k, 1)`` (``k`` parameter sets: the optimum and the
Laplace sigma points, or posterior draws) and customer columns arrays of shape ``(n,)``;
results are ``(k, n)``.

**The factorisation used for speed.** For both purchase models the expected number of
purchases in the next ``t`` days is

    E[X(t) | x, t_x, T] = P(alive | x, t_x, T) * G(t | x, T)

where ``G`` -- the expected purchases of a customer known to be active now -- depends on the
customer only through ``x`` and ``T`` (it is the unconditional expectation of the same model with
the posterior parameters ``r + x``, ``alpha + T``, ``b + x``). ``G`` holds the only costly term
(the Gauss hypergeometric function), so it is evaluated once per distinct ``(x, T)`` pair --
a few thousand for hundreds of thousands of customers -- and spread back to customers. The
discounted lifetime value needs ``G`` at the end of each month: again per distinct pair.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, hyp2f1

__all__ = ["p_alive", "expected_if_alive", "expected_spend", "discounted_if_alive", "distinct_pairs"]


def _check(model: str) -> None:
    if model not in ("bgnbd", "mbgnbd"):
        raise ValueError(f"transaction model must be 'bgnbd' or 'mbgnbd', got {model!r}")


def p_alive(model: str, r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """Probability that the customer is active at ``T`` (Fader, Hardie & Lee 2008 for BG/NBD;
    Batislam et al. 2007 for MBG/NBD). Under BG/NBD a customer without repeat purchases is
    active by construction (P = 1)."""
    _check(model)
    x = np.asarray(x, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.log((alpha + T) / (alpha + t_x))
        if model == "bgnbd":
            log_div = (r + x) * ratio + np.log(a / (b + np.maximum(x, 1) - 1))
            return np.where(x == 0, 1.0, expit(-log_div))
        log_div = (r + x) * ratio + np.log(a / (b + x))
        return expit(-log_div)


def expected_if_alive(model: str, r, alpha, a, b, x, T, t) -> np.ndarray:
    """``G(t | x, T)``: expected purchase days in ``(T, T + t]`` of a customer who is active
    at ``T`` (Fader, Hardie & Lee 2005, eq. 10 without its P(alive) factor; Batislam et al.
    2007 for MBG/NBD)."""
    _check(model)
    x = np.asarray(x, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = t / (alpha + T + t)
        decay = np.exp((r + x) * np.log((alpha + T) / (alpha + T + t)))
        if model == "bgnbd":
            return (a + b + x - 1) / (a - 1) * (1 - decay * hyp2f1(r + x, b + x, a + b + x - 1, z))
        return (a + b + x) / (a - 1) * (1 - decay * hyp2f1(r + x, b + x + 1, a + b + x, z))


def discounted_if_alive(model: str, r, alpha, a, b, x, T, months: int, monthly_rate: float,
                        days_per_month: int = 30) -> np.ndarray:
    """Discounted expected purchases of an active customer over ``months`` months of
    ``days_per_month`` days: ``sum_m (G(30 m) - G(30 (m - 1))) / (1 + rate) ** m``, the sum
    PyMC-Marketing's ``customer_lifetime_value`` forms (with a unit spend)."""
    total = 0.0
    previous = 0.0
    for m in range(1, int(months) + 1):
        current = expected_if_alive(model, r, alpha, a, b, x, T, float(days_per_month * m))
        total = total + (current - previous) / (1 + monthly_rate) ** m
        previous = current
    return total


def expected_spend(p, q, v, x, mean_spend) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase (Fader & Hardie 2013, eq. 5): a weighted mean of
    the population mean ``v p / (q - 1)`` and the customer's own mean repeat spend, with the
    weight ``p x / (p x + q - 1)``. Customers with ``x = 0`` get the population mean."""
    x = np.asarray(x, dtype="float64")
    m = np.asarray(mean_spend, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = p * x / (p * x + q - 1)
        return (1 - weight) * (v * p / (q - 1)) + weight * np.where(x > 0, m, 0.0)


def distinct_pairs(x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(x, T)`` pairs: ``(x_unique, T_unique, inverse)`` with
    ``x_unique[inverse] == x`` and ``T_unique[inverse] == T``. Whole-day values (the summary's)
    are paired through one integer key (a 1-d sort); anything else row-wise."""
    x = np.asarray(x, dtype="float64")
    T = np.asarray(T, dtype="float64")
    if len(x) == 0:
        return x, T, np.zeros(0, dtype="int64")
    whole = (np.all(x == np.floor(x)) and np.all(T == np.floor(T)) and x.min() >= 0 and T.min() >= 0
             and (x.max() + 1) * (T.max() + 1) < 2 ** 62)
    if whole:
        width = int(T.max()) + 1
        keys, inverse = np.unique(x.astype("int64") * width + T.astype("int64"), return_inverse=True)
        return (keys // width).astype("float64"), (keys % width).astype("float64"), inverse.reshape(-1)
    pairs, inverse = np.unique(np.stack([x, T], axis=1), axis=0, return_inverse=True)
    return pairs[:, 0], pairs[:, 1], inverse.reshape(-1)
