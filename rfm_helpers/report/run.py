"""Monthly report runs: execute every notebook with papermill and publish HTML atomically.

A run for month ``YYYY-MM`` validates its parameters (:class:`~rfm_helpers.params.RunParams`),
takes the month's lock, renders ``notebooks/NN_*.ipynb`` (name order; notebooks marked to run
beside others several at a time, see :mod:`rfm_helpers.report.schedule`; for a report in another
language the generated set ``notebooks/<lang>/``, see :mod:`rfm_helpers.report.notebooks`) into a hidden temp
folder beside the target: one executed ``.ipynb`` and one self-contained HTML page per
notebook, a month ``index.html`` and ``summary.json`` (headline figures recorded by the
notebooks through :mod:`rfm_helpers.report.summary`, the run's metadata and its manifest).
Only when every notebook succeeded is the temp folder swapped into ``reports/YYYY-MM/``
(:mod:`~rfm_helpers.report.publish`); a failed run leaves the previous good report untouched,
keeps its partial output under ``reports/.failed-YYYY-MM/`` and raises
:class:`~rfm_helpers.report.execute.NotebookFailed` naming the notebook and the cell.

Secrets never become notebook parameters (:mod:`rfm_helpers.redaction`): credentials reach
the loader through environment variables only, parameters that look like credentials are
refused, and any secret-looking environment value that still shows up in an output is
redacted before anything is written to ``reports/``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import nbformat

from .. import __version__
from ..params import STANDARD_PARAMETERS, RunParams, months_between
from ..paths import CACHE_DIR, RUN_DIR_ENV, notebooks_dir as default_notebooks_dir, reports_dir as _reports_dir
from ..redaction import redact, redact_data, redact_tree, secret_values
from . import publish
from .campaign_pages import render_pages
from .display import CURRENCY_ENV, LANGUAGE_ENV
from .execute import (KernelPrewarmer, NotebookFailed, declared_parameters, discover_notebooks, environment,
                      execute_notebook, failure_from, kernel_stderr_tail)
from .index import build_index
from .manifest import finish_manifest, start_manifest
from .notebooks import language_notebook
from .render import month_index_html, notebook_body, notebook_page, notebook_title
from .schedule import (MAX_CUSTOMERS_ENV, Schedule, jobs_for_customers, report_jobs, schedule_settings,
                       spare_kernels)
from .summary import SUMMARY_FILE, collect as collect_summary, load as load_summary
from .templating import BUNDLED_SOURCE

__all__ = ["run_month", "run_range", "NotebookFailed", "STANDARD_PARAMETERS", "PREWARM_ENV"]

#: Environment variable: ``0`` turns off starting each notebook's kernel while the previous
#: notebook runs (:class:`~rfm_helpers.report.kernels.KernelPrewarmer`), e.g. to measure it.
PREWARM_ENV = "RFM_PREWARM_KERNELS"


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


def run_month(month: str, *, reports_dir: str | os.PathLike = "reports", source_config: str = "",
              window_days: int = 0, language: str = "en", analysis_date: str | dt.date | None = None,
              currency: str | None = None, notebooks_dir: str | os.PathLike | None = None,
              extra_params: Mapping[str, Any] | None = None, progress: bool = True,
              update_index: bool = True, params: RunParams | None = None) -> Path:
    """Render every ``NN_*.ipynb`` notebook for ``month`` into ``reports_dir/YYYY-MM``.

    Returns the published month folder. Raises :class:`NotebookFailed` (previous report left
    untouched, partial output in ``reports_dir/.failed-YYYY-MM``) when a notebook fails,
    :class:`~rfm_helpers.params.ParameterError` (a ``ValueError``; ``MissingFile`` is also a
    ``FileNotFoundError``) for bad arguments, ``FileNotFoundError`` when there are no notebooks
    and ``RuntimeError`` when another run of the month holds the lock. ``analysis_date``
    defaults to the last day of the month; ``currency`` to the source spec's ``currency:``,
    else USD. Only parameters a notebook declares are passed to it. ``params``: an already
    validated :class:`RunParams` (the other parameter arguments are then ignored).
    """
    if params is None:
        params = RunParams.for_month(month, analysis_date=analysis_date, window_days=window_days,
                                     language=language, source_config=source_config, currency=currency,
                                     extra=dict(extra_params or {}))
    elif params.month != month:  # a range: the same parameters, this month and its month end
        params = RunParams.parse(**{**params.model_dump(), "month": month, "analysis_date": None})
    nb_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    notebooks = discover_notebooks(nb_dir)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {nb_dir}")
    reports = _reports_dir(reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    with publish.month_lock(reports, month):
        publish.recover_and_clean(reports, month)
        target = reports / month
        tmp = publish.new_temp_dir(reports, month)
        try:
            _render_month(params, notebooks, nb_dir, tmp, target, progress)
        except NotebookFailed as failure:
            shutil.rmtree(tmp / CACHE_DIR, ignore_errors=True)
            kept = publish.keep_failed(tmp, reports, month)
            if kept is not None:
                failure.kept_in(kept / failure.notebook)
                (kept / "failure.txt").write_text(str(failure) + "\n", encoding="utf-8")
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        publish.swap_into_place(tmp, target)
    if update_index:
        build_index(reports)
    return target


def _page_body(text: str, stem: str, language: str, currency: str | None) -> tuple[str, str]:
    """The title and converted body of an executed notebook's page (run in the pages thread;
    the first call also imports what the month's index page needs, off the critical path)."""
    nb = nbformat.reads(text, as_version=4)
    title = notebook_title(nb, stem)
    body = notebook_body(nb, title=title, language=language, currency=currency)  # type: ignore[arg-type]
    from .charts import executive  # noqa: F401 - matplotlib, for the month index's chart
    return title, body


