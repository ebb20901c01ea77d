"""Load transactions from CSV / Excel / Parquet / SQL, validate them and quarantine bad rows.

:func:`load_transactions` turns a *source spec* into a :class:`LoadResult`: the clean,
canonical transactions (``customer_id``, ``order_date``, ``amount`` and optionally
``order_id``, ``channel``, ``quantity``), the rejected rows with a reason each, and an
accounting that always adds up (rows in = rows kept + rows quarantined).

A source described in YAML (the ``source_config`` parameter of the notebooks)::

    name: Sales 2024 (1C export)
    path: sales_2024.csv            # relative to the YAML file
    columns: {customer_id: Клиент, order_date: Дата, amount: Сумма, channel: Канал}
    csv: {sep: auto, encoding: auto, decimal: auto}    # all three are the defaults
    cleaning: {quarantine_negative: true, max_bad_share: 0.05}

or for a database (the URL itself only ever lives in the environment variable)::

    format: sql
    sql: {query: "SELECT client, sold_at, total FROM sales", url_env: RFM_DB_URL}
    columns: {customer_id: client, order_date: sold_at, amount: total}

Two kinds of problems are told apart:

* **The file as a whole is wrong** (missing or misspelt columns, wrong separator, empty
  file, a whole column that cannot be read, or more than ``max_bad_share`` of the dates or
  amounts unreadable, which almost always means a wrong format option). Then nothing is
  loaded and :class:`DataValidationError` says which file, which column and which lines.
* **Individual rows are wrong**. They go to the quarantine with a short reason code and a
  readable detail, the rest is kept. Reason codes, checked in this order (a row gets the
  first that applies):

  ``repeated_header``        the header line appears again inside the data (files glued together)
  ``missing_customer_id``    customer id empty or a null marker (``n/a``, ``NULL``, ``-`` ...)
  ``bad_date``               order date empty, unreadable, ambiguous or impossible (31.02)
  ``bad_amount``             amount empty or not a number
  ``after_analysis_date``    order date after the analysis date (inclusive), e.g. test or future orders
  ``return_or_cancellation`` negative amount (returns are not purchases for RFM)
  ``zero_amount``            amount exactly 0 (free items, cancelled orders)
  ``duplicate``              an exact repeat of an earlier row, **only when an order id is mapped**

Duplicates: without an order id, two identical rows (same customer, day, amount) are
legitimate separate purchases (the bundled CDNOW data has 255 such rows: customers who
bought the same thing twice on one day), so they are kept. With an order id an exact
repeat of a whole row is a double export and is quarantined; rows sharing an order id
but differing in any value are order lines and are kept.

Reading rules: every column is read as text first and parsed afterwards, so customer ids
keep leading zeros (``"00042"`` is not ``"42"``). Amounts may carry a decimal comma,
thousands separators (space, no-break space, apostrophe, or the other of ``.``/``,``)
and currency marks (``₽ руб. р. $ € £ RUB USD EUR``); with ``decimal: auto`` the decimal
mark is inferred per column. Dates may be ``dd.mm.yyyy``, ISO ``yyyy-mm-dd`` (with time
and time zone), ``yyyymmdd``, ``dd/mm/yyyy`` or ``mm/dd/yyyy`` (the order is inferred
from values with a part above 12; ambiguous values are quarantined when the column
contradicts itself), Excel serial day numbers, and real date cells in Excel/Parquet/SQL.
Several of these formats may be mixed within one column.

Time zones: a timestamp with a time zone (``2024-03-01T23:30:00+03:00``) is kept at its
*local wall-clock time*, the zone dropped (here 2024-03-01 23:30): the purchase date is
the calendar day the customer saw, not the day in UTC. Times of day are kept; RFM only
uses the calendar date.

Line numbers (``source_row``): for CSV the line number in the file counting the header as
line 1 (exact when no quoted value spans several lines); for Excel the sheet row number
(header = row 1); for Parquet, SQL and DataFrames the 1-based row position.

Security: a SQL source takes its database URL only from an environment variable named
in the spec (``url_env``, default ``RFM_DB_URL``); the URL never appears in messages,
warnings or anything returned.
"""
from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "DataValidationError",
    "CleaningRules",
    "LoadResult",
    "REASONS",
    "REASON_LABELS",
    "load_transactions",
    "monthly_activity",
    "plot_monthly_activity",
    "describe_clean",
    "load_sentences",
    "money_text",
]

REQUIRED = ("customer_id", "order_date", "amount")
OPTIONAL = ("order_id", "channel", "quantity")
CANONICAL = REQUIRED + OPTIONAL

#: Quarantine reason codes in the order they are checked.
REASONS = (
    "repeated_header",
    "missing_customer_id",
    "bad_date",
    "bad_amount",
    "after_analysis_date",
    "return_or_cancellation",
    "zero_amount",
    "duplicate",
)

#: Plain-language descriptions of the reason codes for reports.
REASON_LABELS = {
    "en": {
        "kept": "kept for analysis",
        "repeated_header": "header line repeated inside the data",
        "missing_customer_id": "no customer id",
        "bad_date": "order date missing or unreadable",
        "bad_amount": "amount missing or not a number",
        "after_analysis_date": "order dated after the analysis date",
        "return_or_cancellation": "negative amount (return or cancellation)",
        "zero_amount": "amount is zero",
        "duplicate": "exact duplicate of an earlier row with the same order id",
        "total": "rows read",
    },
    "ru": {
        "kept": "оставлено для анализа",
        "repeated_header": "строка заголовка повторяется внутри данных",
        "missing_customer_id": "нет идентификатора клиента",
        "bad_date": "дата заказа пуста или не читается",
        "bad_amount": "сумма пуста или не число",
        "after_analysis_date": "заказ позже даты анализа",
        "return_or_cancellation": "отрицательная сумма (возврат или отмена)",
        "zero_amount": "нулевая сумма",
        "duplicate": "точный дубль более ранней строки с тем же номером заказа",
        "total": "прочитано строк",
    },
}

#: Text values treated as "no value" in any column (compared case-insensitively, stripped).
NULL_TOKENS = frozenset({"", "nan", "none", "null", "n/a", "na", "#n/a", "nat", "-", "—", "?", "(null)", "<na>"})

_CURRENCY_RE = r"(?:руб\.?|Руб\.?|РУБ\.?|р\.|Р\.|₽|\$|€|£|¥|RUB|USD|EUR|rub|usd|eur|Rub|Usd|Eur)"
# explicit characters, not \s: pandas hands simple patterns to pyarrow's fast regex engine
_SPACES_RE = "[ \t\r\n\u00a0\u202f\u2009'’`]"
_TZ_RE = r"(?: *(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))$"
_TZ_AFTER_TIME_RE = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)? *(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
_TIME = r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
_ISO_RE = r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})" + _TIME
_DOT_RE = r"(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})" + _TIME
_SLASH_RE = r"(\d{1,2})[/-](\d{1,2})[/-](\d{4})" + _TIME
_COMPACT_RE = r"(?:19|20|21)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_SERIAL_RE = r"\d{4,5}(?:\.\d+)?"
#: Excel serial day numbers accepted as dates (1927-05-18 .. 2173-10-14).
_SERIAL_MIN, _SERIAL_MAX = 10_000, 100_000
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_LEGACY_ENCODINGS = ["cp1251", "koi8_r", "cp866", "cp1252", "latin_1"]


