"""Kernels started ahead (rfm_helpers.report.kernels.KernelPrewarmer): each notebook still gets
its own new kernel, the first cell's modules are already imported, and nothing of the warm-up
is visible to the notebook (no name bound, execution counter at 1, no output)."""
from __future__ import annotations

import os

import nbformat
import pytest

from rfm_helpers.report.execute import KernelPrewarmer, execute_notebook, first_cell_imports


def _notebook(path, first_cell):
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
                       language_info={"name": "python"})
    nb.cells = [
        nbformat.v4.new_code_cell("import sys\nwarm = 'colorsys' in sys.modules  # before the first cell ran\nx = 1",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(first_cell),
        nbformat.v4.new_code_cell(
            "import os, sys\n"
            "assert '__rfm_warm_up' not in globals()\n"
            "shell = {'In', 'Out', 'get_ipython', 'exit', 'quit', 'open'}\n"
            "print(os.getpid(), warm, sorted(k for k in globals() if not k.startswith('_') and k not in shell))"),
    ]
    nbformat.write(nb, path)
    return path


def test_first_cell_imports_keeps_absolute_imports_only(tmp_path):
    src = _notebook(tmp_path / "a.ipynb", "import json\nfrom os import path as p\nfrom . import x\n"
                                          "from math import *\ny = 2\nimport colorsys")
    code = first_cell_imports(src)
    assert code.splitlines()[:4] == ["def __rfm_warm_up():", "    import json", "    from os import path as p",
                                     "    import colorsys"]
    assert "('json', 'os', 'os.path', 'colorsys')" in code and "from . import" not in code and "*" not in code
    assert code.endswith("__rfm_warm_up()\ndel __rfm_warm_up\n")
    compile(code, "warm-up", "exec")
    assert first_cell_imports(_notebook(tmp_path / "b.ipynb", "y = (")) == ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_warm_kernel_runs_its_notebook_like_a_new_one(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb", "x = 2  # not an import: never run ahead\nimport colorsys")
    with KernelPrewarmer() as warm:
        kernels = [warm.start(src, tmp_path, tmp_path / f"k{i}.txt") for i in range(2)]
        outs = [execute_notebook(src, tmp_path / f"out{i}.ipynb", {"x": 5}, cwd=tmp_path, kernel=k)
                for i, k in enumerate(kernels)]
        spare = warm.start(src, tmp_path)  # never used: closing the prewarmer shuts it down
        spare_pid = spare.manager().provisioner.pid
    pids = []
    for out in outs:
        code = [c for c in out.cells if c.cell_type == "code"]
        assert [c.execution_count for c in code] == [1, 2, 3, 4]  # the warm-up did not count
        assert not any(o for c in code[:-1] for o in c.outputs)
        pid, imported, names = code[-1].outputs[0]["text"].split(" ", 2)
        assert imported == "True" and eval(names) == ["colorsys", "os", "shell", "sys", "warm", "x"]
        pids.append(int(pid))
    assert pids[0] != pids[1]  # one kernel per notebook
    cold = execute_notebook(src, tmp_path / "cold.ipynb", {"x": 5}, cwd=tmp_path)  # no kernel started ahead
    assert cold.cells[-1].outputs[0]["text"].split(" ", 2)[1:] == ["False", names]
    assert not any(_pid_alive(p) for p in [*pids, spare_pid])


def test_a_failing_notebook_still_shuts_its_warm_kernel_down(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    src = _notebook(tmp_path / "nb.ipynb", "import colorsys\nraise ValueError('boom')")
    with KernelPrewarmer() as warm:
        kernel = warm.start(src, tmp_path, tmp_path / "k.txt")
        pid = kernel.manager().provisioner.pid
        with pytest.raises(PapermillExecutionError, match="boom"):
            execute_notebook(src, tmp_path / "out.ipynb", {}, cwd=tmp_path, kernel=kernel)
    assert not _pid_alive(pid)  # it exits in the background; closing the prewarmer waits for it
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)  # saved at the end whatever happened
    failed = [c for c in out.cells if c.get("metadata", {}).get("papermill", {}).get("status") == "failed"]
    assert len(failed) == 1 and failed[0].outputs[-1]["ename"] == "ValueError"


def test_imported_modules_warm_up_hooks_run_ahead_and_their_errors_do_not(tmp_path, monkeypatch):
    pkg = tmp_path / "warmpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os\nDONE = []\n"
                                     "def __kernel_warm_up__():\n    DONE.append(os.getpid())\n", encoding="utf-8")
    (pkg / "broken.py").write_text("def __kernel_warm_up__():\n    raise RuntimeError('ignored')\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    src = _notebook(tmp_path / "nb.ipynb", "import colorsys\nimport warmpkg\nfrom warmpkg import broken")
    nb = nbformat.read(src, as_version=4)
    nb.cells[-1].source += "\nimport warmpkg\nprint(warmpkg.DONE == [os.getpid()])"
    nbformat.write(nb, src)
    with KernelPrewarmer() as warm:
        out = execute_notebook(src, tmp_path / "out.ipynb", {}, cwd=tmp_path, kernel=warm.start(src, tmp_path))
    assert out.cells[-1].outputs[0]["text"].splitlines()[-1] == "True"


def test_notebook_06_has_pymc_marketing_imported_ahead():
    from pathlib import Path

    import rfm_helpers.value
    from rfm_helpers.report.execute import KERNEL_WARM_UP

    code = first_cell_imports(Path(__file__).resolve().parents[1] / "notebooks" / "06_customer_value.ipynb")
    assert "'rfm_helpers.value'" in code and callable(getattr(rfm_helpers.value, KERNEL_WARM_UP))


def test_the_executed_notebook_is_saved_at_most_every_few_seconds_and_at_the_end(tmp_path, monkeypatch):
    import papermill.engines

    saves = []
    real = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb", lambda nb, path: (saves.append(path), real(nb, path)))
    src = _notebook(tmp_path / "nb.ipynb", "import colorsys")
    nb = nbformat.read(src, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(f"y{i} = {i}") for i in range(20)]
    nbformat.write(nb, src)
    out = execute_notebook(src, tmp_path / "out.ipynb", {}, cwd=tmp_path)
    # two saves per cell before (at its start and its end): 50 writes of the whole notebook
    assert 1 <= len(saves) <= 4
    written = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert [c.metadata.papermill.status for c in written.cells] == ["completed"] * len(out.cells)
