"""Sentences about a run itself: the run manifest in page footers, problems of a listed run.

The manifest (:mod:`rfm_helpers.report.manifest`) and the index (:mod:`rfm_helpers.report.index`)
hold codes and values; the words are made here through the run's translator.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..i18n import N_, Translator

__all__ = ["code_text", "data_text", "rows_text", "manifest_warnings", "problem_text", "packages_text"]

_CODE_NOTES = {
    "not_git_checkout": N_("not a git checkout"),
    "git_missing": N_("git is not installed"),
    "installed_package": N_("installed package, not a git checkout"),
}
_DATA_NOTES = {
    "sql_no_file": N_("SQL source: no file to hash (the row count is what the query returned)"),
    "file_missing": N_("the data file was not found when the run started"),
    "spark_no_file": N_("Spark source: the table or files are read by the cluster and not hashed (the row count "
                        "is what Spark read)"),
    "too_many_files": N_("more than {limit} files: not hashed"),
    "spec_unreadable": N_("the source spec could not be read ({error})"),
}
_PROBLEMS = {
    "summary_missing": N_("summary.json missing"),
    "summary_unreadable": N_("summary.json unreadable ({error})"),
}


def _short_sha(sha: str | None) -> str:
    return f"{sha[:12]}…" if sha else ""


def code_text(code: Mapping[str, Any], t: Translator) -> str:
    """``commit 1a2b3c4d5e6f (uncommitted changes)`` or why there is no commit."""
    if not code.get("commit"):
        return t._(_CODE_NOTES.get(code.get("note") or "", _CODE_NOTES["not_git_checkout"]))
    text = t._("commit {commit}").format(commit=str(code["commit"])[:12])
    if code.get("dirty"):
        text += " " + t._("(with uncommitted changes)")
    return text


def data_text(data: Mapping[str, Any], t: Translator) -> str:
    """``CDNOW_master.txt, SHA-256 6e3f…`` (or the note saying why there is no hash)."""
    note = data.get("note")
    if note in _DATA_NOTES:
        return t._(_DATA_NOTES[note]).format(limit=data.get("limit", ""), error=data.get("error", ""))
    if data.get("kind") == "files":
        return t.plural(len(data.get("files") or []), "{n} file, combined SHA-256 {sha}",
                        "{n} files, combined SHA-256 {sha}", sha=_short_sha(data.get("sha256")))
    return t._("{file}, SHA-256 {sha}").format(file=data.get("file", ""), sha=_short_sha(data.get("sha256")))


def rows_text(data: Mapping[str, Any], t: Translator) -> str:
    """``69,659 rows read`` in the report's language and plural form."""
    n = data.get("rows_read")
    if n is None:
        return t._("row count unknown: no notebook of this run loaded the data")
    return t.plural(n, "{n} row read", "{n} rows read")


def packages_text(packages: Mapping[str, str], keys: tuple[str, ...]) -> str:
    """``pandas 2.2.3 · numpy 2.1.3 · ...`` for the key packages that are installed."""
    return " · ".join(f"{k} {packages[k]}" for k in keys if k in packages)


def manifest_warnings(manifest: Mapping[str, Any], t: Translator) -> list[str]:
    out = []
    for w in manifest.get("warnings") or []:
        if isinstance(w, Mapping) and w.get("code") == "data_changed":
            out.append(t._("The data file {file} changed while the report ran: its SHA-256 may not match "
                           "what the notebooks read.").format(file=w.get("file", "")))
    return out


def problem_text(problem: Mapping[str, Any] | None, t: Translator) -> str:
    """The sentence for a listed run whose ``summary.json`` is missing or unreadable."""
    if not problem:
        return ""
    return t._(_PROBLEMS[problem["code"]]).format(error=problem.get("error", ""))
