"""The top-level ``reports/index.html``: every published monthly run, newest first.

Each row links to the month's index and notebook pages and shows the headline figures the
notebooks recorded in that month's ``summary.json``. Hidden folders (``.tmp-``, ``.failed-``,
``.old-``) are never listed: only finished runs are published under ``YYYY-MM``.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

MONTH_DIR = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def collect_runs(reports_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Published runs under ``reports_dir`` (folders named ``YYYY-MM``), newest month first.

    Each item: ``month``, ``summary`` (parsed ``summary.json`` or ``{}``), ``pages`` (list of
    ``(title, relative href)``) and ``problem`` (text when the summary is missing or unreadable).
    """
    root = Path(reports_dir)
    runs = []
    for d in sorted((p for p in root.iterdir() if p.is_dir() and MONTH_DIR.match(p.name)),
                    key=lambda p: p.name, reverse=True) if root.exists() else []:
        summary: dict[str, Any] = {}
        problem = ""
        sp = d / "summary.json"
        try:
            summary = json.loads(sp.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problem = "summary.json missing"
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problem = f"summary.json unreadable ({exc.__class__.__name__})"
        nbs = (summary.get("run") or {}).get("notebooks") or []
        if nbs:
            pages = [(n.get("title") or n.get("name"), f"{d.name}/{n.get('html')}") for n in nbs if n.get("html")]
        else:
            pages = [(p.stem, f"{d.name}/{p.name}") for p in sorted(d.glob("[0-9][0-9]_*.html"))]
        runs.append({"month": d.name, "summary": summary, "pages": pages, "problem": problem,
                     "has_index": (d / "index.html").exists()})
    return runs


#: Headline figures shown per run on the all-runs page (the month page shows them all).
MAX_FIGURES = 6


def index_html(runs: list[dict[str, Any]], language: str | None = None) -> str:
    """Render the list of runs as one self-contained page (escaped text, inline CSS); each run
    shows its first :data:`MAX_FIGURES` headline figures and links to the rest."""
    from .runner import _jinja_env, _ui, headline

    if language is None:
        language = ((runs[0]["summary"].get("run") or {}).get("language") if runs else None) or "en"
    rows = []
    for r in runs:
        run = r["summary"].get("run") or {}
        rows.append({**r, "run": run, "figures": headline(r["summary"])})
    return _jinja_env().get_template("index.html.j2").render(rows=rows, ui=_ui(language), lang=language,
                                                                max_figures=MAX_FIGURES)


def build_index(reports_dir: str | os.PathLike = "reports", language: str | None = None) -> Path:
    """Write ``reports_dir/index.html`` (atomically) and return its path."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    out = root / "index.html"
    tmp = root / f".index.html.{secrets.token_hex(4)}.tmp"
    tmp.write_text(index_html(collect_runs(root), language), encoding="utf-8")
    os.replace(tmp, out)
    return out
