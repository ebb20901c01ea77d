"""The notebooks in each language (rfm_helpers.report.notebooks): English sources with English
Markdown only, a Russian set generated from them and the message catalog, fresh and complete.

If a test here fails after you edited a notebook: ``make messages`` (new paragraphs into the
catalog), translate them in ``rfm_helpers/report/locale/ru/LC_MESSAGES/messages.po``, then
``make notebooks``.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from babel.messages.extract import extract

from rfm_helpers.report import catalogs, notebooks
from rfm_helpers.report.notebooks import Block, absorb_twins, blocks, translate_markdown

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = notebooks.sources(NOTEBOOKS)
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def test_every_report_notebook_has_a_russian_twin_notebook():
    assert [p.name for p in SOURCES] == sorted(p.name for p in (NOTEBOOKS / "ru").glob("*.ipynb"))


def test_an_interactive_session_does_not_make_a_generated_notebook_stale(tmp_path):
    """JupyterLab writes kernel metadata and outputs into a notebook an analyst opened or ran:
    still the same notebook. A changed cell is not."""
    import shutil

    nbs = tmp_path / "nb"
    (nbs / "ru").mkdir(parents=True)
    shutil.copy(SOURCES[1], nbs / SOURCES[1].name)
    notebooks.build(nbs, ["ru"])
    dest = nbs / "ru" / SOURCES[1].name
    nb = nbformat.read(dest, as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello")]
    nb.cells[2].execution_count = 1
    nbformat.write(nb, dest)
    assert notebooks.stale(nbs, ["ru"]) == []
    nb.cells[0].source += " (edited)"
    nbformat.write(nb, dest)
    assert notebooks.stale(nbs, ["ru"]) == [f"{dest}: out of date with {SOURCES[1].name}"]
    assert notebooks.build(nbs, ["ru"]) == [dest] and notebooks.stale(nbs, ["ru"]) == []


def test_generated_notebooks_are_fresh_and_fully_translated():
    problems = notebooks.stale(NOTEBOOKS) + notebooks.untranslated(NOTEBOOKS)
    assert problems == [], "run 'make messages', translate, then 'make notebooks':\n" + "\n".join(problems[:20])


@pytest.fixture(params=SOURCES, ids=lambda p: p.stem)
def pair(request):
    src = request.param
    return src, nbformat.read(src, as_version=4), nbformat.read(NOTEBOOKS / "ru" / src.name, as_version=4)


def test_english_notebooks_have_english_markdown_only(pair):
    src, en, _ = pair
    for cell in en.cells:
        assert not [t for t in cell.get("metadata", {}).get("tags", []) if t.startswith("lang-")], \
            f"{src.name}: language tags are gone; the Russian text lives in the catalog"
        if cell.cell_type == "markdown":
            assert not CYRILLIC.search(cell.source), f"{src.name}: Russian text in an English cell: {cell.source[:80]}"


def _headings(nb) -> list[tuple[str, str]]:
    return [(b.marker.strip(), b.text) for c in nb.cells if c.cell_type == "markdown" for b in blocks(c.source)
            if b.marker.startswith("#")]


def test_russian_notebook_shows_each_heading_once_in_russian(pair):
    src, en, ru = pair
    heads = _headings(ru)
    assert [m for m, _ in heads] == [m for m, _ in _headings(en)]  # the same outline (table of contents)
    assert len({text for _, text in heads}) == len(heads), "a heading appears twice"
    assert all(CYRILLIC.search(text) for _, text in heads), heads
    assert ru.cells[0].cell_type == "markdown" and ru.cells[0].source.startswith("# ")
    for cell in ru.cells:
        if cell.cell_type == "markdown":
            for b in blocks(cell.source):
                assert b.raw or CYRILLIC.search(b.text), f"{src.name}: untranslated paragraph {b.text[:80]!r}"


def test_russian_notebook_runs_the_same_code_in_russian(pair):
    src, en, ru = pair
    assert [c.cell_type for c in en.cells] == [c.cell_type for c in ru.cells]
    params_en = pm.inspect_notebook(str(src))
    params_ru = pm.inspect_notebook(str(NOTEBOOKS / "ru" / src.name))
    assert params_ru["language"]["default"] == '"ru"' and params_en["language"]["default"] == '"en"'
    assert {k: v["default"] for k, v in params_en.items() if k != "language"} == \
        {k: v["default"] for k, v in params_ru.items() if k != "language"}  # currency and the rest unchanged
    for a, b in zip(en.cells, ru.cells):
        if a.cell_type == "code" and "parameters" not in a.metadata.get("tags", []):
            assert a.source == b.source
    assert ru.metadata[notebooks.GENERATED_KEY]["source"] == f"../{src.name}"


def test_markdown_is_split_into_paragraphs_and_put_back_together():
    text = ("# Title\n\nFirst line\nsecond line.\n\n* **One** – item\n  continued\n* Two\n\n---\n"
            "*Note:* after a rule\n\n```python\nx = 1\n\ny = 2\n```\n> quoted\n> more")
    got = blocks(text)
    assert [(b.marker, b.text, b.raw) for b in got] == [
        ("# ", "Title", False), ("", "First line second line.", False), ("* ", "**One** – item continued", False),
        ("* ", "Two", False), ("", "---", True), ("", "*Note:* after a rule", False),
        ("", "```python\nx = 1\n\ny = 2\n```", True), ("> ", "quoted more", False)]
    # English "translation" gives the same Markdown with each paragraph on one line
    assert translate_markdown(text, "en") == ("# Title\n\nFirst line second line.\n\n* **One** – item continued\n"
                                              "* Two\n\n---\n*Note:* after a rule\n\n```python\nx = 1\n\ny = 2\n```\n"
                                              "> quoted more")
    with pytest.raises(ValueError, match="tables"):
        blocks("| a | b |\n|---|---|\n| 1 | 2 |")
    assert Block("## ", "X").render("Икс") == "## Икс"


def test_a_known_paragraph_is_translated_with_its_marker():
    ru = translate_markdown("## Named segments\n\n---\n", "ru")
    assert ru == "## Именованные сегменты\n\n---"


def test_the_catalog_extractor_reads_markdown_paragraphs_and_code_cell_messages():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A title\n\nSome\ntext."),
                nbformat.v4.new_code_cell('%matplotlib inline\nx = t._("Cluster")\ny = t.plural(n, "{n} cat", "{n} cats")')]
    data = io.BytesIO(nbformat.writes(nb).encode("utf-8"))
    found = [(line, msg) for line, msg, *_ in extract(notebooks.extract_notebook, data, catalogs.KEYWORDS)]
    assert found == [(0, "A title"), (0, "Some text."), (1, "Cluster"), (1, ("{n} cat", "{n} cats"))]
    # and catalogs.extract() reads the real notebooks (not the generated ones)
    template = catalogs.extract()
    where = {loc for m in template if m.id == "Named segments" for loc, _ in m.locations}
    assert where == {"notebooks/02_rfm.ipynb"}


def test_old_twin_cells_are_absorbed_into_the_catalog(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nA\nparagraph.", metadata={"tags": ["lang-en"]}),
                nbformat.v4.new_markdown_cell("# Заголовок\n\nАбзац.", metadata={"tags": ["lang-ru"]}),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    assert absorb_twins(path) == {"Title": "Заголовок", "A paragraph.": "Абзац."}
    back = nbformat.read(path, as_version=4)
    assert [c.source for c in back.cells] == ["# Title\n\nA\nparagraph.", "x = 1"]
    assert "tags" not in back.cells[0].metadata and back.cells[1].metadata["tags"] == ["parameters"]
    nb.cells[1].source = "# Заголовок"  # one paragraph missing: refuse rather than misalign
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="different paragraphs"):
        absorb_twins(path)
