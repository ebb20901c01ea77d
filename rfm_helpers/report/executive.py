"""The executive summary of a month: the figures a non-analyst reads first. Numbers only.

Two kinds of numbers are recorded into the run's ``summary.json`` (section ``executive``) by
the notebooks that hold the data, then read back when the month page is rendered:

``month`` (:func:`month_figures`, recorded by notebook 02)
    One aggregate query over the run's clean transactions for three periods: this month up to
    the analysis date, the same days of the previous month and of the same month a year
    earlier. Per period: ``customers`` (bought at least once up to the period's end),
    ``active_customers`` (bought in the :data:`ACTIVE_DAYS` days up to the period's end, the
    same rule as the RFM page's recency <= 90), ``buyers``, ``new_customers`` (first purchase in
    the period), ``orders`` (an ``order_id`` when the data have one, otherwise one customer's
    purchases of one day, as in RFM frequency), ``revenue`` and ``average_order_value``. The
    comparisons come from the data, never from an earlier run's summary, so a first run or a
    backfill in any order shows the same changes. A comparison period is ``covered`` only when
    the data start on or before its first day (and ``active_covered`` when they start on or
    before the first day of its 90-day window); otherwise the page says "no comparison".

``segments`` (:func:`segment_figures`, recorded by notebook 05)
    Per segment of this month's and last month's snapshots: customers, revenue in the month
    (``revenue``: what the segment's customers bought in that month) and ``spend_to_date``
    (their RFM monetary: all their purchases, or those of the RFM window); and the customers who moved this month from the more valuable half of
    the segments into an at-risk or churn segment (:func:`rfm_helpers.tracking.flow_customers`,
    the definition the migration page uses), with their spend to date.

:func:`build` turns a summary into :class:`Executive`: the figures with their changes, the
three recommended actions (segment keys, sizes, export files; see :func:`recommend`), the
data freshness and the warning codes. Words are made in :mod:`rfm_helpers.report.texts.executive`.
"""
from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..params import month_end, month_start, previous_month
from . import summary as _summary

__all__ = ["ACTIVE_DAYS", "SECTION", "COMPARISONS", "KPIS", "ROWS_SET_ASIDE_NOTE_SHARE", "Period", "periods_for",
           "month_figures", "segment_figures", "record_month", "record_segments", "record_export_files",
           "Delta", "Kpi", "Action", "Executive", "build", "recommend", "change"]

#: "Active" = bought in this many days up to the date (the RFM page's recency <= 90 days).
ACTIVE_DAYS = 90
#: The ``summary.json`` section the executive figures are recorded in.
SECTION = "executive"
#: Comparison periods, in the order the page shows them.
COMPARISONS = ("previous", "year_ago")
#: The four headline figures: key and display format.
KPIS = (("customers", "int"), ("active_customers", "int"), ("revenue", "money"), ("average_order_value", "money"))
#: Share of source rows set aside as invalid from which the summary warns (below it, the
#: loading page is enough).
ROWS_SET_ASIDE_NOTE_SHARE = 0.01


# ----------------------------------------------------------------------------- periods
@dataclass(frozen=True)
class Period:
    """Days ``start``..``end`` (inclusive) of one month (``month``: ``YYYY-MM``)."""

    month: str
    start: dt.date
    end: dt.date

    @property
    def full_month(self) -> bool:
        return self.start == month_start(self.month) and self.end == month_end(self.month)


def periods_for(as_of: dt.date) -> dict[str, Period]:
    """This month up to ``as_of`` and the comparison periods: the same days of the previous
    month and of the same month a year earlier (whole months when ``as_of`` is a month end;
    day numbers past a shorter month's end stop at its last day)."""
    month = as_of.strftime("%Y-%m")
    whole = as_of == month_end(month)
    out = {"current": Period(month, month_start(month), as_of)}
    for name, back in (("previous", 1), ("year_ago", 12)):
        m = previous_month(month, back)
        last = month_end(m)
        end = last if whole else min(month_start(m) + dt.timedelta(days=as_of.day - 1), last)
        out[name] = Period(m, month_start(m), end)
    return out


