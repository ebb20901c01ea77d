"""Customer-level export files for campaigns: mailing lists per segment and a call list.

Exports go to files under the run's ``exports`` folder (``Prepared.exports_dir``), never
into the HTML report; notebooks only say how many rows went to which file.

File formats
------------
* **CSV** - UTF-8 *with BOM* (``utf-8-sig``), so Excel detects the encoding and Cyrillic
  text is readable. Excel splits columns by the system's *list separator*, which is ``,``
  in English locales and ``;`` in Russian (and most European) locales, where the decimal
  separator is a comma. There is no single CSV that every locale opens by double-click, so
  ``csv_locale`` picks the convention: ``"en"`` = ``,`` separator and ``.`` decimals,
  ``"ru"`` = ``;`` separator and ``,`` decimals. The default follows ``language``. We do not
  write Excel's ``sep=`` hint line: with it Excel ignores the BOM and breaks Cyrillic.
* **XLSX** - one workbook, one sheet per segment, opens the same in every locale; the
  recommended format when in doubt.

Spreadsheet formula injection: any text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is prefixed with an apostrophe ``'`` so spreadsheets show it as text
instead of running it as a formula (numbers are left alone).

Test recipients: pass ``test_recipients`` (a list of dicts or a CSV path) to append internal
addresses to every list, marked ``is_test = 1``, so you can see exactly what real customers
will receive; real rows have ``is_test = 0``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .segments import _get_map, _need, load_segment_maps

__all__ = [
    "FORMULA_PREFIXES",
    "XLSX_MAX_ROWS",
    "neutralize_formulas",
    "load_test_recipients",
    "mailing_table",
    "write_mailing_lists",
    "call_priority",
    "write_call_list",
    "read_export_csv",
]

#: Leading characters that make spreadsheets treat a text cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Above this many rows an XLSX workbook is not written (CSV only); see write_mailing_lists.
XLSX_MAX_ROWS = 100_000
_CSV = {"en": {"sep": ",", "decimal": "."}, "ru": {"sep": ";", "decimal": ","}}
_BASE_COLUMNS = ["customer_id", "segment", "segment_label", "recency_days", "frequency", "monetary",
                 "r_score", "f_score", "m_score", "days_since_last_order", "last_order_date",
                 "first_order_date", "total_spend", "average_order_value", "suggested_offer",
                 "recommended_channel", "is_test"]


def _neutralize_value(v: Any) -> Any:
    if isinstance(v, str) and v.startswith(FORMULA_PREFIXES):
        return "'" + v
    return v


def neutralize_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` where text cells starting with ``= + - @``, tab or CR get a leading
    apostrophe (numbers, dates and missing values are untouched)."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        is_object = pd.api.types.is_object_dtype(s)
        if is_object or pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            # Vectorised: only text cells can match (non-strings in an object column give NA).
            text = s if is_object else s.astype("string")
            risky = text.str.startswith(FORMULA_PREFIXES, na=False).to_numpy(dtype=bool)
            if risky.any():
                vals = text.astype(object).to_numpy(copy=True)
                vals[risky] = ["'" + v for v in vals[risky]]
                text = pd.Series(vals, index=s.index, name=s.name)
                text = text if is_object else text.astype("string")
            out[c] = text
    # Column names are cells too.
    out.columns = [_neutralize_value(str(c)) for c in out.columns]
    return out


def load_test_recipients(test_recipients: Any) -> pd.DataFrame:
    """Test recipients as a DataFrame: ``None`` -> empty; a list of dicts; a DataFrame; or a
    CSV path (UTF-8, with or without BOM, ``,`` or ``;``). Every row needs ``customer_id``
    (use an internal id such as ``"TEST-1"``); other columns (e.g. ``email``) are kept.
    A relative path is looked up in the working folder, then in the project root."""
    if test_recipients is None:
        return pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    if isinstance(test_recipients, pd.DataFrame):
        df = test_recipients.copy()
    elif isinstance(test_recipients, (str, Path)):
        path = Path(test_recipients)
        if not path.is_absolute() and not path.exists():
            from .pipeline import project_root

            path = project_root() / path
        if not path.exists():
            raise FileNotFoundError(f"test recipients file {test_recipients!s} not found")
        df = pd.read_csv(path, sep=None, engine="python", dtype=str, encoding="utf-8-sig")
    else:
        df = pd.DataFrame(list(test_recipients))
    if df.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    if "customer_id" not in df.columns:
        raise KeyError(f"test recipients need a 'customer_id' column; got {list(df.columns)}")
    if df["customer_id"].isna().any() or (df["customer_id"].astype(str).str.strip() == "").any():
        raise ValueError("every test recipient needs a non-empty customer_id")
    df["customer_id"] = df["customer_id"].astype("string")
    return df.reset_index(drop=True)


def mailing_table(assigned: pd.DataFrame, language: str = "en", map_name: str | None = None,
                  maps: dict | None = None, contacts: pd.DataFrame | None = None,
                  sort: bool = True) -> pd.DataFrame:
    """Per-customer rows for message templates (all segments together).

    ``assigned`` is the output of :func:`rfm_helpers.segments.assign_segments`. Columns:
    customer id, segment key and label, R/F/M values and scores, ``days_since_last_order``,
    ``last_order_date`` / ``first_order_date`` (ISO dates), ``total_spend``,
    ``average_order_value``, ``suggested_offer`` (the map's strategy), ``recommended_channel``
    and ``is_test`` = 0. ``contacts`` (optional, keyed by ``customer_id``) adds columns such
    as name or email. Sorted by segment (map order), then spend (highest first); with
    ``sort=False`` the rows stay in the order of ``assigned`` (one row per input row).
    """
    _need(assigned, ["customer_id", "segment", "recency_days", "frequency", "monetary"])
    maps = maps if maps is not None else load_segment_maps()
    name = map_name or assigned.attrs.get("segment_map") or "classic"
    maps, mp = _get_map(name, maps)
    texts = {s["key"]: s for s in mp["segments"]}
    # Look texts up once per distinct segment, then broadcast by integer code (a per-row
    # Python lookup over 500k customers costs seconds).
    codes, keys = pd.factorize(assigned["segment"])  # a categorical gives its codes directly
    keys = [str(k) for k in keys]
    if (codes < 0).any():
        keys, codes = keys + ["nan"], np.where(codes < 0, len(keys), codes)
    unknown = sorted(set(keys) - set(texts))
    if unknown:
        raise ValueError(f"segments {unknown} are not in map {name!r}")

    def per_row(field: str) -> np.ndarray:
        return np.array([texts[k][field][language] for k in keys], dtype=object)[codes]

    seg = np.array(keys, dtype=object)[codes]
    out = pd.DataFrame({
        "customer_id": assigned["customer_id"].astype("string").to_numpy(),
        "segment": seg,
        "segment_label": per_row("label"),
        "recency_days": assigned["recency_days"].to_numpy(),
        "frequency": assigned["frequency"].to_numpy(),
        "monetary": assigned["monetary"].round(2).to_numpy(),
    })
    for c in ("r_score", "f_score", "m_score"):
        out[c] = assigned[c].to_numpy() if c in assigned.columns else pd.NA
    out["days_since_last_order"] = out["recency_days"]
    for src, dst in (("last_purchase", "last_order_date"), ("first_purchase", "first_order_date")):
        out[dst] = (pd.to_datetime(assigned[src]).dt.strftime("%Y-%m-%d").to_numpy()
                    if src in assigned.columns else pd.NA)
    out["total_spend"] = out["monetary"]
    freq = out["frequency"].astype("float64")
    out["average_order_value"] = np.where(freq > 0, out["monetary"] / freq.where(freq > 0, 1), 0.0).round(2)
    out["suggested_offer"] = per_row("strategy")
    out["recommended_channel"] = per_row("channel")
    out["is_test"] = 0
    if contacts is not None:
        if "customer_id" not in contacts.columns:
            raise KeyError("contacts need a 'customer_id' column")
        extra = contacts.drop_duplicates("customer_id").copy()
        extra["customer_id"] = extra["customer_id"].astype("string")
        clash = [c for c in extra.columns if c in out.columns and c != "customer_id"]
        out = out.merge(extra.drop(columns=clash), on="customer_id", how="left")
    if not sort:
        return out
    order = {k: i for i, k in enumerate(texts)}
    out = out.assign(_o=np.array([order[k] for k in keys], dtype=np.int64)[codes]).sort_values(
        ["_o", "monetary", "customer_id"], ascending=[True, False, True], kind="mergesort")
    return out.drop(columns="_o").reset_index(drop=True)


def _with_tests(rows: pd.DataFrame, tests: pd.DataFrame, segment: str, label: str,
                offer: str, channel: str) -> pd.DataFrame:
    if tests.empty:
        return rows
    t = tests.copy()
    t["segment"] = segment
    t["segment_label"] = label
    t["suggested_offer"] = offer
    t["recommended_channel"] = channel
    t["is_test"] = 1
    return _append_rows(rows, t)


def _append_rows(rows: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """Append ``extra`` below ``rows``; integer columns stay integers (nullable) instead of
    turning into floats ("489.0") where the extra rows have no value."""
    cols = list(dict.fromkeys([*rows.columns, *extra.columns]))
    both = pd.concat([rows, extra.reindex(columns=cols)], ignore_index=True)
    for c in rows.columns:
        if pd.api.types.is_integer_dtype(rows[c].dtype):
            both[c] = both[c].astype("Int64")
    return both


def _safe_filename(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_") or "segment"


def _sheet_name(label: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", label).strip("'") or "segment"
    name = base[:31]
    i = 2
    while name.lower() in used:
        suffix = f" ({i})"
        name = base[:31 - len(suffix)] + suffix
        i += 1
    used.add(name.lower())
    return name


def _write_csv(df: pd.DataFrame, path: Path, csv_locale: str) -> None:
    fmt = _CSV[csv_locale]
    neutralize_formulas(df).to_csv(path, index=False, encoding="utf-8-sig", sep=fmt["sep"],
                                   decimal=fmt["decimal"], lineterminator="\r\n")


def _write_xlsx(sheets: list[tuple[str, pd.DataFrame]], path: Path) -> None:
    """Write DataFrames to one workbook (one sheet each) with openpyxl's streaming writer,
    after neutralising formulas; missing values become empty cells."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    for name, df in sheets:
        safe = neutralize_formulas(df)
        ws = wb.create_sheet(title=name)
        ws.append([str(c) for c in safe.columns])
        # object dtype turns numpy scalars into Python ones; missing values -> empty cells
        plain = safe.astype(object).where(safe.notna(), None)
        for row in plain.itertuples(index=False, name=None):
            ws.append(row)
    wb.save(path)


def write_mailing_lists(assigned: pd.DataFrame, exports_dir: str | Path, language: str = "en",
                        map_name: str | None = None, maps: dict | None = None,
                        segments: Iterable[str] | None = None, test_recipients: Any = None,
                        contacts: pd.DataFrame | None = None, csv_locale: str | None = None,
                        formats: Iterable[str] = ("csv", "xlsx"), prefix: str = "mailing",
                        xlsx_max_rows: int | None = XLSX_MAX_ROWS) -> pd.DataFrame:
    """Write one mailing list per segment and return a manifest (one row per segment).

    Files: ``{prefix}_{segment}.csv`` per segment and ``{prefix}_lists.xlsx`` with one sheet
    per segment (sheet named after the segment label). Empty segments get no file/sheet.
    ``segments`` restricts the export to some segment keys. Test recipients are appended to
    every list with ``is_test = 1``. The manifest has ``segment``, ``label``,
    ``customers`` (real rows), ``test_rows``, ``csv_file``, ``xlsx_sheet`` - aggregates
    safe to show in a report.

    The workbook is skipped when the lists hold more than ``xlsx_max_rows`` rows in total
    (writing XLSX costs about 10 s per 100,000 rows; use the CSV files for large sends);
    the reason is then in ``manifest.attrs["xlsx_skipped"]``.
    """
    csv_locale = csv_locale or ("ru" if language == "ru" else "en")
    if csv_locale not in _CSV:
        raise ValueError(f"csv_locale must be one of {sorted(_CSV)}, got {csv_locale!r}")
    formats = [f.lower() for f in formats]
    bad = [f for f in formats if f not in ("csv", "xlsx")]
    if bad:
        raise ValueError(f"unknown export format(s) {bad}; use 'csv' and/or 'xlsx'")
    maps = maps if maps is not None else load_segment_maps()
    name = map_name or assigned.attrs.get("segment_map") or "classic"
    _, mp = _get_map(name, maps)
    table = mailing_table(assigned, language, name, maps, contacts)
    tests = load_test_recipients(test_recipients)
    wanted = list(segments) if segments is not None else [s["key"] for s in mp["segments"]]
    unknown = [k for k in wanted if k not in {s["key"] for s in mp["segments"]}]
    if unknown:
        raise ValueError(f"segments {unknown} are not in map {name!r}")
    out_dir = Path(exports_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest, sheets, used = [], [], set()
    positions = table.groupby("segment", sort=False).indices  # one pass instead of a mask per segment
    for s in mp["segments"]:
        if s["key"] not in wanted or s["key"] not in positions:
            continue
        rows = table.iloc[positions[s["key"]]]
        full = _with_tests(rows, tests, s["key"], s["label"][language], s["strategy"][language],
                           s["channel"][language])
        entry = {"segment": s["key"], "label": s["label"][language], "customers": len(rows),
                 "test_rows": len(full) - len(rows), "csv_file": "", "xlsx_sheet": ""}
        if "csv" in formats:
            path = out_dir / f"{prefix}_{_safe_filename(s['key'])}.csv"
            _write_csv(full, path, csv_locale)
            entry["csv_file"] = path.name
        if "xlsx" in formats:
            sheet = _sheet_name(s["label"][language], used)
            sheets.append((sheet, full))
            entry["xlsx_sheet"] = sheet
        manifest.append(entry)
    skipped = ""
    if "xlsx" in formats and sheets:
        total = sum(len(df) for _, df in sheets)
        if xlsx_max_rows is not None and total > xlsx_max_rows:
            skipped = (f"{total:,} rows exceed xlsx_max_rows={xlsx_max_rows:,}: no workbook written, "
                       "use the CSV files")
            for e in manifest:
                e["xlsx_sheet"] = ""
                e["xlsx_file"] = ""
        else:
            xlsx = out_dir / f"{prefix}_lists.xlsx"
            _write_xlsx(sheets, xlsx)
            for e in manifest:
                e["xlsx_file"] = xlsx.name
    result = pd.DataFrame(manifest, columns=["segment", "label", "customers", "test_rows", "csv_file",
                                             "xlsx_sheet", *(["xlsx_file"] if "xlsx" in formats else [])])
    if skipped:
        result.attrs["xlsx_skipped"] = skipped
    return result


def call_priority(assigned: pd.DataFrame, map_name: str | None = None,
                  maps: dict | None = None) -> pd.Series:
    """Priority score for phone calls, 0..1 (higher = call first).

    ``priority = call_weight(segment) x value``, where

    * ``call_weight`` (0..1, set per segment in the map) is the urgency: highest for valuable
      customers who are slipping away ("Can't lose them", "SOS"), 0 for segments that are
      not worth a call (new or long-lost low spenders);
    * ``value`` is the customer's spend percentile among all customers (``monetary`` ranked,
      average rank for ties, divided by the count: 0..1).

    So a big spender in an urgent segment comes first; within a segment, higher spend first.
    """
    maps = maps if maps is not None else load_segment_maps()
    name = map_name or assigned.attrs.get("segment_map") or "classic"
    _, mp = _get_map(name, maps)
    weights = {s["key"]: s["call_weight"] for s in mp["segments"]}
    w = assigned["segment"].astype(str).map(weights)
    if w.isna().any():
        raise ValueError(f"segments not in map {name!r}: {sorted(set(assigned['segment'].astype(str)) - set(weights))}")
    value = assigned["monetary"].rank(method="average", pct=True)
    return (w.astype("float64") * value).rename("call_priority")


def write_call_list(assigned: pd.DataFrame, exports_dir: str | Path, language: str = "en",
                    map_name: str | None = None, maps: dict | None = None, max_rows: int | None = None,
                    test_recipients: Any = None, contacts: pd.DataFrame | None = None,
                    csv_locale: str | None = None, name: str = "call_list",
                    xlsx_max_rows: int | None = XLSX_MAX_ROWS) -> dict:
    """Write the phone-marketing call list (``{name}.csv`` and ``{name}.xlsx``).

    Only segments with ``call_weight > 0`` are included, ordered by :func:`call_priority`
    (ties: higher spend, then more recent). Columns: ``priority_rank``, ``call_priority``,
    customer id, segment, RFM values, last order date, total spend and the segment's
    ``talking_points`` and ``suggested_offer``. ``max_rows`` keeps the top N (e.g. what the
    call centre can handle); test recipients are appended at the end with ``is_test = 1``.
    Returns ``{"rows": real rows, "test_rows": n, "csv_file": ..., "xlsx_file": ...,
    "by_segment": {label: rows}}``; ``xlsx_file`` is ``""`` (and ``xlsx_skipped`` says why)
    when the list is longer than ``xlsx_max_rows``.
    """
    csv_locale = csv_locale or ("ru" if language == "ru" else "en")
    if csv_locale not in _CSV:
        raise ValueError(f"csv_locale must be one of {sorted(_CSV)}, got {csv_locale!r}")
    maps = maps if maps is not None else load_segment_maps()
    mname = map_name or assigned.attrs.get("segment_map") or "classic"
    _, mp = _get_map(mname, maps)
    texts = {s["key"]: s for s in mp["segments"]}
    prio = call_priority(assigned, mname, maps).to_numpy(dtype="float64").round(4)
    # Keep only rows that can make the list before building and sorting it: priority > 0 and,
    # with max_rows, at least the max_rows-th highest priority (ties kept, so the sort below
    # picks exactly the same rows as sorting everyone).
    keep = prio > 0
    if max_rows is not None and 0 < int(max_rows) < int(keep.sum()):
        cutoff = np.partition(prio[keep], -int(max_rows))[-int(max_rows)]
        keep &= prio >= cutoff
    table = mailing_table(assigned[keep], language, mname, maps, contacts, sort=False)
    table["call_priority"] = prio[keep]
    table = table.sort_values(["call_priority", "monetary", "recency_days", "customer_id"],
                              ascending=[False, False, True, True], kind="mergesort")
    if max_rows is not None:
        table = table.head(int(max_rows))
    table = table.reset_index(drop=True)
    table.insert(0, "priority_rank", np.arange(1, len(table) + 1))
    table["talking_points"] = table["segment"].map({k: t["talking_points"][language] for k, t in texts.items()})
    cols = ["priority_rank", "call_priority", "customer_id", "segment", "segment_label", "recency_days",
            "frequency", "monetary", "last_order_date", "total_spend", "talking_points", "suggested_offer"]
    extra = [c for c in table.columns if c not in cols and c not in _BASE_COLUMNS]
    table = table[cols + extra + ["is_test"]]
    tests = load_test_recipients(test_recipients)
    if not tests.empty:
        t = tests.copy()
        t["is_test"] = 1
        t["talking_points"] = "TEST"
        table = _append_rows(table, t)
    out_dir = Path(exports_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{name}.csv"
    xlsx_path = out_dir / f"{name}.xlsx"
    _write_csv(table, csv_path, csv_locale)
    skipped = ""
    if xlsx_max_rows is not None and len(table) > xlsx_max_rows:
        skipped = f"{len(table):,} rows exceed xlsx_max_rows={xlsx_max_rows:,}: use the CSV file"
    else:
        _write_xlsx([("Call list" if language != "ru" else "Обзвон", table)], xlsx_path)
    real = table[table["is_test"] == 0]
    return {"rows": int(len(real)), "test_rows": int((table["is_test"] == 1).sum()),
            "csv_file": csv_path.name, "xlsx_file": "" if skipped else xlsx_path.name,
            "xlsx_skipped": skipped,
            "by_segment": real["segment_label"].value_counts(sort=False).to_dict()}


def read_export_csv(path: str | Path, csv_locale: str = "en") -> pd.DataFrame:
    """Read an export CSV back (BOM-aware, ids kept as text) - for checks and tests."""
    fmt = _CSV[csv_locale]
    return pd.read_csv(path, encoding="utf-8-sig", sep=fmt["sep"], decimal=fmt["decimal"],
                       dtype={"customer_id": "string"})


def manifest_summary(manifest: pd.DataFrame | Mapping[str, Any]) -> str:
    """One line for the report: how many rows went to which file (no customer data)."""
    if isinstance(manifest, pd.DataFrame):
        parts = [f"{r.customers:,} -> {r.csv_file or r.xlsx_sheet}" for r in manifest.itertuples()]
        return "; ".join(parts)
    return f"{manifest['rows']:,} rows -> {manifest['csv_file']}, {manifest['xlsx_file']}"
