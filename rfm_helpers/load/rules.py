"""The row rules: ONE SQL definition that decides, for every row, kept or set aside (and why).

:data:`RULES_SQL` is written in DuckDB's dialect over the typed canonical columns that
:mod:`.parsing` produces (table ``{rows}``), using only portable SQL (CASE, window
aggregates, ROW_NUMBER), so the very same text runs on Spark after
``sqlglot.transpile(sql, read="duckdb", write="spark")`` (see :func:`rules_sql`). Amounts
are integer minor units (``amount_minor``), so zero checks, netting and sums are exact.

Every input row leaves with exactly one outcome: ``reason`` NULL (kept, with its final
amount ``amount_final``) or one reason code of :data:`rfm_helpers.load.result.REASONS`
(first applicable in that order), with ``reason_detail`` and ``reason_value``.

Order semantics:

* ``level = 'order'``: the amount is the order total. The first row of an order carrying
  it is kept; further rows repeating the same total are ``order_total_repeated``, rows
  without an amount ``order_continuation``; different totals within one order are
  ``order_total_conflict``. ``level = 'line'``: every row is an item line, amounts add up.
* Returns (``returns = 'net'``): a negative row is linked to its order by ``refund_of`` or
  ``order_id``; linked refunds are subtracted from that order (``refund_netted``), spread
  over the order's lines in proportion with the rounding remainder on its first line, so
  the order's kept amounts add up exactly to its net value; an order whose refunds cancel
  it completely is not a purchase (``refunded_order``). Returns that cannot be linked are
  ``return_or_cancellation``. ``'quarantine'``: every negative row is set aside;
  ``'keep'``: negative rows are kept as they are.
"""
from __future__ import annotations

import datetime as dt

__all__ = ["RULES_SQL", "LAYOUT_SQL", "rules_sql", "decide_level"]

