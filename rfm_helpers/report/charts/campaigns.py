"""Charts for campaign A/B tests. Every function returns a matplotlib Figure."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .abtest import METRICS, Effect, SRMResult  # noqa: E402

#: Chart labels in English and Russian (the ``language`` argument of every chart).
_TEXT = {
    "en": {"points": "difference, percentage points", "money": "difference per customer, $",
           "count": "difference per customer", "none": "No segment large enough to compare",
           "xlabel": "{x} (treated − control), {conf}% CI", "title": "Campaign effect on {name} by segment",
           "legend": "filled = significant after correction; hollow = not",
           "planned": "planned", "observed": "observed", "customers": "customers", "ok": "OK",
           "mismatch": "MISMATCH", "srm_title": "Group sizes vs plan: {status} (p = {p})",
           "y_points": "% of customers", "y_money": "$ per customer", "y_count": "per customer",
           "outcomes": "Outcomes in the window after sending, by group", "none_mde": "No segment large enough",
           "mde_x": "smallest conversion lift detectable, percentage points (80% power)",
           "mde_title": "Planning the next campaign: detectable effect per segment",
           "metrics": {m: v[0] for m, v in METRICS.items()}},
    "ru": {"points": "разница, п.п.", "money": "разница на клиента, $",
           "count": "разница на клиента", "none": "Нет сегментов достаточного размера для сравнения",
           "xlabel": "{x} (рассылка − контроль), {conf}% ДИ", "title": "Эффект кампании по сегментам: {name}",
           "legend": "закрашенные — значимые после поправки; пустые — нет",
           "planned": "план", "observed": "факт", "customers": "клиентов", "ok": "в норме",
           "mismatch": "НЕСООТВЕТСТВИЕ", "srm_title": "Размеры групп и план: {status} (p = {p})",
           "y_points": "% клиентов", "y_money": "$ на клиента", "y_count": "на клиента",
           "outcomes": "Результаты в окне после рассылки по группам", "none_mde": "Нет сегментов достаточного размера",
           "mde_x": "минимальный обнаружимый прирост конверсии, п.п. (мощность 80%)",
           "mde_title": "Планирование следующей кампании: обнаружимый эффект по сегментам",
           "metrics": {"converted": "конверсия", "revenue": "выручка на клиента", "orders": "заказы на клиента"}},
}


def _scale(metric: str, language: str = "en") -> tuple[float, str]:
    T = _TEXT.get(language, _TEXT["en"])
    kind = METRICS.get(metric, (metric, "count"))[1]
    if kind == "points":
        return 100.0, T["points"]
    if kind == "money":
        return 1.0, T["money"]
    return 1.0, T["count"]


def forest_plot(effects: Sequence[Effect], title: str | None = None, language: str = "en") -> plt.Figure:
    """Forest plot: one row per segment (or variant) with the effect and its confidence
    interval; filled markers where the (multiplicity-adjusted) p-value is below alpha.
    The dashed line at zero is "no effect"."""
    T = _TEXT.get(language, _TEXT["en"])
    effects = list(effects)
    fig, ax = plt.subplots(figsize=(8, 0.5 * max(len(effects), 2) + 1.5))
    if not effects:
        ax.text(0.5, 0.5, T["none"], ha="center", va="center")
        ax.set_axis_off()
        return fig
    k, xlabel = _scale(effects[0].metric, language)
    labels = [e.segment or e.group for e in effects]
    y = np.arange(len(effects))[::-1]
    for yi, e in zip(y, effects):
        color = "tab:blue" if e.significant else "tab:gray"
        ax.plot([k * e.ci_low, k * e.ci_high], [yi, yi], color=color, lw=2)
        ax.plot(k * e.diff, yi, "o", color=color, mfc=color if e.significant else "white", ms=7)
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.set_yticks(y, labels)
    conf = 100 * (1 - effects[0].alpha)
    ax.set_xlabel(T["xlabel"].format(x=xlabel, conf=f"{conf:g}"))
    name = T["metrics"].get(effects[0].metric, effects[0].metric)
    ax.set_title(title or T["title"].format(name=name))
    ax.text(1.0, -0.12 - 0.02 * len(effects) ** 0.5, T["legend"],
            transform=ax.transAxes, ha="right", va="top", fontsize=8, color="dimgray")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def srm_plot(srm: SRMResult, language: str = "en") -> plt.Figure:
    """Observed vs planned customers per group (the sample-ratio check), red when it failed."""
    T = _TEXT.get(language, _TEXT["en"])
    groups = list(srm.observed)
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x - 0.2, [srm.expected[g] for g in groups], 0.4, label=T["planned"], color="lightgray")
    ax.bar(x + 0.2, [srm.observed[g] for g in groups], 0.4, label=T["observed"],
           color="tab:green" if srm.passed else "tab:red")
    ax.set_xticks(x, groups)
    ax.set_ylabel(T["customers"])
    status = T["ok"] if srm.passed else T["mismatch"]
    ax.set_title(T["srm_title"].format(status=status, p=f"{srm.p_value:.3g}"))
    ax.legend()
    fig.tight_layout()
    return fig


def outcome_bars(customers: pd.DataFrame, groups: Sequence[str], language: str = "en") -> plt.Figure:
    """Conversion, revenue and orders per customer by group (means with 95% normal intervals)."""
    T = _TEXT.get(language, _TEXT["en"])
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    for ax, (col, (name, kind)) in zip(axes, METRICS.items()):
        g = customers.groupby("group", observed=True)[col]
        m = g.mean().reindex(groups)
        se = (g.std(ddof=1) / np.sqrt(g.count())).reindex(groups)
        k = 100.0 if kind == "points" else 1.0
        ax.bar(range(len(groups)), k * m, yerr=1.96 * k * se, capsize=4,
               color=["lightgray"] + ["tab:blue"] * (len(groups) - 1))
        ax.set_xticks(range(len(groups)), groups)
        ax.set_title(T["metrics"].get(col, name))
        ax.set_ylabel({"points": T["y_points"], "money": T["y_money"]}.get(kind, T["y_count"]))
    fig.suptitle(T["outcomes"])
    fig.tight_layout()
    return fig


def mde_plot(power: pd.DataFrame, by: str = "segment_label", language: str = "en") -> plt.Figure:
    """Minimum detectable conversion lift per segment for the next campaign (percentage points)."""
    T = _TEXT.get(language, _TEXT["en"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(power), 2) + 1.5))
    if power.empty:
        ax.text(0.5, 0.5, T["none_mde"], ha="center", va="center")
        ax.set_axis_off()
        return fig
    d = power.sort_values("mde_conversion")
    ax.barh(d[by].astype(str), 100 * d["mde_conversion"], color="tab:purple")
    ax.set_xlabel(T["mde_x"])
    ax.set_title(T["mde_title"])
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
