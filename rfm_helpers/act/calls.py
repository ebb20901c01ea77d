"""The phone call list: customers worth a call, most urgent first.

``call_priority = call_weight(segment) x value`` where ``call_weight`` (0..1, per segment in the
map) is the urgency and ``value`` the customer's spend percentile among all customers
(``monetary`` ranked, average rank for ties, divided by the count). Only segments with
``call_weight > 0`` are listed; order: priority (rounded to 4 decimals), then spend, then the
most recent, then customer id. Computed and written by the engine.

Ranked by value at risk (``rank_by="value_at_risk"`` with a ``value`` table from the value stage,
notebook 06): ``call_priority = call_weight(segment) x value-at-risk percentile``, the percentile
taken among the customers that have a value-at-risk figure (average rank for ties, divided by
their count); order: priority, then value at risk, then spend, then the most recent, then
customer id. The list gains the columns ``value_at_risk`` and ``p_alive``. A customer without a
value row (or with an empty value at risk) has no priority: **not listed, and counted** (the
result's ``without_value`` and the writer's note ``call_list_without_value``); value rows of
customers missing from the segmented table are ignored.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ..segments import _get_map, load_segment_maps
from .formats import prepare_contacts
from .consent import REASONS, assumed_channels
from .mailing import (_all_threads, _check_contacts, _excluded_note, columns_of, customer_sql, list_engine, list_inputs,
                      load_test_recipients, restrict_to_reachable, segment_texts)
from .workbook import Sheet
from .writer import ExportWriter

__all__ = ["call_priority", "write_call_list", "PRIORITY_SQL", "RANK_BY", "priority_sql"]

#: What the call priority multiplies the segment's call weight by: the percentile of this column.
RANK_BY = ("monetary", "value_at_risk")


def priority_sql(column: str = "monetary") -> str:
    """The priority in SQL: call weight x percentile of ``column`` (ties averaged), 4 decimals."""
    return (f"round(call_weight * (rank() OVER (ORDER BY {column}) + (count(*) OVER (PARTITION BY {column}) - 1)"
            " / 2.0) / count(*) OVER (), 4)")


#: The priority in SQL, over the view ``customers`` of :func:`rfm_helpers.act.mailing.customer_sql`.
PRIORITY_SQL = priority_sql("monetary")


def _priorities_sql(source: str, column: str = "monetary") -> str:
    """The rows of ``source`` (with ``call_weight`` and ``column``) with their ``call_priority``:
    :func:`priority_sql`'s number without its three windows over every row. The rank and the
    ties of a value come from the distinct values and their counts (one hash aggregate, then a
    running count over the distinct values only): ``rank()`` is one more than the rows with a
    smaller value (NULL last, as the window orders it), the ties are the value's count, and the
    arithmetic is the window's, on the same integer types, so the number is the same double."""
    return f"""
        WITH n AS ({source}),
        d AS (SELECT {column} AS v, count(*) AS ties FROM n GROUP BY ALL),
        r AS (SELECT v, ties,
                     CAST(1 + coalesce(sum(ties) OVER (ORDER BY v ASC NULLS LAST
                                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT) AS rk,
                     CAST(sum(ties) OVER () AS BIGINT) AS total
              FROM d)
        SELECT n.*, round(n.call_weight * (r.rk + (r.ties - 1) / 2.0) / r.total, 4) AS call_priority
        FROM n JOIN r ON n.{column} IS NOT DISTINCT FROM r.v"""


def call_priority(assigned: pd.DataFrame, map_name: str | None = None, maps: dict | None = None) -> pd.Series:
    """The call priority of every customer of ``assigned`` (0..1, not rounded), in its order."""
    maps = maps if maps is not None else load_segment_maps()
    name = map_name or assigned.attrs.get("segment_map") or "classic"
    _, mp = _get_map(name, maps)
    weights = {s["key"]: s["call_weight"] for s in mp["segments"]}
    w = assigned["segment"].astype(str).map(weights)
    if w.isna().any():
        raise ValueError(f"segments not in map {name!r}: {sorted(set(assigned['segment'].astype(str)) - set(weights))}")
    value = assigned["monetary"].rank(method="average", pct=True)
    return (w.astype("float64") * value).rename("call_priority")