def _fit_to_size(run_dir: Path, plan: Schedule, progress: bool) -> None:
    """Notebooks at once and kernels started ahead for a run of this size (the RFM notebook's
    count of customers, once recorded): two above a million customers, one at a time above the
    customers limit (:func:`~rfm_helpers.report.schedule.jobs_for_customers`), no spare kernel at scale."""
    entry = (load_summary(run_dir).get("headline") or {}).get("customers") or {}
    customers = entry.get("value") if isinstance(entry, dict) else None
    allowed = jobs_for_customers(plan.jobs, customers)
    if allowed == 1 < plan.jobs and progress:
        print(f"note: {customers:,} customers: the notebooks run one at a time (memory; "
              f"{MAX_CUSTOMERS_ENV} sets the limit)", file=sys.stderr)
    plan.jobs, plan.spare = allowed, spare_kernels(customers)


def _render_month(params: RunParams, notebooks: list[Path], nb_dir: Path, tmp: Path, target: Path,
                  progress: bool) -> dict[str, Any]:
    """Execute and render every notebook into ``tmp``; returns the summary written there.
    Kernels started ahead are closed last: the last notebook's kernel exits (1-2 s) while the
    pages and the month's index are made, and no kernel outlives the run."""
    with contextlib.ExitStack() as closing:
        return _render_notebooks(params, notebooks, nb_dir, tmp, target, progress, closing)


