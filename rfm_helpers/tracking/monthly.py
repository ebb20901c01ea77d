"""Segment tracking in the engine (notebook 05): every month's snapshot and the transitions
between consecutive months, with pandas seeing aggregates only.

:func:`track_months` does, on the run's DuckDB engine:

1. **Which snapshots to build.** For each month the settings (analysis date, window, number
   of scores, segment map, language) and the data fingerprint (transactions and amount total
   up to the month's analysis date; one aggregate query for all months) are compared with
   the stored file's; a valid file is reused (``"stored"``). This run's month is always
   written from the run's scored RFM table (``"this run"``), so it is exactly ``p.rfm`` with
   the segments of the SQL segment map.
2. **One multi-month pass** builds all other months (``"computed"``) with the RFM rules of
   :func:`rfm_helpers.rfm.compute_scored_rfm` for each month's analysis date (its last day):
   every customer's *spans* (runs of months over which last purchase day, frequency and
   monetary stay the same; whole history: running totals over each customer's purchase-day
   buckets; with a window: a join on ``order_day <= as_of``; see :func:`spans_sql`) are
   written once to a Parquet file in the engine's spill folder (in hash parts of the
   customers for very large data, :data:`PART_ROWS`; a temporary table for small passes,
   :data:`TABLE_ROWS`); every month's quantile cuts (the rule of
   :func:`rfm_helpers.rfm.sql.score_sql`, partitioned by month, :func:`spans_cuts_sql`) are
   counted from the spans; then each month's file is written by its own ``COPY`` of the spans
   covering the month, scored with its cuts and segmented by the map's cell lookup
   (:func:`month_snapshot_sql`), to ``<reports_dir>/snapshots/segments_YYYY-MM.parquet``
   (the columns and schema of :data:`SNAPSHOT_SCHEMA`, as before; segment, label and month
   are written from ``ENUM`` types, which read back as the same strings). Each file holds its
   settings in its key-value metadata (``rfm_snapshot``); files of the earlier multi-month
   writer (``rfm_snapshots``: month -> settings) are still reused.
3. **Aggregates** over the month files: customers, month spend, RFM monetary and the sum of
   ``rfm_score`` per month and segment (one scan); customers per (last month's segment, this
   month's segment) for every pair of consecutive months (one scan, see
   :func:`_transition_counts`), :data:`NEW` / :data:`GONE` for customers absent on one side;
   and, for the pair whose flows are asked about (the last), the customers' last-month
   monetary per (from, to). Every table of notebook 05 (findings, headline, transition
   matrix, history, value order, movements, churn flows, the executive summary's segment
   figures) is computed from those in :class:`MonthlyTracking`, with the definitions of the
   pandas functions in :mod:`~rfm_helpers.tracking.frames` (the reference the tests compare
   with). Money is summed exactly (``DECIMAL``) and returned as float.

The customer list behind the key flows (an export file) is written by the engine to a
temporary Parquet file and handed over as a ``pyarrow.dataset`` (:meth:`MonthlyTracking.flow_customers`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..rfm import parse_as_of
from ..rfm.sql import customer_part_sql, cuts_sql, order_key_sql, parts_for, score_cases  # the quantile rule of score_sql, per month
from .frames import (GONE, NEW, _META_KEY, _stored_settings, at_risk_segments, churn_segments,
                     finding_codes, headline_figures, month_end, month_key, moved_to_risk, segment_rows,
                     snapshot_path)

__all__ = ["MonthlyTracking", "track_months", "snapshot_settings", "SNAPSHOT_SCHEMA"]

#: Decimal digits money is summed with (the pipeline scores RFM at scale 2).
SCALE = 2

#: Transactions per hash part of the customers when the pass builds their spans: a notebook
#: engine (3 GB) aggregates 2.5e7 transactions' customer days mostly in memory.
PART_ROWS = 25_000_000

#: Transactions up to which the pass keeps the customers' spans in a temporary table of the
#: engine (about 0.7 spans per transaction's customer, ~40 MB at 1e6 transactions) instead of
#: a Parquet file in the spill folder: the cuts and the month filters read a table more cheaply
#: (4.35 -> 4.15 CPU-s for the pass and aggregates at 1e6), and larger passes keep the file,
#: which a notebook engine's memory need not hold (~70M spans at 1e8).
TABLE_ROWS = 5_000_000

#: Arrow schema of a snapshot file written by the engine (an empty month uses it as is).
SNAPSHOT_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("month", pa.string()), ("as_of", pa.timestamp("us")),
    ("segment", pa.string()), ("segment_label", pa.string()), ("recency_days", pa.int64()),
    ("frequency", pa.int64()), ("monetary", pa.float64()), ("r_score", pa.int64()), ("f_score", pa.int64()),
    ("m_score", pa.int64()), ("rfm_score", pa.int64()), ("month_spend", pa.float64()),
])


def _lit(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _enum(values: Iterable[str]) -> str:
    """A DuckDB ``ENUM`` type of ``values``: written to Parquet as the same strings, but from
    the type's dictionary (no per-row string hashing by the writer; several times cheaper than
    ``VARCHAR`` for the few distinct segments, labels and months of a snapshot)."""
    return "ENUM(" + ", ".join(_lit(v) for v in dict.fromkeys(values)) + ")"


def _segment_columns(map_name: str, language: str, maps: dict | None = None, *, r: str = "x.r_score",
                     f: str = "x.f_score", m: str = "x.m_score") -> tuple[str, str]:
    """The map as SQL over the score columns ``r``, ``f``, ``m``: the segment key and its
    label (as :func:`rfm_helpers.segments.assign_segments` names them), each an element of a
    constant list of the 125 score cells (the validated map's own cell lookup, the one
    ``assign_segments`` uses) picked by the cell's index - no ``CASE`` or join per customer
    row; both ``ENUM``. Scores outside the grid give NULL (as the map's ``CASE``)."""
    from ..segments import GRID_SIZE, _check_language, _get_map, _unique_labels

    maps, mp = _get_map(map_name, maps)
    _check_language(language, maps)
    keys = [s["key"] for s in mp["segments"]]
    labels = _unique_labels([s["label"][language] for s in mp["segments"]])
    cells = [int(i) for i in mp["lookup"]]  # cell (r-1)*G*G + (f-1)*G + (m-1) -> segment position
    g = GRID_SIZE
    inside = " AND ".join(f"{c} BETWEEN 1 AND {g}" for c in (r, f, m))
    index = f"CASE WHEN {inside} THEN ({r} - 1) * {g * g} + ({f} - 1) * {g} + {m} END"  # 1-based

    def pick(values: list[str]) -> str:
        items = ", ".join(_lit(values[c]) for c in cells)
        return f"CAST([{items}] AS {_enum(values)}[])[{index}]"

    return pick(keys), pick(labels)


def _snapshot_query(inner: str, map_name: str, language: str, maps: dict | None = None) -> str:
    """The snapshot columns (in file order) over the query ``inner`` with ``customer_id``,
    ``month``, ``as_of``, the RFM columns, the three scores and ``month_spend``."""
    segment, label = _segment_columns(map_name, language, maps)
    cols = ["CAST(x.customer_id AS VARCHAR) AS customer_id", "x.month",
            "CAST(x.as_of AS TIMESTAMP) AS as_of", f"{segment} AS segment", f"{label} AS segment_label",
            "CAST(x.recency_days AS BIGINT) AS recency_days", "CAST(x.frequency AS BIGINT) AS frequency",
            "CAST(x.monetary AS DOUBLE) AS monetary",
            *(f"CAST(x.{d}_score AS BIGINT) AS {d}_score" for d in "rfm"),
            "CAST(x.r_score + x.f_score + x.m_score AS BIGINT) AS rfm_score",
            "CAST(x.month_spend AS DOUBLE) AS month_spend"]
    return f"SELECT {', '.join(cols)} FROM ({inner}) AS x"


def _has_order_id(engine: Any, source: str) -> bool:
    return "order_id" in engine.sql(f"SELECT * FROM {source} LIMIT 0").columns


def _months_values(months: Mapping[str, dt.date], window_days: int | None) -> str:
    rows = []
    for k, (m, as_of) in enumerate(months.items()):
        start = pd.Period(m, freq="M").start_time.date()
        ws = f"DATE '{(as_of - dt.timedelta(days=int(window_days))).isoformat()}'" if window_days else "NULL"
        rows.append(f"({k}, {_lit(m)}, DATE '{start.isoformat()}', DATE '{as_of.isoformat()}', {ws})")
    return f"mt_months(k, month, month_start, as_of, window_start) AS (VALUES {', '.join(rows)})"


def _tx_cte(source: str, last: dt.date, has_order_id: bool, part: tuple[int, int] | None = None) -> str:
    only = f" AND {customer_part_sql(*part)}" if part and part[1] > 1 else ""
    return f"""mt_tx AS (
    SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(order_date AS DATE) AS order_day,
           {order_key_sql(has_order_id)} AS order_key, CAST(amount AS DECIMAL(18, {SCALE})) AS amount
    FROM {source}
    WHERE CAST(order_date AS DATE) <= DATE '{last.isoformat()}'{only}
)"""


def spans_sql(source: str, months: Mapping[str, dt.date], window_days: int | None, *, has_order_id: bool,
              part: tuple[int, int] | None = None) -> str:
    """The RFM of every customer in every month of ``months`` (month -> analysis date, in
    increasing order), by the rules of :data:`rfm_helpers.rfm.sql.RFM_SQL`, as *spans*: one
    row per customer and run of months ``k <= month < k_next`` (positions in ``months``) over
    which the customer's ``last_day`` (last purchase day), ``frequency`` and ``monetary``
    (exact) do not change; ``month_spend`` (the spend from the first day of month ``k`` to its
    analysis date) belongs to month ``k`` only (0 in the later months of the span). A customer
    is in month ``K``'s snapshot when a span covers ``K``; ``recency_days`` there is the
    month's analysis date minus ``last_day``.

    Whole history (no window): every measure is a running total, so the transactions are
    reduced to one row per customer and purchase day (each order counted on its first day),
    those to one row per customer and *bucket* (the days after one month's analysis date up
    to the next one's), and running sums over a customer's buckets give the spans (a span
    lasts until the customer's next bucket): about 1.4 rows per customer instead of one per
    customer and month. With a window the months are joined to the transactions
    (``order_day <= as_of``) and aggregated per month (spans of one month).

    ``part=(i, n)``: only the customers of hash part ``i`` of ``n`` (every customer is in
    exactly one part), so a large pass can be built in ``n`` smaller aggregations."""
    dates = list(months.values())
    if dates != sorted(dates) or len(set(dates)) != len(dates):
        raise ValueError(f"months must be in increasing order of analysis date: {dict(months)}")
    head = f"WITH {_months_values(months, window_days)},\n{_tx_cte(source, dates[-1], has_order_id, part)}"
    if window_days:
        key = "CASE WHEN t.order_day > m.window_start THEN t.order_key END"
        amount = "CASE WHEN t.order_day > m.window_start THEN t.amount END"
        return f"""{head}
SELECT t.customer_id, CAST(m.k AS INTEGER) AS k, CAST(m.k + 1 AS INTEGER) AS k_next, MAX(t.order_day) AS last_day,
       CAST(COUNT(DISTINCT {key}) AS INTEGER) AS frequency,
       CAST(COALESCE(SUM({amount}), 0) AS DECIMAL(18, {SCALE})) AS monetary,
       CAST(COALESCE(SUM(t.amount) FILTER (WHERE t.order_day >= m.month_start), 0) AS DECIMAL(18, {SCALE})) AS month_spend
FROM mt_tx AS t JOIN mt_months AS m ON t.order_day <= m.as_of
GROUP BY t.customer_id, m.k"""
    if has_order_id:  # amounts per purchase day; each order once, on its first day
        days = ("SELECT customer_id, order_day, SUM(amount) AS amount, 0 AS orders FROM mt_tx GROUP BY customer_id, order_day\n"
                "    UNION ALL\n    SELECT customer_id, MIN(order_day), NULL, 1 FROM mt_tx GROUP BY customer_id, order_key")
    else:  # the order is the purchase day
        days = "SELECT customer_id, order_day, SUM(amount) AS amount, 1 AS orders FROM mt_tx GROUP BY customer_id, order_day"
    bucket = "CASE " + " ".join(f"WHEN order_day <= DATE '{d.isoformat()}' THEN {k}" for k, d in enumerate(dates)) + " END"
    starts = "CASE k " + " ".join(f"WHEN {k} THEN DATE '{pd.Period(m, freq='M').start_time.date().isoformat()}'"
                                  for k, m in enumerate(months)) + " END"
    return f"""{head},
mt_days AS (
    SELECT *, {bucket} AS k FROM (
    {days}) AS d
),
mt_buckets AS (
    SELECT customer_id, k, MAX(order_day) AS last_day, SUM(amount) AS amount, SUM(orders) AS orders,
           CAST(COALESCE(SUM(amount) FILTER (WHERE order_day >= {starts}), 0) AS DECIMAL(18, {SCALE})) AS month_spend
    FROM mt_days GROUP BY customer_id, k
)
SELECT customer_id, CAST(k AS INTEGER) AS k,
       CAST(LEAD(k, 1, {len(dates)}) OVER (PARTITION BY customer_id ORDER BY k) AS INTEGER) AS k_next, last_day,
       CAST(SUM(orders) OVER w AS INTEGER) AS frequency, CAST(SUM(amount) OVER w AS DECIMAL(18, {SCALE})) AS monetary,
       month_spend
FROM mt_buckets
WINDOW w AS (PARTITION BY customer_id ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""


def spans_cuts_sql(spans: str, months: Mapping[str, dt.date], n: int) -> str:
    """The quantile cuts of every month (one row per month ``k`` with customers) of the spans
    table ``spans`` (:func:`spans_sql`): the rule of :func:`rfm_helpers.rfm.sql.score_sql`
    (:func:`~rfm_helpers.rfm.sql.cuts_sql`) partitioned by month. The customers per value
    and month it ranks are counted from the spans: recency and frequency from the spans
    grouped by (months covered, last day / frequency) - a few thousand groups - and monetary
    from each span's months (one row per customer and month, one column)."""
    def few(column: str, value: str, marks: str) -> str:  # dimensions with few distinct values per span group
        return (f"SELECT m.k, {value}, {marks}, CAST(SUM(s.c) AS BIGINT) AS c FROM (SELECT k, k_next, {column}, "
                f"COUNT(*) AS c FROM {spans} GROUP BY ALL) AS s JOIN mt_months AS m ON m.k >= s.k AND m.k < s.k_next "
                f"GROUP BY ALL")
    values = "\nUNION ALL\n".join([
        few("last_day", "CAST(DATE_DIFF('day', s.last_day, m.as_of) AS INTEGER) AS rv, CAST(NULL AS INTEGER) AS fv, "
            f"CAST(NULL AS DECIMAL(18, {SCALE})) AS mv", "0 AS gr, 1 AS gf"),
        few("frequency", "NULL, s.frequency, NULL", "1, 0"),
        f"SELECT mk, NULL, NULL, monetary, 1, 1, COUNT(*) FROM (SELECT monetary, UNNEST(range(k, k_next)) AS mk "
        f"FROM {spans}) AS s GROUP BY ALL"])
    return f"WITH {_months_values(months, None)},\n{cuts_sql(n, ['k'], 'monetary', values)}\nSELECT * FROM cuts"


def month_snapshot_sql(spans: str, cuts: str, months: Mapping[str, dt.date], month: str, *, n_scores: int,
                       map_name: str, language: str, maps: dict | None = None) -> str:
    """Month ``month``'s snapshot (the snapshot columns) from the spans table ``spans``
    (:func:`spans_sql` over ``months``) and its cuts table ``cuts`` (:func:`spans_cuts_sql`):
    the spans covering the month, scored with the month's cuts, segmented by the map. A month
    without customers has no cuts row, so no rows."""
    k, as_of = list(months).index(month), months[month]
    day = f"DATE '{as_of.isoformat()}'"
    inner = (f"SELECT rfm.customer_id, CAST({_lit(month)} AS {_enum([month])}) AS month, {day} AS as_of, "
             f"rfm.recency_days, rfm.frequency, rfm.monetary, "
             f"CASE WHEN rfm.k = {k} THEN rfm.month_spend ELSE 0 END AS month_spend, "
             f"{', '.join(score_cases(int(n_scores), 'monetary'))} "
             f"FROM (SELECT *, CAST(DATE_DIFF('day', last_day, {day}) AS INTEGER) AS recency_days FROM {spans} "
             f"WHERE k <= {k} AND k_next > {k}) AS rfm CROSS JOIN (SELECT * FROM {cuts} WHERE k = {k}) AS cuts")
    return _snapshot_query(inner, map_name, language, maps)


def current_snapshot_sql(rfm_table: str, source: str, month: str, as_of: dt.date, *, map_name: str,
                         language: str, maps: dict | None = None) -> str:
    """This run's month from the run's scored RFM table ``rfm_table`` (the columns of
    ``compute_scored_rfm``) with the SQL segments and the month's spend up to ``as_of``."""
    start = pd.Period(month, freq="M").start_time.date()
    spend = (f"SELECT CAST(customer_id AS VARCHAR) AS sid, SUM(CAST(amount AS DECIMAL(18, {SCALE}))) AS spend "
             f"FROM {source} WHERE CAST(order_date AS DATE) BETWEEN DATE '{start.isoformat()}' "
             f"AND DATE '{as_of.isoformat()}' GROUP BY 1")
    inner = (f"SELECT r.*, CAST({_lit(month)} AS {_enum([month])}) AS month, DATE '{as_of.isoformat()}' AS as_of, "
             f"COALESCE(s.spend, 0) AS month_spend FROM {rfm_table} AS r LEFT JOIN ({spend}) AS s "
             f"ON CAST(r.customer_id AS VARCHAR) = s.sid")
    return _snapshot_query(inner, map_name, language, maps)


def snapshot_settings(month: str, as_of: dt.date, window_days: int | None, n_scores: int, map_name: str,
                      language: str, data: Mapping[str, Any]) -> dict:
    """What a stored snapshot must have been made with to be reused (the keys of
    :mod:`~rfm_helpers.tracking.frames`' settings, so files of either writer are compared alike)."""
    return {"month": month, "as_of": as_of.isoformat(), "window_days": int(window_days or 0),
            "n_scores": int(n_scores), "map_name": map_name, "language": language, "data": dict(data)}


def _fingerprints(engine: Any, source: str, as_ofs: Mapping[str, dt.date]) -> dict[str, dict]:
    """Rows and amount total up to each analysis date (one scan of the transactions, grouped
    by day; the totals per date from those few rows; amounts summed exactly)."""
    parts = []
    for i, d in enumerate(as_ofs.values()):
        cond = f"FILTER (WHERE d <= DATE '{d.isoformat()}')"
        parts += [f"CAST(COALESCE(SUM(r) {cond}, 0) AS BIGINT) AS r{i}", f"CAST(COALESCE(SUM(a) {cond}, 0) AS DOUBLE) AS a{i}"]
    sql = (f"SELECT {', '.join(parts)} FROM (SELECT CAST(order_date AS DATE) AS d, COUNT(*) AS r, "
           f"SUM(CAST(amount AS DECIMAL(18, {SCALE}))) AS a FROM {source} GROUP BY 1) AS fp")
    row = engine.scalar_rows(sql, label="tracking: data fingerprints per month")[0]
    return {m: {"rows": int(row[2 * i]), "amount": round(float(row[2 * i + 1]), 2)}
            for i, m in enumerate(as_ofs)}


@contextlib.contextmanager
def _settings(con: Any, **values: str) -> Iterator[None]:
    """DuckDB settings ``values`` (SQL literals) for the block, then back as they were."""
    before = {k: con.execute(f"SELECT current_setting('{k}')").fetchone()[0] for k in values}
    try:
        for k, v in values.items():
            con.execute(f"SET {k} = {v}")
        yield
    finally:
        for k, v in before.items():
            con.execute(f"SET {k} = {_lit(v) if isinstance(v, str) else str(v).lower()}")


def _copy(engine: Any, select: str, target: Path, settings: dict) -> None:
    """``COPY (select) TO target`` as Parquet, ``settings`` in the key-value metadata
    (``rfm_snapshot``). DuckDB marks a column REQUIRED ("not null") when the statistics of a
    stored table prove it has no NULLs; with statistics propagation off for the write, the
    files keep the nullable schema of every other writer (:data:`SNAPSHOT_SCHEMA`: the pandas
    path, files of earlier versions), whatever table they come from."""
    con = engine.con
    disabled = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]
    value = _lit(json.dumps(settings, sort_keys=True))
    with _settings(con, disabled_optimizers=_lit(",".join(filter(None, [disabled, "statistics_propagation"])))):
        con.execute(f"COPY ({select}) TO {_lit(target)} (FORMAT PARQUET, KV_METADATA {{{_META_KEY.decode()}: {value}}})")


