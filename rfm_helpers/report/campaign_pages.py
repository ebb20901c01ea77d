"""Campaign pages of a monthly run: one page per evaluated campaign, linked from the month.

Notebook 04 evaluates the month's campaigns (:func:`rfm_helpers.campaigns.evaluate_month`) and
calls :func:`publish`: every result (aggregates only) goes to ``<run>/campaigns/<id>.json``,
the ``campaigns`` section of ``summary.json`` gets one machine-readable entry per campaign
(verdict, figures, ``demo: true/false``) and the ``campaign`` section each campaign's verdict
and incremental revenue as labelled figures (the demonstration's labelled as such, tagged
``demo``) plus ``demo``, whether the demonstration ran (the month page's summary says so). After the numbered notebooks, the runner calls
:func:`render_pages`: the page notebook (``notebooks/campaign_page.ipynb``) is executed once
per result and published as ``campaign-<id>.html`` beside the other pages.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

from .i18n import Translator
from .summary import record, record_section

__all__ = ["PAGE_NOTEBOOK", "RESULTS_DIR", "page_name", "publish", "segment_labels", "render_pages", "read_result",
           "run_context", "summary_entry"]

PAGE_NOTEBOOK = "campaign_page.ipynb"
RESULTS_DIR = "campaigns"


def page_name(cid: str) -> str:
    return f"campaign-{cid}.html"


def segment_labels(segment_map: str, language: str) -> dict[str, str]:
    """Segment key -> label in the report's language."""
    from ..segments import map_info

    info = map_info(segment_map, language)
    return dict(zip(info["segment"].astype(str), info["label"].astype(str)))


def run_context(p: Any, segment_map: str = "classic") -> Any:
    """The :class:`~rfm_helpers.campaigns.RunContext` of a prepared run (with its contacts): the
    run's engine and tables, never its per-customer pandas copies."""
    from ..campaigns import RunContext
    from ..load.contacts import load_contacts

    return RunContext.from_prepared(p, segment_map, load_contacts(p.source))


