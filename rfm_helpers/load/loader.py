"""``load_transactions``: read (a registered reader), parse per column, apply the row rules,
account for every row.

Two kinds of problems are told apart: **the source as a whole is wrong** (unknown spec key,
missing column, wrong separator, ambiguous dates or amounts, several currencies, unknown
statuses, most dates unreadable...): nothing is loaded and :class:`DataValidationError`
names the data file as the user wrote it, the column, example lines and the option that
resolves it; **single rows are wrong**: they are set aside with a reason code
(:data:`~rfm_helpers.load.result.REASONS`) and the rest is kept. Rows in = rows kept + rows
set aside, always.
"""
from __future__ import annotations

import datetime as dt
import difflib
import os
import shutil
import tempfile
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .parsing import Built, build_rows
from .read_typed import materialise, parquet_in_place, to_text_column as _to_text_column
from .readers import RawTable, read_table
from .result import (REASONS, SET_ASIDE_NOT_LOST, DataValidationError, Freshness, LoadResult, Remark,
                     STALE_AFTER_DAYS, clean_frame)
from .rules import LAYOUT_SQL, decide_level, rules_sql
from .spec import CleaningRules, SourceSpec, spec_from

REQUIRED = ("customer_id", "order_date", "amount")
OPTIONAL = ("order_id", "status", "refund_of", "currency", "channel", "quantity")


