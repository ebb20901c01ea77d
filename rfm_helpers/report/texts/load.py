"""Words of the load report (notebook 01): the loader's codes and values in the run's language.

The load stage (:mod:`rfm_helpers.load`) returns numbers, reason codes and remark codes with
values; everything a person reads about a load is made here through the run's
:class:`~rfm_helpers.report.i18n.Translator` ``t``:

* :func:`reason_label` / :func:`accounting_view` - the row accounting table,
* :func:`accounting_sentences` / :func:`coverage_sentences` - ``(template, values)`` pairs for
  :func:`rfm_helpers.display.say` (values are escaped there),
* :func:`remark_text` / :func:`remarks_view` - every remark (guess, correction, warning),
* :func:`freshness_text` - the stale-data warning shown prominently,
* :func:`facts_view`, :func:`explain_quarantine`, :func:`record_summary`.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Any, Callable

import pandas as pd

from ...load import LoadResult, Remark, describe_clean
from ..i18n import N_, Translator

__all__ = ["reason_label", "detail_label", "accounting_view", "accounting_sentences", "coverage_sentences",
           "remark_text", "remarks_view", "freshness_text", "facts_view", "explain_quarantine", "record_summary",
           "source_label", "TEXTS"]

#: Reason codes -> plain description.
REASON_LABELS = {
    "repeated_header": N_("header line repeated inside the data"),
    "total_row": N_("total or subtotal line (not a purchase)"),
    "missing_customer_id": N_("no customer id"),
    "bad_customer_id": N_("customer id unusable (destroyed by Excel, or not an e-mail/phone)"),
    "bad_date": N_("order date missing, unreadable or ambiguous"),
    "bad_amount": N_("amount missing or not a number"),
    "after_analysis_date": N_("order dated after the analysis date"),
    "excluded_status": N_("status that does not count as a purchase"),
    "zero_amount": N_("amount is zero"),
    "duplicate": N_("exact repeat of an earlier row with the same order id"),
    "order_total_repeated": N_("order total repeated on a further item row (counted once)"),
    "order_continuation": N_("item row of an order whose total is on another row"),
    "order_total_conflict": N_("order rows with different order totals"),
    "refund_netted": N_("refund subtracted from its order"),
    "refunded_order": N_("order fully refunded (not a purchase)"),
    "return_or_cancellation": N_("negative amount (return) that cannot be linked to an order"),
}

#: Sub-codes of a quarantined row's reason -> explanation ({value}: the row's reason_value).
DETAIL_LABELS = {
    ("bad_customer_id", "scientific"): N_("id saved by Excel in scientific notation (digits lost)"),
    ("bad_customer_id", "not_email"): N_("not an e-mail address"),
    ("bad_customer_id", "not_phone"): N_("not a valid phone number"),
    ("bad_date", "missing"): N_("date is empty"),
    ("bad_date", "unreadable"): N_("date cannot be read"),
    ("bad_date", "ambiguous"): N_("day and month cannot be told apart"),
    ("bad_amount", "missing"): N_("amount is empty"),
    ("bad_amount", "unreadable"): N_("amount is not a number"),
    ("bad_amount", "no_amount_in_order"): N_("no row of this order carries an amount"),
    ("return_or_cancellation", "unlinked"): N_("no order to subtract it from"),
    ("zero_amount", "after_refunds"): N_("nothing of this line is left after its order's refunds"),
    ("return_or_cancellation", "policy"): N_("returns are set aside by the source settings"),
}
VALUE_LABELS = {
    "after_analysis_date": N_("analysis date {value}"),
    "excluded_status": N_("status: {value}"),
    "duplicate": N_("repeats line {value}"),
    "order_total_repeated": N_("order {value}"),
    "order_continuation": N_("order {value}"),
    "order_total_conflict": N_("order {value}"),
    "refund_netted": N_("order {value}"),
    "refunded_order": N_("order {value}"),
}

#: Fixed texts of the load report.
TEXTS = {
    "accounting_caption": N_("Row accounting for {source}"),
    "clean_caption": N_("Clean data in numbers"),
    "quarantine_file": N_("Set-aside rows ({n}) are in the file <code>{path}</code> in this run's folder."),
    "no_remarks": N_("No remarks: the file was read exactly as described, without any format guessing."),
    "analysis_date": N_("The analysis date is <b>{as_of}</b>."),
    "remarks_caption": N_("Remarks from reading the data"),
}

_SEVERITY = {"info": N_("note"), "warning": N_("check"), "high": N_("warning")}


def source_label(name: str, t: Translator) -> str:
    """The source's name for report text: the bundled sample's name translated."""
    return t._("CDNOW (bundled sample)") if name == "CDNOW (bundled sample)" else name


def reason_label(code: str, t: Translator) -> str:
    return t._(REASON_LABELS[code]) if code in REASON_LABELS else code


def detail_label(reason: str, detail: Any, value: Any, t: Translator) -> str:
    """Explanation of one quarantined row in the report's language."""
    parts = [reason_label(reason, t)]
    if isinstance(detail, str) and (reason, detail) in DETAIL_LABELS:
        parts.append(t._(DETAIL_LABELS[(reason, detail)]))
    if isinstance(value, str) and value and reason in VALUE_LABELS:
        parts.append(t._(VALUE_LABELS[reason]).format(value=value))
    return "; ".join(parts)


