"""Monthly report runs: execute every notebook with papermill and publish HTML atomically.

A run for month ``YYYY-MM`` renders ``notebooks/NN_*.ipynb`` (name order) into a hidden temp
folder beside the target (``reports/.tmp-YYYY-MM-<random>/``): one executed ``.ipynb`` and one
self-contained HTML page (code hidden, images embedded, no external requests) per notebook,
a month ``index.html`` and ``summary.json`` (headline figures recorded by the notebooks through
:mod:`rfm_helpers.summary` plus run metadata). Only when every notebook succeeded is the temp
folder swapped into ``reports/YYYY-MM/``; a failed run leaves the previous good report untouched,
keeps its partial output under ``reports/.failed-YYYY-MM/`` for debugging and raises
:class:`NotebookFailed` naming the notebook and the cell.

Secrets never become notebook parameters (papermill writes parameters into the executed
notebook): credentials reach the loader through environment variables only, parameters that
look like credentials are refused, and any secret-looking environment value that still shows up
in an output is redacted before anything is written to ``reports/``.
"""
from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import json
import os
import re
import secrets as _secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

import nbformat

from . import __version__
from .pipeline import CACHE_DIR
from .summary import SUMMARY_FILE

#: Parameters every notebook may declare; only the declared ones are passed.
STANDARD_PARAMETERS = ("analysis_date", "source_config", "window_days", "language", "run_dir")
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
REDACTED = "[redacted]"
TEMPLATES_DIR = Path(__file__).with_name("templates")

_SECRET_NAME_TOKENS = {"PASSWORD", "PASSWD", "PASS", "SECRET", "SECRETS", "TOKEN", "KEY", "APIKEY",
                       "CREDENTIAL", "CREDENTIALS", "DSN", "URL", "URI", "AUTH", "PRIVATE", "SESSION",
                       "COOKIE", "CONN", "CONNECTION"}
_SECRET_PARAM_HINTS = ("password", "passwd", "secret", "token", "apikey", "api_key", "credential",
                       "dsn", "db_url", "database_url", "connection")
_SECRET_QUERY_KEYS = {"password", "pwd", "pass", "passwd", "token", "secret", "key", "apikey",
                      "api_key", "access_token", "sig", "signature"}
_MIN_SECRET_LEN = 6


class NotebookFailed(RuntimeError):
    """A notebook of a monthly run failed.

    Attributes
    ----------
    notebook : str
        File name of the notebook (``03_segmentation.ipynb``).
    cell_index : int or None
        0-based index of the failing cell in the *source* notebook (papermill's injected
        parameters cell not counted); ``None`` when the kernel died before any cell ran.
    error : str
        One line: exception name and message, or what happened to the kernel.
    month : str
        The month being rendered.
    cell_source : str
        First line of the failing cell's code (to find it quickly).
    """

    def __init__(self, notebook: str, cell_index: int | None, error: str, *, month: str = "",
                 cell_source: str = "", executed_path: Path | None = None):
        self.notebook = notebook
        self.cell_index = cell_index
        self.error = error
        self.month = month
        self.cell_source = cell_source
        self.executed_path = executed_path
        where = f"cell {cell_index}" if cell_index is not None else "before the first cell"
        msg = f"{month + ': ' if month else ''}notebook {notebook} failed at {where}: {error}"
        if cell_source:
            msg += f"\n    in: {cell_source}"
        if executed_path:
            msg += f"\n    partial output kept in {executed_path}"
        super().__init__(msg)


# --------------------------------------------------------------------------- small helpers


def parse_month(month: str) -> tuple[int, int]:
    """``"1998-06"`` -> ``(1998, 6)``; raises ``ValueError`` on anything else."""
    m = MONTH_RE.match(str(month).strip())
    if not m:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return int(m.group(1)), int(m.group(2))


