"""Issue 15 point 6: git stays clean by itself after normal interactive work.

A notebook run and saved in JupyterLab (outputs, execution counts, the kernel's language_info,
cell timing metadata) is, through the nbstripout filter of ``.gitattributes``, exactly the
committed notebook: ``git status`` shows nothing and the suite's committed-notebook check reads
the index. The real JupyterLab save is checked by ``tests/test_jupyterlab.py``."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from rfm_helpers.report import gitclean

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((REPO / "notebooks" / "ru").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def worked_on(text: str) -> str:
    """``text`` as JupyterLab saves it after Run All: outputs, counts, language_info, cell metadata."""
    nb = nbformat.reads(text, as_version=4)
    n = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            n += 1
            cell.execution_count = n
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<p>Revenue $1.59</p>"}),
                            nbformat.v4.new_output("stream", name="stdout", text="42\n")]
            cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
            cell.metadata["scrolled"] = True
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python",
                                    "codemirror_mode": {"name": "ipython", "version": 3}}
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def test_gitattributes_puts_notebooks_through_the_filter():
    lines = (REPO / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert gitclean.ATTRIBUTES in lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_a_notebook_after_interactive_work_strips_to_the_committed_one(path):
    text = path.read_text(encoding="utf-8")
    assert gitclean.strip(text) == text, "the committed notebook is not what the filter commits: run the filter on it"
    assert gitclean.strip(worked_on(text)) == text


def test_git_status_stays_clean_after_interactive_work(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    shutil.copy(REPO / ".gitattributes", tmp_path / ".gitattributes")
    nb = tmp_path / "notebooks" / "02_rfm.ipynb"
    nb.parent.mkdir()
    shutil.copy(REPO / "notebooks" / "02_rfm.ipynb", nb)
    assert gitclean.install(tmp_path) and gitclean.installed(tmp_path)
    git("add", ".")
    git("commit", "-qm", "notebook")
    clean = nb.read_text(encoding="utf-8")
    nb.write_text(worked_on(clean), encoding="utf-8")
    # git diff sees no change; git status lists the file only because its size changed (git
    # trusts a size change without filtering), and adding it records nothing
    assert git("diff") == ""
    git("add", "-A")
    assert git("diff", "--cached") == "" and git("status", "--porcelain") == ""
    assert gitclean.committed_text(nb) == clean
    # a real change (a new line of code) is still seen
    book = nbformat.reads(clean, as_version=4)
    book.cells[-1].source += "\nprint('new')"
    nb.write_text(worked_on(json.dumps(book, indent=1, ensure_ascii=False) + "\n"), encoding="utf-8")
    assert "02_rfm.ipynb" in git("status", "--porcelain")
