"""The top-level ``reports/index.html``: every published monthly run, newest first.

Each row links to the month's index and notebook pages and shows a few decision figures of
that month's ``summary.json`` (:func:`run_figures`; money in that run's currency). Hidden
folders (``.tmp-``, ``.failed-``, ``.old-``) are never listed: only finished runs are
published under ``YYYY-MM``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from . import executive
from .i18n import DEFAULT_CURRENCY, Translator, available_languages, translator
from .publish import write_text_atomic
from .templating import headline, jinja_env
from .texts.executive import index_figures
from .texts.run import problem_text

__all__ = ["MONTH_DIR", "MAX_FIGURES", "collect_runs", "run_figures", "index_html", "build_index"]

MONTH_DIR = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
#: Figures shown per run on the all-runs page at most (the month page has the rest).
MAX_FIGURES = 6


def collect_runs(reports_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Published runs under ``reports_dir`` (folders named ``YYYY-MM``), newest month first.

    Each item: ``month``, ``summary`` (parsed ``summary.json`` or ``{}``), ``pages`` (list of
    ``(title, relative href)``), ``problem`` (``None`` or ``{"code": "summary_missing"}`` /
    ``{"code": "summary_unreadable", "error": ...}``) and ``has_index``.
    """
    root = Path(reports_dir)
    runs = []
    for d in sorted((p for p in root.iterdir() if p.is_dir() and MONTH_DIR.match(p.name)),
                    key=lambda p: p.name, reverse=True) if root.exists() else []:
        summary: dict[str, Any] = {}
        problem = None
        try:
            summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            problem = {"code": "summary_missing"}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problem = {"code": "summary_unreadable", "error": exc.__class__.__name__}
        nbs = (summary.get("run") or {}).get("notebooks") or []
        if nbs:
            pages = [(n.get("title") or n.get("name"), f"{d.name}/{n.get('html')}") for n in nbs if n.get("html")]
        else:
            pages = [(p.stem, f"{d.name}/{p.name}") for p in sorted(d.glob("[0-9][0-9]_*.html"))]
        runs.append({"month": d.name, "summary": summary, "pages": pages, "problem": problem,
                     "has_index": (d / "index.html").exists()})
    return runs


def run_figures(summary: dict[str, Any], t: Translator) -> list[tuple[str, str]]:
    """The decision figures of one run for the all-runs page: customers, active customers and
    revenue with their change against the previous month, and what moved into at-risk or churn
    segments (:mod:`rfm_helpers.report.executive`); a run without executive figures shows its
    headline figures."""
    ex = executive.build(summary)
    return index_figures(ex, t) if ex else headline(summary, t)


def index_html(runs: list[dict[str, Any]], language: str | None = None) -> str:
    """The list of runs as one self-contained page (escaped text, inline CSS) in ``language``
    (default: the newest run's); each run shows its first :data:`MAX_FIGURES` headline
    figures, formatted in its own currency, and links to the rest."""
    if language is None:
        language = ((runs[0]["summary"].get("run") or {}).get("language") if runs else None) or "en"
    if language not in available_languages():
        language = "en"
    t = translator(language, DEFAULT_CURRENCY)
    rows = []
    for r in runs:
        run = r["summary"].get("run") or {}
        t_run = translator(language, run.get("currency") or DEFAULT_CURRENCY)
        code = (r["summary"].get("manifest") or {}).get("code") or {}
        rows.append({**r, "run": run, "figures": run_figures(r["summary"], t_run),
                     "problem_text": problem_text(r["problem"], t), "commit": (code.get("commit") or "")[:12],
                     "dirty": bool(code.get("dirty"))})
    return jinja_env(t).get_template("index.html.j2").render(rows=rows, lang=language, max_figures=MAX_FIGURES)


def build_index(reports_dir: str | os.PathLike = "reports", language: str | None = None) -> Path:
    """Write ``reports_dir/index.html`` (atomically) and return its path."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    out = root / "index.html"
    write_text_atomic(out, index_html(collect_runs(root), language))
    return out
