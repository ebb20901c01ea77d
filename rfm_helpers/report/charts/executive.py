"""The segment chart of the executive summary: customers and revenue per segment, this month
against last month, as a PNG data URI for the month page (aggregates only).

Drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot state), so the report runner can
draw it in its own process; every word comes from the caller's translator.
"""
from __future__ import annotations

import base64
import io
from typing import Any, Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..i18n import Translator

__all__ = ["GROUP_COLORS", "plot_segments", "segments_figure"]

#: Bar colour per segment group of the map (active, passive, lapsed); others grey.
GROUP_COLORS = {"active": "#2f6db5", "passive": "#e08a1e", "lost": "#a23b3b"}
_OTHER = "#8a8f98"


def segments_figure(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str], groups: Mapping[str, str],
                    t: Translator, *, previous: str = "", group_labels: Mapping[str, str] | None = None) -> Figure:
    """Two panels of horizontal bars, one row per segment (most valuable at the top): customers
    and the total spend of the segment's customers (``spend_to_date``); last month's value as a
    black tick with the change written beside the bar when ``previous`` names that month. Bars
    are coloured by the segment's group (``groups``: segment -> group key), named in
    ``group_labels`` (group key -> label) for the legend."""
    names = [labels.get(r["segment"], r["segment"]) for r in rows]
    colors = [GROUP_COLORS.get(groups.get(r["segment"], ""), _OTHER) for r in rows]
    height = 1.3 + 0.34 * max(len(rows), 1)
    fig = Figure(figsize=(10, height), dpi=100)
    axes = fig.subplots(1, 2, sharey=True)
    y = list(range(len(rows)))[::-1]
    panels = [("customers", "previous_customers", t._("Customers"), t.integer,
               lambda d: t.number(d, 0, signed=True)),
              ("spend_to_date", "previous_spend_to_date", t._("Total spend of the segment's customers"),
               lambda v: t.money(v, cents=False), lambda d: t.money(d, cents=False, signed=True))]
    for ax, (key, prev_key, title, fmt, fmt_change) in zip(axes, panels):
        values = [float(r[key] or 0) for r in rows]
        ax.barh(y, values, color=colors, height=0.62)
        top = max(values + [float(r.get(prev_key) or 0) for r in rows] + [1.0])
        for yi, r, v in zip(y, rows, values):
            before = r.get(prev_key)
            text = fmt(v)
            if previous and before is not None:
                ax.plot([before, before], [yi - 0.38, yi + 0.38], color="#111111", lw=1.6)
                text += f"  ({fmt_change(v - before)})"
            ax.text(max(v, before or 0) + top * 0.015, yi, text, va="center", fontsize=8.5, color="#1d2733",
                    parse_math=False)
        ax.set_xlim(0, top * 1.55)
        ax.set_title(title, fontsize=10.5, loc="left", parse_math=False)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p, f=fmt: f(v) if v else "0"))
        ax.tick_params(axis="x", labelsize=8, colors="#5b6775")
        ax.grid(axis="x", alpha=0.25)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=9)
    for label in axes[0].get_yticklabels():
        label.set_parse_math(False)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    shown = list(dict.fromkeys(groups.get(r["segment"], "") for r in rows))
    handles = [Patch(color=GROUP_COLORS.get(g, _OTHER)) for g in shown if g in (group_labels or {})]
    names = [group_labels[g] for g in shown if g in (group_labels or {})]
    if previous:
        handles.append(Line2D([0], [0], color="#111111", lw=1.6))
        names.append(t._("{month} (change beside the bar)").format(month=previous))
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=len(handles), frameon=False, fontsize=8.5)
    fig.tight_layout(rect=(0, 0.07 if handles else 0, 1, 1))
    return fig


def plot_segments(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str], groups: Mapping[str, str],
                  t: Translator, *, previous: str = "", group_labels: Mapping[str, str] | None = None) -> str:
    """:func:`segments_figure` as a ``data:image/png;base64,...`` URI."""
    fig = segments_figure(rows, labels, groups, t, previous=previous, group_labels=group_labels)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
