"""Faults: a failing cell, a dying kernel, an interrupted run. The previous good report must
survive, the command must exit non-zero naming the notebook and the cell, and a re-run works."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from rfm_helpers.report import cli, execute, publish
from rfm_helpers.report import run as report_run
from runner_fixtures import make_notebook

GOOD = ["from rfm_helpers.report import summary\nsummary.record('customers', 10, 'Customers')"]


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(reports: Path, prefix: str) -> list[Path]:
    return [p for p in reports.iterdir() if p.name.startswith(prefix)]


@pytest.fixture(scope="module")
def _rendered_once(tmp_path_factory):
    base = tmp_path_factory.mktemp("good")
    nbs = base / "nb"
    make_notebook(nbs / "01_first.ipynb", "First", GOOD)
    make_notebook(nbs / "02_second.ipynb", "Second", ["x = 1", "y = x + 1"])
    report_run.run_month("1998-06", reports_dir=base / "reports", notebooks_dir=nbs, progress=False)
    return base


@pytest.fixture
def good_report(_rendered_once, tmp_path):
    """A good 1998-06 report of two notebooks (rendered once per module, copied per test);
    returns (notebooks dir, reports dir, digest of the month folder)."""
    shutil.copytree(_rendered_once / "nb", tmp_path / "nb")
    shutil.copytree(_rendered_once / "reports", tmp_path / "reports")
    reports = tmp_path / "reports"
    return tmp_path / "nb", reports, _tree_digest(reports / "1998-06")


def test_raising_cell_keeps_previous_report(good_report):
    nbs, reports, before = good_report
    # cell index 3 of the source notebook: title(0), parameters(1), "x = 1"(2), failing(3)
    make_notebook(nbs / "02_second.ipynb", "Second", ["x = 1", "y = x / 0", "print('never')"])
    with pytest.raises(execute.NotebookFailed) as e:
        report_run.run_month("1998-06", reports_dir=reports, notebooks_dir=nbs, progress=False)
    assert e.value.notebook == "02_second.ipynb"
    assert e.value.cell_index == 3
    assert e.value.error == "ZeroDivisionError: division by zero"
    assert e.value.cell_source == "line 1: y = x / 0"
    msg = str(e.value)
    assert "02_second.ipynb" in msg and "cell 3" in msg and "ZeroDivisionError" in msg and ".failed-1998-06" in msg
    assert _tree_digest(reports / "1998-06") == before  # untouched
    assert _hidden(reports, ".tmp-") == []
    failed = reports / ".failed-1998-06"
    assert (failed / "FAILED.txt").exists() and "02_second.ipynb" in (failed / "failure.txt").read_text()
    assert "1998-06" in (reports / "index.html").read_text(encoding="utf-8")  # index still lists the good run


def test_dead_kernel_keeps_previous_report(good_report, capsys):
    # what a native crash looks like: a message on the process's stderr, then the process is gone
    crash = "import os\nos.write(2, b'fatal: simulated native crash\\n')\nos._exit(1)"
    nbs, reports, before = good_report
    make_notebook(nbs / "02_second.ipynb", "Second", ["x = 1", crash, "print('never')"])
    rc = cli.main(["run", "--month", "1998-06", "--notebooks-dir", str(nbs), "--reports-dir", str(reports),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "02_second.ipynb" in err and "cell 3" in err and "kernel died" in err
    assert "kernel stderr: fatal: simulated native crash" in err
    assert "without encryption" not in err  # kernel start-up noise stays out of the message
    assert _tree_digest(reports / "1998-06") == before
    assert _hidden(reports, ".tmp-") == []


def test_interrupted_run_cleans_up_and_rerun_works(good_report, monkeypatch):
    nbs, reports, before = good_report
    calls = []
    real = report_run.execute_notebook

    def interrupted(src, out, params, cwd, **kw):
        calls.append(src.name)
        if len(calls) == 1:
            (out.parent / "half-written.html").write_text("...")
            raise KeyboardInterrupt  # Ctrl-C while the first notebook runs
        return real(src, out, params, cwd, **kw)

    monkeypatch.setattr(report_run, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report_run.run_month("1998-06", reports_dir=reports, notebooks_dir=nbs, progress=False)
    assert _tree_digest(reports / "1998-06") == before
    assert _hidden(reports, ".tmp-") == []
    monkeypatch.setattr(report_run, "execute_notebook", real)
    out = report_run.run_month("1998-06", reports_dir=reports, notebooks_dir=nbs, progress=False)
    assert (out / "02_second.html").exists() and (out / "summary.json").exists()


def test_rerun_after_hard_kill_leftovers(good_report):
    """A run killed with SIGKILL cannot clean up: it leaves a temp folder, and if it died between
    the two renames of the swap, only a backup. The next run restores/cleans and succeeds."""
    nbs, reports, before = good_report
    stale = reports / ".tmp-1998-06-deadbeef"
    stale.mkdir()
    (stale / "01_first.html").write_text("half-written")
    os.replace(reports / "1998-06", reports / ".old-1998-06-cafe0001")  # swap interrupted mid-way
    publish.recover_and_clean(reports, "1998-06")
    assert _tree_digest(reports / "1998-06") == before  # backup restored as the published report
    assert _hidden(reports, ".tmp-") == [] and _hidden(reports, ".old-") == []
    (reports / ".tmp-1998-06-feedf00d").mkdir()
    out = report_run.run_month("1998-06", reports_dir=reports, notebooks_dir=nbs, progress=False)
    assert (out / "index.html").exists()
    assert _hidden(reports, ".tmp-") == [] and _hidden(reports, ".old-") == []


def test_successful_rerun_replaces_and_clears_failed(good_report):
    nbs, reports, before = good_report
    make_notebook(nbs / "01_first.ipynb", "First", ["1/0"])
    with pytest.raises(execute.NotebookFailed):
        report_run.run_month("1998-06", reports_dir=reports, notebooks_dir=nbs, progress=False)
    assert (reports / ".failed-1998-06").exists()
    make_notebook(nbs / "01_first.ipynb", "First", GOOD)
    make_notebook(nbs / "02_second.ipynb", "Second v2", ["z = 3"])
    out = report_run.run_month("1998-06", reports_dir=reports, notebooks_dir=nbs, progress=False)
    assert "Second v2" in (out / "02_second.html").read_text(encoding="utf-8")
    assert not (reports / ".failed-1998-06").exists()
    assert "1998-06" in (reports / "index.html").read_text(encoding="utf-8")


def test_concurrent_run_of_same_month_refused(good_report):
    nbs, reports, before = good_report
    with publish.month_lock(reports, "1998-06"):  # another run holds the month
        with pytest.raises(RuntimeError, match="another run of 1998-06 is in progress"):
            report_run.run_month("1998-06", reports_dir=reports, notebooks_dir=nbs, progress=False)
    assert _tree_digest(reports / "1998-06") == before
    assert [p.name for p in reports.iterdir() if p.name.startswith(".lock-")] == []  # locks live in .locks/
