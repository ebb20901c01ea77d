"""Find words of another language on a report page (for tests and the browser check).

A Russian page may contain Latin letters for good reasons: codes and acronyms (``RFM``,
``CSV``, ``BIC``), proper names (``CDNOW``, ``k-means``, ``Excel``), identifiers (parameter
names such as ``analysis_date``, file names such as ``rfm_scores.csv``), numbers with units
and ids. What it must not contain is English *prose*: a caption, a sentence, an axis label or
a table header that was never translated. :func:`foreign_words` lists the Latin words of a
page that are none of the legitimate kinds above:

* text inside ``<code>``, ``<pre>``, ``<kbd>``, ``<samp>``, ``<script>``, ``<style>``, inside
  any element marked ``translate="no"`` (the HTML attribute meaning "not to be translated":
  the templates put it on package lists, hashes and parameter names) and inside an element
  whose ``lang`` differs from the page's (``<span lang="en">recency</span>``: a term quoted
  in the original language on purpose) is skipped;
* a token containing a digit, ``_``, ``.``, ``/``, ``\\``, ``@``, ``=`` or ``:`` is an
  identifier, a file name, a version or a number, not a word;
* a token with a Cyrillic letter is a Russian word (``RFM-сегмент``);
* all-capital tokens (``RFM``, ``ARI``, ``CUPED``) and single letters (``R``, ``k``) are codes;
* the words of :data:`ALLOWED` (proper names) and of the caller's ``allowed`` (for example the
  run's parameter names and segment map names) are allowed, ignoring letter case.

Image ``alt`` texts and ``title`` attributes are read too (a screen reader says them aloud).
The check is meant for pages in a language that does not use the Latin alphabet (Russian);
for English pages it has nothing to say.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Iterable

__all__ = ["ALLOWED", "Foreign", "foreign_words", "page_text"]

#: Proper names and fixed technical names that stay in Latin letters in a Russian report.
ALLOWED = frozenset(w.lower() for w in (
    "CDNOW", "k-means", "Excel", "Parquet", "Python", "JupyterLab", "Jupyter", "Gamma-Gamma",
    "rfm-helpers", "rfm-report", "Email", "e-mail", "PyMC-Marketing", "git",
    "gzip", "pandas", "DuckDB",  # the export files' size policy names the format and the readers of .csv.gz
))
_SKIP_TAGS = {"script", "style", "code", "pre", "kbd", "samp", "var", "svg", "math"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_LATIN = re.compile(r"[A-Za-z]")
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_IDENTIFIER = re.compile(r"[0-9_./\\@=:]")
_EDGE = re.compile(r"^[^\w]+|[^\w]+$")  # punctuation and quotes around a word
_OPENING = re.compile(r"^[(\[{«\"'“‘„]+")
_CLOSING = re.compile(r"[)\]}»\"'”’,;:!?…]+$|(?<=\w)\.$")
#: Inline tags that may sit inside a word (``<b>R</b>FM``).
_INLINE = {"b", "strong", "i", "em", "u", "sub", "sup", "small", "mark", "a", "abbr"}
_BLOCK = {"p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "summary",
          "title", "figcaption", "dt", "dd", "section", "article", "header", "footer", "nav", "table"}


@dataclass(frozen=True)
class Foreign:
    """A word that looks like untranslated prose, with the text block it was found in."""

    word: str
    context: str

    def __str__(self) -> str:
        return f"{self.word!r} in: {self.context[:160]}"


class _Text(HTMLParser):
    """Visible text of a page split into blocks, without skipped elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.blocks: list[str] = []
        self._buf: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipping)

    @property
    def _skipping(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def _flush(self) -> None:
        text = _SPACES.sub(" ", "".join(self._buf)).strip()  # keeps no-break spaces (23 502)
        if text:
            self.blocks.append(text)
        self._buf = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html" and a.get("lang"):
            self.lang = a["lang"].lower()
        other_lang = tag != "html" and bool(a.get("lang")) and a["lang"].lower() != self.lang
        skip = self._skipping or tag in _SKIP_TAGS or (a.get("translate") or "").lower() == "no" or other_lang
        if not skip:
            for name in ("alt", "title", "aria-label"):
                if a.get(name):
                    self.blocks.append(_SPACES.sub(" ", a[name]).strip())
        if tag in _BLOCK:
            self._flush()
        elif tag not in _INLINE:
            self._buf.append(" ")  # tags such as <span> or <img> never join two words
        if tag not in _VOID:
            self._stack.append((tag, skip))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._stack and self._stack[-1][0] == tag:
            self._stack.pop()

    def handle_endtag(self, tag):
        if tag in _BLOCK:
            self._flush()
        elif tag not in _INLINE:
            self._buf.append(" ")
        # close up to the matching tag (HTML written by nbconvert is well formed; be lenient)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        if not self._skipping:
            self._buf.append(data)

    def close(self):
        super().close()
        self._flush()


def page_text(html: str) -> list[str]:
    """The text blocks a reader sees on ``html`` (skipped elements left out)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser.blocks


def _is_word_to_check(token: str, allowed: frozenset[str]) -> bool:
    bare = _CLOSING.sub("", _OPENING.sub("", token))  # keeps ".xlsx", "exports/", "v1.2"
    word = _EDGE.sub("", token)
    if not word or not _LATIN.search(word):
        return False
    if _CYRILLIC.search(word) or _IDENTIFIER.search(bare) or _IDENTIFIER.search(word):
        return False
    if len(word) == 1 or (word.replace("-", "").isupper() and word.replace("-", "").isalpha()):
        return False
    return word.lower() not in allowed


def foreign_words(html: str, allowed: Iterable[str] = ()) -> list[Foreign]:
    """Latin words on the page ``html`` that are not codes, identifiers or allowed names
    (see the module's docstring); empty when the page reads entirely in its language."""
    ok = ALLOWED | {w.lower() for w in allowed}
    out: list[Foreign] = []
    for block in page_text(html):
        for token in block.split():
            if _is_word_to_check(token, ok):
                out.append(Foreign(_EDGE.sub("", token), block))
    return out
