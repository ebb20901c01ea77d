"""The load report's chart: orders and revenue per month (numbers from
:func:`rfm_helpers.load.monthly_activity`, words and money format from the run's translator)."""
from __future__ import annotations

import pandas as pd

from ..i18n import Translator

__all__ = ["plot_monthly_activity"]


def plot_monthly_activity(activity: pd.DataFrame, t: Translator):
    """Two panels, orders per month and revenue per month (bars), so a gap, a spike or a cut-off
    at the end of the data is visible at a glance. ``activity``: ``monthly_activity(clean)``."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    x = (activity["month"].dt.to_timestamp() + pd.Timedelta(days=15)) if len(activity) else []
    ax1.bar(x, activity["orders"], width=24, color="#4C72B0")
    ax1.set_ylabel(t._("orders (rows)"))
    ax1.set_title(t._("Orders per month"))
    ax2.bar(x, activity["revenue"], width=24, color="#55A868")
    ax2.set_ylabel(t._("revenue ({currency})").format(currency=t.currency_symbol()))
    ax2.set_title(t._("Revenue per month"))
    ax2.set_xlabel(t._("month"))
    for ax in (ax1, ax2):
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: t.integer(v)))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