def _resolve_columns(raw: RawTable, spec: SourceSpec, label: str, remarks: list[Remark]) -> dict[str, str]:
    found = list(raw.header)
    mapping = {k: v for k, v in spec.columns.model_dump().items() if v is not None}
    resolved: dict[str, str] = {}
    problems = []
    for target in REQUIRED + OPTIONAL:
        wanted = mapping.get(target, target if target in REQUIRED or target in found else None)
        if wanted is None:
            continue
        wanted = str(wanted).strip()
        if wanted in found:
            resolved[target] = wanted
            continue
        ci = [c for c in found if c.casefold() == wanted.casefold()]
        if len(ci) == 1:
            resolved[target] = ci[0]
            remarks.append(Remark("column_case_matched", {"column": wanted, "found": ci[0]}))
            continue
        if target in REQUIRED or target in mapping:
            close = difflib.get_close_matches(wanted, found, n=1, cutoff=0.5) or difflib.get_close_matches(
                wanted.casefold(), [c.casefold() for c in found], n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            how = f"columns.{target}" if target in mapping else f"columns: {{{target}: ...}}"
            problems.append(f"expected column {wanted!r} (for {target}, set with {how}) not found.{hint}")
    if problems:
        shown = ", ".join(repr(c) for c in found[:30])
        msg = f"{label}: " + " ".join(problems) + f" Columns found: {shown}."
        if len(found) == 1:
            msg += (" Only one column was found: the separator is probably wrong (csv.sep: auto, ';', ',' or "
                    "'\\t').")
        raise DataValidationError(msg)
    return resolved


def _examples(con: duckdb.DuckDBPyConnection, raw_col: str, where: str, k: int = 5) -> str:
    from .sqltext import ident

    from .parsing import src

    rows = con.execute(f"SELECT r.source_row, CAST(w.{ident(src(raw_col))} AS VARCHAR) FROM rows r JOIN raw w "
                       f"ON r.__i = w.__i WHERE {where} ORDER BY r.source_row LIMIT {k}").fetchall()
    return ", ".join(f"line {n}: {v!r}" for n, v in rows)


def _whole_column_checks(con: duckdb.DuckDBPyConnection, cols: dict[str, str], spec: SourceSpec,
                         label: str) -> None:
    rules = spec.cleaning
    base = "NOT is_repeated_header AND NOT is_total_row"
    n_rows, no_id, no_date, bad_date, no_amount, bad_amount, sci = con.execute(f"""
        SELECT count(*) FILTER (WHERE {base}),
               count(*) FILTER (WHERE {base} AND customer_id_issue = 'missing'),
               count(*) FILTER (WHERE {base} AND date_issue = 'missing'),
               count(*) FILTER (WHERE {base} AND customer_id_issue IS NULL AND date_issue IN ('unreadable', 'ambiguous')),
               count(*) FILTER (WHERE {base} AND amount_issue = 'missing'),
               count(*) FILTER (WHERE {base} AND customer_id_issue IS NULL AND date_issue IS NULL
                                AND amount_issue = 'unreadable'),
               count(*) FILTER (WHERE {base} AND customer_id_issue = 'scientific')
        FROM rows""").fetchall()[0]
    if n_rows and no_id == n_rows:
        raise DataValidationError(f"{label}: column {cols['customer_id']!r} (customer_id) is empty in every row")
    if n_rows and no_date == n_rows:
        raise DataValidationError(f"{label}: column {cols['order_date']!r} (order_date) is empty in every row")
    if n_rows and no_amount == n_rows:
        raise DataValidationError(f"{label}: column {cols['amount']!r} (amount) is empty in every row")
    readable = con.execute(f"SELECT count(*) FROM rows WHERE {base} AND date_issue IS NULL").fetchall()[0][0]
    if n_rows and readable == 0:
        fmt = f" with dates.format {spec.dates.format!r}" if spec.dates.format else ""
        raise DataValidationError(
            f"{label}: column {cols['order_date']!r} (order_date): none of the values could be read as a "
            f"date{fmt}; examples: {_examples(con, cols['order_date'], f'{base} AND date_issue IS NOT NULL')}")
    numbers = con.execute(f"SELECT count(*) FROM rows WHERE {base} AND amount_issue IS NULL").fetchall()[0][0]
    if n_rows and numbers == 0:
        raise DataValidationError(
            f"{label}: column {cols['amount']!r} (amount): none of the values is a number; examples: "
            f"{_examples(con, cols['amount'], f'{base} AND amount_issue IS NOT NULL')}")

    def share(bad: int, considered: int, col: str, target: str, what: str, hint: str, where: str) -> None:
        if considered >= rules.min_rows_for_share_check and bad > rules.max_bad_share * considered:
            raise DataValidationError(
                f"{label}: column {col!r} ({target}): {bad:,} of {considered:,} {what} ({bad / considered:.0%}) "
                f"cannot be read, more than the {rules.max_bad_share:.0%} allowed: probably a wrong format "
                f"option ({hint}); examples: {_examples(con, col, where)}")

    considered = con.execute(f"SELECT count(*) FROM rows WHERE {base} AND customer_id_issue IS NULL").fetchall()[0][0]
    share(bad_date, considered, cols["order_date"], "order_date", "dates", "check dates.format / dates.order",
          f"{base} AND customer_id_issue IS NULL AND date_issue IN ('unreadable', 'ambiguous')")
    considered_a = con.execute(f"SELECT count(*) FROM rows WHERE {base} AND customer_id_issue IS NULL "
                               "AND date_issue IS NULL").fetchall()[0][0]
    share(bad_amount, considered_a, cols["amount"], "amount", "amounts",
          "check amounts.decimal / amounts.thousands",
          f"{base} AND customer_id_issue IS NULL AND date_issue IS NULL AND amount_issue = 'unreadable'")
    share(sci, n_rows - no_id, cols["customer_id"], "customer_id", "customer ids",
          "ids saved by Excel in scientific notation such as 7,70117E+11 have lost digits: export the column "
          "as text", f"{base} AND customer_id_issue = 'scientific'")


def load_transactions(source: Any, analysis_date: Any = None, *, rules: CleaningRules | None = None,
                      clean_path: str | os.PathLike | None = None, kind: str = "TABLE") -> LoadResult:
    """Read, check and clean transactions.

    ``source``: a :class:`~rfm_helpers.load.spec.SourceSpec`, a spec dict (as written in
    YAML), a file path (format from the suffix and content, columns named canonically) or a
    pandas DataFrame. ``analysis_date`` (inclusive): rows dated after it are set aside, and
    :attr:`LoadResult.freshness` says how far before it the data end. ``rules`` override
    the spec's ``cleaning`` block. Raises :class:`DataValidationError` when the source as a
    whole cannot be used.

    ``clean_path``: write the kept rows straight from DuckDB to this Parquet file (streamed, in
    source order) instead of building them in pandas; the result's
    :attr:`~rfm_helpers.load.LoadResult.clean_file` names it and ``clean`` is read from it on
    first use only (a Spark source is brought back in pandas and then written there).
    """
    spec = spec_from(source)
    if rules is not None:
        spec = spec.model_copy(update={"cleaning": rules})
    label = spec.data_label
    bundled = bool(getattr(spec, "_bundled", False))
    as_of = _as_date(analysis_date)
    if spec.effective_format() == "spark":  # read and cleaned inside Spark, kept rows brought back
        from .spark_source import load_spark

        result = load_spark(spec, as_of)
        if clean_path is not None:
            result.store_clean(clean_path)
        return result
    mapping = {k: v for k, v in spec.columns.model_dump().items() if v}
    wanted = list(mapping.values()) or list(REQUIRED)
    # an exact-repeat check (order id mapped) compares whole rows: then every column is needed
    keep = None if ("order_id" in mapping and spec.cleaning.dedupe_with_order_id) else \
        [mapping.get(t, t) for t in REQUIRED + OPTIONAL]
    clock = _Clock()
    raw = read_table(spec, wanted, keep, in_place=True)
    remarks: list[Remark] = list(raw.remarks)
    cols = _resolve_columns(raw, spec, label, remarks)
    if raw.parquet is not None and not parquet_in_place(raw, cols):
        raw = materialise(raw, label)
    clock("read")
    # DuckDB works within a small memory budget and spills to a private temporary folder (never
    # the working directory, which may be the notebooks folder): a 3e6-row export stays under 1 GB
    spill = tempfile.mkdtemp(prefix="rfm-load-")
    con = duckdb.connect(config={"threads": max(1, min(4, os.cpu_count() or 2)),
                                 "memory_limit": os.environ.get("RFM_LOAD_DUCKDB_MEMORY", "256MB"),
                                 "temp_directory": spill, "preserve_insertion_order": True})
    try:
        built = build_rows(con, raw, cols, spec, label, bundled)
        clock("parse")
        remarks += built.remarks
        _whole_column_checks(con, cols, spec, label)
        if raw.refetch is not None and raw.parquet is None:  # the text columns are not needed any more: free them
            con.unregister("raw")
            raw.table = raw.table.select([])
            pa.default_memory_pool().release_unused()
        layouts = {r[0]: (int(r[1]), int(r[2])) for r in con.execute(LAYOUT_SQL.format(rows="rows")).fetchall()} \
            if "order_id" in cols else {}
        level, evidence = decide_level(layouts, spec.amounts.level, "order_id" in cols, label, cols["amount"],
                                       lambda r: r)
        sql = rules_sql(as_of=as_of, level=level, returns=spec.returns.policy,
                        quarantine_zero=spec.cleaning.quarantine_zero,
                        dedupe=spec.cleaning.dedupe_with_order_id, has_refund_of="refund_of" in cols,
                        has_status="status" in cols, has_order_id="order_id" in cols,
                        passthrough=tuple(t for t in ("order_id", "channel", "quantity") if t in built.columns))
        # without an order id every rule is row-local: the outcome is a view over ``rows`` (each of
        # the few passes below recomputes it, cheaper than writing a second copy of every row)
        kind = "VIEW" if "order_id" not in cols else "TABLE"
        con.execute(f"CREATE OR REPLACE TEMP {kind} outcome AS {sql}")
        clock("rules")
        result = _result(con, raw, cols, spec, built, remarks, as_of, label, clean_path, kind)
        clock("result")
        result.timings = clock.laps
        return result
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


class _Clock:
    """Seconds and peak memory (MB, this process so far) per phase of a load."""

    def __init__(self) -> None:
        import time

        self._time = time.perf_counter
        self._last = self._time()
        self.laps: dict[str, dict[str, float]] = {}

    def __call__(self, name: str) -> None:
        import resource

        now = self._time()
        self.laps[name] = {"seconds": round(now - self._last, 3),
                           "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        self._last = now


def _as_date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError(f"analysis date {value!r} is not a date")
    return ts.date()


def _result(con: duckdb.DuckDBPyConnection, raw: RawTable, cols: dict[str, str], spec: SourceSpec, built: Built,
            remarks: list[Remark], as_of: dt.date | None, label: str,
            clean_path: str | os.PathLike | None = None, kind: str = "TABLE") -> LoadResult:
    scale = 10 ** built.digits
    extra = [t for t in ("order_id", "channel", "quantity") if t in built.columns]
    q = con.sql("SELECT __i, source_row, reason, reason_detail, reason_value FROM outcome "
                "WHERE reason IS NOT NULL ORDER BY source_row").to_arrow_table()
    rows_in = raw.num_rows
    _outcome_remarks(con, cols, spec, built, remarks, scale, q.num_rows)
    first_all, last_all = con.execute("SELECT min(order_date), max(order_date) FROM rows WHERE date_issue IS NULL "
                                      "AND NOT is_total_row AND NOT is_repeated_header").fetchall()[0]
    lost = 0
    if q.num_rows:
        lost = con.execute(f"""SELECT count(DISTINCT o.customer_id) FROM outcome o
            WHERE o.reason IS NOT NULL AND o.reason NOT IN ({', '.join(repr(x) for x in SET_ASIDE_NOT_LOST)})
              AND o.customer_id IS NOT NULL
              AND o.customer_id NOT IN (SELECT customer_id FROM outcome WHERE reason IS NULL
                                        AND customer_id IS NOT NULL)""").fetchall()[0][0]
    if kind == "TABLE":
        con.execute("DROP TABLE rows")
    sel = ", ".join(["customer_id", "order_date", f"CAST(amount_final AS DOUBLE) / {scale} AS amount", "source_row"]
                    + extra)
    clean = None
    if clean_path is None:
        clean_arrow = con.sql(f"SELECT {sel} FROM outcome WHERE reason IS NULL").to_arrow_table()
        order = clean_arrow.column("source_row").to_numpy()
        if len(order) > 1 and not (np.diff(order) > 0).all():  # windows (order ids) may reorder rows
            clean_arrow = clean_arrow.take(pa.compute.sort_indices(clean_arrow.column("source_row")))
        clean_arrow = clean_arrow.drop_columns(["source_row"])
        con.execute(f"DROP {kind} outcome")
        clean = clean_frame(clean_arrow)
        kept, channel_empty = len(clean), "channel" in clean.columns and bool(clean["channel"].isna().all())
        first, last = (clean["order_date"].min(), clean["order_date"].max()) if kept else (None, None)
    else:  # straight from DuckDB to the file: the kept rows never exist in pandas
        kept, n_channel, first, last = con.execute(
            f"SELECT count(*), {'count(channel)' if 'channel' in extra else '0'}, min(order_date), max(order_date) "
            "FROM outcome WHERE reason IS NULL").fetchall()[0]
        channel_empty = "channel" in extra and n_channel == 0
        if channel_empty and kept:
            extra.remove("channel")
        _copy_clean(con, ", ".join(["customer_id", "order_date",
                                    f"CAST(amount_final AS DOUBLE) / {scale} AS amount"] + extra), clean_path,
                    in_order="order_id" not in cols)
        con.execute(f"DROP {kind} outcome")
    quarantine = pd.DataFrame({
        "source_row": q.column("source_row").to_numpy().astype("int64"),
        "reason": pd.array(q.column("reason").to_pylist(), dtype="string"),
        "reason_detail": pd.array(q.column("reason_detail").to_pylist(), dtype="string"),
        "reason_value": pd.array(q.column("reason_value").to_pylist(), dtype="string"),
    })
    positions = q.column("__i").to_numpy()
    if q.num_rows and raw.refetch is not None:
        texts = raw.refetch(positions)
        order = pd.Series(range(len(positions)), index=positions).sort_index().to_numpy()
        texts = {k: [v[i] for i in np.argsort(order)] for k, v in texts.items()}
    elif q.num_rows:
        taken = raw.table.take(pa.array(positions))
        texts = {name: _to_text_column(taken.column(name)) for name in raw.header}
    for name in raw.header:
        out_name = name if name not in quarantine.columns else f"raw_{name}"
        quarantine[out_name] = texts[name] if q.num_rows else pd.array([], dtype="string")
    # channel empty in every row: dropped with a remark
    if channel_empty and kept:
        if clean is not None:
            clean = clean.drop(columns="channel")
        remarks.append(Remark("channel_empty", {"column": cols["channel"]}))
    # freshness and data range
    data_range = (first_all.date() if first_all else None, last_all.date() if last_all else None)
    freshness = None
    if kept:
        first, last = pd.Timestamp(first).date(), pd.Timestamp(last).date()
        days = (as_of - last).days if as_of else 0
        stale = bool(as_of and days > STALE_AFTER_DAYS)
        freshness = Freshness(as_of, first, last, days if as_of else None, stale)
        if stale:
            remarks.append(Remark("stale_data", {"last_date": last, "analysis_date": as_of, "days": days,
                                                 "threshold": STALE_AFTER_DAYS}, "high"))
    elif as_of:
        freshness = Freshness(as_of, None, None, None, False)
    return LoadResult(clean=None if clean is None else clean.reset_index(drop=True), quarantine=quarantine,
                      rows_in=rows_in, rows_kept=int(kept), rows_quarantined=len(quarantine),
                      source_name=spec.display_name, remarks=remarks, column_map=dict(cols), currency=built.currency,
                      freshness=freshness, data_range=data_range, customers_lost=int(lost), statuses=built.statuses,
                      clean_file=None if clean_path is None else str(clean_path))


def _copy_clean(con: duckdb.DuckDBPyConnection, sel: str, path: str | os.PathLike, in_order: bool = False) -> None:
    """Write the kept rows of ``outcome`` in source order to ``path`` (Parquet) from DuckDB,
    atomically (a temporary file renamed into place). ``in_order``: ``outcome`` is already in
    source order (no order id: the rules have no window that could move rows, and the connection
    preserves insertion order from the read on), so no sort is needed (at 1e7 rows the sort
    within the loader's memory budget was most of the write)."""
    from .sqltext import lit

    target = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    tmp = f"{target}.{os.getpid()}.tmp"
    order = "" if in_order else " ORDER BY source_row"
    con.execute(f"COPY (SELECT {sel} FROM outcome WHERE reason IS NULL{order}) "
                f"TO {lit(tmp)} (FORMAT parquet)")
    os.replace(tmp, target)


def _outcome_remarks(con: duckdb.DuckDBPyConnection, cols: dict[str, str], spec: SourceSpec, built: Built,
                     remarks: list[Remark], scale: int, set_aside: int) -> None:
    stats = {r[0]: r[1:] for r in con.execute("""
        SELECT o.reason, count(*), count(DISTINCT o.reason_value), sum(r.amount_minor)
        FROM outcome o JOIN rows r ON r.__i = o.__i WHERE o.reason IS NOT NULL GROUP BY o.reason""").fetchall()} \
        if set_aside else {}

    def money(v: Any) -> float:
        return round(float(v or 0) / scale, 10)

    if "total_row" in stats:
        remarks.append(Remark("totals_rows", {"count": int(stats["total_row"][0])}, "warning"))
    if "order_total_repeated" in stats:
        n, orders, _ = stats["order_total_repeated"]
        remarks.append(Remark("order_total_repeated", {"orders": int(orders), "rows": int(n)}, "warning"))
    if "order_continuation" in stats:
        n, orders, _ = stats["order_continuation"]
        remarks.append(Remark("order_continuation", {"orders": int(orders), "rows": int(n)}, "warning"))
    if "refund_netted" in stats:
        n, orders, amount = stats["refund_netted"]
        remarks.append(Remark("refunds_netted", {"orders": int(orders), "rows": int(n), "amount": -money(amount)},
                              "warning"))
    if "refunded_order" in stats:
        n, orders, amount = stats["refunded_order"]
        remarks.append(Remark("orders_fully_refunded", {"orders": int(orders), "amount": money(amount)}, "warning"))
    if "return_or_cancellation" in stats:
        n, _, amount = stats["return_or_cancellation"]
        remarks.append(Remark("unlinked_returns", {"rows": int(n), "amount": -money(amount)}, "warning"))
    if spec.returns.policy == "keep":
        n, amount = con.execute("SELECT count(*), sum(amount_final) FROM outcome WHERE reason IS NULL "
                                "AND amount_final < 0").fetchall()[0]
        if n:
            remarks.append(Remark("returns_kept", {"rows": int(n), "amount": -money(amount)}, "warning"))
    rounded = con.execute("SELECT count(*) FROM rows WHERE amount_rounded").fetchall()[0][0]
    if rounded:
        remarks.append(Remark("amount_rounded", {"column": cols["amount"], "count": int(rounded),
                                                 "digits": built.digits, "currency": built.currency or ""},
                              "warning"))
    if "quantity_bad" in built.columns:
        bad = con.execute("SELECT count(*) FROM rows WHERE quantity_bad").fetchall()[0][0]
        if bad:
            remarks.append(Remark("quantity_not_numbers", {"column": cols["quantity"], "count": int(bad)}))
    factor = spec.cleaning.outlier_factor
    if factor:
        # the exact median from the distinct amounts and their counts: DuckDB's median() holds every
        # value in memory (it failed at 1e7 rows within the loader's memory budget); a grouped
        # count spills, and the distinct amounts of real data are few. Middle two values averaged
        # for an even count, as pandas (and the Spark source path) do.
        n_pos = con.execute("SELECT count(*) FROM outcome WHERE reason IS NULL AND amount_final > 0").fetchall()[0][0]
        med = None
        if n_pos >= 10:
            lo, hi = (n_pos - 1) // 2 + 1, n_pos // 2 + 1
            med = con.execute(f"""WITH d AS (SELECT amount_final AS v, count(*) AS c FROM outcome
                                             WHERE reason IS NULL AND amount_final > 0 GROUP BY 1),
                s AS (SELECT v, sum(c) OVER (ORDER BY v) AS cum FROM d)
                SELECT (CAST(min(v) FILTER (WHERE cum >= {lo}) AS DOUBLE)
                        + CAST(min(v) FILTER (WHERE cum >= {hi}) AS DOUBLE)) / 2 FROM s""").fetchall()[0][0]
        if n_pos >= 10 and med:
            big, largest, row = con.execute(f"""SELECT count(*) FILTER (WHERE amount_final > {factor} * {med}),
                max(amount_final), arg_max(source_row, amount_final) FROM outcome WHERE reason IS NULL""").fetchall()[0]
            if big:
                remarks.append(Remark("outliers", {"count": int(big), "factor": factor, "median": money(med),
                                                   "largest": money(largest), "row": int(row)}, "warning"))


def assert_usable(result: LoadResult, analysis_date: dt.date | None) -> None:
    """Refuse a load that leaves nothing to analyse: no transactions on or before the
    analysis date (naming the data's date range) or no usable row at all."""
    if result.rows_kept:
        return
    first, last = result.data_range
    counts = ", ".join(f"{k}: {v:,}" for k, v in result.reason_counts().items())
    if analysis_date is not None and last is not None and first is not None and first > analysis_date:
        raise DataValidationError(
            f"{result.source_name}: no transactions on or before the analysis date {analysis_date.isoformat()}; "
            f"the data run from {first.isoformat()} to {last.isoformat()}. Choose an analysis date in that range.")
    raise DataValidationError(f"{result.source_name}: no usable transactions: all {result.rows_in:,} rows were set "
                              f"aside ({counts})")


__all__ = ["load_transactions", "assert_usable", "REASONS"]
