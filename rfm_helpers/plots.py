"""Plots of the RFM table (notebook 02). Each function returns a matplotlib Figure."""
from __future__ import annotations

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

_TEXT = {
    "en": {
        "heatmap_title": "Customers by recency and frequency score (colour: average spend)",
        "r": "Recency score (5 = bought most recently)",
        "f": "Frequency score (5 = most orders)",
        "dist_title": "How customers are spread on each RFM dimension",
        "recency": "Days since last order",
        "frequency": "Orders",
        "monetary": "Total spend",
        "customers": "Customers",
        "score_title": "Customers per score",
        "score": "Score",
        "avg_spend": "Average spend",
        "p99": " (≤ 99th percentile)",
        "log": " (log scale)",
    },
    "ru": {
        "heatmap_title": "Клиенты по давности и частоте (цвет: средняя сумма покупок)",
        "r": "Давность (5 = покупали недавно)",
        "f": "Частота (5 = больше всего заказов)",
        "dist_title": "Распределение клиентов по измерениям RFM",
        "recency": "Дней с последнего заказа",
        "frequency": "Заказов",
        "monetary": "Сумма покупок",
        "customers": "Клиентов",
        "score_title": "Клиентов на каждый балл",
        "score": "Балл",
        "avg_spend": "Средняя сумма",
        "p99": " (≤ 99-го процентиля)",
        "log": " (логарифмическая шкала)",
    },
}


def _t(language: str) -> dict:
    return _TEXT.get(language, _TEXT["en"])


def rfm_heatmap(scored: pd.DataFrame, language: str = "en", n: int = 5) -> plt.Figure:
    """R x F grid: cell text = number of customers, colour = their average monetary value.

    Empty cells (possible with heavy ties, see :func:`rfm_helpers.rfm.score_quantiles`) are
    left blank rather than shown as zero.
    """
    t = _t(language)
    scores = range(1, n + 1)
    counts = (scored.pivot_table(index="f_score", columns="r_score", values="customer_id",
                                 aggfunc="count").reindex(index=scores, columns=scores))
    spend = (scored.pivot_table(index="f_score", columns="r_score", values="monetary",
                                aggfunc="mean").reindex(index=scores, columns=scores))
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    annot = counts.map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    sns.heatmap(spend.iloc[::-1], annot=annot.iloc[::-1], fmt="", cmap="YlGnBu", ax=ax,
                cbar_kws={"label": t["avg_spend"]}, linewidths=0.5, linecolor="white")
    ax.set_xlabel(t["r"])
    ax.set_ylabel(t["f"])
    ax.set_title(t["heatmap_title"])
    fig.tight_layout()
    return fig


def rfm_distributions(rfm: pd.DataFrame, language: str = "en") -> plt.Figure:
    """Histograms of recency, frequency (log scale counts) and monetary (log x)."""
    t = _t(language)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    sns.histplot(rfm["recency_days"], bins=40, ax=axes[0], color="#4C72B0")
    axes[0].set_xlabel(t["recency"])
    freq = rfm["frequency"].clip(upper=rfm["frequency"].quantile(0.99))
    sns.histplot(freq, discrete=True, ax=axes[1], color="#55A868")
    axes[1].set_xlabel(t["frequency"] + t["p99"])
    axes[1].set_yscale("log")
    pos = rfm.loc[rfm["monetary"] > 0, "monetary"]
    if len(pos):
        sns.histplot(pos, bins=40, log_scale=True, ax=axes[2], color="#C44E52")
    axes[2].set_xlabel(t["monetary"] + t["log"])
    for ax in axes:
        ax.set_ylabel(t["customers"])
    fig.suptitle(t["dist_title"])
    fig.tight_layout()
    return fig


def score_counts(scored: pd.DataFrame, language: str = "en", n: int = 5) -> plt.Figure:
    """Bar charts of customers per R, F and M score: shows where ties left scores empty."""
    t = _t(language)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
    for ax, col, name in zip(axes, ["r_score", "f_score", "m_score"], ["R", "F", "M"]):
        counts = scored[col].value_counts().reindex(range(1, n + 1), fill_value=0)
        ax.bar(counts.index.astype(str), counts.values, color="#8172B2")
        ax.set_title(name)
        ax.set_xlabel(t["score"])
    axes[0].set_ylabel(t["customers"])
    fig.suptitle(t["score_title"])
    fig.tight_layout()
    return fig


def score_table(scored: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Per score: customers and the value range it covers, for R, F and M (aggregate only)."""
    rows = []
    for dim, col, val in [("R", "r_score", "recency_days"), ("F", "f_score", "frequency"),
                          ("M", "m_score", "monetary")]:
        g = scored.groupby(col)[val].agg(["count", "min", "max"])
        for s in range(1, n + 1):
            if s in g.index:
                rows.append({"dimension": dim, "score": s, "customers": int(g.loc[s, "count"]),
                             "from": g.loc[s, "min"], "to": g.loc[s, "max"]})
            else:
                rows.append({"dimension": dim, "score": s, "customers": 0, "from": np.nan, "to": np.nan})
    return pd.DataFrame(rows)
