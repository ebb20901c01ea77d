"""``format: spark``: transactions read by Spark, cleaned inside Spark, kept rows brought back.

A source spec such as::

    format: spark
    currency: RUB
    spark:
      master: spark://head:7077          # else the environment variable RFM_SPARK_MASTER
      table: sales.orders                # or path: /data/orders.parquet (Parquet/ORC/CSV/Delta)
      conf: {spark.executor.memory: 1g}
      time_zone: Europe/Moscow           # only for TIMESTAMP (instant) order dates
    columns: {customer_id: client, order_date: day, amount: total, order_id: doc}

is loaded by :func:`load_spark`: the run starts a Spark session (or uses the one already
running in this Python process, which it then leaves running), reads the table, renames the
mapped columns to the canonical names, applies the loader's row rules **in Spark**
(:func:`~rfm_helpers.load.engine_rules.clean_in_engine`: the same rules text as the file
loader), and stops the session it started. The kept rows' canonical columns and the set-aside
rows come back to Python (Arrow) as a :class:`~rfm_helpers.load.LoadResult`, because the
monthly notebooks still score RFM on pandas: that is the current limit (the driver must hold
the kept transactions).

Typed sources carry no text to parse: amounts must be numbers, order dates DATE or TIMESTAMP
(instants need ``spark.time_zone``), ids plain; a CSV path read by Spark is accepted when its
amounts read as numbers without a guess (plain digits with a point), else refused. ``source_row``
of a set-aside row is Spark's row id plus one (file order within each split), not a line number.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .result import DataValidationError, Freshness, LoadResult, Remark, STALE_AFTER_DAYS
from .spec import SPARK_MASTER_ENV, SourceSpec

__all__ = ["spark_session", "read_spark_frame", "load_spark"]

_REQUIRED = ("customer_id", "order_date", "amount")
_OPTIONAL = ("order_id", "status", "refund_of", "channel", "quantity")
_SESSION_DEFAULTS = {"spark.ui.showConsoleProgress": "false"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _where(spec: SourceSpec) -> str:
    """Messages name the spec file (when there is one) and the Spark data."""
    label = spec.spark.label
    return f"{spec._spec_file} ({label})" if spec._spec_file else label


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:400] if text else type(e).__name__


@contextlib.contextmanager
def spark_session(spec: SourceSpec) -> Iterator[Any]:
    """The Spark session of a run: a session already running in this process is used and left
    running (its master must be the one asked for); otherwise one is started with
    ``spark.master`` (or :data:`~rfm_helpers.load.spec.SPARK_MASTER_ENV`), ``spark.app_name``
    and ``spark.conf``, and stopped on exit, also when the load fails."""
    opts, where = spec.spark, _where(spec)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise DataValidationError(f"{where}: format: spark needs PySpark (pip install 'rfm-template[spark]') "
                                  "and Java") from None
    master = opts.master or os.environ.get(SPARK_MASTER_ENV) or None
    setting = "spark.master" if opts.master else f"environment variable {SPARK_MASTER_ENV}"
    active = SparkSession.getActiveSession()
    if active is not None:
        running = active.sparkContext.master
        if master and running != master:
            raise DataValidationError(
                f"{where}: {setting} is {master!r} but this Python process already runs a Spark session on "
                f"{running!r}; stop it (spark.stop()) or use its master")
        for key, value in opts.conf_strings().items():
            try:
                if active.conf.get(key, None) != value:
                    active.conf.set(key, value)
            except Exception as e:  # noqa: BLE001 - static settings cannot change in a running session
                raise DataValidationError(f"{where}: spark.conf.{key} cannot be changed in the Spark session already "
                                          f"running in this process ({_first_line(e)})") from None
        yield active
        return
    if not master:
        raise DataValidationError(
            f"{where}: no Spark master: name it in spark.master (spark://host:7077, local[2], yarn...) or in the "
            f"environment variable {SPARK_MASTER_ENV}")
    builder = SparkSession.builder.master(master).appName(opts.app_name)
    # no progress bars drawn over the run's own output (spark.conf may turn them back on)
    for key, value in {**_SESSION_DEFAULTS, **opts.conf_strings()}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - Py4J/JVM errors: say which setting started it
        raise DataValidationError(f"{where}: the Spark session could not start with {setting} {master!r} "
                                  f"({_first_line(e)})") from None
    try:
        yield session
    finally:
        session.stop()


def _spark_path(spec: SourceSpec) -> str:
    path = str(spec.spark.path)
    if _SCHEME.match(path) or path.startswith("file:"):
        return path
    p = Path(path).expanduser()
    if not p.is_absolute() and spec._base_dir is not None:
        p = spec._base_dir / p
    return str(p)


def _file_format(spec: SourceSpec, path: str) -> str:
    fmt = spec.spark.file_format
    if fmt != "auto":
        return fmt
    plain = path.split("://", 1)[-1].rstrip("/")
    suffix = Path(plain).suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix == ".orc":
        return "orc"
    if not _SCHEME.match(path) and (Path(plain) / "_delta_log").is_dir():
        return "delta"
    return "parquet"


def _read(session: Any, spec: SourceSpec) -> Any:
    opts, where = spec.spark, _where(spec)
    if opts.table:
        try:
            return session.table(opts.table)
        except Exception as e:  # noqa: BLE001 - AnalysisException: table or view not found
            raise DataValidationError(f"{where}: spark.table {opts.table!r} cannot be read from the session's "
                                      f"catalog ({_first_line(e)})") from None
    path = _spark_path(spec)
    fmt = _file_format(spec, path)
    if not _SCHEME.match(path) and not Path(path).exists():
        raise DataValidationError(f"{where}: spark.path {opts.path!r} not found (looked for {path})")
    try:
        if fmt in ("parquet", "csv"):
            from ..engine import SparkEngine

            df, _ = SparkEngine(session)._read_files(path)  # Parquet: nanosecond timestamps refused first
            return df
        return session.read.format(fmt).load(path)
    except ValueError as e:
        raise DataValidationError(f"{where}: spark.path: {e}") from None
    except Exception as e:  # noqa: BLE001 - Spark's own errors (missing Delta jars, unreadable files)
        raise DataValidationError(f"{where}: spark.path {opts.path!r} cannot be read as {fmt} "
                                  f"(spark.file_format; {_first_line(e)})") from None


def _columns(df: Any, spec: SourceSpec) -> dict[str, str]:
    """canonical name -> source column, like the file loader resolves them (exact name, then
    the only case-insensitive match)."""
    found = list(df.columns)
    mapping = {k: v for k, v in spec.columns.model_dump().items() if v is not None}
    out, problems = {}, []
    for target in _REQUIRED + _OPTIONAL:
        wanted = mapping.get(target, target if target in _REQUIRED or target in found else None)
        if wanted is None:
            continue
        if wanted in found:
            out[target] = wanted
            continue
        ci = [c for c in found if c.casefold() == str(wanted).casefold()]
        if len(ci) == 1:
            out[target] = ci[0]
            continue
        close = difflib.get_close_matches(str(wanted), found, n=1, cutoff=0.5)
        how = f"columns.{target}" if target in mapping else f"columns: {{{target}: ...}}"
        problems.append(f"expected column {wanted!r} (for {target}, set with {how}) not found."
                        + (f" Did you mean {close[0]!r}?" if close else ""))
    if problems:
        raise DataValidationError(f"{_where(spec)}: " + " ".join(problems)
                                  + f" Columns found: {', '.join(repr(c) for c in found[:30])}.")
    return out


_PLAIN_NUMBER = r"^\s*[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)\s*$"


def read_spark_frame(session: Any, spec: SourceSpec) -> tuple[Any, dict[str, str]]:
    """The Spark DataFrame of the spec with canonical column names, and the column map."""
    from pyspark.sql import functions as F

    df = _read(session, spec)
    cols = _columns(df, spec)
    picked = df.select([F.col(f"`{src}`").alias(canon) for canon, src in cols.items()])
    kind = dict(picked.dtypes)
    if kind["amount"] == "string":  # CSV read by Spark: only plain numbers, never a guessed decimal mark
        bad = picked.where(F.trim(F.col("amount")) != "").where(~F.col("amount").rlike(_PLAIN_NUMBER))
        examples = [r[0] for r in bad.select("amount").limit(5).collect()]
        if examples:
            raise DataValidationError(
                f"{_where(spec)}: column {cols['amount']!r} (amount) is text and holds values that are not plain "
                f"numbers, e.g. {examples}; the file loader reads such amounts (format: csv with amounts.decimal), "
                "Spark sources need numbers (a Parquet or table column of a number type)")
        picked = picked.withColumn("amount", F.when(F.trim(F.col("amount")) != "",
                                                      F.trim(F.col("amount")).cast("decimal(38,10)")))
    return picked, cols


def load_spark(spec: SourceSpec, as_of: dt.date | None) -> LoadResult:
    """Load a ``format: spark`` source (see the module docstring)."""
    from babel.numbers import get_currency_precision

    from ..engine import EngineDateError, SparkEngine
    from .engine_rules import clean_in_engine

    where = _where(spec)
    scale = get_currency_precision(spec.currency) if spec.currency else 2
    with spark_session(spec) as session:
        frame, cols = read_spark_frame(session, spec)
        engine = SparkEngine(session)
        try:
            try:
                done = clean_in_engine(engine, frame, as_of, scale=scale, time_zone=spec.spark.time_zone,
                                       level=spec.amounts.level, returns=spec.returns, cleaning=spec.cleaning,
                                       statuses=spec.statuses)
            except EngineDateError as e:
                raise DataValidationError(f"{where}: {e} In the source spec this is spark.time_zone.") from None
            except DataValidationError as e:
                raise DataValidationError(f"{where}: {e}") from None
            clean = done.clean.to_pandas(label="kept transactions (spark source)", kind="per_customer")
            quarantine = done.quarantine.to_pandas(label="set-aside rows (spark source)", kind="per_customer")
            largest = engine.scalar_rows(f"SELECT source_row FROM {done.outcome} WHERE reason IS NULL "
                                         "ORDER BY amount_final DESC, source_row LIMIT 1", label="largest amount")
        finally:
            engine.close()
    return _result(spec, done, clean, quarantine, cols, as_of, scale, largest[0][0] if largest else None)


def _outcome_remarks(spec: SourceSpec, clean: pd.DataFrame, q: pd.DataFrame, scale: int,
                     largest_row: int | None) -> list[Remark]:
    """The remarks the file loader draws from the rules' outcome, from the same numbers: orders
    whose totals repeat or continue, refunds netted, orders fully refunded, unlinked and kept
    returns, outliers (amounts above ``cleaning.outlier_factor`` times the median)."""
    out: list[Remark] = []

    def money(v: Any) -> float:
        return round(float(v or 0), scale + 2)

    def of(reason: str) -> pd.DataFrame:
        return q[q["reason"] == reason]

    for code in ("order_total_repeated", "order_continuation"):
        rows = of(code)
        if len(rows):
            out.append(Remark(code, {"orders": int(rows["reason_value"].nunique()), "rows": len(rows)}, "warning"))
    rows = of("refund_netted")
    if len(rows):
        out.append(Remark("refunds_netted", {"orders": int(rows["reason_value"].nunique()), "rows": len(rows),
                                             "amount": -money(rows["amount"].sum())}, "warning"))
    rows = of("refunded_order")
    if len(rows):
        out.append(Remark("orders_fully_refunded", {"orders": int(rows["reason_value"].nunique()),
                                                    "amount": money(rows["amount"].sum())}, "warning"))
    rows = of("return_or_cancellation")
    if len(rows):
        out.append(Remark("unlinked_returns", {"rows": len(rows), "amount": -money(rows["amount"].sum())}, "warning"))
    if spec.returns.policy == "keep":
        neg = clean.loc[clean["amount"] < 0, "amount"]
        if len(neg):
            out.append(Remark("returns_kept", {"rows": len(neg), "amount": -money(neg.sum())}, "warning"))
    factor = spec.cleaning.outlier_factor
    positive = clean.loc[clean["amount"] > 0, "amount"]
    if factor and len(positive) >= 10:
        med = float(positive.median())
        big = clean["amount"] > factor * med
        if med and big.any():
            out.append(Remark("outliers", {"count": int(big.sum()), "factor": factor, "median": money(med),
                                           "largest": money(clean["amount"].max()), "row": largest_row}, "warning"))
    return out


def _result(spec: SourceSpec, done: Any, clean: pd.DataFrame, quarantine: pd.DataFrame, cols: dict[str, str],
            as_of: dt.date | None, scale: int, largest_row: int | None) -> LoadResult:
    # Spark returns rows in no fixed order: sort on every column so a run is reproducible
    clean = clean.sort_values(list(clean.columns), kind="stable").reset_index(drop=True)
    clean["customer_id"] = clean["customer_id"].astype(pd.StringDtype("pyarrow"))
    clean["order_date"] = pd.to_datetime(clean["order_date"]).astype("datetime64[ns]")
    clean["amount"] = clean["amount"].astype("float64")
    for c in ("order_id", "channel"):
        if c in clean:
            clean[c] = clean[c].astype(pd.StringDtype("pyarrow"))
    if "quantity" in clean:
        clean["quantity"] = clean["quantity"].astype("float64")
    remarks: list[Remark] = []
    statuses: dict[str, dict[str, int]] = {}
    for r in done.remarks:
        values = dict(r.values)
        if r.code in ("statuses", "amount_rounded"):
            values["column"] = cols.get(values.get("column", ""), values.get("column"))
        if r.code == "amount_rounded":
            values["currency"] = spec.currency or ""
        if r.code == "statuses":
            statuses = {"counted": values["counted"], "excluded": values["excluded"]}
        remarks.append(Remark(r.code, values, r.severity))
    q = quarantine.sort_values(["source_row", "reason"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame({
        "source_row": q["source_row"].astype("int64"),
        "reason": q["reason"].astype("string"),
        "reason_detail": q["reason_detail"].astype("string"),
        "reason_value": q["reason_value"].astype("string"),
        cols["customer_id"]: q["customer_id"].astype("string"),
        cols["order_date"]: pd.to_datetime(q["order_date"]).dt.strftime("%Y-%m-%d").astype("string"),
    })
    remarks += _outcome_remarks(spec, clean, q, scale, largest_row)
    days = pd.concat([clean["order_date"], pd.to_datetime(q["order_date"])]).dropna()
    data_range = (days.min().date(), days.max().date()) if len(days) else (None, None)
    freshness = None
    if len(clean):
        first, last = clean["order_date"].min().date(), clean["order_date"].max().date()
        gap = (as_of - last).days if as_of else None
        stale = bool(as_of and gap > STALE_AFTER_DAYS)
        freshness = Freshness(as_of, first, last, gap, stale)
        if stale:
            remarks.append(Remark("stale_data", {"last_date": last, "analysis_date": as_of, "days": gap,
                                                 "threshold": STALE_AFTER_DAYS}, "high"))
    elif as_of:
        freshness = Freshness(as_of, None, None, None, False)
    return LoadResult(clean=clean, quarantine=out, rows_in=done.rows_in, rows_kept=done.rows_kept,
                      rows_quarantined=len(out), source_name=spec.display_name, remarks=remarks,
                      column_map=dict(cols), currency=spec.currency, freshness=freshness, data_range=data_range,
                      customers_lost=done.customers_lost, statuses=statuses)
