"""What a load returns: :class:`LoadResult`, reason codes, remark codes, freshness.

Nothing here is prose. A quarantined row carries a ``reason`` code (and a ``reason_detail``
sub-code with a ``reason_value``); every guess or notable fact of a load is a
:class:`Remark` (a code, a dict of values, a severity). The report layer
(:mod:`rfm_helpers.report.texts.load`) turns codes and values into sentences in the run's
language.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import pandas as pd

__all__ = ["DataValidationError", "LoadResult", "Remark", "Freshness", "REASONS", "SET_ASIDE_NOT_LOST",
           "REMARK_CODES", "SEVERITIES", "STALE_AFTER_DAYS", "clean_frame", "write_clean_parquet",
           "read_clean_parquet"]


class DataValidationError(ValueError):
    """The source cannot be loaded as a whole. The message names the data file as the user
    wrote it (never a connection string), the column(s) involved, example rows by line
    number and the option that resolves the problem."""

    def _render_traceback_(self) -> list[str]:  # IPython (a notebook) shows the message, no traceback
        return [f"{type(self).__name__}: {self}"]


#: Quarantine reason codes, in the order they are decided (a row gets the first that applies).
REASONS = (
    "repeated_header",        # the header line appears again inside the data
    "total_row",              # a total/subtotal line (Итого, Total, ...) with no date
    "missing_customer_id",    # customer id empty or a null marker
    "bad_customer_id",        # id destroyed (Excel's 7,70117E+11) or not an e-mail/phone of the stated kind
    "bad_date",               # order date empty, unreadable, ambiguous or impossible
    "bad_amount",             # amount empty or not a number
    "after_analysis_date",    # order dated after the analysis date
    "excluded_status",        # the order's status does not count as a purchase (cancelled, refunded ...)
    "zero_amount",            # amount exactly 0
    "duplicate",              # exact repeat of an earlier row (only with an order id)
    "order_total_repeated",   # the order total repeated on the order's further item rows (counted once)
    "order_continuation",     # an item row of an order whose total sits on another row
    "order_total_conflict",   # order-level amounts that disagree within one order
    "refund_netted",          # a refund/return row subtracted from its order's amount
    "refunded_order",         # an order whose refunds cancel it completely (not a purchase)
    "return_or_cancellation",  # a negative amount that cannot be linked to an order
)

#: Reasons whose rows are not customers' purchases at all: their customers are never
#: counted as "lost to the quarantine".
SET_ASIDE_NOT_LOST = ("repeated_header", "total_row", "refund_netted", "order_total_repeated",
                      "order_continuation")

SEVERITIES = ("info", "warning", "high")

#: Remark codes and the values each carries (documentation and a check in the tests: every
#: code has a sentence in :mod:`rfm_helpers.report.texts.load`).
REMARK_CODES: dict[str, tuple[str, ...]] = {
    "bom_removed": (),
    "utf16": (),
    "encoding_detected": ("encoding",),
    "sep_hint_line": ("separator",),
    "separator_detected": ("separator",),
    "whitespace_separated": (),
    "header_row_detected": ("row", "skipped"),
    "blank_lines_skipped": ("count",),
    "sheet_chosen": ("sheet", "sheets"),
    "html_table": ("table",),
    "column_case_matched": ("column", "found"),
    "decimal_comma": ("column",),
    "thousands_separator": ("column", "separator"),
    "currency_from_marks": ("column", "currency"),
    "currency_marks": ("column", "marks"),
    "currency_converted": ("column", "rows", "rates", "currency"),
    "amount_rounded": ("column", "count", "digits", "currency"),
    "date_formats": ("column", "formats"),
    "date_order": ("column", "order", "evidence"),
    "date_order_mixed": ("column", "ambiguous"),
    "twelve_hour_clock": ("column", "count"),
    "timezone_dropped": ("column", "count"),
    "excel_serial_dates": ("column", "count"),
    "month_names": ("column", "count"),
    "ids_cleaned": ("column", "count"),
    "ids_float_suffix": ("column", "count"),
    "ids_numeric_source": ("column",),
    "ids_scientific": ("column", "count"),
    "ids_email": ("column", "count"),
    "ids_phone": ("column", "count", "region"),
    "totals_rows": ("count",),
    "statuses": ("column", "counted", "excluded"),
    "order_total_repeated": ("orders", "rows"),
    "order_continuation": ("orders", "rows"),
    "refunds_netted": ("orders", "rows", "amount"),
    "orders_fully_refunded": ("orders", "amount"),
    "unlinked_returns": ("rows", "amount"),
    "returns_kept": ("rows", "amount"),
    "outliers": ("count", "factor", "median", "largest", "row"),
    "channel_empty": ("column",),
    "quantity_not_numbers": ("column", "count"),
    "stale_data": ("last_date", "analysis_date", "days", "threshold"),
}

#: Data ending more than this many days before the analysis date are "stale": a remark of
#: high severity, a flag in ``summary.json`` and a warning on the report pages.
STALE_AFTER_DAYS = 45


@dataclass(frozen=True)
class Remark:
    """One thing the loader noticed or decided: ``code`` (see :data:`REMARK_CODES`),
    ``values`` (numbers, names, dates) and ``severity`` (``info`` / ``warning`` / ``high``)."""

    code: str
    values: dict[str, Any] = field(default_factory=dict)
    severity: Literal["info", "warning", "high"] = "info"

    def __post_init__(self) -> None:
        if self.code not in REMARK_CODES:
            raise ValueError(f"unknown remark code {self.code!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")


@dataclass(frozen=True)
class Freshness:
    """How the data's end relates to the analysis date."""

    analysis_date: dt.date | None
    first_date: dt.date | None
    last_date: dt.date | None
    days_without_data: int | None
    stale: bool
    threshold_days: int = STALE_AFTER_DAYS

    def as_dict(self) -> dict[str, Any]:
        return {"analysis_date": _iso(self.analysis_date), "first_transaction_date": _iso(self.first_date),
                "last_transaction_date": _iso(self.last_date), "days_without_data": self.days_without_data,
                "stale": self.stale, "stale_after_days": self.threshold_days}


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