# ----------------------------------------------------------------------------- the data
_MONTH_SQL = """
WITH orders AS (
    SELECT CAST(customer_id AS VARCHAR) AS cid, {order_key} AS okey,
           MIN(CAST(order_date AS DATE)) AS day, SUM(CAST(amount AS DOUBLE)) AS amount
    FROM {table}
    WHERE CAST(order_date AS DATE) <= DATE '{as_of}' AND customer_id IS NOT NULL
    GROUP BY 1, 2
),
customers AS (SELECT cid, MIN(day) AS first_day, {last_days} FROM orders GROUP BY cid),
c AS (SELECT MIN(first_day) AS data_first, MAX(last_current) AS data_last, {customer_counts} FROM customers),
o AS (SELECT {order_sums} FROM orders)
SELECT * FROM c, o
"""

#: :data:`_MONTH_SQL` for data without an order id, where an order is one customer's purchases
#: of one day: the customers' first and last days come from the rows in one aggregation (a
#: customer's orders' days are the days of their rows), and only the rows of the three periods
#: are grouped into orders. Same figures; at 1e7 transactions about half the work of grouping
#: every row into orders first.
_MONTH_BY_DAY_SQL = """
WITH rows AS (
    SELECT CAST(customer_id AS VARCHAR) AS cid, CAST(order_date AS DATE) AS day, CAST(amount AS DOUBLE) AS amount
    FROM {table}
    WHERE CAST(order_date AS DATE) <= DATE '{as_of}' AND customer_id IS NOT NULL
),
customers AS (SELECT cid, MIN(day) AS first_day, {last_days} FROM rows GROUP BY cid),
orders AS (SELECT cid, day, SUM(amount) AS amount FROM rows WHERE {in_periods} GROUP BY cid, day),
c AS (SELECT MIN(first_day) AS data_first, MAX(last_current) AS data_last, {customer_counts} FROM customers),
o AS (SELECT {order_sums} FROM orders)
SELECT * FROM c, o
"""


