"""From raw values to typed canonical columns: one decision per column, one vectorised pass.

:func:`build_rows` registers the raw table in DuckDB as ``raw`` and creates the table
``rows`` (typed canonical columns plus problem codes) that the row rules (:mod:`.rules`)
read. Customer ids: invisible characters removed and runs of spaces collapsed (counted in
a remark); ``12345.0`` spreadsheet ids become ``12345``; ids destroyed by Excel's scientific
notation (``7,70117E+11``) are refused (quarantined, and the load fails when there are
many); ``ids.kind: email`` case-folds, ``phone`` normalises to E.164 with ``phonenumbers``.
Statuses: decided per distinct value against the spec's lists or the built-in vocabulary;
unknown statuses are an error that lists them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .amounts import plan_amounts
from .dates import ColumnPlan, plan_dates
from .readers import RawTable
from .shapes import ODD_BYTES, digit_shapes, edge_whitespace, rows_containing
from .result import DataValidationError, Remark
from .sqltext import NULL_SQL, ident, lit, staged

#: Statuses that mean "not a purchase" / "a completed purchase" (compared case-folded, ё as е).
STATUS_EXCLUDE = (
    "cancelled", "canceled", "cancel", "refunded", "refund", "failed", "returned", "return", "voided", "void",
    "declined", "rejected", "closed lost", "closed - lost", "lost", "trash", "draft", "expired", "chargeback",
    "отменен", "отменён", "отменено", "отмена", "отменен покупателем", "отменен продавцом", "возврат",
    "возвращен", "возврат товара", "закрыто и не реализовано", "не реализовано", "аннулирован", "отказ",
    "удален", "неоплачен", "не оплачен",
)
STATUS_INCLUDE = (
    "completed", "complete", "paid", "delivered", "shipped", "fulfilled", "closed won", "closed - won", "won",
    "success", "successful", "processing", "done", "выполнен", "выполнено", "оплачен", "оплачено", "доставлен",
    "успешно реализовано", "завершен", "завершено", "отгружен", "получен", "исполнен", "продажа", "закрыт",
    "сделка успешна", "вручен",
)
_TOTAL_RE = (r"^(?:итого|итог|всего|total|totals|grand total|subtotal|sub-total|промежуточный итог|общий итог)"
             r"(?:$|[\s:.,;(])")
_INVISIBLE = "[\\x{200b}-\\x{200d}\\x{2060}\\x{feff}\\x{00ad}]"


def status_key(text: str) -> str:
    """How statuses are compared: case-folded, ``ё`` as ``е``, single spaces, no trailing dot."""
    return re.sub(r"\s+", " ", str(text).casefold().replace("ё", "е")).strip().rstrip(".")


@dataclass
class StatusSplit:
    """Distinct statuses sorted by the spec's ``statuses`` options (or the built-in vocabulary):
    ``counted`` and ``excluded`` ({shown name: rows}), ``unknowns`` ([(name, rows, first row)]:
    neither, with no rule for them) and ``keys`` (the status keys that count)."""

    counted: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    unknowns: list[tuple[str, int, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def unknown_list(self, where: Any) -> str:
        """The unknown statuses for an error message; ``where(first)`` names a row ("line 3")."""
        return "; ".join(f"{name!r}: {n} rows (e.g. {where(first)})" for name, n, first in self.unknowns[:12])


def split_statuses(options: Any, rows: Any) -> StatusSplit:
    """Which statuses count as purchases. ``options``: the spec's ``statuses`` (include /
    exclude lists, ``unknown``); ``rows``: (status_key, rows, first row, shown spelling) per
    distinct status. Without lists, the built-in vocabulary decides and anything else is
    unknown (``unknown: error``); with lists, statuses in neither count unless only
    ``include`` was given."""
    include = {status_key(s) for s in options.include} if options.include is not None else None
    exclude = {status_key(s) for s in options.exclude} if options.exclude is not None else None
    if include is None and exclude is None:
        include, exclude = {status_key(s) for s in STATUS_INCLUDE}, {status_key(s) for s in STATUS_EXCLUDE}
        unknown = options.unknown or "error"
    else:
        unknown = options.unknown or ("exclude" if include is not None and exclude is None else "count")
        include, exclude = include or set(), exclude or set()
    out = StatusSplit()
    for st, n, first, shown in rows:
        name = shown if st else "(empty)"
        key = st or ""
        if key in exclude or (key not in include and unknown == "exclude"):
            out.excluded[name] = int(n)
        elif key in include or unknown == "count":
            out.counted[name] = int(n)
            out.keys.append(key)
        else:
            out.unknowns.append((name, int(n), first))
    return out


@dataclass
class Built:
    """What :func:`build_rows` made: the remarks, the currency and its digits, the status table."""

    remarks: list[Remark] = field(default_factory=list)
    currency: str | None = None
    digits: int = 2
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)


def _to_text(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """A typed id/order column as text: whole floats without ``.0``."""
    if pa.types.is_floating(arr.type):
        f = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        vals = f.to_numpy(zero_copy_only=False)
        whole = np.isfinite(vals) & (np.abs(vals) < 1e15) & (vals == np.floor(np.nan_to_num(vals)))
        ints = pc.cast(pa.array(np.where(whole, vals, 0).astype(np.int64)), pa.string())
        return pa.chunked_array([pc.if_else(pa.array(whole), ints, pc.cast(f, pa.string()))])
    return pc.cast(arr, pa.string())


def src(name: str) -> str:
    """The name of a source column inside SQL (prefixed, so it never collides with a canonical name)."""
    return "src:" + name


def _typed(arr: Any) -> str:
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return "text"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "date"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    return "other"


def prepare_raw(raw: RawTable, cols: dict[str, str], remarks: list[Remark]) -> tuple[pa.Table, dict]:
    """The raw table ready for SQL: typed id/date columns converted where needed, time zones
    dropped (local wall time kept), ``__row`` (line number) and ``__i`` (position) added."""
    table = raw.table
    for target, col in cols.items():
        arr = table.column(col)
        kind = _typed(arr)
        i = table.column_names.index(col)
        if target in ("customer_id", "order_id", "refund_of", "channel", "status", "currency") and kind != "text":
            if target == "customer_id" and kind == "number":
                remarks.append(Remark("ids_numeric_source", {"column": col}))
            table = table.set_column(i, col, _to_text(arr))
        elif target == "order_date" and kind == "date":
            if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
                remarks.append(Remark("timezone_dropped", {"column": col, "count": int(arr.length() - arr.null_count)},
                                      "warning"))
                arr = pc.local_timestamp(arr)
            table = table.set_column(i, col, pc.cast(arr, pa.timestamp("us")))
        elif target == "order_date" and kind == "number":
            table = table.set_column(i, col, _to_text(arr))
        elif target in ("amount", "quantity") and kind not in ("number", "text"):
            table = table.set_column(i, col, pc.cast(arr, pa.string()))
        elif target in ("amount", "quantity") and pa.types.is_decimal(arr.type):
            table = table.set_column(i, col, pc.cast(arr, pa.float64()))
    table = table.rename_columns([src(n) for n in table.column_names])
    table = table.append_column("__row", pa.array(raw.source_row, pa.int64()))
    table = table.append_column("__i", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    ids = table.column(src(cols["customer_id"]))
    table = table.append_column("__idodd", pa.array(rows_containing(ids, ODD_BYTES)))
    # cheap byte-level facts that let the id plan skip work: padding, and the characters that an id
    # in scientific notation (E) or with a '.0' suffix must contain
    table = table.append_column("__idsuspect", pa.array(rows_containing(ids, [b"E", b"e", b"."])))
    id_padded = edge_whitespace(ids)
    shapes: dict[str, Any] = {"id_padded": id_padded}
    for target, name in (("order_date", "__dsig"), ("amount", "__asig")):
        arr = table.column(src(cols[target]))
        if _typed(arr) == "text":
            shapes[target] = digit_shapes(arr)
            table = table.append_column(name, pa.array(shapes[target].codes, pa.int32()))
    return table, shapes


def _plan_ids(con: duckdb.DuckDBPyConnection, col: str, spec: Any, remarks: list[Remark],
              padded: bool = True, odd: bool = True, suspect: bool = True) -> ColumnPlan:
    c = ident(src(col))
    plan = ColumnPlan()
    s1, s2, s3, s4, s5 = plan.stages[:5]
    s1["id0"] = f"trim({c})" if padded else c
    s2["idodd"] = "__idodd AND regexp_matches(id0, '[^ ]  |[^ ][\\x{200b}-\\x{200d}\\x{2060}\\x{feff}\\x{00ad}\\x{00a0}\\x{2007}\\x{202f}\\x{2009}\\t\\n\\r]+[^ ]|[\\x{200b}-\\x{200d}\\x{2060}\\x{feff}\\x{00ad}\\x{00a0}\\x{2007}\\x{202f}\\x{2009}\\t\\n\\r]')"
    email = spec.ids.kind == "email"
    # the byte-level flags say whether any id can need cleaning: then no pass over the ids is needed
    stats = (0, 0, 0, 0, 0) if not (odd or suspect or email) else con.execute(staged([s1, s2], f"""
        count(*) FILTER (WHERE idodd),
        count(*) FILTER (WHERE __idsuspect AND regexp_full_match(id0, '[0-9]+(?:[.,][0-9]+)?[eE]\\+?[0-9]+')),
        count(*) FILTER (WHERE __idsuspect AND regexp_full_match(id0, '[0-9]+\\.0+')),
        count(*) FILTER (WHERE __idsuspect AND regexp_full_match(id0, '[0-9]+\\.[0-9]*[1-9][0-9]*')),
        {"count(*) FILTER (WHERE id0 <> lower(id0))" if email else "0"}""")).fetchall()[0]
    s3["idc"] = ("CASE WHEN idodd THEN trim(regexp_replace(regexp_replace(id0, '" + _INVISIBLE + "', '', 'g'), "
                 "'[\\s\\x{00a0}\\x{2007}\\x{202f}\\x{2009}]+', ' ', 'g')) ELSE id0 END"
                 if stats[0] else "id0")
    s4["idnull"] = _null_short("idc")
    s4["idsci"] = ("(contains(idc, 'E') OR contains(idc, 'e')) AND "
                   "regexp_full_match(idc, '[0-9]+(?:[.,][0-9]+)?[eE]\\+?[0-9]+')" if stats[1] else "false")
    changed, sci, floats, decimals, upper = (int(v) for v in stats)
    if changed:
        remarks.append(Remark("ids_cleaned", {"column": col, "count": changed}, "warning"))
    if sci:
        remarks.append(Remark("ids_scientific", {"column": col, "count": sci}, "high"))
    strip_float = floats and not decimals
    if strip_float:
        remarks.append(Remark("ids_float_suffix", {"column": col, "count": floats}, "warning"))
    base = "(CASE WHEN contains(idc, '.') THEN regexp_replace(idc, '\\.0+$', '') ELSE idc END)" if strip_float else "idc"
    kind = spec.ids.kind
    if kind == "email":
        s5["customer_id"] = f"CASE WHEN NOT idnull AND NOT idsci THEN lower({base}) END"
        s5["customer_id_issue"] = ("CASE WHEN idnull THEN 'missing' WHEN idsci THEN 'scientific' "
                                   "WHEN NOT regexp_full_match(idc, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+') THEN 'not_email' END")
        if upper:
            remarks.append(Remark("ids_email", {"column": col, "count": upper}))
    else:
        s5["customer_id"] = f"CASE WHEN NOT idnull AND NOT idsci THEN {base} END"
        s5["customer_id_issue"] = "CASE WHEN idnull THEN 'missing' WHEN idsci THEN 'scientific' END"
    return plan


def _phone_map(con: duckdb.DuckDBPyConnection, spec: Any, col: str, remarks: list[Remark]) -> None:
    """Replace phone ids in ``rows`` by their E.164 form (one parse per distinct value)."""
    import phonenumbers

    region = spec.ids.default_region
    values = [v for (v,) in con.execute("SELECT DISTINCT customer_id FROM rows WHERE customer_id IS NOT NULL").fetchall()]
    out_raw, out_e164 = [], []
    for v in values:
        e164 = None
        try:
            num = phonenumbers.parse(v, region)
            if phonenumbers.is_valid_number(num):
                e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        out_raw.append(v)
        out_e164.append(e164)
    pmap = pa.table({"raw_id": pa.array(out_raw, pa.string()), "e164": pa.array(out_e164, pa.string())})
    con.register("phone_map", pmap)
    changed = con.execute("SELECT count(*) FROM rows r JOIN phone_map m ON r.customer_id = m.raw_id "
                          "WHERE m.e164 IS NOT NULL AND m.e164 <> m.raw_id").fetchall()[0][0]
    con.execute("""UPDATE rows SET customer_id_issue = CASE WHEN m.e164 IS NULL THEN 'not_phone' END,
                   customer_id = m.e164 FROM phone_map m WHERE rows.customer_id = m.raw_id""")
    con.unregister("phone_map")
    remarks.append(Remark("ids_phone", {"column": col, "count": int(changed), "region": region or ""}, "warning"))


def _statuses(con: duckdb.DuckDBPyConnection, col: str, spec: Any, label: str, line_of: Any,
              built: Built) -> str:
    """SQL (over stage column ``st``) telling whether a row's status counts as a purchase."""
    # totals, repeated headers and continuation rows (no date, no amount) carry no status of their own
    rows = con.execute("""SELECT status_key, count(*), min(__i), mode(status_raw) FROM rows
                          WHERE NOT is_total_row AND NOT is_repeated_header
                            AND NOT coalesce(date_issue = 'missing' AND amount_issue = 'missing', false)
                          GROUP BY status_key ORDER BY 2 DESC""").fetchall()
    split = split_statuses(spec.statuses, rows)
    if split.unknowns:
        listed = split.unknown_list(lambda first: f"line {line_of(first)}")
        raise DataValidationError(
            f"{label}: column {col!r} (status) has statuses that are neither known purchases nor known "
            f"cancellations: {listed}. Say which count: statuses: {{include: [...]}} (only these count) or "
            "statuses: {exclude: [...]} (all others count) in the source spec.")
    counted, excluded = split.counted, split.excluded
    built.statuses = {"counted": counted, "excluded": excluded}
    built.remarks.append(Remark("statuses", {"column": col, "counted": counted, "excluded": excluded},
                                "warning" if excluded else "info"))
    if not split.keys:
        return "false"
    return f"(coalesce(status_key, '') IN ({', '.join(lit(k) for k in split.keys)}))"


