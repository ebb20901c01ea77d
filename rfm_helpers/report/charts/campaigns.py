"""Charts of the campaign pages. Each function takes aggregates of a stored evaluation and the
run's Translator and returns a matplotlib Figure; every word and number on a chart comes from
the Translator (money in the run's currency by Babel).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ..i18n import Translator  # noqa: E402
from ..texts.campaigns import group, metric_kind, metric_name, verdict_label  # noqa: E402

__all__ = ["plot_decision", "plot_forest", "plot_srm", "plot_outcomes", "plot_mde", "plot_migration"]

_COLORS = {"roll_out": "#2ca02c", "do_not_roll_out": "#7f7f7f", "inconclusive": "#ff7f0e", "harmful": "#d62728",
           "invalid": "#d62728"}


def _mpl(text: str) -> str:
    """Text for matplotlib: a ``$`` (a currency sign) must not start maths."""
    return str(text).replace("$", r"\$")


def _axis_formatter(t: Translator, kind: str) -> FuncFormatter:
    if kind == "points":
        return FuncFormatter(lambda v, _: _mpl(t.number(100 * v, 1)))
    if kind == "money":
        return FuncFormatter(lambda v, _: _mpl(t.money(v, cents=abs(v) < 10)))
    return FuncFormatter(lambda v, _: _mpl(t.number(v, 2)))


def _xlabel(t: Translator, metric: str, kind: str) -> str:
    """``revenue per customer: variant minus control, $`` (points for 0/1 metrics)."""
    name = metric_name(t, metric)
    if kind == "points":
        return t._("{metric}: variant minus control, percentage points").format(metric=name)
    if kind == "money":
        return t._("{metric}: variant minus control, {currency}").format(metric=name, currency=t.currency_symbol())
    return t._("{metric}: variant minus control").format(metric=name)


def plot_decision(evaluation: Mapping[str, Any], t: Translator) -> plt.Figure:
    """The primary metric's effect of every variant with its interval, against 0 and against the
    smallest effect worth acting on; coloured by verdict."""
    verdict = evaluation["verdict"]
    metric = verdict["rules"]["primary_metric"]
    kind = metric_kind(metric)
    m = verdict["rules"]["min_effect"] / (100 if kind == "points" else 1)
    items = list(verdict["variants"].values())
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(items) + 1.8))
    y = np.arange(len(items))[::-1]
    for yi, d in zip(y, items):
        c = _COLORS.get(d["code"], "#333333")
        ax.plot([d["ci_low"], d["ci_high"]], [yi, yi], color=c, lw=3)
        ax.plot(d["diff"], yi, "o", color=c, ms=9)
        # above the point: to the right of the interval a long verdict ran out of the plot
        ax.annotate(_mpl(verdict_label(t, d["code"])), (d["diff"], yi), xytext=(0, 9), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9, color=c,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.axvline(m, color="#2ca02c", ls=":", lw=1.5)
    ax.text(m, 1.0, _mpl(t._("worth acting on")), transform=ax.get_xaxis_transform(), ha="left", va="bottom",
            fontsize=8, color="#2ca02c")
    ax.set_yticks(y, [_mpl(group(t, d["variant"])) for d in items])
    ax.set_ylim(-0.8, len(items) - 0.2)
    ax.xaxis.set_major_formatter(_axis_formatter(t, kind))
    ax.set_xlabel(_mpl(_xlabel(t, metric, kind)))
    lo = min([d["ci_low"] for d in items] + [0, m])
    hi = max([d["ci_high"] for d in items] + [0, m])
    pad = 0.15 * (hi - lo or 1)
    ax.set_xlim(lo - pad, hi + pad)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_forest(effects: Sequence[Mapping[str, Any]], t: Translator, labels: Mapping[str, str],
                title: str = "") -> plt.Figure:
    """One row per segment: the effect and its interval; filled where significant after the
    correction. The dashed line at 0 is 'no effect'."""
    effects = list(effects)
    fig, ax = plt.subplots(figsize=(8, 0.5 * max(len(effects), 2) + 1.6))
    if not effects:
        ax.text(0.5, 0.5, _mpl(t._("No segment large enough to compare")), ha="center", va="center")
        ax.set_axis_off()
        return fig
    kind = metric_kind(effects[0]["metric"])
    y = np.arange(len(effects))[::-1]
    for yi, e in zip(y, effects):
        color = "tab:blue" if e["significant"] else "tab:gray"
        ax.plot([e["ci_low"], e["ci_high"]], [yi, yi], color=color, lw=2)
        ax.plot(e["diff"], yi, "o", color=color, mfc=color if e["significant"] else "white", ms=7)
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.set_yticks(y, [_mpl(labels.get(e["segment"], e["segment"])) for e in effects])
    ax.xaxis.set_major_formatter(_axis_formatter(t, kind))
    ax.set_xlabel(_mpl(_xlabel(t, effects[0]["metric"], kind)))
    if title:
        ax.set_title(_mpl(title), loc="left")
    # the key above the plot's right corner: below it, it ran into the axis label
    ax.text(1.0, 1.02, _mpl(t._("filled: significant after correction; hollow: not")),
            transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="dimgray")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_srm(srm: Mapping[str, Any], t: Translator) -> plt.Figure:
    """Planned and observed customers per group, red when the check failed."""
    groups = list(srm["observed"])
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.bar(x - 0.2, [srm["expected"][g] for g in groups], 0.4, label=_mpl(t._("planned")), color="lightgray")
    ax.bar(x + 0.2, [srm["observed"][g] for g in groups], 0.4, label=_mpl(t._("observed")),
           color="tab:green" if srm["passed"] else "tab:red")
    ax.set_xticks(x, [_mpl(group(t, g)) for g in groups])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.integer(v)))
    ax.set_ylabel(_mpl(t._("customers")))
    ax.set_title(_mpl(t._("Group sizes against the plan: {status}").format(
        status=t._("as planned") if srm["passed"] else t._("MISMATCH"))))
    top = max([*srm["expected"].values(), *srm["observed"].values(), 1])
    ax.set_ylim(0, top * 1.25)  # room for the key above the bars
    ax.legend(loc="upper center", ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def plot_outcomes(groups: Mapping[str, Mapping[str, Mapping[str, float]]], order: Sequence[str], t: Translator,
                  control: str) -> plt.Figure:
    """Conversion, revenue and orders per customer by group, with 95 % normal intervals."""
    metrics = ["converted", "revenue", "orders"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    for ax, metric in zip(axes, metrics):
        kind = metric_kind(metric)
        k = 100.0 if kind == "points" else 1.0
        means = [k * groups[g][metric]["mean"] for g in order]
        errs = [1.96 * k * groups[g][metric]["se"] for g in order]
        ax.bar(range(len(order)), means, yerr=errs, capsize=4,
               color=["lightgray" if g == control else "tab:blue" for g in order])
        ax.set_xticks(range(len(order)), [_mpl(group(t, g)) for g in order])
        ax.set_title(_mpl(metric_name(t, metric)))
        if kind == "money":
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _mpl(t.money(v, cents=v < 10))))
        elif kind == "points":
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _mpl(t.percent(v / 100, 0))))
    fig.suptitle(_mpl(t._("Outcomes in the window after sending, by group")))
    fig.tight_layout()
    return fig


def plot_mde(power: Sequence[Mapping[str, Any]], t: Translator, labels: Mapping[str, str]) -> plt.Figure:
    """Smallest conversion lift the next campaign could detect per segment."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(power), 2) + 1.5))
    if not power:
        ax.text(0.5, 0.5, _mpl(t._("No segment large enough to compare")), ha="center", va="center")
        ax.set_axis_off()
        return fig
    rows = sorted(power, key=lambda p: p["mde_conversion"])
    ax.barh([_mpl(labels.get(p["segment"], p["segment"])) for p in rows], [100 * p["mde_conversion"] for p in rows],
            color="tab:purple")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.number(v, 1)))
    ax.set_xlabel(_mpl(t._("smallest conversion lift detectable, percentage points")))
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def plot_migration(evaluation: Mapping[str, Any], t: Translator) -> plt.Figure:
    """Per group: shares of customers in the same segment, moved up, moved down since sending."""
    summary = evaluation["month"]["migration"]["summary"]
    groups = [evaluation["report"]["control"], *evaluation["report"]["variants"]]
    groups = [g for g in groups if g in summary]
    parts = [("same", t._("same segment"), "#c7c7c7"), ("up", t._("moved up"), "#2ca02c"),
             ("down", t._("moved down"), "#d62728")]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(groups) + 1.6))
    y = np.arange(len(groups))[::-1]
    left = np.zeros(len(groups))
    for key, name, color in parts:
        share = np.array([summary[g][key] / max(summary[g]["customers"], 1) for g in groups])
        ax.barh(y, share, left=left, color=color, label=_mpl(name))
        for yi, lft, s in zip(y, left, share):
            if s > 0.06:
                ax.text(lft + s / 2, yi, _mpl(t.percent(s, 0)), ha="center", va="center", fontsize=8)
        left += share
    ax.set_yticks(y, [_mpl(group(t, g)) for g in groups])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.percent(v, 0)))
    ax.set_xlim(0, 1)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