def _render_notebooks(params: RunParams, notebooks: list[Path], nb_dir: Path, tmp: Path, target: Path,
                      progress: bool, closing: contextlib.ExitStack) -> dict[str, Any]:
    from tqdm.auto import tqdm

    month = params.month or ""
    started = _now()
    t0 = time.perf_counter()
    hide = secret_values()
    base = params.notebook_values()
    logs = tmp / ".kernel-logs"
    logs.mkdir(exist_ok=True)
    bar = tqdm(total=len(notebooks), desc=f"report {month}", unit="notebook", disable=not progress,
               file=sys.stderr, leave=True)
    kernel_env = {RUN_DIR_ENV: str(tmp), LANGUAGE_ENV: params.language, CURRENCY_ENV: params.currency or ""}
    translated = tmp / ".notebooks"
    sources: list[tuple[Path, str | None]] = [language_notebook(src, params.language, translated)
                                              for src in notebooks]
    for _, note in sources:
        if note:
            print(f"warning: {note}", file=sys.stderr)
    declared = [declared_parameters(run_src) for run_src, _ in sources]
    nb_params = [{k: v for k, v in {**base, "run_dir": str(tmp)}.items() if k in names} for names in declared]
    unused = set(params.extra) - set().union(*declared)
    prewarm = os.environ.get(PREWARM_ENV, "1") != "0"
    # notebooks marked to run beside others do, three at a time (RFM_REPORT_JOBS; fewer at scale); a kernel
    # papermill starts itself takes its notebook's name from this process's environment, so
    # without kernels started ahead the notebooks run one after another
    beside, priorities = zip(*[schedule_settings(src) for src in notebooks])  # the English notebooks' metadata
    plan = Schedule(beside, report_jobs() if prewarm else 1, priorities)
    # each page's body is converted while the next notebook runs (the runner only waits there);
    # first that thread makes the run's manifest (the data file's SHA-256: 5 s for 1.7 GB) while
    # the first kernel starts
    pages = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rfm-pages")
    started_manifest = pages.submit(start_manifest, params, nb_dir)
    workers = ThreadPoolExecutor(max_workers=plan.jobs, thread_name_prefix="rfm-notebook")
    bodies: dict[int, Future] = {}
    seconds: dict[int, float] = {}
    with contextlib.ExitStack() as stack:
        # a failed run drops the pages not converted yet; a good one collects them below
        stack.push(lambda exc_type, *_: pages.shutdown(wait=False, cancel_futures=exc_type is not None))
        stack.callback(workers.shutdown, wait=True)
        stack.enter_context(environment(**kernel_env))
        # each notebook gets a new kernel, started (and its first cell's modules imported) while
        # the previous notebook runs; RFM_PREWARM_KERNELS=0 starts each when its notebook starts
        warm = closing.enter_context(KernelPrewarmer()) if prewarm else None
        kernels: dict[int, Any] = {}

        def warm_up(ahead: list[int]) -> None:
            for i in ahead if warm is not None else ():
                if i not in kernels:
                    kernels[i] = warm.start(sources[i][0], nb_dir, logs / f"{notebooks[i].stem}.stderr.txt")

        def run_one(i: int, kernel: Any) -> tuple[str, float]:
            src, (run_src, _) = notebooks[i], sources[i]
            out = tmp / src.name
            stderr_log = logs / f"{src.stem}.stderr.txt"
            t_nb = time.perf_counter()
            try:
                execute_notebook(run_src, out, nb_params[i], cwd=nb_dir, stderr_path=stderr_log,
                                 **({"kernel": kernel} if kernel is not None else {}))
            except Exception as exc:  # noqa: BLE001 - every failure becomes NotebookFailed
                tail = redact(kernel_stderr_tail(stderr_log), hide)[0]
                raise failure_from(exc, src.name, out, month, stderr_tail=tail) from exc
            # Publish-time fix-ups on the executed notebook: temp path -> final path, redact any
            # secret that leaked into an output.
            text, n_redacted = redact(out.read_text(encoding="utf-8").replace(str(tmp), str(target)), hide)
            if n_redacted:
                print(f"warning: {src.name}: {n_redacted} secret value(s) from the environment "
                      f"appeared in outputs and were redacted", file=sys.stderr)
            out.write_text(text, encoding="utf-8")
            return text, round(time.perf_counter() - t_nb, 2)

        running: dict[Future, int] = {}
        failure: NotebookFailed | None = None
        try:
            warm_up(plan.next())
            if warm is not None:
                warm.wait_imports()
            while failure is None and not plan.finished():
                if plan.jobs > 1 and not plan.running:  # how many at once, now that the size may be known
                    _fit_to_size(tmp, plan, progress)
                for i in plan.startable():
                    warm_up([i])  # (when not started ahead)
                    kernel = kernels.pop(i, None)
                    running[workers.submit(run_one, i, kernel)] = i
                    plan.started(i, kernel)
                    warm_up(plan.next())  # the next notebooks' kernels start while these run
                bar.set_postfix_str(", ".join(notebooks[k].name for k in sorted(plan.running)))
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=running.__getitem__):
                    i = running.pop(fut)
                    plan.done(i)
                    try:
                        text, seconds[i] = fut.result()
                    except NotebookFailed as exc:
                        failure = failure or exc
                        continue
                    bodies[i] = pages.submit(_page_body, text, notebooks[i].stem, params.language, params.currency)
                    bar.update(1)
        finally:
            if running:  # a notebook failed or the run was interrupted: the others stop now
                for kernel in plan.kernels_running():
                    if kernel is not None:
                        kernel.kill()
                for fut in list(running):
                    with contextlib.suppress(Exception):
                        fut.result()
        if failure is not None:  # the first failure is reported
            raise failure
    bar.close()
    if unused:
        print(f"warning: --param {', '.join(sorted(unused))} not declared by any notebook; ignored",
              file=sys.stderr)
    manifest = redact_data(finish_manifest(started_manifest.result(), tmp), hide)

    results: list[_NotebookResult] = []
    for i, src in enumerate(notebooks):
        title, body = bodies[i].result()
        shown = {**nb_params[i], **{k: v for k, v in base.items() if k in STANDARD_PARAMETERS and k not in nb_params[i]}}
        page = notebook_page(body, title=title, month=month, params=shown, language=params.language,
                             currency=params.currency, generated=_now().isoformat(), manifest=manifest)
        html_name = src.with_suffix(".html").name
        (tmp / html_name).write_text(redact(page, hide)[0], encoding="utf-8")
        results.append(_NotebookResult(src.name, title, "ok", seconds[i], html_name, src.name, sorted(nb_params[i])))
    # one page per campaign evaluated by the campaigns notebook (notebooks/campaign_page.ipynb)
    campaign_pages = render_pages(params, tmp, target, nb_dir, kernel_env, manifest, hide, _now().isoformat())

    summary_path = tmp / SUMMARY_FILE
    summary = collect_summary(tmp)  # the notebooks' parts, in notebook order
    public = params.public()
    summary["run"] = {
        "month": month, "analysis_date": public["analysis_date"], "language": params.language,
        "currency": params.currency, "window_days": params.window_days,
        "source": params.source_label() if params.source_config else BUNDLED_SOURCE,
        "parameters": {k: v for k, v in public.items() if k not in ("source_config", "month")},
        "started_at": started.isoformat(), "finished_at": _now().isoformat(),
        "duration_s": round(time.perf_counter() - t0, 2),
        "package_version": __version__, "python": sys.version.split()[0], "status": "ok",
        "notebooks": [asdict(r) for r in results],
        "campaign_pages": campaign_pages,
    }
    summary["manifest"] = manifest
    summary = redact_data(summary, hide)
    publish.write_text_atomic(summary_path, json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    publish.write_text_atomic(tmp / "index.html", redact(month_index_html(summary, tmp), hide)[0])
    shutil.rmtree(logs, ignore_errors=True)  # debugging aid for failed runs only
    shutil.rmtree(translated, ignore_errors=True)
    shutil.rmtree(tmp / CACHE_DIR, ignore_errors=True)  # data shared by the notebooks of this run
    redact_tree(tmp, hide)
    return summary


def run_range(start: str, end: str, *, stop_on_failure: bool = False, reports_dir: str | os.PathLike = "reports",
              progress: bool = True, **kw: Any) -> dict[str, Path | NotebookFailed | Exception]:
    """Backfill: run every month from ``start`` to ``end`` (inclusive) in turn, then rebuild
    ``reports/index.html``. A failing month does not stop the others unless
    ``stop_on_failure``; the result maps each attempted month to its folder or its error.
    ``analysis_date`` is always the month end (it cannot be set for a range). The other
    parameters are validated once, before the first month runs."""
    if kw.get("analysis_date"):
        raise ValueError("analysis_date cannot be set for a range: each month uses its own month end")
    kw.pop("analysis_date", None)
    months = months_between(start, end)
    notebooks_dir = kw.pop("notebooks_dir", None)
    params = RunParams.for_month(months[0], window_days=kw.pop("window_days", 0), language=kw.pop("language", "en"),
                                 source_config=kw.pop("source_config", ""), currency=kw.pop("currency", None),
                                 extra=dict(kw.pop("extra_params", None) or {}))
    if kw:
        raise TypeError(f"unexpected arguments: {', '.join(sorted(kw))}")
    outcome: dict[str, Path | NotebookFailed | Exception] = {}
    try:
        for i, month in enumerate(months, 1):
            if progress:
                print(f"[{i}/{len(months)}] {month}", file=sys.stderr)
            try:
                outcome[month] = run_month(month, reports_dir=reports_dir, progress=progress, update_index=False,
                                           notebooks_dir=notebooks_dir, params=params)
            except (NotebookFailed, ValueError, FileNotFoundError, RuntimeError) as exc:
                outcome[month] = exc
                print(f"FAILED {exc}" if isinstance(exc, NotebookFailed) else f"FAILED {month}: {exc}",
                      file=sys.stderr)
                if stop_on_failure:
                    break
    finally:
        build_index(reports_dir)
    return outcome
