"""The report notebooks in every language: English sources, translated sets made from them.

The notebooks an analyst edits are ``notebooks/NN_*.ipynb``: code, and Markdown in English
only. Each other language has a generated set, ``notebooks/<lang>/NN_*.ipynb`` (``ru``),
made by ``make notebooks`` (``python -m rfm_helpers.report.notebooks build``):

* every Markdown cell is split into paragraphs (a heading, a list item, a paragraph, a
  quote); each paragraph is a message of the report's catalog (the English text, its lines
  joined, is the message id; :func:`extract_notebook` is the Babel extractor that
  :mod:`rfm_helpers.report.catalogs` registers for notebooks) and is replaced by its
  translation, keeping its Markdown marker (``## ``, ``* ``); code blocks, rules and HTML
  comments are kept as they are;
* the parameters cell gets ``language = "<lang>"`` (every other parameter, ``currency``
  included, is unchanged);
* code cells are copied unchanged (the words they show come from the catalogs at run time).

So a Russian analyst opens ``notebooks/ru/`` in JupyterLab and reads each heading once, in
Russian; the monthly runner executes the set of the run's language. ``check`` (and
``tests/test_notebook_sets.py``) fails when a generated notebook is not what a fresh build
gives (stale) or a paragraph has no translation.

``absorb-twins`` converts notebooks still written the old way (a ``lang-en`` Markdown cell
followed by its ``lang-ru`` twin): the Russian paragraphs become the catalog's translations
of the English ones and the twins and tags are dropped.
"""
from __future__ import annotations

import argparse
import copy
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import nbformat

from ..paths import notebooks_dir
from .i18n import available_languages, translator

__all__ = ["Block", "blocks", "translate_markdown", "translate_notebook", "expected_text", "content",
           "is_current", "sources", "build", "stale", "language_notebook", "untranslated", "extract_notebook", "absorb_twins", "SOURCE_GLOB"]

SOURCE_GLOB = "[0-9][0-9]_*.ipynb"
#: Notebook metadata key of a generated notebook (its source and language).
GENERATED_KEY = "rfm_translation"

_HEADING = re.compile(r"^(#{1,6}[ \t]+)(.*?)[ \t#]*$")
_ITEM = re.compile(r"^([ \t]*(?:[*+-]|\d{1,9}[.)])[ \t]+)(.*)$")
_QUOTE = re.compile(r"^(>[ \t]?)(.*)$")
_RULE = re.compile(r"^[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_LANGUAGE_LINE = re.compile(r'^(language\s*=\s*)(["\'])[A-Za-z_-]*\2')


@dataclass(frozen=True)
class Block:
    """One paragraph of a Markdown cell: ``marker`` (``## ``, ``* ``, ``> ``, or empty),
    ``text`` (the words, lines joined by one space; the message id) and ``raw`` (kept as
    written, not translated: code blocks, rules, HTML comments). ``gap``: a blank line
    separates it from the previous block."""

    marker: str
    text: str
    raw: bool = False
    gap: bool = True

    def render(self, text: str | None = None) -> str:
        return self.text if self.raw else self.marker + (self.text if text is None else text)