def write_call_list(ex: ExportWriter, assigned: Any, map_name: str | None = None, maps: dict | None = None,
                    max_rows: int | None = None, test_recipients: Any = None, contacts: pd.DataFrame | None = None,
                    name: str | None = None, formats: tuple[str, ...] = ("csv", "xlsx"),
                    phone_region: str | None = None, channel: str | None = None, value: Any = None,
                    rank_by: str = "monetary", engine: Any = None) -> dict:
    """Write ``{name}.csv`` and ``{name}.xlsx`` (About sheet + the list; ``name`` by default
    ``call_list``, or ``call_list_value_at_risk`` when ranked by value at risk). ``max_rows`` keeps the
    top N (what the call centre can handle); test recipients come last with ``is_test`` = 1.
    Returns aggregates: ``rows``, ``candidates`` (customers with a call priority the list could
    hold, before ``max_rows``), ``test_rows``, ``csv_file``, ``xlsx_file``, ``by_segment``
    ({label: rows}) and ``warnings``.

    ``channel`` (normally ``call``) with ``contacts``: only customers that can be reached on it
    are listed (priorities are still ranked among all customers); ``excluded`` then gives the
    customers with a call priority left out per reason (``no_contact``, ``unsubscribed``,
    ``no_consent``; before ``max_rows`` is applied).

    ``rank_by="value_at_risk"`` with ``value`` (a pandas frame, Arrow table, DuckDB relation or
    Parquet file path with ``customer_id``, ``value_at_risk`` and optionally ``p_alive``; one row
    per customer):
    the priority uses the value-at-risk percentile instead of the spend percentile, the list
    (schema ``call_list_value_at_risk.csv``) carries ``value_at_risk`` and ``p_alive``, and
    ``without_value`` counts the customers of call segments left out for want of a value figure
    (see the module's docstring).

    ``assigned`` may also be the name of a table or view in ``engine`` (or a Relation of it): the
    list is then written from the engine (:func:`rfm_helpers.act.mailing.list_engine`)."""
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by={rank_by!r}: use one of {RANK_BY}")
    by_value = rank_by == "value_at_risk"
    if by_value and value is None:
        raise ValueError("rank_by='value_at_risk' needs the value table (value=, from the value stage: "
                         "customer_id, value_at_risk, p_alive)")
    if value is not None and not by_value:
        raise ValueError("a value table is only used with rank_by='value_at_risk'")
    name = name or ("call_list_value_at_risk" if by_value else "call_list")
    maps = maps if maps is not None else load_segment_maps()
    mname = map_name or getattr(assigned, "attrs", {}).get("segment_map") or "classic"
    seg = segment_texts(mname, ex.language, maps)
    tests = load_test_recipients(test_recipients)
    region = phone_region or ("RU" if ex.language == "ru" else "US")
    assume = assumed_channels(contacts)
    if contacts is not None:  # phones in E.164, as in the mailing lists
        contacts, notes = prepare_contacts(contacts, region)
        ex.notes.extend(n for n in notes if n not in ex.notes)
    schema_name = "call_list_value_at_risk.csv" if by_value else "call_list.csv"
    base, columns, frames = list_inputs(schema_name, assigned, seg, contacts, tests)
    if by_value:
        frames["value_rows"] = _value_frame(value)
    limit = f"LIMIT {int(max_rows)}" if max_rows else ""
    first = len(ex.records)
    with list_engine(frames, engine) as con:
        _check_contacts(con, contacts)
        extra = [c for c in columns if c.key not in {b.key for b in base}]
        con.execute(f"CREATE TEMP VIEW customers AS {customer_sql(columns_of(con), contacts, extra)}")
        without_value = _join_value(con) if by_value else 0
        excluded = restrict_to_reachable(con, channel, contacts, assume)
        filtered = channel is not None and contacts is not None
        if filtered:  # left out: customers with a call priority that the channel cannot reach
            excluded = {}
            for seg_key, reason, n in con.execute(f"""
                    SELECT r.segment, r.reason, count(*) FROM reach AS r JOIN (
                        SELECT customer_id FROM ({_priorities_sql(f"SELECT customer_id, {rank_by}, call_weight FROM customers_all", rank_by)}) AS p
                        WHERE call_priority > 0) AS q
                    USING (customer_id) WHERE r.reason IS NOT NULL GROUP BY ALL""").fetchall():
                excluded.setdefault(str(seg_key), {})[str(reason)] = int(n)
        ranked = "customers_all" if filtered else "customers"
        reachable = " AND customer_id IN (SELECT customer_id FROM customers)" if filtered else ""
        # the priority and the order on a narrow projection; only the listed rows are joined back
        # to their full columns (window functions over every column would hold the whole base)
        keys = "value_at_risk, monetary" if by_value else "monetary"
        order = "value_at_risk DESC, monetary DESC" if by_value else "monetary DESC"
        rank_order = f"call_priority DESC, {order}, recency_days, customer_id"
        with _all_threads(con):  # every customer's priority: the engine's threads
            con.execute(f"""CREATE TEMP TABLE ranked AS
                SELECT customer_id, {keys}, recency_days, call_priority
                FROM ({_priorities_sql(f"SELECT customer_id, {keys}, recency_days, call_weight FROM {ranked}", rank_by)}) AS p
                WHERE call_priority > 0{reachable}""")
            # only the listed rows are sorted in full (the first max_rows of the order, then numbered)
            con.execute(f"""CREATE TEMP TABLE top AS
                SELECT customer_id, call_priority, row_number() OVER (ORDER BY {rank_order}) AS priority_rank
                FROM {f"(SELECT * FROM ranked ORDER BY {rank_order} {limit})" if limit else "ranked"} AS t
                ORDER BY priority_rank""")
        # the listed rows once (one scan of the customers): the counts, the file and the sheet read
        # these few rows instead of joining every customer again
        with _all_threads(con):
            con.execute("""CREATE TEMP TABLE calls AS
                SELECT t.priority_rank, t.call_priority, c.* FROM top AS t JOIN customers AS c USING (customer_id)""")
        sql = "SELECT * FROM calls"
        if len(tests):
            sql += " UNION ALL BY NAME SELECT *, 'TEST' AS talking_points, 1 AS is_test FROM tests"
        sql = f"SELECT * FROM ({sql}) AS l ORDER BY is_test, priority_rank"
        rows = int(con.execute("SELECT count(*) FROM top").fetchone()[0])
        candidates = int(con.execute("SELECT count(*) FROM ranked").fetchone()[0])
        by_segment = dict(con.execute("SELECT segment_label, count(*) FROM calls GROUP BY segment_label, ord "
                                      "ORDER BY ord").fetchall())
        out = {"rows": rows, "candidates": candidates, "test_rows": len(tests), "csv_file": "", "xlsx_file": "",
               "by_segment": by_segment}
        if by_value:
            out["without_value"] = without_value
        if "csv" in formats:
            out["csv_file"] = ex.write_query(con, f"{name}.csv", sql, columns, schema_name, rows=rows + len(tests)).file
        if "xlsx" in formats:
            title = ex.words.label("call_list_sheet")
            if ex.write_workbook(con, f"{name}.xlsx", [Sheet(title, columns, sql, rows + len(tests), out["csv_file"])],
                                 _about(ex, seg, rank_by)):
                out["xlsx_file"] = f"{name}.xlsx"  # not written when the list passes the writer's workbook limit
    if channel is not None and contacts is not None:
        out["excluded"] = {r: sum(v.get(r, 0) for v in excluded.values()) for r in REASONS}
        ex.notes.append(_excluded_note(excluded, channel, name, assume))
    if by_value and without_value:
        ex.notes.append({"code": "call_list_without_value", "file": name, "count": without_value})
    out["warnings"] = [w for r in ex.records[first:] for w in r.warnings]
    return out


