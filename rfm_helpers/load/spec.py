"""The source spec: a strict, typed description of where the transactions are and how to read them.

A spec is usually a YAML file (the ``source_config`` of a run)::

    # yaml-language-server: $schema=../rfm_helpers/load/source_spec.schema.json
    name: Sales 2024 (1C export)
    path: sales_2024.csv                 # relative to this YAML file
    currency: RUB                        # ISO 4217 code of the amounts
    columns: {customer_id: Клиент, order_date: Дата, amount: Сумма, order_id: Документ, status: Статус}
    statuses: {exclude: [Отменён, Возврат]}

Every key is checked (:class:`SourceSpec` forbids unknown keys anywhere); a mistake is an
error that names the key, the YAML file and its line, with a "did you mean". The JSON Schema
of the models (``source_spec.schema.json`` beside this module) gives editors completion.

The spec is built in two layers so that more tables can follow with the same reader rules:
:class:`TableSource` says where a table is and how to read it (format, path, header row,
CSV/Excel/SQL options); :class:`TransactionsSpec` adds what the transactions' columns mean.
:class:`SourceSpec` is the whole file (transactions plus run-wide settings).
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .result import DataValidationError

__all__ = ["SourceSpecError", "TableSource", "TransactionsSpec", "SourceSpec", "ColumnMap", "CsvOptions",
           "ExcelOptions", "SqlOptions", "DateOptions", "AmountOptions", "IdOptions", "StatusOptions",
           "ReturnOptions", "ConversionOptions", "CleaningRules", "ContactsSpec", "ContactColumns", "FlagValues",
           "SparkOptions", "SPARK_MASTER_ENV", "ENGINE_FORMATS",
           "read_source_spec", "spec_from",
           "json_schema", "SCHEMA_PATH"]

SCHEMA_PATH = Path(__file__).with_name("source_spec.schema.json")


class SourceSpecError(DataValidationError):
    """The source spec (YAML or dict) is wrong: unknown key, wrong value, unreadable YAML."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ColumnMap(_Strict):
    """Which source column holds each canonical field. Unmapped required fields are looked
    up by their canonical name (``customer_id``, ``order_date``, ``amount``)."""

    customer_id: Optional[str] = Field(None, description="customer identifier column")
    order_date: Optional[str] = Field(None, description="order date (and time) column")
    amount: Optional[str] = Field(None, description="money amount column (line or order total, see amounts.level)")
    order_id: Optional[str] = Field(None, description="order / document number; enables duplicate detection, "
                                                      "order-level amounts and refund netting")
    status: Optional[str] = Field(None, description="order status or deal stage; see statuses")
    refund_of: Optional[str] = Field(None, description="for refund rows: the order they refund (when it is "
                                                       "not in order_id)")
    currency: Optional[str] = Field(None, description="per-row currency code column (mixed currencies need "
                                                      "conversion.rates)")
    channel: Optional[str] = Field(None, description="sales channel (optional breakdown)")
    quantity: Optional[str] = Field(None, description="item quantity (kept as information)")


class CsvOptions(_Strict):
    """How to read delimited text."""

    sep: str = Field("auto", description="separator: auto, ',', ';', '\\t', '|' or '\\s+' (runs of spaces); "
                                         "a first line 'sep=;' is honoured")
    encoding: str = Field("auto", description="auto (UTF-8, else detected among cp1251, koi8_r, cp866, cp1252) "
                                              "or a Python codec name")
    quote: str = Field('"', description="quote character")

    @field_validator("sep")
    @classmethod
    def _sep(cls, v: str) -> str:
        v = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(v, v)
        if v not in ("auto", ",", ";", "\t", "|", r"\s+", " "):
            raise ValueError("sep must be auto, ',', ';', '\\t', '|' or '\\s+'")
        return v


class ExcelOptions(_Strict):
    """Spreadsheets (.xlsx, .xls, .xlsb, .ods)."""

    sheet: Union[str, int, None] = Field(None, description="sheet name, or 0-based position; required when "
                                                           "more than one sheet holds data")