def month_figures(transactions: Any, as_of: dt.date, *, active_days: int = ACTIVE_DAYS,
                  engine: Any = None) -> dict[str, Any]:
    """The month's figures and their comparison periods from the clean transactions (columns
    ``customer_id``, ``order_date``, ``amount``, optionally ``order_id``): a DataFrame, or the
    name of a table in ``engine`` (a DuckDB :class:`rfm_helpers.engine.Engine`, e.g.
    ``p.transactions_table`` in ``p.engine``: nothing per transaction reaches pandas); see the
    module docstring. JSON-ready: dates as ISO text.

    One pass groups the rows into orders, one groups the orders per customer (first purchase,
    last purchase up to each period's end); every count follows from those without a
    distinct count: a customer is a buyer of a period when their last purchase up to its end
    is on or after its start, active when it is within ``active_days`` of its end."""
    import duckdb

    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    from ..rfm.sql import order_key_sql

    periods = periods_for(as_of)
    if isinstance(transactions, str):
        if engine is None:
            raise TypeError("month_figures: a table name needs the engine that holds it (engine=...)")
        columns = engine.sql(f"SELECT * FROM {transactions} LIMIT 0").columns
    else:
        columns = list(transactions.columns)
    has_id = "order_id" in columns
    # without an order id, one customer's purchases of one day are one order (RFM frequency)
    order_key = order_key_sql(has_id)
    last_days, counts, sums = [], [], []
    for k, p in periods.items():
        start, end = f"DATE '{p.start}'", f"DATE '{p.end}'"
        active_from = f"DATE '{p.end - dt.timedelta(days=int(active_days))}'"
        last_days.append(f"MAX(day) FILTER (WHERE day <= {end}) AS last_{k}")
        counts += [f"COUNT(*) FILTER (WHERE first_day <= {end}) AS {k}__customers",
                   f"COUNT(*) FILTER (WHERE last_{k} >= {active_from}) AS {k}__active_customers",
                   f"COUNT(*) FILTER (WHERE last_{k} >= {start}) AS {k}__buyers",
                   f"COUNT(*) FILTER (WHERE first_day BETWEEN {start} AND {end}) AS {k}__new_customers"]
        sums += [f"COUNT(*) FILTER (WHERE day BETWEEN {start} AND {end}) AS {k}__orders",
                 f"COALESCE(SUM(amount) FILTER (WHERE day BETWEEN {start} AND {end}), 0) AS {k}__revenue"]
    if has_id:
        sql = _MONTH_SQL.format(table="{table}", order_key=order_key, as_of=as_of.isoformat(),
                                last_days=", ".join(last_days), customer_counts=", ".join(counts),
                                order_sums=", ".join(sums))
    else:  # the order is the purchase day: see _MONTH_BY_DAY_SQL
        in_periods = " OR ".join(f"day BETWEEN DATE '{p.start}' AND DATE '{p.end}'" for p in periods.values())
        sql = _MONTH_BY_DAY_SQL.format(table="{table}", as_of=as_of.isoformat(), last_days=", ".join(last_days),
                                       in_periods=in_periods, customer_counts=", ".join(counts),
                                       order_sums=", ".join(sums))
    if isinstance(transactions, str):
        text = sql.format(table=transactions)
        names = engine.sql(text).columns
        row = dict(zip(names, engine.scalar_rows(text, label="month figures")[0]))
    else:
        import duckdb

        con = duckdb.connect()
        try:
            con.execute("SET threads TO 2")
            con.register("t", transactions)
            cur = con.execute(sql.format(table="t"))
            row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        finally:
            con.close()
    first, last = row["data_first"], row["data_last"]
    out: dict[str, Any] = {"as_of": as_of.isoformat(), "month": periods["current"].month,
                           "active_days": int(active_days), "has_order_id": has_id,
                           "data_first_date": first.isoformat() if first else None,
                           "data_last_date": last.isoformat() if last else None, "periods": {}}
    for k, p in periods.items():
        orders, revenue = int(row[f"{k}__orders"]), float(row[f"{k}__revenue"])
        out["periods"][k] = {
            "month": p.month, "start": p.start.isoformat(), "end": p.end.isoformat(), "full_month": p.full_month,
            "covered": first is not None and first <= p.start,
            "active_covered": first is not None and first <= p.end - dt.timedelta(days=int(active_days)),
            **{m: int(row[f"{k}__{m}"]) for m in ("customers", "active_customers", "buyers", "new_customers")},
            "orders": orders, "revenue": round(revenue, 2),
            "average_order_value": round(revenue / orders, 2) if orders else None,
        }
    return out


def segment_figures(snapshots: Mapping[str, pd.DataFrame], order: list[str], map_name: str) -> dict[str, Any]:
    """Segment sizes and revenue of this month's snapshot (the last of ``snapshots``) and of
    last month's, in the value ``order``; and the customers who moved from the more valuable
    half into at-risk or churn segments this month, with their spend to date (last month's
    RFM monetary), in total and per destination segment."""
    from ..tracking import flow_customers, moved_to_risk, segment_rows

    months = [m for m, s in snapshots.items() if len(s)]
    if not months:
        return {"map": map_name, "month": None, "previous_month": None, "order": list(order), "segments": [],
                "moved_to_risk": None}
    curr = snapshots[months[-1]]
    prev = snapshots[months[-2]] if len(months) >= 2 else None

    def per_segment(s: pd.DataFrame) -> pd.DataFrame:
        g = s.assign(segment=s["segment"].astype(str)).groupby("segment", observed=True)
        return g.agg(customers=("customer_id", "size"), revenue=("month_spend", "sum"),
                     spend_to_date=("monetary", "sum"))

    rows = segment_rows(per_segment(curr), per_segment(prev) if prev is not None else None, list(order))
    moved = None
    if prev is not None:
        movers = flow_customers(prev, curr, list(order))
        by = movers.groupby(movers["to"].astype(str)).agg(customers=("customer_id", "size"),
                                                          spend_to_date=("monetary_before", "sum"))
        moved = moved_to_risk(len(movers), float(movers["monetary_before"].sum()), by)
    return {"map": map_name, "month": months[-1], "previous_month": months[-2] if prev is not None else None,
            "order": list(order), "segments": rows, "moved_to_risk": moved}