def blocks(markdown: str) -> list[Block]:
    """``markdown`` split into :class:`Block` s. Tables are refused (a table's cells would
    need translating one by one: write a list instead)."""
    out: list[Block] = []
    lines = markdown.replace("\r\n", "\n").split("\n")
    i, gap = 0, True
    cur: tuple[str, list[str]] | None = None  # marker, lines of the open paragraph/item

    def close() -> None:
        nonlocal cur, gap
        if cur is not None:
            out.append(Block(cur[0], " ".join(s.strip() for s in cur[1] if s.strip()), gap=gap))
            gap = False
            cur = None

    while i < len(lines):
        line = lines[i]
        if not line.strip():
            close()
            gap = True
            i += 1
            continue
        if _FENCE.match(line):
            close()
            fence = _FENCE.match(line).group(1)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            out.append(Block("", "\n".join(lines[i:j + 1]), raw=True, gap=gap))
            gap, i = False, j + 1
            continue
        if line.lstrip().startswith("|"):
            raise ValueError(f"Markdown tables cannot be translated paragraph by paragraph; write a list: {line!r}")
        if _RULE.match(line) or line.lstrip().startswith("<!--"):
            close()
            out.append(Block("", line.rstrip(), raw=True, gap=gap))
            gap, i = False, i + 1
            continue
        heading = _HEADING.match(line)
        if heading:
            close()
            out.append(Block(heading.group(1), heading.group(2).strip(), gap=gap))
            gap, i = False, i + 1
            continue
        in_quote = cur is not None and cur[0].startswith(">")
        item = _ITEM.match(line) or (None if in_quote else _QUOTE.match(line))
        if item:
            close()
            cur = (item.group(1), [item.group(2)])
        elif cur is None:
            cur = ("", [line])
        else:  # a continuation line (indented or lazy)
            cur[1].append(_QUOTE.match(line).group(2) if cur[0].startswith(">") and _QUOTE.match(line) else line)
        i += 1
    close()
    return out


def _join(parts: list[tuple[Block, str]]) -> str:
    text = ""
    for k, (b, s) in enumerate(parts):
        text += ("" if k == 0 else "\n\n" if b.gap else "\n") + s
    return text


def translate_markdown(markdown: str, language: str) -> str:
    """``markdown`` with each paragraph replaced by its translation (an untranslated one
    stays English: :func:`untranslated` lists them)."""
    t = translator(language)
    return _join([(b, b.render(None if b.raw else t._(b.text))) for b in blocks(markdown)])


def _parameters_cell(nb) -> nbformat.NotebookNode | None:
    return next((c for c in nb.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])),
                None)


