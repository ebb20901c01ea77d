"""Words of the migration page (notebook 05): sentences, captions, tables, summary labels.

:func:`rfm_helpers.tracking.month_findings` says what happened as codes with values;
:func:`month_sentences` turns them into ``(template, values)`` pairs for
:func:`rfm_helpers.report.display.say`. Segments are codes in the analysis and are named here
through ``labels`` (code -> label in the report's language, from the snapshots), months
with Babel (``June 1998`` / ``июнь 1998``).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ...tracking import GONE, NEW
from ..i18n import N_, Translator
from .common import Column, frame, list_text, sentence

__all__ = ["segment_labels", "caption", "tracking_sentence", "month_sentences", "kind_name", "transition_view",
           "segments_end_view", "value_order_view", "movements_view", "flows_view", "summary_labels"]

Sentence = tuple[str, dict[str, str]]

_SPECIAL = {NEW: N_("(new)"), GONE: N_("(gone)")}
_KINDS = {"churn": N_("churn"), "at risk": N_("at risk")}
_CAPTIONS = {
    "params": N_("Parameters of this run"),
    "transition": N_("Customers moving from {prev} (rows) to {curr} (columns)"),
    "segments_end": N_("Segments at the end of the month: {month}"),
    "value_order": N_("Segments from most to least valuable"),
    "movements": N_("Movements per month"),
    "flows": N_("Largest flows from high-value segments into risk or churn"),
}


def segment_labels(t: Translator, labels: Mapping[str, str]) -> dict[str, str]:
    """Segment code -> name: the snapshots' labels plus the rows for new and gone customers."""
    return {**dict(labels), **{code: t._(msg) for code, msg in _SPECIAL.items()}}


def _name(labels: Mapping[str, str], code: Any) -> str:
    return str(labels.get(code, code))


def caption(t: Translator, key: str, **months: str) -> str:
    """A caption (``key`` as in ``_CAPTIONS``); ``months``: ``YYYY-MM`` values said as month names."""
    return t._(_CAPTIONS[key]).format(**{k: t.month(v) for k, v in months.items()})


def kind_name(t: Translator, kind: str) -> str:
    return t._(_KINDS[kind]) if kind in _KINDS else kind


def tracking_sentence(t: Translator, months: Sequence[str], status: Mapping[str, str]) -> Sentence:
    """Which months are tracked and where their snapshots came from (``status``: from
    :attr:`rfm_helpers.tracking.MonthlyTracking.status`)."""
    count = {k: sum(status.get(m) == k for m in months) for k in ("this run", "stored", "computed")}
    return (t._("Tracking period: <b>{months}</b> ({first} to {last}). Snapshots reused from earlier runs: {stored}; "
                "computed now: {computed}; written for this run: {written}."),
            {"months": t.plural(len(months), "{n} month", "{n} months"), "first": t.month(min(months)),
             "last": t.month(max(months)), "stored": t.integer(count["stored"]),
             "computed": t.integer(count["computed"]), "written": t.integer(count["this run"])})


def month_sentences(t: Translator, found: Iterable[tuple[str, Mapping[str, Any]]],
                    labels: Mapping[str, str]) -> list[Sentence]:
    """The findings of :func:`rfm_helpers.tracking.month_findings` as sentences."""
    out: list[Sentence] = []
    for code, v in found:
        if code == "one_month":
            out.append((t._("Only one month is available, so there are no movements to show yet."), {}))
        elif code == "moves":
            out.append(sentence(t._("<b>{prev} → {curr}</b>: <b>{up}</b> moved to a more valuable segment, <b>{down}</b> "
                                    "to a less valuable one; <b>{same}</b> stayed in their segment; <b>{new}</b>."),
                        {"prev": t.month(v["prev"]), "curr": t.month(v["curr"]),
                         "up": t.plural(v["up"], "{n} customer", "{n} customers"),
                         "down": t.plural(v["down"], "{n} customer", "{n} customers"),
                         "same": t.plural(v["same"], "{n} customer", "{n} customers"),
                         "new": t.plural(v["new"], "{n} new customer", "{n} new customers")}))
        elif code == "cooling":
            out.append((t._("More customers slipped down than moved up: the base is cooling."), {}))
        elif code == "warming":
            out.append((t._("More customers moved up than slipped down: the base is warming up."), {}))
        elif code == "churn":
            out.append((t._("Fell into a churn segment ({segments}) this month: <b>{entered}</b>; came back from one: "
                            "<b>{returned}</b>."),
                        {"segments": list_text(t, [f"\u00ab{_name(labels, s)}\u00bb" for s in v["segments"]]),
                         "entered": t.plural(v["entered"], "{n} customer", "{n} customers"),
                         "returned": t.plural(v["returned"], "{n} customer", "{n} customers")}))
        elif code == "flow":
            out.append((t.ngettext(
                "<b>{n} customer</b> moved from \u00ab<b>{src}</b>\u00bb to \u00ab<b>{dst}</b>\u00bb ({kind}); they had "
                "spent <b>{value}</b> so far. This is worth a win-back or retention action.",
                "<b>{n} customers</b> moved from \u00ab<b>{src}</b>\u00bb to \u00ab<b>{dst}</b>\u00bb ({kind}); they "
                "had spent <b>{value}</b> so far. This is worth a win-back or retention action.", v["customers"]),
                {"n": t.integer(v["customers"]), "src": _name(labels, v["from"]), "dst": _name(labels, v["to"]),
                 "kind": kind_name(t, v["kind"]), "value": t.money(v["value"])}))
        elif code == "no_flow":
            out.append((t._("No customers moved from high-value segments into at-risk or churn segments this "
                            "month."), {}))
        else:
            raise ValueError(f"no sentence for the tracking finding {code!r}")
    return out