def accounting_view(result: LoadResult, t: Translator) -> pd.DataFrame:
    """The row accounting with headers, outcomes, descriptions, counts and shares in ``t``'s language."""
    acc = result.accounting()
    outcome = {"kept": t.pgettext("rows", "kept"), "quarantined": t.pgettext("rows", "set aside"),
               "total": t.pgettext("rows", "total")}
    desc = []
    for o, r in zip(acc["outcome"], acc["reason"]):
        desc.append(t._("kept for analysis") if o == "kept" else t._("rows read") if o == "total"
                    else reason_label(r, t))
    return pd.DataFrame({
        t._("Outcome"): [outcome[o] for o in acc["outcome"]],
        t._("Reason code"): acc["reason"],
        t._("Meaning"): desc,
        t._("Rows"): [t.integer(v) for v in acc["rows"]],
        t._("Share of rows read"): [t.percent(v, 2) for v in acc["share"]],
    })


def accounting_sentences(result: LoadResult, t: Translator) -> list[tuple[str, dict]]:
    """The row accounting and the customers lost to the quarantine, as sentences."""
    denom = result.rows_in or 1
    src = source_label(result.source_name, t)
    out: list[tuple[str, dict]] = []
    if result.rows_quarantined:
        parts = "; ".join(f"{reason_label(code, t)}: {t.integer(k)}" for code, k in result.reason_counts().items())
        out.append((t._("Of <b>{rows_in}</b> rows read from {source}, <b>{kept}</b> ({kept_share}) were kept and "
                        "<b>{quarantined}</b> ({q_share}) were set aside: {parts}."),
                    dict(rows_in=t.integer(result.rows_in), source=src, kept=t.integer(result.rows_kept),
                         kept_share=t.percent(result.rows_kept / denom, 2),
                         quarantined=t.integer(result.rows_quarantined),
                         q_share=t.percent(result.rows_quarantined / denom, 2), parts=parts)))
    else:
        out.append((t._("All <b>{rows_in}</b> rows read from {source} passed the checks and were kept."),
                    dict(rows_in=t.integer(result.rows_in), source=src)))
    lost = result.customers_fully_quarantined()
    if lost:
        out.append((t.ngettext("<b>{n}</b> customer appears in the source only with rows that were set aside, so "
                               "this customer is not part of the customer analysis.",
                               "<b>{n}</b> customers appear in the source only with rows that were set aside, so "
                               "they are not part of the customer analysis.", lost), dict(n=t.integer(lost))))
    return out