def summary_entry(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """One campaign in ``summary.json["campaigns"]["evaluated"]`` (numbers and codes)."""
    camp, verdict = evaluation["campaign"], evaluation["verdict"]
    o = verdict["overall"]
    d = verdict["variants"][o["variant"]]
    r = evaluation["report"].get("roi", {}).get(o["variant"]) or {}
    month = evaluation.get("month") or {}
    return {"id": camp["id"], "name": camp.get("name") or "", "demo": bool(camp.get("demo")),
            "verdict": o["code"], "variant": o["variant"], "variants": {v: x["code"] for v, x in verdict["variants"].items()},
            "primary_metric": d["metric"], "diff": d["diff"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
            "min_effect": d["min_effect"], "incremental_revenue": r.get("incremental_revenue"),
            "incremental_revenue_low": r.get("incremental_revenue_low"),
            "incremental_revenue_high": r.get("incremental_revenue_high"), "roi": r.get("roi"),
            "send_date": evaluation["data"]["send_date"], "window_end": evaluation["data"]["window_end"],
            "customers": evaluation["data"]["customers"], "evaluated_at": evaluation.get("evaluated_at"),
            "reused": bool(evaluation.get("reused")), "page": page_name(camp["id"]),
            "migration": (month.get("migration") or {}).get("summary")}


def publish(month: Any, run_dir: str | os.PathLike, t: Translator) -> dict[str, Any]:
    """Store the month's results for the pages, the ``campaigns`` section and the headline
    figures; returns the section."""
    from .texts.campaign_registry import summary_figures

    folder = Path(run_dir) / RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for result in month.results:
        path = folder / f"{result['campaign']['id']}.json"
        path.write_text(json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
    section = {"as_of": month.as_of.isoformat(), "registered": len(month.registered),
               "evaluated": [summary_entry(r) for r in month.results],
               "waiting": [{k: r.get(k) for k in ("id", "name", "status", "send_date", "window_end")}
                           for r in month.registered if r["status"] in ("waiting", "not_sent")],
               "errors": [{"id": r["id"], "error": r.get("error", "")} for r in month.registered
                          if r["status"] == "error"],
               "demo": month.demo is not None}
    record_section("campaigns", section, run_dir=run_dir)
    # the "campaign" section (off the month page's headline figures): whether a demonstration
    # ran (the executive summary says so) and each campaign's verdict and incremental revenue
    record("demo", month.demo is not None, t._("A simulated demonstration campaign is shown"), section="campaign",
           run_dir=run_dir)
    for result in month.results:
        demo = bool(result["campaign"].get("demo"))
        for key, value, label, fmt in summary_figures(t, result):
            record(key, value, label, section="campaign", run_dir=run_dir, fmt=fmt,
                   tags={"demo": demo, "campaign": result["campaign"]["id"]})
    return section


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def render_pages(params: Any, tmp: Path, target: Path, nb_dir: Path, kernel_env: Mapping[str, str],
                 manifest: Mapping[str, Any] | None, hide: Any, generated: str) -> list[dict[str, Any]]:
    """Execute the page notebook for every result of the run and publish ``campaign-<id>.html``;
    returns the pages (``id``, ``title``, ``html``, ``demo``, ``verdict``, ``duration_s``)."""
    from ..redaction import redact
    from .execute import environment, execute_notebook, failure_from, kernel_stderr_tail
    from .i18n import translator
    from .notebooks import language_notebook
    from .render import notebook_html
    from .texts.campaigns import campaign_title

    results = sorted((tmp / RESULTS_DIR).glob("*.json")) if (tmp / RESULTS_DIR).is_dir() else []
    src = nb_dir / PAGE_NOTEBOOK
    if not results or not src.exists():
        return []
    run_src, note = language_notebook(src, params.language, tmp / ".notebooks")
    if note:
        import sys

        print(f"warning: {note}", file=sys.stderr)
    t = translator(params.language, params.currency)
    logs = tmp / ".kernel-logs"
    logs.mkdir(exist_ok=True)
    pages = []
    for path in results:
        result = read_result(path)
        cid = result["campaign"]["id"]
        stem = Path(page_name(cid)).stem
        out = tmp / f"{stem}.ipynb"
        nb_params = {**params.notebook_values(), "run_dir": str(tmp), "result_path": str(path)}
        nb_params = {k: v for k, v in nb_params.items() if k in _declared(run_src)}
        stderr_log = logs / f"{stem}.stderr.txt"
        t0 = time.perf_counter()
        try:
            with environment(**kernel_env):
                execute_notebook(run_src, out, nb_params, cwd=nb_dir, stderr_path=stderr_log)
        except Exception as exc:  # noqa: BLE001 - as any notebook of the run
            tail = redact(kernel_stderr_tail(stderr_log), hide)[0]
            raise failure_from(exc, f"{PAGE_NOTEBOOK} ({cid})", out, params.month or "", stderr_tail=tail) from exc
        text, _ = redact(out.read_text(encoding="utf-8").replace(str(tmp), str(target)), hide)
        out.write_text(text, encoding="utf-8")
        import nbformat  # here: its schema validator costs seconds to import in notebook 04's kernel

        nb = nbformat.read(out, as_version=4)
        title = campaign_title(t, result)
        for cell in nb.cells:  # the page's header names the campaign: the generic title goes
            if cell.cell_type == "markdown":
                lines = cell.source.splitlines()
                if lines and lines[0].startswith("# "):
                    cell.source = "\n".join(["# " + title, *lines[1:]])
                break
        shown = {k: v for k, v in nb_params.items() if k not in ("result_path", "run_dir")}
        html = notebook_html(nb, title=title, month=params.month or "", params=shown, language=params.language,
                             currency=params.currency, generated=generated, manifest=manifest)
        (tmp / page_name(cid)).write_text(redact(html, hide)[0], encoding="utf-8")
        pages.append({"id": cid, "title": title, "html": page_name(cid), "ipynb": out.name,
                      "demo": bool(result["campaign"].get("demo")), "verdict": result["verdict"]["overall"]["code"],
                      "duration_s": round(time.perf_counter() - t0, 2)})
    return pages


def _declared(src: Path) -> set[str]:
    from .execute import declared_parameters

    return declared_parameters(src)


def page_result(result_path: str = "", *, campaign_id: str = "", analysis_date: Any = "", source_config: Any = "",
                window_days: int = 0, run_dir: Any = "", segment_map: str = "classic",
                reports_dir: str | os.PathLike = "") -> dict[str, Any]:
    """What a campaign page shows: the stored result the runner passes (``result_path``), or,
    in an interactive session, the campaign ``campaign_id`` of the registry evaluated now (the
    demonstration when empty, on the bundled sample only)."""
    if result_path:
        return read_result(result_path)
    from ..campaigns import evaluate
    from ..campaigns.registry import RegistryError, campaign_dir, load_spec, status
    from ..pipeline import prepare

    p = prepare(analysis_date=analysis_date, source_config=source_config, window_days=window_days, run_dir=run_dir)
    ctx = run_context(p, segment_map)
    if not campaign_id:
        made = evaluate.evaluate_demo(ctx)
        if made is None:
            raise RegistryError("campaign_id is empty and the data are not the bundled sample: name a campaign of "
                                "the registry (rfm-report campaign list shows them)")
        result, camp, tx = made
        return {**result, "month": evaluate.month_view(result, camp, ctx, transactions=tx)}
    folder = campaign_dir(reports_dir or Path(p.run_dir).resolve().parent, campaign_id)
    spec = load_spec(folder)
    if status(spec, p.as_of) != "due":
        raise RegistryError(f"campaign {campaign_id!r}: its outcome window closes on {spec.window_end}, after the "
                            f"analysis date {p.as_of}; it can be evaluated from then on")
    from ..campaigns.data import read_campaign

    result = evaluate.evaluate_registered(spec, folder, ctx)
    return {**result, "month": evaluate.month_view(result, read_campaign(folder / spec.assignment), ctx)}


def registry_root(run_dir: str | os.PathLike) -> Path:
    """The reports folder whose ``campaigns/`` is the registry: the parent of the run folder
    (``reports/_interactive`` -> ``reports``; a runner's temporary month folder -> ``reports``)."""
    return Path(run_dir).resolve().parent


def create_from_notebook(p: Any, *, name: str, segments: str, channel: str, send_date: Any, outcome_window_days: int,
                         control_share: float, seed: int, primary_metric: str, min_effect: float, guardrails: str = "",
                         cost_per_contact: float = 0.0, segment_map: str = "classic", language: str = "en",
                         currency: str = "", dry_run: bool = True, reports_dir: str | os.PathLike = "",
                         formats: tuple[str, ...] = ("csv", "xlsx")) -> Any:
    """``campaign create`` for a prepared run (the notebook path and the command line): the
    customers of the segments are selected in the run's engine (only they reach pandas)."""
    import datetime as dt

    from ..campaigns.create import create_campaign
    from ..campaigns.registry import parse_guardrails
    from ..load.contacts import load_contacts
    from .texts.act import export_words

    return create_campaign(
        rfm=p.rfm_table, engine=p.engine, as_of=p.as_of, reports_dir=reports_dir or registry_root(p.run_dir), name=name,
        segments=[s.strip() for s in str(segments).split(",") if s.strip()], channel=channel,
        send_date=send_date if isinstance(send_date, dt.date) else dt.date.fromisoformat(str(send_date)),
        outcome_window_days=int(outcome_window_days), control_share=float(control_share), seed=int(seed),
        primary_metric=primary_metric, min_effect=float(min_effect), segment_map=segment_map,
        contacts=load_contacts(p.source), cost_per_contact=float(cost_per_contact),
        guardrails=parse_guardrails(guardrails), source_name=p.source.display_name, language=language,
        words=export_words(language, currency or p.currency), currency=currency or p.currency, formats=formats,
        dry_run=bool(dry_run))
