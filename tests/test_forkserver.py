"""Kernels forked from the fork server (rfm_helpers.report.forkserver): a forked kernel is the
kernel a new interpreter would be (same working folder, environment, module path, matplotlib
backend, inline figures, shell), with its own random state; a kernel whose environment differs
in what is read at import, or one asked for after the server died, starts the usual way; and
nothing outlives the prewarmer."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import nbformat
import pytest

from rfm_helpers.report import forkserver
from rfm_helpers.report.execute import execute_notebook
from rfm_helpers.report.forkserver import ForkServer, _ForkedProcess, fork_enabled
from rfm_helpers.report.kernels import KernelPrewarmer

pytestmark = pytest.mark.skipif(not fork_enabled(), reason="kernels are forked on Linux only")

PROBE = """\
import json, os, signal, sys, random
import matplotlib
import matplotlib.pyplot as plt
print(json.dumps({
    "pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(),
    "notebook": os.environ.get("RFM_NOTEBOOK"), "probe": os.environ.get("RFM_PROBE"),
    "path": sys.path, "argv0": os.path.basename(sys.argv[0]), "backend": matplotlib.get_backend(),
    "random": random.random(), "shell": type(get_ipython()).__name__, "main": sys.modules["__main__"].__name__,
    "notebook_bars": "tqdm.autonotebook" in sys.modules, "sigint": repr(signal.getsignal(signal.SIGINT)),
    "sigchld": repr(signal.getsignal(signal.SIGCHLD)), "session_leader": os.getsid(0) == os.getpid(),
    "pandas_before_first_cell": pandas_before,
}))
fig, ax = plt.subplots()
ax.plot([1, 2])
"""


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
                       language_info={"name": "python"})
    nb.cells = [nbformat.v4.new_code_cell("import sys\npandas_before = 'pandas' in sys.modules\nx = 1",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import pandas"),
                nbformat.v4.new_code_cell(PROBE)]
    nbformat.write(nb, path)
    return path


def _probe(out):
    cell = [c for c in out.cells if c.cell_type == "code"][-1]
    seen = json.loads(next(o["text"] for o in cell.outputs if o.get("output_type") == "stream"))
    seen["figure"] = any("image/png" in o.get("data", {}) for o in cell.outputs)
    return seen


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid, seconds=10.0):
    end = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not _alive(pid)


def _run(warm, src, tmp_path, name):
    kernel = warm.start(src, tmp_path, tmp_path / f"{name}.stderr.txt")
    process = kernel.manager().provisioner.process
    out = execute_notebook(src, tmp_path / f"{name}.ipynb", {"x": 2}, cwd=tmp_path, kernel=kernel)
    return type(process), _probe(out)


def test_a_forked_kernel_is_the_kernel_a_new_interpreter_would_be(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb")
    with KernelPrewarmer() as warm:
        forked = [_run(warm, src, tmp_path, f"forked{i}") for i in range(2)]
        server = warm._forks._proc.pid
    with KernelPrewarmer(fork=False) as warm:
        kind, new = _run(warm, src, tmp_path, "new")
    assert kind is subprocess.Popen and all(k is _ForkedProcess for k, _ in forked)
    (_, a), (_, b) = forked
    assert a["ppid"] == b["ppid"] == server and new["ppid"] == os.getpid()
    assert a["random"] != b["random"]  # each kernel seeds its generators, as a new interpreter does
    assert a["pandas_before_first_cell"] and b["pandas_before_first_cell"]  # imported by the server
    for seen in (a, b, new):
        for key in ("pid", "ppid", "random", "pandas_before_first_cell"):
            seen.pop(key)
    assert a == b == new
    assert new["figure"] and new["notebook"] == "nb" and new["session_leader"] and not new["notebook_bars"]
    assert not _alive(server)


def test_a_forked_kernel_is_named_after_its_notebook(tmp_path):
    src = _notebook(tmp_path / "03_segmentation.ipynb")
    with KernelPrewarmer() as warm:
        pid = warm.start(src, tmp_path).manager().provisioner.pid
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            assert f.read().strip() == "rfm:03_segmenta"  # Linux keeps 15 characters


def test_only_kernels_whose_environment_differs_in_run_time_settings_are_forked(tmp_path, monkeypatch):
    src = _notebook(tmp_path / "nb.ipynb")
    monkeypatch.delenv("RFM_PROBE", raising=False)
    with KernelPrewarmer() as warm:
        monkeypatch.setenv("RFM_PROBE", "read when used")
        kind, seen = _run(warm, src, tmp_path, "runtime")
        assert kind is _ForkedProcess and seen["probe"] == "read when used"
        monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        kind, seen = _run(warm, src, tmp_path, "import_time")  # sys.path is made at start-up
        assert kind is subprocess.Popen and str(tmp_path) in seen["path"]


def test_switched_off_or_without_a_server_kernels_start_the_usual_way(tmp_path, monkeypatch):
    src = _notebook(tmp_path / "nb.ipynb")
    monkeypatch.setenv(forkserver.FORK_ENV, "0")
    with KernelPrewarmer() as warm:
        assert warm._forks is None and _run(warm, src, tmp_path, "off")[0] is subprocess.Popen
    monkeypatch.delenv(forkserver.FORK_ENV)
    with KernelPrewarmer() as warm:
        first = warm.start(src, tmp_path, tmp_path / "first.txt")
        pid = first.manager().provisioner.pid
        os.kill(warm._forks._proc.pid, signal.SIGKILL)  # the server dies: its kernels end with it
        assert _wait_gone(pid)
        assert first.manager().provisioner.process.poll() is not None
        kind, seen = _run(warm, src, tmp_path, "after")
        assert kind is subprocess.Popen and seen["figure"]


def test_a_killed_forked_kernel_reports_the_signal_and_nothing_outlives_the_prewarmer(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb")
    with KernelPrewarmer() as warm:
        kernels = [warm.start(src, tmp_path) for _ in range(3)]
        pids = [k.manager().provisioner.pid for k in kernels]
        process = kernels[0].manager().provisioner.process
        kernels[0].kill()
        assert process.wait(timeout=10) == -signal.SIGKILL
        server = warm._forks._proc.pid
    assert not any(_alive(p) for p in [*pids, server])  # the others shut down on closing


def test_the_interpreter_of_a_kernel_command():
    exe = sys.executable
    of = ForkServer._interpreter_of
    assert of([exe, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "k.json"]) == [exe, "-Xfrozen_modules=off"]
    assert of([exe, "-m", "ipykernel_launcher", "-f", "k.json"]) == [exe]
    assert of(["/other/python", "-m", "ipykernel_launcher", "-f", "k.json"]) is None
    assert of([exe, "-m", "other_kernel", "-f", "k.json"]) is None
    assert of([exe, "-c", "pass", "-m", "ipykernel_launcher"]) is None
    assert of([exe, "script.py", "-m", "ipykernel_launcher"]) is None


def test_the_server_does_not_fork_with_a_thread_running_or_a_shell_dependent_module(monkeypatch):
    assert forkserver._why_not_fork() == "" or threading.active_count() > 1
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert "thread" in forkserver._why_not_fork()
    finally:
        stop.set()
        thread.join()
    monkeypatch.setattr(forkserver.threading, "active_count", lambda: 1)
    monkeypatch.setitem(sys.modules, "tqdm.autonotebook", object())
    assert "tqdm.autonotebook" in forkserver._why_not_fork()


def test_a_kernel_that_does_not_come_up_in_time_is_stopped(tmp_path, monkeypatch):
    pkg = tmp_path / "slowpkg"
    pkg.mkdir()
    pid_file = tmp_path / "pid.txt"
    (pkg / "__init__.py").write_text(
        "import os, time\n"
        "def __kernel_warm_up__():\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(_notebook(tmp_path / "nb.ipynb"), as_version=4)
    nb.cells[1].source = "import slowpkg"
    nbformat.write(nb, tmp_path / "nb.ipynb")
    monkeypatch.setattr(KernelPrewarmer, "start_timeout", 8.0)
    with KernelPrewarmer() as warm:
        kernel = warm.start(tmp_path / "nb.ipynb", tmp_path, tmp_path / "k.txt")
        assert kernel.manager() is None  # the warm-up did not answer in time: the notebook starts its own
        pid = int(pid_file.read_text())
        assert _wait_gone(pid)  # stopped at once, not left to outlive the run
