"""Headline figures recorded by notebooks into the run's ``summary.json``.

The runner sets ``RFM_RUN_DIR`` (or notebooks pass ``run_dir``); each notebook calls
:func:`record` for the few numbers a stakeholder wants on the index page. Without a run
directory (interactive use) records are kept in memory only.

A value is a number (or a short code such as a segment label) with a display format;
the month page and the index format it for the report's locale and currency
(:func:`rfm_helpers.report.templating.format_value`): ``fmt="money"`` shows
``$2,500,316`` in an English USD report and ``2 500 316 ₽`` in a Russian RUB one.

Notebooks of one run may execute at the same time (:mod:`rfm_helpers.report.run`): a kernel
started by the runner (``RFM_NOTEBOOK`` names its notebook) writes its records into its own
part, ``.summary/<notebook>.json`` in the run directory, never into a file another kernel
writes. :func:`load` sees ``summary.json`` and every part, merged in notebook-name order;
:func:`collect` (the runner, once the notebooks are done) merges the parts into
``summary.json``. So the file is the same whichever notebook finished first: the sections and
their entries come in notebook order, as when the notebooks ran one after another.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..paths import RUN_DIR_ENV

SUMMARY_FILE = "summary.json"
#: Folder of the run directory holding one part per notebook kernel (see the module's docstring).
PARTS_DIR = ".summary"
#: Environment variable naming the notebook a runner's kernel executes (set by the runner).
NOTEBOOK_ENV = "RFM_NOTEBOOK"
#: Key of a part listing its sections stored whole (:func:`record_section`), which replace
#: rather than join the same section of an earlier part.
_WHOLE = "__whole_sections__"
_memory: dict[str, dict[str, Any]] = {}


def _target(run_dir: str | os.PathLike | None) -> Path | None:
    d = run_dir or os.environ.get(RUN_DIR_ENV)
    return Path(d) / SUMMARY_FILE if d else None


#: Display formats understood by the report pages (see :func:`rfm_helpers.report.templating.format_value`).
FORMATS = ("int", "float", "pct", "money", "pvalue", "text")


def record(key: str, value: Any, label: str | None = None, *, section: str = "headline",
           run_dir: str | os.PathLike | None = None, fmt: str | None = None,
           tags: dict[str, Any] | None = None) -> None:
    """Record a JSON-serialisable ``value`` under ``section``/``key`` with a display label.

    ``fmt`` tells the pages how to show it: ``"pct"`` for a 0..1 share (0.677 -> 67.7%),
    ``"money"`` (an amount in the run's currency; record the plain number), ``"int"``,
    ``"float"``, ``"pvalue"`` or ``"text"``; default: by type. ``tags``: machine-readable
    flags kept with the entry (``{"demo": True, "campaign": "demo"}`` marks a figure of the
    simulated demonstration campaign).
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    entry = {"value": value, "label": label or key.replace("_", " ").capitalize()}
    if fmt:
        entry["fmt"] = fmt
    if tags:
        entry.update({k: v for k, v in tags.items() if k not in ("value", "label", "fmt")})
    _write_entry(section, key, entry, run_dir)


def record_section(section: str, value: Any, *, run_dir: str | os.PathLike | None = None) -> None:
    """Store a whole JSON-serialisable ``value`` as ``summary.json[section]`` (machine-readable
    data such as the ``campaigns`` section; not shown as headline figures)."""
    path = _own_file(run_dir)
    data = _read(path) if path else _memory
    data[section] = value
    if path is not None and path.parent.name == PARTS_DIR:  # merged as a whole, not entry by entry
        data[_WHOLE] = sorted({*data.get(_WHOLE, []), section})
    _save(data, path)


def _write_entry(section: str, key: str, entry: dict[str, Any], run_dir: str | os.PathLike | None) -> None:
    path = _own_file(run_dir)
    data = _read(path) if path else _memory
    data.setdefault(section, {})[key] = entry
    _save(data, path)


def _own_file(run_dir: str | os.PathLike | None) -> Path | None:
    """The file this process writes its records into: its notebook's part in a runner's
    kernel, else ``summary.json`` itself (``None``: no run directory, records in memory)."""
    path = _target(run_dir)
    notebook = os.environ.get(NOTEBOOK_ENV, "")
    if path is None or not notebook:
        return path
    return path.parent / PARTS_DIR / f"{_part_name(notebook)}.json"


def _part_name(notebook: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in notebook).lstrip(".") or "notebook"


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _save(data: dict[str, Any], path: Path | None) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, path)


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Add ``part`` to ``into`` as if its records were made after those of ``into``: an entry
    of a section replaces the entry of the same key (keeping its place); a section stored whole
    (or that is not a mapping of entries) replaces the section."""
    whole = set(part.get(_WHOLE, ()))
    for section, value in part.items():
        if section == _WHOLE:
            continue
        if section not in whole and isinstance(value, dict) and isinstance(into.get(section), dict):
            into[section].update(value)
        else:
            into[section] = value


def _parts(path: Path) -> list[Path]:
    folder = path.parent / PARTS_DIR
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def load(run_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The recorded figures (empty dict when nothing was recorded yet): ``summary.json`` and
    the notebooks' parts, merged in notebook-name order."""
    path = _target(run_dir)
    if path is None:
        return _memory
    data = _read(path)
    for part in _parts(path):
        _merge(data, _read(part))
    return data


def collect(run_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Merge the notebooks' parts into ``summary.json`` (in notebook-name order) and remove
    them; returns the merged figures. Called by the runner once no notebook runs."""
    path = _target(run_dir)
    if path is None:
        raise ValueError("collect needs a run directory")
    data = load(run_dir)
    parts = _parts(path)
    if parts:
        _save(data, path)
        for part in parts:
            part.unlink()
        with contextlib.suppress(OSError):
            (path.parent / PARTS_DIR).rmdir()
    return data