@dataclass
class LoadResult:
    """Outcome of :func:`rfm_helpers.load.load_transactions`.

    ``clean``
        canonical transactions: ``customer_id`` (string), ``order_date`` (naive datetime,
        local wall time as written), ``amount`` (float64, every value rounded to the
        currency's minor unit; refunds already netted into their orders), and when mapped
        ``order_id``, ``channel``, ``quantity``; in source order.
    ``quarantine``
        set-aside rows: ``source_row`` (line number in the file, header = line 1 of a
        headed table), ``reason`` (see :data:`REASONS`), ``reason_detail`` (a sub-code),
        ``reason_value`` (e.g. the first line of a duplicate) and the original values as text.
    ``remarks``
        every guess and notable fact (:class:`Remark`).
    ``currency``
        ISO 4217 code of the amounts (from the spec or the amounts' marks); ``None`` when
        unknown (a plain DataFrame without a spec).
    ``freshness``
        analysis date vs the data's end (:class:`Freshness`).
    ``clean_file``
        the kept rows stored as Parquet (a run's load cache, :func:`rfm_helpers.pipeline.load_cached`):
        engines read that file in place; ``clean`` is then read into pandas on first use only
        (reported as a ``per_transaction`` fetch, :mod:`rfm_helpers.engine.fetch`), and a pickled
        result does not carry the rows.
    """

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    rows_kept: int
    rows_quarantined: int
    source_name: str
    remarks: list[Remark] = field(default_factory=list)
    #: canonical name -> source column actually used (e.g. ``{"amount": "Сумма"}``)
    column_map: dict[str, str] = field(default_factory=dict)
    currency: str | None = None
    freshness: Freshness | None = None
    #: first and last readable order date of all rows (kept or not), for error messages
    data_range: tuple[dt.date | None, dt.date | None] = (None, None)
    #: customers that appear only in quarantined rows (not counting totals, headers, netted refunds)
    customers_lost: int = 0
    #: status value -> rows, for statuses counted as purchases and statuses set aside
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    #: seconds and peak memory per phase (read, parse, rules, result), for benchmarks
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the kept rows as a Parquet file (see ``clean_file`` above); ``None``: they live in ``clean`` only
    clean_file: str | None = None

    def __post_init__(self) -> None:
        assert self.rows_in == self.rows_kept + self.rows_quarantined, (
            f"row accounting does not add up: {self.rows_in} in != {self.rows_kept} kept + {self.rows_quarantined} quarantined")
        assert self.__dict__.get("_clean") is None or len(self.clean) == self.rows_kept
        assert len(self.quarantine) == self.rows_quarantined

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the kept rows when they are stored in :attr:`clean_file`."""
        state = dict(self.__dict__)
        if self.clean_file:
            state["_clean"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "clean" in state:  # pickled before the rows could live in a file
            state["_clean"] = state.pop("clean")
        state.setdefault("clean_file", None)
        self.__dict__.update(state)

    def store_clean(self, path: str | os.PathLike) -> Path:
        """Write the kept rows to ``path`` (Parquet, :func:`write_clean_parquet`) and remember it
        as :attr:`clean_file` (unless they are stored there already)."""
        path = Path(path)
        if self.clean_file != str(path):
            write_clean_parquet(self.clean, path)
            self.clean_file = str(path)
        return path

    @property
    def warnings(self) -> list[str]:
        """Remark codes with their values, as plain ``code: k=v`` strings (for logs and
        backward compatibility; reports render :attr:`remarks` through the translator)."""
        return [r.code + (": " + ", ".join(f"{k}={v}" for k, v in r.values.items()) if r.values else "")
                for r in self.remarks]

    def remark(self, code: str) -> Remark | None:
        """The first remark with ``code`` (None if there is none)."""
        return next((r for r in self.remarks if r.code == code), None)

    def reason_counts(self) -> pd.Series:
        """Quarantined rows per reason code (reasons with no rows omitted), in decision order."""
        counts = self.quarantine["reason"].value_counts() if len(self.quarantine) else pd.Series(dtype="int64")
        order = [r for r in REASONS if r in counts.index] + [r for r in counts.index if r not in REASONS]
        return counts.reindex(order).astype("int64")

    def customers_fully_quarantined(self) -> int:
        """Customers that appear in the source only with rows that were set aside (totals,
        repeated headers and netted refund rows aside), so they are missing from every RFM table."""
        return self.customers_lost

    def accounting(self) -> pd.DataFrame:
        """Row accounting: one line for kept rows, one per quarantine reason and a total line
        (rows read); columns ``outcome`` (kept/quarantined/total), ``reason``, ``rows``, ``share``."""
        denom = self.rows_in or 1
        rows = [{"outcome": "kept", "reason": "", "rows": self.rows_kept}]
        for reason, n in self.reason_counts().items():
            rows.append({"outcome": "quarantined", "reason": reason, "rows": int(n)})
        rows.append({"outcome": "total", "reason": "", "rows": self.rows_in})
        out = pd.DataFrame(rows)
        out["share"] = out["rows"] / denom
        return out

    def write_quarantine(self, path: str | os.PathLike,
                         explain: Callable[[pd.DataFrame], pd.Series] | None = None) -> Path:
        """Write the quarantined rows to CSV (UTF-8 with BOM so Excel shows Cyrillic).
        ``explain`` (from the report layer) adds an ``explanation`` column after the codes."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        q = self.quarantine
        if explain is not None:
            q = q.copy()
            q.insert(4, "explanation", explain(q) if len(q) else pd.Series([], dtype="str"))
        q.to_csv(path, index=False, encoding="utf-8-sig")
        return path