RULES_SQL = """
WITH checked AS (
    SELECT r.*,
        CASE
            WHEN is_repeated_header THEN 'repeated_header'
            WHEN is_total_row THEN 'total_row'
            WHEN customer_id_issue = 'missing' THEN 'missing_customer_id'
            WHEN customer_id_issue IS NOT NULL THEN 'bad_customer_id'
            WHEN date_issue = 'missing' AND amount_issue = 'missing' AND {order_level} AND order_id IS NOT NULL
                THEN NULL
            WHEN date_issue IS NOT NULL THEN 'bad_date'
            WHEN amount_issue = 'missing' AND {order_level} AND order_id IS NOT NULL THEN NULL
            WHEN amount_issue IS NOT NULL THEN 'bad_amount'
            WHEN {after_date} THEN 'after_analysis_date'
            WHEN NOT status_counts THEN 'excluded_status'
            WHEN amount_minor = 0 AND {quarantine_zero} THEN 'zero_amount'
        END AS reason1,
        CASE
            WHEN customer_id_issue IS NOT NULL THEN customer_id_issue
            WHEN date_issue IS NOT NULL THEN date_issue
            WHEN amount_issue IS NOT NULL THEN amount_issue
        END AS detail1
    FROM {rows} r
),
dups AS (
    SELECT c.*,
        {first_same} AS first_same
    FROM checked c
),
deduped AS (
    SELECT d.*,
        CASE WHEN reason1 IS NULL AND {dedupe} AND order_id IS NOT NULL AND source_row > first_same
             THEN 'duplicate' END AS reason2
    FROM dups d
),
ordered AS (
    SELECT d.*,
        {total_row} AS total_row,
        {total_min} AS total_min,
        {total_max} AS total_max
    FROM deduped d
),
leveled AS (
    SELECT o.*,
        CASE
            WHEN reason1 IS NOT NULL OR reason2 IS NOT NULL THEN NULL
            WHEN NOT {order_level} OR order_id IS NULL THEN NULL
            WHEN amount_minor IS NULL AND total_row IS NULL THEN 'bad_amount'
            WHEN amount_minor IS NULL THEN 'order_continuation'
            WHEN amount_minor < 0 THEN NULL
            WHEN total_min <> total_max THEN 'order_total_conflict'
            WHEN source_row <> total_row THEN 'order_total_repeated'
        END AS reason3
    FROM ordered o
),
linked AS (
    SELECT l.*,
        CASE WHEN reason1 IS NULL AND reason2 IS NULL AND reason3 IS NULL THEN
            CASE WHEN amount_minor < 0 THEN COALESCE({refund_of}, order_id) ELSE order_id END
        END AS link_key
    FROM leveled l
),
netted AS (
    SELECT k.*,
        {gross} AS gross,
        {refunds} AS refunds,
        {first_line} AS first_line
    FROM linked k
),
decided AS (
    SELECT n.*,
        CASE
            WHEN reason1 IS NOT NULL THEN reason1
            WHEN reason2 IS NOT NULL THEN reason2
            WHEN reason3 IS NOT NULL THEN reason3
            WHEN amount_minor < 0 AND {returns} = 'keep' THEN NULL
            WHEN amount_minor < 0 AND {returns} = 'quarantine' THEN 'return_or_cancellation'
            WHEN amount_minor < 0 AND (link_key IS NULL OR gross IS NULL) THEN 'return_or_cancellation'
            WHEN amount_minor < 0 THEN 'refund_netted'
            WHEN {returns} = 'net' AND link_key IS NOT NULL AND refunds < 0 AND gross + refunds <= 0
                THEN 'refunded_order'
        END AS reason0,
        CASE
            WHEN {returns} = 'net' AND link_key IS NOT NULL AND amount_minor > 0 AND refunds < 0
                 AND gross + refunds > 0
            THEN CAST(FLOOR(CAST(amount_minor AS DOUBLE) * (gross + refunds) / gross) AS BIGINT)
            ELSE amount_minor
        END AS amount_share
    FROM netted n
),
final AS (
    SELECT d.*,
        CASE
            WHEN reason0 IS NULL AND {returns} = 'net' AND link_key IS NOT NULL AND amount_minor > 0 AND refunds < 0
                 AND source_row = first_line
            THEN amount_share + (gross + refunds) - {shares}
            ELSE amount_share
        END AS amount_final
    FROM decided d
),
settled AS (
    -- a line whose share of a partly refunded order rounds to nothing is not a purchase either
    SELECT f.*,
        CASE WHEN reason0 IS NULL AND amount_final = 0 AND {quarantine_zero} THEN 'zero_amount' ELSE reason0 END
            AS reason
    FROM final f
)
SELECT
    source_row,
    __i,
    customer_id,
    order_date{passthrough},
    reason,
    CASE
        WHEN reason IN ('bad_customer_id', 'bad_date', 'bad_amount') THEN COALESCE(detail1, 'no_amount_in_order')
        WHEN reason = 'return_or_cancellation' AND {returns} = 'quarantine' THEN 'policy'
        WHEN reason = 'return_or_cancellation' THEN 'unlinked'
        WHEN reason = 'missing_customer_id' THEN 'missing'
        WHEN reason = 'zero_amount' AND reason0 IS NULL THEN 'after_refunds'
    END AS reason_detail,
    CASE
        WHEN reason = 'after_analysis_date' THEN {as_of_text}
        WHEN reason = 'excluded_status' THEN {status_key}
        WHEN reason = 'duplicate' THEN CAST(first_same AS VARCHAR)
        WHEN reason IN ('order_total_repeated', 'order_continuation', 'order_total_conflict') THEN order_id
        WHEN reason IN ('refund_netted', 'refunded_order') THEN link_key
    END AS reason_value,
    CASE WHEN reason IS NULL THEN amount_final END AS amount_final,
    CASE WHEN reason IS NULL AND refunds < 0 AND amount_minor > 0 THEN true ELSE false END AS netted
FROM settled
"""

#: The window expressions of :data:`RULES_SQL`; without an order id they are constants
#: (nothing links rows), so the same definition costs no window pass on plain exports.
_WINDOWS = {
    "first_same": "MIN(source_row) OVER (PARTITION BY reason1, row_key, customer_id, order_date, amount_minor, "
                  "order_id)",
    "total_row": "MIN(CASE WHEN amount_minor > 0 THEN source_row END) OVER (PARTITION BY CASE WHEN reason1 IS NULL "
                 "AND reason2 IS NULL THEN order_id END)",
    "total_min": "MIN(CASE WHEN amount_minor > 0 THEN amount_minor END) OVER (PARTITION BY CASE WHEN reason1 IS "
                 "NULL AND reason2 IS NULL THEN order_id END)",
    "total_max": "MAX(CASE WHEN amount_minor > 0 THEN amount_minor END) OVER (PARTITION BY CASE WHEN reason1 IS "
                 "NULL AND reason2 IS NULL THEN order_id END)",
    "gross": "SUM(CASE WHEN amount_minor > 0 THEN amount_minor END) OVER (PARTITION BY link_key)",
    "refunds": "COALESCE(SUM(CASE WHEN amount_minor < 0 THEN amount_minor END) OVER (PARTITION BY link_key), 0)",
    "first_line": "MIN(CASE WHEN amount_minor > 0 THEN source_row END) OVER (PARTITION BY link_key)",
    "shares": "SUM(CASE WHEN reason0 IS NULL AND amount_minor > 0 THEN amount_share END) OVER (PARTITION BY link_key)",
}
_NO_WINDOWS = {"first_same": "CAST(NULL AS BIGINT)", "total_row": "CAST(NULL AS BIGINT)",
               "total_min": "CAST(NULL AS BIGINT)", "total_max": "CAST(NULL AS BIGINT)",
               "gross": "CAST(NULL AS BIGINT)", "refunds": "CAST(0 AS BIGINT)", "first_line": "CAST(NULL AS BIGINT)",
               "shares": "CAST(0 AS BIGINT)"}

