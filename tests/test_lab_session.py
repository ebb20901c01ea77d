"""An analyst's session (issue 15 points 2, 4, 5, 8), through real kernels (nbclient/papermill).

* the settings file (rfm_settings.yaml) fills the parameters in an interactive session; papermill's
  injected values win; the runner never reads it; mistakes in it name the file and line;
* the first code cell stops a wrong parameter with one short line (no traceback), and a missing
  file says where it was looked for;
* autoreload is on in an interactive session (an edited module is used without a restart), and
  off under papermill;
* an interactive run writes into its own folder per source and analysis date, exports carry a
  README.txt; two sources never share one."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from rfm_helpers import paths
from rfm_helpers.params import ParameterError
from rfm_helpers.report import settings as st
from rfm_helpers.report.session import start

REPO = Path(__file__).resolve().parents[1]


def _nb(*cells: str, params: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = []
    if params is not None:
        c = nbformat.v4.new_code_cell(params)
        c.metadata["tags"] = ["parameters"]
        out.append(c)
    out += [nbformat.v4.new_code_cell(textwrap.dedent(s)) for s in cells]
    nb.cells = out
    return nb


def _run(nb, cwd: Path, env: dict[str, str], allow_errors: bool = False):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                       allow_errors=allow_errors).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return nb


def _text(cell) -> str:
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            out.append(o.data.get("text/html") or o.data.get("text/plain", ""))
        elif o.output_type == "error":
            out.append("\n".join(o.traceback))
    return "\n".join(out)


PARAMS = '''analysis_date = "1998-06-30"
source_config = ""
window_days = 0
language = "en"
currency = ""
segment_map = "classic"
history_months = 12
from rfm_helpers.report.settings import use_local_settings
use_local_settings(globals())'''
SHOW = "print(repr((analysis_date, window_days, segment_map, history_months)))"


# ----------------------------------------------------------------------------- settings file


def test_settings_fill_parameters_in_an_interactive_kernel(tmp_path):
    cfg = tmp_path / "rfm_settings.yaml"
    cfg.write_text("analysis_date: 1998-05-31\nsegment_map: three_groups\nhistory_months: 6\n", encoding="utf-8")
    nb = _run(_nb(SHOW, params=PARAMS), tmp_path, {"RFM_SETTINGS": str(cfg)})
    assert "('1998-05-31', 0, 'three_groups', 6)" in _text(nb.cells[1])


def test_papermill_parameters_win_and_the_runner_never_reads_settings(tmp_path):
    import papermill as pm

    cfg = tmp_path / "rfm_settings.yaml"
    cfg.write_text("segment_map: three_groups\nhistory_months: 6\n", encoding="utf-8")
    src = tmp_path / "nb.ipynb"
    nbformat.write(_nb(SHOW, "from rfm_helpers.report.session import interactive_session\n"
                             "print('interactive', interactive_session())", params=PARAMS), src)
    old = os.environ.get("RFM_SETTINGS")
    os.environ["RFM_SETTINGS"] = str(cfg)
    try:
        out = pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters={"history_months": 3},
                                  kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
        text = "\n".join(_text(c) for c in out.cells)
        assert "('1998-06-30', 0, 'three_groups', 3)" in text  # injected value wins, others from the file
        assert "interactive False" in text  # papermill: no autoreload
        os.environ["RFM_RUN_DIR"] = str(tmp_path / "run")  # the monthly runner
        out = pm.execute_notebook(str(src), str(tmp_path / "out2.ipynb"), parameters={}, kernel_name="python3",
                                  progress_bar=False, cwd=str(tmp_path))
        assert "('1998-06-30', 0, 'classic', 12)" in "\n".join(_text(c) for c in out.cells)
    finally:
        os.environ.pop("RFM_RUN_DIR", None)
        os.environ.pop("RFM_SETTINGS", None) if old is None else os.environ.__setitem__("RFM_SETTINGS", old)


@pytest.mark.parametrize("text, says", [
    ("segmnt_map: rfm\n", "line 1: 'segmnt_map' is not a parameter of any notebook. Did you mean 'segment_map'?"),
    ("window_days: 0\nhistory_months: six\n", "line 2: history_months must be a whole number, got 'six'"),
    ("language: ru\n", "open notebooks/ru/ for Russian"),
    ("source_config: shops/mine.yaml\n", "is not there (a relative path is relative to the settings file's folder"),
    ("segment_map: [classic\n", "the YAML cannot be read"),
])
def test_a_wrong_settings_file_names_file_line_and_fix(tmp_path, monkeypatch, text, says):
    cfg = tmp_path / "rfm_settings.yaml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("RFM_SETTINGS", str(cfg))
    monkeypatch.delenv("RFM_RUN_DIR", raising=False)
    with pytest.raises(st.SettingsError) as exc:
        st.use_local_settings({"segment_map": "classic", "window_days": 0, "history_months": 12, "language": "en"})
    assert says in str(exc.value) and str(cfg) in str(exc.value)
    assert exc.value._render_traceback_() == [f"SettingsError: {exc.value}"]


def test_settings_paths_are_relative_to_the_settings_file(tmp_path, monkeypatch):
    (tmp_path / "shops").mkdir()
    (tmp_path / "shops" / "mine.yaml").write_text("path: x.csv\n", encoding="utf-8")
    cfg = tmp_path / "rfm_settings.yaml"
    cfg.write_text("source_config: shops/mine.yaml\n", encoding="utf-8")
    monkeypatch.setenv("RFM_SETTINGS", str(cfg))
    monkeypatch.delenv("RFM_RUN_DIR", raising=False)
    ns = {"source_config": ""}
    st.use_local_settings(ns)
    assert ns["source_config"] == str((tmp_path / "shops" / "mine.yaml").resolve())
    assert st.last_applied().file == cfg


def test_the_committed_example_is_a_valid_settings_file(monkeypatch):
    example = REPO / st.EXAMPLE_FILE
    values = st.read_settings(example)
    assert values and "language" not in values
    ignored = REPO / ".gitignore"
    assert f"/{st.SETTINGS_FILE}" in ignored.read_text(encoding="utf-8").splitlines()


def test_settings_off_and_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("RFM_SETTINGS", "off")
    assert st.settings_path() is None
    monkeypatch.setenv("RFM_SETTINGS", str(tmp_path / "nope.yaml"))
    with pytest.raises(st.SettingsError, match="looked in"):
        st.settings_path()


# ----------------------------------------------------------------------------- first code cell


@pytest.mark.parametrize("values, says", [
    ({"segment_map": "clasic"}, "segment_map 'clasic' is not a segment map; use one of:"),
    ({"language": "de"}, "language: 'de' is not available; use one of: en, ru"),
    ({"correction": "bonferoni"}, "correction 'bonferoni' is not a correction method"),
    ({"value_model": "pareto"}, "value_model 'pareto' is not a value model; use one of: mbgnbd, bgnbd"),
    ({"fit_method": "nuts"}, "fit_method 'nuts' is not a fitting method"),
    ({"analysis_date": "30.06.1998"}, "analysis_date: must be a date like 1998-06-30 (YYYY-MM-DD)"),
    ({"history_months": 0}, "history_months 0 must be a whole number of at least 1"),
    ({"alpha": 5}, "alpha 5 must be a significance level between 0 and 0.5"),
])
def test_start_refuses_a_wrong_parameter_in_one_sentence(values, says):
    base = {"analysis_date": "1998-06-30", "source_config": "", "window_days": 0, "language": "en", "currency": ""}
    with pytest.raises(ParameterError) as exc:
        start(**{**base, **values})
    assert says in str(exc.value)
    assert len(exc.value._render_traceback_()) == 1


def test_a_wrong_parameter_stops_the_first_cell_with_one_line_and_no_traceback(tmp_path):
    nb = _nb("from rfm_helpers.report.session import start\n"
             "run = start(analysis_date='1998-06-30', source_config='shops/nowhere.yaml', language='en')",
             "from rfm_helpers.report.session import start\nrun = start(language='de')",
             "print('never')")
    nb = _run(nb, tmp_path, {"RFM_SETTINGS": "off"}, allow_errors=True)
    missing = nb.cells[0].outputs[-1]
    assert missing.output_type == "error" and len(missing.traceback) == 1
    assert missing.traceback[0].startswith("MissingFile: source config shops/nowhere.yaml not found; looked in ")
    assert str(tmp_path / "shops" / "nowhere.yaml") in missing.traceback[0]
    wrong = nb.cells[1].outputs[-1]
    assert wrong.traceback == ["ParameterError: language: 'de' is not available; use one of: en, ru"]


# ----------------------------------------------------------------------------- autoreload


def test_an_edit_is_picked_up_without_a_restart_in_an_interactive_kernel(tmp_path):
    mod = tmp_path / "labmod_autoreload.py"
    mod.write_text("VALUE = 1\n", encoding="utf-8")
    nb = _nb("import sys; sys.path.insert(0, '.')\n"
             "from rfm_helpers.report.session import start\nrun = start(language='en')\n"
             "import labmod_autoreload\nprint('first', labmod_autoreload.VALUE)",
             "import pathlib, time; time.sleep(1.1)\n"
             "pathlib.Path('labmod_autoreload.py').write_text('VALUE = 2\\n')",
             "print('second', labmod_autoreload.VALUE)")
    nb = _run(nb, tmp_path, {"RFM_SETTINGS": "off"})
    assert "first 1" in _text(nb.cells[0]) and "second 2" in _text(nb.cells[2])


# ----------------------------------------------------------------------------- run folders


def test_interactive_run_folders_by_source_and_date(tmp_path):
    root = tmp_path
    a = paths.interactive_run_dir("shop", "file:/data/a.csv", __import__("datetime").date(2024, 5, 31), root=root)
    assert a == root / "reports" / "_interactive" / "shop_2024-05-31"
    assert json.loads((a / "run.json").read_text())["identity"] == "file:/data/a.csv"
    again = paths.interactive_run_dir("shop", "file:/data/a.csv", __import__("datetime").date(2024, 5, 31), root=root)
    assert again == a  # re-running the same one: the same folder
    other = paths.interactive_run_dir("shop", "file:/elsewhere/a.csv", __import__("datetime").date(2024, 5, 31), root=root)
    assert other != a and other.name.startswith("shop-") and other.name.endswith("_2024-05-31")
    assert paths.slug("Продажи 1С (май).yaml") == "продажи-1с-май-yaml"


def test_an_exports_folder_never_mixes_two_sources(tmp_path):
    import datetime as dt

    import pandas as pd

    from rfm_helpers.act import ExportWriter
    from rfm_helpers.act.writer import ExportFolderConflict
    from rfm_helpers.report.texts.act import export_words

    ex = ExportWriter(tmp_path, words=export_words("en", "RUB"), source_name="Shop A", as_of=dt.date(2024, 5, 31),
                      currency="RUB")
    ex.write_table("campaign_excluded_customers.csv", pd.DataFrame({"customer_id": ["1", "2"]}))
    readme = (tmp_path / "README.txt").read_text(encoding="utf-8")
    assert "Shop A" in readme and "2024-05-31" in readme and "campaign_excluded_customers.csv" in readme
    assert "Currency: RUB" in readme and "Written: " in readme and "Source: Shop A" in readme
    with pytest.raises(ExportFolderConflict, match="holds the files of 'Shop A' for 2024-05-31"):
        ExportWriter(tmp_path, source_name="Shop B", as_of=dt.date(2024, 5, 31))
    ExportWriter(tmp_path, source_name="Shop A", as_of=dt.date(2024, 5, 31))  # the same run again: fine


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
                         + sorted((REPO / "notebooks" / "ru").glob("[0-9][0-9]_*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_checks_its_parameters_in_the_first_code_cell(path):
    """The first code cell after the parameters cell calls start() with every parameter of the
    notebook that the validation knows, so a wrong one stops there and not cells later; the
    parameters cell ends with use_local_settings(globals())."""
    import ast

    from rfm_helpers.params import STANDARD_PARAMETERS, WHOLE_NUMBERS, RunParams

    checked = ({*STANDARD_PARAMETERS, "segment_map", "correction", "on_unknown", "value_model", "fit_method", "alpha",
                "send_date"} | set(WHOLE_NUMBERS) | set(RunParams.PATH_PARAMETERS)) - {"run_dir"}
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    body = ast.parse(code[0].source).body
    declared = {t.id for n in body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert ast.unparse(body[-1]) == "use_local_settings(globals())"
    calls = [n for n in ast.walk(ast.parse(code[1].source))
             if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "start"]
    assert len(calls) == 1, "the first code cell must call start(...)"
    passed = {k.arg for k in calls[0].keywords}
    assert not (declared & checked) - passed, f"not checked in the first code cell: {sorted((declared & checked) - passed)}"
    assert all(isinstance(k.value, ast.Name) and k.value.id == k.arg for k in calls[0].keywords)