def _value_frame(value: Any) -> Any:
    """The value table as something the engine can scan: a DuckDB relation becomes Arrow; a
    Parquet file path (what the value stage writes at scale) is scanned in place, as an Arrow
    dataset, so its rows never come into memory at once."""
    if isinstance(value, (str, os.PathLike)):
        import pyarrow.dataset as ds

        value = ds.dataset(os.fspath(value), format="parquet")
    if hasattr(value, "to_arrow_table") and not isinstance(value, pd.DataFrame):  # a DuckDB relation
        value = value.to_arrow_table()
    names = [str(c) for c in (value.columns if isinstance(value, pd.DataFrame) else value.schema.names)]
    missing = [c for c in ("customer_id", "value_at_risk") if c not in names]
    if missing:
        raise KeyError(f"the value table lacks columns {missing}; it has {names} (use the value stage's "
                       "per-customer table: customer_id, value_at_risk, p_alive)")
    return value


def _join_value(con: Any) -> int:
    """Replace the view ``customers`` by the customers with a value-at-risk figure (columns
    ``value_at_risk`` and ``p_alive`` added); return how many customers of call segments have none."""
    have = {d[0] for d in con.execute("SELECT * FROM value_rows LIMIT 0").description}
    p_alive = "CAST(v.p_alive AS DOUBLE)" if "p_alive" in have else "CAST(NULL AS DOUBLE)"
    dup = con.execute("SELECT CAST(customer_id AS VARCHAR), count(*) FROM value_rows GROUP BY 1 HAVING count(*) > 1 "
                      "ORDER BY 2 DESC, 1 LIMIT 3").fetchall()
    if dup:
        raise ValueError(f"value table: customer ids {[d[0] for d in dup]} appear more than once; one value row "
                         "per customer is needed to rank the call list")
    con.execute(f"""CREATE TEMP TABLE value_known AS
        SELECT CAST(v.customer_id AS VARCHAR) AS customer_id, CAST(v.value_at_risk AS DOUBLE) AS value_at_risk,
               {p_alive} AS p_alive
        FROM value_rows AS v WHERE v.value_at_risk IS NOT NULL AND NOT isnan(CAST(v.value_at_risk AS DOUBLE))""")
    bad = con.execute("SELECT count(*) FROM value_known WHERE isinf(value_at_risk) OR value_at_risk < 0").fetchone()[0]
    if bad:
        raise ValueError(f"value table: {bad} value_at_risk figures are negative or infinite; they cannot rank a call list")
    missing = con.execute("SELECT count(*) FROM customers AS c ANTI JOIN value_known AS v USING (customer_id) "
                          "WHERE c.call_weight > 0").fetchone()[0]
    con.execute("ALTER VIEW customers RENAME TO customers_rfm")
    con.execute("CREATE TEMP VIEW customers AS SELECT c.*, v.value_at_risk, v.p_alive "
                "FROM customers_rfm AS c JOIN value_known AS v USING (customer_id)")
    return int(missing)


def _about(ex: ExportWriter, seg: pd.DataFrame, rank_by: str = "monetary") -> list[list[Any]]:
    w = ex.words
    rule = "call_priority_rule_value" if rank_by == "value_at_risk" else "call_priority_rule"
    rows: list[list[Any]] = [[w.label(rule)], [],
                             [w.header("segment_label"), w.header("segment"), w.label("call_weight")]]
    for s in seg.itertuples():
        rows.append([s.segment_label, s.segment, float(np.round(s.call_weight, 4))])
    return rows
