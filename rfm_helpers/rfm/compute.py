"""Recency, Frequency, Monetary on any engine: pandas in, pandas out, or results kept in the engine.

Definitions (as of the analysis date ``as_of``, inclusive; the SQL is in :mod:`.sql`):

``recency_days``
    Days from the customer's last purchase on or before ``as_of`` to ``as_of``
    (0 = bought on the analysis date). Uses the whole history, not only the window,
    so lapsed customers keep a meaningful recency.
``frequency``
    Number of distinct orders inside the window. An order is an ``order_id`` when the
    data has one; otherwise all rows of one customer on one calendar day are one order.
``monetary``
    Total spend inside the window (sum of ``amount``), summed exactly (DECIMAL at the
    currency's ``scale``) and returned as float64 rounded to that scale: equal spends are
    equal numbers on every engine and in every run.
``first_purchase`` / ``last_purchase``
    First and last purchase dates on or before ``as_of`` (whole history).
``tenure_days``
    Days since the first purchase.

Dates are calendar dates: ``order_date`` counts by the date it carries as local wall-clock
time (naive timestamps, DATE, Spark TIMESTAMP_NTZ). Instants (tz-aware timestamps, Spark
TIMESTAMP, Parquet INT96 / UTC-adjusted) are turned into the calendar date of the zone
recorded with them or of ``time_zone=``; see :mod:`rfm_helpers.engine`.

With ``window_days=None`` (the default) the window is the whole history. With a window,
customers whose last purchase is older than the window are still listed (``frequency`` 0,
``monetary`` 0) unless ``include_lapsed=False``: they are the people a win-back campaign
is for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..engine import DuckDBEngine, Engine, Relation, Table, open_engine, translate
from .sql import check_keys, check_scale, rfm_sql, score_sql, scored_rfm_sql

__all__ = [
    "compute_rfm",
    "compute_scored_rfm",
    "score_quantiles",
    "rfm_relation",
    "scored_rfm_relation",
    "register_transactions",
    "TransactionsSource",
    "to_spark_sql",
]

_SCORE_COLUMNS = ("r_score", "f_score", "m_score", "rfm_cell", "rfm_score")


def to_spark_sql(duckdb_sql: str) -> str:
    """Translate DuckDB-dialect SQL to Spark SQL (:func:`rfm_helpers.engine.translate`)."""
    return translate(duckdb_sql, "spark")


# ====================================================================== transactions
@dataclass
class TransactionsSource:
    """Transactions registered in an engine, ready for :data:`~rfm_helpers.rfm.sql.RFM_SQL`:
    ``name`` is the view to read, with ``order_date`` as a DATE or a timestamp without time
    zone and a numeric ``amount`` at the currency's scale."""

    name: str
    has_order_id: bool
    table: Table


def register_transactions(engine: Engine, transactions: Any, *, by: Iterable[str] = (),
                          time_zone: str | None = None, scale: int = 2) -> TransactionsSource:
    """Register clean transactions in ``engine`` and check them before any RFM query.

    Checks, each refused with a message naming the source, the column and the option that
    resolves it: the columns ``customer_id``, ``order_date``, ``amount`` (+ ``by``) exist;
    ``order_date`` is a date or timestamp whose calendar day is known (instants need the
    zone, ``time_zone=``); no row lacks ``customer_id`` or ``order_date`` (SQL would drop or
    lump them silently; the loader quarantines them); every ``amount`` is present and a
    whole number of minor units at ``scale`` (within 0.001 of one: float noise such as
    ``0.30000000000000004`` passes, ``12.345`` at scale 2 does not - it would be rounded
    silently). On files and Spark the checks are one aggregate query over the source.
    """
    scale = check_scale(scale)
    keys = check_keys(by)
    table = engine.register(engine.unique_name("rfm_tx"), transactions)
    where = table.origin
    missing = [c for c in ["customer_id", "order_date", "amount", *keys] if c not in table]
    if missing:
        raise KeyError(
            f"{where}: transactions lack column(s) {missing}; found {sorted(table.columns)}. "
            "Load raw files with rfm_helpers.load.load_transactions, which maps columns.")
    order_date = table.columns["order_date"]
    date_sql = engine.calendar_date_sql(order_date, time_zone, where)
    amount = table.columns["amount"]
    if amount.kind not in ("integer", "decimal", "float", "string"):
        raise TypeError(f"{where}: column 'amount' is {amount.engine_type}, not a number")
    amount_sql = "CAST(amount AS DOUBLE)" if amount.kind == "string" else "amount"
    name = table.name
    if order_date.kind not in ("date", "timestamp") or amount_sql != "amount":
        cols = ["customer_id", f"{date_sql} AS order_date", f"{amount_sql} AS amount",
                *(c for c in ["order_id", *keys] if c in table)]
        name = engine.create_view(engine.unique_name("rfm_tx_dated"),
                                  engine.native_sql(f"SELECT {', '.join(cols)} FROM {table.name}"))
    if isinstance(transactions, pd.DataFrame):
        _check_missing(where, {c: int(transactions[c].isna().sum()) for c in ("customer_id", "order_date")})
        _check_amounts_frame(transactions["amount"], scale, where)
    else:
        _check_rows_sql(engine, name, scale, where)
    return TransactionsSource(name, "order_id" in table, table)