class DataValidationError(ValueError):
    """The source cannot be loaded as a whole. The message names the file (never a
    connection string), the column(s) involved and example rows by 1-based line number."""


@dataclass
class CleaningRules:
    """Thresholds and switches of the cleaning step (all optional, defaults in brackets).

    ``max_bad_share`` (0.05)
        If more than this share of rows has an unreadable date (or amount), the load
        fails instead of quarantining: such a rate almost always means a wrong format
        option (date format, decimal mark), not a few bad rows.
    ``min_rows_for_share_check`` (20)
        Files smaller than this are never failed by the share rule (one bad row in a
        10-row file is 10 %, but still just one bad row).
    ``quarantine_negative`` (True) / ``quarantine_zero`` (True)
        Negative amounts (returns, cancellations) and zero amounts go to the quarantine.
        Switch off to keep them (e.g. when returns should reduce monetary value).
    ``outlier_factor`` (1000)
        Amounts above this multiple of the median positive amount are kept but reported
        in the warnings, so a stakeholder can check them (a typo adding zeros, a B2B order).
    ``dedupe_with_order_id`` (True)
        With an ``order_id`` column mapped, exact repeats of a whole row are quarantined
        as ``duplicate``. Without an order id identical rows are always kept.
    ``dayfirst`` (True)
        How to read ``01/02/2024`` when nothing in the column tells day from month.
    """

    max_bad_share: float = 0.05
    min_rows_for_share_check: int = 20
    quarantine_negative: bool = True
    quarantine_zero: bool = True
    outlier_factor: float = 1000.0
    dedupe_with_order_id: bool = True
    dayfirst: bool = True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "CleaningRules":
        """Build from a mapping (e.g. the ``cleaning:`` block of a YAML source); unknown keys are an error."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DataValidationError(f"cleaning rules: unknown setting(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


@dataclass
class LoadResult:
    """Outcome of :func:`load_transactions`.

    ``clean`` canonical transactions; ``quarantine`` rejected rows with ``source_row``,
    ``reason``, ``detail`` and the original values (as text); counts that always add up;
    ``source_name`` (a file name or ``"SQL query"``); ``warnings`` in plain language.
    """

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    rows_kept: int
    rows_quarantined: int
    source_name: str
    warnings: list[str] = field(default_factory=list)
    #: canonical name -> source column actually used (e.g. ``{"amount": "Сумма"}``)
    column_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.rows_in == self.rows_kept + self.rows_quarantined, (
            f"row accounting does not add up: {self.rows_in} in != {self.rows_kept} kept + {self.rows_quarantined} quarantined")
        assert len(self.clean) == self.rows_kept and len(self.quarantine) == self.rows_quarantined

    def reason_counts(self) -> pd.Series:
        """Quarantined rows per reason code (reasons with no rows omitted), in check order."""
        counts = self.quarantine["reason"].value_counts() if len(self.quarantine) else pd.Series(dtype="int64")
        order = [r for r in REASONS if r in counts.index] + [r for r in counts.index if r not in REASONS]
        return counts.reindex(order).astype("int64")

    def customers_fully_quarantined(self) -> int:
        """Customers that appear in the source but have no kept row (all their rows were set
        aside), so they are missing from every RFM table. 0 when the id column is unknown."""
        col = self.column_map.get("customer_id")
        if col in ("source_row", "reason", "detail"):
            col = f"raw_{col}"
        if not col or col not in self.quarantine.columns or self.quarantine.empty:
            return 0
        ids = self.quarantine[col].astype("string").str.strip()
        ids = ids[ids.notna() & ~ids.str.lower().isin(NULL_TOKENS)]
        return int(len(set(ids) - set(self.clean["customer_id"].dropna())))

    def accounting(self, language: str = "en") -> pd.DataFrame:
        """Row accounting for reports: one line for kept rows, one per quarantine reason and
        a total line (rows read); columns ``outcome``, ``reason``, ``description``, ``rows``, ``share``."""
        labels = REASON_LABELS.get(language, REASON_LABELS["en"])
        denom = self.rows_in or 1
        rows = [{"outcome": "kept", "reason": "", "description": labels["kept"], "rows": self.rows_kept}]
        for reason, n in self.reason_counts().items():
            rows.append({"outcome": "quarantined", "reason": reason,
                         "description": labels.get(reason, reason), "rows": int(n)})
        rows.append({"outcome": "total", "reason": "", "description": labels["total"], "rows": self.rows_in})
        out = pd.DataFrame(rows)
        out["share"] = out["rows"] / denom
        return out

    def write_quarantine(self, path: str | os.PathLike) -> Path:
        """Write the quarantined rows to CSV (UTF-8 with BOM so Excel shows Cyrillic correctly)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.quarantine.to_csv(path, index=False, encoding="utf-8-sig")
        return path


# --------------------------------------------------------------------------------------
# Source spec handling and readers
# --------------------------------------------------------------------------------------

def _spec(source: Any) -> dict:
    if isinstance(source, pd.DataFrame):
        return {"format": "dataframe", "frame": source, "name": "DataFrame"}
    if isinstance(source, (str, os.PathLike)):
        return {"path": str(source), "format": "auto"}
    if isinstance(source, Mapping):
        spec = dict(source)
        if isinstance(spec.get("frame"), pd.DataFrame):
            spec.setdefault("format", "dataframe")
        return spec
    raise TypeError(f"source must be a dict spec, a path or a DataFrame, not {type(source).__name__}")


def _format_of(spec: dict) -> str:
    fmt = str(spec.get("format") or "auto").lower()
    if fmt != "auto":
        return {"xlsx": "excel", "xls": "excel", "pq": "parquet", "txt": "csv", "tsv": "csv"}.get(fmt, fmt)
    if spec.get("sql") or spec.get("query"):
        return "sql"
    suffix = Path(str(spec.get("path", ""))).suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return "excel"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "csv"


