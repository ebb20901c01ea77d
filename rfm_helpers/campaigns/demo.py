"""The demonstration campaign: a simulated campaign with a known effect, on the bundled sample only.

It shows what a campaign page looks like before a team has registered a campaign of its own,
and it lets the tests check that the analysis recovers a known truth. It never runs on a
shop's own data (:func:`demo_allowed`), and everything made from it carries ``demo: true``
so that every page, headline figure and ``summary.json`` entry says it is a demonstration.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..rfm import parse_as_of
from . import sql
from .data import CampaignError, customer_outcomes, outcome_window

__all__ = ["InjectedEffect", "true_effects", "simulate_campaign", "demo_send_date", "demo_allowed",
           "DEMO_ID", "DEMO_SEND_DATE", "DEMO_WINDOW_DAYS"]

#: Registry id of the demonstration campaign (never a folder of the registry).
DEMO_ID = "demo"
DEMO_SEND_DATE = dt.date(1998, 1, 15)
DEMO_WINDOW_DAYS = 60


def demo_allowed(source: Any) -> bool:
    """Whether the demonstration campaign may run: only on the bundled CDNOW sample."""
    return bool(getattr(source, "_bundled", False))


@dataclass(frozen=True)
class InjectedEffect:
    """The effect model of :func:`simulate_campaign`: each treated customer independently, with
    probability ``extra_purchase_prob``, makes **one extra order** of ``extra_amount`` on a day
    drawn uniformly from the outcome window. Control customers are untouched."""

    extra_purchase_prob: float = 0.05
    extra_amount: float = 30.0


def true_effects(natural_converted: np.ndarray, effect: InjectedEffect) -> dict[str, float]:
    """True average effects of the injected model on the eligible customers (``c_i`` = 1 if
    customer *i* buys in the window anyway): conversion ``q * mean(1 - c_i)``, revenue per
    customer ``q * extra_amount``, orders per customer at most ``q``."""
    c = np.asarray(natural_converted, dtype=float)
    q = effect.extra_purchase_prob
    return {"conversion": float(q * (1 - c.mean())), "revenue": float(q * effect.extra_amount),
            "orders_max": float(q)}


def simulate_campaign(
    transactions: Any,
    send_date: Any = DEMO_SEND_DATE,
    window_days: int = DEMO_WINDOW_DAYS,
    *,
    seed: int = 2024,
    split: Mapping[str, float] | None = None,
    effect: InjectedEffect | Mapping[str, InjectedEffect] | None = None,
    eligible_days: int | None = 365,
    n_customers: int | None = None,
    cost_per_contact: float | None = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A seeded demonstration campaign on real customers with a known injected effect.

    Eligible customers bought in the ``eligible_days`` days before ``send_date`` (``None``:
    any purchase before it), optionally a random sample of ``n_customers``; they are split at
    random with the shares of ``split`` (default 50/50 ``control``/``treatment``; a random
    permutation cut into exact blocks); treated customers get extra orders following
    :class:`InjectedEffect` (one model, or one per variant).

    Returns ``(campaign, transactions_with_effect, truth)``: the assignment (columns of a
    campaign file), the transactions with the extra orders, and the true effects per treated
    group (:func:`true_effects`) with the model's parameters. ``transactions``: a pandas frame
    (then a copy with the extra orders is returned) or a :class:`~.sql.Tx` (then a view of the
    engine's table and the extra orders: the base never reaches pandas; only the eligible
    customers, the campaign's population, do).
    """
    rng = np.random.default_rng(seed)
    send = parse_as_of(send_date)
    start, end = outcome_window(send, window_days)
    split = dict(split or {"control": 0.5, "treatment": 0.5})
    if "control" not in split:
        raise ValueError("split must include a 'control' group")
    effect = effect if effect is not None else InjectedEffect()
    effects = {g: (effect[g] if isinstance(effect, Mapping) else effect) for g in split if g != "control"}

    tx = sql.in_engine(transactions)
    since = "" if eligible_days is None else \
        f" AND CAST(order_date AS DATE) >= DATE '{(send - dt.timedelta(days=int(eligible_days))).isoformat()}'"
    population = f"""SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM {tx.table}
                     WHERE CAST(order_date AS DATE) < DATE '{send.isoformat()}'{since}"""
    eligible = sql.fetch(tx.engine, population, label="demo campaign: eligible customers", kind="sample")
    ids = np.sort(eligible["customer_id"].to_numpy(dtype=object))
    if n_customers is not None and n_customers < len(ids):
        ids = np.sort(rng.choice(ids, size=int(n_customers), replace=False))
    if len(ids) < 2 * len(split):
        raise ValueError(f"only {len(ids)} eligible customers: too few for a campaign")

    names = list(split)
    shares = np.array([split[g] for g in names], dtype=float)
    groups = _assign(len(ids), shares / shares.sum(), rng)
    campaign = pd.DataFrame({"customer_id": pd.array(ids, dtype="string"),
                             "group": pd.array(np.array(names, dtype=object)[groups], dtype="string"),
                             "send_date": pd.Timestamp(send)})
    if cost_per_contact is not None:
        campaign["cost_per_contact"] = np.where(campaign["group"] == "control", 0.0, float(cost_per_contact))

    natural = customer_outcomes(tx, start, end, customers=population)
    natural = natural.loc[natural["converted"] > 0, "customer_id"]
    c0 = pd.Series(ids).isin(pd.Index(natural.astype(object))).to_numpy()
    extra_rows = []
    truth: dict[str, Any] = {"send_date": send.isoformat(), "window_days": int(window_days),
                             "seed": seed, "n_customers": len(ids), "effects": {}}
    for g, eff in effects.items():
        members = ids[groups == names.index(g)]
        hit = rng.random(len(members)) < eff.extra_purchase_prob
        offsets = rng.integers(0, int(window_days), size=int(hit.sum()))
        extra_rows.append(pd.DataFrame({
            "customer_id": pd.array(members[hit], dtype="string"),
            "order_date": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="D"),
            "amount": float(eff.extra_amount)}))
        truth["effects"][g] = {**true_effects(c0, eff), "extra_purchase_prob": eff.extra_purchase_prob,
                               "extra_amount": eff.extra_amount}
    if not isinstance(transactions, pd.DataFrame):
        return campaign, _with_orders(tx, extra_rows), truth
    extra = pd.concat(extra_rows, ignore_index=True) if extra_rows else transactions.iloc[:0]
    for col in transactions.columns:
        if col not in extra.columns:
            extra[col] = pd.Series([pd.NA] * len(extra), dtype=transactions[col].dtype) \
                if col not in ("quantity",) else 1.0
    extra = extra[list(transactions.columns)].astype(transactions.dtypes.to_dict())
    with_effect = pd.concat([transactions, extra], ignore_index=True)
    return campaign, with_effect, truth


