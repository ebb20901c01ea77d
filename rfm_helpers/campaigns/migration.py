"""Where a campaign's audience moved: segments the day before sending vs segments now.

Computed every month for every evaluated campaign, per group, from the engine's counts of
(segment then, segment now) pairs; aggregates only. *Up* and *down* follow the segments'
value order (average R+F+M score of their customers now, best first); *lapsed* means moving
into a segment of the map's ``lost`` group from another group. The same comparison for the
control group says how much of the treated group's movement the campaign caused.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from ..segments import map_info
from . import sql

__all__ = ["segments_sql", "population_migration", "summarise_transitions"]


def segments_sql(scored_sql: str, population: str, segment_map: str) -> str:
    """``customer_id``, ``segment`` (key, text) and ``rfm_score`` of the customers of
    ``population`` (SQL with a ``customer_id`` column) in ``scored_sql`` (a scored table of
    the whole base), the segment map compiled to SQL."""
    from ..segments import segment_case_sql

    return f"""SELECT s.customer_id, {segment_case_sql(segment_map, output="key")} AS segment, s.rfm_score
               FROM ({sql.population_rfm_sql(scored_sql, population)}) AS s"""


def population_migration(tx: sql.Tx, population: str, before_as_of: dt.date, now_scored_sql: str, *,
                         segment_map: str, window_days: int | None = None) -> dict[str, Any]:
    """Where a campaign's audience moved, in the engine: ``population`` is a table of ``tx.engine``
    (``customer_id``, ``group``; one row per assignment row), the segments before are scored
    as of ``before_as_of`` over the whole base, those now come from ``now_scored_sql``. Only
    aggregates come back: the mean R+F+M score per segment (the value order, over both
    dates) and the customers per group and (segment before, segment now)."""
    scored_then = f"SELECT * FROM {sql.scored_table(tx, before_as_of, window_days)}"
    eng = tx.engine
    before = eng.materialize(segments_sql(scored_then, population, segment_map), "camp_seg_before")
    now = eng.materialize(segments_sql(now_scored_sql, population, segment_map), "camp_seg_now")
    means = sql.fetch(eng, f"""SELECT segment, sum(rfm_score) AS total, count(*) AS n FROM
                               (SELECT segment, rfm_score FROM {before} UNION ALL SELECT segment, rfm_score FROM {now})
                               GROUP BY segment""", label="campaign migration: score per segment")
    mean = pd.Series(means["total"].to_numpy(float) / means["n"].to_numpy(float), index=means["segment"].astype(str))
    b = f"""(SELECT b.customer_id, b.segment, p."group" FROM {before} AS b
             JOIN (SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST("group" AS VARCHAR) AS "group"
                   FROM {population}) AS p ON p.customer_id = b.customer_id)"""
    counts = sql.fetch(eng, sql.transitions_sql(b, now), label="campaign migration: transitions per group")
    return summarise_transitions(counts.rename(columns={"from": "seg_from", "to": "seg_to"}), _order(mean),
                                 segment_map)


def _order(mean: pd.Series) -> list[str]:
    frame = pd.DataFrame({"segment": mean.index.astype(str), "score": mean.to_numpy()})
    return frame.sort_values(["score", "segment"], ascending=[False, True])["segment"].tolist()


def summarise_transitions(counts: pd.DataFrame, order: list[str], segment_map: str) -> dict[str, Any]:
    """Moves of the campaign's customers per group, from the customers per ``group``,
    ``seg_from``, ``seg_to`` (segment before sending, segment now) and the segments' ``order``
    (best first). Returns ``order``, ``transitions`` (``group``, ``from``, ``to``,
    ``customers``) and ``summary`` per group: ``customers``, ``same``, ``up``, ``down``,
    ``lapsed`` (into the map's lost group)."""
    rank = {s: i for i, s in enumerate(order)}
    info = map_info(segment_map)
    lost = set(info.loc[info["group_key"] == "lost", "segment"])
    summary: dict[str, dict[str, int]] = {}
    for r in counts.itertuples(index=False):
        g = summary.setdefault(str(r.group), {"customers": 0, "same": 0, "up": 0, "down": 0, "lapsed": 0})
        n = int(r.customers)
        g["customers"] += n
        f, t = str(r.seg_from), (None if pd.isna(r.seg_to) else str(r.seg_to))
        if t is None or t == f:
            g["same"] += n
            continue
        if rank.get(t, len(rank)) < rank.get(f, len(rank)):
            g["up"] += n
        else:
            g["down"] += n
        if t in lost and f not in lost:
            g["lapsed"] += n
    transitions = [{"group": str(r.group), "from": str(r.seg_from), "to": None if pd.isna(r.seg_to) else str(r.seg_to),
                    "customers": int(r.customers)} for r in counts.itertuples(index=False)]
    return {"order": order, "transitions": transitions, "summary": summary}
