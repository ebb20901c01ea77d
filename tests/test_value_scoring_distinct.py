"""Scoring once per distinct input row (rfm_helpers.value.scoring.score_arrays) gives the same
numbers, bit for bit, as scoring every customer: the reference below is the per-customer
scoring the value stage used before (kept here unchanged, apart from its imports)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.value import formulas, scoring
from rfm_helpers.value.models import FittedValueModels
from rfm_helpers.value.scoring import (VALUE_AT_RISK_DAYS, _BG, _GG, _finite, _interval, _interval_product,
                                       _params, distinct_rows)


# ----------------------------------------------------------------------------- the reference
def reference_score_arrays(fitted, frequency, recency, T, monetary_value, *, horizons=(90, 365), clv_months: int = 12,
                 monthly_rate: float = 0.0, last_month: tuple | None = None) -> dict[str, np.ndarray]:
    """All per-customer figures for one chunk of customers (numpy arrays in, numpy arrays out).

    ``last_month``: ``(frequency, recency, T)`` of the same customers at the end of last month
    (NaN for customers not seen by then) for ``p_alive_last_month`` with the same parameters.
    """
    model = fitted.transaction_model
    x = np.asarray(frequency, dtype="float64")
    t_x = np.asarray(recency, dtype="float64")
    T_ = np.asarray(T, dtype="float64")
    m = np.asarray(monetary_value, dtype="float64")
    r, alpha, a, b = _params(fitted.purchase_draws, _BG)
    out: dict[str, np.ndarray] = {}

    pa = formulas.p_alive(model, r, alpha, a, b, x, t_x, T_)
    out["p_alive"], out["p_alive_low"], out["p_alive_high"] = _interval(pa, fitted, "logit")
    ux, uT, inv = formulas.distinct_pairs(x, T_)
    point = [np.array([[fitted.purchase_params[k]]]) for k in _BG]
    expected = {}
    for h in sorted({*horizons, VALUE_AT_RISK_DAYS}):
        g = formulas.expected_if_alive(model, r, alpha, a, b, ux, uT, float(h))
        # G at the point estimate: row 0 after a MAP fit; a posterior has no such row
        g_point = g[0] if fitted.interval_kind == "laplace" else \
            formulas.expected_if_alive(model, *point, ux, uT, float(h))[0]
        _finite(g_point, f"expected purchases in {h} days", fitted)
        expected[h] = (g_point[inv], pa * g[:, inv])
    for h in horizons:
        p, lo, hi = _interval(expected[h][1], fitted, "log")
        out[f"expected_purchases_{h}d"], out[f"expected_purchases_{h}d_low"], out[f"expected_purchases_{h}d_high"] = \
            p, lo, hi
    if_alive_var = expected[VALUE_AT_RISK_DAYS][0]

    n = len(x)
    if fitted.spend_status == "ok":
        p_, q_, v_ = _params(fitted.spend_draws, _GG)
        # a non-positive repeat mean carries no information about spend: such customers get
        # the population mean (frequency 0 in the Gamma-Gamma formula)
        informative = (x > 0) & (m > 0)
        spend = formulas.expected_spend(p_, q_, v_, np.where(informative, x, 0.0), np.where(informative, m, 0.0))
        _finite(spend[0], "expected spend", fitted)
        out["expected_spend"], out["expected_spend_low"], out["expected_spend_high"] = \
            _interval(spend, fitted, "log")
        units = formulas.discounted_if_alive(model, r, alpha, a, b, ux, uT, clv_months, monthly_rate)
        _finite(units[0], "discounted purchases", fitted)
        out["clv"], out["clv_low"], out["clv_high"] = _interval_product(pa * units[:, inv], spend, fitted)
    else:
        for c in ("expected_spend", "expected_spend_low", "expected_spend_high", "clv", "clv_low", "clv_high"):
            out[c] = np.full(n, np.nan)
    s, s_lo, s_hi = out["expected_spend"], out["expected_spend_low"], out["expected_spend_high"]
    for h in horizons:
        e = f"expected_purchases_{h}d"
        out[f"expected_revenue_{h}d"] = out[e] * s
        out[f"expected_revenue_{h}d_low"] = out[f"{e}_low"] * s_lo
        out[f"expected_revenue_{h}d_high"] = out[f"{e}_high"] * s_hi
    out["value_at_risk"] = (1 - out["p_alive"]) * if_alive_var * s
    for h in horizons:
        out[f"expected_purchases_if_alive_{h}d"] = expected[h][0]
    if last_month is not None:
        lx, ltx, lT = (np.asarray(c, dtype="float64") for c in last_month)
        seen = ~np.isnan(lx)
        last = np.full(n, np.nan)
        if seen.any():
            last[seen] = formulas.p_alive(model, *point, lx[seen], ltx[seen], lT[seen])[0]
        out["p_alive_last_month"] = last
        out["p_alive_change"] = out["p_alive"] - last
    return out



# ----------------------------------------------------------------------------- data
PURCHASE = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.43}
SPEND = {"p": 6.25, "q": 3.74, "v": 15.45}


def _laplace_draws(point: dict, scale: float) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    theta = np.log(list(point.values()))
    L = np.tril(rng.normal(0, scale, (len(theta), len(theta)))) + np.eye(len(theta)) * scale
    rows = [theta] + [theta + s * L[:, j] for j in range(len(theta)) for s in (1, -1)]
    return pd.DataFrame(np.exp(np.array(rows)), columns=list(point))


def _fitted(model: str = "mbgnbd", method: str = "map", spend: bool = True) -> FittedValueModels:
    if method == "map":
        bg, gg = _laplace_draws(PURCHASE, 0.05), _laplace_draws(SPEND, 0.08)
    else:  # posterior draws around the same point
        rng = np.random.default_rng(2)
        bg = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.05, 40)) for k, v in PURCHASE.items()})
        gg = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.05, 30)) for k, v in SPEND.items()})
    return FittedValueModels(transaction_model=model, method=method, level=0.9, purchase_params=dict(PURCHASE),
                             purchase_draws=bg, spend_params=dict(SPEND) if spend else {},
                             spend_draws=gg if spend else gg.iloc[:0], spend_status="ok" if spend else "not_fitted",
                             n_customers=0, n_fit_customers=0, n_spend_customers=0, fit_seconds=0.0)


def _customers(n: int, seed: int, whole: bool = True):
    """Customers with many ties (what real summaries have: whole days, small frequencies, one-time
    buyers sharing ``(0, 0, T)``), spends with ties, zeros and negatives, customers unseen last month."""
    rng = np.random.default_rng(seed)
    T = rng.integers(0, 400, n).astype(float)
    x = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 12, n)).astype(float)
    t_x = np.where(x > 0, np.floor(T * rng.random(n)), 0.0)
    m = np.round(rng.choice([0.0, -5.0, 12.5, 30.0, 99.99], n) + np.where(rng.random(n) < 0.5, 0, rng.gamma(2, 20, n)), 2)
    m = np.where(x > 0, m, 0.0)
    if not whole:
        T, t_x = T + 0.25, t_x + np.where(x > 0, 0.5, 0.0)
    lT = T - 30
    seen = lT >= 0
    lx = np.where(seen, np.maximum(x - 1, 0), np.nan)
    ltx = np.where(seen, np.minimum(t_x, np.maximum(lT, 0)), np.nan)
    return x, t_x, T, m, (lx, ltx, np.where(seen, lT, np.nan))


def _same(got: dict, ref: dict) -> None:
    assert list(got) == list(ref)
    for k in ref:
        a, b = np.asarray(got[k]), np.asarray(ref[k])
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert np.array_equal(a.view("int64"), b.view("int64")), f"{k}: {int((a != b).sum())} values differ"


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("model", ["mbgnbd", "bgnbd"])
@pytest.mark.parametrize("method", ["map", "mcmc"])
@pytest.mark.parametrize("spend", [True, False])
def test_distinct_rows_scoring_equals_per_customer_scoring_bit_for_bit(model, method, spend):
    fitted = _fitted(model, method, spend)
    x, t_x, T, m, last = _customers(20_000, seed=3)
    kw = dict(horizons=(90, 365), clv_months=12, monthly_rate=scoring.monthly_discount_rate(0.1))
    _same(scoring.score_arrays(fitted, x, t_x, T, m, last_month=last, **kw),
          reference_score_arrays(fitted, x, t_x, T, m, last_month=last, **kw))
    _same(scoring.score_arrays(fitted, x, t_x, T, m, **kw), reference_score_arrays(fitted, x, t_x, T, m, **kw))


def test_fractional_days_one_customer_and_other_horizons():
    fitted = _fitted()
    x, t_x, T, m, last = _customers(3_000, seed=5, whole=False)
    kw = dict(horizons=(30,), clv_months=3, monthly_rate=0.01)
    _same(scoring.score_arrays(fitted, x, t_x, T, m, last_month=last, **kw),
          reference_score_arrays(fitted, x, t_x, T, m, last_month=last, **kw))
    one = [a[:1] for a in (x, t_x, T, m)]
    _same(scoring.score_arrays(fitted, *one, **kw), reference_score_arrays(fitted, *one, **kw))


def test_distinct_rows_compares_bits():
    a = np.array([1.0, 1.0, np.nan, np.nan, 0.0, -0.0, 2.0])
    b = np.array([5.0, 5.0, 1.0, 1.0, 3.0, 3.0, 5.0])
    (ua, ub), inv = distinct_rows(a, b)
    assert len(ua) == 5  # (1, 5) twice, (nan, 1) twice, 0.0 and -0.0 apart, (2, 5)
    assert np.array_equal(ua[inv].view("int64"), a.view("int64")) and np.array_equal(ub[inv], b)
    (e,), inv = distinct_rows(np.zeros(0))
    assert len(e) == 0 and len(inv) == 0


@pytest.mark.parametrize("method", ["map", "mcmc"])
def test_pair_table_gives_the_same_numbers_and_falls_back_on_a_missing_pair(method):
    fitted = _fitted("mbgnbd", method)
    x, t_x, T, m, last = _customers(6_000, seed=7)
    kw = dict(horizons=(90, 365), clv_months=12, monthly_rate=scoring.monthly_discount_rate(0.1))
    ref = reference_score_arrays(fitted, x, t_x, T, m, last_month=last, **kw)
    table = scoring.PairTable(fitted, x, T, **kw)
    assert len(table.x) < 6_000
    assert table.index(fitted, x[:10], T[:10], **kw) is not None
    _same(scoring.score_arrays(fitted, x, t_x, T, m, last_month=last, pairs=table, **kw), ref)
    # a table that lacks pairs of the chunk, or was built for other settings, is not used
    part = scoring.PairTable(fitted, x[:50], T[:50], **kw)
    assert part.index(fitted, x, T, **kw) is None
    assert table.index(fitted, x, T, horizons=(90,), clv_months=12, monthly_rate=kw["monthly_rate"]) is None
    _same(scoring.score_arrays(fitted, x, t_x, T, m, last_month=last, pairs=part, **kw), ref)


def test_score_batches_with_the_run_pairs_equals_without():
    import pyarrow as pa

    fitted = _fitted()
    x, t_x, T, m, last = _customers(9_000, seed=11)
    batch = pa.RecordBatch.from_pydict({"customer_id": [str(i) for i in range(len(x))], "frequency": x, "recency": t_x,
                                        "T": T, "monetary_value": m, "last_frequency": last[0],
                                        "last_recency": last[1], "last_T": last[2]})
    batches = [batch.slice(0, 4_000), batch.slice(4_000)]
    plain = pa.Table.from_batches(list(scoring.score_batches(fitted, batches, threads=2)))
    paired = pa.Table.from_batches(list(scoring.score_batches(fitted, batches, threads=2, pairs=(x, T))))
    assert plain.equals(paired)


def _sorted_distinct_rows(*columns):
    """The sort-based distinct rows scoring used before the hashed one (the reference)."""
    cols = [np.ascontiguousarray(c, dtype="float64") for c in columns]
    bits = [c.view("int64") for c in cols]
    order = np.lexsort(bits[::-1])
    new = np.zeros(len(cols[0]), dtype=bool)
    new[0] = True
    for b in bits:
        s = b[order]
        new[1:] |= s[1:] != s[:-1]
    return [c[order[new]] for c in cols]


@pytest.mark.parametrize("seed", range(6))
def test_hashed_distinct_rows_equal_the_sorted_ones(seed):
    """Whole days (the packed key), fractions, NaN, -0.0, inf and huge values (the hashed columns):
    the same distinct rows, bit for bit, as the sort found, and every row found again."""
    rng = np.random.default_rng(seed)
    n = 5_000
    for mix in ("whole", "fraction", "odd", "one_odd"):
        cols = [rng.integers(0, int(rng.integers(1, 400)), n).astype("float64") for _ in range(int(rng.integers(1, 4)))]
        if mix == "fraction":
            cols[-1] = cols[-1] + rng.choice([0.0, 0.25, 0.5], n)
        elif mix == "odd":
            cols[0] = cols[0] + rng.choice([0.0, np.nan, -0.0, np.inf, 2.0 ** 63, -3.0], n)
        elif mix == "one_odd":
            cols[-1][int(rng.integers(0, n))] = rng.choice([-0.0, np.nan, 2.0 ** 40])
        unique, inv = distinct_rows(*cols)
        for c, u in zip(cols, unique):
            assert np.array_equal(u[inv].view("int64"), c.view("int64"))
        found = set(zip(*[u.view("int64").tolist() for u in unique]))
        assert len(found) == len(unique[0])
        assert found == set(zip(*[u.view("int64").tolist() for u in _sorted_distinct_rows(*cols)]))
