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
from typing import Any, Mapping

import pandas as pd

from ..rfm import parse_as_of
from .backtest import BACKTEST_CUSTOMERS, Backtest, backtest_in_store
from .models import FIT_CUSTOMERS, FittedValueModels, ModelNotIdentified, fit_value_models, warm_up
from .segments import (MIN_SPEND_CUSTOMERS, NEW_CUSTOMER_DAYS, Sufficiency, p_alive_histogram, sufficiency,
                       value_by_group, value_headline)
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
    export writer was given."""

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


#: The per-customer columns :func:`analyse_value` hands back with ``keep_values``.
KEPT_COLUMNS = ("customer_id", "value_at_risk", "p_alive", "clv")


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
    order ``group_order[name]``. ``export``: the run's :class:`rfm_helpers.act.ExportWriter`; the per-customer
    table is written through it as ``customer_value_<YYYY-MM>.csv`` (the run's CSV dialect,
    every value quoted, money in exact cents, ids byte for byte) straight from DuckDB.
    ``fit_customers`` / ``mcmc_customers`` / ``random_seed``: the bounded sample the models are
    fitted on (see :mod:`~rfm_helpers.value.models`). ``keep_values``: return the columns
    :data:`KEPT_COLUMNS` of every customer as ``ValueAnalysis.values`` (see there)."""
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
    record = kept = None
    warm_up(transaction_model, method)  # imports (and compiles) while DuckDB builds the summary
    with ValueStore(transactions, as_of_d, holdout_days=holdout_days, seed=random_seed,
                    memory_limit=memory_limit) as store:
        stats = store.stats()
        cal = store.stats(calibration=True) if backtest else None
        suff = sufficiency(stats, as_of_d, holdout_days=holdout_days, backtest_summary=cal)
        fit_args = dict(transaction_model=transaction_model, method=method, level=level,
                        fit_customers=fit_customers, mcmc_customers=mcmc_customers, random_seed=random_seed)
        if suff.can_model:
            fitted, failed = _fit(store, False, **fit_args)
            if fitted is None:
                suff = _not_identified(suff, failed, stats["customers"])
        if fitted is not None:
            store.score(fitted, "customers", horizons=horizons, clv_months=clv_months,
                        annual_discount_rate=annual_discount_rate, new_customer_days=NEW_CUSTOMER_DAYS)
            view = store.finish("customers")
            headline = value_headline(view, horizons[0], con=store.con)
            bands = p_alive_histogram(view, con=store.con)
            for name, keys in (groups or {}).items():
                if isinstance(keys, tuple):  # (Parquet path, column)
                    store.register_groups(f"groups_{name}", *keys)
                else:
                    store.register_groups(f"groups_{name}", keys)
                tables[name] = value_by_group(view, f"groups_{name}", order=(group_order or {}).get(name),
                                              horizon=horizons[0], con=store.con)
            if export is not None:
                from ..act import write_customer_value

                record = write_customer_value(export, view, f"{as_of_d:%Y-%m}", con=store.con)
            if keep_values and fitted.spend_status == "ok":
                if hasattr(store.con, "complete"):  # DuckDB 2: a result of the steps above may still be open
                    store.con.complete()
                kept = store.con.sql(f"SELECT {', '.join(KEPT_COLUMNS)} FROM {view}").to_arrow_table()
            if backtest and suff.can_backtest:
                try:
                    bt = backtest_in_store(store, transaction_model=transaction_model, level=level,
                                           fit_customers=fit_customers, random_seed=random_seed,
                                           backtest_customers=backtest_customers)
                except ModelNotIdentified as e:
                    suff.problems.append(("backtest_not_identified", {"model": e.model}))
                    suff.can_backtest = False
    return ValueAnalysis(as_of=as_of_d, stats=stats, sufficiency=suff, fitted=fitted, headline=headline,
                         p_alive_bands=bands, groups=tables, backtest=bt, last_month_end=last_end,
                         settings=settings, export=record, values=kept)


def _not_identified(suff: Sufficiency, model: str | None, customers: int) -> Sufficiency:
    problems = [*suff.problems, ("not_identified", {"model": model or "purchase", "customers": customers})]
    return dataclasses.replace(suff, can_model=False, can_spend=False, can_backtest=False, problems=problems)
