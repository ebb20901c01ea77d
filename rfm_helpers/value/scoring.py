"""Score customers with fitted parameters: closed forms in numpy, in chunks, with intervals.

Given :class:`~rfm_helpers.value.models.FittedValueModels`, every figure is a closed form
(:mod:`rfm_helpers.value.formulas`) evaluated at each parameter set the fit left behind (MAP:
the optimum and the Laplace sigma points; MCMC: posterior draws). No pytensor graph is built,
so scoring needs neither PyMC-Marketing's import nor a compiler.

Per customer (see :func:`score_arrays` for the exact definitions):

``p_alive``
    Probability that the customer is still active at the summary's date.
``expected_purchases_<h>d``
    Expected number of purchase days in the next ``h`` days, for each of ``horizons``.
``expected_spend``
    Expected spend per future purchase day (Gamma-Gamma; the population mean for customers
    without a positive repeat spend). NaN when the spend model is unusable.
``clv``
    Discounted expected revenue over the next ``clv_months`` months of 30 days (PyMC-Marketing's
    ``customer_lifetime_value``: monthly steps, the monthly rate equivalent to the annual
    discount rate); NaN without a spend model.
``expected_revenue_<h>d``, ``value_at_risk``, ``p_alive_last_month``, ``p_alive_change``
    See :mod:`rfm_helpers.value.segments`.

Each has ``_low`` / ``_high`` bounds of the fit's ``level`` interval (parameter uncertainty;
see :mod:`rfm_helpers.value.models`). Memory is bounded: customers are processed in chunks so
that no ``(parameter sets x customers)`` array exceeds :data:`CHUNK_ELEMENTS` values.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from . import formulas

__all__ = ["CHUNK_ELEMENTS", "VALUE_AT_RISK_DAYS", "monthly_discount_rate", "score_arrays", "score_customers",
           "score_batches", "probability_alive", "chunk_rows", "point_only", "distinct_rows"]

#: Largest ``(parameter sets x customers)`` array a chunk may create (8 bytes each: 32 MB).
CHUNK_ELEMENTS = 4_000_000
#: Horizon of the revenue a customer who has left would have brought (value at risk).
VALUE_AT_RISK_DAYS = 365
_BG = ("r", "alpha", "a", "b")
_GG = ("p", "q", "v")


def monthly_discount_rate(annual_rate: float) -> float:
    """The monthly rate equivalent to ``annual_rate`` (``(1 + a) ** (1/12) - 1``)."""
    if not -1 < float(annual_rate) < 10:
        raise ValueError(f"annual discount rate must be a share such as 0.1 (10%), got {annual_rate!r}")
    return (1 + float(annual_rate)) ** (1 / 12) - 1


def chunk_rows(fitted) -> int:
    """Customers per chunk for ``fitted`` (fewer when there are many posterior draws)."""
    k = max(len(fitted.purchase_draws), len(fitted.spend_draws), 1)
    return max(1024, CHUNK_ELEMENTS // k)


def point_only(fitted):
    """``fitted`` with its point estimates as the only parameter set: point predictions at a
    ninth of the cost (the intervals collapse to the point; for the backtest, which compares
    points)."""
    import dataclasses

    spend = pd.DataFrame([fitted.spend_params])[list(_GG)] if fitted.spend_params else fitted.spend_draws.iloc[:0]
    return dataclasses.replace(fitted, method="map", purchase_draws=pd.DataFrame([fitted.purchase_params])[list(_BG)],
                               spend_draws=spend)


def _params(draws: pd.DataFrame, names) -> list[np.ndarray]:
    return [draws[n].to_numpy(dtype="float64")[:, None] for n in names]


# ----------------------------------------------------------------------------- intervals
def _interval(values: np.ndarray, fitted, scale: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point, low, high from per-parameter-set ``values`` ``(k, n)``.

    Laplace: row 0 is the optimum, then pairs ``+L e_j``, ``-L e_j``; the standard error on the
    ``scale`` (``log``, ``logit`` or ``identity``) is ``sqrt(sum_j ((g(f+) - g(f-)) / 2) ** 2)``
    (the delta method, exact for a linear ``g(f)``). Posterior: the median and the quantiles."""
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
    fixed = values.max(axis=0) == values.min(axis=0)
    lo = np.where(fixed, point, np.minimum(lo, point))
    hi = np.where(fixed, point, np.maximum(hi, point))
    return point, lo, hi