def _with_orders(tx: sql.Tx, extra_rows: list[pd.DataFrame]) -> sql.Tx:
    """A view of ``tx`` and the extra orders (the columns of ``tx``; ``quantity`` 1, others empty)."""
    eng = tx.engine
    cols = eng.sql(f"SELECT * FROM {tx.table} LIMIT 0").native
    extra = pd.concat(extra_rows, ignore_index=True) if extra_rows else \
        pd.DataFrame({"customer_id": pd.array([], dtype="string"), "order_date": pd.Series([], dtype="datetime64[ns]"),
                      "amount": pd.Series([], dtype=float)})
    name = sql.register(eng, extra, "demo_extra")
    given = {"customer_id", "order_date", "amount"}
    select = ", ".join(f'CAST({q if c in given else ("1" if c == "quantity" else "NULL")} AS {t}) AS {q}'
                       for c, t in zip(cols.columns, cols.types) for q in ['"' + c.replace('"', '""') + '"'])
    view = eng.create_view(eng.unique_name("demo_tx"), f"SELECT * FROM {tx.table} UNION ALL SELECT {select} FROM {name}")
    return sql.Tx(eng, view, tx.has_order_id)


def _assign(n: int, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Group index per unit: a random permutation cut into blocks of the planned shares."""
    sizes = np.floor(shares * n).astype(int)
    sizes[0] += n - sizes.sum()
    labels = np.repeat(np.arange(len(shares)), sizes)
    return rng.permutation(labels)


def demo_send_date(requested: Any, window_days: int, transactions: Any,
                   data_end: Any = None) -> tuple[dt.date, dict | None]:
    """Send date of the demonstration campaign so that its whole outcome window lies in the data.

    Monthly runs of early months stop before the requested date's window closes; then the send
    date moves back so that the window ends on the last day of the data, and a note
    (``{"code": "demo_date_moved", ...}``) says so. Raises :class:`CampaignError` when the data
    are too short for a pre-period and a window."""
    send = parse_as_of(requested)
    first, last, _ = sql.date_range(sql.in_engine(transactions))
    last = parse_as_of(data_end) if data_end is not None else last
    _, end = outcome_window(send, window_days)
    if end <= last and send > first:
        return send, None
    moved = last - dt.timedelta(days=int(window_days) - 1)
    if moved <= first:
        raise CampaignError(f"the data ({first}..{last}) are too short for a demo campaign with a "
                            f"{window_days}-day outcome window and some purchase history before it")
    return moved, {"code": "demo_date_moved", "requested": send.isoformat(), "moved": moved.isoformat(),
                   "first": first.isoformat(), "last": last.isoformat()}