# ----------------------------------------------------------------------------- recording
def record_month(transactions: Any, as_of: dt.date, *, run_dir: str | os.PathLike | None = None,
                 engine: Any = None) -> dict:
    """:func:`month_figures`, recorded for the month page; returns them."""
    figures = month_figures(transactions, as_of, engine=engine)
    _summary.record("month", figures, section=SECTION, run_dir=run_dir)
    return figures


def record_segments(snapshots: Any, order: list[str], map_name: str, *,
                    run_dir: str | os.PathLike | None = None) -> dict:
    """:func:`segment_figures`, recorded for the month page; returns them. ``snapshots``: the
    engine's aggregates of the tracked months (:class:`rfm_helpers.tracking.MonthlyTracking`,
    what notebook 05 passes: the same figures without any per-customer frame) or snapshot
    frames by month."""
    if hasattr(snapshots, "segment_figures"):
        figures = snapshots.segment_figures(order, map_name)
    else:
        figures = segment_figures(snapshots, order, map_name)
    _summary.record("segments", figures, section=SECTION, run_dir=run_dir)
    return figures


def record_export_files(kind: str, files: Mapping[str, str] | str, *, run_dir: str | os.PathLike | None = None) -> None:
    """Record the names of export files ``act`` wrote (relative to the exports folder), so the
    month page can point to them: ``kind="mailing_lists"`` with ``{segment: file}``,
    ``kind="migration_list"`` with one file name."""
    if isinstance(files, Mapping):
        files = {str(k): str(v) for k, v in files.items() if v}
    _summary.record(kind, files, section="exports", run_dir=run_dir)


# ----------------------------------------------------------------------------- the summary
@dataclass
class Delta:
    """A figure against one comparison period. ``available`` False: the data do not cover the
    period (``reason`` says which code); ``relative`` is ``None`` when the base is 0."""

    period: str
    month: str
    full_month: bool
    start: str
    end: str
    available: bool
    reason: str = ""
    base: float | None = None
    absolute: float | None = None
    relative: float | None = None


@dataclass
class Kpi:
    key: str
    fmt: str
    value: float | None
    deltas: list[Delta] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # codes: "active_window_not_covered"


@dataclass
class Action:
    """A recommended action: ``kind`` (``win_back``, ``grow``, ``reward``), the segment and
    its size, why it was chosen (``reason`` code with ``values``) and the export files
    (``(file, href or None)``: ``href`` relative to the month folder when the file exists)."""

    kind: str
    segment: str
    customers: int
    reason: str
    values: dict[str, Any]
    files: list[tuple[str, str | None]]


@dataclass
class Executive:
    month: str
    as_of: str
    partial_month: bool
    active_days: int
    kpis: list[Kpi]
    periods: dict[str, dict[str, Any]]
    data_first_date: str | None
    data_last_date: str | None
    segments: dict[str, Any] | None
    moved_to_risk: dict[str, Any] | None
    value_at_risk: float | None
    actions: list[Action]
    warnings: list[dict[str, Any]]
    campaign_demo: bool


def _value(entry: Any) -> Any:
    return entry.get("value") if isinstance(entry, Mapping) else entry


def change(value: float | None, base: float | None) -> tuple[float | None, float | None]:
    """``(absolute, relative)`` change of ``value`` against ``base`` (relative ``None`` when
    the base is 0 or either is missing)."""
    if value is None or base is None or (isinstance(base, float) and math.isnan(base)):
        return None, None
    absolute = value - base
    return absolute, (absolute / base if base else None)