def _interval_product(purchases: np.ndarray, spend: np.ndarray, fitted):
    """Interval of ``purchases * spend`` (CLV). Laplace: the two models were fitted separately,
    so their errors are independent and add on the log scale. Posterior: draw ``i`` of one
    with draw ``i`` of the other."""
    from scipy.stats import norm

    if fitted.interval_kind == "posterior":
        k = min(len(purchases), len(spend))
        return _interval(purchases[:k] * spend[:k], fitted, "log")
    point = purchases[0] * spend[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        gp = np.log(np.maximum(purchases, 1e-300))
        gs = np.log(np.maximum(spend, 1e-300))
        se = np.sqrt(np.sum(((gp[1::2] - gp[2::2]) / 2) ** 2, axis=0)
                     + np.sum(((gs[1::2] - gs[2::2]) / 2) ** 2, axis=0))
        z = norm.ppf(1 - (1 - fitted.level) / 2)
        lo, hi = np.exp(np.log(point) - z * se), np.exp(np.log(point) + z * se)
    zero = point <= 0
    return point, np.where(zero, point, lo), np.where(zero, point, hi)


# ----------------------------------------------------------------------------- scoring
def distinct_rows(*columns) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of equal-length float columns, compared bit for bit: ``(unique_columns,
    inverse)`` with ``unique_columns[i][inverse] == columns[i]`` (the same bits, NaN included).
    Order of the unique rows: unspecified but fixed for the same input.

    Hashed, not sorted: each column's bits are numbered by a hash table (``pandas.factorize``),
    and the row's numbers are combined column by column into one number per distinct row, numbered
    again after each column (so it stays below ``rows ** 2``). The three-key ``lexsort`` this
    replaced took 0.26 of the 0.62 CPU-s of scoring 478k customers."""
    cols = [np.ascontiguousarray(c, dtype="float64") for c in columns]
    n = len(cols[0])
    if n == 0:
        return cols, np.zeros(0, dtype="int64")
    key = _whole_key(cols)
    if key is None:  # any bits: each column numbered, then combined with the rows' numbers so far
        key = np.zeros(n, dtype="int64")
        for c in cols:  # key < (distinct rows so far) x (distinct values of this column) <= n ** 2
            codes, uniques = pd.factorize(c.view("int64"), sort=False)
            key = key * len(uniques) + codes.astype("int64", copy=False)
            key, _ = pd.factorize(key, sort=False)
            key = key.astype("int64", copy=False)
    else:  # whole non-negative numbers (the summary's days and counts): one key, one hash
        key, _ = pd.factorize(key, sort=False)
        key = key.astype("int64", copy=False)
    first = np.empty(int(key.max()) + 1, dtype="int64")
    first[key] = np.arange(n)  # any row of a distinct row holds its values (the same bits)
    return [c[first] for c in cols], key


def _whole_key(cols: list[np.ndarray]) -> np.ndarray | None:
    """One int64 per row packing the columns when every value is a whole number from +0.0 up
    (sign bit clear: -0.0 is not packed with 0.0) and the packed range fits; else None."""
    key = np.zeros(len(cols[0]), dtype="int64")
    span = 1
    for c in cols:
        if not ((c.view("int64") >= 0).all() and (c == np.floor(c)).all() and c.max() < 2.0 ** 62):
            return None  # a sign bit, a fraction, NaN or inf
        width = int(c.max()) + 1
        if span * width >= 2 ** 62:
            return None
        key = key * width + c.astype("int64")
        span *= width
    return key


def _log_spread(values: np.ndarray) -> np.ndarray:
    """Laplace: ``sum_j ((log f+ - log f-) / 2) ** 2`` per column (see :func:`_interval_product`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log(np.maximum(values, 1e-300))
        return np.sum(((g[1::2] - g[2::2]) / 2) ** 2, axis=0)


def score_arrays(fitted, frequency, recency, T, monetary_value, *, horizons=(90, 365), clv_months: int = 12,
                 monthly_rate: float = 0.0, last_month: tuple | None = None,
                 pairs: "PairTable | None" = None) -> dict[str, np.ndarray]:
    """All per-customer figures for one chunk of customers (numpy arrays in, numpy arrays out).

    ``last_month``: ``(frequency, recency, T)`` of the same customers at the end of last month
    (NaN for customers not seen by then) for ``p_alive_last_month`` with the same parameters.
    ``pairs``: a :class:`PairTable` of the same fit and settings holding every ``(frequency, T)``
    of these customers (the costly terms are then looked up, not evaluated again per chunk).

    The purchase model's figures depend on a customer only through ``(frequency, recency, T)``
    and the spend model's through ``(frequency, monetary_value)`` of its informative customers:
    each is evaluated once per distinct row of its inputs (about two in five customers of a chunk
    at 1e7 transactions; one in five for spend) and spread back. Every figure is an element-wise
    function of those inputs, so the numbers are the same, bit for bit, as evaluating every
    customer (tested against that)."""
    model = fitted.transaction_model
    x = np.asarray(frequency, dtype="float64")
    t_x = np.asarray(recency, dtype="float64")
    T_ = np.asarray(T, dtype="float64")
    m = np.asarray(monetary_value, dtype="float64")
    n = len(x)
    (ux3, ut3, uT3), tri = distinct_rows(x, t_x, T_)
    p = _purchase_figures(fitted, ux3, ut3, uT3, horizons, clv_months, monthly_rate, pairs)
    out: dict[str, np.ndarray] = {c: v[tri] for c, v in p["per_customer"].items()}

    if fitted.spend_status == "ok":
        p_, q_, v_ = _params(fitted.spend_draws, _GG)
        # a non-positive repeat mean carries no information about spend: such customers get
        # the population mean (frequency 0 in the Gamma-Gamma formula)
        informative = (x > 0) & (m > 0)
        (sx, sm), pair = distinct_rows(np.where(informative, x, 0.0), np.where(informative, m, 0.0))
        spend = formulas.expected_spend(p_, q_, v_, sx, sm)
        _finite(spend[0], "expected spend", fitted)
        s_point, s_lo, s_hi = _interval(spend, fitted, "log")
        out["expected_spend"], out["expected_spend_low"], out["expected_spend_high"] = \
            s_point[pair], s_lo[pair], s_hi[pair]
        purchases = p["clv_purchases"]
        if fitted.interval_kind == "posterior":
            out["clv"], out["clv_low"], out["clv_high"] = _interval_product(purchases[:, tri], spend[:, pair], fitted)
        else:
            out["clv"], out["clv_low"], out["clv_high"] = _laplace_product(
                purchases[0][tri], spend[0][pair], _log_spread(purchases)[tri], _log_spread(spend)[pair], fitted)
    else:
        for c in ("expected_spend", "expected_spend_low", "expected_spend_high", "clv", "clv_low", "clv_high"):
            out[c] = np.full(n, np.nan)
    s, s_lo, s_hi = out["expected_spend"], out["expected_spend_low"], out["expected_spend_high"]
    for h in horizons:
        e = f"expected_purchases_{h}d"
        out[f"expected_revenue_{h}d"] = out[e] * s
        out[f"expected_revenue_{h}d_low"] = out[f"{e}_low"] * s_lo
        out[f"expected_revenue_{h}d_high"] = out[f"{e}_high"] * s_hi
    out["value_at_risk"] = p["risk_units"][tri] * s
    for h in horizons:
        out[f"expected_purchases_if_alive_{h}d"] = p["if_alive"][h][tri]
    if last_month is not None:
        lx, ltx, lT = (np.asarray(c, dtype="float64") for c in last_month)
        seen = ~np.isnan(lx)
        last = np.full(n, np.nan)
        if seen.any():
            point = [np.array([[fitted.purchase_params[k]]]) for k in _BG]
            last[seen] = formulas.p_alive(model, *point, lx[seen], ltx[seen], lT[seen])[0]
        out["p_alive_last_month"] = last
        out["p_alive_change"] = out["p_alive"] - last
    return {c: out[c] for c in _keys(horizons, last_month is not None)}


def _keys(horizons, last: bool) -> list[str]:
    """The keys of :func:`score_arrays`, in its order."""
    cols = ["p_alive", "p_alive_low", "p_alive_high"]
    for h in horizons:
        cols += [f"expected_purchases_{h}d", f"expected_purchases_{h}d_low", f"expected_purchases_{h}d_high"]
    cols += ["expected_spend", "expected_spend_low", "expected_spend_high", "clv", "clv_low", "clv_high"]
    for h in horizons:
        cols += [f"expected_revenue_{h}d", f"expected_revenue_{h}d_low", f"expected_revenue_{h}d_high"]
    cols.append("value_at_risk")
    cols += [f"expected_purchases_if_alive_{h}d" for h in horizons]
    if last:
        cols += ["p_alive_last_month", "p_alive_change"]
    return cols


def _purchase_figures(fitted, x, t_x, T_, horizons, clv_months, monthly_rate, pairs=None) -> dict:
    """The purchase model's figures for distinct ``(x, t_x, T)`` rows: ``per_customer`` (P(alive)
    and expected purchases with their intervals), ``if_alive`` (G per horizon, point),
    ``risk_units`` (``(1 - P(alive)) * G(365)``), ``clv_purchases`` (discounted purchases per
    parameter set, ``(k, rows)``; None without a spend model)."""
    model = fitted.transaction_model
    r, alpha, a, b = _params(fitted.purchase_draws, _BG)
    res: dict[str, np.ndarray] = {}
    pa = formulas.p_alive(model, r, alpha, a, b, x, t_x, T_)
    res["p_alive"], res["p_alive_low"], res["p_alive_high"] = _interval(pa, fitted, "logit")
    ux, uT, inv = formulas.distinct_pairs(x, T_)
    at = pairs.index(fitted, ux, uT, horizons, clv_months, monthly_rate) if pairs is not None else None
    if at is None:  # no table, or a pair it lacks: evaluated here
        table, at = _pair_terms(fitted, ux, uT, horizons, clv_months, monthly_rate), inv
    else:
        table, at = pairs.terms, at[inv]
    expected = {}
    for h in sorted({*horizons, VALUE_AT_RISK_DAYS}):
        g_point = table["g_point"][h][at]
        _finite(g_point, f"expected purchases in {h} days", fitted)
        expected[h] = (g_point, pa * table["g"][h][:, at])
    for h in horizons:
        p, lo, hi = _interval(expected[h][1], fitted, "log")
        res[f"expected_purchases_{h}d"], res[f"expected_purchases_{h}d_low"], res[f"expected_purchases_{h}d_high"] = \
            p, lo, hi
    purchases = None
    if fitted.spend_status == "ok":
        units = table["units"][:, at]
        _finite(units[0], "discounted purchases", fitted)
        purchases = pa * units
    return {"per_customer": res, "if_alive": {h: expected[h][0] for h in horizons},
            "risk_units": (1 - res["p_alive"]) * expected[VALUE_AT_RISK_DAYS][0], "clv_purchases": purchases}


def _pair_terms(fitted, ux, uT, horizons, clv_months, monthly_rate) -> dict:
    """The costly terms of distinct ``(x, T)`` pairs: ``g[h]`` (G per parameter set, ``(k, pairs)``),
    ``g_point[h]`` (G at the point estimate: row 0 after a MAP fit; a posterior has no such row)
    for every horizon and :data:`VALUE_AT_RISK_DAYS`, ``units`` (discounted purchases if alive
    over ``clv_months``; None without a spend model)."""
    model = fitted.transaction_model
    r, alpha, a, b = _params(fitted.purchase_draws, _BG)
    point = [np.array([[fitted.purchase_params[k]]]) for k in _BG]
    out: dict = {"g": {}, "g_point": {}, "units": None}
    for h in sorted({*horizons, VALUE_AT_RISK_DAYS}):
        g = formulas.expected_if_alive(model, r, alpha, a, b, ux, uT, float(h))
        out["g"][h] = g
        out["g_point"][h] = g[0] if fitted.interval_kind == "laplace" else \
            formulas.expected_if_alive(model, *point, ux, uT, float(h))[0]
    if fitted.spend_status == "ok":
        out["units"] = formulas.discounted_if_alive(model, r, alpha, a, b, ux, uT, clv_months, monthly_rate)
    return out


class PairTable:
    """The costly terms of the purchase model (:func:`_pair_terms`: the hypergeometric function)
    for every distinct ``(frequency, T)`` pair of a run, evaluated once instead of once per chunk
    of customers (a chunk of 200,000 customers holds most of the run's few thousand pairs).
    Built for one fit and one set of settings; :meth:`index` answers None for anything else."""

    def __init__(self, fitted, frequency, T, *, horizons=(90, 365), clv_months: int = 12, monthly_rate: float = 0.0):
        self.fitted = fitted
        self.settings = (tuple(int(h) for h in horizons), int(clv_months), float(monthly_rate))
        self.x, self.T, _ = formulas.distinct_pairs(np.asarray(frequency, dtype="float64"),
                                                    np.asarray(T, dtype="float64"))
        self.terms = _pair_terms(fitted, self.x, self.T, *self.settings)
        self._sorted = _complex(self.x, self.T)  # distinct_pairs sorts by (x, T), as numpy sorts complex numbers

    def index(self, fitted, x, T, horizons, clv_months, monthly_rate) -> np.ndarray | None:
        """Column of each pair ``(x[i], T[i])`` in the table, or None when the fit or settings
        differ or a pair is not in it."""
        if fitted is not self.fitted or (tuple(int(h) for h in horizons), int(clv_months),
                                         float(monthly_rate)) != self.settings or len(self.x) == 0:
            return None
        want = _complex(np.asarray(x, dtype="float64"), np.asarray(T, dtype="float64"))
        pos = np.minimum(np.searchsorted(self._sorted, want), len(self._sorted) - 1)
        return pos if np.array_equal(self._sorted[pos], want) else None


def _complex(x: np.ndarray, T: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), dtype="complex128")
    out.real, out.imag = x, T
    return out


def _laplace_product(p_point, s_point, p_spread, s_spread, fitted):
    """:func:`_interval_product` after a MAP fit from its pieces: the point purchases and spend
    per customer and :func:`_log_spread` of each (the two models' errors are independent)."""
    from scipy.stats import norm

    point = p_point * s_point
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(p_spread + s_spread)
        z = norm.ppf(1 - (1 - fitted.level) / 2)
        lo, hi = np.exp(np.log(point) - z * se), np.exp(np.log(point) + z * se)
    zero = point <= 0
    return point, np.where(zero, point, lo), np.where(zero, point, hi)


def _finite(values: np.ndarray, what: str, fitted) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise FloatingPointError(
            f"{what} is not a finite number for {int(bad.sum())} customer group(s) with the fitted "
            f"{fitted.transaction_model} parameters {fitted.purchase_params}; refusing to report it")


def _score_columns(horizons) -> list[str]:
    cols = ["p_alive", "p_alive_low", "p_alive_high"]
    for h in horizons:
        cols += [f"expected_purchases_{h}d", f"expected_purchases_{h}d_low", f"expected_purchases_{h}d_high"]
    cols += ["expected_spend", "expected_spend_low", "expected_spend_high", "clv", "clv_low", "clv_high"]
    cols += [f"expected_purchases_if_alive_{h}d" for h in horizons]
    return cols


def _check_settings(horizons, clv_months) -> tuple[int, ...]:
    horizons = tuple(int(h) for h in horizons)
    if not horizons or min(horizons) <= 0:
        raise ValueError(f"horizons must be positive numbers of days, got {horizons!r}")
    if int(clv_months) < 1:
        raise ValueError(f"clv_months must be at least 1, got {clv_months!r}")
    return horizons


def score_customers(fitted, summary: pd.DataFrame, *, horizons: tuple[int, ...] = (90, 365), clv_months: int = 12,
                    annual_discount_rate: float = 0.10) -> pd.DataFrame:
    """Per-customer predictions for a (small) summary frame, one row per row of ``summary``
    (same order, ``customer_id`` first): ``p_alive``, ``expected_purchases_<h>d``,
    ``expected_spend``, ``clv`` with ``_low``/``_high``, and ``expected_purchases_if_alive_<h>d``
    (point only). For all customers of a run use :func:`score_batches`, which streams."""
    horizons = _check_settings(horizons, clv_months)
    monthly = monthly_discount_rate(annual_discount_rate)
    cols = _score_columns(horizons)
    parts = []
    step = chunk_rows(fitted)
    for i in range(0, len(summary), step):
        rows = summary.iloc[i:i + step]
        arr = score_arrays(fitted, rows["frequency"], rows["recency"], rows["T"], rows["monetary_value"],
                           horizons=horizons, clv_months=int(clv_months), monthly_rate=monthly)
        parts.append(pd.DataFrame({"customer_id": rows["customer_id"].to_numpy(), **{c: arr[c] for c in cols}}))
    out = (pd.concat(parts, ignore_index=True) if parts
           else pd.DataFrame({"customer_id": summary["customer_id"].to_numpy(), **{c: [] for c in cols}}))
    out.attrs.update({"level": fitted.level, "horizons": horizons, "clv_months": int(clv_months),
                      "annual_discount_rate": float(annual_discount_rate)})
    return out


def score_batches(fitted, batches: Iterable, *, horizons=(90, 365), clv_months: int = 12,
                  annual_discount_rate: float = 0.10, keep: tuple[str, ...] = ("customer_id",),
                  columns: list[str] | None = None, threads: int = 1, pairs: tuple | None = None) -> Iterator:
    """Score a stream of Arrow record batches with columns ``frequency``, ``recency``, ``T``,
    ``monetary_value`` (and optionally ``last_frequency``, ``last_recency``, ``last_T`` for
    last month's P(alive)); yield Arrow record batches, in order, with the ``keep`` columns
    passed through and the score ``columns`` (default: everything :func:`score_arrays`
    returns). Missing values are nulls. At most ``threads`` chunks are scored at a time (numpy
    and scipy release the GIL) and at most ``threads + 1`` are held in memory. ``pairs``:
    ``(frequency, T)`` arrays holding every such pair of the batches (e.g. their distinct pairs,
    from the engine): the costly terms are then evaluated once for all of them (a
    :class:`PairTable`) instead of once per chunk; the numbers are the same."""
    import collections
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    horizons = _check_settings(horizons, clv_months)
    monthly = monthly_discount_rate(annual_discount_rate)
    step = chunk_rows(fitted)
    table = (PairTable(fitted, *pairs, horizons=horizons, clv_months=int(clv_months), monthly_rate=monthly)
             if pairs is not None else None)

    def col(batch, name):
        return batch.column(name).to_numpy(zero_copy_only=False)

    def parts():
        for batch in batches:
            for start in range(0, batch.num_rows, step):
                part = batch.slice(start, step)
                if part.num_rows:
                    yield part

    def one(part):
        last = None
        if "last_frequency" in part.schema.names:
            last = tuple(np.asarray(col(part, c), dtype="float64") for c in ("last_frequency", "last_recency", "last_T"))
        arr = score_arrays(fitted, col(part, "frequency"), col(part, "recency"), col(part, "T"),
                           col(part, "monetary_value"), horizons=horizons, clv_months=int(clv_months),
                           monthly_rate=monthly, last_month=last, pairs=table)
        names = columns or list(arr)
        return pa.RecordBatch.from_arrays(
            [part.column(k) for k in keep] + [pa.array(arr[c], type=pa.float64(), from_pandas=True) for c in names],
            names=[*keep, *names])

    if threads <= 1:
        for part in parts():
            yield one(part)
        return
    with ThreadPoolExecutor(max_workers=int(threads), thread_name_prefix="rfm-value-score") as pool:
        pending: collections.deque = collections.deque()
        for part in parts():
            pending.append(pool.submit(one, part))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def probability_alive(fitted, summary: pd.DataFrame) -> pd.Series:
    """Point P(alive) per customer of ``summary`` (indexed by ``customer_id``), with the
    fitted point parameters."""
    point = [np.array([[fitted.purchase_params[k]]]) for k in _BG]
    values = formulas.p_alive(fitted.transaction_model, *point, summary["frequency"].to_numpy(dtype="float64"),
                              summary["recency"].to_numpy(dtype="float64"),
                              summary["T"].to_numpy(dtype="float64"))[0] if len(summary) else np.zeros(0)
    return pd.Series(values, index=pd.Index(summary["customer_id"].to_numpy(), name="customer_id"), name="p_alive")
