"""Segment tracking over months (notebook 05): snapshots, transitions, movements.

* :mod:`rfm_helpers.tracking.monthly` - what notebook 05 runs: :func:`track_months` builds the
  missing monthly snapshots in the engine in one multi-month pass, writes them as Parquet and
  computes every table of the page from engine aggregates (:class:`MonthlyTracking`); pandas
  sees aggregates only, so it scales with the engine, not with customers x months.
* :mod:`rfm_helpers.tracking.frames` - the same definitions on snapshot frames in pandas (the
  original path): month helpers, snapshot paths and settings, and the analysis functions
  (``transition_matrix``, ``movements``, ``churn_flows``...). Kept as the reference the
  engine path is tested against and for small hand-made snapshots.

The definitions (snapshots, value order, churn segments) are documented in
:mod:`~rfm_helpers.tracking.frames`.
"""
from __future__ import annotations

from .frames import *  # noqa: F401,F403
from .frames import SNAPSHOT_COLUMNS, __all__ as _frames_all  # noqa: F401
from .monthly import SNAPSHOT_SCHEMA, MonthlyTracking, snapshot_settings, track_months  # noqa: F401

__all__ = [*_frames_all, "SNAPSHOT_COLUMNS", "SNAPSHOT_SCHEMA", "MonthlyTracking", "track_months",
           "snapshot_settings"]
