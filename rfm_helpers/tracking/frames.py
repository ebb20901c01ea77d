"""Segment tracking over months on pandas frames: the original per-month path.

Notebook 05 uses :mod:`rfm_helpers.tracking.monthly` (snapshots built and aggregated in the
engine, one multi-month pass); the functions here work on snapshot frames in pandas and
remain the independent reference its tests compare with (and a convenient API for a few
hand-made snapshots).

A **snapshot** is the segmented RFM table of one month, stored as Parquet in
``<reports_dir>/snapshots/segments_YYYY-MM.parquet`` with one row per customer:
``customer_id``, ``month``, ``as_of``, ``segment``, ``segment_label``, ``recency_days``,
``frequency``, ``monetary``, ``r_score``, ``f_score``, ``m_score``, ``rfm_score`` and
``month_spend`` (what the customer spent in that calendar month up to ``as_of``).

The month's analysis date is its last day (or the run's analysis date for the current
month when that falls mid-month). Missing earlier months are computed directly from the
transactions with the same definitions, so the tracking never depends on earlier runs
having happened. A stored snapshot is reused only if it was made with the same settings
(analysis date, window, number of scores, segment map, language) and from the same data
(row count and amount total up to its analysis date); otherwise it is rebuilt.

**Value order of segments.** "Up" and "down" need an order. We rank segments by the
average ``rfm_score`` (R + F + M score) of their members, pooled over all the months
shown, best first. This follows from the data and the segment definitions rather than a
hand-written list, so it also works for custom segment maps. A customer moves **up** when
this month's segment ranks above last month's, **down** when below.

**Churn segments** are the segments whose code says the customer is leaving or gone
(``lost``, ``hibernating``, ``about_to_sleep``/sleeping; ``at_risk`` and
``cant_lose`` count as at risk); see :data:`CHURN_WORDS` and :data:`AT_RISK_WORDS`.
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..rfm import compute_scored_rfm, parse_as_of

__all__ = [
    "NEW",
    "GONE",
    "CHURN_WORDS",
    "AT_RISK_WORDS",
    "month_key",
    "month_end",
    "history_months",
    "snapshot_path",
    "reports_dir_for",
    "snapshot_from_segmented",
    "build_snapshot",
    "load_or_build_snapshots",
    "read_snapshot",
    "value_order",
    "value_order_table",
    "segment_labels",
    "flow_customers",
    "transition_matrix",
    "segment_history",
    "movements",
    "movement_history",
    "churn_segments",
    "at_risk_segments",
    "churn_flows",
    "key_flows",
    "headline",
    "month_findings",
    "headline_figures",
    "finding_codes",
    "segment_rows",
    "moved_to_risk",
]

#: Row label of the transition matrix for customers who were not in last month's snapshot.
NEW = "(new)"
#: Column label for customers of last month missing this month (only with a window that drops
#: lapsed customers).
GONE = "(gone)"
#: Segment codes containing one of these words are churn (leaving or gone).
CHURN_WORDS = ("lost", "hibernat", "sleep")
#: Segment codes containing one of these words are at risk (still valuable, lapsing).
AT_RISK_WORDS = ("risk", "cant_lose", "cannot_lose")

SNAPSHOT_COLUMNS = [
    "customer_id", "month", "as_of", "segment", "segment_label", "recency_days", "frequency",
    "monetary", "r_score", "f_score", "m_score", "rfm_score", "month_spend",
]
_META_KEY = b"rfm_snapshot"
_META_KEYS = b"rfm_snapshots"  # month -> settings, in files written by one multi-month pass


# ----------------------------------------------------------------------------- months
def month_key(value: Any) -> str:
    """``'YYYY-MM'`` of a date, timestamp or ``'YYYY-MM[-DD]'`` string."""
    if isinstance(value, str) and len(value.strip()) == 7:
        value = value.strip() + "-01"
    return parse_as_of(value).strftime("%Y-%m")


def month_end(month: Any) -> dt.date:
    """Last calendar day of the month."""
    return (pd.Period(month_key(month), freq="M").end_time).date()


def history_months(as_of: Any, n: int) -> list[str]:
    """The ``n`` months ending with the month of ``as_of`` (oldest first)."""
    if n < 1:
        raise ValueError("history_months must be at least 1")
    last = pd.Period(month_key(as_of), freq="M")
    return [str(last - k) for k in range(n - 1, -1, -1)]


def reports_dir_for(run_dir: str | os.PathLike) -> Path:
    """The folder whose ``snapshots/`` holds a run's segment snapshots: the reports folder for
    a monthly run (``reports/2024-05`` or the runner's temporary folder -> ``reports``), the run
    folder itself for an interactive one (``reports/_interactive/shop_2024-05-31`` keeps its
    own), so interactive runs never overwrite or evict the monthly snapshots."""
    from ..paths import snapshots_home

    return snapshots_home(run_dir)


def snapshot_path(reports_dir: str | os.PathLike, month: Any) -> Path:
    """``<reports_dir>/snapshots/segments_YYYY-MM.parquet``."""
    return Path(reports_dir) / "snapshots" / f"segments_{month_key(month)}.parquet"


# -------------------------------------------------------------------------- snapshots
def _default_assign(scored: pd.DataFrame, map_name: str, language: str) -> pd.DataFrame:
    from ..segments import assign_segments

    return assign_segments(scored, map_name=map_name, language=language)


def _month_spend(transactions: pd.DataFrame, month: str, as_of: dt.date) -> pd.Series:
    start = pd.Timestamp(pd.Period(month, freq="M").start_time)
    stop = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    d = transactions["order_date"]
    inside = transactions.loc[(d >= start) & (d < stop)]
    return inside.groupby("customer_id", observed=True)["amount"].sum()


def snapshot_from_segmented(segmented: pd.DataFrame, transactions: pd.DataFrame,
                            month: Any, as_of: Any) -> pd.DataFrame:
    """Turn a segmented RFM table (output of ``assign_segments``) into a snapshot.

    ``transactions`` (canonical clean columns) give ``month_spend``: the customer's spend in
    the calendar month of ``as_of`` up to ``as_of``.
    """
    month = month_key(month)
    as_of_d = parse_as_of(as_of)
    snap = segmented.loc[:, [c for c in SNAPSHOT_COLUMNS if c in segmented.columns]].copy()
    if "segment_label" not in snap.columns:
        snap["segment_label"] = snap["segment"]
    if "rfm_score" not in snap.columns:
        snap["rfm_score"] = snap["r_score"] + snap["f_score"] + snap["m_score"]
    snap["month"] = month
    snap["as_of"] = pd.Timestamp(as_of_d)
    spend = _month_spend(transactions, month, as_of_d)
    snap["month_spend"] = snap["customer_id"].map(spend).fillna(0.0).astype("float64")
    snap["month"] = snap["month"].astype("string")
    for c in ("segment", "segment_label", "customer_id"):
        snap[c] = snap[c].astype("string")
    return snap[SNAPSHOT_COLUMNS].reset_index(drop=True)


def build_snapshot(transactions: pd.DataFrame, month: Any, *, as_of: Any = None,
                   window_days: int | None = None, n_scores: int = 5, map_name: str = "classic",
                   language: str = "en", assign=None) -> pd.DataFrame:
    """Compute one month's snapshot from transactions (same RFM and segment definitions
    as the monthly report). ``as_of`` defaults to the month's last day."""
    as_of_d = parse_as_of(as_of) if as_of else month_end(month)
    assign = assign or _default_assign
    scored = compute_scored_rfm(transactions, as_of_d, window_days or None, n=n_scores)
    segmented = assign(scored, map_name, language)
    return snapshot_from_segmented(segmented, transactions, month, as_of_d)