def coverage_sentences(result: LoadResult, t: Translator) -> list[tuple[str, dict]]:
    """What the clean data cover (dates, purchases, customers, revenue)."""
    d = describe_clean(result)  # over the run cache's file when the rows are not in pandas
    if not d["rows"]:
        return []
    return [(t._("The kept transactions run from <b>{first}</b> to <b>{last}</b>: <b>{rows}</b> purchases by "
                 "<b>{customers}</b> customers, <b>{revenue}</b> in total."),
             dict(first=t.date(d["first_date"]), last=t.date(d["last_date"]), rows=t.integer(d["rows"]),
                  customers=t.integer(d["customers"]), revenue=t.money(d["revenue"])))]


def facts_view(result: LoadResult, t: Translator) -> pd.DataFrame:
    d = describe_clean(result)  # over the run cache's file when the rows are not in pandas
    rows = [
        (t._("first purchase date"), t.date(d["first_date"]) if d["first_date"] else "–"),
        (t._("last purchase date"), t.date(d["last_date"]) if d["last_date"] else "–"),
        (t._("purchases (rows kept)"), t.integer(d["rows"])),
        (t._("customers"), t.integer(d["customers"])),
        (t._("revenue"), t.money(d["revenue"])),
        (t._("average purchase"), t.money(d["revenue"] / max(d["rows"], 1), cents=True)),
    ]
    return pd.DataFrame(rows, columns=[t._("Measure"), t._("Value")])


def _names(values: Any) -> str:
    return ", ".join(f"«{v}»" if not str(v).isascii() else f"'{v}'" for v in values)


def _counts(d: dict[str, int], t: Translator) -> str:
    return "; ".join(f"{k} ({t.integer(v)})" for k, v in d.items()) or "–"


