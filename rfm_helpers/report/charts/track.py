"""Charts of the migration page (notebook 05). Each function returns a matplotlib Figure.

Inputs come from :mod:`rfm_helpers.tracking` (transition matrices, segment history,
movement and churn tables); segments are named through ``labels`` (see
:func:`rfm_helpers.report.texts.track.segment_labels`), months by Babel, every word through
the run's :class:`~rfm_helpers.report.i18n.Translator`.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ..i18n import Translator  # noqa: E402

__all__ = ["plot_transition_heatmap", "plot_segment_history", "plot_movements"]


def _name(code, labels: Mapping[str, str] | None) -> str:
    return str((labels or {}).get(code, code))


def _month_ticks(t: Translator, months) -> list[str]:
    """Short month names for an axis: ``Jun 1998`` / ``июнь 1998``."""
    return [t.date(f"{m}-01", "LLL y") for m in months]


def plot_transition_heatmap(counts: pd.DataFrame, shares: pd.DataFrame, t: Translator, *, prev: str = "",
                            curr: str = "", labels: Mapping[str, str] | None = None) -> plt.Figure:
    """Heatmap of the transition matrix: colour is the row share (where last month's
    customers went), each cell shows the share and the number of customers."""
    annot = np.empty(counts.shape, dtype=object)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            n = int(counts.iat[i, j])
            annot[i, j] = f"{t.percent(shares.iat[i, j], 0)}\n{t.integer(n)}" if n else ""
    h = max(4.0, 0.55 * len(counts) + 1.8)
    w = max(6.0, 0.95 * counts.shape[1] + 3.0)
    fig, ax = plt.subplots(figsize=(w, h))
    sns.heatmap(shares.astype(float), annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1,
                cbar_kws={"label": t._("Share of the row"), "format": FuncFormatter(lambda v, _: t.percent(v, 0))},
                linewidths=0.5, linecolor="white", annot_kws={"fontsize": 8}, ax=ax)
    ax.set_yticklabels([_name(c, labels) for c in counts.index], rotation=0)
    ax.set_xticklabels([_name(c, labels) for c in counts.columns], rotation=35, ha="right")
    ax.set_ylabel(t._("Segment last month"))
    ax.set_xlabel(t._("Segment this month"))
    ax.set_title(t._("Where last month's customers are now ({prev} → {curr}); colour: share of the row").format(
        prev=t.month(prev) if prev else "", curr=t.month(curr) if curr else ""))
    fig.tight_layout()
    return fig


def plot_segment_history(history: pd.DataFrame, order: list[str], t: Translator, *,
                         labels: Mapping[str, str] | None = None) -> plt.Figure:
    """Two panels over months: customers per segment (lines) and revenue in the month per
    segment (stacked bars). ``history`` is :func:`rfm_helpers.tracking.segment_history`."""
    segs = [s for s in order if s in set(history["segment"])]
    sizes = history.pivot_table(index="month", columns="segment", values="customers",
                                aggfunc="sum", fill_value=0).reindex(columns=segs, fill_value=0)
    spend = history.pivot_table(index="month", columns="segment", values="month_spend",
                                aggfunc="sum", fill_value=0).reindex(columns=segs, fill_value=0)
    colours = sns.color_palette("RdYlGn_r", n_colors=max(len(segs), 1))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    x = np.arange(len(sizes))
    for k, s in enumerate(segs):
        a1.plot(x, sizes[s].to_numpy(), marker="o", ms=3, color=colours[k], label=_name(s, labels))
    a1.set_ylabel(t._("Customers"))
    a1.set_title(t._("Customers per segment at each month end"))
    a1.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.integer(v)))
    a1.legend(fontsize=8, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom = np.zeros(len(spend))
    for k, s in enumerate(segs):
        vals = spend[s].to_numpy(dtype=float)
        a2.bar(x, vals, bottom=bottom, color=colours[k], label=_name(s, labels))
        bottom += vals
    a2.set_ylabel(t._("Revenue in the month"))
    a2.set_title(t._("Revenue in the month by segment (segment at month end)"))
    a2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.money(v, cents=False)))
    a2.set_xticks(x)
    a2.set_xticklabels(_month_ticks(t, sizes.index), rotation=45, ha="right")
    a2.set_xlabel(t._("Month"))
    fig.tight_layout()
    return fig


def plot_movements(moves: pd.DataFrame, t: Translator, churn: pd.DataFrame | None = None) -> plt.Figure:
    """Bars of customers moving up (above zero) and down (below zero) each month, with the
    number entering churn segments as a line. Inputs from
    :func:`rfm_helpers.tracking.movement_history` and :func:`~rfm_helpers.tracking.churn_flows`."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(moves))
    ax.bar(x, moves["up"].to_numpy(), color="#2a9d4b", label=t._("Moved up (more valuable segment)"))
    ax.bar(x, -moves["down"].to_numpy(), color="#d1495b", label=t._("Moved down (less valuable segment)"))
    if churn is not None and len(churn):
        c = churn.set_index("month").reindex(moves["month"])["entered_churn"].to_numpy()
        ax.plot(x, -c, color="black", marker="o", ms=4, label=t._("Entered a churn segment"))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(_month_ticks(t, moves["month"]), rotation=45, ha="right")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.integer(abs(v))))
    ax.set_ylabel(t._("Customers"))
    ax.set_xlabel(t._("Month"))
    ax.set_title(t._("Customers moving between segments each month"))
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