def _write_snapshot(engine: Any, select: str, path: Path, settings: dict) -> None:
    """One month's file (its settings in the key-value metadata ``rfm_snapshot``), written to a
    temporary name beside it and renamed (parallel runs never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _copy(engine, select, tmp, settings)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _scratch(engine: Any) -> Path:
    """A new folder for the pass's intermediate files: inside the engine's spill folder when
    it has one (a notebook's ``run_dir/.cache/spill/<pid>``), else in the system's temporary
    folder."""
    spill = engine.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    base = Path(spill) if spill and Path(spill).is_absolute() else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="rfm_tracking_pass_", dir=base))


def _write_pass(engine: Any, source: str, months: Mapping[str, dt.date], paths: Mapping[str, Path],
                settings: Mapping[str, dict], *, window_days: int | None, n_scores: int, map_name: str,
                language: str, maps: dict | None, parts: int = 1, in_table: bool = False) -> None:
    """Build the snapshots of ``months`` (month -> analysis date) in one pass over the
    transactions: the spans of every customer (:func:`spans_sql`) are written once to a
    Parquet file (not a temporary table: at 1e8 transactions they are ~70M rows, more than a
    notebook engine's memory; a file is compressed and read in place) and every month's cuts
    (:func:`spans_cuts_sql`, one small row per month) kept as a temporary table; then each
    month's file is written from them by its own ``COPY`` (a filter over the spans; cheaper
    than one partitioned ``COPY`` of all months, which buffers and sorts rows by month, and no
    staging folder). Row order within a file is not kept (insertion order off: DuckDB need not
    hold rows back to keep it). Months without customers get an empty file.

    ``parts``: the spans are built in that many hash parts of the customers (one scan of the
    transactions each), so each aggregation holds a part of the customers' days: at 1e8
    transactions one aggregation spilled 6+ GB to disk; see :data:`PART_ROWS`.

    ``in_table``: a small pass (one part) keeps the spans in a temporary table instead of the
    file (:data:`TABLE_ROWS`)."""
    from ..segments import GRID_SIZE

    if int(n_scores) != GRID_SIZE:
        raise ValueError(f"segment maps are defined on {GRID_SIZE} scores; n_scores must be {GRID_SIZE}")
    con = engine.con
    cuts = engine.unique_name("mt_cuts")
    table = engine.unique_name("mt_spans")
    in_table = bool(in_table) and max(1, int(parts)) == 1
    scratch = None if in_table else _scratch(engine)
    try:
        with _settings(con, preserve_insertion_order="false"):
            has_order_id = _has_order_id(engine, source)
            if in_table:
                con.execute(f"CREATE TEMP TABLE {table} AS "
                            f"{spans_sql(source, months, window_days, has_order_id=has_order_id)}")
                spans = table
            else:
                files = [scratch / f"spans_{i}.parquet" for i in range(max(1, int(parts)))]
                for i, path in enumerate(files):
                    sql = spans_sql(source, months, window_days, has_order_id=has_order_id, part=(i, len(files)))
                    con.execute(f"COPY ({sql}) TO {_lit(path)} (FORMAT PARQUET)")
                spans = f"read_parquet([{', '.join(_lit(f) for f in files)}])"
            con.execute(f"CREATE TEMP TABLE {cuts} AS {spans_cuts_sql(spans, months, int(n_scores))}")
            for m in months:
                sql = month_snapshot_sql(spans, cuts, months, m, n_scores=n_scores, map_name=map_name,
                                         language=language, maps=maps)
                _write_snapshot(engine, sql, paths[m], settings[m])
    finally:
        con.execute(f"DROP TABLE IF EXISTS {cuts}")
        con.execute(f"DROP TABLE IF EXISTS {table}")
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def track_months(engine: Any, transactions_table: str, months: Iterable[str], reports_dir: str | os.PathLike, *,
                 current_table: str | None = None, current_as_of: Any = None, window_days: int | None = None,
                 n_scores: int = 5, map_name: str = "classic", language: str = "en",
                 maps: dict | None = None) -> "MonthlyTracking":
    """Snapshots of ``months`` (oldest first) stored, reused or built in the engine, and their
    aggregates (see the module docstring).

    ``engine``: an open DuckDB engine holding the clean transactions ``transactions_table``;
    ``current_table``: this run's scored RFM table in it (the last month's snapshot, analysis
    date ``current_as_of``, always rewritten); without it the last month is treated like the
    others (analysis date ``current_as_of`` or its last day). Status per month: ``"this run"``,
    ``"stored"`` or ``"computed"``.
    """
    months = [month_key(m) for m in months]
    if not months:
        raise ValueError("track_months needs at least one month")
    window_days = int(window_days) if window_days else None
    as_ofs = {m: month_end(m) for m in months}
    if current_as_of:
        as_ofs[months[-1]] = parse_as_of(current_as_of)
    data = _fingerprints(engine, transactions_table, as_ofs)
    settings = {m: snapshot_settings(m, as_ofs[m], window_days, n_scores, map_name, language, data[m])
                for m in months}
    paths = {m: snapshot_path(reports_dir, m) for m in months}
    status: dict[str, str] = {}
    for m in months:
        if m == months[-1] and current_table is not None:
            status[m] = "this run"
        elif paths[m].exists() and _stored_settings(paths[m]) == settings[m]:
            status[m] = "stored"
        else:
            status[m] = "computed"
    build = {m: as_ofs[m] for m in months if status[m] == "computed"}
    if build:
        rows = data[max(build, key=lambda m: build[m])]["rows"]  # transactions up to the last month built
        _write_pass(engine, transactions_table, build, paths, settings, window_days=window_days, n_scores=n_scores,
                    map_name=map_name, language=language, maps=maps, parts=parts_for(rows, PART_ROWS),
                    in_table=rows <= TABLE_ROWS)
    if current_table is not None:
        m = months[-1]
        sql = current_snapshot_sql(current_table, transactions_table, m, as_ofs[m], map_name=map_name,
                                   language=language, maps=maps)
        _write_snapshot(engine, sql, paths[m], settings[m])
    return MonthlyTracking.from_files(engine, paths, status)


# ============================================================================ aggregates
def _files_sql(paths: Iterable[Path]) -> str:
    return "read_parquet([" + ", ".join(_lit(p) for p in paths) + "], union_by_name = true)"


def _money(col: str) -> str:
    """The exact sum of a money column (each value rounded to :data:`SCALE` digits; the sum is
    ``DECIMAL(38, SCALE)``) as DOUBLE. Each value is cast to ``DECIMAL(18, SCALE)``, the RFM
    monetary's type (a larger value fails loudly): the same sum as through ``DECIMAL(38,
    SCALE)``, with 64-bit instead of 128-bit values per row (2.6 -> 2.3 CPU-s for the 43M rows
    of 12 snapshots at 1e7 transactions)."""
    return f"CAST(SUM(CAST({col} AS DECIMAL(18, {SCALE}))) AS DOUBLE)"


def _transition_counts(engine: Any, paths: Mapping[str, Path], months: list[str], segments: list[str]) -> pd.DataFrame:
    """Customers per (month, last month's segment, this month's segment) for every pair of
    consecutive ``months``, from ONE scan of their files: each customer's segments over the
    months packed into one integer (the segment's number in ``bits`` bits per month, 0 when
    absent; one hash aggregate per customer holding one integer), then the distinct paths
    counted, and the pairs read off the (few) paths. Falls back to one join per pair when the
    months do not fit in 126 bits."""
    empty = pd.DataFrame({"month": pd.Series(dtype=object), "from": pd.Series(dtype=object),
                          "to": pd.Series(dtype=object), "customers": pd.Series(dtype="int64")})
    if len(months) < 2:
        return empty
    bits = max(1, len(segments).bit_length())
    names = {0: None, **{i + 1: seg for i, seg in enumerate(segments)}}
    if bits * len(months) <= 126:
        codes = ", ".join(f"({_lit(seg)}, {i})" for i, seg in names.items() if seg is not None)
        ks = ", ".join(f"({_lit(m)}, {k})" for k, m in enumerate(months))
        mask = (1 << bits) - 1
        sql = f"""