def month_end(month: str) -> dt.date:
    """Last calendar day of ``month`` (the default analysis date of a monthly run)."""
    y, m = parse_month(month)
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def months_between(start: str, end: str) -> list[str]:
    """Every month from ``start`` to ``end`` inclusive, as ``YYYY-MM`` strings."""
    y, m = parse_month(start)
    ye, me = parse_month(end)
    if (y, m) > (ye, me):
        raise ValueError(f"--from {start} is after --to {end}")
    out = []
    while (y, m) <= (ye, me):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def default_notebooks_dir() -> Path:
    """``notebooks/`` of the checkout (found from the working directory upwards)."""
    from .pipeline import project_root

    return project_root() / "notebooks"


def discover_notebooks(notebooks_dir: str | os.PathLike) -> list[Path]:
    """Notebooks named ``NN_*.ipynb`` in ``notebooks_dir``, in name order."""
    d = Path(notebooks_dir)
    return sorted(p for p in d.glob(NOTEBOOK_GLOB) if p.is_file())


#: Markdown cells tagged ``lang-en`` / ``lang-ru`` hold the same narrative in two languages;
#: the report keeps the cells of the run's language (untagged cells are always kept).
LANG_TAG_PREFIX = "lang-"


def select_language(nb: nbformat.NotebookNode, language: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` without the cells tagged for another language. A notebook with no
    cell for ``language`` falls back to its English cells rather than losing its text."""
    tags = [[t for t in c.get("metadata", {}).get("tags", []) if t.startswith(LANG_TAG_PREFIX)]
            for c in nb.cells]
    present = {t for ts in tags for t in ts}
    want = LANG_TAG_PREFIX + language
    if want not in present:
        want = LANG_TAG_PREFIX + "en"
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    out.cells = [c for c, ts in zip(out.cells, tags) if not ts or want in ts]
    return out


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first Markdown heading of the notebook (its title), else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            s = line.strip()
            if s.startswith("#"):
                return s.lstrip("#").strip() or fallback
    return fallback


def _parse_scalar(text: str) -> Any:
    """Command-line ``--param`` value -> int / float / bool / str (dates stay strings)."""
    t = text.strip()
    if t.lower() in {"true", "false"}:
        return t.lower() == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return text


def parse_params(items: Iterable[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{"k": v}`` with scalar types inferred."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise ValueError(f"--param name {k!r} is not a valid Python identifier")
        out[k] = _parse_scalar(v)
    return out


# --------------------------------------------------------------------------- secrets


def _looks_secret_name(name: str) -> bool:
    tokens = set(re.split(r"[^A-Z0-9]+", name.upper()))
    return bool(tokens & _SECRET_NAME_TOKENS)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values that must never appear in a report: secret-looking environment variables
    (``*_PASSWORD``, ``*_TOKEN``, ``*_URL``, ...), and the password/token parts of any
    connection string found in the environment. Longest first, for redaction."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        looks_url = "://" in value and ("@" in value or "?" in value)
        if not (_looks_secret_name(name) or looks_url):
            continue
        if _looks_secret_name(name) and len(value) >= _MIN_SECRET_LEN:
            found.add(value)
        if "://" in value:
            try:
                parts = urlsplit(value)
                if parts.password and len(parts.password) >= 3:
                    found.add(parts.password)
                    found.add(value)
                for k, v in parse_qsl(parts.query, keep_blank_values=False):
                    if k.lower() in _SECRET_QUERY_KEYS and len(v) >= 3:
                        found.add(v)
                        found.add(value)
            except ValueError:
                pass
    return sorted(found, key=len, reverse=True)


def redact(text: str, values: Iterable[str]) -> tuple[str, int]:
    """Replace every occurrence of ``values`` in ``text``; returns (text, replacements)."""
    n = 0
    for v in values:
        if v and v in text:
            n += text.count(v)
            text = text.replace(v, REDACTED)
    return text, n


def check_parameters_safe(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Refuse parameters that would write a credential into the executed notebook.

    Credentials belong in environment variables (the loader reads them there); papermill
    stores every parameter in the executed ``.ipynb``, which is published with the report."""
    secrets_now = secret_values(environ)
    for k, v in params.items():
        if any(h in k.lower() for h in _SECRET_PARAM_HINTS):
            raise ValueError(f"parameter {k!r} looks like a credential; pass it through an environment "
                             "variable read by the source config, never as a notebook parameter")
        if isinstance(v, str):
            if re.search(r"://[^/\s:@]*:[^/\s@]+@", v) or re.search(r"(?i)[?&;](password|pwd|token|secret)=", v):
                raise ValueError(f"parameter {k!r} holds a connection string with credentials; put the "
                                 "URL in an environment variable and name that variable in the source config")
            if any(s and s in v for s in secrets_now):
                raise ValueError(f"parameter {k!r} contains the value of a secret environment variable")


# --------------------------------------------------------------------------- folder handling


@contextlib.contextmanager
def _month_lock(reports_dir: Path, month: str) -> Iterator[None]:
    """Exclusive lock for one month, so two runs of the same month cannot interleave."""
    lock_dir = reports_dir / ".locks"
    lock_dir.mkdir(exist_ok=True)
    lock_path = lock_dir / month
    fh = open(lock_path, "a+")  # noqa: SIM115 - closed in finally
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"another run of {month} is in progress (lock {lock_path})") from None
        yield
    finally:
        fh.close()


def _recover_and_clean(reports_dir: Path, month: str) -> None:
    """Undo what an interrupted run left behind: restore a backup whose swap did not finish,
    delete stale temp folders and stale backups of this month."""
    target = reports_dir / month
    backups = sorted(reports_dir.glob(f".old-{month}-*"), key=lambda p: p.stat().st_mtime)
    if not target.exists() and backups:
        os.replace(backups[-1], target)
        backups = backups[:-1]
    for stale in [*reports_dir.glob(f".tmp-{month}-*"), *backups]:
        shutil.rmtree(stale, ignore_errors=True)


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Publish ``tmp`` as ``target``: old -> backup, new -> target, delete backup.
    Each step is a rename inside one folder, so readers see either the old or the new report."""
    backup = None
    if target.exists():
        backup = target.with_name(f".old-{target.name}-{_secrets.token_hex(4)}")
        os.replace(target, backup)
    try:
        os.replace(tmp, target)
    except BaseException:
        if backup is not None and not target.exists():
            os.replace(backup, target)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _keep_failed(tmp: Path, reports_dir: Path, month: str) -> Path | None:
    """Move a failed run's partial output to ``.failed-YYYY-MM`` (one per month, newest)."""
    failed = reports_dir / f".failed-{month}"
    shutil.rmtree(failed, ignore_errors=True)
    try:
        os.replace(tmp, failed)
        (failed / "FAILED.txt").write_text("This run FAILED; this is not a finished report. "
                                           "See failure.txt and the executed notebooks.\n",
                                           encoding="utf-8")
        return failed
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return None


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Temporarily set environment variables (inherited by the kernels papermill starts)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------------- execution


def declared_parameters(path: Path | nbformat.NotebookNode) -> set[str]:
    """Names assigned at top level in the notebook's cell tagged ``parameters``.

    Parsed with :mod:`ast` (papermill's own line parser gives up on comments that contain
    quotes, which would silently drop parameters)."""
    import ast

    nb = path if isinstance(path, nbformat.NotebookNode) else nbformat.read(path, as_version=4)
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
        break
    return names


@contextlib.contextmanager
def _quiet_papermill() -> Iterator[None]:
    """papermill warns about parameter lines it cannot parse; we pass declared names only."""
    import logging

    log = logging.getLogger("papermill")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def _source_index(nb: nbformat.NotebookNode, executed_index: int) -> int:
    """Index of an executed cell in the source notebook (injected parameter cells and
    papermill's error-marker cells are not part of the source)."""
    skip = {"injected-parameters", "papermill-error-cell-tag"}
    return sum(1 for c in nb.cells[:executed_index] if not skip & set(c.get("metadata", {}).get("tags", [])))


def _first_code_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:200]
    return ""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _failing_line(traceback: list[str] | None) -> str:
    """``line N: code`` of the failing line inside the notebook cell, from IPython's traceback
    (the first ``---->`` arrow after the ``Cell In[...]`` frame header)."""
    text = _ANSI.sub("", "\n".join(traceback or []))
    in_cell = False
    for line in text.splitlines():
        if line.lstrip().startswith(("Cell In[", "Input In [")):
            in_cell = True
            continue
        m = re.match(r"^\s*-+>\s*(\d+)\s?(.*)$", line)
        if in_cell and m:
            return f"line {m.group(1)}: {m.group(2).strip()}"[:200]
    return ""


def _failure(exc: BaseException, nb_name: str, executed: Path, month: str) -> NotebookFailed:
    """Turn papermill/nbclient errors into a NotebookFailed naming the cell."""
    from papermill.exceptions import PapermillExecutionError

    nb = None
    if executed.exists():
        try:
            nb = nbformat.read(executed, as_version=4)
        except Exception:  # noqa: BLE001 - a half-written notebook must not hide the real error
            nb = None
    if isinstance(exc, PapermillExecutionError):
        error = f"{exc.ename}: {exc.evalue}".strip().rstrip(":")
        idx = exc.cell_index
        if nb is not None:
            # papermill inserted error-marker cells into the saved notebook; find the cell by count
            for i, c in enumerate(nb.cells):
                if c.cell_type == "code" and c.get("execution_count") == exc.exec_count and any(
                        o.get("output_type") == "error" for o in c.get("outputs", [])):
                    idx = _source_index(nb, i)
                    break
        where = _failing_line(exc.traceback) or _first_code_line(exc.source)
        return NotebookFailed(nb_name, idx, error, month=month, cell_source=where)
    # The kernel died (DeadKernelError), timed out or could not start: the last cell that
    # started is the culprit.
    idx = None
    src = ""
    if nb is not None:
        started = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   and (c.get("metadata", {}).get("papermill", {}) or {}).get("start_time")]
        if started:
            idx = _source_index(nb, started[-1])
            src = _first_code_line(nb.cells[started[-1]].source)
    name = type(exc).__name__
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if name == "DeadKernelError":
        error = f"the kernel died ({detail or 'Kernel died'}) - the cell crashed the Python process " \
                "(out of memory, os._exit, a native library crash)"
    else:
        error = f"{name}: {detail}" if detail else name
    return NotebookFailed(nb_name, idx, error, month=month, cell_source=src)


def _kernel_manager_class(stderr_path: Path):
    """An ``AsyncKernelManager`` whose kernel writes its stderr to ``stderr_path`` (kept out of
    the terminal, where ipykernel's start-up notices would bury the progress bar, and read
    back to explain a dead kernel)."""
    from jupyter_client import AsyncKernelManager

    class _LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            fh = open(stderr_path, "ab")  # noqa: SIM115 - the kernel process owns it until it exits
            kw.setdefault("stderr", fh)
            try:
                return await super().start_kernel(**kw)
            finally:
                fh.close()  # the child has its own copy of the descriptor

    return _LoggedKernelManager


def _execute(src: Path, out: Path, params: dict, cwd: Path, stderr_path: Path | None = None
             ) -> nbformat.NotebookNode:
    import papermill

    extra = {"kernel_manager_class": _kernel_manager_class(stderr_path)} if stderr_path else {}
    return papermill.execute_notebook(
        str(src), str(out), parameters=params, progress_bar=False, log_output=False,
        cwd=str(cwd), kernel_name="python3", request_save_on_cell_execute=True, **extra)


_NOISE = ("Kernel is running over TCP without encryption",)


def _kernel_stderr_tail(path: Path | None, lines: int = 3) -> str:
    """Last meaningful lines the kernel wrote to stderr (for a dead-kernel message)."""
    if not path or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    keep = [ln.strip() for ln in text.splitlines() if ln.strip() and not any(n in ln for n in _NOISE)]
    return " | ".join(keep[-lines:])[:500]


# --------------------------------------------------------------------------- HTML


_UI = {
    "en": {"run": "Monthly RFM report", "params": "Parameters of this run",
           "passed": "Parameters passed to this report by the scheduled run", "notebooks": "Reports in this run",
           "headline": "Headline figures", "all_runs": "All runs", "month_index": "This month",
           "generated": "Generated", "duration": "Run time", "version": "rfm-helpers",
           "analysis_date": "Analysis date", "status": "Status", "month": "Month", "title": "Report",
           "index_title": "RFM reports: all runs", "no_runs": "No reports yet.", "ok": "ok",
           "figures": "Headline figures", "seconds": "s", "links": "Reports",
           "more_figures": "{} more on the month page"},
    "ru": {"run": "Ежемесячный RFM-отчёт", "params": "Параметры запуска",
           "passed": "Параметры, переданные отчёту при плановом запуске", "notebooks": "Отчёты этого запуска",
           "headline": "Ключевые показатели", "all_runs": "Все запуски", "month_index": "Этот месяц",
           "generated": "Создан", "duration": "Время расчёта", "version": "rfm-helpers",
           "analysis_date": "Дата анализа", "status": "Статус", "month": "Месяц", "title": "Отчёт",
           "index_title": "RFM-отчёты: все запуски", "no_runs": "Отчётов пока нет.", "ok": "готово",
           "figures": "Ключевые показатели", "seconds": "с", "links": "Отчёты",
           "more_figures": "ещё {} на странице месяца"},
}


def _ui(language: str) -> dict[str, str]:
    return _UI.get(language, _UI["en"])


def _jinja_env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = format_timestamp
    return env


def format_timestamp(value: Any) -> str:
    """ISO timestamp -> ``2026-11-24 21:04 UTC`` for pages (text returned as is if unparsable)."""
    if not value:
        return ""
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


_EXTERNAL_TAGS = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*['\"]?(?:https?:)?//[^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref\s*=\s*['\"]?(?:https?:)?//[^>]*>", re.I)


def _strip_external(body: str) -> str:
    """Drop any ``<script src=http...>``/``<link href=http...>`` so the page never reaches out."""
    return _EXTERNAL_TAGS.sub("", body)


def format_value(value: Any, fmt: str | None = None) -> str:
    """Headline value for display: thousands separators, at most 2 decimals; ``fmt`` (as
    recorded by :func:`rfm_helpers.summary.record`) asks for a percentage, money, etc."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and fmt:
        if fmt == "pct":
            return f"{100 * value:.1f}%"
        if fmt == "money":
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
        if fmt == "int":
            return f"{int(round(value)):,}"
        if fmt == "pvalue":
            return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value == 0:
            return "0"
        if abs(value) < 0.001:  # p-values and the like: never show a tiny number as 0
            return f"{value:.1e}"
        if abs(value) < 0.01:
            return f"{value:.3f}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


_PARAM_WORDS = {
    "en": {"bundled": "bundled CDNOW sample", "whole": "0 (whole history)"},
    "ru": {"bundled": "встроенный пример CDNOW", "whole": "0 (вся история)"},
}


def _display_params(params: Mapping[str, Any], language: str = "en") -> list[tuple[str, str]]:
    words = _PARAM_WORDS.get(language, _PARAM_WORDS["en"])
    rows = []
    for k, v in params.items():
        if k == "run_dir":
            continue
        if k == "source_config":
            v = Path(v).name if v and v != "bundled CDNOW sample" else words["bundled"]
        if k == "window_days" and not v:
            v = words["whole"]
        rows.append((k, str(v)))
    return rows


def notebook_html(nb: nbformat.NotebookNode, *, title: str, month: str, params: Mapping[str, Any],
                  language: str = "en", generated: str = "") -> str:
    """Self-contained stakeholder HTML for an executed notebook: code and prompts hidden,
    stderr (warnings) dropped, images embedded as data URIs, no scripts or external links."""
    from nbconvert import HTMLExporter

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # private copy
    for cell in nb.cells:  # the page header already shows the title (with the month)
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            if lines and lines[0].lstrip("#").strip() == title and lines[0].startswith("# "):
                cell.source = "\n".join(lines[1:]).lstrip("\n")
            break
    section = title
    chart = "График" if language == "ru" else "Chart"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heads = [ln.lstrip("#").strip() for ln in cell.source.splitlines() if ln.startswith("#")]
            section = heads[-1] if heads else section
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.get("outputs", [])
                        if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        for o in cell.outputs:  # alt text for charts (screen readers): the section they belong to
            for mime in ("image/png", "image/jpeg", "image/svg+xml"):
                if mime in o.get("data", {}):
                    meta = o.setdefault("metadata", {}).setdefault(mime, {})
                    meta.setdefault("alt", f"{chart}: {section}")
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, anchor_link_text="")
    body, _ = exporter.from_notebook_node(nb)
    body = _strip_external(body)
    tpl = _jinja_env().get_template("notebook.html.j2")
    return tpl.render(title=title, month=month, params=_display_params(params, language), body=body,
                      analysis_date=params.get("analysis_date", ""),
                      ui=_ui(language), lang=language, generated=generated, version=__version__)


# --------------------------------------------------------------------------- the run


@dataclass
class _NotebookResult:
    name: str
    title: str
    status: str
    duration_s: float
    html: str
    ipynb: str
    parameters: list[str]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{_secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_month(month: str, *, reports_dir: str | os.PathLike = "reports", source_config: str = "",
              window_days: int = 0, language: str = "en", analysis_date: str | dt.date | None = None,
              notebooks_dir: str | os.PathLike | None = None, extra_params: Mapping[str, Any] | None = None,
              progress: bool = True, update_index: bool = True) -> Path:
    """Render every ``NN_*.ipynb`` notebook for ``month`` into ``reports_dir/YYYY-MM``.

    Returns the published month folder. Raises :class:`NotebookFailed` (previous report left
    untouched, partial output in ``reports_dir/.failed-YYYY-MM``) when a notebook fails, and
    ``ValueError``/``FileNotFoundError`` for bad arguments. ``analysis_date`` defaults to the
    last day of the month. Only parameters a notebook declares are passed to it.
    """
    from tqdm.auto import tqdm

    parse_month(month)
    if language not in _UI:
        raise ValueError(f"language must be one of {sorted(_UI)}, got {language!r}")
    as_of = analysis_date or month_end(month)
    as_of = as_of.isoformat() if isinstance(as_of, dt.date) else str(as_of)
    try:
        dt.date.fromisoformat(as_of)
    except ValueError:
        raise ValueError(f"analysis date must look like YYYY-MM-DD, got {as_of!r}") from None
    nb_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    notebooks = discover_notebooks(nb_dir)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {nb_dir}")
    cfg = str(source_config or "")
    if cfg and "://" not in cfg:
        from .pipeline import project_root

        found = next((c for c in (Path(cfg), project_root() / cfg) if c.is_file()), None)
        if found is None:
            raise FileNotFoundError(f"source config {cfg}: file not found")
        cfg = str(found.resolve())  # absolute: the kernels run in the notebooks folder
    extras = dict(extra_params or {})
    clash = set(extras) & set(STANDARD_PARAMETERS)
    if clash:
        raise ValueError(f"use the dedicated options, not --param, for: {', '.join(sorted(clash))}")
    base = {"analysis_date": as_of, "source_config": cfg, "window_days": int(window_days or 0),
            "language": language, **extras}
    check_parameters_safe(base)

    reports = Path(reports_dir).resolve()
    reports.mkdir(parents=True, exist_ok=True)
    target = reports / month
    started = _now()
    t0 = time.perf_counter()
    with _month_lock(reports, month):
        _recover_and_clean(reports, month)
        tmp = reports / f".tmp-{month}-{_secrets.token_hex(4)}"
        tmp.mkdir()
        results: list[_NotebookResult] = []
        unused = set(extras)
        hide = secret_values()
        try:
            bar = tqdm(notebooks, desc=f"report {month}", unit="notebook", disable=not progress,
                       file=sys.stderr, leave=True)
            for src in bar:
                bar.set_postfix_str(src.name)
                declared = declared_parameters(src)
                params = {k: v for k, v in {**base, "run_dir": str(tmp)}.items() if k in declared}
                unused -= declared
                out = tmp / src.name
                t_nb = time.perf_counter()
                logs = tmp / ".kernel-logs"
                logs.mkdir(exist_ok=True)
                stderr_log = logs / f"{src.stem}.stderr.txt"
                try:
                    with _env(RFM_RUN_DIR=str(tmp)), _quiet_papermill():
                        _execute(src, out, params, cwd=nb_dir, stderr_path=stderr_log)
                except Exception as exc:  # noqa: BLE001 - every failure becomes NotebookFailed
                    failure = _failure(exc, src.name, out, month)
                    tail = redact(_kernel_stderr_tail(stderr_log), hide)[0]
                    if tail and type(exc).__name__ != "PapermillExecutionError":
                        failure = NotebookFailed(failure.notebook, failure.cell_index,
                                                 f"{failure.error}; kernel stderr: {tail}", month=month,
                                                 cell_source=failure.cell_source)
                    raise failure from exc
                # Publish-time fix-ups on the executed notebook: temp path -> final path,
                # redact any secret that leaked into an output.
                text = out.read_text(encoding="utf-8").replace(str(tmp), str(target))
                text, n_redacted = redact(text, hide)
                if n_redacted:
                    print(f"warning: {src.name}: {n_redacted} secret value(s) from the environment "
                          f"appeared in outputs and were redacted", file=sys.stderr)
                out.write_text(text, encoding="utf-8")
                nb = select_language(nbformat.reads(text, as_version=4), language)
                title = notebook_title(nb, src.stem)
                shown = {**params, **{k: v for k, v in base.items() if k in STANDARD_PARAMETERS and k not in params}}
                page = notebook_html(nb, title=title, month=month, params=shown, language=language,
                                     generated=_now().isoformat())
                page, _ = redact(page, hide)
                html_name = src.with_suffix(".html").name
                (tmp / html_name).write_text(page, encoding="utf-8")
                results.append(_NotebookResult(src.name, title, "ok", round(time.perf_counter() - t_nb, 2),
                                               html_name, src.name, sorted(params)))
            bar.close()
            if unused:
                print(f"warning: --param {', '.join(sorted(unused))} not declared by any notebook; ignored",
                      file=sys.stderr)
            finished = _now()
            summary_path = tmp / SUMMARY_FILE
            summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
            summary["run"] = {
                "month": month, "analysis_date": as_of, "language": language,
                "window_days": int(window_days or 0),
                "source": Path(cfg).name if cfg else "bundled CDNOW sample",
                "parameters": {k: v for k, v in base.items() if k != "source_config"},
                "started_at": started.isoformat(), "finished_at": finished.isoformat(),
                "duration_s": round(time.perf_counter() - t0, 2),
                "package_version": __version__, "python": sys.version.split()[0], "status": "ok",
                "notebooks": [r.__dict__ for r in results],
            }
            text, _ = redact(json.dumps(summary, indent=2, ensure_ascii=False, default=str), hide)
            _write_text_atomic(summary_path, text)
            page, _ = redact(month_index_html(summary), hide)
            _write_text_atomic(tmp / "index.html", page)
            shutil.rmtree(tmp / ".kernel-logs", ignore_errors=True)  # debugging aid for failed runs only
            shutil.rmtree(tmp / CACHE_DIR, ignore_errors=True)  # data shared by the notebooks of this run
            _redact_tree(tmp, hide)
        except NotebookFailed as failure:
            shutil.rmtree(tmp / CACHE_DIR, ignore_errors=True)
            kept = _keep_failed(tmp, reports, month)
            if kept is not None:
                failure.executed_path = kept / failure.notebook
                (kept / "failure.txt").write_text(str(failure) + "\n", encoding="utf-8")
                failure.args = (str(NotebookFailed(failure.notebook, failure.cell_index, failure.error,
                                                   month=month, cell_source=failure.cell_source,
                                                   executed_path=failure.executed_path)),)
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _swap_into_place(tmp, target)
        shutil.rmtree(reports / f".failed-{month}", ignore_errors=True)
    if update_index:
        build_index(reports)
    return target


def _redact_tree(folder: Path, values: list[str]) -> None:
    """Last line of defence: redact secrets from every text file of the run (exports too)."""
    if not values:
        return
    for p in folder.rglob("*"):
        if not p.is_file() or p.suffix.lower() not in {".html", ".ipynb", ".json", ".csv", ".txt", ".md", ".tsv"}:
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        new, n = redact(text, values)
        if n:
            p.write_text(new, encoding="utf-8")


def run_range(start: str, end: str, *, stop_on_failure: bool = False, reports_dir: str | os.PathLike = "reports",
              progress: bool = True, **kw: Any) -> dict[str, Path | NotebookFailed | Exception]:
    """Backfill: run every month from ``start`` to ``end`` (inclusive) in turn, then rebuild
    ``reports/index.html``. A failing month does not stop the others unless
    ``stop_on_failure``; the result maps each attempted month to its folder or its error.
    ``analysis_date`` is always the month end (it cannot be set for a range)."""
    if kw.get("analysis_date"):
        raise ValueError("analysis_date cannot be set for a range: each month uses its own month end")
    kw.pop("analysis_date", None)
    outcome: dict[str, Path | NotebookFailed | Exception] = {}
    months = months_between(start, end)
    try:
        for i, month in enumerate(months, 1):
            if progress:
                print(f"[{i}/{len(months)}] {month}", file=sys.stderr)
            try:
                outcome[month] = run_month(month, reports_dir=reports_dir, progress=progress,
                                           update_index=False, **kw)
            except (NotebookFailed, ValueError, FileNotFoundError, RuntimeError) as exc:
                outcome[month] = exc
                print(f"FAILED {exc}" if isinstance(exc, NotebookFailed) else f"FAILED {month}: {exc}",
                      file=sys.stderr)
                if stop_on_failure:
                    break
    finally:
        build_index(reports_dir)
    return outcome


# --------------------------------------------------------------------------- indexes


def headline(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) pairs of a summary's ``headline`` section, in recorded order."""
    out = []
    for key, entry in (summary.get("headline") or {}).items():
        if isinstance(entry, Mapping):
            out.append((str(entry.get("label") or key),
                        format_value(entry.get("value"), entry.get("fmt"))))
        else:
            out.append((str(key), format_value(entry)))
    return out


def month_index_html(summary: Mapping[str, Any]) -> str:
    """The month folder's ``index.html``: links to each notebook's page, headline figures and
    run metadata."""
    run = summary.get("run", {})
    lang = run.get("language", "en")
    tpl = _jinja_env().get_template("month_index.html.j2")
    params = _display_params({"source_config": run.get("source") if run.get("source") != "bundled CDNOW sample"
                              else "", **{k: v for k, v in (run.get("parameters") or {}).items()}}, lang)
    return tpl.render(run=run, ui=_ui(lang), lang=lang, figures=headline(summary), params=params,
                      version=run.get("package_version", __version__))


def build_index(reports_dir: str | os.PathLike = "reports") -> Path:
    """(Re)build ``reports_dir/index.html`` listing every published month, newest first,
    with links and headline figures from each ``summary.json``."""
    from .report_index import build_index as _build

    return _build(reports_dir)
