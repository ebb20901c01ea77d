"""Execute one notebook with papermill, in its own kernel, and explain a failure.

Every notebook runs in a new kernel (a new Python process: nothing a notebook does can leak
into the next one); :mod:`rfm_helpers.report.kernels` starts them ahead (and forks them where
it can) so that their fixed cost is not waited for.

A failure of any kind (a raising cell, a kernel that died, a kernel that never started, a
time-out) becomes a :class:`NotebookFailed` naming the notebook, the cell (index in the
*source* notebook), the error in one line and the failing line of code.
"""
from __future__ import annotations

import ast
import contextlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterator

import nbformat

from .kernels import KERNEL_WARM_UP, KernelPrewarmer, _kernel_manager_class, _WarmKernel, first_cell_imports
from .saving import throttled_engine

__all__ = ["NotebookFailed", "NOTEBOOK_GLOB", "discover_notebooks", "declared_parameters",
           "execute_notebook", "failure_from", "kernel_stderr_tail", "environment", "KernelPrewarmer",
           "first_cell_imports", "KERNEL_WARM_UP"]

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


class NotebookFailed(RuntimeError):
    """A notebook of a monthly run failed.

    Attributes
    ----------
    notebook : str
        File name of the notebook (``03_segmentation.ipynb``).
    cell_index : int or None
        0-based index of the failing cell in the *source* notebook (papermill's injected
        parameters cell not counted); ``None`` when the kernel died before any cell ran.
    error : str
        One line: exception name and message, or what happened to the kernel.
    month : str
        The month being rendered.
    cell_source : str
        The failing line of the cell's code (to find it quickly).
    executed_path : Path or None
        Where the partial executed notebook was kept.
    """

    def __init__(self, notebook: str, cell_index: int | None, error: str, *, month: str = "",
                 cell_source: str = "", executed_path: Path | None = None):
        self.notebook = notebook
        self.cell_index = cell_index
        self.error = error
        self.month = month
        self.cell_source = cell_source
        self.executed_path = executed_path
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "before the first cell"
        msg = f"{self.month + ': ' if self.month else ''}notebook {self.notebook} failed at {where}: {self.error}"
        if self.cell_source:
            msg += f"\n    in: {self.cell_source}"
        if self.executed_path:
            msg += f"\n    partial output kept in {self.executed_path}"
        return msg

    def kept_in(self, path: Path) -> None:
        """Record where the partial output was kept (the message says so from now on)."""
        self.executed_path = path
        self.args = (self._message(),)


def discover_notebooks(notebooks_dir: str | os.PathLike) -> list[Path]:
    """Notebooks named ``NN_*.ipynb`` in ``notebooks_dir``, in name order."""
    d = Path(notebooks_dir)
    return sorted(p for p in d.glob(NOTEBOOK_GLOB) if p.is_file())


def declared_parameters(path: Path | nbformat.NotebookNode) -> set[str]:
    """Names assigned at top level in the notebook's cell tagged ``parameters``.

    Parsed with :mod:`ast` (papermill's own line parser gives up on comments that contain
    quotes, which would silently drop parameters)."""
    nb = path if isinstance(path, nbformat.NotebookNode) else nbformat.read(path, as_version=4)
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
        break
    return names


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Temporarily set environment variables (inherited by the kernels papermill starts)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet_papermill() -> Iterator[None]:
    """papermill warns about parameter lines it cannot parse; we pass declared names only."""
    log = logging.getLogger("papermill")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


#: Held while papermill starts a kernel from this process's environment (see execute_notebook).
_NAMED_START = threading.Lock()


def execute_notebook(src: Path, out: Path, params: dict, cwd: Path, stderr_path: Path | None = None,
                     kernel: _WarmKernel | None = None) -> nbformat.NotebookNode:
    """Run ``src`` with ``params`` injected, saving the executed notebook to ``out`` after
    every cell (so a crash leaves what ran). Raises papermill's/nbclient's errors as they are;
    see :func:`failure_from`. ``kernel``: a kernel started ahead for this notebook
    (:meth:`KernelPrewarmer.take`); it is shut down afterwards, whatever happens. Without it
    (or when it did not come up) papermill starts a new kernel."""
    import papermill

    km = kernel.manager() if kernel is not None else None
    extra: dict[str, Any] = {"km": km} if km is not None else \
        {"kernel_manager_class": _kernel_manager_class(stderr_path)} if stderr_path else {}
    try:
        # the kernel knows which notebook it runs (logs, the summary's parts and the scale test's
        # frame guard name it): a kernel started ahead got the name from KernelPrewarmer.start; one
        # papermill starts inherits it from this process's environment, which two notebooks
        # running at once would share: they take turns (only when a kernel started ahead failed)
        named = contextlib.nullcontext() if km is not None else _NAMED_START
        with named, _quiet_papermill(), \
                (contextlib.nullcontext() if km is not None else environment(RFM_NOTEBOOK=Path(src).stem)):
            return papermill.execute_notebook(
                str(src), str(out), parameters=params, progress_bar=False, log_output=False,
                cwd=str(cwd), kernel_name="python3", request_save_on_cell_execute=True,
                engine_name=throttled_engine(), **extra)
    finally:
        if kernel is not None:  # the next notebook need not wait for this kernel to exit
            kernel.shutdown(wait=False)



