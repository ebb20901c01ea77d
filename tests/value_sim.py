"""Customers simulated from the BG/NBD and Gamma-Gamma models themselves (independent of the
code under test), with CDNOW-like parameters, for the value stage's tests.

The BG/NBD story (Fader, Hardie & Lee 2005): a customer's purchase rate is Gamma(r, alpha), the
chance of leaving after each repeat purchase Beta(a, b); while active, purchases follow a
Poisson process. Spend per purchase is Gamma(p, nu) with nu ~ Gamma(q, v).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: CDNOW-like parameters per day (lifetimes' CDNOW fit, weeks converted to days).
TRUE_PURCHASE = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
TRUE_SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}


def simulate_summary(n: int, seed: int = 0, days: int = 546, join_days: int = 84) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T`` (whole days) and ``monetary_value`` (mean
    repeat spend) of ``n`` customers whose first purchase falls in the first ``join_days`` of a
    ``days``-day observation period."""
    rng = np.random.default_rng(seed)
    P, S = TRUE_PURCHASE, TRUE_SPEND
    lam = rng.gamma(P["r"], 1 / P["alpha"], n)
    drop = rng.beta(P["a"], P["b"], n)
    T = (days - rng.integers(0, join_days + 1, n)).astype(float)
    t = np.zeros(n)
    x = np.zeros(n, dtype=np.int64)
    t_x = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1 / lam[idx])
        bought = t[idx] <= T[idx]
        b = idx[bought]
        x[b] += 1
        t_x[b] = t[b]
        active[idx[~bought]] = False
        active[b[rng.random(len(b)) < drop[b]]] = False
    nu = rng.gamma(S["q"], 1 / S["v"], n)
    m = np.where(x > 0, rng.gamma(S["p"] * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    recency = np.floor(t_x)
    return pd.DataFrame({"customer_id": [f"s{i:07d}" for i in range(n)], "frequency": x,
                         "recency": np.minimum(recency, T), "T": T, "monetary_value": m})


def simulate_transactions(n: int, seed: int = 0, end: str = "2024-06-30", days: int = 546,
                          join_days: int = 84) -> pd.DataFrame:
    """Transactions (``customer_id``, ``order_date``, ``amount``) of ``n`` simulated customers,
    observed up to ``end``: one row per purchase day (first purchase included)."""
    rng = np.random.default_rng(seed + 1)
    s = simulate_summary(n, seed, days, join_days)
    start = pd.Timestamp(end) - pd.Timedelta(days=days)
    rows_c, rows_d, rows_a = [], [], []
    for cid, x, t_x, T, m in s[["customer_id", "frequency", "recency", "T", "monetary_value"]].itertuples(index=False):
        first = days - T
        # repeat purchase days: the last one on t_x, the others spread before it (distinct days)
        inner = np.sort(rng.choice(np.arange(1, int(t_x)), size=min(x - 1, max(int(t_x) - 1, 0)), replace=False)) \
            if x > 1 else np.array([], dtype=int)
        offsets = [0, *inner.tolist(), int(t_x)] if x > 0 else [0]
        for k, off in enumerate(offsets):
            rows_c.append(cid)
            rows_d.append(start + pd.Timedelta(days=int(first + off)))
            rows_a.append(float(m) if k > 0 else float(rng.gamma(5, 5)))
    return pd.DataFrame({"customer_id": rows_c, "order_date": rows_d, "amount": rows_a})
