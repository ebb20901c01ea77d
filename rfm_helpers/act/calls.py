"""The phone call list: customers worth a call, most urgent first.

``call_priority = call_weight(segment) x value`` where ``call_weight`` (0..1, per segment in the
map) is the urgency and ``value`` the customer's spend percentile among all customers
(``monetary`` ranked, average rank for ties, divided by the count). Only segments with
``call_weight > 0`` are listed; order: priority (rounded to 4 decimals), then spend, then the
most recent, then customer id. Computed and written by the engine.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..segments import _get_map, load_segment_maps
from .columns import schema
from .files import engine
from .formats import prepare_contacts
from .mailing import _check_contacts, customer_sql, extra_columns, load_test_recipients, segment_texts
from .workbook import Sheet
from .writer import ExportWriter

__all__ = ["call_priority", "write_call_list", "PRIORITY_SQL"]

#: The priority in SQL, over the view ``customers`` of :func:`rfm_helpers.act.mailing.customer_sql`.
PRIORITY_SQL = ("round(call_weight * (rank() OVER (ORDER BY monetary) + (count(*) OVER (PARTITION BY monetary) - 1)"
                " / 2.0) / count(*) OVER (), 4)")


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


def write_call_list(ex: ExportWriter, assigned: pd.DataFrame, map_name: str | None = None, maps: dict | None = None,
                    max_rows: int | None = None, test_recipients: Any = None, contacts: pd.DataFrame | None = None,
                    name: str = "call_list", formats: tuple[str, ...] = ("csv", "xlsx"),
                    phone_region: str | None = None) -> dict:
    """Write ``{name}.csv`` and ``{name}.xlsx`` (About sheet + the list). ``max_rows`` keeps the
    top N (what the call centre can handle); test recipients come last with ``is_test`` = 1.
    Returns aggregates: ``rows``, ``test_rows``, ``csv_file``, ``xlsx_file``, ``by_segment``
    ({label: rows}) and ``warnings``."""
    maps = maps if maps is not None else load_segment_maps()
    mname = map_name or assigned.attrs.get("segment_map") or "classic"
    seg = segment_texts(mname, ex.language, maps)
    tests = load_test_recipients(test_recipients)
    region = phone_region or ("RU" if ex.language == "ru" else "US")
    if contacts is not None:  # phones in E.164, as in the mailing lists
        contacts, notes = prepare_contacts(contacts, region)
        ex.notes.extend(n for n in notes if n not in ex.notes)
    base = list(schema("call_list.csv"))
    columns = base[:-1] + extra_columns(contacts, tests if len(tests) else None, base) + base[-1:]
    frames = {"assigned": assigned, "seg": seg}
    if contacts is not None:
        frames["contacts"] = contacts
    if len(tests):
        frames["tests"] = tests
    limit = f"LIMIT {int(max_rows)}" if max_rows else ""
    first = len(ex.records)
    with engine(**frames) as con:
        _check_contacts(con, contacts)
        extra = [c for c in columns if c.key not in {b.key for b in base}]
        con.execute(f"CREATE TEMP VIEW customers AS {customer_sql(assigned, contacts, extra)}")
        # the priority and the order on a narrow projection; only the listed rows are joined back
        # to their full columns (window functions over every column would hold the whole base)
        con.execute(f"""CREATE TEMP TABLE top AS
            SELECT customer_id, call_priority,
                   row_number() OVER (ORDER BY call_priority DESC, monetary DESC, recency_days, customer_id)
                   AS priority_rank
            FROM (SELECT customer_id, monetary, recency_days, {PRIORITY_SQL} AS call_priority
                  FROM (SELECT customer_id, monetary, recency_days, call_weight FROM customers) AS n) AS p
            WHERE call_priority > 0 ORDER BY priority_rank {limit}""")
        con.execute("""CREATE TEMP VIEW calls AS
            SELECT t.priority_rank, t.call_priority, c.* FROM top AS t JOIN customers AS c USING (customer_id)""")
        sql = "SELECT * FROM calls"
        if len(tests):
            sql += " UNION ALL BY NAME SELECT *, 'TEST' AS talking_points, 1 AS is_test FROM tests"
        sql = f"SELECT * FROM ({sql}) AS l ORDER BY is_test, priority_rank"
        rows = int(con.execute("SELECT count(*) FROM top").fetchone()[0])
        by_segment = dict(con.execute("SELECT segment_label, count(*) FROM calls GROUP BY segment_label, ord "
                                      "ORDER BY ord").fetchall())
        out = {"rows": rows, "test_rows": len(tests), "csv_file": "", "xlsx_file": "", "by_segment": by_segment}
        if "csv" in formats:
            out["csv_file"] = f"{name}.csv"
            ex.write_query(con, out["csv_file"], sql, columns, "call_list.csv")
        if "xlsx" in formats:
            title = ex.words.label("call_list_sheet")
            ex.write_workbook(con, f"{name}.xlsx", [Sheet(title, columns, sql, rows + len(tests), out["csv_file"])],
                              _about(ex, seg))
            out["xlsx_file"] = f"{name}.xlsx"
    out["warnings"] = [w for r in ex.records[first:] for w in r.warnings]
    return out


def _about(ex: ExportWriter, seg: pd.DataFrame) -> list[list[Any]]:
    w = ex.words
    rows: list[list[Any]] = [[w.label("call_priority_rule")], [],
                             [w.header("segment_label"), w.header("segment"), w.label("call_weight")]]
    for s in seg.itertuples():
        rows.append([s.segment_label, s.segment, float(np.round(s.call_weight, 4))])
    return rows
