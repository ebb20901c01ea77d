"""Charts for campaign A/B tests. Every function returns a matplotlib Figure."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .abtest import METRICS, Effect, SRMResult  # noqa: E402


def _scale(metric: str) -> tuple[float, str]:
    kind = METRICS.get(metric, (metric, "count"))[1]
    if kind == "points":
        return 100.0, "difference, percentage points"
    if kind == "money":
        return 1.0, "difference per customer, $"
    return 1.0, "difference per customer"


def forest_plot(effects: Sequence[Effect], title: str | None = None) -> plt.Figure:
    """Forest plot: one row per segment (or variant) with the effect and its confidence
    interval; filled markers where the (multiplicity-adjusted) p-value is below alpha.
    The dashed line at zero is "no effect"."""
    effects = list(effects)
    fig, ax = plt.subplots(figsize=(8, 0.5 * max(len(effects), 2) + 1.5))
    if not effects:
        ax.text(0.5, 0.5, "No segment large enough to compare", ha="center", va="center")
        ax.set_axis_off()
        return fig
    k, xlabel = _scale(effects[0].metric)
    labels = [e.segment or e.group for e in effects]
    y = np.arange(len(effects))[::-1]
    for yi, e in zip(y, effects):
        color = "tab:blue" if e.significant else "tab:gray"
        ax.plot([k * e.ci_low, k * e.ci_high], [yi, yi], color=color, lw=2)
        ax.plot(k * e.diff, yi, "o", color=color, mfc=color if e.significant else "white", ms=7)
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.set_yticks(y, labels)
    conf = 100 * (1 - effects[0].alpha)
    ax.set_xlabel(f"{xlabel} (treated − control), {conf:g}% CI")
    name = METRICS.get(effects[0].metric, (effects[0].metric,))[0]
    ax.set_title(title or f"Campaign effect on {name} by segment")
    ax.text(1.0, -0.12 - 0.02 * len(effects) ** 0.5, "filled = significant after correction; hollow = not",
            transform=ax.transAxes, ha="right", va="top", fontsize=8, color="dimgray")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def srm_plot(srm: SRMResult) -> plt.Figure:
    """Observed vs planned customers per group (the sample-ratio check), red when it failed."""
    groups = list(srm.observed)
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x - 0.2, [srm.expected[g] for g in groups], 0.4, label="planned", color="lightgray")
    ax.bar(x + 0.2, [srm.observed[g] for g in groups], 0.4, label="observed",
           color="tab:green" if srm.passed else "tab:red")
    ax.set_xticks(x, groups)
    ax.set_ylabel("customers")
    status = "OK" if srm.passed else "MISMATCH"
    ax.set_title(f"Group sizes vs plan: {status} (p = {srm.p_value:.3g})")
    ax.legend()
    fig.tight_layout()
    return fig


def outcome_bars(customers: pd.DataFrame, groups: Sequence[str]) -> plt.Figure:
    """Conversion, revenue and orders per customer by group (means with 95% normal intervals)."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    for ax, (col, (name, kind)) in zip(axes, METRICS.items()):
        g = customers.groupby("group", observed=True)[col]
        m = g.mean().reindex(groups)
        se = (g.std(ddof=1) / np.sqrt(g.count())).reindex(groups)
        k = 100.0 if kind == "points" else 1.0
        ax.bar(range(len(groups)), k * m, yerr=1.96 * k * se, capsize=4,
               color=["lightgray"] + ["tab:blue"] * (len(groups) - 1))
        ax.set_xticks(range(len(groups)), groups)
        ax.set_title(name)
        ax.set_ylabel({"points": "% of customers", "money": "$ per customer"}.get(kind, "per customer"))
    fig.suptitle("Outcomes in the window after sending, by group")
    fig.tight_layout()
    return fig


def mde_plot(power: pd.DataFrame, by: str = "segment_label") -> plt.Figure:
    """Minimum detectable conversion lift per segment for the next campaign (percentage points)."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(power), 2) + 1.5))
    if power.empty:
        ax.text(0.5, 0.5, "No segment large enough", ha="center", va="center")
        ax.set_axis_off()
        return fig
    d = power.sort_values("mde_conversion")
    ax.barh(d[by].astype(str), 100 * d["mde_conversion"], color="tab:purple")
    ax.set_xlabel("smallest conversion lift detectable, percentage points (80% power)")
    ax.set_title("Planning the next campaign: detectable effect per segment")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