# --------------------------------------------------------------------------- failures


def _source_index(nb: nbformat.NotebookNode, executed_index: int) -> int:
    """Index of an executed cell in the source notebook (injected parameter cells and
    papermill's error-marker cells are not part of the source)."""
    skip = {"injected-parameters", "papermill-error-cell-tag"}
    return sum(1 for c in nb.cells[:executed_index] if not skip & set(c.get("metadata", {}).get("tags", [])))


def _first_code_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:200]
    return ""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _failing_line(traceback: list[str] | None) -> str:
    """``line N: code`` of the failing line inside the notebook cell, from IPython's traceback
    (the first ``---->`` arrow after the ``Cell In[...]`` frame header)."""
    text = _ANSI.sub("", "\n".join(traceback or []))
    in_cell = False
    for line in text.splitlines():
        if line.lstrip().startswith(("Cell In[", "Input In [")):
            in_cell = True
            continue
        m = re.match(r"^\s*-+>\s*(\d+)\s?(.*)$", line)
        if in_cell and m:
            return f"line {m.group(1)}: {m.group(2).strip()}"[:200]
    return ""


def failure_from(exc: BaseException, nb_name: str, executed: Path, month: str,
                 stderr_tail: str = "") -> NotebookFailed:
    """Turn papermill/nbclient errors into a :class:`NotebookFailed` naming the cell.
    ``stderr_tail``: the kernel's last words (added when the kernel died rather than raised)."""
    from papermill.exceptions import PapermillExecutionError

    nb = None
    if executed.exists():
        try:
            nb = nbformat.read(executed, as_version=4)
        except Exception:  # noqa: BLE001 - a half-written notebook must not hide the real error
            nb = None
    if isinstance(exc, PapermillExecutionError):
        error = f"{exc.ename}: {exc.evalue}".strip().rstrip(":")
        idx = exc.cell_index
        if nb is not None:
            # papermill inserted error-marker cells into the saved notebook; find the cell by count
            for i, c in enumerate(nb.cells):
                if c.cell_type == "code" and c.get("execution_count") == exc.exec_count and any(
                        o.get("output_type") == "error" for o in c.get("outputs", [])):
                    idx = _source_index(nb, i)
                    break
        where = _failing_line(exc.traceback) or _first_code_line(exc.source)
        return NotebookFailed(nb_name, idx, error, month=month, cell_source=where)
    # The kernel died (DeadKernelError), timed out or could not start: the last cell that
    # started is the culprit.
    idx = None
    src = ""
    if nb is not None:
        started = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   and (c.get("metadata", {}).get("papermill", {}) or {}).get("start_time")]
        if started:
            idx = _source_index(nb, started[-1])
            src = _first_code_line(nb.cells[started[-1]].source)
    name = type(exc).__name__
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if name == "DeadKernelError":
        error = f"the kernel died ({detail or 'Kernel died'}) - the cell crashed the Python process " \
                "(out of memory, os._exit, a native library crash)"
    else:
        error = f"{name}: {detail}" if detail else name
    if stderr_tail:
        error += f"; kernel stderr: {stderr_tail}"
    return NotebookFailed(nb_name, idx, error, month=month, cell_source=src)


_NOISE = ("Kernel is running over TCP without encryption",)


def kernel_stderr_tail(path: Path | None, lines: int = 3) -> str:
    """Last meaningful lines the kernel wrote to stderr (for a dead-kernel message)."""
    if not path or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    keep = [ln.strip() for ln in text.splitlines() if ln.strip() and not any(n in ln for n in _NOISE)]
    return " | ".join(keep[-lines:])[:500]
