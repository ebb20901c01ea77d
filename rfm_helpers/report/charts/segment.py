"""Charts of the segmentation page (notebook 03). Each function returns a matplotlib Figure.

Methods are given by their keys (``quantile``, ``kmeans``...) and named on the charts by
:func:`rfm_helpers.report.texts.segment.method_name`; every word goes through the run's
:class:`~rfm_helpers.report.i18n.Translator` and numbers are formatted by Babel.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Mapping
from unittest import mock

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from seaborn import matrix as sns_matrix, utils as sns_utils  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ...clustering import pareto_curve, top_share  # noqa: E402
from ..i18n import N_, Translator  # noqa: E402
from ..texts.segment import method_title  # noqa: E402

__all__ = ["plot_k_selection", "plot_segment_shares", "plot_segment_profiles", "plot_agreement",
           "plot_pareto", "plot_stability"]

_CRITERIA = {"silhouette": N_("silhouette"), "BIC": N_("BIC")}


def plot_k_selection(k_scores: Mapping[str, pd.DataFrame], chosen: Mapping[str, int], t: Translator) -> plt.Figure:
    """How the number of clusters was chosen: silhouette by k (k-means, higher is better) and
    BIC by k (Gaussian mixture, lower is better), the chosen k marked.

    ``k_scores`` maps a method key to its ``ClusterSegmenter.k_scores_`` table (columns
    ``k``, ``criterion``, ``value``); ``chosen`` maps the same keys to the k used."""
    items = [(n, df) for n, df in k_scores.items() if df is not None and not df.empty]
    fig, axes = plt.subplots(1, max(len(items), 1), figsize=(5.5 * max(len(items), 1), 3.8), squeeze=False)
    if not items:
        axes[0, 0].text(0.5, 0.5, t._("The number of clusters was set by the user."), ha="center", va="center")
        axes[0, 0].set_axis_off()
        return fig
    for ax, (key, df) in zip(axes[0], items):
        crit = str(df["criterion"].iloc[0])
        shown_crit = t._(_CRITERIA[crit]) if crit in _CRITERIA else crit
        ax.plot(df["k"], df["value"], marker="o", color="#4C72B0")
        k = chosen.get(key)
        if k is not None and k in set(df["k"]):
            ax.scatter([k], df.loc[df["k"] == k, "value"], s=160, facecolors="none", edgecolors="#C44E52",
                       linewidths=2, zorder=3, label=t._("chosen: k = {k}").format(k=t.integer(k)))
            ax.legend(loc="best")
        better = t._("higher is better") if crit.lower().startswith("sil") else t._("lower is better")
        ax.set_title(t._("{method}: {criterion} by number of clusters").format(
            method=method_title(t, key), criterion=shown_crit))
        ax.set_xlabel(t._("Number of clusters (k)"))
        ax.set_ylabel(f"{shown_crit} ({better})")
        ax.set_xticks(df["k"])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.number(v, 2) if abs(v) < 10 else t.integer(v)))
    fig.tight_layout()
    return fig


def _share_axis(ax, t: Translator) -> None:
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.percent(v, 0)))


def plot_segment_shares(tables: Mapping[str, pd.DataFrame], t: Translator) -> plt.Figure:
    """Share of customers and share of revenue per segment, one panel per method.

    ``tables`` maps a method key to a :func:`rfm_helpers.clustering.segment_table`."""
    n = len(tables)
    heights = [max(len(tab), 1) for tab in tables.values()]
    fig, axes = plt.subplots(n, 1, figsize=(9, 0.42 * sum(heights) + 1.3 * n),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for i, (ax, (key, tab)) in enumerate(zip(axes[:, 0], tables.items())):
        y = np.arange(len(tab))
        ax.barh(y - 0.2, tab["customer_share"], height=0.4, label=t._("Share of customers"), color="#4C72B0")
        ax.barh(y + 0.2, tab["revenue_share"], height=0.4, label=t._("Share of revenue"), color="#DD8452")
        ax.set_yticks(y)
        ax.set_yticklabels(tab["label"].astype(str))
        ax.invert_yaxis()
        ax.set_title(method_title(t, key))
        _share_axis(ax, t)
        if i == 0:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle(t._("Segment sizes and revenue by method"))
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def plot_segment_profiles(tables: Mapping[str, pd.DataFrame], t: Translator) -> plt.Figure:
    """Per-segment RFM profile for each method: median days since last order, median orders
    and median spend. Colours compare segments within a column (darker = better customers:
    more recent, more orders, higher spend); numbers are the actual medians."""
    n = len(tables)
    heights = [max(len(tab), 1) for tab in tables.values()]
    fig, axes = plt.subplots(n, 1, figsize=(8, 0.38 * sum(heights) + 1.2 * n),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    cols = ["median_recency_days", "median_frequency", "median_monetary"]
    names = [t._("Days since last order"), t._("Orders"), t._("Spend")]
    labels = []
    with _heatmaps_drawn_once(fig):
        for ax, (key, tab) in zip(axes[:, 0], tables.items()):
            vals = tab[cols].astype("float64")
            goodness = vals.copy()
            goodness["median_recency_days"] = -goodness["median_recency_days"]
            rng = (goodness.max() - goodness.min()).replace(0, 1)
            colour = (goodness - goodness.min()) / rng
            annot = np.array([[t.integer(r), t.integer(f) if f >= 10 or f == int(f) else t.number(f, 1),
                               t.money(m, cents=False)] for r, f, m in vals.to_numpy()], dtype=object)
            sns.heatmap(colour.to_numpy(), annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax,
                        yticklabels=tab["label"].astype(str).tolist(), xticklabels=names, linewidths=0.5)
            labels.append((ax.get_xticklabels(), ax.get_yticklabels()))
        # seaborn's checks of the tick labels, on the one drawing: x labels turn vertical where they
        # overlap, y labels horizontal (as seaborn leaves them), then the chart's own settings
        sns_utils._draw_figure(fig)
        for xtl, ytl in labels:
            if sns_utils.axis_ticklabels_overlap(xtl):
                plt.setp(xtl, rotation="vertical")
            if sns_utils.axis_ticklabels_overlap(ytl):
                plt.setp(ytl, rotation="horizontal")
    for ax, key in zip(axes[:, 0], tables):
        ax.set_title(method_title(t, key))
        ax.set_ylabel("")
        ax.tick_params(axis="y", rotation=0)
    fig.suptitle(t._("Segment profiles (medians)"))
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


@contextlib.contextmanager
def _heatmaps_drawn_once(fig: plt.Figure) -> Iterator[None]:
    """seaborn's ``heatmap`` draws the whole figure after each heatmap, to see whether that
    heatmap's tick labels overlap: with four heatmaps on one figure that is four drawings of a
    growing figure (about 0.6 s). Inside this block seaborn skips those drawings of ``fig``; the
    caller draws it once after the last heatmap and makes seaborn's checks on each heatmap's
    labels: a label's place depends on its own axes only, so the checks decide the same
    (the rendered chart is byte-identical: tests/test_clustering.py)."""

    def draw(figure: plt.Figure) -> None:
        if figure is not fig:
            sns_utils._draw_figure(figure)

    with mock.patch.object(sns_matrix, "_draw_figure", draw):
        yield


def plot_agreement(ari: pd.DataFrame, t: Translator) -> plt.Figure:
    """Heatmap of the adjusted Rand index between methods (1 = same grouping, 0 = chance)."""
    names = [method_title(t, m) for m in ari.index]
    values = ari.astype(float).to_numpy()
    annot = np.array([[t.number(v, 2) for v in row] for row in values], dtype=object)
    fig, ax = plt.subplots(figsize=(1.5 * len(ari) + 3.0, 1.0 * len(ari) + 1.8))
    sns.heatmap(values, annot=annot, fmt="", cmap="Greens", vmin=0, vmax=1, ax=ax, square=True,
                xticklabels=[method_title(t, m) for m in ari.columns], yticklabels=names,
                cbar_kws={"label": t._("Adjusted Rand index"), "format": FuncFormatter(lambda v, _: t.number(v, 1))})
    ax.set_title(t._("Agreement between segmentation methods"))
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


#: Most points drawn on the Pareto curve (see plot_pareto).
_PARETO_POINTS = 2001


def plot_pareto(monetary, t: Translator, top: float = 0.2) -> plt.Figure:
    """Pareto (cumulative revenue) curve: share of revenue from the top x% of customers by
    spend, with the top-``top`` point marked and the line of perfect equality.

    With many customers the line is drawn through at most ``_PARETO_POINTS`` evenly spaced
    points of the curve (always including both ends): the curve is smooth and concave, so
    the picture is the same and the SVG stays small. ``monetary`` may instead be the curve
    itself, :func:`rfm_helpers.clustering.pareto_points` (computed in the engine, with the
    top share in its ``attrs``); then ``top`` must be the share it was computed for."""
    if isinstance(monetary, pd.DataFrame) and "revenue_share" in monetary.columns:
        curve, share = monetary, float(monetary.attrs["top_share"])  # computed in the engine (pareto_points)
    else:
        curve = pareto_curve(monetary)
        share = top_share(monetary, top)
    if len(curve) > _PARETO_POINTS:
        curve = curve.iloc[np.unique(np.linspace(0, len(curve) - 1, _PARETO_POINTS).round().astype(int))]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(curve["customer_share"], curve["revenue_share"], color="#4C72B0", label=t._("customers sorted by spend"))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label=t._("everyone spends the same"))
    if share == share:
        ax.scatter([top], [share], color="#C44E52", zorder=3)
        ax.annotate(t._("the top {top} bring {share} of revenue").format(top=t.percent(top, 0),
                                                                         share=t.percent(share, 0)),
                    (top, share), textcoords="offset points", xytext=(10, -18))
    ax.set_xlabel(t._("Share of customers (best first)"))
    ax.set_ylabel(t._("Share of revenue"))
    ax.set_title(t._("Pareto curve: how concentrated is revenue?"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    pct = FuncFormatter(lambda v, _: t.percent(v, 0))
    ax.xaxis.set_major_formatter(pct)
    ax.yaxis.set_major_formatter(pct)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_stability(stability: Mapping[str, pd.DataFrame], t: Translator) -> plt.Figure:
    """Bootstrap stability: adjusted Rand index of each repetition against the full-data
    fit, one row of points per method (1 = the method finds the same groups every time)."""
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(stability) + 1.6))
    for i, (key, df) in enumerate(stability.items()):
        ax.scatter(df["ari"], np.full(len(df), i), color="#4C72B0", alpha=0.8)
        ax.scatter([df["ari"].mean()], [i], marker="|", s=400, color="#C44E52")
    ax.set_yticks(range(len(stability)))
    ax.set_yticklabels([method_title(t, k) for k in stability])
    ax.set_xlim(min(0.0, min((d["ari"].min() for d in stability.values()), default=0)) - 0.02, 1.02)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: t.number(v, 1)))
    ax.set_xlabel(t._("Adjusted Rand index against the result on all data (red: mean)"))
    ax.set_title(t._("Stability under resampling"))
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
