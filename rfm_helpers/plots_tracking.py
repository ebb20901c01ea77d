"""Plots of segment movements over months (notebook 05). Each function returns a Figure.

Inputs come from :mod:`rfm_helpers.tracking` (transition matrices, segment history,
movement and churn tables). Segment codes are shown through ``labels`` (code -> label in
the report's language) when given.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

_TEXT = {
    "en": {
        "heat_title": "Where last month's customers are now ({prev} \u2192 {curr}); colour = share of the row",
        "from": "Segment last month", "to": "Segment this month",
        "sizes_title": "Customers per segment at each month end",
        "spend_title": "Revenue in the month by segment (segment at month end)",
        "customers": "Customers", "revenue": "Revenue in the month", "month": "Month",
        "moves_title": "Customers moving between segments each month",
        "up": "Moved up (more valuable segment)", "down": "Moved down (less valuable segment)",
        "churn": "Entered a churn segment", "new": "(new)",
    },
    "ru": {
        "heat_title": "Куда перешли клиенты прошлого месяца ({prev} \u2192 {curr}); цвет = доля строки",
        "from": "Сегмент в прошлом месяце", "to": "Сегмент в этом месяце",
        "sizes_title": "Клиентов в сегменте на конец месяца",
        "spend_title": "Выручка за месяц по сегментам (сегмент на конец месяца)",
        "customers": "Клиентов", "revenue": "Выручка за месяц", "month": "Месяц",
        "moves_title": "Переходы клиентов между сегментами по месяцам",
        "up": "Поднялись (более ценный сегмент)", "down": "Опустились (менее ценный сегмент)",
        "churn": "Попали в сегмент оттока", "new": "(новые)",
    },
}


def _t(language: str) -> dict:
    return _TEXT.get(language, _TEXT["en"])


def _name(code: str, labels: Mapping[str, str] | None, t: dict) -> str:
    if code == "(new)":
        return t["new"]
    return str((labels or {}).get(code, code))


def plot_transition_heatmap(counts: pd.DataFrame, shares: pd.DataFrame, *, prev: str = "",
                            curr: str = "", labels: Mapping[str, str] | None = None,
                            language: str = "en") -> plt.Figure:
    """Heatmap of the transition matrix: colour is the row share (where last month's
    customers went), each cell shows the share and the number of customers."""
    t = _t(language)
    annot = np.empty(counts.shape, dtype=object)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            n = int(counts.iat[i, j])
            annot[i, j] = f"{100 * shares.iat[i, j]:.0f}%\n{n:,}" if n else ""
    h = max(4.0, 0.55 * len(counts) + 1.8)
    w = max(6.0, 0.95 * counts.shape[1] + 3.0)
    fig, ax = plt.subplots(figsize=(w, h))
    sns.heatmap(shares.astype(float), annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1,
                cbar_kws={"label": "share of row", "format": matplotlib.ticker.PercentFormatter(1.0)},
                linewidths=0.5, linecolor="white", annot_kws={"fontsize": 8}, ax=ax)
    ax.set_yticklabels([_name(c, labels, t) for c in counts.index], rotation=0)
    ax.set_xticklabels([_name(c, labels, t) for c in counts.columns], rotation=35, ha="right")
    ax.set_ylabel(t["from"])
    ax.set_xlabel(t["to"])
    ax.set_title(t["heat_title"].format(prev=prev, curr=curr))
    fig.tight_layout()
    return fig


def plot_segment_history(history: pd.DataFrame, order: list[str], *,
                         labels: Mapping[str, str] | None = None, language: str = "en",
                         currency: str = "$") -> plt.Figure:
    """Two panels over months: customers per segment (lines) and revenue in the month per
    segment (stacked bars). ``history`` is :func:`rfm_helpers.tracking.segment_history`."""
    t = _t(language)
    segs = [s for s in order if s in set(history["segment"])]
    sizes = history.pivot_table(index="month", columns="segment", values="customers",
                                aggfunc="sum", fill_value=0).reindex(columns=segs, fill_value=0)
    spend = history.pivot_table(index="month", columns="segment", values="month_spend",
                                aggfunc="sum", fill_value=0).reindex(columns=segs, fill_value=0)
    colours = sns.color_palette("RdYlGn_r", n_colors=max(len(segs), 1))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    x = np.arange(len(sizes))
    for k, s in enumerate(segs):
        a1.plot(x, sizes[s].to_numpy(), marker="o", ms=3, color=colours[k], label=_name(s, labels, t))
    a1.set_ylabel(t["customers"])
    a1.set_title(t["sizes_title"])
    a1.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    a1.legend(fontsize=8, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom = np.zeros(len(spend))
    for k, s in enumerate(segs):
        vals = spend[s].to_numpy(dtype=float)
        a2.bar(x, vals, bottom=bottom, color=colours[k], label=_name(s, labels, t))
        bottom += vals
    a2.set_ylabel(f"{t['revenue']}, {currency}")
    a2.set_title(t["spend_title"])
    a2.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    a2.set_xticks(x)
    a2.set_xticklabels(list(sizes.index), rotation=45, ha="right")
    a2.set_xlabel(t["month"])
    fig.tight_layout()
    return fig


def plot_movements(moves: pd.DataFrame, churn: pd.DataFrame | None = None, *,
                   language: str = "en") -> plt.Figure:
    """Bars of customers moving up (above zero) and down (below zero) each month, with the
    number entering churn segments as a line. Inputs from
    :func:`rfm_helpers.tracking.movement_history` and :func:`~rfm_helpers.tracking.churn_flows`."""
    t = _t(language)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(moves))
    ax.bar(x, moves["up"].to_numpy(), color="#2a9d4b", label=t["up"])
    ax.bar(x, -moves["down"].to_numpy(), color="#d1495b", label=t["down"])
    if churn is not None and len(churn):
        c = churn.set_index("month").reindex(moves["month"])["entered_churn"].to_numpy()
        ax.plot(x, -c, color="black", marker="o", ms=4, label=t["churn"])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(moves["month"].astype(str).tolist(), rotation=45, ha="right")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{abs(v):,.0f}"))
    ax.set_ylabel(t["customers"])
    ax.set_xlabel(t["month"])
    ax.set_title(t["moves_title"])
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