def _kpis(month: Mapping[str, Any]) -> list[Kpi]:
    cur = month["periods"]["current"]
    out = []
    for key, fmt in KPIS:
        kpi = Kpi(key, fmt, cur.get(key))
        if key == "active_customers" and not cur.get("active_covered", True):
            kpi.notes.append("active_window_not_covered")
        for name in COMPARISONS:
            p = month["periods"].get(name)
            if p is None:
                continue
            reason = ("data_start" if not p["covered"] else
                      "active_window" if key == "active_customers" and not p.get("active_covered", True) else "")
            d = Delta(name, p["month"], p["full_month"], p["start"], p["end"], not reason, reason)
            if d.available:
                d.base = p.get(key)
                d.absolute, d.relative = change(kpi.value, d.base)
                if d.base is None:  # e.g. no order in the comparison period: no average order value
                    d.available, d.reason = False, "no_orders"
            kpi.deltas.append(d)
        out.append(kpi)
    return out


def _warnings(summary: Mapping[str, Any], month: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Warnings that matter to a reader of the summary, as codes with values (``text``: a
    sentence recorded by a notebook in the report's language)."""
    out: list[dict[str, Any]] = []
    recorded = summary.get("warnings")
    if isinstance(recorded, Mapping):
        recorded = [{"code": k, **(v if isinstance(v, Mapping) else {"value": v})} for k, v in recorded.items()]
    for w in recorded if isinstance(recorded, list) else []:
        if isinstance(w, str):
            out.append({"code": "recorded", "text": w})
        elif isinstance(w, Mapping):
            text = next((w[k] for k in ("text", "label", "message") if isinstance(w.get(k), str) and w[k]), "")
            value = w.get("value")
            out.append({"code": "recorded", "text": text, "remark": str(w.get("code") or ""),
                        "value": value if isinstance(value, (int, float)) and not isinstance(value, bool) else None,
                        "fmt": w.get("fmt")})
    if month:
        last = month.get("data_last_date")
        start = month["periods"]["current"]["start"]
        if last is None:
            out.append({"code": "no_data"})
        elif last < start:
            out.append({"code": "no_data_in_month", "last": last, "month": month["month"]})
    acc = summary.get("accounting") or {}
    rows_in = _value(acc.get("rows_in")) or _value((summary.get("headline") or {}).get("rows_in"))
    set_aside = _value(acc.get("rows_quarantined"))
    later = _value(acc.get("rows_after_analysis_date")) or 0
    if isinstance(rows_in, (int, float)) and rows_in > 0 and isinstance(set_aside, (int, float)):
        invalid = set_aside - later
        if invalid / rows_in >= ROWS_SET_ASIDE_NOTE_SHARE:
            out.append({"code": "rows_set_aside", "rows": int(invalid), "share": invalid / rows_in})
    return out


def _export_href(folder: Path | None, file: str) -> str | None:
    """``exports/<file>`` when that file exists in the month folder (never outside it)."""
    if folder is None or not file or "/" in file or "\\" in file or file.startswith("."):
        return None
    return f"exports/{file}" if (folder / "exports" / file).is_file() else None


def recommend(segments: Mapping[str, Any], exports: Mapping[str, Any], folder: Path | None,
              maps: dict | None = None) -> list[Action]:
    """Up to three actions, each on a different segment with customers this month:

    1. ``win_back``: the at-risk or churn segment that received the most spend to date from
       valuable segments this month (``moved_in``); without such a move, the passive or
       lapsed segment with the highest spend to date times its call weight
       (``value_at_stake``; segments with call weight 0 are never chosen).
    2. ``grow``: the active segment with the most customers, other than the most valuable one
       (``largest_active``).
    3. ``reward``: the most valuable active segment in the value order (``most_valuable``).

    Groups (the map's ``active``/``passive``/``lost`` keys) and call weights come from the
    segment map; files from the recorded exports. A map with other group keys gets only the
    ``moved_in`` action."""
    from ..segments import map_info

    rows = {r["segment"]: r for r in segments.get("segments") or [] if r.get("customers")}
    if not rows:
        return []
    try:
        info = map_info(segments.get("map") or "classic", "en", maps).set_index("segment")
    except (KeyError, ValueError):
        return []
    group = info["group_key"].to_dict()
    weight = info["call_weight"].astype(float).to_dict()
    order = [k for k in segments.get("order") or [] if k in rows] + [k for k in rows if k not in (segments.get("order") or [])]
    mailing = _value(exports.get("mailing_lists"))
    mailing = mailing if isinstance(mailing, Mapping) else {}
    migration = _value(exports.get("migration_list"))
    chosen: list[Action] = []

    def files_for(seg: str, *extra: str) -> list[tuple[str, str | None]]:
        names = [f for f in (*extra, mailing.get(seg)) if isinstance(f, str) and f]
        return [(f, _export_href(folder, f)) for f in dict.fromkeys(names)]

    def take(kind: str, seg: str | None, reason: str, values: dict[str, Any], *extra: str) -> None:
        if seg is None:
            return
        chosen.append(Action(kind, seg, int(rows[seg]["customers"]), reason, values, files_for(seg, *extra)))

    moved = (segments.get("moved_to_risk") or {}).get("by_segment") or {}
    moved = {k: v for k, v in moved.items() if k in rows and v.get("customers")}
    if moved:
        seg = max(moved, key=lambda k: (moved[k]["spend_to_date"], moved[k]["customers"], k))
        take("win_back", seg, "moved_in", dict(moved[seg]), *([migration] if isinstance(migration, str) else []))
    else:
        lapsing = [k for k in order if group.get(k) in ("passive", "lost") and weight.get(k, 0) > 0]
        if lapsing:
            seg = max(lapsing, key=lambda k: (rows[k]["spend_to_date"] * weight[k], k))
            take("win_back", seg, "value_at_stake", {"spend_to_date": rows[seg]["spend_to_date"]})
    active = [k for k in order if group.get(k) == "active"]
    best = active[0] if active else None
    taken = {a.segment for a in chosen}
    growth = [k for k in active if k != best and k not in taken]
    if growth:
        seg = max(growth, key=lambda k: (rows[k]["customers"], k))
        take("grow", seg, "largest_active", {})
    if best is not None and best not in {a.segment for a in chosen}:
        take("reward", best, "most_valuable", {"revenue": rows[best]["revenue"]})
    return chosen


def build(summary: Mapping[str, Any], folder: str | os.PathLike | None = None) -> Executive | None:
    """The executive summary of a run's ``summary.json`` (``None`` when no notebook recorded
    the month figures). ``folder``: the month folder, to link export files that exist."""
    section = summary.get(SECTION) or {}
    month = _value(section.get("month"))
    if not isinstance(month, Mapping) or "periods" not in month:
        return None
    segments = _value(section.get("segments"))
    segments = segments if isinstance(segments, Mapping) and segments.get("segments") else None
    folder = Path(folder) if folder else None
    headline = summary.get("headline") or {}
    var = _value(headline.get("value_at_risk"))
    campaign = summary.get("campaign") or {}
    return Executive(
        month=month["month"], as_of=month["as_of"], partial_month=not month["periods"]["current"]["full_month"],
        active_days=int(month.get("active_days") or ACTIVE_DAYS),
        kpis=_kpis(month), periods=dict(month["periods"]), data_first_date=month.get("data_first_date"),
        data_last_date=month.get("data_last_date"), segments=segments,
        moved_to_risk=(segments or {}).get("moved_to_risk"),
        value_at_risk=float(var) if isinstance(var, (int, float)) and not isinstance(var, bool) else None,
        actions=recommend(segments, summary.get("exports") or {}, folder) if segments else [],
        warnings=_warnings(summary, month), campaign_demo=bool(_value(campaign.get("demo"))))