class SqlOptions(_Strict):
    """A database query (SQLAlchemy). The URL lives in an environment variable."""

    query: str = Field(description="SELECT statement returning the transactions")
    url_env: str = Field("RFM_DB_URL", description="environment variable holding the database URL")
    url: Optional[str] = Field(None, description="database URL written in the spec; only for URLs without a "
                                                 "password (e.g. sqlite:///shop.db, relative to the YAML file)")


class DateOptions(_Strict):
    """How the order date column is read (decided for the column as a whole)."""

    format: Optional[str] = Field(None, description="strptime format such as '%d.%m.%Y %H:%M' (quote it in "
                                                    "YAML); default: recognised from the values")
    order: Literal["auto", "day_first", "month_first"] = Field(
        "auto", description="order of day and month in dates like 03/04/2024 when the column itself does "
                            "not tell")


class AmountOptions(_Strict):
    """How the amount column is read and what an amount means."""

    decimal: Literal["auto", ".", ","] = Field("auto", description="decimal mark; auto decides from the "
                                                                   "column as a whole")
    thousands: Literal["auto", "none", " ", ".", ",", "'"] = Field("auto", description="thousands separator")
    level: Literal["auto", "line", "order"] = Field(
        "auto", description="line: every row is an item line, amounts add up; order: the amount is the "
                            "order total (repeated on item rows or only on the first row); auto decides "
                            "from the data and refuses when unclear (needs order_id)")


class IdOptions(_Strict):
    """What the customer id is."""

    kind: Literal["plain", "email", "phone"] = Field(
        "plain", description="plain: text as is (spaces normalised); email: case-folded; phone: E.164")
    default_region: Optional[str] = Field(None, description="for phone numbers written without a country "
                                                            "code: ISO region such as RU, US")

    @model_validator(mode="after")
    def _region(self) -> "IdOptions":
        if self.default_region is not None:
            import phonenumbers

            if self.default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"default_region {self.default_region!r} is not a region code such as RU or US")
            object.__setattr__(self, "default_region", self.default_region.upper())
        return self


class StatusOptions(_Strict):
    """Which order statuses count as purchases (needs columns.status)."""

    include: Optional[list[str]] = Field(None, description="only these statuses count (others set aside)")
    exclude: Optional[list[str]] = Field(None, description="these statuses are set aside (others count)")
    unknown: Optional[Literal["error", "count", "exclude"]] = Field(
        None, description="statuses in neither list: error (default with the built-in lists), count "
                          "(default with exclude), exclude (default with include)")


class ReturnOptions(_Strict):
    """Negative amounts (returns, refunds)."""

    policy: Literal["net", "quarantine", "keep"] = Field(
        "net", description="net: subtracted from the order they belong to (by order_id or refund_of); "
                           "returns that cannot be linked are set aside; quarantine: all set aside; "
                           "keep: kept as negative amounts")


