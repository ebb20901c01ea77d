"""Words of the RFM page (notebook 02): sentences, captions, table headers, summary labels.

Numbers come from :mod:`rfm_helpers.insights` and :mod:`rfm_helpers.segments`; sentences are
returned as ``(template, values)`` pairs for :func:`rfm_helpers.report.display.say` (the
template is ours and may hold ``<b>``; the values are escaped there), tables as frames of
formatted text with translated headers (show them with ``pretty_headers=False``).
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

import pandas as pd

from ..i18n import N_, Translator
from .common import Column, frame, list_text

__all__ = ["caption", "base_sentences", "largest_segment_sentence", "single_channel_sentence",
           "score_table_view", "segments_view", "channels_view", "summary_labels"]

_CAPTIONS = {
    "params": N_("Parameters of this run"),
    "score_bands": N_("Score bands"),
    "segments": N_("Segments: size, revenue and what to do"),
    "channels": N_("Channels"),
}

Sentence = tuple[str, dict[str, str]]


def caption(t: Translator, key: str) -> str:
    """A table caption of the page (``key`` as in ``_CAPTIONS``)."""
    return t._(_CAPTIONS[key])


def base_sentences(t: Translator, h, as_of: dt.date | str, unused_f_scores: Sequence[int],
                   n: int = 5) -> list[Sentence]:
    """The customer base in a few sentences (``h``: :class:`rfm_helpers.insights.RfmHeadline`;
    ``unused_f_scores``: :func:`rfm_helpers.insights.unused_scores` of ``f_score``)."""
    if not h.customers:
        return [(t._("There are no customers with a purchase up to {as_of}."), {"as_of": t.date(as_of)})]
    out = [
        (t._("As of <b>{as_of}</b> the base has <b>{customers}</b> who placed <b>{orders}</b> worth "
             "<b>{revenue}</b>. Half of them last bought <b>{median_recency}</b>; <b>{active}</b> bought in the last "
             "90 days."),
         {"as_of": t.date(as_of), "customers": t.plural(h.customers, "{n} customer", "{n} customers"),
          "orders": t.plural(h.orders, "{n} order", "{n} orders"), "revenue": t.money(h.revenue),
          "median_recency": t.plural(h.median_recency_days, "more than {n} day ago", "more than {n} days ago"),
          "active": t.percent(h.active_90d_share)}),
    ]
    if h.top20_revenue_share == h.top20_revenue_share:
        out.append((t._("The top 20% of customers bring <b>{top20}</b> of revenue, so keeping the best customers "
                        "matters more than the average figures suggest."),
                    {"top20": t.percent(h.top20_revenue_share)}))
    if unused_f_scores:
        out.append((t.ngettext(
            "<b>{one_order}</b> of customers ordered only once. They all share frequency score 1: customers with "
            "equal values always get equal scores, so frequency score {scores} is not used this month. This is "
            "expected with real purchase data, not an error.",
            "<b>{one_order}</b> of customers ordered only once. They all share frequency score 1: customers with "
            "equal values always get equal scores, so frequency scores {scores} are not used this month. This is "
            "expected with real purchase data, not an error.", len(unused_f_scores)),
            {"one_order": t.percent(h.one_order_share), "scores": list_text(t, unused_f_scores)}))
    else:
        out.append((t._("Every frequency score from 1 to {n} is used."), {"n": t.integer(n)}))
    return out


def largest_segment_sentence(t: Translator, seg_table: pd.DataFrame) -> Sentence:
    """Which segment is the largest and which brings the most revenue
    (``seg_table``: :func:`rfm_helpers.segments.segment_summary`)."""
    biggest = seg_table.sort_values("customers", ascending=False).iloc[0]
    richest = seg_table.sort_values("revenue", ascending=False).iloc[0]
    return (t._("The largest segment is <b>{a}</b> ({a_share} of customers); the segment bringing the most revenue "
                "is <b>{b}</b> ({b_share} of revenue)."),
            {"a": str(biggest["label"]), "a_share": t.percent(biggest["customer_share"]),
             "b": str(richest["label"]), "b_share": t.percent(richest["revenue_share"])})


def single_channel_sentence(t: Translator) -> Sentence:
    return (t._("This data set has a single sales channel, so there is no channel breakdown."), {})


_SCORE_COLUMNS: list[Column] = [
    ("dimension", N_("Dimension"), "text"), ("score", N_("Score"), "int"), ("customers", N_("Customers"), "int"),
]


def score_table_view(t: Translator, scores: pd.DataFrame) -> pd.DataFrame:
    """:func:`rfm_helpers.insights.score_table` as text: the value range of each score in its
    own unit (days for R, orders for F, money with cents for M, so that the edges of two
    neighbouring bands never look equal)."""
    shown = frame(t, scores, _SCORE_COLUMNS)
    for col, header in (("from", N_("From")), ("to", N_("To"))):
        shown[t._(header)] = [
            "" if pd.isna(v) else t.money(float(v), cents=True) if dim == "M" else t.integer(v)
            for dim, v in zip(scores["dimension"], scores[col])]
    return shown


_SEGMENT_COLUMNS: list[Column] = [
    ("label", N_("Segment"), "text"), ("customers", N_("Customers"), "int"),
    ("customer_share", N_("Share of customers"), "pct"), ("revenue", N_("Revenue"), "money"),
    ("revenue_share", N_("Share of revenue"), "pct"), ("mean_recency_days", N_("Average days since last order"), "int"),
    ("mean_frequency", N_("Average orders"), "num1"), ("mean_monetary", N_("Average spend"), "money"),
    ("strategy", N_("What to do"), "text"),
]


def segments_view(t: Translator, seg_table: pd.DataFrame) -> pd.DataFrame:
    """:func:`rfm_helpers.segments.segment_summary` as text."""
    return frame(t, seg_table, _SEGMENT_COLUMNS)


_CHANNEL_COLUMNS: list[Column] = [
    ("channel", N_("Channel"), "text"), ("customers", N_("Customers"), "int"), ("orders", N_("Orders"), "int"),
    ("revenue", N_("Revenue"), "money"), ("revenue_share", N_("Share of revenue"), "pct"),
    ("median_recency_days", N_("Median days since last order"), "int"),
]


def channels_view(t: Translator, channels: pd.DataFrame) -> pd.DataFrame:
    """:func:`rfm_helpers.insights.channel_table` as text."""
    return frame(t, channels, _CHANNEL_COLUMNS)


def summary_labels(t: Translator) -> dict[str, str]:
    """Labels of the figures notebook 02 records for the month page."""
    return {"customers": t._("Customers"), "revenue": t._("Revenue"),
            "active_90d_share": t._("Bought in the last 90 days"),
            "top20_revenue_share": t._("Revenue share of the top 20% customers"),
            "largest_segment": t._("Largest segment")}
