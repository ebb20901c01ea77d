"""Headline figures recorded by notebooks into the run's ``summary.json``.

The runner sets ``RFM_RUN_DIR`` (or notebooks pass ``run_dir``); each notebook calls
:func:`record` for the few numbers a stakeholder wants on the index page. Without a run
directory (interactive use) records are kept in memory only.

A value is a number (or a short code such as a segment label) with a display format;
the month page and the index format it for the report's locale and currency
(:func:`rfm_helpers.report.templating.format_value`): ``fmt="money"`` shows
``$2,500,316`` in an English USD report and ``2 500 316 ₽`` in a Russian RUB one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..paths import RUN_DIR_ENV

SUMMARY_FILE = "summary.json"
_memory: dict[str, dict[str, Any]] = {}


def _target(run_dir: str | os.PathLike | None) -> Path | None:
    d = run_dir or os.environ.get(RUN_DIR_ENV)
    return Path(d) / SUMMARY_FILE if d else None


#: Display formats understood by the report pages (see :func:`rfm_helpers.report.templating.format_value`).
FORMATS = ("int", "float", "pct", "money", "pvalue", "text")


def record(key: str, value: Any, label: str | None = None, *, section: str = "headline",
           run_dir: str | os.PathLike | None = None, fmt: str | None = None) -> None:
    """Record a JSON-serialisable ``value`` under ``section``/``key`` with a display label.

    ``fmt`` tells the pages how to show it: ``"pct"`` for a 0..1 share (0.677 -> 67.7%),
    ``"money"`` (an amount in the run's currency; record the plain number), ``"int"``,
    ``"float"``, ``"pvalue"`` or ``"text"``; default: by type.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    entry = {"value": value, "label": label or key.replace("_", " ").capitalize()}
    if fmt:
        entry["fmt"] = fmt
    path = _target(run_dir)
    data = load(run_dir) if path else _memory
    data.setdefault(section, {})[key] = entry
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, path)


def load(run_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The recorded figures (empty dict when nothing was recorded yet)."""
    path = _target(run_dir)
    if path is None:
        return _memory
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