#: How the rows of multi-row orders carry their amounts (for ``amounts.level: auto``).
LAYOUT_SQL = """
SELECT CASE WHEN na = n AND amin = amax THEN 'same'
            WHEN na = 1 THEN 'first_only'
            WHEN na = n THEN 'differ'
            ELSE 'mixed' END AS layout,
       COUNT(*) AS orders, MIN(first_row) AS example_row
FROM (
    SELECT order_id, COUNT(*) AS n, COUNT(amount_minor) AS na, MIN(amount_minor) AS amin,
           MAX(amount_minor) AS amax, COUNT(DISTINCT row_key) AS nk, MIN(source_row) AS first_row
    FROM {rows}
    WHERE order_id IS NOT NULL AND customer_id_issue IS NULL
      AND (date_issue IS NULL OR (date_issue = 'missing' AND amount_issue = 'missing'))
      AND NOT is_total_row AND NOT is_repeated_header
      AND (amount_issue IS NULL OR amount_issue = 'missing') AND COALESCE(amount_minor, 1) > 0
    GROUP BY order_id
    HAVING COUNT(*) > 1 AND COUNT(DISTINCT row_key) > 1
) o
GROUP BY 1
"""


def rules_sql(*, rows: str = "rows", as_of: dt.date | None = None, level: str = "line", returns: str = "net",
              quarantine_zero: bool = True, dedupe: bool = True, has_refund_of: bool = False,
              has_status: bool = False, has_order_id: bool = True, passthrough: tuple[str, ...] = (),
              dialect: str = "duckdb") -> str:
    """The row rules with their parameters filled in; ``dialect="spark"`` translates the same
    text with sqlglot."""
    if as_of is not None:
        after = f"CAST(order_date AS DATE) > DATE '{as_of.isoformat()}'"
        as_of_text = f"'{as_of.isoformat()}'"
    else:
        after, as_of_text = "false", "NULL"
    sql = RULES_SQL.format(
        rows=rows, order_level="true" if level == "order" else "false", after_date=after,
        quarantine_zero="true" if quarantine_zero else "false", dedupe="true" if dedupe else "false",
        returns=f"'{returns}'", refund_of="refund_of" if has_refund_of else "CAST(NULL AS VARCHAR)",
        status_key="status_key" if has_status else "CAST(NULL AS VARCHAR)", as_of_text=as_of_text,
        passthrough="".join(f",\n    {c}" for c in passthrough),
        **(_WINDOWS if has_order_id else _NO_WINDOWS))
    if dialect != "duckdb":
        import sqlglot

        sql = sqlglot.transpile(sql, read="duckdb", write=dialect)[0]
    return sql


def decide_level(layouts: dict[str, tuple[int, int]], requested: str, has_order_id: bool, label: str,
                 column: str, line_of) -> tuple[str, str | None]:
    """``amounts.level`` for ``auto``: (level, evidence) from the layouts of multi-row orders
    (``{layout: (orders, example_row)}``); refuses when the data do not tell."""
    from .result import DataValidationError

    if requested != "auto":
        return requested, None
    if not has_order_id or not layouts:
        return "line", None
    same = layouts.get("same", (0, 0))[0]
    first = layouts.get("first_only", (0, 0))[0]
    differ = layouts.get("differ", (0, 0))[0]
    mixed = layouts.get("mixed", (0, 0))[0]
    if first and not differ and not mixed:
        return "order", "first_only"
    if same >= 3 and not differ and not mixed and not first:
        return "order", "repeated"
    if differ and not first and not mixed and same < differ:
        return "line", None
    ex = ", ".join(f"{k}: line {line_of(v[1])}" for k, v in layouts.items())
    raise DataValidationError(
        f"{label}: column {column!r} (amount): it is unclear whether amounts are item lines or order totals "
        f"(orders with several rows: {same} repeat one amount on every row, {differ} have different amounts, "
        f"{first} have the amount on one row only, {mixed} mixed; e.g. {ex}). Set amounts.level: line (every "
        "row is an item, amounts add up) or amounts.level: order (the amount is the order's total) in the "
        "source spec.")