def remark_text(r: Remark, t: Translator) -> str:
    """One remark as a sentence in the report's language."""
    v = dict(r.values)
    col = v.get("column", "")
    c = r.code
    if c == "bom_removed":
        return t._("A UTF-8 byte order mark (BOM) at the start of the file was removed.")
    if c == "utf16":
        return t._("The file is UTF-16 text.")
    if c == "encoding_detected":
        return t._("The file is not UTF-8; it was read as {encoding} (detected).").format(encoding=v["encoding"])
    if c == "sep_hint_line":
        return t._("The first line 'sep={separator}' (Excel's hint) set the separator.").format(**v)
    if c == "separator_detected":
        return t._("Columns are separated by '{separator}' (detected).").format(**v)
    if c == "whitespace_separated":
        return t._("Columns are separated by spaces (detected).")
    if c == "header_row_detected":
        return t.ngettext("The column names are on line {row}; {n} line above them (a title) was skipped.",
                          "The column names are on line {row}; {n} lines above them (titles) were skipped.",
                          v["skipped"]).format(row=t.integer(v["row"]), n=t.integer(v["skipped"]))
    if c == "blank_lines_skipped":
        return t.plural(v["count"], "{n} blank line inside the data was skipped.",
                        "{n} blank lines inside the data were skipped.")
    if c == "sheet_chosen":
        return t._("Sheet {sheet} was read (the only sheet with data; sheets: {sheets}).").format(
            sheet=_names([v["sheet"]]), sheets=_names(v["sheets"]))
    if c == "html_table":
        return t._("The file is a web page (HTML) with a table, not a real spreadsheet; table {table} was read.").format(
            table=t.integer(v["table"]))
    if c == "column_case_matched":
        return t._("Column {column} was found as {found} (letter case differs).").format(
            column=_names([v["column"]]), found=_names([v["found"]]))
    if c == "decimal_comma":
        return t._("Column {column}: amounts use a decimal comma (decided from the column).").format(
            column=_names([col]))
    if c == "thousands_separator":
        return t._("Column {column}: '{separator}' groups thousands (1{separator}250{separator}000 = 1 250 000).").format(
            column=_names([col]), separator=v["separator"])
    if c == "currency_from_marks":
        return t._("The source does not state its currency; the amounts' marks say {currency}. Set currency: "
                   "{currency} in the source settings to confirm.").format(currency=v["currency"])
    if c == "currency_marks":
        return t._("Column {column}: currency marks ({marks}) were removed from the amounts.").format(
            column=_names([col]), marks=", ".join(v["marks"]))
    if c == "currency_converted":
        rows = "; ".join(f"{k}: {t.integer(n)}" for k, n in v["rows"].items())
        rates = "; ".join(f"1 {k} = {t.number(x, 4)} {v['currency']}" for k, x in v["rates"].items())
        return t._("Amounts in other currencies were converted to {currency} at fixed rates ({rates}); rows "
                   "converted: {rows}.").format(currency=v["currency"], rates=rates, rows=rows)
    if c == "amount_rounded":
        return t.plural(v["count"], "Column {column}: {n} amount had more decimals than {currency} allows and was "
                        "rounded to {digits} decimals.",
                        "Column {column}: {n} amounts had more decimals than {currency} allows and were rounded "
                        "to {digits} decimals.", column=_names([col]), currency=v["currency"] or "–",
                        digits=t.integer(v["digits"]))
    if c == "date_formats":
        return t._("Column {column} mixes date layouts ({formats}); each was read with its own fixed pattern.").format(
            column=_names([col]), formats=", ".join(v["formats"]))
    if c == "date_order":
        order = t._("day/month/year") if v["order"] == "day_first" else t._("month/day/year")
        how = {"values": t._("dates with a part above 12 in the same column show it"),
               "option": t._("as set in dates.order"),
               "convention": t._("dotted dates are day-first by convention; set dates.order to change it")}
        return t._("Column {column}: dates such as 03/04/2024 were read as {order} ({how}).").format(
            column=_names([col]), order=order, how=how.get(v["evidence"], v["evidence"]))
    if c == "date_order_mixed":
        return t.plural(v["ambiguous"], "Column {column} holds both day/month and month/day dates; {n} date that "
                        "could be either was set aside.", "Column {column} holds both day/month and month/day dates; "
                        "{n} dates that could be either were set aside.", column=_names([col]))
    if c == "twelve_hour_clock":
        return t._("Column {column}: times with AM/PM were read on the 12-hour clock.").format(column=_names([col]))
    if c == "timezone_dropped":
        return t.plural(v["count"], "Column {column}: {n} timestamp carries a time zone; the local date and time "
                        "as written were kept.", "Column {column}: {n} timestamps carry a time zone; the local date "
                        "and time as written were kept.", column=_names([col]))
    if c == "excel_serial_dates":
        return t.plural(v["count"], "Column {column}: {n} Excel serial day number was converted to a date.",
                        "Column {column}: {n} Excel serial day numbers were converted to dates.",
                        column=_names([col]))
    if c == "month_names":
        return t._("Column {column}: dates with month names (such as 25 November 2024) were read.").format(
            column=_names([col]))
    if c == "ids_cleaned":
        return t.plural(v["count"], "Column {column}: {n} customer id contained invisible characters or repeated "
                        "spaces; they were removed so one customer stays one.",
                        "Column {column}: {n} customer ids contained invisible characters or repeated spaces; they "
                        "were removed so one customer stays one.", column=_names([col]))
    if c == "ids_float_suffix":
        return t.plural(v["count"], "Column {column}: {n} customer id was written as a number with '.0' (a "
                        "spreadsheet habit); the '.0' was removed.", "Column {column}: {n} customer ids were written "
                        "as numbers with '.0' (a spreadsheet habit); the '.0' was removed.", column=_names([col]))
    if c == "ids_numeric_source":
        return t._("Column {column}: customer ids are stored as numbers in the source; leading zeros, if there "
                   "were any, are lost there.").format(column=_names([col]))
    if c == "ids_scientific":
        return t.plural(v["count"], "Column {column}: {n} customer id was saved by Excel in scientific notation "
                        "(such as 7,70117E+11) and has lost digits; the row was set aside. Export the column as text.",
                        "Column {column}: {n} customer ids were saved by Excel in scientific notation (such as "
                        "7,70117E+11) and have lost digits; these rows were set aside. Export the column as text.",
                        column=_names([col]))
    if c == "ids_email":
        return t.plural(v["count"], "Column {column}: {n} e-mail address was written with capital letters; "
                        "addresses are compared in lower case.", "Column {column}: {n} e-mail addresses were "
                        "written with capital letters; addresses are compared in lower case.", column=_names([col]))
    if c == "ids_phone":
        return t.plural(v["count"], "Column {column}: {n} phone number was rewritten in the international format "
                        "(E.164, default region {region}).", "Column {column}: {n} phone numbers were rewritten in "
                        "the international format (E.164, default region {region}).", column=_names([col]),
                        region=v["region"] or "–")
    if c == "totals_rows":
        return t.plural(v["count"], "{n} total line (such as Итого / Total) was set aside: it is not a purchase.",
                        "{n} total lines (such as Итого / Total) were set aside: they are not purchases.")
    if c == "statuses":
        return t._("Column {column}: statuses counted as purchases: {counted}. Set aside: {excluded}.").format(
            column=_names([col]), counted=_counts(v["counted"], t), excluded=_counts(v["excluded"], t))
    if c == "order_total_repeated":
        return t.plural(v["orders"], "The amount is the order total repeated on every item row; it was counted once "
                        "per order ({n} order, {rows} repeated rows set aside).", "The amount is the order total "
                        "repeated on every item row; it was counted once per order ({n} orders, {rows} repeated "
                        "rows set aside).", rows=t.integer(v["rows"]))
    if c == "order_continuation":
        return t.plural(v["orders"], "The order total stands on one row of each order; {rows} further item rows of "
                        "{n} order were recognised as parts of it.", "The order total stands on one row of each "
                        "order; {rows} further item rows of {n} orders were recognised as parts of them.",
                        rows=t.integer(v["rows"]))
    if c == "refunds_netted":
        return t.plural(v["rows"], "{n} refund ({amount}) was subtracted from the order it belongs to.",
                        "{n} refunds ({amount} in total) were subtracted from the orders they belong to.",
                        amount=t.money(v["amount"]))
    if c == "orders_fully_refunded":
        return t.plural(v["orders"], "{n} order ({amount}) was refunded completely and is not counted as a "
                        "purchase.", "{n} orders ({amount}) were refunded completely and are not counted as "
                        "purchases.", amount=t.money(v["amount"]))
    if c == "unlinked_returns":
        return t.plural(v["rows"], "{n} negative amount (a return, {amount}) could not be linked to an order and "
                        "was set aside; the sale it returns, if it is in the data, counts at full value.",
                        "{n} negative amounts (returns, {amount} in total) could not be linked to an order and were "
                        "set aside; the sales they return, if they are in the data, count at full value.",
                        amount=t.money(v["amount"]))
    if c == "returns_kept":
        return t.plural(v["rows"], "{n} negative amount ({amount}) was kept as it is (returns.policy: keep).",
                        "{n} negative amounts ({amount} in total) were kept as they are (returns.policy: keep).",
                        amount=t.money(v["amount"]))
    if c == "outliers":
        return t.plural(v["count"], "{n} amount exceeds {factor} times the typical purchase ({median}); the largest "
                        "is {largest} on line {row}. It is kept; please check it.", "{n} amounts exceed {factor} "
                        "times the typical purchase ({median}); the largest is {largest} on line {row}. They are "
                        "kept; please check them.", factor=t.integer(v["factor"]), median=t.money(v["median"]),
                        largest=t.money(v["largest"]), row=str(v["row"]))
    if c == "channel_empty":
        return t._("Column {column} (channel) is empty in every row and was ignored.").format(column=_names([col]))
    if c == "quantity_not_numbers":
        return t.plural(v["count"], "Column {column} (quantity): {n} value is not a number and was left empty "
                        "(the row is kept).", "Column {column} (quantity): {n} values are not numbers and were "
                        "left empty (the rows are kept).", column=_names([col]))
    if c == "stale_data":
        return freshness_sentence(v["last_date"], v["analysis_date"], v["days"], t)
    return c + (": " + ", ".join(f"{k}={x}" for k, x in v.items()) if v else "")