WITH mt_paths AS (
    SELECT SUM(CAST(c.code AS HUGEINT) << ({bits} * m.k)) AS path
    FROM (SELECT customer_id, month, segment FROM {_files_sql(paths[m] for m in months)}) AS f
    JOIN (VALUES {codes}) AS c(segment, code) ON c.segment = f.segment
    JOIN (VALUES {ks}) AS m(month, k) ON m.month = f.month
    GROUP BY f.customer_id
), mt_counts AS (SELECT path, COUNT(*) AS n FROM mt_paths GROUP BY path)
SELECT r.k, CAST((path >> ({bits} * (r.k - 1))) & {mask} AS INTEGER) AS a,
       CAST((path >> ({bits} * r.k)) & {mask} AS INTEGER) AS b, CAST(SUM(n) AS BIGINT) AS customers
FROM mt_counts CROSS JOIN range(1, {len(months)}) AS r(k)
GROUP BY ALL HAVING a <> 0 OR b <> 0"""
        got = engine.fetch(sql, label="tracking: transitions between consecutive months", kind="aggregate")
        out = pd.DataFrame({"month": [months[int(k)] for k in got["k"]],
                            "from": [names[int(a)] or NEW for a in got["a"]],
                            "to": [names[int(b)] or GONE for b in got["b"]],
                            "customers": got["customers"].astype("int64")})
    else:
        out = pd.concat([_pair_query(engine, paths, a, b, money=False) for a, b in zip(months, months[1:])],
                        ignore_index=True)
    return out.sort_values(["month", "from", "to"], kind="stable").reset_index(drop=True) if len(out) else empty


def _pair_query(engine: Any, paths: Mapping[str, Path], a: str, b: str, *, money: bool) -> pd.DataFrame:
    """Customers (and with ``money`` their RFM monetary in month ``a``) per (segment in ``a``,
    segment in ``b``), :data:`NEW` / :data:`GONE` for customers of one month only."""
    extra = f", {_money('p.monetary')} AS monetary_before" if money else ""
    sql = (f"SELECT {_lit(b)} AS month, COALESCE(p.segment, {_lit(NEW)}) AS \"from\", "
           f"COALESCE(c.segment, {_lit(GONE)}) AS \"to\", COUNT(*) AS customers{extra} "
           f"FROM (SELECT customer_id, segment, monetary FROM {_files_sql([paths[a]])}) AS p "
           f"FULL OUTER JOIN (SELECT customer_id, segment FROM {_files_sql([paths[b]])}) AS c "
           f"ON p.customer_id = c.customer_id GROUP BY 1, 2, 3 ORDER BY 2, 3")
    got = engine.fetch(sql, label=f"tracking: transitions {a} -> {b}", kind="aggregate")
    return pd.DataFrame({c: got[c].astype(object) if c in ("month", "from", "to") else got[c] for c in got.columns})


@dataclass
class MonthlyTracking:
    """The aggregates of the tracked months' snapshots and every table of notebook 05 computed
    from them (same definitions, values and shapes as the pandas functions of
    :mod:`rfm_helpers.tracking.frames` on the snapshot frames).

    ``months``: the months with at least one customer (oldest first; earlier months of the
    period are empty); ``status``: per requested month ``"this run"``, ``"stored"`` or
    ``"computed"``; ``segments``: per month and segment ``customers``, ``month_spend``,
    ``monetary``, ``rfm_score_sum`` and ``label``; ``transitions``: per month (the later one of a
    consecutive pair) ``from``, ``to``, ``customers``. The money behind a pair's flows (last
    month's RFM monetary per from/to) is aggregated when asked (:meth:`pair_money`)."""

    engine: Any
    paths: dict[str, Path]
    status: dict[str, str]
    months: list[str]
    segments: pd.DataFrame
    transitions: pd.DataFrame
    _tmp: Any = field(default=None, repr=False)
    _money: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_files(cls, engine: Any, paths: Mapping[str, Path], status: Mapping[str, str]) -> "MonthlyTracking":
        """Aggregate the snapshot files ``paths`` (month -> file, oldest first)."""
        paths = dict(paths)
        seg = engine.fetch(
            f"SELECT month, segment, MIN(segment_label) AS label, COUNT(*) AS customers, "
            f"{_money('month_spend')} AS month_spend, {_money('monetary')} AS monetary, "
            f"CAST(SUM(rfm_score) AS BIGINT) AS rfm_score_sum FROM {_files_sql(paths.values())} "
            f"GROUP BY month, segment ORDER BY month, segment",
            label="tracking: customers and money per month and segment", kind="aggregate")
        seg = pd.DataFrame({c: seg[c].astype(object) if c in ("month", "segment", "label") else seg[c]
                            for c in seg.columns}, columns=seg.columns)
        have = set(seg["month"])
        months = [m for m in paths if m in have]
        tr = _transition_counts(engine, paths, months, sorted(set(seg["segment"])))
        return cls(engine, paths, dict(status), months, seg.reset_index(drop=True), tr)

    # ------------------------------------------------------------------ helpers
    def _month(self, month: str) -> pd.DataFrame:
        return self.segments[self.segments["month"] == month]

    def _pair(self, prev: str, curr: str) -> pd.DataFrame:
        months = self.months
        if prev not in months or curr not in months or months.index(curr) != months.index(prev) + 1:
            raise ValueError(f"{prev} -> {curr}: transitions are kept for consecutive tracked months {months}")
        return self.transitions[self.transitions["month"] == curr]

    def pair_money(self, prev: str, curr: str) -> pd.DataFrame:
        """Per (``from``, ``to``) of months ``prev`` -> ``curr``: ``customers`` and
        ``monetary_before`` (their RFM monetary in ``prev``, summed exactly); one aggregate
        query, remembered."""
        self._pair(prev, curr)
        if (prev, curr) not in self._money:
            self._money[(prev, curr)] = _pair_query(self.engine, self.paths, prev, curr, money=True)
        return self._money[(prev, curr)]

    def _last_two(self) -> tuple[str, str] | None:
        return (self.months[-2], self.months[-1]) if len(self.months) >= 2 else None

    # ------------------------------------------------------------------ tables
    def segment_labels(self) -> dict[str, str]:
        """Segment code -> label (in the snapshots' language)."""
        return dict(zip(self.segments["segment"], self.segments["label"]))

    def _mean_score(self) -> pd.Series:
        g = self.segments.groupby("segment")[["rfm_score_sum", "customers"]].sum()
        return g["rfm_score_sum"].astype("float64") / g["customers"].astype("float64")

    def value_order(self) -> list[str]:
        """:func:`~rfm_helpers.tracking.frames.value_order`: segments by the average
        ``rfm_score`` of their members pooled over the months, best first (ties by name)."""
        mean = self._mean_score()
        frame = pd.DataFrame({"segment": mean.index.astype(str), "score": mean.to_numpy()})
        return frame.sort_values(["score", "segment"], ascending=[False, True])["segment"].tolist()

    def value_order_table(self, order: list[str]) -> pd.DataFrame:
        """:func:`~rfm_helpers.tracking.frames.value_order_table`."""
        mean, labels = self._mean_score(), self.segment_labels()
        return pd.DataFrame({"rank": range(1, len(order) + 1), "segment": order,
                             "label": [labels.get(s, s) for s in order],
                             "mean_rfm_score": [float(mean.get(s, float("nan"))) for s in order]})

    def transition_matrix(self, prev: str, curr: str, order: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:func:`~rfm_helpers.tracking.frames.transition_matrix` of months ``prev`` -> ``curr``."""
        pair = self._pair(prev, curr)
        counts = pair.pivot_table(index="from", columns="to", values="customers", aggfunc="sum", fill_value=0)
        rows = [s for s in order if s in counts.index] + [r for r in sorted(counts.index) if r not in order]
        cols = [s for s in order if s in counts.columns] + [c for c in sorted(counts.columns) if c not in order]
        counts = counts.reindex(index=rows, columns=cols, fill_value=0).astype("int64")
        counts.index.name, counts.columns.name = "last month", "this month"
        shares = counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0).fillna(0.0)
        return counts, shares

    def segment_history(self) -> pd.DataFrame:
        """:func:`~rfm_helpers.tracking.frames.segment_history`."""
        s = self.segments[self.segments["month"].isin(self.months)]
        total = s.groupby("month")["customers"].transform("sum")
        out = pd.DataFrame({"month": s["month"], "segment": s["segment"].astype(str),
                            "customers": s["customers"].astype("int64"), "month_spend": s["month_spend"],
                            "monetary": s["monetary"], "share": s["customers"] / total.clip(lower=1)})
        return out.reset_index(drop=True)

    def movements(self, prev: str, curr: str, order: list[str]) -> dict[str, int]:
        """:func:`~rfm_helpers.tracking.frames.movements`."""
        pair = self._pair(prev, curr)
        rank = {s: i for i, s in enumerate(order)}
        r_from, r_to = pair["from"].map(rank), pair["to"].map(rank)
        known = r_from.notna() & r_to.notna()
        n = pair["customers"]
        return {"up": int(n[known & (r_to < r_from)].sum()), "down": int(n[known & (r_to > r_from)].sum()),
                "same": int(n[known & (r_to == r_from)].sum()), "new": int(n[pair["from"] == NEW].sum())}

    def movement_history(self, order: list[str]) -> pd.DataFrame:
        """:func:`~rfm_helpers.tracking.frames.movement_history`."""
        rows = [{"month": b, **self.movements(a, b, order)} for a, b in zip(self.months, self.months[1:])]
        return pd.DataFrame(rows, columns=["month", "up", "down", "same", "new"])

    def churn_flows(self, churn: list[str] | None = None, months: list[str] | None = None) -> pd.DataFrame:
        """:func:`~rfm_helpers.tracking.frames.churn_flows` (over ``months``, default all)."""
        months = list(months or self.months)
        present = self.segments[self.segments["month"].isin(months)]
        churn = churn if churn is not None else churn_segments(sorted(set(present["segment"])))
        rows = []
        for a, b in zip(months, months[1:]):
            pair = self._pair(a, b)
            was, now = pair["from"].isin(churn), pair["to"].isin(churn)
            n = pair["customers"]
            m = self._month(b)
            rows.append({"month": b, "entered_churn": int(n[now & ~was & (pair["from"] != NEW)].sum()),
                         "returned": int(n[was & ~now].sum()),
                         "in_churn": int(m.loc[m["segment"].isin(churn), "customers"].sum())})
        return pd.DataFrame(rows, columns=["month", "entered_churn", "returned", "in_churn"])

    def _moved(self, prev: str, curr: str, order: list[str]) -> pd.DataFrame:
        pair = self.pair_money(prev, curr)
        high = set(order[: max(1, len(order) // 2)])
        target = set(churn_segments(order)) | set(at_risk_segments(order))
        return pair[pair["from"].isin(high) & pair["to"].isin(target) & (pair["from"] != pair["to"])]

    def key_flows(self, prev: str, curr: str, order: list[str], top: int = 5) -> pd.DataFrame:
        """:func:`~rfm_helpers.tracking.frames.key_flows`."""
        moved = self._moved(prev, curr, order)
        if moved.empty:
            return pd.DataFrame(columns=["from", "to", "customers", "value_at_stake", "kind"])
        churn = set(churn_segments(order))
        g = moved.sort_values(["from", "to"]).rename(columns={"monetary_before": "value_at_stake"})
        g = g[["from", "to", "customers", "value_at_stake"]].reset_index(drop=True)
        g["customers"] = g["customers"].astype("int64")
        g["kind"] = g["to"].map(lambda s: "churn" if s in churn else "at risk")
        return g.sort_values(["value_at_stake", "customers"], ascending=False).head(top).reset_index(drop=True)

    def headline(self, order: list[str]) -> dict[str, Any]:
        """:func:`~rfm_helpers.tracking.frames.headline`."""
        pair = self._last_two()
        if pair is None:
            return {"months_tracked": len(self.months)}
        return headline_figures(len(self.months), self.movements(*pair, order), self.churn_flows(months=list(pair)),
                                self.key_flows(*pair, order, top=1))

    def month_findings(self, order: list[str], top: int = 3) -> list[tuple[str, dict[str, Any]]]:
        """:func:`~rfm_helpers.tracking.frames.month_findings` (codes with values)."""
        pair = self._last_two()
        if pair is None:
            return [("one_month", {})]
        return finding_codes(pair, self.movements(*pair, order), self.churn_flows(months=list(pair)),
                             churn_segments(order), self.key_flows(*pair, order, top=top))

    def segment_figures(self, order: list[str], map_name: str) -> dict[str, Any]:
        """The figures of :func:`rfm_helpers.report.executive.segment_figures` (this month's and
        last month's segments in value order, and the moves from the more valuable half into
        at-risk or churn segments) from the aggregates."""
        if not self.months:
            return {"map": map_name, "month": None, "previous_month": None, "order": list(order), "segments": [],
                    "moved_to_risk": None}
        names = {"month_spend": "revenue", "monetary": "spend_to_date"}
        now = self._month(self.months[-1]).set_index("segment").rename(columns=names)
        pair = self._last_two()
        before = self._month(pair[0]).set_index("segment").rename(columns=names) if pair else None
        rows = segment_rows(now, before, order)
        moved = None
        if pair is not None:
            mv = self._moved(*pair, list(order))
            by = mv.groupby(mv["to"].astype(str))[["customers", "monetary_before"]].sum()
            moved = moved_to_risk(int(mv["customers"].sum()), float(mv["monetary_before"].sum()),
                                  by.rename(columns={"monetary_before": "spend_to_date"}))
        return {"map": map_name, "month": self.months[-1], "previous_month": pair[0] if pair else None,
                "order": list(order), "segments": rows, "moved_to_risk": moved}

    # ------------------------------------------------------------------ customers (export)
    def flow_customers(self, prev: str, curr: str, order: list[str]) -> Any:
        """The customers behind :meth:`key_flows` (for the export file, never for the report):
        ``customer_id``, ``from``, ``to``, ``monetary_before``, ``recency_days`` now, written by
        the engine to a temporary Parquet file (removed with this object) and returned as a
        ``pyarrow.dataset.Dataset`` (``count_rows()``; the export writer scans it in place)."""
        import pyarrow.dataset as ds

        self._pair(prev, curr)
        high = [s for s in order[: max(1, len(order) // 2)]]
        target = sorted(set(churn_segments(order)) | set(at_risk_segments(order)))
        inn = lambda xs: "(" + ", ".join(_lit(x) for x in xs) + ")" if xs else "(NULL)"  # noqa: E731
        sql = (f"SELECT c.customer_id, p.segment AS \"from\", c.segment AS \"to\", p.monetary AS monetary_before, "
               f"c.recency_days FROM {_files_sql([self.paths[prev]])} AS p JOIN {_files_sql([self.paths[curr]])} AS c "
               f"ON p.customer_id = c.customer_id WHERE p.segment IN {inn(high)} AND c.segment IN {inn(target)} "
               f"AND p.segment <> c.segment ORDER BY monetary_before DESC, c.customer_id")
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="rfm_tracking_")
            weakref.finalize(self, shutil.rmtree, self._tmp, True)
        path = Path(self._tmp) / f"flow_{prev}_{curr}_{uuid.uuid4().hex[:8]}.parquet"
        self.engine.con.execute(f"COPY ({sql}) TO {_lit(path)} (FORMAT PARQUET)")
        return ds.dataset(path, format="parquet")
