"""The amount column: decimal mark, thousands separator and currency decided for the column
as a whole, then every value converted by DuckDB to integer minor units of the currency.

Like dates, each value is reduced to its *shape* (digits replaced by ``9``); the few distinct
shapes are classified once and decide everything:

* Currency marks (``₽ руб. руб р. р Р RUB $ USD € EUR £ ¥ ₸ тг ₴ грн``...) before or after the
  number are read and removed. One analysis has one currency: marks (or a currency column)
  that disagree with each other or with the spec's ``currency`` are an error unless
  ``conversion.rates`` converts them. A spec without ``currency`` takes it from the marks
  (and says so).
* Decimal mark: ``1 234,56`` / ``1.234,56`` / ``7,5`` prove a decimal comma, ``1,234.56`` /
  ``7.5`` a decimal point, ``1.250.000`` a dot thousands separator. Values such as
  ``150.000`` or ``1,250`` alone cannot be decided: the load is refused with the option to
  set (``amounts.decimal``). Accounting negatives ``(12.50)``, ``12.50-`` and ``−5`` are read.
* Every amount is rounded to the currency's minor unit (Babel's currency precision), exactly
  (half away from zero); the rows that had more decimals are counted in a remark.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import duckdb

from .dates import ColumnPlan
from .result import DataValidationError, Remark
from .sqltext import NULL_TOKENS, ident, lit, staged

#: currency marks as written -> ISO code
MARKS = {
    "руб.": "RUB", "руб": "RUB", "Руб.": "RUB", "Руб": "RUB", "РУБ": "RUB", "RUB": "RUB", "rub": "RUB",
    "р.": "RUB", "р": "RUB", "Р.": "RUB", "Р": "RUB", "₽": "RUB",
    "US$": "USD", "$": "USD", "USD": "USD", "usd": "USD",
    "€": "EUR", "EUR": "EUR", "eur": "EUR", "£": "GBP", "GBP": "GBP", "¥": "JPY", "JPY": "JPY", "CNY": "CNY",
    "₸": "KZT", "KZT": "KZT", "тг.": "KZT", "тг": "KZT", "₴": "UAH", "UAH": "UAH", "грн.": "UAH", "грн": "UAH",
    "BYN": "BYN",
}
_SPACE_CHARS = " \t\u00a0\u202f\u2009\u2007'’`"
_TOKEN = r"[^\d\s.,()+\-−'’`\u00a0\u202f\u2009\u2007]+"
#: classification of the cleaned shape (checked in this order)
SHAPES = {
    "int": r"-?9+",
    "comma2": r"-?(?:9+|9{1,3}(?:\.999)+),9{1,2}",     # 7,5  1.234,56
    "dot2": r"-?(?:9+|9{1,3}(?:,999)+)\.9{1,2}",       # 7.5  1,234.56
    "dotgroups": r"-?9{1,3}(?:\.999){2,}",             # 1.250.000
    "commagroups": r"-?9{1,3}(?:,999){2,}",            # 1,250,000
    "dot3": r"-?9{1,3}\.999",                          # 150.000 (ambiguous)
    "comma3": r"-?9{1,3},999",                         # 1,250   (ambiguous)
    "commalong": r"-?(?:9+|9{1,3}(?:\.999)+),9{3,}",   # 0,12345 / 1.234,567
    "dotlong": r"-?(?:9+|9{1,3}(?:,999)+)\.9{3,}",     # 0.12345 / 1,234.567
    "sci": r"-?9+(?:\.9+)?[eE][-+]?9+",
}


def _core(sig: str) -> tuple[str | None, str | None, str]:
    """(mark as written or None, currency or None, the number's shape without mark and spaces)."""
    mark = None
    s = sig.strip()
    m = re.match(rf"^([-−(]?)\s*({_TOKEN})\s*", s)
    if m and m.group(2) in MARKS:
        mark, s = m.group(2), m.group(1) + s[m.end():]
    m = re.search(rf"\s*({_TOKEN}\.?)(\)?)$", s)
    if m and mark is None and m.group(1) in MARKS:
        mark, s = m.group(1), s[:m.start()] + m.group(2)
    s = "".join(ch for ch in s if ch not in _SPACE_CHARS).replace("−", "-")
    if s.startswith("(") and s.endswith(")"):
        s = "-" + s[1:-1]
    elif re.fullmatch(r"[9.,]+-", s):
        s = "-" + s[:-1]
    elif s.startswith("+"):
        s = s[1:]
    return mark, (MARKS[mark] if mark else None), s


def _shape(core: str) -> str:
    return next((k for k, p in SHAPES.items() if re.fullmatch(p, core)), "other")


def plan_amounts(con: duckdb.DuckDBPyConnection, col: str, column_name: str, typed: bool, spec: Any,
                 currency_col: str | None, label: str, line_of: Callable[[int], int],
                 bundled: bool, shapes: Any = None) -> tuple[ColumnPlan, str | None, int]:
    """Plan for ``amount_minor`` (BIGINT minor units), ``amount_issue`` and ``amount_rounded``.
    Returns the plan, the analysis currency (or None when unknown) and its minor-unit digits."""
    from babel.numbers import get_currency_precision

    c = ident(col)
    plan = ColumnPlan()
    s1, s2, s3, s4, s5, s6, s7 = plan.stages
    opts = spec.amounts
    s1["anull"] = f"{c} IS NULL"
    info: dict[str, tuple] = {}
    if not typed:
        for code, sig, n, first in shapes.items():
            if sig.strip().lower() in NULL_TOKENS:
                continue
            mark, cur, core = _core(sig)
            info[code] = (mark, cur, core, _shape(core), n, first, sig)
    if not typed:
        nulls = [k for k, sig, _, _ in shapes.items() if sig.strip().lower() in NULL_TOKENS]
        s1["anull"] = "__asig = -1" + (f" OR __asig IN ({', '.join(map(str, nulls))})" if nulls else "")
    # ---- currency of the analysis
    cur_counts: dict[str, list[int]] = {}
    for mark, cur, core, shape, n, first, _ in info.values():
        if cur:
            entry = cur_counts.setdefault(cur, [0, first])
            entry[0] += n
            entry[1] = min(entry[1], first)
    if currency_col:
        s1["acur_col"] = f"nullif(upper(trim({ident(currency_col)})), '')"
        for code, n, first in con.execute(staged([s1], "acur_col, count(*), min(__i)")
                                          + " WHERE acur_col IS NOT NULL GROUP BY acur_col").fetchall():
            entry = cur_counts.setdefault(code, [0, first])
            entry[0] += n
            entry[1] = min(entry[1], first)
    found = sorted(((k, v[0], v[1]) for k, v in cur_counts.items()), key=lambda t: -t[1])
    codes = [f[0] for f in found]
    target = spec.currency
    rates = dict(spec.conversion.rates) if spec.conversion else {}
    if target is None and len(codes) == 1:
        target = codes[0]
        plan.remarks.append(Remark("currency_from_marks", {"column": column_name, "currency": target}, "warning"))
    elif target is None and len(codes) > 1:
        parts = "; ".join(f"{code}: {n} rows (e.g. line {line_of(r)})" for code, n, r in found)
        raise DataValidationError(
            f"{label}: column {column_name!r} (amount) holds amounts in several currencies ({parts}). One analysis "
            f"needs one currency: set currency: (the shop's currency) and conversion: {{rates: {{...}}}} in the "
            "source spec, or split the file by currency.")
    elif target is None and bundled:
        target = "USD"
    if target is not None:
        other = [(code, n, r) for code, n, r in found if code != target]
        missing = [(code, n, r) for code, n, r in other if code not in rates]
        if missing:
            parts = "; ".join(f"{code}: {n} rows (e.g. line {line_of(r)})" for code, n, r in missing)
            raise DataValidationError(
                f"{label}: column {column_name!r} (amount): the source's currency is {target}, but amounts are "
                f"marked in another currency ({parts}). Give conversion: {{rates: {{{missing[0][0]}: ...}}}} "
                f"(1 {missing[0][0]} in {target}) or remove those rows.")
        if other:
            plan.remarks.append(Remark("currency_converted", {
                "column": column_name, "rows": {code: int(n) for code, n, _ in other},
                "rates": {code: rates[code] for code, _, _ in other}, "currency": target}, "warning"))
        else:
            marks = sorted({v[0] for v in info.values() if v[0]})
            if marks:
                plan.remarks.append(Remark("currency_marks", {"column": column_name, "marks": marks}))
    digits = get_currency_precision(target) if target else 2
    scale = 10 ** digits
    # ---- per-row currency (only needed to convert)
    factor = None
    if rates and target:
        s2["arow_cur"] = "CASE " + " ".join(
            f"WHEN __asig IN ({', '.join(str(k) for k, v in info.items() if v[1] == code)}) THEN {lit(code)}"
            for code in {v[1] for v in info.values() if v[1]}) + " END" if any(v[1] for v in info.values()) \
            else "CAST(NULL AS VARCHAR)"
        if currency_col:
            s2["arow_cur"] = f"coalesce(acur_col, {s2['arow_cur']})"
        rate_case = " ".join(f"WHEN {lit(k)} THEN CAST({v!r} AS DECIMAL(38, 10))" for k, v in rates.items())
        factor = f"(CASE coalesce(arow_cur, {lit(target)}) {rate_case} ELSE CAST(1 AS DECIMAL(38, 10)) END)"
    if typed:
        v = c
        s5["adigits"] = (f"(CASE WHEN abs({v} * {scale} - round({v} * {scale})) <= 1e-4 THEN 0 "
                         f"ELSE {digits + 1} END)")
        dec = f"TRY_CAST({v} AS DECIMAL(38, 10))"
        fast = f"TRY_CAST(round({v} * {scale}) AS BIGINT)"
    else:
        counts: dict[str, int] = {}
        for mark, cur, core, shape, n, first, _ in info.values():
            counts[shape] = counts.get(shape, 0) + n

        def examples(kinds: tuple) -> str:
            sel = sorted((v[5], k) for k, v in info.items() if v[3] in kinds)[:3]
            vals = con.execute(staged([s1], "__i, trim(" + c + ")") + " WHERE __i IN ("
                               + ", ".join(str(r) for r, _ in sel) + ") ORDER BY __row").fetchall() if sel else []
            return ", ".join(f"{v!r} on line {line_of(r)}" for r, v in vals)
        shapes = counts

        ev_comma = shapes.get("comma2", 0) + shapes.get("dotgroups", 0) + shapes.get("commalong", 0)
        ev_dot = shapes.get("dot2", 0) + shapes.get("commagroups", 0) + shapes.get("dotlong", 0)
        ambiguous = shapes.get("dot3", 0) + shapes.get("comma3", 0)
        dec_mark = opts.decimal
        if dec_mark == "auto":
            if ev_comma and ev_dot:
                raise DataValidationError(
                    f"{label}: column {column_name!r} (amount) mixes decimal commas and decimal points "
                    f"({examples(('comma2', 'dot2', 'dotgroups', 'commagroups', 'commalong', 'dotlong'))}); "
                    "set amounts.decimal (',' or '.') in the source spec.")
            if ev_comma:
                dec_mark = ","
            elif ev_dot:
                dec_mark = "."
            elif ambiguous:
                raise DataValidationError(
                    f"{label}: column {column_name!r} (amount): values such as {examples(('dot3', 'comma3'))} could "
                    "be thousands (150 000) or decimals (150.0) and nothing in the column tells; set "
                    "amounts.decimal: ',' (the dot groups thousands) or amounts.decimal: '.' in the source spec.")
            else:
                dec_mark = "."
            if dec_mark == "," and ev_comma:
                plan.remarks.append(Remark("decimal_comma", {"column": column_name}))
        groups_sep = "." if dec_mark == "," else ","
        if opts.thousands in (".", ","):
            groups_sep = opts.thousands
        if (shapes.get("dotgroups", 0) or shapes.get("dot3", 0)) and dec_mark == "," and groups_sep == ".":
            plan.remarks.append(Remark("thousands_separator", {"column": column_name, "separator": "."}, "warning"))
        if (shapes.get("commagroups", 0) or shapes.get("comma3", 0)) and dec_mark == "." and groups_sep == ",":
            plan.remarks.append(Remark("thousands_separator", {"column": column_name, "separator": ","}))
        g = re.escape(groups_sep)
        d = re.escape(dec_mark)
        valid_re = rf"-?(?:9+|9{{1,3}}(?:{g}999)+)(?:{d}9+)?"
        valid, sci, rounded = [], [], []
        for code, (mark, cur, core, shape, n, first, sig) in info.items():
            if re.fullmatch(valid_re, core):
                valid.append(code)
                frac = core.split(dec_mark)[1] if dec_mark in core else ""
                if len(frac) > digits:
                    rounded.append(code)
            elif shape == "sci":
                sci.append(code)
        # the number as text with '.' as the decimal mark
        all_sigs = [v[6] for v in info.values()]
        joined = "".join(all_sigs)
        x = f"trim({c})" if any(sg != sg.strip() for sg in all_sigs) else c
        if any(v[0] for v in info.values()):
            marks = sorted({v[0] for v in info.values() if v[0]}, key=len, reverse=True)
            alt = "|".join(re.sub(r"([.$()\[\]{}*+?^|\\])", r"\\\1", m) for m in marks)
            prefix = lit("^([-−(]?) ?(?:" + alt + ") ?")
            suffix = lit(" ?(?:" + alt + ")(\\)?)$")
            x = f"regexp_replace(regexp_replace({x}, {prefix}, '\\1'), {suffix}, '\\1')"
        for ch in _SPACE_CHARS:
            if ch in joined:
                x = f"replace({x}, {lit(ch)}, '')"
        if "−" in joined:
            x = f"replace({x}, '−', '-')"
        if "+" in joined:
            x = f"replace({x}, '+', '')"
        if "(" in joined or any(re.search(r"9-\s*$", sig) for sig in all_sigs):
            x = (f"(CASE WHEN starts_with({x}, '(') AND ends_with({x}, ')') THEN '-' || ({x})[2:-2] "
                 f"WHEN ends_with({x}, '-') THEN '-' || ({x})[1:-2] ELSE {x} END)")
        if groups_sep in joined:
            x = f"replace({x}, {lit(groups_sep)}, '')"
        if dec_mark != "." and dec_mark in joined:
            x = f"replace({x}, {lit(dec_mark)}, '.')"
        s2["ax"] = x
        in_valid = f"__asig IN ({', '.join(str(k) for k in valid)})" if valid else "false"
        in_sci = f"__asig IN ({', '.join(str(k) for k in sci)})" if sci else "false"
        s5["anorm"] = (f"CASE WHEN {in_valid} THEN ax "
                       f"WHEN {in_sci} THEN CAST(TRY_CAST(TRY_CAST(ax AS DOUBLE) AS DECIMAL(38, 10)) AS VARCHAR) END")
        s5["adigits"] = (f"CASE WHEN __asig IN ({', '.join(str(k) for k in rounded)}) THEN {digits + 1} ELSE 0 END"
                         if rounded else "0")
        dec = "TRY_CAST(anorm AS DECIMAL(38, 10))"
        fast = f"TRY_CAST(round(TRY_CAST(anorm AS DOUBLE) * {scale}) AS BIGINT)"
    if factor:
        s6["amount_minor"] = f"TRY_CAST(round({dec} * {factor} * {scale}) AS BIGINT)"
    else:
        # exact: values with no more decimals than the currency allows go through DOUBLE (exact after
        # rounding to minor units), the others through DECIMAL (exact half-away-from-zero rounding)
        s6["amount_minor"] = (f"CASE WHEN adigits <= {digits} THEN {fast} "
                              f"ELSE TRY_CAST(round({dec} * {scale}) AS BIGINT) END")
    s7["amount_issue"] = "CASE WHEN anull THEN 'missing' WHEN amount_minor IS NULL THEN 'unreadable' END"
    s7["amount_rounded"] = f"coalesce(adigits > {digits}, false) AND amount_minor IS NOT NULL"
    return plan, target, digits
