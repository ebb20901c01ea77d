"""Static checks of the report notebooks (nbval executes them; the e2e test renders them).

Every notebook must be runnable by the papermill runner with the common parameters, stay
thin, and be committed without outputs (outputs hold customer data and go stale). The
committed check reads what git holds (the nbstripout filter strips outputs on ``git add``), so
a notebook run and saved in JupyterLab does not fail the suite.
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
    # an unparsed line means the runner could not pass that parameter. The last two lines
    # apply the analyst's settings file (rfm_helpers.report.settings), not parameters.
    lines = [ln for ln in tagged[0].source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert lines[-2:] == ["from rfm_helpers.report.settings import use_local_settings",
                          "use_local_settings(globals())  # interactive sessions only: rfm_settings.yaml, if you have one"]
    assert len(lines) - 2 == len(params), "every parameter line must be understood by papermill"


def test_the_first_code_cell_checks_the_parameters(nb):
    """Issue 15 point 5: every declared parameter that RunParams checks is checked by the first
    code cell (rfm_helpers.report.session.start), before anything is loaded."""
    import ast

    from rfm_helpers.params import RunParams

    path, book = nb
    code = [c for c in book.cells if c.cell_type == "code"]
    params = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    first = code[params + 1].source
    call = next(n for n in ast.walk(ast.parse(first)) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "start")
    passed = {k.arg for k in call.keywords}
    declared = set(pm.inspect_notebook(str(path)))
    assert {"analysis_date", "source_config", "window_days", "language", "currency"} <= passed
    assert passed <= declared
    checked = {"segment_map", "correction", "on_unknown", "value_model", "fit_method", "alpha", "send_date",
               "campaign_path", "test_recipients", "history_months", "clv_months", "outcome_window_days"}
    assert declared & checked <= passed, f"checked parameters not passed to start(): {declared & checked - passed}"
    assert first.index("start(") < first.index("prepare(")


def test_committed_without_outputs(nb):
    """What git holds (the index) has no outputs; outside git, the file itself."""
    from rfm_helpers.report.gitclean import committed_text

    path, book = nb
    text = committed_text(path)
    if text is not None:
        book = nbformat.reads(text, as_version=4)
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
