"""Plots for segmentation (notebook 03). Each function returns a matplotlib Figure; titles and
axis labels follow ``language`` ("en" or "ru")."""
from __future__ import annotations

from typing import Mapping

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .clustering import pareto_curve, top_share  # noqa: E402

_TEXT = {
    "en": {
        "user_k": "number of clusters set by the user", "chosen": "chosen k = {k}",
        "higher": "higher is better", "lower": "lower is better",
        "k_title": "{name}: {crit} by number of clusters", "k": "Number of clusters (k)",
        "pct_customers": "% of customers", "pct_revenue": "% of revenue", "share": "Share, %",
        "shares_title": "Segment sizes and revenue by method",
        "profile_cols": ["Days since last order", "Orders", "Spend"], "profiles_title": "Segment profiles (medians)",
        "ari": "Adjusted Rand index", "ari_title": "Agreement between segmentation methods",
        "pareto_curve": "customers sorted by spend", "pareto_equal": "everyone spends the same",
        "pareto_note": "top {top:.0f}% bring {share:.0f}% of revenue",
        "pareto_x": "Share of customers (best first), %", "pareto_y": "Share of revenue, %",
        "pareto_title": "Pareto curve: how concentrated is revenue?",
        "stab_x": "Adjusted Rand index vs. the full-data result (red: mean)", "stab_title": "Stability under resampling",
        "criteria": {"silhouette": "silhouette", "BIC": "BIC"},
    },
    "ru": {
        "user_k": "число кластеров задано пользователем", "chosen": "выбрано k = {k}",
        "higher": "чем больше, тем лучше", "lower": "чем меньше, тем лучше",
        "k_title": "{name}: {crit} в зависимости от числа кластеров", "k": "Число кластеров (k)",
        "pct_customers": "% клиентов", "pct_revenue": "% выручки", "share": "Доля, %",
        "shares_title": "Размер сегментов и их выручка по методам",
        "profile_cols": ["Дней с последнего заказа", "Заказов", "Сумма покупок"],
        "profiles_title": "Профили сегментов (медианы)",
        "ari": "Скорректированный индекс Рэнда", "ari_title": "Согласованность методов сегментации",
        "pareto_curve": "клиенты по убыванию трат", "pareto_equal": "все тратят одинаково",
        "pareto_note": "топ-{top:.0f}% дают {share:.0f}% выручки",
        "pareto_x": "Доля клиентов (сначала лучшие), %", "pareto_y": "Доля выручки, %",
        "pareto_title": "Кривая Парето: насколько сконцентрирована выручка?",
        "stab_x": "Скорректированный индекс Рэнда относительно результата на всех данных (красным: среднее)",
        "stab_title": "Устойчивость при повторных выборках",
        "criteria": {"silhouette": "силуэт", "BIC": "BIC"},
    },
}


def _t(language: str) -> dict:
    return _TEXT["ru" if language == "ru" else "en"]


__all__ = ["plot_k_selection", "plot_segment_shares", "plot_segment_profiles", "plot_agreement",
           "plot_pareto", "plot_stability"]


def plot_k_selection(k_scores: Mapping[str, pd.DataFrame], chosen: Mapping[str, int],
                     language: str = "en") -> plt.Figure:
    """How the number of clusters was chosen: silhouette by k (k-means, higher is better) and
    BIC by k (Gaussian mixture, lower is better), the chosen k marked.

    ``k_scores`` maps a method name to its ``ClusterSegmenter.k_scores_`` table (columns
    ``k``, ``criterion``, ``value``); ``chosen`` maps the same names to the k used."""
    items = [(n, df) for n, df in k_scores.items() if df is not None and not df.empty]
    fig, axes = plt.subplots(1, max(len(items), 1), figsize=(5.5 * max(len(items), 1), 3.8), squeeze=False)
    if not items:
        axes[0, 0].text(0.5, 0.5, _t(language)["user_k"], ha="center", va="center")
        axes[0, 0].set_axis_off()
        return fig
    for ax, (name, df) in zip(axes[0], items):
        crit = str(df["criterion"].iloc[0])
        shown_crit = _t(language)["criteria"].get(crit, crit)
        ax.plot(df["k"], df["value"], marker="o", color="#4C72B0")
        k = chosen.get(name)
        if k is not None and k in set(df["k"]):
            ax.scatter([k], df.loc[df["k"] == k, "value"], s=160, facecolors="none",
                       edgecolors="#C44E52", linewidths=2, zorder=3, label=_t(language)["chosen"].format(k=k))
            ax.legend(loc="best")
        better = _t(language)["higher" if crit.lower().startswith("sil") else "lower"]
        ax.set_title(_t(language)["k_title"].format(name=name, crit=shown_crit))
        ax.set_xlabel(_t(language)["k"])
        ax.set_ylabel(f"{shown_crit} ({better})")
        ax.set_xticks(df["k"])
    fig.tight_layout()
    return fig