class ConversionOptions(_Strict):
    """Fixed conversion rates into the spec's currency."""

    rates: dict[str, float] = Field(description="1 unit of each currency in the spec's currency, "
                                                "e.g. {USD: 92.5, EUR: 100.2}")

    @field_validator("rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        out = {}
        for k, rate in v.items():
            out[_currency_code(k)] = rate
            if not rate > 0:
                raise ValueError(f"rate of {k} must be positive")
        return out


class CleaningRules(_Strict):
    """Thresholds of the row checks."""

    max_bad_share: float = Field(0.05, ge=0, le=1, description="more unreadable dates/amounts/ids than this "
                                                               "share fails the load (a wrong format option)")
    min_rows_for_share_check: int = Field(20, ge=0, description="smaller files are never failed by the "
                                                                "share rule")
    quarantine_zero: bool = Field(True, description="set aside zero amounts")
    outlier_factor: float = Field(1000.0, ge=0, description="amounts above this multiple of the median are "
                                                            "kept but named in the remarks (0: off)")
    dedupe_with_order_id: bool = Field(True, description="with an order id, exact repeats of a whole row are "
                                                         "set aside as duplicates")


#: Environment variable read when a spark source names no ``spark.master``.
SPARK_MASTER_ENV = "RFM_SPARK_MASTER"
#: Formats read and cleaned by an engine instead of a file reader (see :mod:`.spark_source`).
ENGINE_FORMATS = ("spark",)


class SparkOptions(_Strict):
    """A table or files read by Spark (``format: spark``): the rows are cleaned inside Spark
    by the loader's rules; only the kept rows' columns come back to the report."""

    table: Optional[str] = Field(None, description="table name in the session's catalog, e.g. sales.orders "
                                                   "(exactly one of table and path)")
    path: Optional[str] = Field(None, description="Parquet/ORC/CSV/Delta files or folder readable by the driver "
                                                  "and every executor (hdfs://, s3a://, or a local path, "
                                                  "relative to the YAML file)")
    file_format: Literal["auto", "parquet", "orc", "csv", "delta"] = Field(
        "auto", description="format of spark.path; auto: from the suffix, delta when the folder has _delta_log, "
                            "else parquet")
    master: Optional[str] = Field(None, description="Spark master URL (spark://host:7077, local[2], yarn...); "
                                                    "default: environment variable RFM_SPARK_MASTER, else an "
                                                    "already running session")
    app_name: str = Field("rfm-template", description="application name shown by the cluster")
    conf: dict[str, Union[str, int, float, bool]] = Field(
        default_factory=dict, description="Spark settings for the session the run starts, e.g. "
                                          "{spark.executor.memory: 1g}")
    time_zone: Optional[str] = Field(None, description="IANA zone whose calendar dates count for Spark TIMESTAMP "
                                                       "(instant) order dates, e.g. Europe/Moscow; not needed for "
                                                       "DATE or TIMESTAMP_NTZ columns")

    @model_validator(mode="after")
    def _one_of(self) -> "SparkOptions":
        if bool(self.table) == bool(self.path):
            raise ValueError("spark needs exactly one of 'table' (a catalog table) or 'path' (files)")
        if self.time_zone is not None:
            from ..engine import check_time_zone

            object.__setattr__(self, "time_zone", check_time_zone(self.time_zone))
        return self

    @property
    def label(self) -> str:
        """How messages name the data: ``Spark table sales.orders`` or ``Spark files <path>``."""
        return f"Spark table {self.table}" if self.table else f"Spark files {self.path}"

    def conf_strings(self) -> dict[str, str]:
        """The settings as Spark takes them (YAML booleans as true/false)."""
        return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in self.conf.items()}


def _currency_code(v: str) -> str:
    from babel.numbers import get_currency_precision, list_currencies

    code = str(v).strip().upper()
    if code not in list_currencies():
        raise ValueError(f"{v!r} is not an ISO 4217 currency code such as RUB, USD, EUR")
    get_currency_precision(code)
    return code


