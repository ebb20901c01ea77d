"""Words of the executive summary at the top of a month page.

:func:`view` turns the numbers of :func:`rfm_helpers.report.executive.build` into what the
template shows: labels, formatted values, changes, sentences, the segment chart and the
actions, all in the run's language and currency (:class:`~rfm_helpers.report.i18n.Translator`).
Segment names and strategies come from the segment map in the report's language.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from babel.dates import format_interval

from ..executive import Action, Delta, Executive, Kpi
from ..i18n import N_, Translator

__all__ = ["view", "period_text", "change_text", "kpi_label", "index_figures", "warning_text"]

_LABELS = {
    "customers": N_("Customers"),
    "active_customers": N_("Active customers"),
    "revenue": N_("Revenue, {period}"),
    "average_order_value": N_("Average order value, {period}"),
}
_SHORT_LABELS = {"revenue": N_("Revenue in the month"), "average_order_value": N_("Average order value")}
_COMPARISON = {
    "previous": N_("{change} vs the previous month ({period})"),
    "year_ago": N_("{change} vs the same month a year earlier ({period})"),
}
_NO_COMPARISON = {
    "previous": N_("vs the previous month ({period}): no comparison"),
    "year_ago": N_("vs the same month a year earlier ({period}): no comparison"),
}
_ACTION_TITLES = {"win_back": N_("Win back: {segment}"), "grow": N_("Grow: {segment}"),
                  "reward": N_("Reward: {segment}")}


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def period_text(t: Translator, month: str, start: Any, end: Any, full_month: bool) -> str:
    """``June 1998`` for a whole month, ``Jun 1 – 15, 2026`` for part of one."""
    if full_month:
        return t.month(month)
    return format_interval(_date(start), _date(end), "yMMMd", locale=t.locale)


def _amount(t: Translator, fmt: str, x: float | None, *, signed: bool = False) -> str:
    if x is None:
        return "–"
    if fmt == "money":
        return t.money(x, signed=signed)
    return t.number(x, 0, signed=signed) if signed else t.integer(x)


def change_text(t: Translator, fmt: str, d: Delta) -> str:
    """``+7.2% (+$5,120)``; the absolute change alone when the base is 0."""
    absolute = _amount(t, fmt, d.absolute, signed=True)
    if d.relative is None:
        return absolute
    return f"{t.percent(d.relative, 1, signed=True)} ({absolute})"


def _direction(d: Delta) -> str:
    if not d.available or d.absolute is None:
        return "none"
    return "up" if d.absolute > 0 else "down" if d.absolute < 0 else "flat"


def kpi_label(t: Translator, key: str, period: str = "", short: bool = False) -> str:
    if short and key in _SHORT_LABELS:
        return t._(_SHORT_LABELS[key])
    return t._(_LABELS[key]).format(period=period)


def _definition(t: Translator, kpi: Kpi, ex: Executive, period: str) -> str:
    cur = ex.periods["current"]
    end = t.date(cur["end"])
    if kpi.key == "customers":
        return t._("bought at least once up to {date}").format(date=end)
    if kpi.key == "active_customers":
        days = t.plural(ex.active_days, "{n} day", "{n} days")
        return t._("bought in the {days} up to {date}").format(days=days, date=end)
    if kpi.key == "revenue":
        return t.plural(cur["orders"], "{n} order", "{n} orders")
    return t._("revenue divided by the number of orders")


def _why_no_comparison(t: Translator, ex: Executive, d: Delta) -> str:
    """Why a comparison is missing, when the freshness line (which gives the first date of
    the data) does not already say it."""
    if d.reason == "no_orders":
        return t._("no orders in that period")
    if d.reason == "active_window":
        return t._("the data start too late to count that month's active customers")
    return ""


def _kpi_view(t: Translator, kpi: Kpi, ex: Executive, period: str) -> dict[str, Any]:
    deltas = []
    for d in kpi.deltas:
        p = period_text(t, d.month, d.start, d.end, d.full_month)
        if d.available:
            text = t._(_COMPARISON[d.period]).format(change=change_text(t, kpi.fmt, d), period=p)
        else:
            text = t._(_NO_COMPARISON[d.period]).format(period=p)
            why = _why_no_comparison(t, ex, d)
            text = f"{text}: {why}" if why else text
        deltas.append({"text": text, "direction": _direction(d), "available": d.available})
    notes = []
    if "active_window_not_covered" in kpi.notes and ex.data_first_date:
        notes.append(t._("The data start on {date}: fewer than {days} of history, so this count may be low.").format(
            date=t.date(ex.data_first_date), days=t.plural(ex.active_days, "{n} day", "{n} days")))
    return {"key": kpi.key, "label": kpi_label(t, kpi.key, period), "value": _amount(t, kpi.fmt, kpi.value),
            "definition": _definition(t, kpi, ex, period), "deltas": deltas, "notes": notes}


def warning_text(t: Translator, w: Mapping[str, Any]) -> str:
    """One warning (a code with values, or a sentence a notebook recorded) in words."""
    code = w.get("code")
    if code == "no_data":
        return t._("There are no transactions up to the analysis date: every figure below is zero.")
    if code == "no_data_in_month":
        return t._("The data end on {date}, before {month} begins: this month's figures are zero because there "
                   "are no data, not because nobody bought. Check that the data export is complete.").format(
            date=t.date(w["last"]), month=t.month(w["month"]))
    if code == "rows_set_aside":
        return t._("{rows} of the source ({share}) were set aside as invalid and are not in these figures; see "
                   "the loading report.").format(rows=t.plural(w["rows"], "{n} row", "{n} rows"),
                                                  share=t.percent(w["share"], 1))
    text = str(w.get("text") or w.get("remark") or "")
    value = w.get("value")
    if value is not None and text:
        from ..templating import format_value

        text = f"{text}: {format_value(value, w.get('fmt'), t)}"
    return text


def _segments_view(t: Translator, ex: Executive, words: Mapping[str, Mapping[str, str]],
                   period: str) -> dict[str, Any] | None:
    seg = ex.segments
    if not seg:
        return None
    from ..charts.executive import plot_segments

    labels = words["labels"]
    prev_month = seg.get("previous_month")
    prev = t.month(prev_month) if prev_month else ""
    rows = []
    for r in seg["segments"]:
        row = {"label": labels.get(r["segment"], r["segment"]), "cells": [t.integer(r["customers"])]}
        before = r.get("previous_customers") is not None
        if before:
            row["cells"].append(t.number(r["customers"] - r["previous_customers"], 0, signed=True))
        row["cells"].append(t.money(r["spend_to_date"], cents=False))
        if before and r.get("previous_spend_to_date") is not None:
            row["cells"].append(t.money(r["spend_to_date"] - r["previous_spend_to_date"], cents=False, signed=True))
        elif before:
            row["cells"].append("–")
        row["cells"].append(t.money(r["revenue"], cents=False))
        rows.append(row)
    spend, month_revenue = t._("Total spend of the segment's customers"), t._("Revenue, {period}").format(period=period)
    change = t._("Change")
    headers = ([t._("Segment"), t._("Customers"), change, spend, change, month_revenue] if prev
               else [t._("Segment"), t._("Customers"), spend, month_revenue])
    image = plot_segments(seg["segments"], labels, words["groups"], t, previous=prev, group_labels=words["group_labels"])
    alt = (t._("Chart: customers and total spend of each segment at the end of {month}, against {previous}").format(
        month=period, previous=prev) if prev else
        t._("Chart: customers and total spend of each segment at the end of {month}").format(month=period))
    return {"title": t._("Segments: customers and revenue"), "image": image, "alt": alt,
            "note": "" if prev else t._("No comparison: there is no earlier month in the data."),
            "headers": headers, "rows": rows, "table_title": t._("The chart as a table, with this month's revenue")}


def _risk_view(t: Translator, ex: Executive) -> list[dict[str, str]]:
    out = []
    seg = ex.segments
    if seg is not None:
        moved = ex.moved_to_risk
        if moved is None:
            out.append({"value": "–", "label": t._("Customers who moved from valuable segments into at-risk or churn "
                                                   "segments this month"),
                        "note": t._("No comparison: there is no earlier month in the data.")})
        else:
            out.append({"value": t.money(moved["spend_to_date"]),
                        "label": t._("Spend to date of the {customers} who moved this month from valuable segments "
                                     "into at-risk or churn segments").format(
                            customers=t.plural(moved["customers"], "{n} customer", "{n} customers")),
                        "note": t._("What these customers have spent with you so far (segment migration report).")})
    if ex.value_at_risk is not None:
        out.append({"value": t.money(ex.value_at_risk),
                    "label": t._("Value at risk, next 12 months (model estimate)"),
                    "note": t._("Revenue the customer value model expects to miss in the next 12 months from customers "
                                "who have probably already left; a different measure from the one above (customer "
                                "value report).")})
    return out


def _action_view(t: Translator, a: Action, labels: Mapping[str, str], strategies: Mapping[str, str]) -> dict[str, Any]:
    label = labels.get(a.segment, a.segment)
    v = a.values
    if a.reason == "moved_in":
        why = t._("{customers} moved into this segment from valuable segments this month, with {spend} spent so far.").format(
            customers=t.plural(v["customers"], "{n} customer", "{n} customers"), spend=t.money(v["spend_to_date"]))
    elif a.reason == "value_at_stake":
        why = t._("Of the lapsing segments worth a call, this one has the most at stake: {spend} spent so far.").format(
            spend=t.money(v["spend_to_date"]))
    elif a.reason == "largest_active":
        why = t._("The largest active segment after the most valuable one.")
    else:
        why = t._("The most valuable active segment: {revenue} of revenue this month.").format(
            revenue=t.money(v.get("revenue", 0.0)))
    return {"title": t._(_ACTION_TITLES[a.kind]).format(segment=label),
            "size": t.plural(a.customers, "{n} customer", "{n} customers"),
            "strategy": strategies.get(a.segment, ""), "why": why,
            "files": [{"name": f, "href": href} for f, href in a.files]}


def _segment_words(ex: Executive, t: Translator) -> dict[str, dict[str, str]]:
    """Labels, group keys, group labels and strategies of the run's segment map in the report's
    language (English texts where the map has no such language)."""
    from ...segments import load_segment_maps, map_info

    out: dict[str, dict[str, str]] = {"labels": {}, "groups": {}, "group_labels": {}, "strategies": {}}
    if not ex.segments:
        return out
    try:
        maps = load_segment_maps()
        lang = t.language if t.language in maps["languages"] else "en"
        info = map_info(ex.segments.get("map") or "classic", lang, maps)
    except (KeyError, ValueError, FileNotFoundError):
        return out
    out["labels"] = dict(zip(info["segment"], info["label"]))
    out["groups"] = dict(zip(info["segment"], info["group_key"]))
    out["group_labels"] = dict(zip(info["group_key"], info["group"]))
    out["strategies"] = dict(zip(info["segment"], info["strategy"]))
    return out


def view(ex: Executive, t: Translator, month_title: str) -> dict[str, Any]:
    """Everything the month page's summary shows, as text (and one chart as a data URI)."""
    cur = ex.periods["current"]
    period = period_text(t, cur["month"], cur["start"], cur["end"], cur["full_month"])
    words = _segment_words(ex, t)
    last = ex.data_last_date
    if last:
        gap = (_date(ex.as_of) - _date(last)).days
        fresh = t._("Data from {first} to {last} (first and last transaction)").format(
            first=t.date(ex.data_first_date), last=t.date(last))
        if gap > 0:
            fresh += " · " + t._("{days} before the analysis date").format(days=t.plural(gap, "{n} day", "{n} days"))
    else:
        fresh = t._("No transactions up to the analysis date")
    notes = []
    if ex.partial_month:
        notes.append(t._("The analysis date falls inside the month: the figures cover {period} and are compared with "
                         "the same days of earlier months.").format(period=period))
    if ex.campaign_demo:
        notes.append(t._("The campaign report analyses a simulated demonstration campaign because no campaign file "
                         "was given: its figures are not results of this month."))
    actions = [_action_view(t, a, words["labels"], words["strategies"]) for a in ex.actions]
    return {
        "title": t._("{month} at a glance").format(month=month_title),
        "freshness": fresh,
        "analysis_date": t.date(ex.as_of),
        "warnings": [w for w in (warning_text(t, w) for w in ex.warnings) if w],
        "kpis": [_kpi_view(t, k, ex, period) for k in ex.kpis],
        "segments": _segments_view(t, ex, words, period),
        "risk": _risk_view(t, ex),
        "actions_title": (t._("Three actions for this month") if len(actions) == 3
                          else t._("Actions for this month")),
        "actions": actions,
        "no_actions": "" if actions else t._("No recommended actions: the segment figures of this month are missing "
                                             "(the segment migration report records them)."),
        "notes": notes,
    }


def index_figures(ex: Executive, t: Translator) -> list[tuple[str, str]]:
    """The few decision figures the all-runs page shows per run: (label, value with change)."""
    cur = ex.periods["current"]
    period = period_text(t, cur["month"], cur["start"], cur["end"], cur["full_month"])
    out = []
    for kpi in ex.kpis:
        if kpi.key == "average_order_value":
            continue
        value = _amount(t, kpi.fmt, kpi.value)
        prev = next((d for d in kpi.deltas if d.period == "previous"), None)
        if prev is not None and prev.available and prev.relative is not None:
            value = t._("{value} ({change} vs the previous month)").format(
                value=value, change=t.percent(prev.relative, 1, signed=True))
        out.append((kpi_label(t, kpi.key, period, short=True), value))
    if ex.moved_to_risk is not None:
        out.append((t._("Moved into at-risk or churn segments"),
                    t._("{customers}, {spend} spent so far").format(
                        customers=t.plural(ex.moved_to_risk["customers"], "{n} customer", "{n} customers"),
                        spend=t.money(ex.moved_to_risk["spend_to_date"]))))
    return out
