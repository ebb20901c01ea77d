"""Per-customer campaign tables in SQL, run by the run's engine (:mod:`rfm_helpers.engine`).

The outcome table of an experiment (who bought in the outcome window, revenue, orders and
returns there, the pre-period covariates) is built by the engine from the transactions, so
pandas only ever holds the rows of the experiment's population, never the whole customer
base. The transactions are a :class:`Tx` (an engine and the name of the table in it: a
monthly run passes its own engine's ``transactions_table``); a pandas frame is registered in
a DuckDB engine of its own first (:func:`in_engine`), so both run the same SQL. Every result
comes back through :func:`fetch`, the engine's instrumented door (``kind`` says whether it is
an aggregate or the campaign's population, a sample of the base); :func:`query` runs SQL on
small pandas tables (a campaign's population with the contacts).

Definitions (all dates inclusive; ``order_key`` as in :mod:`rfm_helpers.rfm`: the order id
when the data has one, else the purchase day):

``converted``
    1 when the customer has at least one order in the window (a row with an amount of 0 or more:
    a return kept as a negative amount is not a purchase).
``revenue``
    Sum of the amounts in the window (net of returns when the source keeps returns as
    negative amounts).
``orders``
    Distinct orders in the window (rows with an amount of 0 or more).
``returns``
    Sum of the negative amounts in the window, as a positive number (0 when the source nets
    returns into their orders, ``returns.policy: net``).
``pre_revenue`` / ``pre_orders``
    The same over the ``window_days`` days before the send date (the CUPED covariate).
"""
from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = ["Tx", "in_engine", "fetch", "register", "date_range", "scored_table", "query", "order_key_sql", "outcomes_sql", "period_outcomes_sql", "population_rfm_sql",
           "fingerprint_sql", "transitions_sql"]


def query(sql: str, **tables: Any) -> pd.DataFrame:
    """Run ``sql`` on DuckDB with ``tables`` (pandas or Arrow) registered under their names;
    the result as pandas (text as pandas' string dtype)."""
    import duckdb

    con = duckdb.connect(config={"threads": 2})
    try:
        for name, table in tables.items():
            con.register(name, table)
        result = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    return result.to_pandas(types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get)


@dataclass(frozen=True)
class Tx:
    """Clean transactions in an engine: ``engine`` (:class:`rfm_helpers.engine.Engine`), the
    ``table`` (or view) name, and whether the rows carry an ``order_id``."""

    engine: Any
    table: str
    has_order_id: bool

    @classmethod
    def of(cls, engine: Any, table: str) -> "Tx":
        """The transactions ``table`` of ``engine`` (its columns tell whether there is an order id)."""
        return cls(engine, table, "order_id" in engine.sql(f"SELECT * FROM {table} LIMIT 0").columns)


def in_engine(transactions: Any, engine: Any = None) -> Tx:
    """``transactions`` as a :class:`Tx`: as is when it already is one, else the pandas frame
    registered in ``engine`` (default: a new DuckDB engine of its own)."""
    if isinstance(transactions, Tx):
        return transactions
    if engine is None:
        from ..engine import DuckDBEngine

        engine = DuckDBEngine()
    name = register(engine, transactions, "camp_tx")
    return Tx(engine, name, "order_id" in transactions.columns)


def register(engine: Any, frame: Any, stem: str) -> str:
    """Register a pandas frame in ``engine`` under a fresh name; returns the name."""
    name = engine.unique_name(stem)
    engine.register(name, frame)
    return name


def fetch(engine: Any, text: str, *, label: str, kind: str = "aggregate") -> pd.DataFrame:
    """The result of ``text`` in pandas, through the engine's instrumented fetch. ``kind``:
    ``aggregate`` (counts and sums per group, segment, cell...) or ``sample`` (rows of one
    campaign's population: the statistics that need per-customer values get only those)."""
    return engine.fetch(text, label=label, kind=kind)


def date_range(tx: Tx) -> tuple[dt.date | None, dt.date | None, int]:
    """First and last transaction day and the number of rows (an aggregate)."""
    (first, last, n), = tx.engine.scalar_rows(
        f"SELECT min(CAST(order_date AS DATE)), max(CAST(order_date AS DATE)), count(*) FROM {tx.table}",
        label="campaign: transaction dates")
    return first, last, int(n)


_SCORED: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def scored_table(tx: Tx, as_of: dt.date, window_days: int | None) -> str:
    """The scored RFM table of the whole base as of ``as_of`` (the columns of
    :func:`rfm_helpers.rfm.scored_rfm_sql`), computed once per engine, transactions and date
    and kept in the engine: a campaign's pre-period covariates and its segments before sending
    read the same scores."""
    from ..rfm import scored_rfm_sql

    cache = _SCORED.setdefault(tx.engine, {})
    key = (tx.table, as_of, window_days)
    if key not in cache:
        cache[key] = tx.engine.materialize(scored_rfm_sql(tx.table, as_of, window_days, has_order_id=tx.has_order_id,
                                                          order=False),
                                           "camp_scored")
    return cache[key]