def transition_view(t: Translator, counts: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """The transition matrix (:func:`rfm_helpers.tracking.transition_matrix` counts) as text."""
    shown = pd.DataFrame({t._("Segment last month"): [_name(labels, s) for s in counts.index]})
    for col in counts.columns:
        shown[_name(labels, col)] = [t.integer(v) if v else "" for v in counts[col]]
    return shown


_END_COLUMNS: list[Column] = [
    ("label", N_("Segment"), "text"), ("customers", N_("Customers"), "int"), ("share", N_("Share"), "pct"),
    ("month_spend", N_("Revenue in the month"), "money"), ("monetary", N_("Spend over the whole history"), "money"),
]


def segments_end_view(t: Translator, latest: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """One month of :func:`rfm_helpers.tracking.segment_history` as text."""
    return frame(t, latest.assign(label=[_name(labels, s) for s in latest["segment"]]), _END_COLUMNS)


_ORDER_COLUMNS: list[Column] = [
    ("rank", N_("Rank"), "int"), ("label", N_("Segment"), "text"), ("mean_rfm_score", N_("Average RFM score"), "num2"),
]


def value_order_view(t: Translator, order_table: pd.DataFrame) -> pd.DataFrame:
    """:func:`rfm_helpers.tracking.value_order_table` as text (the segment code left out)."""
    return frame(t, order_table, _ORDER_COLUMNS)


_MOVE_COLUMNS: list[Column] = [
    ("month", N_("Month"), "text"), ("up", N_("Moved up"), "int"), ("down", N_("Moved down"), "int"),
    ("same", N_("Stayed"), "int"), ("new", N_("New"), "int"), ("entered_churn", N_("Entered churn"), "int"),
    ("returned", N_("Returned from churn"), "int"), ("in_churn", N_("In churn at month end"), "int"),
]


def movements_view(t: Translator, moves: pd.DataFrame) -> pd.DataFrame:
    """:func:`rfm_helpers.tracking.movement_history` (merged with
    :func:`~rfm_helpers.tracking.churn_flows`) as text, months by name."""
    return frame(t, moves.assign(month=[t.month(m) for m in moves["month"]]), _MOVE_COLUMNS)


_FLOW_COLUMNS: list[Column] = [
    ("from", N_("From"), "text"), ("to", N_("To"), "text"), ("customers", N_("Customers"), "int"),
    ("value_at_stake", N_("Spend so far"), "money"), ("kind", N_("Kind"), "text"),
]


def flows_view(t: Translator, flows: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """:func:`rfm_helpers.tracking.key_flows` as text."""
    named = flows.assign(**{"from": [_name(labels, s) for s in flows["from"]],
                            "to": [_name(labels, s) for s in flows["to"]],
                            "kind": [kind_name(t, k) for k in flows["kind"]]})
    return frame(t, named, _FLOW_COLUMNS)


def summary_labels(t: Translator) -> dict[str, str]:
    """Labels of the figures notebook 05 records for the month page (keys of
    :func:`rfm_helpers.tracking.headline`)."""
    return {"moved_up": t._("Customers who moved to a more valuable segment"),
            "moved_down": t._("Customers who moved to a less valuable segment"),
            "entered_churn": t._("Customers who fell into a churn segment"),
            "top_flow_customers": t._("Customers in the largest high-value to risk/churn flow"),
            "top_flow_value_at_stake": t._("Past spend of that flow")}