def plot_segment_shares(tables: Mapping[str, pd.DataFrame], language: str = "en") -> plt.Figure:
    """Share of customers and share of revenue per segment, one panel per method.

    ``tables`` maps a method name to a :func:`rfm_helpers.clustering.segment_table`."""
    n = len(tables)
    heights = [max(len(t), 1) for t in tables.values()]
    fig, axes = plt.subplots(n, 1, figsize=(9, 0.42 * sum(heights) + 1.3 * n),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for i, (ax, (name, t)) in enumerate(zip(axes[:, 0], tables.items())):
        y = np.arange(len(t))
        ax.barh(y - 0.2, 100 * t["customer_share"], height=0.4, label=_t(language)["pct_customers"], color="#4C72B0")
        ax.barh(y + 0.2, 100 * t["revenue_share"], height=0.4, label=_t(language)["pct_revenue"], color="#DD8452")
        ax.set_yticks(y)
        ax.set_yticklabels(t["label"].astype(str))
        ax.invert_yaxis()
        ax.set_title(name)
        ax.set_xlabel(_t(language)["share"])
        if i == 0:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle(_t(language)["shares_title"])
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def plot_segment_profiles(tables: Mapping[str, pd.DataFrame], language: str = "en") -> plt.Figure:
    """Per-segment RFM profile for each method: median days since last order, median orders
    and median spend. Colours compare segments within a column (darker = better customers:
    more recent, more orders, higher spend); numbers are the actual medians."""
    n = len(tables)
    heights = [max(len(t), 1) for t in tables.values()]
    fig, axes = plt.subplots(n, 1, figsize=(8, 0.38 * sum(heights) + 1.2 * n),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    cols = ["median_recency_days", "median_frequency", "median_monetary"]
    names = _t(language)["profile_cols"]
    for ax, (name, t) in zip(axes[:, 0], tables.items()):
        vals = t[cols].astype("float64")
        goodness = vals.copy()
        goodness["median_recency_days"] = -goodness["median_recency_days"]
        rng = (goodness.max() - goodness.min()).replace(0, 1)
        colour = (goodness - goodness.min()) / rng
        annot = vals.map(lambda v: f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.1f}")
        sns.heatmap(colour.to_numpy(), annot=annot.to_numpy(), fmt="", cmap="Blues", vmin=0, vmax=1,
                    cbar=False, ax=ax, yticklabels=t["label"].astype(str).tolist(), xticklabels=names,
                    linewidths=0.5)
        ax.set_title(name)
        ax.set_ylabel("")
        ax.tick_params(axis="y", rotation=0)
    fig.suptitle(_t(language)["profiles_title"])
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def plot_agreement(ari: pd.DataFrame, language: str = "en") -> plt.Figure:
    """Heatmap of the adjusted Rand index between methods (1 = same grouping, 0 = chance)."""
    fig, ax = plt.subplots(figsize=(1.3 * len(ari) + 2.5, 1.0 * len(ari) + 1.5))
    sns.heatmap(ari.astype(float), annot=True, fmt=".2f", cmap="Greens", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": _t(language)["ari"]}, square=True)
    ax.set_title(_t(language)["ari_title"])
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


#: Most points drawn on the Pareto curve (see plot_pareto).
_PARETO_POINTS = 2001


def plot_pareto(monetary, top: float = 0.2, language: str = "en") -> plt.Figure:
    """Pareto (cumulative revenue) curve: share of revenue from the top x% of customers by
    spend, with the top-``top`` point marked and the line of perfect equality.

    With many customers the line is drawn through at most ``_PARETO_POINTS`` evenly spaced
    points of the curve (always including both ends): the curve is smooth and concave, so
    the picture is the same and the SVG stays small."""
    curve = pareto_curve(monetary)
    if len(curve) > _PARETO_POINTS:
        curve = curve.iloc[np.unique(np.linspace(0, len(curve) - 1, _PARETO_POINTS).round().astype(int))]
    share = top_share(monetary, top)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(100 * curve["customer_share"], 100 * curve["revenue_share"], color="#4C72B0",
            label=_t(language)["pareto_curve"])
    ax.plot([0, 100], [0, 100], ls="--", color="grey", label=_t(language)["pareto_equal"])
    if share == share:
        ax.scatter([100 * top], [100 * share], color="#C44E52", zorder=3)
        ax.annotate(_t(language)["pareto_note"].format(top=100 * top, share=100 * share),
                    (100 * top, 100 * share), textcoords="offset points", xytext=(10, -18))
    ax.set_xlabel(_t(language)["pareto_x"])
    ax.set_ylabel(_t(language)["pareto_y"])
    ax.set_title(_t(language)["pareto_title"])
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_stability(stability: Mapping[str, pd.DataFrame], language: str = "en") -> plt.Figure:
    """Bootstrap stability: adjusted Rand index of each repetition against the full-data
    fit, one row of points per method (1 = the method finds the same groups every time)."""
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(stability) + 1.6))
    for i, (name, df) in enumerate(stability.items()):
        ax.scatter(df["ari"], np.full(len(df), i), color="#4C72B0", alpha=0.8)
        ax.scatter([df["ari"].mean()], [i], marker="|", s=400, color="#C44E52")
    ax.set_yticks(range(len(stability)))
    ax.set_yticklabels(list(stability))
    ax.set_xlim(min(0.0, min((d["ari"].min() for d in stability.values()), default=0)) - 0.02, 1.02)
    ax.set_xlabel(_t(language)["stab_x"])
    ax.set_title(_t(language)["stab_title"])
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