def order_key_sql(has_order_id: bool) -> str:
    """How one order is recognised: :func:`rfm_helpers.rfm.sql.order_key_sql` (the rule of the
    RFM aggregation), as text."""
    from ..rfm.sql import order_key_sql as rule

    return f"CAST({rule(has_order_id)} AS VARCHAR)"


def _d(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def period_outcomes_sql(source: str, start: dt.date, end: dt.date, has_order_id: bool) -> str:
    """Per customer with any row dated ``start`` .. ``end``: ``revenue``, ``orders``,
    ``converted``, ``returns``."""
    return f"""
        SELECT CAST(customer_id AS VARCHAR) AS customer_id,
               CAST(sum(CAST(amount AS DOUBLE)) AS DOUBLE) AS revenue,
               CAST(count(DISTINCT CASE WHEN amount >= 0 THEN {order_key_sql(has_order_id)} END) AS BIGINT) AS orders,
               CAST(max(CASE WHEN amount >= 0 THEN 1 ELSE 0 END) AS BIGINT) AS converted,
               CAST(coalesce(sum(CASE WHEN amount < 0 THEN -CAST(amount AS DOUBLE) END), 0) AS DOUBLE) AS returns
        FROM {source}
        WHERE CAST(order_date AS DATE) BETWEEN {_d(start)} AND {_d(end)}
        GROUP BY 1"""


def outcomes_sql(population: str, source: str, send: dt.date, window_days: int, has_order_id: bool) -> str:
    """One row per customer of ``population`` (columns ``customer_id``, ``group``,
    ``cost_per_contact``): outcomes in the window ``send`` .. ``send + window_days - 1`` and
    the same measures over the ``window_days`` days before ``send``."""
    end = send + dt.timedelta(days=window_days - 1)
    pre_start, pre_end = send - dt.timedelta(days=window_days), send - dt.timedelta(days=1)
    return f"""
        WITH post AS ({period_outcomes_sql(source, send, end, has_order_id)}),
             prew AS ({period_outcomes_sql(source, pre_start, pre_end, has_order_id)})
        SELECT p.customer_id, p."group", p.cost_per_contact,
               CAST(coalesce(post.converted, 0) AS BIGINT) AS converted,
               CAST(coalesce(post.revenue, 0) AS DOUBLE) AS revenue,
               CAST(coalesce(post.orders, 0) AS BIGINT) AS orders,
               CAST(coalesce(post.returns, 0) AS DOUBLE) AS returns,
               CAST(coalesce(prew.revenue, 0) AS DOUBLE) AS pre_revenue,
               CAST(coalesce(prew.orders, 0) AS BIGINT) AS pre_orders
        FROM {population} AS p
        LEFT JOIN post ON post.customer_id = p.customer_id
        LEFT JOIN prew ON prew.customer_id = p.customer_id
        ORDER BY p.__pos"""


def population_rfm_sql(scored_sql: str, population: str) -> str:
    """The scored RFM rows (``scored_sql``: the whole base, ranked by the engine) of the
    customers in ``population`` only."""
    return f"""SELECT s.* FROM ({scored_sql}) AS s
               JOIN (SELECT DISTINCT customer_id FROM {population}) AS p ON s.customer_id = p.customer_id"""


def fingerprint_sql(source: str, end: dt.date, has_order_id: bool) -> str:
    """Count, amount total and an order-independent hash of every transaction dated on or
    before ``end`` (a change of any such row changes the fingerprint)."""
    order = "CAST(order_id AS VARCHAR)" if has_order_id else "''"
    return f"""
        SELECT count(*) AS n, CAST(coalesce(sum(CAST(amount AS DOUBLE)), 0) AS DOUBLE) AS total,
               CAST(coalesce(sum(hash(CAST(customer_id AS VARCHAR), CAST(order_date AS VARCHAR),
                                      CAST(amount AS DOUBLE), {order})), 0) AS VARCHAR) AS digest
        FROM {source} WHERE CAST(order_date AS DATE) <= {_d(end)}"""


def transitions_sql(before: str, after: str) -> str:
    """Customers per ``group``, segment before (``from``) and now (``to``; NULL when the
    customer has no purchase history any more, which cannot happen for past buyers)."""
    return f"""
        SELECT b."group", CAST(b.segment AS VARCHAR) AS "from", CAST(a.segment AS VARCHAR) AS "to",
               CAST(count(*) AS BIGINT) AS customers
        FROM {before} AS b LEFT JOIN {after} AS a ON a.customer_id = b.customer_id
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
