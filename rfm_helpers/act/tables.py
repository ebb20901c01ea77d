"""The other per-run files: scores, campaign files and the migration list.

Each is one call on the run's :class:`~rfm_helpers.act.writer.ExportWriter`; the columns are
the schemas of :mod:`rfm_helpers.act.columns`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from .columns import schema
from .files import FileRecord
from .writer import ExportWriter

__all__ = ["write_scores", "write_excluded_customers", "write_segment_effects", "write_migration_list",
           "write_customer_value"]


def write_scores(ex: ExportWriter, rfm: pd.DataFrame, name: str = "rfm_scores.csv") -> FileRecord:
    """The per-customer scored RFM table (``rfm_scores.csv``), in the table's own order (the
    engine streams it: sorting would hold every row)."""
    return ex.write_table("rfm_scores.csv", rfm, name)


def write_excluded_customers(ex: ExportWriter, ids: pd.Series | Sequence[str],
                             name: str = "campaign_excluded_customers.csv") -> FileRecord:
    """Customers of a campaign file that are not in the data (their ids exactly as in the file)."""
    frame = pd.DataFrame({"customer_id": pd.Series(list(ids), dtype="string")})
    return ex.write_table("campaign_excluded_customers.csv", frame, name)


def write_segment_effects(ex: ExportWriter, effects: pd.DataFrame, variant: str, metric: str) -> FileRecord:
    """Per-segment effects of one variant and metric (``abtest.effects_frame``), one row each."""
    frame = effects.copy()
    for c in ("p_adjusted", "segment"):
        if c not in frame.columns:
            frame[c] = None
    frame["p_adjusted"] = pd.to_numeric(frame["p_adjusted"], errors="coerce")
    name = f"campaign_segment_effects_{variant}_{metric}.csv"
    return ex.write_table("campaign_segment_effects_<variant>_<metric>.csv", frame, name)


def write_migration_list(ex: ExportWriter, movers: pd.DataFrame, labels: Mapping[str, str], month: str) -> FileRecord:
    """Customers who moved from a valuable segment into an at-risk or churn segment this month
    (``tracking.flow_customers``), with segment keys and their labels in the run's language."""
    lab = pd.DataFrame({"segment": [str(k) for k in labels], "label": [str(v) for v in labels.values()]})
    select = ("SELECT CAST(t.customer_id AS VARCHAR) AS customer_id, CAST(t.\"from\" AS VARCHAR) AS from_segment, "
              "f.label AS from_label, CAST(t.\"to\" AS VARCHAR) AS to_segment, g.label AS to_label, "
              "t.monetary_before, t.recency_days FROM t "
              "LEFT JOIN lab AS f ON f.segment = CAST(t.\"from\" AS VARCHAR) "
              "LEFT JOIN lab AS g ON g.segment = CAST(t.\"to\" AS VARCHAR)")
    return ex.write_table("migration_at_risk_<month>.csv", movers, f"migration_at_risk_{month}.csv",
                          order_by="monetary_before DESC, customer_id", select=select, lab=lab)


def write_customer_value(ex: ExportWriter, value: pd.DataFrame, month: str) -> FileRecord:
    """The per-customer value table of notebook 06 (``rfm_helpers.value``): the columns of the
    schema that ``value`` has, highest value at risk first."""
    cols = [c for c in schema("customer_value_<month>.csv") if c.key in value.columns]
    return ex.write_table("customer_value_<month>.csv", value, f"customer_value_{month}.csv", columns=cols,
                          order_by="value_at_risk DESC NULLS LAST, customer_id")
