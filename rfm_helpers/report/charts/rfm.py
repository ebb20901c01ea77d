"""Charts of the RFM page (notebook 02). Each function returns a matplotlib Figure.

Every word on a chart goes through the run's :class:`~rfm_helpers.report.i18n.Translator`;
numbers on the charts are formatted by Babel for the report's locale.
"""
from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ..i18n import Translator  # noqa: E402

__all__ = ["plot_rfm_heatmap", "plot_distributions", "plot_score_counts"]


def plot_rfm_heatmap(scored: pd.DataFrame, t: Translator, n: int = 5) -> plt.Figure:
    """R x F grid: cell text = number of customers, colour = their average spend.

    ``scored``: the scored table (one row per customer), or its cells as
    :func:`rfm_helpers.insights.score_cells_sql` gives them (``r_score``, ``f_score``,
    ``customers``, ``mean_monetary``: the same picture from an aggregate).
    Empty cells (possible with heavy ties, see :func:`rfm_helpers.rfm.score_quantiles`) are
    left blank rather than shown as zero."""
    scores = range(1, n + 1)
    if "mean_monetary" in scored.columns:
        cells = scored
    else:
        cells = scored.groupby(["r_score", "f_score"]).agg(customers=("customer_id", "count"),
                                                          mean_monetary=("monetary", "mean")).reset_index()
    counts = (cells.pivot_table(index="f_score", columns="r_score", values="customers",
                                aggfunc="sum").reindex(index=scores, columns=scores))
    spend = (cells.pivot_table(index="f_score", columns="r_score", values="mean_monetary",
                               aggfunc="sum").reindex(index=scores, columns=scores))
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    annot = counts.map(lambda v: "" if pd.isna(v) else t.integer(v))
    sns.heatmap(spend.iloc[::-1], annot=annot.iloc[::-1], fmt="", cmap="YlGnBu", ax=ax,
                cbar_kws={"label": t._("Average spend"), "format": FuncFormatter(lambda v, _: t.money(v, cents=False))},
                linewidths=0.5, linecolor="white")
    ax.set_xlabel(t._("Recency score (5 = bought most recently)"))
    ax.set_ylabel(t._("Frequency score (5 = most orders)"))
    ax.set_title(t._("Customers by recency and frequency score (colour: average spend)"))
    fig.tight_layout()
    return fig


def plot_distributions(rfm: Any, t: Translator) -> plt.Figure:
    """Histograms of recency, frequency (counts on a log scale, up to the 99th percentile)
    and spend (log scale).

    ``rfm``: the RFM table (one row per customer), or its counts as
    :func:`rfm_helpers.insights.distributions_sql` gives them: the same bins and bars
    (recency and frequency drawn from the count of every distinct value, so exactly; spend
    from the engine's bin counts)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    if isinstance(rfm, dict):
        rec, freq, spend = rfm["recency"], rfm["frequency"], rfm["spend"]
        sns.histplot(x=rec["value"].to_numpy(), weights=rec["customers"].to_numpy(), bins=40, ax=axes[0], color="#4C72B0")
        cap = _weighted_quantile(freq["value"].to_numpy(), freq["customers"].to_numpy(), 0.99)
        sns.histplot(x=np.minimum(freq["value"].to_numpy(dtype="float64"), cap), weights=freq["customers"].to_numpy(),
                     discrete=True, ax=axes[1], color="#55A868")
        if spend["customers"].sum():
            mid = 10 ** ((spend["lo"].to_numpy() + spend["hi"].to_numpy()) / 2)
            sns.histplot(x=mid, weights=spend["customers"].to_numpy(), bins=len(spend), log_scale=True,
                         binrange=(float(spend["lo"].iloc[0]), float(spend["hi"].iloc[-1])), ax=axes[2], color="#C44E52")
            axes[2].xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.money(v, cents=v < 1)))
    else:
        sns.histplot(rfm["recency_days"], bins=40, ax=axes[0], color="#4C72B0")
        freq = rfm["frequency"].clip(upper=rfm["frequency"].quantile(0.99))
        sns.histplot(freq, discrete=True, ax=axes[1], color="#55A868")
        pos = rfm.loc[rfm["monetary"] > 0, "monetary"]
        if len(pos):
            sns.histplot(pos, bins=40, log_scale=True, ax=axes[2], color="#C44E52")
            axes[2].xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.money(v, cents=v < 1)))
    axes[0].set_xlabel(t._("Days since last order"))
    axes[1].set_xlabel(t._("Orders (up to the 99th percentile)"))
    axes[1].set_yscale("log")
    axes[2].set_xlabel(t._("Total spend (log scale)"))
    count = FuncFormatter(lambda v, _: t.integer(v))
    for ax in axes:
        ax.set_ylabel(t._("Customers"))
        ax.yaxis.set_major_formatter(count)
    axes[0].xaxis.set_major_formatter(count)
    fig.suptitle(t._("How customers are spread on each RFM dimension"))
    fig.tight_layout()
    return fig


def _weighted_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """``numpy.quantile`` (linear rule, pandas' default) of the data in which each of the sorted
    ``values`` occurs ``counts`` times, without expanding it."""
    order = np.argsort(values, kind="stable")
    values, counts = np.asarray(values)[order].astype("float64"), np.asarray(counts)[order].astype(np.int64)
    n = int(counts.sum())
    pos = q * (n - 1)
    lo = int(np.floor(pos))
    ends = np.cumsum(counts)  # the value at sorted position i is the first whose cumulative count exceeds i
    a, b = values[np.searchsorted(ends, lo, side="right")], values[np.searchsorted(ends, min(lo + 1, n - 1), side="right")]
    return float(np.quantile(np.array([a, b]), pos - lo))


def plot_score_counts(scored: pd.DataFrame, t: Translator, n: int = 5) -> plt.Figure:
    """Bar charts of customers per R, F and M score: shows where ties left scores empty.
    ``scored``: the scored table, or :func:`rfm_helpers.insights.score_table` of it."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
    titles = [t._("R: recency"), t._("F: frequency"), t._("M: monetary")]
    for ax, col, title in zip(axes, ["r_score", "f_score", "m_score"], titles):
        if "dimension" in scored.columns:
            rows = scored[scored["dimension"] == col[0].upper()]
            counts = pd.Series(rows["customers"].to_numpy(), index=rows["score"].to_numpy()).reindex(
                range(1, n + 1), fill_value=0)
        else:
            counts = scored[col].value_counts().reindex(range(1, n + 1), fill_value=0)
        ax.bar(counts.index.astype(str), counts.values, color="#8172B2")
        ax.set_title(title)
        ax.set_xlabel(t._("Score"))
    axes[0].set_ylabel(t._("Customers"))
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.integer(v)))
    fig.suptitle(t._("Customers per score"))
    fig.tight_layout()
    return fig