def _decode(data: bytes, encoding: str, name: str, warnings: list[str]) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        warnings.append("UTF-8 byte order mark (BOM) found and removed")
        return _strict_decode(data[3:], "utf-8", name)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        warnings.append("UTF-16 text detected")
        return _strict_decode(data, "utf-16", name)
    enc = (encoding or "auto").lower()
    if enc != "auto":
        return _strict_decode(data, enc, name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Candidates limited to the legacy encodings such files really come in: left free,
    # the detector can pick exotic code pages for short samples.
    best = from_bytes(data[:500_000], cp_isolation=_LEGACY_ENCODINGS).best()
    guess = best.encoding if best is not None else "cp1251"
    # charset-normalizer names cp1251 'cp1251'; Russian legacy files are nearly always it or koi8-r
    warnings.append(f"file is not UTF-8: encoding {guess} detected")
    return _strict_decode(data, guess, name)


def _strict_decode(data: bytes, enc: str, name: str) -> str:
    try:
        return data.decode(enc)
    except (UnicodeDecodeError, LookupError) as e:
        pos = getattr(e, "start", 0)
        line = data[:pos].count(b"\n") + 1
        raise DataValidationError(
            f"{name}: cannot be read as {enc} text (first bad byte on line {line}); "
            f"set csv.encoding to the file's encoding (e.g. cp1251) or to 'auto'") from None


def _sniff_sep(text: str, warnings: list[str]) -> str:
    """Separator of a delimited text: the only candidate found in the header line when
    there is exactly one (decimal commas in the data cannot fool this), else csv.Sniffer,
    else runs of whitespace, else a comma."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    candidates = ";,\t|"
    in_header = [c for c in candidates if lines and c in lines[0]]
    sep = None
    if len(in_header) == 1:
        sep = in_header[0]
    else:
        try:
            sep = csv.Sniffer().sniff("\n".join(lines), delimiters=candidates).delimiter
        except csv.Error:
            counts = {len(ln.split()) for ln in lines}
            if len(counts) == 1 and counts.pop() > 1:
                warnings.append("whitespace-separated columns detected")
                return r"\s+"
            return ","
    warnings.append(f"separator {sep!r} detected" if sep != "\t" else "separator TAB detected")
    return sep


def _header_fields(text: str, sep: str) -> list[str]:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if sep in (r"\s+", " "):
        return first.split()
    if len(sep) == 1:
        return next(csv.reader([first], delimiter=sep), [])
    return re.split(sep, first)


def _read_csv(spec: dict, name: str, warnings: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    opts = dict(spec.get("csv") or {})
    path = Path(spec["path"])
    if not path.exists():
        raise DataValidationError(f"{name}: file not found")
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise DataValidationError(f"{name}: the file is empty (no header, no rows)")
    text = _decode(data, opts.get("encoding", "auto"), name, warnings)
    sep = opts.get("sep", "auto") or "auto"
    if sep == "auto":
        sep = _sniff_sep(text, warnings)
    header = [h.strip() for h in _header_fields(text, sep)]
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        where = "; ".join(f"{h!r} at positions {[i + 1 for i, x in enumerate(header) if x == h]}" for h in dup)
        raise DataValidationError(
            f"{name}: duplicated column name(s) in the header: {where}. Rename the columns so each is unique.")
    kw: dict[str, Any] = dict(dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False,
                              index_col=False)
    if sep == r"\s+":
        kw.update(sep=r"\s+", engine="c")
    elif len(sep) == 1:
        kw.update(sep=sep, engine="c")
    else:
        kw.update(sep=sep, engine="python")
    try:
        df = pd.read_csv(io.StringIO(text), **kw)
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{name}: the file is empty (no header, no rows)") from None
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            raise DataValidationError(
                f"{name}: line {m.group(2)} has {m.group(3)} fields but the header has {m.group(1)}; "
                f"a value probably contains the separator {sep!r} without quotes") from None
        raise DataValidationError(f"{name}: cannot be parsed as CSV ({e})") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.fillna("")
    lines = np.arange(len(df), dtype="int64") + 2  # header is line 1
    # blank lines are not rows: drop them without counting (mention them unless only at the end)
    blank = np.ones(len(df), dtype=bool)
    for c in df.columns:
        blank &= (df[c].str.strip() == "").to_numpy()
    if blank.any():
        nonblank = np.flatnonzero(~blank)
        inner = int(blank[: nonblank[-1]].sum()) if len(nonblank) else 0
        if inner:
            warnings.append(f"{inner:,} blank line(s) inside the data skipped")
        df = df.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    if len(df) == 0:
        raise DataValidationError(f"{name}: the file has a header ({', '.join(header)}) but no data rows")
    return df, lines


def _read_excel(spec: dict, name: str, warnings: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    path = Path(spec["path"])
    if not path.exists():
        raise DataValidationError(f"{name}: file not found")
    sheet = (spec.get("excel") or {}).get("sheet", 0)
    try:
        df = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
    except ValueError as e:
        raise DataValidationError(f"{name}: cannot read sheet {sheet!r} ({e})") from None
    if df.shape[1] == 0:
        raise DataValidationError(f"{name}: sheet {sheet!r} is empty (no header, no rows)")
    cols = [str(c).strip() for c in df.columns]
    mangled = [c for c in cols if re.fullmatch(r".+\.\d+", c) and c.rsplit(".", 1)[0] in cols]
    if mangled:
        raise DataValidationError(
            f"{name}: duplicated column name(s) in the header: {sorted({c.rsplit('.', 1)[0] for c in mangled})}. "
            "Rename the columns so each is unique.")
    df.columns = cols
    lines = np.arange(len(df), dtype="int64") + 2
    keep = ~df.isna().all(axis=1).to_numpy()
    df, lines = df.loc[keep].reset_index(drop=True), lines[keep]
    if len(df) == 0:
        raise DataValidationError(f"{name}: the sheet has a header ({', '.join(cols)}) but no data rows")
    return df, lines


def _read_parquet(spec: dict, name: str, warnings: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    path = Path(spec["path"])
    if not path.exists():
        raise DataValidationError(f"{name}: file not found")
    df = pd.read_parquet(path, engine="pyarrow")
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataValidationError(f"{name}: the file has columns ({', '.join(df.columns)}) but no rows")
    return df.reset_index(drop=True), np.arange(len(df), dtype="int64") + 1


def _scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "••••")
    return text


def _read_sql(spec: dict, name: str, warnings: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    import sqlalchemy as sa

    sql = dict(spec.get("sql") or {})
    query = sql.get("query") or spec.get("query")
    env = sql.get("url_env") or "RFM_DB_URL"
    if not query:
        raise DataValidationError(f"{name}: the sql source needs a 'query'")
    url = os.environ.get(env)
    if not url:
        raise DataValidationError(f"{name}: environment variable {env} with the database URL is not set")
    secrets = [url]
    try:
        u = sa.engine.make_url(url)
        secrets += [u.password or "", u.render_as_string(hide_password=True), u.username or ""]
    except Exception:  # noqa: BLE001 - an unparsable URL: still never echo it
        raise DataValidationError(f"{name}: the database URL in {env} is not a valid SQLAlchemy URL") from None
    try:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                df = pd.read_sql_query(sa.text(query), conn)
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - database errors are reported without the URL
        msg = _scrub(str(getattr(e, "orig", None) or e).splitlines()[0] if str(e) else type(e).__name__, secrets)
        raise DataValidationError(f"{name}: the database query failed ({type(e).__name__}: {msg})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataValidationError(f"{name}: the query returned columns ({', '.join(df.columns)}) but no rows")
    return df, np.arange(len(df), dtype="int64") + 1


# --------------------------------------------------------------------------------------
# Parsing helpers (vectorised)
# --------------------------------------------------------------------------------------

def _stringify_value(v: Any) -> str:
    if v is None or v is pd.NaT or v is pd.NA:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, np.floating):
        return _stringify_value(float(v))
    return str(v)


def _as_text(s: pd.Series) -> pd.Series:
    """Any column as stripped text ('' for missing) without losing leading zeros of text input."""
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        out = s.fillna("")
    elif pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
        out = s.astype(str)
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        # vectorised; same text as _stringify_value for whole seconds (typed Parquet/SQL dates)
        out = s.astype(str).where(s.notna(), "")
    elif pd.api.types.is_float_dtype(s.dtype) and not isinstance(s.dtype, pd.ArrowDtype):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(v) & (np.abs(v) < 1e15)
        whole[whole] = v[whole] == np.floor(v[whole])
        text = np.full(len(v), "", dtype=object)
        text[whole] = v[whole].astype(np.int64).astype(str)
        rest = ~whole & ~np.isnan(v)
        text[rest] = [repr(x) for x in v[rest].tolist()]
        out = pd.Series(text, index=s.index)
    else:
        out = s.map(_stringify_value)
    return out.astype("str").str.strip()


def _is_null_text(t: pd.Series) -> pd.Series:
    return t.str.lower().isin(NULL_TOKENS)


def _parse_amounts(s: pd.Series, decimal: str, thousands: str | None, warnings: list[str], col: str) -> pd.Series:
    """Numbers from text: currency marks and grouping characters removed, decimal mark
    given or inferred (``auto``) from the column. Patterns are kept simple (no ``\\s``,
    ``\\b``, ``(?i)``) so pandas runs them in pyarrow's vectorised regex engine."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return pd.to_numeric(s, errors="coerce").astype("float64")
    t = _as_text(s)
    plain = t.str.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?")
    work = t
    if not plain.all():
        u = t[~plain]
        u = u.str.replace(_CURRENCY_RE, "", regex=True).str.replace(_SPACES_RE, "", regex=True)
        u = u.str.replace("−", "-", regex=False)
        paren = u.str.startswith("(") & u.str.endswith(")")
        if paren.any():  # accounting style (12.50) = -12.50
            u = u.where(~paren, "-" + u.str.slice(1, -1))
        trail = u.str.endswith("-") & (u.str.len() > 1)
        if trail.any():  # trailing minus of some accounting exports: 12.50-
            u = u.where(~trail, "-" + u.str.slice(0, -1))
        if thousands and thousands not in (" ", "'"):
            u = u.str.replace(thousands, "", regex=False)
        work = t.copy()
        work[~plain] = u
    dec = decimal or "auto"
    if dec == "auto":
        dec = "."
        if work.str.contains(",", regex=False).any():
            votes_c = (work.str.contains(r",[0-9]{1,2}$") | work.str.contains(r",[0-9]{4,}$")
                       | work.str.contains(r"\.[0-9]*,[0-9]*$") | work.str.contains(r"\.[0-9]*\.")).sum()
            votes_d = (work.str.contains(r"\.[0-9]{1,2}$") | work.str.contains(r"\.[0-9]{4,}$")
                       | work.str.contains(r",[0-9]*\.[0-9]*$") | work.str.contains(r",[0-9]*,")).sum()
            dec = "," if votes_c > votes_d else "."
        if dec == ",":
            warnings.append(f"decimal comma detected in column {col!r}")
    if dec == ",":
        # dots are thousands separators when the value also has a comma or is grouped by
        # three (1.234.567); a lone 12.5 keeps its dot as the decimal mark
        dots_thousands = work.str.contains(",", regex=False) | work.str.fullmatch(r"-?[0-9]{1,3}(?:\.[0-9]{3})+")
        work = work.where(~dots_thousands, work.str.replace(".", "", regex=False)).str.replace(",", ".", regex=False)
    else:
        work = work.str.replace(",", "", regex=False)
    out = pd.to_numeric(work.where(work != "", None), errors="coerce").astype("float64")
    vals = out.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(vals).any():
        out[np.isinf(vals)] = np.nan
    return out


def _try_formats(out: pd.Series, t: pd.Series, mask: pd.Series, formats: list[str]) -> pd.Series:
    """Fill ``out`` where ``mask`` and still empty, trying each fixed format in turn (C speed)."""
    rem = mask & out.isna()
    for f in formats:
        if not rem.any():
            break
        parsed = pd.to_datetime(t[rem], format=f, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        ok = parsed.notna()
        if ok.any():
            out[ok[ok].index] = parsed[ok].astype("datetime64[ns]")
            rem[ok[ok].index] = False
    return rem


def _components(t: pd.Series, pattern: str, order: str) -> pd.Series:
    """Datetimes from regex groups: ``order`` says which of the first three groups is y/m/d."""
    g = t.str.extract("^" + pattern + "$")
    if g.empty:
        return pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    num = g.apply(pd.to_numeric, errors="coerce")
    parts = {k: num[i] for i, k in enumerate(order)}
    year = parts["y"]
    year = year.where(year >= 100, year + np.where(year < 69, 2000, 1900))
    frame = pd.DataFrame({"year": year, "month": parts["m"], "day": parts["d"],
                          "hour": num[3].fillna(0), "minute": num[4].fillna(0), "second": num[5].fillna(0)})
    return pd.to_datetime(frame, errors="coerce").astype("datetime64[ns]")


def _parse_dates(s: pd.Series, fmt: str | None, dayfirst: bool | None, rules: CleaningRules,
                 warnings: list[str], col: str) -> tuple[pd.Series, pd.Series]:
    """Return (datetimes, ambiguous mask)."""
    idx = s.index
    none = pd.Series(False, index=idx)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        warnings.append(f"column {col!r}: time zone {s.dt.tz} dropped, local wall-clock times kept")
        return s.dt.tz_localize(None).astype("datetime64[ns]"), none
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.astype("datetime64[ns]"), none
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) and fmt is None:
        v = pd.to_numeric(s, errors="coerce").astype("float64")
        out = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns]")
        serial = v.between(_SERIAL_MIN, _SERIAL_MAX)
        if serial.any():
            out[serial] = _EXCEL_EPOCH + pd.to_timedelta(v[serial], unit="D")
            warnings.append(f"column {col!r}: Excel serial day numbers converted to dates")
        compact = v.between(19000101, 21991231) & (v % 1 == 0)
        if compact.any():
            out[compact] = pd.to_datetime(v[compact].astype("int64").astype(str), format="%Y%m%d", errors="coerce")
        return out, none
    t = _as_text(s)
    nulls = _is_null_text(t)
    if fmt:
        out = pd.to_datetime(t.where(~nulls, None), format=fmt, errors="coerce")
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out.astype("datetime64[ns]"), none
    out = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns]")
    ambiguous = none.copy()
    has_tz = t.str.contains(_TZ_AFTER_TIME_RE, regex=True) & ~nulls
    if has_tz.any():
        t = t.where(~has_tz, t.str.replace(_TZ_RE, "", regex=True))
        warnings.append(f"column {col!r}: {int(has_tz.sum()):,} timestamps carry a time zone; "
                        "the local date and time as written were kept, the zone dropped")
    todo = ~nulls
    m = t.str.fullmatch(_COMPACT_RE) & todo
    if m.any():
        _try_formats(out, t, m, ["%Y%m%d"])
        todo &= ~m
    m = t.str.fullmatch(_SERIAL_RE) & todo
    if m.any():
        v = pd.to_numeric(t[m], errors="coerce")
        ok = v.between(_SERIAL_MIN, _SERIAL_MAX)
        out[ok[ok].index] = _EXCEL_EPOCH + pd.to_timedelta(v[ok], unit="D")
        warnings.append(f"column {col!r}: {int(ok.sum()):,} Excel serial day numbers converted to dates")
        todo &= ~m
    m = t.str.fullmatch(_ISO_RE) & todo
    if m.any():
        rem = _try_formats(out, t, m, ["ISO8601", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"])
        if rem.any():
            out[rem] = _components(t[rem], _ISO_RE, "ymd")
        todo &= ~m
    m = t.str.fullmatch(_DOT_RE) & todo
    if m.any():
        rem = _try_formats(out, t, m, ["%d.%m.%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M"])
        if rem.any():
            out[rem] = _components(t[rem], _DOT_RE, "dmy")
        todo &= ~m
    m = t.str.fullmatch(_SLASH_RE) & todo
    if m.any():
        u = t[m].str.replace("-", "/", regex=False)
        sel = pd.Series(True, index=u.index)
        dmy = pd.Series(pd.NaT, index=u.index, dtype="datetime64[ns]")
        mdy = dmy.copy()
        _try_formats(dmy, u, sel, ["%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"])
        _try_formats(mdy, u, sel, ["%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"])
        day_first_ev = dmy.notna() & mdy.isna()
        month_first_ev = mdy.notna() & dmy.isna()
        if day_first_ev.any() and month_first_ev.any():
            # the column contradicts itself: unambiguous values follow their own evidence,
            # values like 03/04/2024 cannot be decided and are quarantined
            amb = dmy.notna() & mdy.notna() & (dmy != mdy)
            ambiguous[amb[amb].index] = True
            out[u.index] = dmy.where(dmy.notna() & ~amb, mdy.where(~amb))
            warnings.append(f"column {col!r}: both day/month/year and month/day/year dates found; "
                            f"{int(amb.sum()):,} dates that could be either were quarantined")
        else:
            first = True if day_first_ev.any() else False if month_first_ev.any() else (
                rules.dayfirst if dayfirst is None else bool(dayfirst))
            if not day_first_ev.any() and not month_first_ev.any() and (dmy != mdy).any():
                warnings.append(f"column {col!r}: dates like 01/02/2024 read as "
                                f"{'day/month' if first else 'month/day'}/year (set csv.dayfirst to change)")
            out[u.index] = dmy if first else mdy
        todo &= ~m
    if todo.any():
        rest = t[todo]
        first = rules.dayfirst if dayfirst is None else bool(dayfirst)
        if len(rest) <= 50_000:
            parsed = pd.Series([_parse_one(v, first) for v in rest], index=rest.index, dtype="datetime64[ns]")
        else:
            parsed = pd.to_datetime(rest, errors="coerce", dayfirst=first)
            if getattr(parsed.dt, "tz", None) is not None:
                parsed = parsed.dt.tz_localize(None)
        out[todo] = parsed.astype("datetime64[ns]")
    old = out.notna() & (out.dt.year < 1900)
    if old.any():
        out[old] = pd.NaT
    return out, ambiguous


def _parse_one(v: str, dayfirst: bool) -> pd.Timestamp:
    """Last resort for rare leftovers (month names, unusual layouts): one value at a time."""
    try:
        ts = pd.to_datetime(v, dayfirst=dayfirst)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    if ts is pd.NaT:
        return pd.NaT
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _examples(lines: np.ndarray, values: pd.Series, mask: np.ndarray, k: int = 5) -> str:
    pos = np.flatnonzero(mask)[:k]
    return ", ".join(f"line {int(lines[p])}: {str(values.iloc[p])!r}" for p in pos)


def _resolve_columns(df: pd.DataFrame, mapping: Mapping[str, str], name: str, warnings: list[str]) -> dict[str, str]:
    found = list(df.columns)
    resolved: dict[str, str] = {}
    problems = []
    for target in CANONICAL:
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
            warnings.append(f"column {wanted!r} matched {ci[0]!r} ignoring letter case")
            continue
        if target in REQUIRED or target in mapping:
            close = difflib.get_close_matches(wanted, found, n=1, cutoff=0.5) or difflib.get_close_matches(
                wanted.casefold(), [c.casefold() for c in found], n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(f"expected column {wanted!r} (for {target}) not found.{hint}")
    if problems:
        shown = ", ".join(repr(c) for c in found[:30])
        msg = f"{name}: " + " ".join(problems) + f" Columns found: {shown}."
        if len(found) == 1 and re.search(r"[;,\t|]", found[0]):
            msg += (f" Only one column was found and its name contains separators: the separator option "
                    f"is probably wrong (try csv.sep: 'auto').")
        elif len(found) == 1:
            msg += " Only one column was found: the separator option is probably wrong (try csv.sep: 'auto')."
        raise DataValidationError(msg)
    return resolved


# --------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------

def _parse_analysis_date(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return pd.Timestamp(value).normalize()


def load_transactions(source: Any, analysis_date: Any = None, *, rules: CleaningRules | None = None) -> LoadResult:
    """Read, validate and clean transactions; see the module docstring for every rule.

    ``source`` is a spec dict (``path``, ``name``, ``format``, ``columns``, ``csv``,
    ``excel``, ``sql``, ``cleaning``), a file path (format from the suffix, columns named
    canonically) or a pandas DataFrame. ``analysis_date`` (inclusive): rows dated after it
    are quarantined; ``None`` = no such check. ``rules`` override the spec's ``cleaning``.

    Raises :class:`DataValidationError` when the source as a whole cannot be used.
    """
    spec = _spec(source)
    fmt = _format_of(spec)
    if fmt == "sql":
        name = "SQL query"  # never the URL, and not a user-supplied name that could hold one
    elif fmt == "dataframe":
        name = str(spec.get("name") or "DataFrame")
    else:
        if not spec.get("path"):
            raise DataValidationError("source spec needs a 'path' (or format: sql with a query)")
        name = str(spec.get("name") or Path(spec["path"]).name)
    if rules is None:
        rules = CleaningRules.from_dict(spec.get("cleaning"))
    warnings: list[str] = []
    csv_opts = dict(spec.get("csv") or {})

    if fmt == "csv":
        raw, lines = _read_csv(spec, name, warnings)
    elif fmt == "excel":
        raw, lines = _read_excel(spec, name, warnings)
    elif fmt == "parquet":
        raw, lines = _read_parquet(spec, name, warnings)
    elif fmt == "sql":
        raw, lines = _read_sql(spec, name, warnings)
    elif fmt == "dataframe":
        raw = spec["frame"].copy()
        raw.columns = [str(c).strip() for c in raw.columns]
        if len(raw) == 0:
            raise DataValidationError(f"{name}: no rows")
        raw = raw.reset_index(drop=True)
        lines = np.arange(len(raw), dtype="int64") + 1
    else:
        raise DataValidationError(f"{name}: unknown format {fmt!r} (use csv, excel, parquet or sql)")

    cols = _resolve_columns(raw, dict(spec.get("columns") or {}), name, warnings)
    n = len(raw)
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray | pd.Series, code: str, text: Any) -> None:
        m = np.asarray(mask, dtype=bool) & (reason == "")
        reason[m] = code
        if callable(text):
            pos = np.flatnonzero(m)
            detail[pos] = text(pos)
        else:
            detail[m] = text[m] if isinstance(text, np.ndarray) else text

    # repeated header lines (several exports glued together)
    texts = {t: _as_text(raw[c]) for t, c in cols.items() if t in ("customer_id", "order_date", "amount")}
    rep = np.ones(n, dtype=bool)
    for t, c in cols.items():
        if t in texts:
            rep &= (texts[t] == c).to_numpy()
    flag(rep, "repeated_header", "the header line appears again inside the data")

    # customer id
    cid = texts["customer_id"]
    cid_null = _is_null_text(cid).to_numpy()
    if cid_null[~rep].all():
        raise DataValidationError(f"{name}: column {cols['customer_id']!r} (customer_id) is empty in every row")
    if not (pd.api.types.is_string_dtype(raw[cols["customer_id"]].dtype)) and fmt != "csv":
        if pd.api.types.is_numeric_dtype(raw[cols["customer_id"]].dtype):
            warnings.append(f"column {cols['customer_id']!r}: customer ids stored as numbers; "
                            "leading zeros, if any existed, are lost in the source")
    flag(cid_null, "missing_customer_id", "customer id is empty")

    # dates
    dcol = cols["order_date"]
    dates, ambiguous = _parse_dates(raw[dcol], csv_opts.get("date_format"), csv_opts.get("dayfirst"),
                                    rules, warnings, dcol)
    dtext = texts["order_date"]
    d_null = _is_null_text(dtext).to_numpy()
    d_bad = (dates.isna().to_numpy() | ambiguous.to_numpy())
    considered = ~rep & ~cid_null
    if d_null[~rep].all():
        raise DataValidationError(f"{name}: column {dcol!r} (order_date) is empty in every row")
    if (d_bad & ~d_null)[~rep].sum() and not (~d_bad)[~rep].any():
        fmt_hint = f" with date_format {csv_opts['date_format']!r}" if csv_opts.get("date_format") else ""
        raise DataValidationError(
            f"{name}: column {dcol!r} (order_date): none of the values could be read as a date{fmt_hint}; "
            f"examples: {_examples(lines, dtext, d_bad & ~rep)}")
    _share_check(d_bad & considered, considered, rules, name, dcol, "order_date", "dates", lines, dtext,
                 "check csv.date_format / csv.dayfirst")
    flag(ambiguous.to_numpy(), "bad_date", "ambiguous date: day and month cannot be told apart")
    flag(d_null, "bad_date", "order date is empty")
    flag(d_bad, "bad_date", lambda pos: [f"cannot read {v!r} as a date" for v in dtext.to_numpy()[pos]])

    # amounts
    acol = cols["amount"]
    amounts = _parse_amounts(raw[acol], csv_opts.get("decimal", "auto"), csv_opts.get("thousands"), warnings, acol)
    atext = texts["amount"]
    a_null = _is_null_text(atext).to_numpy() & amounts.isna().to_numpy()
    a_bad = amounts.isna().to_numpy()
    if a_null[~rep].all():
        raise DataValidationError(f"{name}: column {acol!r} (amount) is empty in every row")
    if not (~a_bad)[~rep].any():
        raise DataValidationError(
            f"{name}: column {acol!r} (amount): none of the values is a number; "
            f"examples: {_examples(lines, atext, a_bad & ~rep)}")
    considered = ~rep & ~cid_null & ~d_bad
    _share_check(a_bad & considered, considered, rules, name, acol, "amount", "amounts", lines, atext,
                 "check csv.decimal / csv.thousands")
    flag(a_null, "bad_amount", "amount is empty")
    flag(a_bad, "bad_amount", lambda pos: [f"cannot read {v!r} as a number" for v in atext.to_numpy()[pos]])

    as_of = _parse_analysis_date(analysis_date)
    if as_of is not None:
        after = (dates.dt.normalize() > as_of).to_numpy() & ~d_bad
        flag(after, "after_analysis_date", f"order date after the analysis date {as_of.date().isoformat()}")
    amt = amounts.to_numpy(dtype="float64", na_value=np.nan)
    if rules.quarantine_negative:
        flag(amt < 0, "return_or_cancellation", "negative amount")
    if rules.quarantine_zero:
        flag(amt == 0, "zero_amount", "amount is zero")

    clean = pd.DataFrame({
        "customer_id": cid.astype("string"),
        "order_date": dates.astype("datetime64[ns]"),
        "amount": amounts.astype("float64"),
    })
    if "order_id" in cols:
        oid = _as_text(raw[cols["order_id"]])
        clean["order_id"] = oid.where(~_is_null_text(oid), None).astype("string")
    if "channel" in cols:
        ch = _as_text(raw[cols["channel"]])
        ch = ch.where(~_is_null_text(ch), None).astype("string")
        if ch.isna().all():
            warnings.append(f"column {cols['channel']!r} (channel) is empty in every row and was ignored")
        else:
            clean["channel"] = ch
    if "quantity" in cols:
        q = _parse_amounts(raw[cols["quantity"]], csv_opts.get("decimal", "auto"), csv_opts.get("thousands"),
                           [], cols["quantity"])
        qbad = q.isna() & ~_is_null_text(_as_text(raw[cols["quantity"]]))
        if qbad.any():
            warnings.append(f"column {cols['quantity']!r} (quantity): {int(qbad.sum()):,} values are not numbers "
                            "and were left empty (the rows are kept)")
        clean["quantity"] = q.astype("float64")

    if "order_id" in cols and rules.dedupe_with_order_id:
        ok = np.flatnonzero(reason == "")
        sub = clean.iloc[ok]
        dup = np.zeros(n, dtype=bool)
        dup[ok] = sub.duplicated(keep="first").to_numpy()
        if dup.any():
            group = sub.groupby(list(sub.columns), dropna=False, sort=False).ngroup().to_numpy()
            first = pd.Series(lines[ok]).groupby(group).transform("min").to_numpy()
            first_line = np.zeros(n, dtype="int64")
            first_line[ok] = first
            flag(dup, "duplicate", lambda pos: [f"exact repeat of line {first_line[p]}" for p in pos])

    kept = reason == ""
    clean = clean.loc[kept].reset_index(drop=True)

    qmask = ~kept
    qraw = raw.loc[qmask]
    quarantine = pd.DataFrame({"source_row": lines[qmask].astype("int64"),
                               "reason": pd.array(reason[qmask], dtype="string"),
                               "detail": pd.array(detail[qmask], dtype="string")})
    for c in raw.columns:
        out_name = c if c not in ("source_row", "reason", "detail") else f"raw_{c}"
        quarantine[out_name] = _as_text(qraw[c]).to_numpy() if len(qraw) else pd.array([], dtype="string")

    # outliers: kept, but reported
    pos = clean["amount"][clean["amount"] > 0]
    if len(pos) >= 10 and rules.outlier_factor:
        med = float(pos.median())
        big = clean["amount"] > rules.outlier_factor * med
        if big.any():
            kept_lines = lines[kept]
            top = int(np.argmax(clean["amount"].to_numpy()))
            warnings.append(
                f"{int(big.sum()):,} amount(s) exceed {rules.outlier_factor:,.0f}× the median ({med:,.2f}); "
                f"largest {clean['amount'].iloc[top]:,.2f} on line {int(kept_lines[top])}. They are kept; please check them")

    return LoadResult(clean=clean, quarantine=quarantine, rows_in=n, rows_kept=int(kept.sum()),
                      rows_quarantined=int(qmask.sum()), source_name=name, warnings=warnings,
                      column_map=dict(cols))


def _share_check(bad: np.ndarray, considered: np.ndarray, rules: CleaningRules, name: str, col: str,
                 target: str, what: str, lines: np.ndarray, values: pd.Series, hint: str) -> None:
    total = int(considered.sum())
    nbad = int(bad.sum())
    if total >= rules.min_rows_for_share_check and nbad > rules.max_bad_share * total:
        raise DataValidationError(
            f"{name}: column {col!r} ({target}): {nbad:,} of {total:,} {what} ({nbad / total:.0%}) cannot be read, "
            f"more than the {rules.max_bad_share:.0%} allowed — probably a wrong format option ({hint}); "
            f"examples: {_examples(lines, values, bad)}")


# --------------------------------------------------------------------------------------
# Summaries and plot for the load report
# --------------------------------------------------------------------------------------

def describe_clean(clean: pd.DataFrame) -> dict[str, Any]:
    """Headline facts of the clean transactions: first/last date, customers, orders, revenue."""
    if clean.empty:
        return {"first_date": None, "last_date": None, "customers": 0, "rows": 0, "revenue": 0.0}
    return {
        "first_date": clean["order_date"].min().date(),
        "last_date": clean["order_date"].max().date(),
        "customers": int(clean["customer_id"].nunique()),
        "rows": int(len(clean)),
        "revenue": float(clean["amount"].sum()),
    }


def monthly_activity(clean: pd.DataFrame) -> pd.DataFrame:
    """Orders (rows), active customers and revenue per calendar month (months without
    orders included with zeros)."""
    if clean.empty:
        return pd.DataFrame(columns=["month", "orders", "customers", "revenue"])
    month = clean["order_date"].dt.to_period("M")
    g = clean.groupby(month).agg(orders=("amount", "size"), customers=("customer_id", "nunique"),
                                 revenue=("amount", "sum"))
    full = pd.period_range(g.index.min(), g.index.max(), freq="M")
    g = g.reindex(full, fill_value=0)
    g.index.name = "month"
    return g.reset_index()


def plot_monthly_activity(clean: pd.DataFrame, currency: str = "$", language: str = "en"):
    """Figure with two panels: orders per month and revenue per month (bars), so a gap,
    a spike or a cut-off at the end of the data is visible at a glance. Titles and axis
    labels in ``language``."""
    import matplotlib.pyplot as plt

    t = report_text(language)["plot"]
    m = monthly_activity(clean)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    # bars centred on the middle of each month
    x = (m["month"].dt.to_timestamp() + pd.Timedelta(days=15)) if len(m) else []
    width = 24
    ax1.bar(x, m["orders"], width=width, color="#4C72B0")
    ax1.set_ylabel(t["orders"])
    ax1.set_title(t["orders_title"])
    ax2.bar(x, m["revenue"], width=width, color="#55A868")
    ax2.set_ylabel(t["revenue"].format(currency=currency))
    ax2.set_title(t["revenue_title"])
    ax2.set_xlabel(t["month"])
    for ax in (ax1, ax2):
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(plt.matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


_SENTENCES = {
    "en": {
        "some": ("Of <b>{rows_in}</b> rows read from {source}, <b>{kept}</b> ({kept_share}) were kept and "
                 "<b>{quarantined}</b> ({q_share}) were set aside: {parts}."),
        "none": "All <b>{rows_in}</b> rows read from {source} passed the checks and were kept.",
        "lost_1": ("<b>1</b> customer appears in the source only with rows that were set aside, so this customer "
                   "is not part of the customer analysis."),
        "lost_n": ("<b>{lost}</b> customers appear in the source only with rows that were set aside, so they are "
                   "not part of the customer analysis."),
        "cover": ("The kept transactions run from <b>{first}</b> to <b>{last}</b>: <b>{rows}</b> purchases by "
                  "<b>{customers}</b> customers, <b>{revenue}</b> in total."),
    },
    "ru": {  # phrased as "noun: number" so no numeral agreement is needed
        "some": ("Источник «{source}». Прочитано строк: <b>{rows_in}</b>; оставлено для анализа: <b>{kept}</b> "
                 "({kept_share}); отложено в карантин: <b>{quarantined}</b> ({q_share}). Причины: {parts}."),
        "none": "Источник «{source}». Прочитано строк: <b>{rows_in}</b>; все прошли проверки и оставлены для анализа.",
        "lost_1": ("Клиентов, у которых все строки отложены в карантин: <b>1</b>; такие клиенты не участвуют в "
                   "анализе клиентов."),
        "lost_n": ("Клиентов, у которых все строки отложены в карантин: <b>{lost}</b>; такие клиенты не участвуют "
                   "в анализе клиентов."),
        "cover": ("Оставленные покупки охватывают период с <b>{first}</b> по <b>{last}</b>. Покупок: <b>{rows}</b>, "
                  "клиентов: <b>{customers}</b>, выручка: <b>{revenue}</b>."),
    },
}


def money_text(x: float, currency: str = "$", language: str = "en") -> str:
    """A money amount for report text: ``$1,234`` for prefix signs ($ € £), otherwise the
    currency after the number (``1 234 567 ₽`` in Russian, ``1,234,567 руб.`` in English);
    cents only below 100."""
    from .display import number_style

    body = number_style(f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}", language)
    if currency in ("$", "€", "£"):
        return f"{currency}{body}"
    return f"{body} {currency}".strip()


def load_sentences(result: LoadResult, language: str = "en", currency: str = "$",
                   part: str = "all") -> list[tuple[str, dict]]:
    """Plain-language sentences about a load for the report, as ``(template, values)`` pairs
    for :func:`rfm_helpers.display.say` (which escapes the values). ``part="accounting"``:
    the row accounting and customers lost to the quarantine; ``"coverage"``: what the clean
    data covers; ``"all"``: both. Aggregates only, never customer-level values."""
    lang = language if language in _SENTENCES else "en"
    text = _SENTENCES[lang]
    labels = REASON_LABELS[lang]

    from .display import number_style

    def num(x: float) -> str:
        return number_style(f"{int(x):,}", lang)

    def pct(x: float) -> str:
        return number_style(f"{100 * x:.2f}%", lang)

    out: list[tuple[str, dict]] = []
    denom = result.rows_in or 1
    if part == "coverage":
        pass
    elif result.rows_quarantined:
        parts = "; ".join(f"{labels.get(code, code)}: {num(k)}" for code, k in result.reason_counts().items())
        out.append((text["some"], dict(rows_in=num(result.rows_in), source=source_label(result.source_name, lang),
                                       kept=num(result.rows_kept), kept_share=pct(result.rows_kept / denom),
                                       quarantined=num(result.rows_quarantined),
                                       q_share=pct(result.rows_quarantined / denom), parts=parts)))
    else:
        out.append((text["none"], dict(rows_in=num(result.rows_in), source=source_label(result.source_name, lang))))
    lost = result.customers_fully_quarantined() if part != "coverage" else 0
    if lost:
        out.append((text["lost_1"] if lost == 1 else text["lost_n"], dict(lost=num(lost))))
    d = describe_clean(result.clean)
    if d["rows"] and part != "accounting":
        revenue = money_text(d["revenue"], currency, lang)
        out.append((text["cover"], dict(first=d["first_date"], last=d["last_date"], rows=num(d["rows"]),
                                        customers=num(d["customers"]), revenue=revenue)))
    return out


# --------------------------------------------------------------------------------------
# Fixed texts of the load report (notebook 01)
# --------------------------------------------------------------------------------------

#: Captions, sentences, column headers, table row names, summary labels and plot labels of
#: the load report in English and Russian; :func:`report_text` picks the run's language.
_TEXT = {
    "en": {
        "accounting_caption": "Row accounting for {source}",
        "quarantine_file": "Set-aside rows ({n}) are in the file <code>{path}</code> in this run's folder.",
        "no_remarks": "No remarks: the file was read exactly as described, without any format guessing.",
        "analysis_date": "The analysis date is <b>{as_of}</b>.",
        "clean_caption": "Clean data in numbers",
        "measures": {"first_date": "first purchase date", "last_date": "last purchase date",
                     "rows": "purchases (rows kept)", "customers": "customers", "revenue": "revenue",
                     "average": "average purchase"},
        "outcomes": {"kept": "kept", "quarantined": "quarantined", "total": "total"},
        "columns": {"outcome": "outcome", "reason": "reason code", "description": "meaning", "rows": "rows",
                    "share": "share of rows read", "measure": "measure", "value": "value"},
        "summary": {"rows_in": "Rows read", "rows_kept": "Rows kept for analysis",
                    "rows_invalid": "Rows rejected as invalid (quarantine)", "rows_quarantined": "Rows set aside",
                    "rows_after_analysis_date": "Rows after the analysis date"},
        "plot": {"orders": "orders (rows)", "orders_title": "Orders per month", "revenue": "revenue ({currency})",
                 "revenue_title": "Revenue per month", "month": "month"},
    },
    "ru": {
        "accounting_caption": "Учёт строк источника «{source}»",
        "quarantine_file": ("Отложенные строки ({n}) находятся в файле <code>{path}</code> в папке этого "
                            "запуска."),
        "no_remarks": "Замечаний нет: файл прочитан точно по описанию, без угадывания формата.",
        "analysis_date": "Дата анализа: <b>{as_of}</b>.",
        "clean_caption": "Очищенные данные в цифрах",
        "measures": {"first_date": "дата первой покупки", "last_date": "дата последней покупки",
                     "rows": "покупок (оставленных строк)", "customers": "клиентов", "revenue": "выручка",
                     "average": "средняя покупка"},
        "outcomes": {"kept": "оставлено", "quarantined": "в карантине", "total": "итого"},
        "columns": {"outcome": "Итог", "reason": "Код причины", "description": "Пояснение", "rows": "Строк",
                    "share": "Доля прочитанных строк", "measure": "Показатель", "value": "Значение"},
        "summary": {"rows_in": "Прочитано строк", "rows_kept": "Оставлено строк для анализа",
                    "rows_invalid": "Отклонено как ошибочные (карантин)", "rows_quarantined": "Отложено строк",
                    "rows_after_analysis_date": "Строк позже даты анализа"},
        "plot": {"orders": "заказов (строк)", "orders_title": "Заказы по месяцам", "revenue": "выручка ({currency})",
                 "revenue_title": "Выручка по месяцам", "month": "месяц"},
    },
}

#: Names of bundled sources shown in reports (a configured source's own name is shown as is).
_SOURCE_NAMES = {"ru": {"CDNOW (bundled sample)": "CDNOW (встроенный пример)"}}


def report_text(language: str = "en") -> dict:
    """Fixed texts of notebook 01 in ``language`` (English when the language is unknown)."""
    return _TEXT.get(language, _TEXT["en"])


def source_label(name: str, language: str = "en") -> str:
    """The source's name for report text: the bundled sample's name in ``language``,
    any other (configured) name unchanged."""
    return _SOURCE_NAMES.get(language, {}).get(name, name)


#: Russian wording of the loader's remarks (:attr:`LoadResult.warnings`, written in English by
#: the readers above): full-match pattern -> template filled with the pattern's groups.
_WARNINGS_RU = [
    (r"UTF-8 byte order mark \(BOM\) found and removed", "найдена и удалена метка порядка байтов UTF-8 (BOM)"),
    (r"UTF-16 text detected", "обнаружен текст в кодировке UTF-16"),
    (r"file is not UTF-8: encoding (?P<enc>.+) detected", "файл не в UTF-8: определена кодировка {enc}"),
    (r"whitespace-separated columns detected", "столбцы разделены пробелами"),
    (r"separator TAB detected", "определён разделитель: табуляция"),
    (r"separator (?P<sep>.+) detected", "определён разделитель {sep}"),
    (r"(?P<n>[\d,]+) blank line\(s\) inside the data skipped", "пропущено пустых строк внутри данных: {n}"),
    (r"decimal comma detected in column (?P<col>.+)", "в столбце {col} обнаружена десятичная запятая"),
    (r"column (?P<col>.+): time zone (?P<tz>.+) dropped, local wall-clock times kept",
     "столбец {col}: часовой пояс {tz} отброшен, сохранено местное время"),
    (r"column (?P<col>.+): Excel serial day numbers converted to dates",
     "столбец {col}: порядковые номера дней Excel преобразованы в даты"),
    (r"column (?P<col>.+): (?P<n>[\d,]+) Excel serial day numbers converted to dates",
     "столбец {col}: порядковых номеров дней Excel преобразовано в даты: {n}"),
    (r"column (?P<col>.+): (?P<n>[\d,]+) timestamps carry a time zone; the local date and time as written were "
     r"kept, the zone dropped",
     "столбец {col}: отметок времени с часовым поясом: {n}; сохранены местные дата и время, пояс отброшен"),
    (r"column (?P<col>.+): both day/month/year and month/day/year dates found; (?P<n>[\d,]+) dates that could be "
     r"either were quarantined",
     "столбец {col}: встречаются даты и в порядке день/месяц/год, и в порядке месяц/день/год; неоднозначных дат "
     "отложено в карантин: {n}"),
    (r"column (?P<col>.+): dates like 01/02/2024 read as day/month/year \(set csv.dayfirst to change\)",
     "столбец {col}: даты вида 01/02/2024 прочитаны как день/месяц/год (изменить: параметр csv.dayfirst)"),
    (r"column (?P<col>.+): dates like 01/02/2024 read as month/day/year \(set csv.dayfirst to change\)",
     "столбец {col}: даты вида 01/02/2024 прочитаны как месяц/день/год (изменить: параметр csv.dayfirst)"),
    (r"column (?P<col>.+) matched (?P<found>.+) ignoring letter case",
     "столбец {col} найден как {found} без учёта регистра букв"),
    (r"column (?P<col>.+): customer ids stored as numbers; leading zeros, if any existed, are lost in the source",
     "столбец {col}: идентификаторы клиентов хранятся как числа; ведущие нули, если они были, в источнике потеряны"),
    (r"column (?P<col>.+) \(channel\) is empty in every row and was ignored",
     "столбец {col} (канал) пуст во всех строках и не используется"),
    (r"column (?P<col>.+) \(quantity\): (?P<n>[\d,]+) values are not numbers and were left empty \(the rows are "
     r"kept\)",
     "столбец {col} (количество): значений, которые не являются числами: {n}; они оставлены пустыми (строки сохранены)"),
    (r"(?P<n>[\d,]+) amount\(s\) exceed (?P<k>[\d,]+)× the median \((?P<med>[\d,.]+)\); largest (?P<max>[\d,.-]+) "
     r"on line (?P<line>\d+)\. They are kept; please check them",
     "сумм, превышающих медиану ({med}) более чем в {k} раз: {n}; самая крупная — {max} в строке {line}. "
     "Они сохранены, но их стоит проверить"),
]


def warning_text(warning: str, language: str = "en") -> str:
    """A loader remark in ``language``: the Russian wording of a known remark, otherwise
    the remark as written."""
    from .display import number_style

    if language != "ru":
        return warning
    for pattern, template in _WARNINGS_RU:
        m = re.fullmatch(pattern, warning)
        if m:
            values = {k: (v or "").strip() for k, v in m.groupdict().items()}
            values = {k: (number_style(v, "ru") if re.fullmatch(r"-?[\d,]+(\.\d+)?", v) else v)
                      for k, v in values.items()}  # Russian number style: 9 999 999,00
            return template.format(**values).strip()
    return warning