def freshness_sentence(last: dt.date, as_of: dt.date, days: int, t: Translator) -> str:
    return t.plural(days, "The data end on {last}, {n} day before the analysis date {as_of}: customers look less "
                    "active than they are. Check that the export is complete or choose an earlier analysis date.",
                    "The data end on {last}, {n} days before the analysis date {as_of}: customers look less active "
                    "than they are. Check that the export is complete or choose an earlier analysis date.",
                    last=t.date(last), as_of=t.date(as_of))


def freshness_text(result: LoadResult, t: Translator) -> str | None:
    """The stale-data warning (None when the data reach close enough to the analysis date)."""
    f = result.freshness
    if f is None or not f.stale:
        return None
    return freshness_sentence(f.last_date, f.analysis_date, f.days_without_data, t)


def remarks_view(result: LoadResult, t: Translator) -> list[tuple[str, str, str]]:
    """``(severity, severity word, sentence)`` for every remark, the most severe first."""
    order = {"high": 0, "warning": 1, "info": 2}
    rs = sorted(result.remarks, key=lambda r: order[r.severity])
    return [(r.severity, t._(_SEVERITY[r.severity]), remark_text(r, t)) for r in rs]


def explain_quarantine(t: Translator) -> Callable[[pd.DataFrame], pd.Series]:
    """For :meth:`LoadResult.write_quarantine`: an explanation column in ``t``'s language."""
    def explain(q: pd.DataFrame) -> pd.Series:
        return pd.Series([detail_label(r, d if isinstance(d, str) else None, v if isinstance(v, str) else None, t)
                          for r, d, v in zip(q["reason"], q["reason_detail"], q["reason_value"])], index=q.index)
    return explain