class TableSource(_Strict):
    """Where a table is and how to read it: the part every table of a source shares."""

    name: Optional[str] = Field(None, description="display name in reports (default: the YAML file's name)")
    format: str = Field("auto", description="auto (from the file suffix and content), csv, excel, html, "
                                            "parquet, sql, spark (a table or files read by Spark, see spark)")
    path: Optional[str] = Field(None, description="data file, relative to the YAML file")
    header_row: Union[int, Literal["auto"]] = Field(
        "auto", description="line (CSV) or row (sheet) of the column names, 1-based; auto finds it below "
                            "title lines")
    csv: CsvOptions = Field(default_factory=CsvOptions)
    excel: ExcelOptions = Field(default_factory=ExcelOptions)
    sql: Optional[SqlOptions] = None

    _base_dir: Optional[Path] = PrivateAttr(None)
    _spec_file: Optional[str] = PrivateAttr(None)
    _frame: Optional[pd.DataFrame] = PrivateAttr(None)

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        from .readers import READERS

        v = str(v).strip().lower()
        v = {"xlsx": "excel", "xls": "excel", "xlsb": "excel", "ods": "excel", "pq": "parquet", "txt": "csv",
             "tsv": "csv"}.get(v, v)
        known = sorted([*READERS, *ENGINE_FORMATS])
        if v != "auto" and v not in known:
            close = difflib.get_close_matches(v, known, n=1)
            raise ValueError(f"unknown format {v!r}; use auto or one of {known}"
                             + (f" (did you mean {close[0]!r}?)" if close else ""))
        return v

    @field_validator("header_row")
    @classmethod
    def _header_row(cls, v: Any) -> Any:
        if isinstance(v, int) and v < 1:
            raise ValueError("header_row is 1-based (1 = the first line)")
        return v

    # ------------------------------------------------------------------ derived
    @property
    def resolved_path(self) -> Path | None:
        """The data file: ``path`` resolved against the YAML file's folder."""
        if not self.path:
            return None
        p = Path(self.path).expanduser()
        if not p.is_absolute() and self._base_dir is not None:
            p = self._base_dir / p
        return p

    @property
    def data_label(self) -> str:
        """How messages name the data: the path as the user wrote it, ``SQL query`` (never a
        URL) or ``DataFrame``."""
        if self.effective_format() == "sql":
            return "SQL query"
        if getattr(self, "spark", None) is not None:
            return self.spark.label
        if self._frame is not None:
            return self.name or "DataFrame"
        return self.path or "(no path)"

    @property
    def display_name(self) -> str:
        if self.effective_format() == "sql":
            return self.name if self.name and "://" not in self.name else "SQL query"
        if getattr(self, "spark", None) is not None:
            return self.name or self.spark.table or Path(str(self.spark.path).rstrip("/")).name
        return self.name or (Path(self.path).name if self.path else "DataFrame")

    def effective_format(self) -> str:
        from .readers import format_for

        return format_for(self)


class TransactionsSpec(TableSource):
    """The transactions table: where it is (:class:`TableSource`) and what its columns mean."""

    columns: ColumnMap = Field(default_factory=ColumnMap)
    currency: Optional[str] = Field(None, description="ISO 4217 code of the amounts (RUB, USD, EUR...); "
                                                      "without it the amounts' marks (₽, руб, $) decide")
    dates: DateOptions = Field(default_factory=DateOptions)
    amounts: AmountOptions = Field(default_factory=AmountOptions)
    ids: IdOptions = Field(default_factory=IdOptions)
    statuses: StatusOptions = Field(default_factory=StatusOptions)
    returns: ReturnOptions = Field(default_factory=ReturnOptions)
    conversion: Optional[ConversionOptions] = None
    cleaning: CleaningRules = Field(default_factory=CleaningRules)
    spark: Optional[SparkOptions] = Field(None, description="with format: spark, the table or files Spark reads, "
                                                            "the master URL and the session's settings")

    _bundled: bool = PrivateAttr(False)

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _currency_code(v)

    @model_validator(mode="after")
    def _consistent(self) -> "TransactionsSpec":
        if self.ids.kind == "phone" and self.ids.default_region is None:
            pass  # numbers with +country code still work; others are refused with a message
        if self.spark is not None and self.format == "auto":
            object.__setattr__(self, "format", "spark")
        if self.format == "spark":
            if self.spark is None:
                raise ValueError("format: spark needs a 'spark' block naming spark.table or spark.path")
            if self.path is not None:
                raise ValueError("with format: spark the files are spark.path (read by Spark), not path")
            if self.ids.kind != "plain":
                raise ValueError("a spark source reads customer ids as they are (ids.kind: plain); e-mail and "
                                 "phone normalisation run only in the file loader")
            if self.columns.currency or self.conversion is not None:
                raise ValueError("a spark source has one currency (the spec's currency); per-row currency columns "
                                 "and conversion rates run only in the file loader")
        elif self.spark is not None:
            raise ValueError(f"a 'spark' block needs format: spark (the format is {self.format!r})")
        if self.amounts.level == "order" and not self.columns.order_id:
            raise ValueError("amounts.level: order needs columns.order_id (which rows belong to one order)")
        if (self.statuses.include or self.statuses.exclude or self.statuses.unknown) and not self.columns.status:
            raise ValueError("statuses needs columns.status (the column holding the order status)")
        return self