def _get_clean(self: LoadResult) -> pd.DataFrame:
    frame = self.__dict__.get("_clean")
    if frame is None and self.__dict__.get("clean_file"):
        frame = read_clean_parquet(self.clean_file, label=f"{self.source_name}: kept transactions (LoadResult.clean)")
        if len(frame) != self.rows_kept:
            raise RuntimeError(f"{self.clean_file}: {len(frame):,} rows, but the load kept {self.rows_kept:,}; "
                               "the run's cache was changed: delete the run folder's .cache and run again")
        self.__dict__["_clean"] = frame
    return frame


def _set_clean(self: LoadResult, frame: pd.DataFrame | None) -> None:
    self.__dict__["_clean"] = frame


# set after the class is made, so that the dataclass keeps ``clean`` as its first argument
LoadResult.clean = property(_get_clean, _set_clean, doc="The kept transactions in pandas (see the class).")


def clean_frame(table: Any) -> pd.DataFrame:
    """The kept rows in pandas from an Arrow table, with the dtypes of :attr:`LoadResult.clean`
    (one definition for the loader and the run's cache): ids and texts as ``string[pyarrow]``,
    ``order_date`` ``datetime64[ns]``, ``amount`` and ``quantity`` float64."""
    import pyarrow as pa

    strings = pd.StringDtype("pyarrow")
    clean = table.to_pandas(types_mapper={pa.string(): strings, pa.large_string(): strings}.get)
    clean["order_date"] = clean["order_date"].astype("datetime64[ns]")
    clean["amount"] = clean["amount"].astype("float64")
    if "quantity" in clean:
        clean["quantity"] = clean["quantity"].astype("float64")
    return clean


def write_clean_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write kept rows to Parquet atomically (a temporary file renamed into place), order and
    values as they are (dates to the nanosecond)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_clean_parquet(path: str | os.PathLike, label: str = "kept transactions") -> pd.DataFrame:
    """Kept rows written by :func:`write_clean_parquet` (or by the loader's engine) back in
    pandas (:func:`clean_frame`); reported as a ``per_transaction`` fetch."""
    import time

    import pyarrow.parquet as pq

    from ..engine.fetch import FetchRecord, _report_fetch

    t0 = time.perf_counter()
    frame = clean_frame(pq.read_table(path))
    _report_fetch(FetchRecord("parquet", label, "per_transaction", len(frame), len(frame.columns),
                              int(frame.memory_usage(deep=True).sum()), round(time.perf_counter() - t0, 4)))
    return frame
