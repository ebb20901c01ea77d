"""Charts of the customer value page (notebook 06). Each function returns a Figure.

Numbers come from :mod:`rfm_helpers.value`; every word on a chart goes through the run's
:class:`~rfm_helpers.report.i18n.Translator`, and money ticks are formatted by Babel in the
run's currency.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ..i18n import Translator  # noqa: E402

__all__ = ["plot_backtest", "plot_value_by_group", "plot_p_alive"]

_MODEL, _BASE, _ACTUAL, _RISK = "#1f77b4", "#bbbbbb", "#d62728", "#ff7f0e"


def plot_backtest(bt, t: Translator) -> plt.Figure:
    """Left: average purchases per customer in the holdout period per decile of predicted
    purchases (model, baseline, actual). Right: the totals of purchases (and of revenue when
    the spend model is available)."""
    d = bt.deciles
    panels = 3 if bt.spend_available else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2),
                             gridspec_kw={"width_ratios": [2.2] + [1] * (panels - 1)})
    ax = axes[0]
    x = d["decile"].to_numpy()
    ax.plot(x, d["actual"], "o-", color=_ACTUAL, label=t._("Actual"), zorder=3)
    ax.plot(x, d["predicted"], "s--", color=_MODEL, label=t._("Model"))
    ax.plot(x, d["baseline"], "^:", color="#555555", label=t._("Baseline: repeat last period"))
    ax.set_xticks(x)
    ax.set_xlabel(t._("Decile of predicted purchases (10 = highest)"))
    ax.set_ylabel(t._("Purchases per customer"))
    ax.set_title(t._("Next {days} after {cutoff}").format(
        days=t.plural(bt.holdout_days, "{n} day", "{n} days"), cutoff=t.date(bt.cutoff, "medium")), fontsize=10)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.number(v, 2)))
    ax.legend(frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    tot = bt.totals
    names = [t._("Model"), t._("Baseline"), t._("Actual")]
    colors = [_MODEL, _BASE, _ACTUAL]
    _total_bars(axes[1], names, [tot["predicted"], tot["baseline"], tot["actual"]], colors,
                t._("Purchases in total"), t.integer)
    if bt.spend_available:
        _total_bars(axes[2], names, [tot["predicted_revenue"], tot["baseline_revenue"], tot["actual_revenue"]],
                    colors, t._("Revenue in total"), lambda v: t.money(v, cents=False))
    fig.tight_layout()
    return fig


def _total_bars(ax, names, values, colors, title, fmt) -> None:
    bars = ax.bar(names, values, color=colors)
    for b, v in zip(bars, values):
        ax.annotate(fmt(v), (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylim(0, max(values) * 1.15 if max(values) > 0 else 1)
    ax.grid(axis="y", alpha=0.3)


def plot_value_by_group(table: pd.DataFrame, t: Translator, labels: Mapping[str, str] | None = None,
                        horizon: int = 90) -> plt.Figure:
    """Per group: expected revenue in the next ``horizon`` days with its interval, and the
    value at risk, as horizontal bars (groups in table order, top to bottom)."""
    labels = labels or {}
    names = [str(labels.get(g, g)) for g in table["group"]]
    y = np.arange(len(table))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(table) + 1.6), sharey=True)
    rev = table["expected_revenue"].to_numpy()
    err = np.vstack([rev - table["expected_revenue_low"].to_numpy(), table["expected_revenue_high"].to_numpy() - rev])
    axes[0].barh(y, rev, xerr=np.clip(err, 0, None), color=_MODEL, ecolor="#333333", capsize=2)
    axes[0].set_title(t._("Expected revenue, next {days}").format(days=t.plural(horizon, "{n} day", "{n} days")),
                      fontsize=10)
    axes[1].barh(y, table["value_at_risk"].to_numpy(), color=_RISK)
    axes[1].set_title(t._("Value at risk (12 months)"), fontsize=10)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.money(v, cents=False)))
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_p_alive(value: pd.DataFrame, t: Translator) -> plt.Figure:
    """Histogram of the probability of being active, repeat customers and one-time buyers apart."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bins = np.linspace(0, 1, 21)
    repeat = value.loc[~value["one_time_buyer"], "p_alive"].dropna()
    once = value.loc[value["one_time_buyer"], "p_alive"].dropna()
    ax.hist([repeat, once], bins=bins, stacked=True, color=[_MODEL, _BASE],
            label=[t._("Repeat customers"), t._("One-time buyers")])
    ax.set_xlabel(t._("Probability of being active"))
    ax.set_ylabel(t._("Customers"))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.percent(v, 0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.integer(v)))
    ax.legend(frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
