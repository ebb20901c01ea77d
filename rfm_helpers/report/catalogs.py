"""Maintain the message catalogs (``make messages``; ``python -m rfm_helpers.report.catalogs``).

* ``update``: extract every message id from the package (Python calls of ``_``/``gettext``,
  ``ngettext``, ``pgettext``, ``npgettext``, ``plural`` and ``N_``; Jinja templates) and from
  the English report notebooks (each Markdown paragraph, and gettext calls in code cells: the
  extractor :func:`rfm_helpers.report.notebooks.extract_notebook`), and merge
  them into each ``locale/<lang>/LC_MESSAGES/messages.po`` (new ids arrive untranslated, ids
  no longer used are dropped). No ``.pot`` file is kept: the template is extracted afresh
  each time, so it can never be stale.
* ``check``: list what is wrong with the catalogs as they are: ids used in the code but
  missing from a catalog, ids in a catalog that the code no longer uses, untranslated or
  fuzzy entries, and translations whose ``{placeholders}`` differ from the id's. Exit 1 if
  anything is wrong. ``tests/test_i18n.py`` runs the same check.
* ``init LANG``: start the catalog of a new language.

Babel does the extraction, merging and plural rules; nothing here parses Python by hand.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Iterable

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from ..paths import package_checkout
from .i18n import DOMAIN, LOCALE_DIR

PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: A fixed header date, so that updating a catalog changes only the entries that changed.
_FIXED_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

#: Function names whose string arguments are message ids (argument positions, 1-based).
KEYWORDS = {
    "_": None, "gettext": None, "N_": None,
    "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3),
    "plural": (2, 3),
}
METHOD_MAP = [
    ("**/locale/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.j2", "jinja2"),
]
OPTIONS_MAP = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
#: The English report notebooks (``notebooks/NN_*.ipynb``; not the generated ``notebooks/<lang>/``).
NOTEBOOK_METHOD_MAP = [
    ("*.ipynb", "rfm_helpers.report.notebooks:extract_notebook"),
    ("**", "ignore"),
]


def notebooks_source_dir() -> Path | None:
    """``notebooks/`` of the checkout the package runs from (``None`` for an installed
    package: its catalogs already hold the notebooks' paragraphs)."""
    root = package_checkout()
    return root / "notebooks" if root and (root / "notebooks").is_dir() else None
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:[!:][^{}]*)?\}")


def extract() -> Catalog:
    """Every message id used in the package, as a template catalog."""
    catalog = Catalog(domain=DOMAIN, project="rfm-template", charset="utf-8")
    sources = [(PACKAGE_DIR, METHOD_MAP, "rfm_helpers")]
    nb_dir = notebooks_source_dir()
    if nb_dir is not None:
        sources.append((nb_dir, NOTEBOOK_METHOD_MAP, "notebooks"))
    for folder, method_map, prefix in sources:
        for filename, lineno, message, comments, context in extract_from_dir(
                folder, method_map, OPTIONS_MAP, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
                strip_comment_tags=True):
            catalog.add(message, None, [(f"{prefix}/{filename}", lineno)], auto_comments=comments,
                        context=context)
    return catalog


def catalog_paths() -> list[Path]:
    return sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _read(path: Path) -> Catalog:
    lang = path.parent.parent.name
    with path.open("rb") as fh:
        return read_po(fh, locale=lang, domain=DOMAIN)


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.creation_date = catalog.revision_date = _FIXED_DATE
    with path.open("wb") as fh:
        write_po(fh, catalog, width=100, sort_output=True, include_lineno=False,
                 ignore_obsolete=True, omit_header=False)


def update() -> list[Path]:
    """Extract, write the template and merge it into every catalog; returns the files written."""
    template = extract()
    written = []
    for path in catalog_paths():
        catalog = _read(path)
        catalog.update(template, no_fuzzy_matching=True)
        _write(catalog, path)
        written.append(path)
    return written


def init(language: str) -> Path:
    """Start ``locale/<language>/LC_MESSAGES/messages.po`` from the extracted ids."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if path.exists():
        raise FileExistsError(f"{path} exists; run 'update' instead")
    template = extract()
    catalog = Catalog(locale=language, domain=DOMAIN, project="rfm-template", charset="utf-8")
    for message in template:
        if message.id:
            catalog.add(message.id, None, message.locations, context=message.context)
    _write(catalog, path)
    return path


def _ids(message) -> tuple:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message) -> tuple:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text or ""))


def problems() -> list[str]:
    """Everything wrong with the catalogs (empty list: all good)."""
    template = extract()
    wanted = {(m.id, m.context) for m in template if m.id}
    out: list[str] = []
    for path in catalog_paths():
        lang = path.parent.parent.name
        catalog = _read(path)
        have = {(m.id, m.context) for m in catalog if m.id}
        for key in sorted(wanted - have, key=str):
            out.append(f"{lang}: missing (run 'make messages' and translate): {key[0]!r}")
        for key in sorted(have - wanted, key=str):
            out.append(f"{lang}: unused (no longer in the code): {key[0]!r}")
        for m in catalog:
            if not m.id:
                continue
            strings = _strings(m)
            if m.fuzzy:
                out.append(f"{lang}: fuzzy: {m.id!r}")
            if not all(strings):
                out.append(f"{lang}: untranslated: {m.id!r}")
                continue
            expected = set().union(*(placeholders(i) for i in _ids(m)))
            for s in strings:
                if placeholders(s) != expected:
                    out.append(f"{lang}: placeholders {sorted(placeholders(s))} differ from "
                               f"{sorted(expected)} in {m.id!r}")
    return out


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rfm_helpers.report.catalogs")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("update", help="extract ids and merge them into every catalog")
    sub.add_parser("check", help="list missing, unused, untranslated and inconsistent entries")
    new = sub.add_parser("init", help="start the catalog of a new language")
    new.add_argument("language")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.command == "update":
        for p in update():
            print(f"wrote {p.relative_to(PACKAGE_DIR.parent)}")
        found = problems()
        print(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'} to translate or fix")
        return 0
    if args.command == "init":
        print(f"wrote {init(args.language)}")
        return 0
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
