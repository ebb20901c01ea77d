"""The order date column: its layout is decided once, for the column as a whole, then every
value is converted by DuckDB in one vectorised pass.

How: every value is reduced to its *shape* (digits replaced by ``9``: ``25.11.2024 14:03``
-> ``99.99.9999 99:99``). A column has few distinct shapes; each is classified once (in
Python, with the regular expressions below) into one strptime format, and the values are
converted with that format. Day/month order is decided from the distinct date parts of the
whole column. Nothing is parsed value by value.

Recognised layouts (several may be mixed in one column): ISO ``yyyy-mm-dd`` and
``yyyy.mm.dd`` / ``yyyy/mm/dd`` (year first is always year-month-day), ``dd.mm.yyyy`` /
``dd.mm.yy``, ``dd/mm/yyyy`` or ``mm/dd/yyyy``, ``yyyymmdd``, Excel serial day numbers,
``25 ноября 2024`` / ``Nov 25, 2024`` / ``25 Nov 2024``, each with an optional time
(24-hour, or 12-hour with AM/PM), fractional seconds, a time zone (dropped: the local wall
time as written is kept) and the Russian ``г.`` after the year. A value with a first part
above 12 proves day-first, a second part above 12 month-first; when nothing in the column
tells and values such as 03/04/2024 exist, the load is refused unless ``dates.order`` says
it (dotted dates alone are day-first by convention, and the report says so). Values in no
recognised layout are unreadable (set aside; many of them fail the load).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import duckdb

from .result import DataValidationError, Remark
from .shapes import Shapes, field_numbers
from .sqltext import NULL_SQL, NULL_TOKENS, ident, lit

_TIME = r"(?: 9{1,2}:99(?::99)?(?: [AaPp][Mm])?)?"
#: shapes of the normalised text (``9`` = a digit), checked in this order
SHAPES = {
    "ymd": r"9999([-./])9{1,2}(?:\1)9{1,2}" + _TIME,
    "dmy4": r"9{1,2}([./-])9{1,2}(?:\1)9999" + _TIME,
    "dmy2": r"9{1,2}(\.)9{1,2}\.99" + _TIME,
    "compact": r"99999999",
    "serial": r"99999(?:\.9+)?",
    "name_dmy": r"9{1,2} ()[^\W\d_]+\.? 9999" + _TIME,
    "name_mdy": r"()[^\W\d_]+\.? 9{1,2} 9999" + _TIME,
}
_TIMES = [(r" 9{1,2}:99:99$", " %H:%M:%S"), (r" 9{1,2}:99$", " %H:%M"),
          (r" 9{1,2}:99:99 [AaPp][Mm]$", " %I:%M:%S %p"), (r" 9{1,2}:99 [AaPp][Mm]$", " %I:%M %p")]
#: month names (Russian genitive/nominative and English, by their first three letters)
_MONTHS = {"янв": 1, "фев": 2, "мар": 3, "апр": 4, "мая": 5, "май": 5, "июн": 6, "июл": 7, "авг": 8, "сен": 9,
           "окт": 10, "ноя": 11, "дек": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
           "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
DIGITS = "translate({x}, '0123456789', '9999999999')"


@dataclass
class ColumnPlan:
    """SQL expressions computing a column in stages: each stage may use the names made in
    earlier stages (a stage is a dict name -> SQL expression)."""

    stages: list[dict[str, str]] = field(default_factory=lambda: [{} for _ in range(7)])
    remarks: list[Remark] = field(default_factory=list)


def classify(sig: str) -> tuple[str, str, str]:
    """(shape, separator, time format) of a shape string; shape ``other`` if unknown."""
    for shape, pat in SHAPES.items():
        m = re.fullmatch(pat, sig)
        if m:
            time = next((f for p, f in _TIMES if re.search(p, sig)), "")
            return shape, (m.group(1) if m.groups() else ""), time
    return "other", "", ""


def _month_expr(name: str) -> str:
    cases = " ".join(f"WHEN {lit(k)} THEN '{v}'" for k, v in _MONTHS.items())
    return f"(CASE left(lower({name}), 3) {cases} END)"


#: Decorations removed before the shape is classified: (test on the column's shapes, regex, replacement).
#: The same regex runs in DuckDB on the values and in Python on the shapes.
_NORMALISERS = [
    (r"^9999-9{1,2}-9{1,2}T", r"^(\d{4}-\d{1,2}-\d{1,2})T", r"\1 "),
    (r":99[.,]9", r"(\d:\d{2}:\d{2})[.,]\d+", r"\1"),
    (r"9:99(?::99)?(?: ?[AaPp][Mm])? ?(?:Z|UTC|GMT|[+-]99(?::?99)?)$",
     r"(\d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?) ?(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$", r"\1"),
    (r"г", r" ?г\.?( |$)", r"\1"),
    (r"9 ?[AaPp]\.?[Mm]\.?$", r" ?([AaPp])\.?([Mm])\.?$", r" \1\2"),
    (r", ", r", ", r" "),
]
_WS = r"[\u00a0\u202f\u2009\t]|  "


def _normaliser(sigs: list[str]) -> tuple[str, Callable[[str], str], bool]:
    """(SQL template over ``{x}``, the same on a shape in Python, whether a time zone was seen)."""
    joined = "\n".join(s.strip() for s in sigs if s)
    steps = [(pat, rep) for test, pat, rep in _NORMALISERS if re.search(test, joined, re.M)]
    ws = bool(re.search(_WS, joined))
    tz = any(test == _NORMALISERS[2][0] and re.search(test, joined, re.M) for test, _, _ in _NORMALISERS)
    padded = any(s != s.strip() for s in sigs if s)
    x = "trim({x})" if padded else "{x}"
    if ws:
        x = "trim(regexp_replace({x}, '[\\x{{00a0}}\\x{{202f}}\\x{{2009}}\\t ]+', ' ', 'g'))"
    for pat, rep in steps:
        x = f"trim(regexp_replace({x}, {lit(pat).replace('{', '{{').replace('}', '}}')}, {lit(rep)}))"

    def py(sig: str) -> str:
        out = sig.strip()
        if ws:
            out = re.sub(r"[\u00a0\u202f\u2009\t ]+", " ", out).strip()
        for pat, rep in steps:
            out = re.sub(pat, rep, out, count=1).strip()
        return out
    return x, py, tz


def plan_dates(con: duckdb.DuckDBPyConnection, col: str, column_name: str, typed: bool, options: Any,
               label: str, line_of: Callable[[int], int], shapes: Shapes | None = None,
               values: Any = None) -> ColumnPlan:
    """Decide how the date column ``col`` of the table ``raw`` is read; the plan yields
    ``order_date`` (TIMESTAMP) and ``date_issue`` (NULL / missing / unreadable / ambiguous).
    ``shapes`` are the column's value shapes (``__dsig`` holds each row's shape code)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    c = ident(col)
    plan = ColumnPlan()
    s1, s2, s3, s4 = plan.stages[:4]
    if typed:  # real date cells (Excel, Parquet, SQL, DataFrame), already naive local times
        s3["order_date"] = f"CASE WHEN year({c}) BETWEEN 1900 AND 2200 THEN CAST({c} AS TIMESTAMP) END"
        s4["date_issue"] = f"CASE WHEN {c} IS NULL THEN 'missing' WHEN order_date IS NULL THEN 'unreadable' END"
        return plan
    if options.format:
        s1["dx"] = f"trim({c})"
        s3["order_date"] = f"try_strptime(dx, {lit(options.format)})"
        s4["date_issue"] = (f"CASE WHEN {NULL_SQL.format(x='dx')} THEN 'missing' WHEN order_date IS NULL "
                            "THEN 'unreadable' END")
        return plan
    assert shapes is not None
    sql_x, norm, has_tz = _normaliser(shapes.shapes)
    s1["dx"] = sql_x.format(x=c)
    info = {}
    for code, sig, n, first in shapes.items():
        if sig.strip().lower() in NULL_TOKENS:
            info[code] = ("null", "", "", n, first, sig)
        else:
            info[code] = (*classify(norm(sig)), n, first, sig)
    by_shape: dict[str, int] = {}
    for shape, _, _, n, _, _ in info.values():
        by_shape[shape] = by_shape.get(shape, 0) + n
    fam = [k for k, v in info.items() if v[0] in ("dmy4", "dmy2")]
    order, mixed, ambiguous = "day_first", False, 0
    if fam:
        ev_day = ev_month = 0
        amb_pos: list[np.ndarray] = []
        only_dots = all(info[k][1] == "." for k in fam)
        col_values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        for k in fam:
            m = re.match(r"(\s*)(9{1,2})[./-](9{1,2})[./-]", info[k][5])
            if not m:
                continue
            pos = np.flatnonzero(shapes.codes == k)
            if info[k][5][:m.end(3)].isascii():  # digits at fixed byte positions: read them from the bytes
                a = field_numbers(col_values, pos, m.start(2), m.end(2))
                b = field_numbers(col_values, pos, m.start(3), m.end(3))
            else:
                vals = col_values.take(pa.array(pos))
                a = pc.cast(pc.utf8_slice_codeunits(vals, m.start(2), m.end(2)), pa.int32()).to_numpy(
                    zero_copy_only=False)
                b = pc.cast(pc.utf8_slice_codeunits(vals, m.start(3), m.end(3)), pa.int32()).to_numpy(
                    zero_copy_only=False)
            ev_day += int((a > 12).sum())
            ev_month += int(((b > 12) & (a <= 12)).sum())
            amb = (a <= 12) & (b <= 12) & (a != b)
            ambiguous += int(amb.sum())
            amb_pos.append(pos[amb][:3])
        amb_rows = sorted(int(x) for p in amb_pos for x in p)[:3]
        if ev_day and ev_month:
            mixed = True
            plan.remarks.append(Remark("date_order_mixed", {"column": column_name, "ambiguous": int(ambiguous)},
                                       "warning"))
        elif ev_day:
            if ambiguous:
                plan.remarks.append(Remark("date_order", {"column": column_name, "order": "day_first",
                                                          "evidence": "values"}))
        elif ev_month:
            order = "month_first"
            plan.remarks.append(Remark("date_order", {"column": column_name, "order": order, "evidence": "values"},
                                       "warning"))
        elif options.order != "auto":
            order = options.order
            if ambiguous:
                plan.remarks.append(Remark("date_order", {"column": column_name, "order": order,
                                                          "evidence": "option"}))
        elif ambiguous and only_dots:
            plan.remarks.append(Remark("date_order", {"column": column_name, "order": order,
                                                      "evidence": "convention"}))
        elif ambiguous:
            ex = ", ".join(f"line {line_of(r)}" for r in amb_rows)
            raise DataValidationError(
                f"{label}: column {column_name!r} (order_date): dates such as 03/04/2024 could be day/month or "
                f"month/day and nothing in the column tells which ({ex}). Set dates.order: day_first "
                f"(3 April) or dates.order: month_first (March 4) in the source spec.")
    twelve = sum(v[3] for v in info.values() if "%p" in v[2])
    if twelve:
        plan.remarks.append(Remark("twelve_hour_clock", {"column": column_name, "count": int(twelve)}))
    if has_tz:
        tz_test = _NORMALISERS[2][0]
        n_tz = sum(v[3] for v in info.values() if re.search(tz_test, v[5].strip()))
        plan.remarks.append(Remark("timezone_dropped", {"column": column_name, "count": int(n_tz)}, "warning"))
    if by_shape.get("serial"):
        plan.remarks.append(Remark("excel_serial_dates", {"column": column_name, "count": int(by_shape["serial"])},
                                   "warning"))
    names = by_shape.get("name_dmy", 0) + by_shape.get("name_mdy", 0)
    if names:
        plan.remarks.append(Remark("month_names", {"column": column_name, "count": int(names)}))
    seen = [k for k in SHAPES if by_shape.get(k)]
    if len(seen) > 1:
        plan.remarks.append(Remark("date_formats", {"column": column_name, "formats": seen}))

    def fmt(shape: str, sep: str, time: str, day_first: bool) -> str | None:
        if shape == "ymd":
            return f"%Y{sep}%m{sep}%d{time}"
        if shape in ("dmy4", "dmy2"):
            y = "%Y" if shape == "dmy4" else "%y"
            return (f"%d{sep}%m{sep}{y}" if day_first else f"%m{sep}%d{sep}{y}") + time
        if shape == "compact":
            return "%Y%m%d"
        if shape in ("name_dmy", "name_mdy"):
            return "%d.%m.%Y" + time
        return None

    def by_name(pattern: str, groups: str) -> str:
        def part(k: str) -> str:
            return f"struct_extract(regexp_extract(dx, {lit(pattern)}, {groups}), '{k}')"
        return f"({part('d')} || '.' || {_month_expr(part('m'))} || '.' || {part('y')} || {part('rest')})"

    sources = {"name_dmy": by_name('^(\\d{1,2}) (\\pL+)\\.? (\\d{4})(.*)$', "['d', 'm', 'y', 'rest']"),
               "name_mdy": by_name('^(\\pL+)\\.? (\\d{1,2}) (\\d{4})(.*)$', "['m', 'd', 'y', 'rest']")}
    groups: dict[tuple, list[int]] = {}
    for code, (shape, sep, time, _, _, _) in info.items():
        if shape not in ("null", "other"):
            groups.setdefault((shape, sep, time), []).append(code)
    d1 = "TRY_CAST(regexp_extract(dx, '^(\\d{1,2})[./-]', 1) AS INTEGER)"
    d2 = "TRY_CAST(regexp_extract(dx, '^\\d{1,2}[./-](\\d{1,2})[./-]', 1) AS INTEGER)"
    whens = []
    for (shape, sep, time), sigs in groups.items():
        cond = f"__dsig IN ({', '.join(str(k) for k in sigs)})"
        if shape == "serial":
            whens.append(f"WHEN {cond} THEN (CASE WHEN TRY_CAST(dx AS DOUBLE) BETWEEN 10000 AND 100000 THEN "
                         "TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(TRY_CAST(dx AS DOUBLE) * "
                         "86400000000) AS BIGINT)) END)")
        elif shape in ("dmy4", "dmy2") and mixed:
            fd, fm = fmt(shape, sep, time, True), fmt(shape, sep, time, False)
            whens.append(f"WHEN {cond} THEN (CASE WHEN {d1} > 12 OR {d1} = {d2} THEN try_strptime(dx, {lit(fd)}) "
                         f"WHEN {d2} > 12 THEN try_strptime(dx, {lit(fm)}) END)")
        else:
            f_ = fmt(shape, sep, time, order != "month_first")
            whens.append(f"WHEN {cond} THEN try_strptime({sources.get(shape, 'dx')}, {lit(f_)})")
    s3["order_date0"] = "(CASE " + " ".join(whens) + " END)" if whens else "CAST(NULL AS TIMESTAMP)"
    s4["order_date"] = "CASE WHEN year(order_date0) BETWEEN 1900 AND 2200 THEN order_date0 END"
    nulls = [k for k, v in info.items() if v[0] == "null"]
    null_test = "__dsig = -1" + (f" OR __dsig IN ({', '.join(str(k) for k in nulls)})" if nulls else "")
    amb = ""
    if mixed and fam:
        amb = (f"WHEN __dsig IN ({', '.join(str(k) for k in fam)}) AND {d1} <= 12 AND {d2} <= 12 "
               f"AND {d1} <> {d2} THEN 'ambiguous' ")
    s4["date_issue"] = (f"CASE WHEN {null_test} THEN 'missing' {amb}"
                        "WHEN order_date0 IS NULL OR year(order_date0) NOT BETWEEN 1900 AND 2200 THEN 'unreadable' END")
    return plan