def translate_notebook(nb: nbformat.NotebookNode, language: str, source_name: str = "") -> nbformat.NotebookNode:
    """A copy of the English notebook ``nb`` in ``language`` (see the module's docstring)."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = translate_markdown(cell.source, language)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    params = _parameters_cell(out)
    if params is not None:
        lines = params.source.split("\n")
        found = [k for k, ln in enumerate(lines) if _LANGUAGE_LINE.match(ln)]
        if not found:
            raise ValueError(f"{source_name or 'notebook'}: its parameters cell has no line 'language = \"en\"'")
        k = found[0]
        lines[k] = _LANGUAGE_LINE.sub(lambda m: f'{m.group(1)}{m.group(2)}{language}{m.group(2)}', lines[k], count=1)
        params.source = "\n".join(lines)
    title = next((b.text for c in out.cells if c.cell_type == "markdown" for b in blocks(c.source)
                  if b.marker.startswith("# ")), None)
    if title and "title" in out.metadata:
        out.metadata["title"] = title
    out.metadata[GENERATED_KEY] = {"language": language, "source": f"../{source_name}" if source_name else "",
                                   "note": "generated by 'make notebooks' from the English notebook; edit that one"}
    return out


def expected_text(source: Path, language: str) -> str:
    """The file content the generated ``language`` notebook of ``source`` must have."""
    nb = nbformat.read(source, as_version=4)
    return nbformat.writes(translate_notebook(nb, language, source.name)) + "\n"


def content(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    """What a notebook says and does: each cell's type, source and tags. Outputs, execution
    counts and metadata that JupyterLab writes when an analyst opens or runs a notebook
    (kernel and language info) are not part of it."""
    return [(c.cell_type, c.source, tuple(c.get("metadata", {}).get("tags", []))) for c in nb.cells]


def is_current(generated: Path, source: Path, language: str) -> bool:
    """Whether the generated notebook says and does what a fresh build of ``source`` does
    (see :func:`content`)."""
    if not generated.exists():
        return False
    try:
        have = nbformat.read(generated, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable file is simply not current
        return False
    fresh = translate_notebook(nbformat.read(source, as_version=4), language, source.name)
    return content(have) == content(fresh)


def sources(folder: Path | None = None) -> list[Path]:
    """The English source notebooks of ``folder`` (default ``notebooks/``), in name order."""
    d = Path(folder) if folder else notebooks_dir()
    return sorted(p for p in d.glob(SOURCE_GLOB) if p.is_file())


def _languages(languages: Iterable[str] | None) -> list[str]:
    return [lang for lang in (languages or available_languages()) if lang != "en"]


def build(folder: Path | None = None, languages: Iterable[str] | None = None) -> list[Path]:
    """Write every generated notebook that differs from a fresh build (and drop generated
    notebooks whose source is gone); returns the files written or removed."""
    folder = Path(folder) if folder else notebooks_dir()
    changed = []
    for lang in _languages(languages):
        target = folder / lang
        target.mkdir(exist_ok=True)
        names = set()
        for src in sources(folder):
            names.add(src.name)
            dest = target / src.name
            text = expected_text(src, lang)
            if not dest.exists() or dest.read_text(encoding="utf-8") != text:
                dest.write_text(text, encoding="utf-8")
                changed.append(dest)
        for old in target.glob(SOURCE_GLOB):
            if old.name not in names:
                old.unlink()
                changed.append(old)
    return changed


def stale(folder: Path | None = None, languages: Iterable[str] | None = None) -> list[str]:
    """Generated notebooks that are missing, out of date (their cells differ from a fresh
    build; outputs and JupyterLab's metadata do not count) or left over (empty: all fresh)."""
    folder = Path(folder) if folder else notebooks_dir()
    out = []
    for lang in _languages(languages):
        names = set()
        for src in sources(folder):
            names.add(src.name)
            dest = folder / lang / src.name
            if not dest.exists():
                out.append(f"{dest}: missing")
            elif not is_current(dest, src, lang):
                out.append(f"{dest}: out of date with {src.name}")
        out += [f"{p}: no English source" for p in (folder / lang).glob(SOURCE_GLOB) if p.name not in names]
    return out


def language_notebook(source: Path, language: str, scratch: Path) -> tuple[Path, str]:
    """The notebook a ``language`` report executes for the English ``source``, and a warning
    (empty when there is nothing to say).

    English: ``source``. Another language: ``<folder>/<language>/<name>`` when its cells are
    those of a fresh build (:func:`is_current`; outputs left by an interactive session do not
    matter, papermill replaces them); otherwise a fresh translation written into ``scratch``, so a
    run never executes a generated notebook older than its source (the warning says which
    file is out of date). A folder without a ``<language>/`` set (a custom notebook folder)
    is translated on the fly without a warning."""
    source = Path(source)
    if language == "en":
        return source, ""
    committed = source.parent / language / source.name
    if is_current(committed, source, language):
        return committed, ""
    scratch.mkdir(parents=True, exist_ok=True)
    fresh = scratch / source.name
    fresh.write_text(expected_text(source, language), encoding="utf-8")
    if committed.exists():
        return fresh, (f"{committed} is out of date with {source.name} (edit the English notebook, then run "
                       f"'make notebooks'); this run uses a fresh translation")
    if committed.parent.is_dir():
        return fresh, f"{committed} is missing (run 'make notebooks'); this run uses a fresh translation"
    return fresh, ""


def untranslated(folder: Path | None = None, languages: Iterable[str] | None = None) -> list[str]:
    """Paragraphs of the English notebooks that have no translation in a catalog."""
    out = []
    for lang in _languages(languages):
        t = translator(lang)
        for src in sources(folder):
            for cell in nbformat.read(src, as_version=4).cells:
                if cell.cell_type == "markdown":
                    out += [f"{lang}: {src.name}: {b.text[:80]!r}" for b in blocks(cell.source)
                            if not b.raw and b.text and t._(b.text) == b.text]
    return out


# ------------------------------------------------------------------------------ extraction


def extract_notebook(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:
    """Babel extractor for ``.ipynb`` files: each Markdown paragraph is a message, and the
    gettext calls in code cells (``t._("Cluster")``) are extracted like Python's. The line
    number is the cell's index."""
    from babel.messages.extract import extract_python

    nb = nbformat.reads(fileobj.read().decode("utf-8"), as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for b in blocks(cell.source):
                if not b.raw and b.text:
                    yield index, None, b.text, []
        elif cell.cell_type == "code":
            src = "\n".join(ln for ln in cell.source.split("\n") if not ln.lstrip().startswith(("%", "!")))
            for _, funcname, messages, comments in extract_python(io.BytesIO(src.encode("utf-8")), keywords,
                                                                   comment_tags, options):
                yield index, funcname, messages, comments


# ------------------------------------------------------------------------------ old twins


def absorb_twins(path: Path, language: str = "ru") -> dict[str, str]:
    """Turn a notebook with ``lang-en``/``lang-<language>`` twin Markdown cells into an
    English-only notebook; returns the translations found (English paragraph -> translated
    paragraph) for the catalog. Twins must have the same paragraphs (count and markers)."""
    nb = nbformat.read(path, as_version=4)
    found: dict[str, str] = {}
    keep = []
    original = [list(c.get("metadata", {}).get("tags", [])) for c in nb.cells]
    tags = lambda c: c.get("metadata", {}).get("tags", [])  # noqa: E731
    for k, cell in enumerate(nb.cells):
        if f"lang-{language}" in original[k]:
            prev = nb.cells[k - 1] if k else None
            if prev is None or "lang-en" not in original[k - 1]:
                raise ValueError(f"{path.name} cell {k}: a lang-{language} cell not right after its lang-en twin")
            en, tr = blocks(prev.source), blocks(cell.source)
            if [(b.marker.strip()[:1], b.raw) for b in en] != [(b.marker.strip()[:1], b.raw) for b in tr]:
                raise ValueError(f"{path.name} cells {k - 1}/{k}: the twins have different paragraphs "
                                 f"({len(en)} and {len(tr)}); align them by hand first")
            for a, b in zip(en, tr):
                if not a.raw and a.text:
                    if a.text in found and found[a.text] != b.text:
                        raise ValueError(f"{path.name}: two translations of {a.text[:60]!r}")
                    found[a.text] = b.text
            continue
        if "lang-en" in tags(cell):
            cell.metadata["tags"] = [x for x in tags(cell) if x != "lang-en"]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
        keep.append(cell)
    nb.cells = keep
    nbformat.write(nb, path)
    return found


def _add_translations(found: dict[str, str], language: str) -> int:
    """Put ``found`` into the ``language`` catalog (after an update), filling empty entries
    only; returns how many were filled."""
    from . import catalogs

    catalogs.update()
    path = next(p for p in catalogs.catalog_paths() if p.parent.parent.name == language)
    cat = catalogs._read(path)
    n = 0
    for msgid, text in found.items():
        m = cat.get(msgid)
        if m is not None and not m.string:
            m.string = text
            n += 1
    catalogs._write(cat, path)
    return n


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rfm_helpers.report.notebooks")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write notebooks/<lang>/ from the English notebooks (only what changed)")
    c = sub.add_parser("check", help="list stale generated notebooks and untranslated paragraphs")
    a = sub.add_parser("absorb-twins", help="convert lang-en/lang-ru twin cells: Russian text into the catalog")
    for p in (b, c, a):
        p.add_argument("--notebooks", type=Path, default=None, help="folder of the English notebooks")
    for p in (b, c):
        p.add_argument("--language", action="append", help="only this language (default: every catalog)")
    a.add_argument("--language", default="ru")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.command == "build":
        for p in build(args.notebooks, args.language):
            print(f"wrote {p}")
        missing = untranslated(args.notebooks, args.language)
        for line in missing:
            print(f"untranslated: {line}")
        return 0
    if args.command == "check":
        problems = stale(args.notebooks, args.language) + untranslated(args.notebooks, args.language)
        for line in problems:
            print(line)
        return 1 if problems else 0
    found: dict[str, str] = {}
    for src in sources(args.notebooks):
        found.update(absorb_twins(src, args.language))
    print(f"{len(found)} paragraphs found; {_add_translations(found, args.language)} translations added to the catalog")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