def _check_missing(where: str, missing: dict[str, int]) -> None:
    bad = {c: n for c, n in missing.items() if n}
    if bad:
        raise ValueError(f"{where}: {', '.join(f'{n:,} row(s) without {c}' for c, n in bad.items())}; "
                         "RFM would drop or lump them silently. Load the source with "
                         "rfm_helpers.load.load_transactions, which quarantines such rows with a reason")


def _scale_message(where: str, n_bad: int, examples: list, scale: int, column: str = "amount") -> str:
    shown = ", ".join(repr(float(x)) if x is not None else "missing" for x in examples[:5])
    unit = f"{10 ** -scale:.{scale}f}" if scale else "1"
    return (f"{where}: {n_bad:,} value(s) of {column!r} are missing or not whole multiples of {unit} "
            f"(scale={scale}), e.g. {shown}. Money is summed exactly at the currency's minor unit: "
            f"pass scale= for the currency (2 for USD/EUR/RUB, 0 for JPY, 3 for KWD), or round "
            f"amounts to it first (the loader does, by the source's currency:)")


def _off_scale(values: np.ndarray, scale: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        x = values * float(10 ** scale)
        return ~(np.abs(x - np.round(x)) <= 0.001)  # NaN and inf count as off-scale


def _check_amounts_frame(amount: pd.Series, scale: int, where: str, column: str = "amount") -> None:
    values = pd.to_numeric(amount, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = _off_scale(values, scale)
    if bad.any():
        raise ValueError(_scale_message(where, int(bad.sum()), list(values[bad][:5]), scale, column))


def _amount_off_scale_sql(scale: int) -> str:
    return (f"amount IS NULL OR NOT (ABS(CAST(amount AS DOUBLE) * {10 ** scale} "
            f"- ROUND(CAST(amount AS DOUBLE) * {10 ** scale})) <= 0.001)")


def _check_rows_sql(engine: Engine, name: str, scale: int, where: str) -> None:
    """The frame checks as one aggregate query (files, Spark)."""
    cond = _amount_off_scale_sql(scale)
    (no_id, no_date, n_bad), = engine.scalar_rows(
        f"SELECT SUM(CASE WHEN customer_id IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN order_date IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) FROM {name}", label="transaction checks")
    _check_missing(where, {"customer_id": int(no_id or 0), "order_date": int(no_date or 0)})
    if n_bad:
        rows = engine.scalar_rows(f"SELECT CAST(amount AS DOUBLE) FROM {name} WHERE {cond} LIMIT 5",
                                  label="amount scale examples")
        raise ValueError(_scale_message(where, int(n_bad), [r[0] for r in rows], scale))


# ========================================================================= computing
def _by(by_channel: bool) -> list[str]:
    return ["channel"] if by_channel else []


def compute_rfm(
    transactions: Any,
    as_of: Any,
    window_days: int | None = None,
    *,
    by_channel: bool = False,
    include_lapsed: bool = True,
    engine: Any = "auto",
    spark: Any = None,
    time_zone: str | None = None,
    scale: int = 2,
) -> pd.DataFrame:
    """Per-customer RFM table as of ``as_of``.

    Parameters
    ----------
    transactions
        Clean transactions with the canonical columns ``customer_id``, ``order_date``,
        ``amount`` and optionally ``order_id`` and ``channel``: a pandas DataFrame, an Arrow
        table, a path / folder / glob of Parquet or CSV files (aggregated by the engine
        without loading them into pandas), or a Spark DataFrame.
    as_of
        Analysis date (inclusive). Purchases after it are ignored.
    window_days
        Frequency and monetary count purchases in the last ``window_days`` days only;
        ``None`` for the whole history.
    by_channel
        One row per customer and sales channel (needs a ``channel`` column).
    engine
        ``"duckdb"``, ``"spark"``, ``"auto"`` (Spark for a Spark DataFrame, else DuckDB), or
        an open :class:`rfm_helpers.engine.Engine`.
    spark
        The SparkSession for ``engine="spark"`` with a pandas DataFrame or files.
    time_zone
        Zone whose calendar days count for ``order_date`` values that are instants (see the
        module docstring); ignored for dates and naive timestamps.
    scale
        Decimal digits of the currency's minor unit (2 for USD/RUB, 0 for JPY).

    Returns
    -------
    DataFrame with ``customer_id`` [, ``channel``], ``recency_days``, ``frequency``,
    ``monetary``, ``first_purchase``, ``last_purchase``, ``tenure_days``; sorted by key.
    """
    by = _by(by_channel)
    with open_engine(engine, data=transactions, spark=spark) as eng:
        src = register_transactions(eng, transactions, by=by, time_zone=time_zone, scale=scale)
        sql = rfm_sql(src.name, as_of, window_days, by=by, has_order_id=src.has_order_id,
                      include_lapsed=include_lapsed, scale=scale)
        out = eng.fetch(sql, label="compute_rfm", kind="per_customer")
    return tidy_rfm(out, by, scale)


def compute_scored_rfm(
    transactions: Any,
    as_of: Any,
    window_days: int | None = None,
    *,
    n: int = 5,
    by_channel: bool = False,
    include_lapsed: bool = True,
    engine: Any = "auto",
    spark: Any = None,
    time_zone: str | None = None,
    scale: int = 2,
) -> pd.DataFrame:
    """``score_quantiles(compute_rfm(...), n, by=...)`` in one SQL statement.

    The result is identical (same columns, dtypes, order and values; scores ranked within
    each channel when ``by_channel``) but the per-customer table is never round-tripped
    through pandas. Accepts the same inputs as :func:`compute_rfm`.
    """
    by = _by(by_channel)
    with open_engine(engine, data=transactions, spark=spark) as eng:
        rel = scored_rfm_relation(transactions, as_of, window_days, n=n, by_channel=by_channel,
                                  include_lapsed=include_lapsed, engine=eng, time_zone=time_zone,
                                  scale=scale, order=True)
        out = rel.to_pandas(label="compute_scored_rfm", kind="per_customer")
    return tidy_rfm(out, by, scale)


def rfm_relation(transactions: Any, as_of: Any, window_days: int | None = None, *,
                 by_channel: bool = False, include_lapsed: bool = True, engine: Engine,
                 time_zone: str | None = None, scale: int = 2, order: bool = False) -> Relation:
    """:func:`compute_rfm` as a :class:`~rfm_helpers.engine.Relation` that stays in ``engine``
    (an open Engine): write it with ``.write_parquet``, name it with ``.create_view`` or
    aggregate it with more SQL; nothing per customer reaches pandas."""
    by = _by(by_channel)
    src = register_transactions(engine, transactions, by=by, time_zone=time_zone, scale=scale)
    return engine.sql(rfm_sql(src.name, as_of, window_days, by=by, has_order_id=src.has_order_id,
                              include_lapsed=include_lapsed, scale=scale, order=order))


def scored_rfm_relation(transactions: Any, as_of: Any, window_days: int | None = None, *,
                        n: int = 5, by_channel: bool = False, include_lapsed: bool = True,
                        engine: Engine, time_zone: str | None = None, scale: int = 2,
                        order: bool = False, extra: Iterable[str] = ()) -> Relation:
    """:func:`compute_scored_rfm` as a Relation kept in ``engine`` (see :func:`rfm_relation`).
    ``extra``: more SQL expressions over the scored columns (e.g. a segment CASE).

    One statement: DuckDB computes the per-customer aggregate once (a MATERIALIZED CTE);
    Spark computes it twice (once for the value counts, once for the scored rows) - measured
    faster than caching it (``persist``) and about as fast as ``localCheckpoint``, and it
    stays lazy and survives a lost executor."""
    by = _by(by_channel)
    src = register_transactions(engine, transactions, by=by, time_zone=time_zone, scale=scale)
    return engine.sql(scored_rfm_sql(src.name, as_of, window_days, n=n, by=by,
                                     has_order_id=src.has_order_id, include_lapsed=include_lapsed,
                                     scale=scale, extra=extra, order=order))


def tidy_rfm(out: pd.DataFrame, by: Iterable[str] = (), scale: int = 2) -> pd.DataFrame:
    """Same dtypes whatever the engine returned: ids and keys as strings, dates as
    ``datetime64[us]``, counts and scores as int64, ``monetary`` as float64 rounded to
    ``scale`` (a no-op on the engines' exact sums; it pins the value for every engine).
    Casts only where needed: at millions of customers every needless copy shows."""
    def cast(col: str, dtype: str) -> None:
        if col in out.columns and str(out[col].dtype) != str(pd.Series(dtype=dtype).dtype):
            out[col] = out[col].astype(dtype)

    for c in ("customer_id", *by, "rfm_cell"):
        cast(c, "string")
    for c in ("first_purchase", "last_purchase"):
        if c in out.columns and not pd.api.types.is_datetime64_dtype(out[c]):
            out[c] = pd.to_datetime(out[c])
        cast(c, "datetime64[us]")
    for c in ("recency_days", "frequency", "tenure_days", "r_score", "f_score", "m_score", "rfm_score"):
        cast(c, "int64")
    if "monetary" in out.columns:
        out["monetary"] = np.round(out["monetary"].astype("float64").to_numpy(), scale)
    return out.reset_index(drop=True)


# ============================================================================ scoring
def score_quantiles(rfm: pd.DataFrame, n: int = 5, *, by: Iterable[str] = (), scale: int = 2) -> pd.DataFrame:
    """Add quantile scores ``r_score``, ``f_score``, ``m_score`` (1..n) and ``rfm_cell``.

    **Ties.** A value's score is ``1 + floor(n * share of customers with a strictly worse
    value)``, capped at ``n``. So

    * equal values always get equal scores (a customer's score never depends on row order);
    * scores never decrease as the value improves;
    * the worst value always scores 1;
    * with no ties each score holds ``1/n`` of the customers.

    With heavy ties some scores stay empty. In CDNOW about 60% of customers bought once,
    so every one-order customer gets ``f_score`` 1 and the next score used is the one whose
    band contains the 60th percentile; we never split equal customers between scores to
    fill the bands artificially (pandas ``qcut`` on ranks would do that). For recency,
    smaller is better (fewer days since the last order scores higher). ``monetary`` is
    compared at the currency's ``scale`` (exactly: ``12.30`` and ``12.3000000001`` are the
    same spend); values off that scale are refused.

    ``rfm_cell`` is the three digits, e.g. ``"545"``; ``rfm_score`` their sum. Rows come
    back sorted by ``customer_id`` (and ``by`` keys). Scoring runs in DuckDB
    (:func:`rfm_helpers.rfm.sql.score_sql`), the same SQL the engines run.
    """
    keys = check_keys(by)
    scale = check_scale(scale)
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError("n must be at least 2")
    base = rfm.drop(columns=[c for c in _SCORE_COLUMNS if c in rfm.columns])
    if base.empty:
        out = base.copy()
        for c in ("r_score", "f_score", "m_score"):
            out[c] = pd.Series(dtype="int64")
        out["rfm_cell"] = pd.Series(dtype="string")
        out["rfm_score"] = pd.Series(dtype="int64")
        return out
    need = ["customer_id", "recency_days", "frequency", "monetary", *keys]
    missing = [c for c in need if c not in base.columns]
    if missing:
        raise KeyError(f"score_quantiles needs column(s) {missing}; expected an RFM table from compute_rfm")
    for c in ("recency_days", "frequency", "monetary"):
        if base[c].isna().any():
            raise ValueError(f"column {c!r} has {int(base[c].isna().sum()):,} missing value(s); "
                             "every customer needs a value to be scored")
    _check_amounts_frame(base["monetary"], scale, "RFM table", "monetary")
    frame = base[need].reset_index(drop=True)
    frame["_row"] = np.arange(len(base), dtype="int64")
    with DuckDBEngine() as eng:
        eng.register("rfm_in", frame)
        sql = score_sql("rfm_in", n, keys, scale=scale, keep=["_row", "customer_id", *keys],
                        final=["_row", "r_score", "f_score", "m_score"], order=True)
        out = eng.fetch(sql, label="score_quantiles", kind="per_customer")
    result = base.iloc[out["_row"].to_numpy()].reset_index(drop=True)
    for c in ("r_score", "f_score", "m_score"):
        result[c] = out[c].to_numpy(dtype="int64")
    result["rfm_cell"] = (result["r_score"].astype(str) + result["f_score"].astype(str)
                          + result["m_score"].astype(str)).astype("string")
    result["rfm_score"] = result["r_score"] + result["f_score"] + result["m_score"]
    return result
