"""The loader's row rules run by an engine (DuckDB or Spark) on a typed source table.

:func:`load_transactions` reads files into DuckDB, parses text columns and applies the
row rules (:data:`~rfm_helpers.load.rules.RULES_SQL`). A Spark table (or any typed table an
engine already holds: Parquet, a DataFrame) needs no text parsing, but it needs the same
rules: :func:`clean_in_engine` builds the rules' input (``rows``: typed canonical columns
plus the problem codes) in SQL, runs the very same :data:`RULES_SQL` text in the engine
(translated for Spark by :func:`rfm_helpers.engine.translate`), and returns the kept rows
as a :class:`~rfm_helpers.engine.Relation` that stays in the engine, with the accounting
(rows in / kept / set aside per reason code, customers kept and lost) as numbers. The
quarantined rows stay in the engine too (``outcome``); write them with
``EngineLoad.quarantine.write_parquet``.

Typed sources know no repeated headers, total lines or destroyed spreadsheet ids: those
reasons (``repeated_header``, ``total_row``, ``bad_customer_id``) come only from text
files. Every other reason is decided exactly as the file loader decides it (tested against
:func:`load_transactions` on CDNOW and on generated data with every such reason).

"First row" of an order (which row keeps an order total, which duplicate is the original,
which line takes a refund's rounding remainder) is the row's position in the source: the
frame's order on DuckDB, ``monotonically_increasing_id()`` on Spark (file order within each
file split, splits in order).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..engine import Engine, Relation
from .parsing import split_statuses
from .result import SET_ASIDE_NOT_LOST, DataValidationError, Remark
from .rules import LAYOUT_SQL, decide_level, rules_sql
from .spec import CleaningRules, ReturnOptions, StatusOptions

__all__ = ["EngineLoad", "clean_in_engine"]

_OPTIONAL = ("order_id", "refund_of", "status", "channel", "quantity")


@dataclass
class EngineLoad:
    """The outcome of :func:`clean_in_engine`: relations kept in the engine, counts as numbers."""

    clean: Relation                 # customer_id, order_date (DATE), amount (DOUBLE, exact cents)[, order_id, channel, quantity]
    quarantine: Relation            # source_row, reason, reason_detail, reason_value, customer_id, order_date, amount (as read)
    rows_in: int
    rows_kept: int
    reasons: dict[str, int]         # reason code -> rows set aside (only reasons that occurred)
    customers: int                  # distinct customers among the kept rows
    customers_lost: int             # customers whose every row was set aside (SET_ASIDE_NOT_LOST excluded)
    level: str
    remarks: list[Remark] = field(default_factory=list)
    outcome: str = ""               # the engine's view of every row with its reason (NULL = kept) and amount_final

    @property
    def rows_quarantined(self) -> int:
        return sum(self.reasons.values())


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _with_positions(engine: Engine, source: Any) -> Any:
    """A pandas frame or Arrow table gets its row positions as a column (``__pos``): DuckDB's
    ``ROW_NUMBER() OVER ()`` follows the scan, which is parallel."""
    import pandas as pd
    import pyarrow as pa

    if engine.kind != "duckdb":
        return source
    if isinstance(source, pd.DataFrame):
        return source.assign(__pos=range(len(source)))
    if isinstance(source, pa.Table):
        return source.append_column("__pos", pa.array(range(source.num_rows), pa.int64()))
    return source


def _row_number_sql(engine: Engine, columns: Any) -> str:
    if "__pos" in columns:
        return "__pos"
    if engine.kind == "spark":
        return "monotonically_increasing_id()"
    return "ROW_NUMBER() OVER () - 1"


def _row_hash_sql(engine: Engine, columns: list[str]) -> str:
    quoted = ", ".join(f"`{c}`" if engine.kind == "spark" else f'"{c}"' for c in columns)
    # 64-bit hashes on both engines (Spark's hash() is 32-bit): rows partitioned by equal
    # hashes are also compared on customer, date, amount and order id
    return f"xxhash64({quoted})" if engine.kind == "spark" else f"hash({quoted})"


def _status_counts_sql(engine: Engine, view: str, statuses: StatusOptions, where: str) -> tuple[str, Remark]:
    """SQL telling whether a row's ``status_key`` counts, decided per distinct status like the
    file loader does (built-in vocabulary, or the spec's include/exclude lists)."""
    # a status is shown as its most frequent spelling (the file loader's mode()), ties by the first in order
    rows = engine.scalar_rows(f"""
        WITH s AS (SELECT status_key, status_raw, COUNT(*) AS n, MIN(source_row) AS first_row FROM {view}
                   GROUP BY status_key, status_raw),
             r AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY status_key ORDER BY n DESC, status_raw) AS rk FROM s)
        SELECT status_key, SUM(n), MIN(first_row), MAX(CASE WHEN rk = 1 THEN status_raw END) FROM r
        GROUP BY status_key ORDER BY 2 DESC""", label="statuses")
    split = split_statuses(statuses, rows)
    if split.unknowns:
        raise DataValidationError(
            f"{where}: column 'status' has statuses that are neither known purchases nor known cancellations: "
            f"{split.unknown_list(lambda first: f'row {first}')}. Say which count: statuses: {{include: [...]}} "
            "(only these count) or statuses: {exclude: [...]} (all others count).")
    counted, excluded, keys = split.counted, split.excluded, split.keys
    remark = Remark("statuses", {"column": "status", "counted": counted, "excluded": excluded},
                    "warning" if excluded else "info")
    sql = f"(COALESCE(status_key, '') IN ({', '.join(_lit(k) for k in keys)}))" if keys else "false"
    return sql, remark


def clean_in_engine(engine: Engine, source: Any, analysis_date: Any = None, *, scale: int = 2,
                    time_zone: str | None = None, level: str = "auto",
                    returns: ReturnOptions | str = "net", cleaning: CleaningRules | None = None,
                    statuses: StatusOptions | None = None) -> EngineLoad:
    """Apply the loader's row rules to ``source`` inside ``engine``.

    ``source``: anything :meth:`Engine.register` takes (a Spark DataFrame or table read by
    the session, a pandas frame, Parquet files...) with the canonical columns
    ``customer_id``, ``order_date``, ``amount`` and optionally ``order_id``, ``refund_of``,
    ``status``, ``channel``, ``quantity``. ``order_date`` must be a date or timestamp
    (instants need ``time_zone``, see :mod:`rfm_helpers.engine`); ``amount`` a number in
    the currency, rounded to ``scale`` digits (rounded values are counted in an
    ``amount_rounded`` remark, like the file loader does). ``level``, ``returns``,
    ``cleaning`` and ``statuses`` mean what the source spec's ``amounts.level``,
    ``returns``, ``cleaning`` and ``statuses`` mean.
    """
    from ..rfm.sql import check_scale

    scale = check_scale(scale)
    policy = returns.policy if isinstance(returns, ReturnOptions) else ReturnOptions(policy=returns).policy
    cleaning = cleaning or CleaningRules()
    statuses = statuses or StatusOptions()
    as_of = None if analysis_date is None else _as_date(analysis_date)
    source = _with_positions(engine, source)
    table = engine.register(engine.unique_name("rfm_src"), source)
    where = table.origin
    missing = [c for c in ("customer_id", "order_date", "amount") if c not in table]
    if missing:
        raise DataValidationError(f"{where}: column(s) {missing} not found; found {sorted(table.columns)}. "
                                  "Name the columns customer_id, order_date, amount (SQL aliases).")
    has = {c: c in table for c in _OPTIONAL}
    if level not in ("auto", "line", "order"):
        raise ValueError("level must be 'auto', 'line' or 'order'")
    if level == "order" and not has["order_id"]:
        raise DataValidationError(f"{where}: level 'order' needs an order_id column (which rows belong to one order)")

    cid = table.columns["customer_id"]
    if cid.kind == "float":
        raise DataValidationError(f"{where}: column 'customer_id' is {cid.engine_type}: ids stored as floating "
                                  "point lose digits and leading zeros; store them as text or integers")
    amount = table.columns["amount"]
    if amount.kind not in ("integer", "decimal", "float"):
        raise DataValidationError(f"{where}: column 'amount' is {amount.engine_type}, not a number")
    date_sql = engine.calendar_date_sql(table.columns["order_date"], time_zone, where)

    # step 1 (engine's own dialect): position and whole-row key
    numbered = engine.create_view(engine.unique_name("rfm_numbered"), engine.native_sql(
        f"SELECT *, {_row_number_sql(engine, table.columns)} AS __i, "
        f"{_row_hash_sql(engine, [c for c in table.columns if c != '__pos'])} AS __row_key, {date_sql} AS __day FROM {table.name}"))
    # step 2 (DuckDB dialect, translated for Spark): typed canonical columns and problem codes
    unit = 10 ** scale
    x = "CAST(amount AS DOUBLE)" if amount.kind == "float" else "amount"
    text = lambda c: f"NULLIF(TRIM(CAST({c} AS VARCHAR)), '')"  # noqa: E731
    amount_issue = ("CASE WHEN amount IS NULL THEN 'missing' "
                    + ("WHEN ABS(amount) > 1e300 THEN 'unreadable' " if amount.kind == "float" else "")
                    + "END")  # NaN compares greater than every number on both engines, like infinity
    cols = [
        "__i + 1 AS source_row", "__i",
        f"{text('customer_id')} AS customer_id",
        f"CASE WHEN {text('customer_id')} IS NULL THEN 'missing' END AS customer_id_issue",
        "__day AS order_date",
        "CASE WHEN order_date IS NULL THEN 'missing' WHEN __day IS NULL THEN 'unreadable' END AS date_issue",
        f"CASE WHEN ({amount_issue}) IS NULL THEN CAST(ROUND({x} * {unit}) AS BIGINT) END AS amount_minor",
        f"{amount_issue} AS amount_issue",
        f"COALESCE(ABS({x} * {unit} - ROUND({x} * {unit})) > 0.001, false) AND ({amount_issue}) IS NULL "
        "AS amount_rounded",
        "false AS is_repeated_header", "false AS is_total_row",
        ("__row_key" if has["order_id"] and cleaning.dedupe_with_order_id else "__i")
        + " AS row_key",
        f"{text('order_id')} AS order_id" if has["order_id"] else "CAST(NULL AS VARCHAR) AS order_id",
    ]
    if has["refund_of"]:
        cols.append(f"{text('refund_of')} AS refund_of")
    if has["channel"]:
        cols.append(f"{text('channel')} AS channel")
    if has["quantity"]:
        cols.append("CAST(quantity AS DOUBLE) AS quantity")
    if has["status"]:
        cols.append("NULLIF(RTRIM(REGEXP_REPLACE(REPLACE(LOWER(TRIM(CAST(status AS VARCHAR))), 'ё', 'е'), "
                    "'\\s+', ' ', 'g'), '.'), '') AS status_key")
        cols.append("TRIM(CAST(status AS VARCHAR)) AS status_raw")
    typed = engine.create_view(engine.unique_name("rfm_typed"),
                               engine.sql(f"SELECT {', '.join(cols)} FROM {numbered}"))
    remarks: list[Remark] = []
    counts_sql = "true"
    if has["status"]:
        counts_sql, remark = _status_counts_sql(engine, typed, statuses, where)
        remarks.append(remark)
    # rows without date and amount (an order's continuation lines) carry no status of their own
    rows = engine.materialize(
        f"SELECT *, CASE WHEN COALESCE(date_issue = 'missing' AND amount_issue = 'missing', false) THEN true "
        f"ELSE {counts_sql} END AS status_counts FROM {typed}", stem="rfm_rows")

    layouts = {}
    if has["order_id"]:
        layouts = {r[0]: (int(r[1]), int(r[2]))
                   for r in engine.scalar_rows(LAYOUT_SQL.format(rows=rows), label="order layouts")}
    level, _ = decide_level(layouts, level, has["order_id"], where, "amount", lambda r: r)
    passthrough = tuple(c for c in ("order_id", "channel", "quantity") if has[c])
    outcome = engine.materialize(
        rules_sql(rows=rows, as_of=as_of, level=level, returns=policy, quarantine_zero=cleaning.quarantine_zero,
                  dedupe=cleaning.dedupe_with_order_id, has_refund_of=has["refund_of"], has_status=has["status"],
                  has_order_id=has["order_id"], passthrough=passthrough),
        stem="rfm_outcome")

    not_lost = ", ".join(_lit(r) for r in SET_ASIDE_NOT_LOST)
    reasons = {r: int(n) for r, n in engine.scalar_rows(
        f"SELECT reason, COUNT(*) FROM {outcome} WHERE reason IS NOT NULL GROUP BY reason", label="reasons")}
    (rows_in, rows_kept, rounded), = engine.scalar_rows(
        f"SELECT COUNT(*), SUM(CASE WHEN o.reason IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN r.amount_rounded THEN 1 ELSE 0 END) "
        f"FROM {outcome} o JOIN {rows} r ON o.__i = r.__i", label="row accounting")
    (customers, lost), = engine.scalar_rows(f"""
        SELECT SUM(kept), SUM(CASE WHEN kept = 0 AND lost_row = 1 THEN 1 ELSE 0 END) FROM (
            SELECT customer_id,
                   MAX(CASE WHEN reason IS NULL THEN 1 ELSE 0 END) AS kept,
                   MAX(CASE WHEN reason IS NOT NULL AND reason NOT IN ({not_lost}) THEN 1 ELSE 0 END) AS lost_row
            FROM {outcome} WHERE customer_id IS NOT NULL GROUP BY customer_id) c""", label="customers")
    if rounded:
        remarks.append(Remark("amount_rounded", {"column": "amount", "count": int(rounded), "digits": scale,
                                                 "currency": ""}, "warning"))
    extra = "".join(f", {c}" for c in passthrough)
    clean = engine.sql(f"SELECT customer_id, order_date, CAST(amount_final AS DOUBLE) / {unit} AS amount{extra} "
                       f"FROM {outcome} WHERE reason IS NULL")
    quarantine = engine.sql(f"SELECT o.source_row, o.reason, o.reason_detail, o.reason_value, o.customer_id, "
                            f"o.order_date, CAST(r.amount_minor AS DOUBLE) / {unit} AS amount "
                            f"FROM {outcome} o JOIN {rows} r ON o.__i = r.__i WHERE o.reason IS NOT NULL")
    return EngineLoad(clean=clean, quarantine=quarantine, rows_in=int(rows_in or 0), rows_kept=int(rows_kept or 0),
                      reasons=reasons, customers=int(customers or 0), customers_lost=int(lost or 0), level=level,
                      remarks=remarks, outcome=outcome)


def _as_date(value: Any) -> dt.date:
    from ..rfm.sql import parse_as_of

    return parse_as_of(value)
