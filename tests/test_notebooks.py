"""Static checks of the report notebooks (nbval executes them; the e2e test renders them).

Every notebook must be runnable by the papermill runner with the common parameters, stay
thin, and be committed without outputs (outputs hold customer data and go stale).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COMMON = {"analysis_date", "source_config", "window_days", "language", "run_dir"}
EXPECTED = ["01_load_and_validate", "02_rfm", "03_segmentation", "04_campaign_ab_test",
            "05_segment_migration", "06_customer_value"]


def test_all_report_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def nb(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_parameters_cell_is_tagged_and_parseable(nb, recwarn):
    path, book = nb
    tagged = [c for c in book.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    params = pm.inspect_notebook(str(path))
    assert COMMON <= set(params), f"missing common parameters {COMMON - set(params)}"
    # papermill cannot parse a line whose comment contains '=' or quotes in some forms:
    # an unparsed line means the runner could not pass that parameter.
    lines = [ln for ln in tagged[0].source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) == len(params), "every parameter line must be understood by papermill"


def test_committed_without_outputs(nb):
    _, book = nb
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.get("outputs", []) == [], "clear outputs before committing"
            assert cell.get("execution_count") is None


def test_starts_with_a_title_and_uses_the_python3_kernel(nb):
    _, book = nb
    first = book.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# ")
    assert book.metadata["kernelspec"]["name"] == "python3"


def test_notebooks_stay_thin(nb):
    """Logic lives in rfm_helpers: no function or class definitions in notebooks, and no
    long code cells."""
    _, book = nb
    for cell in book.cells:
        if cell.cell_type != "code":
            continue
        src = cell.source
        assert "\ndef " not in "\n" + src and "\nclass " not in "\n" + src
        assert len(src.splitlines()) <= 30, f"code cell too long:\n{src[:200]}"


def test_code_cells_are_valid_python(nb):
    """Cheap guard before nbval executes them: every code cell parses (magics aside)."""
    import ast

    path, book = nb
    for i, cell in enumerate(book.cells):
        if cell.cell_type == "code":
            src = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
            ast.parse(src, filename=f"{path.name}[cell {i}]")