class ContactColumns(_Strict):
    """Which column of the contacts table holds each field. Only ``customer_id`` is required
    (looked up by that name when not mapped); a flag column holds consent (or unsubscription)
    as one of the words of :class:`FlagValues`."""

    customer_id: Optional[str] = Field(None, description="customer id, matched to the transactions' ids with the "
                                                         "same normalisation (ids.kind)")
    name: Optional[str] = Field(None, description="full name")
    first_name: Optional[str] = None
    last_name: Optional[str] = None
    email: Optional[str] = Field(None, description="e-mail address")
    phone: Optional[str] = Field(None, description="phone number (written in E.164; numbers without a country code "
                                                   "are read in contacts.phone_region)")
    email_consent: Optional[str] = Field(None, description="consent to e-mail marketing")
    sms_consent: Optional[str] = Field(None, description="consent to SMS marketing")
    call_consent: Optional[str] = Field(None, description="consent to marketing calls")
    email_unsubscribed: Optional[str] = Field(None, description="unsubscribed from e-mails")
    sms_unsubscribed: Optional[str] = Field(None, description="unsubscribed from SMS")
    call_unsubscribed: Optional[str] = Field(None, description="asked not to be called")
    unsubscribed: Optional[str] = Field(None, description="unsubscribed from every channel")