def record_summary(result: LoadResult, t: Translator, run_dir: str | os.PathLike | None) -> None:
    """The load's figures for ``summary.json``: headline counts, the full accounting, the
    freshness of the data and (section ``warnings``) the stale-data warning and every remark
    of high severity."""
    from .. import summary

    later = int(result.reason_counts().get("after_analysis_date", 0))
    # row accounting for machines (the loading page shows it, the month page does not)
    summary.record("rows_in", result.rows_in, t._("Rows read"), section="accounting", run_dir=run_dir, fmt="int")
    summary.record("rows_kept", result.rows_kept, t._("Rows kept for analysis"), section="accounting",
                   run_dir=run_dir, fmt="int")
    summary.record("rows_invalid", result.rows_quarantined - later, t._("Rows rejected as invalid (quarantine)"),
                   section="accounting", run_dir=run_dir, fmt="int")
    # full accounting for machines: rows in = kept + quarantined; quarantined = invalid + after the date
    summary.record("rows_quarantined", result.rows_quarantined, t._("Rows set aside"), section="accounting",
                   run_dir=run_dir)
    summary.record("rows_after_analysis_date", later, t._("Rows after the analysis date"), section="accounting",
                   run_dir=run_dir)
    if result.freshness is not None:
        summary.record("data", {**result.freshness.as_dict(), "currency": result.currency},
                       t._("Data coverage"), section="freshness", run_dir=run_dir)
    text = freshness_text(result, t)
    if text:
        summary.record("stale_data", {"severity": "high", "text": text, **result.freshness.as_dict()},
                       t._("Data end long before the analysis date"), section="warnings", run_dir=run_dir)
    for i, r in enumerate(x for x in result.remarks if x.severity == "high" and x.code != "stale_data"):
        summary.record(f"load_{r.code}", {"severity": r.severity, "text": remark_text(r, t)},
                       t._("Data warning"), section="warnings", run_dir=run_dir)


def freshness_html(result: LoadResult, t: Translator) -> str | None:
    """The stale-data warning as a prominent box (HTML, text escaped), or None."""
    from ...display import esc

    text = freshness_text(result, t)
    if not text:
        return None
    title = t._("Stale data")
    return ("<div class='rfm-warning' role='alert' style='border-left:5px solid #c0392b;background:#fdecea;"
            f"padding:10px 14px;margin:10px 0'><b>⚠ {esc(title)}:</b> {esc(text)}</div>")
