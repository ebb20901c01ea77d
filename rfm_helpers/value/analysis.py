"""The value stage of a monthly run in one call: summary, sufficiency, fit, score, backtest,
group totals and the per-customer export.

:func:`analyse_value` returns a :class:`ValueAnalysis` holding numbers and small tables only
(aggregates and counts); every per-customer figure stays in DuckDB / Parquet
(:class:`~rfm_helpers.value.store.ValueStore`) and goes to the export file. The notebook turns
the numbers into words and charts through ``rfm_helpers.report``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from ..rfm import parse_as_of
from .backtest import BACKTEST_CUSTOMERS, Backtest, backtest_in_store
from .models import FIT_CUSTOMERS, FittedValueModels, ModelNotIdentified, _wait_for_warm_up, fit_value_models, warm_up
from .scoring import _keys
from .segments import (MIN_SPEND_CUSTOMERS, NEW_CUSTOMER_DAYS, Sufficiency, p_alive_histogram, sufficiency,
                       value_by_group, value_by_groups, value_headline)
from .store import DEFAULT_MEMORY_LIMIT, ValueStore, previous_month_end

__all__ = ["ValueAnalysis", "analyse_value", "previous_month_end"]


@dataclasses.dataclass
class ValueAnalysis:
    """Everything the value page shows, as numbers and small tables.

    ``stats``: counts of the customer summary (see :meth:`ValueStore.stats`). ``fitted``,
    ``headline`` (see :func:`~rfm_helpers.value.segments.value_headline`), ``p_alive_bands``
    (see :func:`~rfm_helpers.value.segments.p_alive_histogram`) and ``groups`` (one
    :func:`~rfm_helpers.value.segments.value_by_group` table per grouping) are ``None``/empty
    when the data do not support the models (see ``sufficiency.problems``); ``backtest`` is
    ``None`` when the history is too short for one. ``export``: the record of the per-customer
    file (``file``, ``rows``, ``warnings``; :class:`rfm_helpers.act.files.FileRecord`), when an
    export writer was given. ``values``: see ``keep_values`` of :func:`analyse_value`.
    ``grouping``: what a ``groups`` callable returned (e.g. the
    :class:`~rfm_helpers.value.groups.EngineGroups`), when the models could be fitted."""

    as_of: dt.date
    stats: dict[str, Any]
    sufficiency: Sufficiency
    fitted: FittedValueModels | None
    headline: dict[str, float] | None
    p_alive_bands: pd.DataFrame | None
    groups: dict[str, pd.DataFrame]
    backtest: Backtest | None
    last_month_end: dt.date
    settings: dict[str, Any]
    export: Any = None
    values: Any = None
    grouping: Any = None


#: The per-customer columns :func:`analyse_value` hands back with ``keep_values``.
KEPT_COLUMNS = ("customer_id", "value_at_risk", "p_alive", "clv")


def stage_columns(horizons: tuple[int, ...]) -> list[str]:
    """The score columns of every customer this stage reads (the export, the headline, the group
    tables, the call list's values): what :func:`~rfm_helpers.value.scoring.score_arrays` returns
    but the revenue of the horizons after the first and the expected purchases if alive (5 of 30
    columns at the default horizons, written to the scored customers' file and read by nothing)."""
    first = {f"expected_revenue_{horizons[0]}d", f"expected_revenue_{horizons[0]}d_low",
             f"expected_revenue_{horizons[0]}d_high"}
    return [c for c in _keys(horizons, True) if not c.startswith("expected_purchases_if_alive_")
            and (not c.startswith("expected_revenue_") or c in first)]


class _Background:
    """``fn()`` in a thread; :meth:`result` waits and returns its value or raises its error.
    For work that runs in DuckDB or in numpy (both release the GIL) while this thread fits the
    models, which holds it."""

    def __init__(self, fn: Callable[[], Any], name: str):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._value = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller by result()
            self._error = e

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _fit(store: ValueStore, calibration: bool, *, transaction_model, method, level, fit_customers, mcmc_customers,
         random_seed) -> tuple[FittedValueModels | None, str | None]:
    """Fit on the store's bounded sample; when the sample does not identify the parameters, on
    a four times larger one, up to all customers. Returns the fit, or None and the reason."""
    n = store.stats(calibration)["customers"]
    k = mcmc_customers if method == "mcmc" else fit_customers
    while True:
        rows = store.sample(k, calibration=calibration)
        try:
            return fit_value_models(rows, transaction_model=transaction_model, method=method, level=level,
                                    fit_customers=None, mcmc_customers=None, random_seed=random_seed,
                                    min_spend_customers=MIN_SPEND_CUSTOMERS, n_customers=n), None
        except ModelNotIdentified as e:
            if method == "mcmc" or k is None or k >= n:
                return None, e.model
            k = 4 * k


def analyse_value(transactions: Any, as_of: Any, *, transaction_model: str = "bgnbd", method: str = "map",
                  level: float = 0.9, horizons: tuple[int, ...] = (90, 365), clv_months: int = 12,
                  annual_discount_rate: float = 0.10, holdout_days: int = 90, backtest: bool = True,
                  fit_customers: int | None = FIT_CUSTOMERS, mcmc_customers: int = 2000, random_seed: int = 0,
                  backtest_customers: int | None = BACKTEST_CUSTOMERS,
                  groups: Mapping[str, Any] | None = None, group_order: Mapping[str, list] | None = None,
                  export: Any = None, keep_values: bool = False,
                  memory_limit: str = DEFAULT_MEMORY_LIMIT) -> ValueAnalysis:
    """Run the value stage on clean transactions up to ``as_of`` (a pandas frame or Parquet
    path(s); see :mod:`~rfm_helpers.value.features`, :mod:`~rfm_helpers.value.models`,
    :mod:`~rfm_helpers.value.scoring`, :mod:`~rfm_helpers.value.backtest` and
    :mod:`~rfm_helpers.value.segments`).

    ``groups``: named groupings of customers (a Series of group keys indexed by customer id,
    e.g. RFM segment or cluster; or ``(parquet_path, column)``: a Parquet file with ``customer_id``
    and the keys in ``column``, read by DuckDB, as :func:`~rfm_helpers.value.groups.engine_groups`
    writes it), summed per group into ``ValueAnalysis.groups[name]`` in the
    order ``group_order[name]``. ``groups`` may also be a function of no arguments returning an
    object with such a mapping as ``.groups`` (and optionally the default ``.group_order``), e.g.
    ``lambda: engine_groups(...)``: it is then called in a background thread while the models
    are fitted (it must not use this stage's connection), only when the data support the models,
    and what it returned is kept as ``ValueAnalysis.grouping``. ``export``: the run's :class:`rfm_helpers.act.ExportWriter`; the per-customer
    table is written through it as ``customer_value_<YYYY-MM>.csv`` (the run's CSV dialect,
    every value quoted, money in exact cents, ids byte for byte) straight from DuckDB.
    ``fit_customers`` / ``mcmc_customers`` / ``random_seed``: the bounded sample the models are
    fitted on (see :mod:`~rfm_helpers.value.models`). ``keep_values``: return the columns
    :data:`KEPT_COLUMNS` of every customer as ``ValueAnalysis.values``: True for an Arrow table,
    a file path for a Parquet file written there by the engine (``values`` is then that path;
    what the call list reads at scale). Nothing is kept when the spend model is unusable.
    The export is written by DuckDB in a second thread while the backtest is fitted."""
    as_of_d = parse_as_of(as_of)
    horizons = tuple(int(h) for h in horizons)
    settings = {"transaction_model": transaction_model, "method": method, "level": level, "horizons": horizons,
                "clv_months": int(clv_months), "annual_discount_rate": float(annual_discount_rate),
                "holdout_days": int(holdout_days), "fit_customers": fit_customers,
                "mcmc_customers": int(mcmc_customers), "random_seed": int(random_seed),
                "backtest_customers": backtest_customers}
    last_end = previous_month_end(as_of_d)
    fitted = headline = bands = bt = None
    tables: dict[str, pd.DataFrame] = {}
    record = kept = grouping = None
    pending_groups = writing = cursor = None
    warm_up(transaction_model, method)  # imports (and compiles) while DuckDB builds the summary
    with ValueStore(transactions, as_of_d, holdout_days=holdout_days, seed=random_seed,
                    memory_limit=memory_limit) as store:
        try:
            stats = store.stats()
            cal = store.stats(calibration=True) if backtest else None
            suff = sufficiency(stats, as_of_d, holdout_days=holdout_days, backtest_summary=cal)
            fit_args = dict(transaction_model=transaction_model, method=method, level=level,
                            fit_customers=fit_customers, mcmc_customers=mcmc_customers, random_seed=random_seed)
            if suff.can_model and callable(groups):
                # the groups are built (in the caller's engine) while this thread fits the models; not
                # before the warm-up's imports are done (two threads importing at once can deadlock)
                _wait_for_warm_up()
                pending_groups = _Background(groups, "rfm-value-groups")
            if suff.can_model:
                fitted, failed = _fit(store, False, **fit_args)
                if fitted is None:
                    suff = _not_identified(suff, failed, stats["customers"])
            if fitted is not None:
                store.score(fitted, "customers", horizons=horizons, clv_months=clv_months,
                            annual_discount_rate=annual_discount_rate, new_customer_days=NEW_CUSTOMER_DAYS,
                            columns=stage_columns(horizons))
                view = store.finish("customers")
                headline = value_headline(view, horizons[0], con=store.con)
                bands = p_alive_histogram(view, con=store.con)
                order = dict(group_order or {})
                if pending_groups is not None:
                    grouping, pending_groups = pending_groups.result(), None
                    order = {**getattr(grouping, "group_order", {}), **order}
                tables = _group_tables(store, view, grouping.groups if grouping is not None else groups or {},
                                       order, horizons[0])
                if keep_values and fitted.spend_status == "ok":
                    kept = _keep_values(store, view, keep_values)
                if export is not None:  # written by DuckDB (a database of its own) while the backtest is fitted
                    cursor = _export_connection(store, view)
                    rows = headline["customers"]
                    writing = _Background(lambda: write_export(export, view, f"{as_of_d:%Y-%m}", cursor, rows),
                                          "rfm-value-export")
                if backtest and suff.can_backtest:
                    try:
                        bt = backtest_in_store(store, transaction_model=transaction_model, level=level,
                                               fit_customers=fit_customers, random_seed=random_seed,
                                               backtest_customers=backtest_customers)
                    except ModelNotIdentified as e:
                        suff.problems.append(("backtest_not_identified", {"model": e.model}))
                        suff.can_backtest = False
                if writing is not None:
                    record, writing = writing.result(), None
        finally:  # never leave a thread working on a store being closed
            for job in (pending_groups, writing):
                if job is not None:
                    try:
                        job.result()
                    except BaseException:  # noqa: BLE001 - the error that brought us here is the one to raise
                        pass
            if cursor is not None:
                cursor.close()
    return ValueAnalysis(as_of=as_of_d, stats=stats, sufficiency=suff, fitted=fitted, headline=headline,
                         p_alive_bands=bands, groups=tables, backtest=bt, last_month_end=last_end,
                         settings=settings, export=record, values=kept, grouping=grouping)


def _export_connection(store: ValueStore, view: str) -> Any:
    """A DuckDB connection of its own holding ``view`` of the store (the scored customers' Parquet
    file and the slipping flag): the export sorts every customer there, within its own memory
    (``RFM_EXPORT_DUCKDB_MEMORY``, 1GB, one thread, spilling into the store's folder), not in the
    store's, which the backtest uses meanwhile. On a cursor of the store, sorting 47.9M customers
    beside the backtest ran out of the store's 1 GB (1e8 transactions)."""
    import duckdb

    sql = store.con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ?", [view]).fetchone()[0]
    spill = store.dir / "export-spill"
    spill.mkdir(exist_ok=True)
    con = duckdb.connect(config={"threads": 1, "memory_limit": os.environ.get("RFM_EXPORT_DUCKDB_MEMORY", "1GB"),
                                 "temp_directory": str(spill), "preserve_insertion_order": False})
    con.execute(sql)
    return con


#: Order of the rows of the per-customer export (as :func:`rfm_helpers.act.write_customer_value`).
EXPORT_ORDER = "value_at_risk DESC NULLS LAST, customer_id"


def write_export(export: Any, view: str, month: str, con: Any, rows: int) -> Any:
    """Write the scored customers ``view`` (on ``con``) as ``customer_value_<month>.csv`` through
    the run's export writer: the file :func:`rfm_helpers.act.write_customer_value` writes (same
    columns, same order, byte for byte; tested), with the row count (``rows``, known from the
    headline) and the check of the ids for spreadsheet formulas done on the unsorted rows. Given
    only the sorted query, the writer sorted all customers twice more to count them and to check
    their ids (3.8 CPU-s at 1e7 transactions)."""
    from ..act.columns import schema
    from ..act.files import key_warnings

    name, schema_name = f"customer_value_{month}.csv", "customer_value_<month>.csv"
    have = {d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description}
    cols = [c for c in schema(schema_name) if c.key in have]
    warnings = key_warnings(con, f"SELECT * FROM {view}", cols, {None: name})[None]
    return export.write_query(con, name, f"SELECT * FROM {view} ORDER BY {EXPORT_ORDER}", cols, schema_name,
                              rows=int(rows), warnings=warnings)


def _group_tables(store: ValueStore, view: str, groups: Mapping[str, Any], order: Mapping[str, list],
                  horizon: int) -> dict[str, pd.DataFrame]:
    """One :func:`value_by_group` table per grouping. Groupings read from the same Parquet file
    (``(path, column)``, as :func:`~rfm_helpers.value.groups.engine_groups` gives them) are summed
    in one join of the scored customers with that file (:func:`value_by_groups`), not one each."""
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, dict[str, str]] = {}
    for name, keys in groups.items():
        if isinstance(keys, tuple):  # (Parquet path, column)
            files.setdefault(str(keys[0]), {})[name] = keys[1]
        else:
            store.register_groups(f"groups_{name}", keys)
            tables[name] = value_by_group(view, f"groups_{name}", order=order.get(name), horizon=horizon,
                                          con=store.con)
    for i, (path, columns) in enumerate(files.items()):
        table = store.register_group_columns(f"groups_file_{i}", path, list(columns.values()))
        tables.update(value_by_groups(view, table, columns, orders=order, horizon=horizon, con=store.con))
    return {name: tables[name] for name in groups}


def _keep_values(store: ValueStore, view: str, keep: Any) -> Any:
    """The :data:`KEPT_COLUMNS` of every customer: an Arrow table (``keep`` True), or written by
    DuckDB to the Parquet file ``keep`` (a path), whose path is returned -- at scale the call
    list reads it from there, and the customers never come into this process's memory."""
    sql = f"SELECT {', '.join(KEPT_COLUMNS)} FROM {view}"
    if keep is True:
        if hasattr(store.con, "complete"):  # DuckDB 2: a result of the steps above may still be open
            store.con.complete()
        return store.con.sql(sql).to_arrow_table()
    path = Path(keep)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")  # two kernels may share a run folder
    store.con.execute(f"COPY ({sql}) TO '{str(part).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
    part.replace(path)
    return path


def _not_identified(suff: Sufficiency, model: str | None, customers: int) -> Sufficiency:
    problems = [*suff.problems, ("not_identified", {"model": model or "purchase", "customers": customers})]
    return dataclasses.replace(suff, can_model=False, can_spend=False, can_backtest=False, problems=problems)