class FlagValues(_Strict):
    """The words of the consent and unsubscribe columns. A value in neither list is never
    guessed: ``unknown: refuse`` (default) stops the load naming the values and the lines;
    ``no_consent`` reads it as no consent (and, in an unsubscribe column, as unsubscribed),
    and the report states how many."""

    true_values: list[str] = Field(default_factory=lambda: ["1", "true", "yes", "y", "да", "д"],
                                   description="values meaning yes (compared without case and surrounding spaces)")
    false_values: list[str] = Field(default_factory=lambda: ["0", "false", "no", "n", "нет", "н"],
                                    description="values meaning no; add \"\" to read empty cells as no")
    unknown: Literal["refuse", "no_consent"] = Field("refuse", description="what other values (and empty "
                                                                          "cells) mean")

    @model_validator(mode="before")
    @classmethod
    def _yaml_booleans(cls, data: Any) -> Any:
        # YAML reads the keys true: / false: as booleans; they mean true_values / false_values
        if isinstance(data, dict) and (True in data or False in data):
            data = dict(data)
            for flag, key in ((True, "true_values"), (False, "false_values")):
                if flag in data:
                    data[key] = data.pop(flag)
        return data

    @field_validator("true_values", "false_values", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        # unquoted YAML words such as yes / no / 1 arrive as booleans or numbers: keep what was meant
        if isinstance(v, list):
            return [("true" if x else "false") if isinstance(x, bool) else str(x) for x in v]
        return v

    @model_validator(mode="after")
    def _disjoint(self) -> "FlagValues":
        both = {v.strip().casefold() for v in self.true_values} & {v.strip().casefold() for v in self.false_values}
        if both:
            raise ValueError(f"values {sorted(both)} are in both flags.true_values and flags.false_values")
        return self


class ContactsSpec(TableSource):
    """The customers' contacts: name, e-mail, phone and consent per channel (file or SQL, read
    by the same readers and rules as the transactions)."""

    columns: ContactColumns = Field(default_factory=ContactColumns)
    flags: FlagValues = Field(default_factory=FlagValues)
    assume_consent: list[Literal["email", "sms", "call"]] = Field(
        default_factory=list, description="channels whose consent is not recorded because it is not needed (e.g. "
                                          "service messages); stated in the report. Without it, a channel with no "
                                          "consent column reaches nobody")
    phone_region: Optional[str] = Field(None, description="ISO region of phone numbers written without a country "
                                                          "code (RU, US); default: ids.default_region")

    @field_validator("phone_region")
    @classmethod
    def _region(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        import phonenumbers

        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{v!r} is not a region code such as RU or US")
        return v.upper()


class SourceSpec(TransactionsSpec):
    """A whole source spec file: the transactions table plus run-wide settings."""

    language: Optional[Literal["en", "ru"]] = Field(None, description="default report language for this source")
    contacts: Optional[ContactsSpec] = Field(None, description="the customers' contacts and consent (optional)")


#: Keys people write that live elsewhere (or under another name) in this spec.
_MOVED = {
    "sheet_name": "excel.sheet", "date_format": "dates.format", "dayfirst": "dates.order",
    "decimal": "amounts.decimal", "thousands": "amounts.thousands", "colums": "columns",
    "column": "columns", "id_kind": "ids.kind", "default_region": "ids.default_region",
    "quarantine_negative": "returns.policy", "skiprows": "header_row", "header": "header_row",
    "delimiter": "csv.sep", "separator": "csv.sep", "encoding": "csv.encoding",
    "order_number": "columns.order_id", "order_no": "columns.order_id", "order": "columns.order_id",
    "customer": "columns.customer_id", "client": "columns.customer_id", "date": "columns.order_date",
    "sum": "columns.amount", "total": "columns.amount", "revenue": "columns.amount", "id_type": "ids.kind",
    "date_order": "dates.order", "include": "statuses.include", "exclude": "statuses.exclude",
}


# ------------------------------------------------------------------------------ reading
def _line_map(node: Any, path: tuple = (), out: dict | None = None) -> dict:
    """(key path) -> 1-based line, for every mapping key and sequence item of a YAML node tree."""
    import yaml

    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            out[path + (key,)] = k.start_mark.line + 1
            _line_map(v, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1
            _line_map(v, path + (i,), out)
    return out


def _decode_yaml(data: bytes, label: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        guess = ""
        try:
            data.decode("cp1251")
            guess = " (it looks like Windows-1251, cp1251)"
        except UnicodeDecodeError:
            pass
        raise SourceSpecError(f"{label}, line {line}: the file is not UTF-8 text{guess}. Save it as UTF-8 "
                              f"(in Notepad: Save as, Encoding UTF-8).") from None


def _yaml_error(e: Exception, label: str, text: str) -> SourceSpecError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    where = f"{label}, line {line}" if line else label
    problem = str(getattr(e, "problem", "") or e).strip()
    src = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    hint = ""
    if "%" in problem or (src and "%" in src and "cannot start any token" in problem):
        hint = " A value starting with % (a date format such as %d.%m.%Y) must be quoted: '%d.%m.%Y'."
    elif "\\t" in problem or "tab" in problem.lower():
        hint = " Indent with spaces, not tabs."
    elif ":" in src and "mapping values are not allowed" in problem:
        hint = " A value containing ': ' must be quoted."
    shown = f" ({src.strip()})" if src.strip() else ""
    return SourceSpecError(f"{where}: the YAML cannot be read: {problem}{shown}.{hint}")


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class a location inside :class:`SourceSpec` points into."""
    model: Any = SourceSpec
    for part in loc:
        if isinstance(part, int) or model is None:
            return None
        f = model.model_fields.get(part)
        if f is None:
            return None
        ann = f.annotation
        args = getattr(ann, "__args__", ())
        cands = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = cands[0] if cands else None
    return model


def _format_errors(err: ValidationError, label: str, lines: dict) -> SourceSpecError:
    msgs = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith(("function-", "union["))))
        loc = tuple(p for p in loc if p not in ("str", "int", "literal['auto']"))
        line = None
        for i in range(len(loc), 0, -1):
            if loc[:i] in lines:
                line = lines[loc[:i]]
                break
        where = f"{label}, line {line}" if line else label
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            key = str(loc[-1])
            parent = _model_at(loc[:-1])
            known = sorted(parent.model_fields) if parent else []
            hint = ""
            if key in _MOVED:
                hint = f" This setting is {_MOVED[key]!r} in a source spec."
            else:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                if close:
                    hint = f" Did you mean {close[0]!r}?"
            inside = ".".join(str(p) for p in loc[:-1])
            msgs.append(f"{where}: unknown key {key!r}{' in ' + inside if inside else ''}.{hint}"
                        + (f" Known keys there: {', '.join(known)}." if known else ""))
        elif e["type"] == "missing":
            msgs.append(f"{where}: {dotted} is required.")
        else:
            text = e["msg"].removeprefix("Value error, ")
            msgs.append(f"{where}: {dotted}: {text} (got {e.get('input')!r}).")
    # unique, in order
    seen: list[str] = []
    for m in msgs:
        if m not in seen:
            seen.append(m)
    return SourceSpecError(" ".join(seen))


def read_source_spec(path: str | Path, *, label: str | None = None) -> SourceSpec:
    """Read and check a YAML source spec. Relative data paths and SQLite URLs are resolved
    against the YAML file's folder. Raises :class:`SourceSpecError` with file and line."""
    import yaml

    path = Path(path)
    label = label or str(path)
    if not path.exists():
        raise SourceSpecError(f"{label}: source spec file not found")
    text = _decode_yaml(path.read_bytes(), label)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _yaml_error(e, label, text) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SourceSpecError(f"{label}: expected a mapping of source settings (key: value lines), "
                              f"got {type(data).__name__}")
    lines = _line_map(node) if node is not None else {}
    return spec_from(data, base_dir=path.parent.resolve(), spec_file=label, lines=lines, default_name=path.stem)


def spec_from(data: Any, *, base_dir: Path | None = None, spec_file: str | None = None,
              lines: dict | None = None, default_name: str | None = None) -> SourceSpec:
    """A :class:`SourceSpec` from a dict (as written in YAML), a path or a DataFrame."""
    if isinstance(data, SourceSpec):
        return data
    frame = None
    if isinstance(data, pd.DataFrame):
        frame, data = data, {"format": "dataframe", "name": "DataFrame"}
    elif isinstance(data, (str, Path)):
        data = {"path": str(data)}
    elif isinstance(data, dict) and isinstance(data.get("frame"), pd.DataFrame):
        data = dict(data)
        frame = data.pop("frame")
        data.setdefault("format", "dataframe")
    if not isinstance(data, dict):
        raise TypeError(f"source must be a spec dict, a path or a DataFrame, not {type(data).__name__}")
    label = spec_file or "source spec"
    try:
        spec = SourceSpec.model_validate(data)
    except ValidationError as e:
        raise _format_errors(e, label, lines or {}) from None
    spec._base_dir = base_dir
    spec._spec_file = spec_file
    spec._frame = frame
    if spec.contacts is not None:
        spec.contacts._base_dir = base_dir
        spec.contacts._spec_file = spec_file
        if spec.contacts.format in ENGINE_FORMATS:
            raise SourceSpecError(f"{label}: contacts cannot be read with format: {spec.contacts.format} yet; "
                                  "give contacts a file path or format: sql")
        if spec.contacts.path is None and spec.contacts.effective_format() != "sql":
            raise SourceSpecError(f"{label}: contacts needs a 'path' (or format: sql with sql.query)")
    if spec.name is None and default_name:
        spec.name = default_name
    if spec.path is None and frame is None and spec.effective_format() not in ("sql", "spark"):
        raise SourceSpecError(f"{label}: the source needs a 'path' (or format: sql with sql.query)")
    return spec


def json_schema() -> dict:
    """The JSON Schema of :class:`SourceSpec` (for editors' completion and checks)."""
    schema = SourceSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "rfm-template source spec"
    return schema


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m rfm_helpers.load.spec  -> rewrite the published schema
    print(write_schema())
