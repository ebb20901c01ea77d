"""Pages of a run: an executed notebook -> one self-contained stakeholder HTML page, and the
month's ``index.html``.

A notebook page hides code and prompts, drops stderr (warnings), embeds images as data URIs
(with alt text), loads nothing from outside and carries the run's parameters and manifest;
its frame (navigation, headings, footer) is in ``templates/`` and speaks the report's
language through the run's translator.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

import nbformat

from . import executive
from .i18n import DEFAULT_CURRENCY, N_, Translator, translator
from .manifest import KEY_PACKAGES
from .templating import BUNDLED_SOURCE, PARAM_WORDS, display_params, headline, jinja_env, strip_external
from .texts import executive as executive_texts
from .texts import run as run_texts

__all__ = ["notebook_title", "notebook_html", "notebook_body", "notebook_page", "month_index_html", "manifest_view", "campaigns_view"]

_CHART = N_("Chart: {section}")


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


def manifest_view(manifest: Mapping[str, Any] | None, t: Translator) -> dict[str, Any] | None:
    """The manifest as the page footer shows it: one short line and the details."""
    if not manifest:
        return None
    data = manifest.get("data") or {}
    packages = manifest.get("packages") or {}
    bundled = not (manifest.get("parameters") or {}).get("source_config")
    return {
        "version": (manifest.get("package") or {}).get("version", ""),
        "code": run_texts.code_text(manifest.get("code") or {}, t),
        "data": run_texts.data_text(data, t),
        "source": t._(PARAM_WORDS["bundled"]) if bundled else data.get("source", ""),
        "sha256": data.get("sha256") or "",
        "rows": run_texts.rows_text(data, t),
        "rows_read": t.integer(data["rows_read"]) if data.get("rows_read") is not None else "–",
        "key_packages": run_texts.packages_text(packages, KEY_PACKAGES),
        "packages": list(packages.items()),
        "python": manifest.get("python", ""),
        "platform": manifest.get("platform", ""),
        "warnings": run_texts.manifest_warnings(manifest, t),
    }


def campaigns_view(summary: Mapping[str, Any], t: Translator) -> list[dict[str, Any]]:
    """The month page's campaigns: each evaluated campaign's verdict, page and where its
    audience moved (aggregates from ``summary.json["campaigns"]``)."""
    from .texts.campaign_registry import campaign_row

    section = summary.get("campaigns") or {}
    return [campaign_row(t, entry) for entry in section.get("evaluated") or []]


def _shown_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {**params, "source_config": params.get("source_config") or ""}


def notebook_html(nb: nbformat.NotebookNode, *, title: str, month: str, params: Mapping[str, Any],
                  language: str = "en", generated: str = "", currency: str = DEFAULT_CURRENCY,
                  manifest: Mapping[str, Any] | None = None) -> str:
    """Self-contained stakeholder HTML for an executed notebook: code and prompts hidden,
    stderr (warnings) dropped, images embedded as data URIs, no scripts or external links.
    The same as :func:`notebook_page` of :func:`notebook_body`."""
    return notebook_page(notebook_body(nb, title=title, language=language, currency=currency), title=title,
                         month=month, params=params, language=language, generated=generated, currency=currency,
                         manifest=manifest)


def notebook_body(nb: nbformat.NotebookNode, *, title: str, language: str = "en",
                  currency: str = DEFAULT_CURRENCY) -> str:
    """The page's body converted from the executed notebook (the costly part of a page,
    0.2-1.5 s: the monthly run converts each notebook while the next one runs)."""
    from nbconvert import HTMLExporter

    t = translator(language, currency)
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # private copy
    for cell in nb.cells:  # the page header already shows the title (with the month)
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            if lines and lines[0].lstrip("#").strip() == title and lines[0].startswith("# "):
                cell.source = "\n".join(lines[1:]).lstrip("\n")
            break
    section = title
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
                    meta.setdefault("alt", t._(_CHART).format(section=section))
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, anchor_link_text="")
    body, _ = exporter.from_notebook_node(nb)
    return strip_external(body)


def notebook_page(body: str, *, title: str, month: str, params: Mapping[str, Any], language: str = "en",
                  generated: str = "", currency: str = DEFAULT_CURRENCY,
                  manifest: Mapping[str, Any] | None = None) -> str:
    """The stakeholder page around a :func:`notebook_body`: header, parameters, the run's
    manifest (data, code, warnings)."""
    t = translator(language, currency)
    tpl = jinja_env(t).get_template("notebook.html.j2")
    return tpl.render(title=title, month=month, month_name=_month_name(month, t),
                      params=display_params(_shown_params(params), t), body=body,
                      analysis_date=params.get("analysis_date", ""), lang=language, generated=generated,
                      manifest=manifest_view(manifest, t))


def _month_name(month: str, t: Translator) -> str:
    """``June 1998`` / ``Июнь 1998`` (capitalised: it starts a line or follows a bracket)."""
    try:
        name = t.month(month)
    except ValueError:
        return month
    return name[:1].upper() + name[1:]


def month_index_html(summary: Mapping[str, Any], folder: str | os.PathLike | None = None) -> str:
    """The month folder's ``index.html``: the executive summary (in the report's locale and
    currency; see :mod:`rfm_helpers.report.executive`), links to each notebook's page, the
    parameters and the run manifest. A run whose notebooks recorded no executive figures
    shows its headline figures instead. ``folder``: the month folder, so the summary links
    the export files that are there."""
    run = summary.get("run", {})
    language = run.get("language", "en")
    t = translator(language, run.get("currency") or DEFAULT_CURRENCY)
    source = run.get("source")
    params = {"source_config": "" if source in (None, "", BUNDLED_SOURCE) else source,
              **{k: v for k, v in (run.get("parameters") or {}).items() if k != "source_config"}}
    month_name = _month_name(str(run.get("month", "")), t)
    ex = executive.build(summary, folder)
    return jinja_env(t).get_template("month_index.html.j2").render(
        run=run, lang=language, figures=[] if ex else headline(summary, t), params=display_params(params, t),
        executive=executive_texts.view(ex, t, month_name) if ex else None,
        month_name=month_name, manifest=manifest_view(summary.get("manifest"), t), campaigns=campaigns_view(summary, t))