def _fingerprint(transactions: pd.DataFrame, as_of: dt.date) -> dict:
    upto = transactions["order_date"] < pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return {"rows": int(upto.sum()),
            "amount": round(float(transactions.loc[upto, "amount"].sum()), 2)}


def _settings(month: str, as_of: dt.date, window_days, n_scores, map_name, language,
              transactions) -> dict:
    return {"month": month, "as_of": as_of.isoformat(), "window_days": int(window_days or 0),
            "n_scores": int(n_scores), "map_name": map_name, "language": language,
            "data": _fingerprint(transactions, as_of)}


def _write(snap: pd.DataFrame, path: Path, settings: dict) -> None:
    table = pa.Table.from_pandas(snap, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps(settings, sort_keys=True).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # parallel runs
    pq.write_table(table.replace_schema_metadata(meta), tmp)
    os.replace(tmp, path)


def _stored_settings(path: Path) -> dict | None:
    """The settings a stored snapshot was made with: one month's (``rfm_snapshot``, written
    by the pandas path and for this run's month) or, for files the engine wrote in one
    multi-month pass (``rfm_snapshots``: month -> settings), the entry of the file's month."""
    try:
        meta = pq.read_schema(path).metadata or {}
        if _META_KEY in meta:
            return json.loads(meta[_META_KEY])
        month = Path(path).stem.removeprefix("segments_")
        return json.loads(meta[_META_KEYS])[month]
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
        return None


def read_snapshot(path: str | os.PathLike) -> pd.DataFrame:
    """Read a stored snapshot (ids stay strings)."""
    snap = pd.read_parquet(path)
    for c in ("customer_id", "month", "segment", "segment_label"):
        snap[c] = snap[c].astype("string")
    return snap


def load_or_build_snapshots(transactions: pd.DataFrame, months: Iterable[str],
                            reports_dir: str | os.PathLike, *, current: pd.DataFrame | None = None,
                            current_as_of: Any = None, window_days: int | None = None,
                            n_scores: int = 5, map_name: str = "classic", language: str = "en",
                            assign=None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Snapshots for ``months`` (oldest first), reusing stored files when still valid.

    ``current`` is this run's segmented RFM table for the last month (its analysis date
    ``current_as_of``); it is always (re)written. Other months are read from
    ``<reports_dir>/snapshots`` when the stored settings and data fingerprint match, else
    computed from ``transactions`` and written. Returns ``(snapshots, status)`` where
    status says per month ``"this run"``, ``"stored"`` or ``"computed"``.
    """
    months = [month_key(m) for m in months]
    snaps: dict[str, pd.DataFrame] = {}
    status: dict[str, str] = {}
    for i, m in enumerate(months):
        last = i == len(months) - 1
        as_of = parse_as_of(current_as_of) if (last and current_as_of) else month_end(m)
        settings = _settings(m, as_of, window_days, n_scores, map_name, language, transactions)
        path = snapshot_path(reports_dir, m)
        if last and current is not None:
            snap = snapshot_from_segmented(current, transactions, m, as_of)
            _write(snap, path, settings)
            status[m] = "this run"
        elif path.exists() and _stored_settings(path) == settings:
            snap = read_snapshot(path)
            status[m] = "stored"
        else:
            snap = build_snapshot(transactions, m, as_of=as_of, window_days=window_days,
                                  n_scores=n_scores, map_name=map_name, language=language,
                                  assign=assign)
            _write(snap, path, settings)
            status[m] = "computed"
        snaps[m] = snap
    return snaps, status


# ------------------------------------------------------------------------ analysis
def segment_labels(snapshots: Iterable[pd.DataFrame]) -> dict[str, str]:
    """Segment code -> label (in the snapshots' language)."""
    out: dict[str, str] = {}
    for s in snapshots:
        pairs = s[["segment", "segment_label"]].drop_duplicates()
        out.update(zip(pairs["segment"], pairs["segment_label"]))
    return out


def value_order(snapshots: Iterable[pd.DataFrame]) -> list[str]:
    """Segments by value, best first: average ``rfm_score`` of members over all snapshots
    (ties broken by name so the order is deterministic)."""
    pooled = pd.concat([s[["segment", "rfm_score"]] for s in snapshots], ignore_index=True)
    if pooled.empty:
        return []
    mean = pooled.groupby("segment", observed=True)["rfm_score"].mean()
    frame = pd.DataFrame({"segment": mean.index.astype(str), "score": mean.to_numpy()})
    frame = frame.sort_values(["score", "segment"], ascending=[False, True])
    return frame["segment"].tolist()


def value_order_table(snapshots: Iterable[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    """The value order as a table: ``rank`` (1 = most valuable), ``segment``, ``label`` and
    the ``mean_rfm_score`` it is based on."""
    snapshots = list(snapshots)
    pooled = pd.concat([s[["segment", "rfm_score"]] for s in snapshots], ignore_index=True)
    mean = pooled.groupby("segment", observed=True)["rfm_score"].mean()
    labels = segment_labels(snapshots)
    return pd.DataFrame({"rank": range(1, len(order) + 1), "segment": order,
                         "label": [labels.get(s, s) for s in order],
                         "mean_rfm_score": [float(mean.get(s, float("nan"))) for s in order]})


_PAIRS: "collections.OrderedDict[tuple[int, int], tuple]" = collections.OrderedDict()


def _pair(prev: pd.DataFrame, curr: pd.DataFrame) -> pd.DataFrame:
    """:func:`_pair_uncached`, remembered for the last few pairs of snapshot objects (the
    notebook asks several questions about the same two months). The cache keeps references
    to both frames, so an entry can only match the very same objects; callers never modify
    the returned frame."""
    key = (id(prev), id(curr))
    hit = _PAIRS.get(key)
    if hit is not None and hit[0] is prev and hit[1] is curr and hit[2] == (len(prev), len(curr)):
        return hit[3]
    both = _pair_uncached(prev, curr)
    _PAIRS[key] = (prev, curr, (len(prev), len(curr)), both)
    while len(_PAIRS) > 24:
        _PAIRS.popitem(last=False)
    return both


def _pair_uncached(prev: pd.DataFrame, curr: pd.DataFrame) -> pd.DataFrame:
    """Customers of ``curr`` with their previous segment (``NEW`` when absent), plus
    customers of ``prev`` missing from ``curr`` (``"(gone)"``; only possible with a window
    and ``include_lapsed=False``). Hash lookup of ids, not a merge: this runs for every
    pair of months on tables with hundreds of thousands of customers."""
    def arrow(col: pd.Series, typ=pa.string()) -> pa.Array:
        return pa.array(col, type=typ, from_pandas=True)

    prev_ids, curr_ids = arrow(prev["customer_id"]), arrow(curr["customer_id"])
    pos = pc.index_in(curr_ids, value_set=prev_ids)          # null: new customer
    src = pc.fill_null(pc.take(arrow(prev["segment"]), pos), NEW)
    before = pc.take(arrow(prev["monetary"], pa.float64()), pos)
    as_str = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}.get
    both = pd.DataFrame({
        "customer_id": curr_ids.to_pandas(types_mapper=as_str),
        "to": arrow(curr["segment"]).to_pandas(types_mapper=as_str),
        "monetary": curr["monetary"].to_numpy(dtype="float64"),
        "month_spend": curr["month_spend"].to_numpy(dtype="float64"),
        "from": src.to_pandas(types_mapper=as_str),
        "monetary_before": before.to_numpy(zero_copy_only=False).astype("float64"),
    })
    if len(curr) - pos.null_count < len(prev):
        gone = pc.invert(pc.is_in(prev_ids, value_set=curr_ids)).to_numpy(zero_copy_only=False)
        both = pd.concat([both, pd.DataFrame({
            "customer_id": pd.array(prev["customer_id"].to_numpy(dtype=object)[gone], dtype=pd.StringDtype("pyarrow")),
            "to": pd.array([GONE] * int(gone.sum()), dtype=pd.StringDtype("pyarrow")),
            "monetary": 0.0, "month_spend": 0.0,
            "from": pd.array(prev["segment"].to_numpy(dtype=object)[gone], dtype=pd.StringDtype("pyarrow")),
            "monetary_before": prev["monetary"].to_numpy(dtype="float64")[gone]})], ignore_index=True)
    return both


def transition_matrix(prev: pd.DataFrame, curr: pd.DataFrame,
                      order: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers moving from last month's segment (rows) to this month's (columns).

    Returns ``(counts, row_shares)``; a ``NEW`` row holds customers who first appear this
    month. Row shares are ``counts`` divided by the row total (each row sums to 1).
    """
    both = _pair(prev, curr)
    order = order or value_order([prev, curr])
    counts = pd.crosstab(both["from"], both["to"])
    rows = [s for s in order if s in counts.index] + [r for r in counts.index if r not in order]
    cols = [s for s in order if s in counts.columns] + [c for c in counts.columns if c not in order]
    counts = counts.reindex(index=rows, columns=cols, fill_value=0)
    counts.index.name, counts.columns.name = "last month", "this month"
    shares = counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0).fillna(0.0)
    return counts, shares


def segment_history(snapshots: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per month and segment: ``customers``, ``share`` of customers, ``month_spend``
    (revenue in that month from the segment's members) and ``monetary`` (their RFM
    monetary total). Long format, months in order."""
    parts = []
    for m, s in snapshots.items():
        g = s.groupby("segment", observed=True).agg(
            customers=("customer_id", "size"), month_spend=("month_spend", "sum"),
            monetary=("monetary", "sum")).reset_index()
        g["share"] = g["customers"] / max(len(s), 1)
        g.insert(0, "month", m)
        parts.append(g)
    if not parts:
        return pd.DataFrame(columns=["month", "segment", "customers", "month_spend", "monetary", "share"])
    out = pd.concat(parts, ignore_index=True)
    out["segment"] = out["segment"].astype(str)
    return out


def movements(prev: pd.DataFrame, curr: pd.DataFrame, order: list[str]) -> dict[str, int]:
    """Counts of customers who moved ``up``, ``down``, stayed (``same``) or are ``new``,
    using the value ``order`` (best first)."""
    both = _pair(prev, curr)
    rank = pa.array(list(order), type=pa.string())

    def ranks(col: pd.Series) -> np.ndarray:  # position in ``order``; -1 when not in it
        found = pc.index_in(pa.array(col, type=pa.string(), from_pandas=True), value_set=rank)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False)

    r_from, r_to = ranks(both["from"]), ranks(both["to"])
    known = (r_from >= 0) & (r_to >= 0)
    r_from, r_to = r_from[known], r_to[known]
    return {"up": int((r_to < r_from).sum()), "down": int((r_to > r_from).sum()),
            "same": int((r_to == r_from).sum()), "new": int((both["from"] == NEW).sum())}


def movement_history(snapshots: Mapping[str, pd.DataFrame], order: list[str]) -> pd.DataFrame:
    """:func:`movements` for each pair of consecutive months (indexed by the later month)."""
    months = list(snapshots)
    rows = [{"month": b, **movements(snapshots[a], snapshots[b], order)}
            for a, b in zip(months, months[1:])]
    return pd.DataFrame(rows, columns=["month", "up", "down", "same", "new"])


def _matching(segments: Iterable[str], words: Iterable[str]) -> list[str]:
    return [s for s in segments if any(w in str(s).lower() for w in words)]


def churn_segments(segments: Iterable[str]) -> list[str]:
    """Segments that mean leaving or gone (codes containing :data:`CHURN_WORDS`)."""
    return _matching(segments, CHURN_WORDS)


def at_risk_segments(segments: Iterable[str]) -> list[str]:
    """Segments that mean valuable but lapsing (codes containing :data:`AT_RISK_WORDS`)."""
    return [s for s in _matching(segments, AT_RISK_WORDS) if s not in churn_segments([s])]


def churn_flows(snapshots: Mapping[str, pd.DataFrame], churn: list[str] | None = None) -> pd.DataFrame:
    """Per month: customers who entered a churn segment from a non-churn segment
    (``entered_churn``), who left churn back to an active one (``returned``), and the
    total in churn segments at month end (``in_churn``)."""
    months = list(snapshots)
    allsegs = set().union(*(set(s["segment"].dropna().unique().tolist()) for s in snapshots.values()))
    churn = churn if churn is not None else churn_segments(sorted(allsegs))
    rows = []
    for a, b in zip(months, months[1:]):
        both = _pair(snapshots[a], snapshots[b])
        was = both["from"].isin(churn)
        now = both["to"].isin(churn)
        rows.append({"month": b, "entered_churn": int((now & ~was & (both["from"] != NEW)).sum()),
                     "returned": int((was & ~now).sum()),
                     "in_churn": int(snapshots[b]["segment"].isin(churn).sum())})
    return pd.DataFrame(rows, columns=["month", "entered_churn", "returned", "in_churn"])


def key_flows(prev: pd.DataFrame, curr: pd.DataFrame, order: list[str], top: int = 5) -> pd.DataFrame:
    """The flows that matter: customers moving from the better half of the value order
    (the first ``len(order) // 2`` segments)
    into at-risk or churn segments, largest first by the spend at stake.

    Columns ``from``, ``to``, ``customers``, ``value_at_stake`` (their RFM monetary last
    month) and ``kind`` (``"churn"`` or ``"at risk"``).
    """
    both = _pair(prev, curr)
    high = set(order[: max(1, len(order) // 2)])
    churn = set(churn_segments(order))
    risk = set(at_risk_segments(order))
    target = churn | risk
    moved = both[both["from"].isin(high) & both["to"].isin(target) & (both["from"] != both["to"])]
    if moved.empty:
        return pd.DataFrame(columns=["from", "to", "customers", "value_at_stake", "kind"])
    g = moved.groupby(["from", "to"]).agg(customers=("customer_id", "size"),
                                          value_at_stake=("monetary_before", "sum")).reset_index()
    g["kind"] = g["to"].map(lambda s: "churn" if s in churn else "at risk")
    return g.sort_values(["value_at_stake", "customers"], ascending=False).head(top).reset_index(drop=True)


def flow_customers(prev: pd.DataFrame, curr: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Customer-level list behind :func:`key_flows` (for an export file, never for the
    report): ``customer_id``, ``from``, ``to``, ``monetary_before``, ``recency_days`` now."""
    both = _pair(prev, curr)
    high = set(order[: max(1, len(order) // 2)])
    target = set(churn_segments(order)) | set(at_risk_segments(order))
    moved = both[both["from"].isin(high) & both["to"].isin(target) & (both["from"] != both["to"])]
    moved = moved.merge(curr[["customer_id", "recency_days"]], on="customer_id", how="left")
    cols = ["customer_id", "from", "to", "monetary_before", "recency_days"]
    return moved[cols].sort_values("monetary_before", ascending=False).reset_index(drop=True)


def headline(snapshots: Mapping[str, pd.DataFrame], order: list[str]) -> dict[str, Any]:
    """Figures for the run summary: movements this month, churn entries, biggest flow."""
    months = list(snapshots)
    if len(months) < 2:
        return {"months_tracked": len(months)}
    prev, curr = snapshots[months[-2]], snapshots[months[-1]]
    return headline_figures(len(months), movements(prev, curr, order),
                            churn_flows({m: snapshots[m] for m in months[-2:]}), key_flows(prev, curr, order, top=1))


def headline_figures(months_tracked: int, mv: dict[str, int], ch: pd.DataFrame, flows: pd.DataFrame) -> dict[str, Any]:
    """:func:`headline` from the last two months' :func:`movements`, :func:`churn_flows` and
    :func:`key_flows` (``top=1``) - one assembly for the pandas path and the engine's
    :class:`~rfm_helpers.tracking.monthly.MonthlyTracking`."""
    out: dict[str, Any] = {"months_tracked": months_tracked}
    out.update({"moved_up": mv["up"], "moved_down": mv["down"], "new_customers": mv["new"],
                "entered_churn": int(ch["entered_churn"].iloc[0]) if len(ch) else 0})
    if len(flows):
        f = flows.iloc[0]
        out["top_flow"] = f"{f['from']} -> {f['to']}"
        out["top_flow_customers"] = int(f["customers"])
        out["top_flow_value_at_stake"] = round(float(f["value_at_stake"]), 2)
    return out


def month_findings(snapshots: Mapping[str, pd.DataFrame], order: list[str],
                   top: int = 3) -> list[tuple[str, dict[str, Any]]]:
    """What happened between the last two months, as ``(code, values)`` pairs; the report
    layer (:mod:`rfm_helpers.report.texts.track`) turns them into sentences. Segments are
    given by their codes.

    ``("one_month", {})`` when there is only one month; otherwise ``("moves", {prev, curr,
    up, down, same, new})``, then ``("cooling", {up, down})`` or ``("warming", {up, down})``
    when more customers moved down than up or the reverse, ``("churn", {entered, returned,
    segments})`` when the map has churn segments, and one ``("flow", {customers, from, to,
    kind, value})`` per flow of :func:`key_flows` (at most ``top``) or ``("no_flow", {})``.
    """
    months = list(snapshots)
    if len(months) < 2:
        return [("one_month", {})]
    prev, curr = snapshots[months[-2]], snapshots[months[-1]]
    return finding_codes((months[-2], months[-1]), movements(prev, curr, order),
                         churn_flows({m: snapshots[m] for m in months[-2:]}), churn_segments(order),
                         key_flows(prev, curr, order, top=top))


def segment_rows(now: pd.DataFrame, before: pd.DataFrame | None, order: list[str]) -> list[dict[str, Any]]:
    """The executive summary's segment rows (:func:`rfm_helpers.report.executive.segment_figures`)
    from this month's and last month's per-segment figures (``now``/``before``: indexed by
    segment, columns ``customers``, ``revenue``, ``spend_to_date``), in value ``order`` then
    any other segment of this month; segments empty in both months are left out."""
    rows = []
    for k in list(order) + [k for k in now.index if k not in order]:
        had = before is not None and k in before.index
        if k not in now.index and not had:
            continue
        row = {"segment": k, "customers": int(now["customers"].get(k, 0)),
               "revenue": round(float(now["revenue"].get(k, 0.0)), 2),
               "spend_to_date": round(float(now["spend_to_date"].get(k, 0.0)), 2),
               "previous_customers": None, "previous_revenue": None, "previous_spend_to_date": None}
        if before is not None:
            row["previous_customers"] = int(before["customers"].get(k, 0))
            row["previous_revenue"] = round(float(before["revenue"].get(k, 0.0)), 2)
            row["previous_spend_to_date"] = round(float(before["spend_to_date"].get(k, 0.0)), 2)
        rows.append(row)
    return rows


def moved_to_risk(customers: int, spend_to_date: float, by: pd.DataFrame) -> dict[str, Any]:
    """The executive summary's ``moved_to_risk``: customers who moved into at-risk or churn
    segments, their spend to date, and the same per destination (``by``: indexed by segment,
    columns ``customers``, ``spend_to_date``)."""
    return {"customers": int(customers), "spend_to_date": round(float(spend_to_date), 2),
            "by_segment": {str(k): {"customers": int(v.customers), "spend_to_date": round(float(v.spend_to_date), 2)}
                           for k, v in by.iterrows()}}


def finding_codes(pair: tuple[str, str], mv: dict[str, int], ch: pd.DataFrame, churn: Iterable[str],
                  flows: pd.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """:func:`month_findings` of the months ``pair`` from their :func:`movements`,
    :func:`churn_flows`, the map's churn segments and :func:`key_flows` - one assembly for the
    pandas path and the engine's :class:`~rfm_helpers.tracking.monthly.MonthlyTracking`."""
    out: list[tuple[str, dict[str, Any]]] = [("moves", {"prev": pair[0], "curr": pair[1], **mv})]
    if mv["down"] > mv["up"]:
        out.append(("cooling", {"up": mv["up"], "down": mv["down"]}))
    elif mv["up"] > mv["down"]:
        out.append(("warming", {"up": mv["up"], "down": mv["down"]}))
    churn = list(churn)
    if len(ch) and churn:
        out.append(("churn", {"entered": int(ch["entered_churn"].iloc[0]), "returned": int(ch["returned"].iloc[0]),
                              "segments": churn}))
    if flows.empty:
        out.append(("no_flow", {}))
    for _, f in flows.iterrows():
        out.append(("flow", {"customers": int(f["customers"]), "from": f["from"], "to": f["to"],
                             "kind": f["kind"], "value": float(f["value_at_stake"])}))
    return out