def _null_short(x: str) -> str:
    """The null-marker test, cheap for ordinary values (markers are short)."""
    return f"({x} IS NULL OR {x} = '' OR (length({x}) <= 6 AND {NULL_SQL.format(x=x)}))"


def _status_sql(col: str) -> str:
    return (f"nullif(rtrim(regexp_replace(replace(lower(trim({ident(src(col))})), 'ё', 'е'), '\\s+', ' ', 'g'), '.'), '')")


def _merge(*plans: ColumnPlan) -> list[dict[str, str]]:
    n = max(len(p.stages) for p in plans)
    out: list[dict[str, str]] = [{} for _ in range(n)]
    for p in plans:
        for i, st in enumerate(p.stages):
            out[i].update(st)
    return out


def build_rows(con: duckdb.DuckDBPyConnection, raw: RawTable, cols: dict[str, str], spec: Any, label: str,
               bundled: bool) -> Built:
    """Create the DuckDB table ``rows`` of typed canonical columns (see the module docstring)."""
    built = Built()
    if raw.parquet is not None:  # read in place: a view over the file, the same columns as prepare_raw's
        from .read_typed import parquet_id_flags, parquet_view_sql

        padded, *flags = parquet_id_flags(raw, cols["customer_id"])
        view, table = parquet_view_sql(raw, cols, src, tuple(flags))
        con.execute(f"CREATE OR REPLACE TEMP VIEW raw AS {view}")
        if pa.types.is_integer(raw.table.schema.field(cols["customer_id"]).type):
            built.remarks.append(Remark("ids_numeric_source", {"column": cols["customer_id"]}))
        shapes: dict[str, Any] = {"id_padded": padded}

        def line_of(pos: int) -> int:
            return int(pos) + 1
    else:
        table, shapes = prepare_raw(raw, cols, built.remarks)
        con.register("raw", table)
        lines = raw.source_row
        flags = (bool(table.column("__idodd").to_numpy(zero_copy_only=False).any()),
                 bool(table.column("__idsuspect").to_numpy(zero_copy_only=False).any()))

        def line_of(pos: int) -> int:
            return int(lines[int(pos)])

    idp = _plan_ids(con, cols["customer_id"], spec, built.remarks, shapes["id_padded"], *flags)
    date_typed = _typed(table.column(src(cols["order_date"]))) == "date"
    dp = plan_dates(con, src(cols["order_date"]), cols["order_date"], date_typed, spec.dates, label, line_of,
                    shapes.get("order_date"), table.column(src(cols["order_date"])))
    built.remarks.extend(dp.remarks)
    amount_typed = _typed(table.column(src(cols["amount"]))) == "number"
    ap, built.currency, built.digits = plan_amounts(con, src(cols["amount"]), cols["amount"], amount_typed, spec,
                                                    src(cols["currency"]) if "currency" in cols else None, label,
                                                    line_of, bundled,
                                                    shapes.get("amount"))
    built.remarks.extend(ap.remarks)
    stages = _merge(idp, dp, ap)
    final: dict[str, str] = {}
    # optional text columns
    for target in ("order_id", "refund_of", "channel"):
        if target in cols:
            c = ident(src(cols[target]))
            v = f"trim(regexp_replace({c}, '{_INVISIBLE}', '', 'g'))"
            if target != "channel":
                v = f"regexp_replace({v}, '^([0-9]+)\\.0+$', '\\1')"
            stages[0][target] = f"CASE WHEN NOT {NULL_SQL.format(x=c)} THEN {v} END"
    if "quantity" in cols:
        q = ident(src(cols["quantity"]))
        if _typed(table.column(src(cols["quantity"]))) == "number":
            stages[0]["quantity"] = f"CAST({q} AS DOUBLE)"
            stages[0]["quantity_bad"] = "false"
        else:
            num = f"TRY_CAST(replace(regexp_replace(trim({q}), '[\\s\\x{{00a0}}\\x{{202f}}]', '', 'g'), ',', '.') AS DOUBLE)"
            stages[0]["quantity"] = num
            stages[0]["quantity_bad"] = f"({num} IS NULL AND NOT {NULL_SQL.format(x=q)})"
    final["status_counts"] = "true"
    if "status" in cols:
        stages[0]["st"] = _status_sql(cols["status"])
        stages[0]["status_raw"] = f"trim({ident(src(cols['status']))})"
    # repeated headers and total lines (only looked for where the date is not a date)
    header_test = " AND ".join(f"trim(w.{ident(src(cols[t]))}) = {lit(cols[t])}"
                               for t in ("customer_id", "order_date", "amount")
                               if _typed(table.column(src(cols[t]))) == "text")
    final["is_repeated_header"] = "false"
    final["is_total_row"] = "false"
    text_cols = [src(c) for c in raw.header if src(c) in table.column_names and _typed(table.column(src(c))) == "text"]
    totals = " OR ".join(f"regexp_matches(lower(trim(w.{ident(c)})), {lit(_TOTAL_RE)})" for c in text_cols[:30])
    if "order_id" in cols and spec.cleaning.dedupe_with_order_id:
        final["row_key"] = f"hash({', '.join(ident(src(c)) for c in raw.header if src(c) in table.column_names)})"
    else:
        final["row_key"] = "CAST(__i AS UBIGINT)"
    stages.append(final)
    keep = ["__row AS source_row", "__i", "customer_id", "customer_id_issue", "order_date", "date_issue",
            "amount_minor", "amount_issue", "amount_rounded", "status_counts", "is_repeated_header",
            "is_total_row", "row_key"]
    for t in ("order_id", "refund_of", "channel", "quantity", "quantity_bad"):
        if t in stages[0]:
            keep.append(t)
    if "status" in cols:
        keep += ["st AS status_key", "status_raw"]
    built.columns = [k.split(" AS ")[-1] for k in keep]
    if "order_id" not in stages[0]:
        keep.append("CAST(NULL AS VARCHAR) AS order_id")
    con.execute("CREATE OR REPLACE TEMP TABLE rows AS " + staged(stages, ", ".join(keep)))
    # repeated headers and total lines are looked for only where the date is not a date (few rows)
    header_sql = header_test or "false"
    con.execute(f"""UPDATE rows SET is_repeated_header = {header_sql}, is_total_row = ({totals or 'false'})
                    FROM raw w WHERE rows.__i = w.__i AND rows.date_issue IS NOT NULL""")
    if "status" in cols:
        counts = _statuses(con, cols["status"], spec, label, line_of, built)
        con.execute(f"""UPDATE rows SET status_counts = {counts}
                        WHERE NOT is_total_row AND NOT is_repeated_header
                          AND NOT coalesce(date_issue = 'missing' AND amount_issue = 'missing', false)""")
    if spec.ids.kind == "phone":
        _phone_map(con, spec, cols["customer_id"], built.remarks)
    return built
