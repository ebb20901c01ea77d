"""Execute one notebook with papermill, in its own kernel, and explain a failure.

Every notebook runs in a new kernel (a new Python process: nothing a notebook does can leak
into the next one). What a new kernel costs - starting ipykernel and importing pandas,
matplotlib, DuckDB and the package in the first cell, 2-4 s per notebook - need not be
waited for: :class:`KernelPrewarmer` starts the *next* notebook's kernel while the current
one runs and imports in it, silently, the modules that notebook's first code cell imports
(no name is bound, the execution counter does not move, nothing is printed).

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


def _kernel_manager_class(stderr_path: Path):
    """An ``AsyncKernelManager`` whose kernel writes its stderr to ``stderr_path`` (kept out of
    the terminal, where ipykernel's start-up notices would bury the progress bar, and read
    back to explain a dead kernel)."""
    from jupyter_client import AsyncKernelManager

    class _LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            fh = open(stderr_path, "ab")  # noqa: SIM115 - the kernel process owns it until it exits
            kw.setdefault("stderr", fh)
            try:
                return await super().start_kernel(**kw)
            finally:
                fh.close()  # the child has its own copy of the descriptor

    return _LoggedKernelManager


#: Held while papermill starts a kernel from this process's environment (see execute_notebook).
_NAMED_START = threading.Lock()


def execute_notebook(src: Path, out: Path, params: dict, cwd: Path, stderr_path: Path | None = None,
                     kernel: "_WarmKernel | None" = None) -> nbformat.NotebookNode:
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


# --------------------------------------------------------------------------- warm kernels


#: A module imported by a notebook's first cell may define a function of this name (no
#: arguments): a kernel started ahead for that notebook calls it after the imports, for work
#: the notebook would otherwise wait for (e.g. ``rfm_helpers.value`` imports PyMC-Marketing).
#: Its errors are ignored there (the notebook repeats the work and raises for real).
KERNEL_WARM_UP = "__kernel_warm_up__"


def first_cell_imports(path: Path | nbformat.NotebookNode) -> str:
    """The top-level ``import`` / ``from ... import`` statements of the notebook's first code
    cell after the parameters cell, as code that imports them inside a function (so no name
    is bound in the kernel's namespace) and then calls the imported modules'
    :data:`KERNEL_WARM_UP` functions. Empty when there are none or the cell does not parse."""
    nb = path if isinstance(path, nbformat.NotebookNode) else nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    cell = next((c for c in code if "parameters" not in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return ""
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return ""
    nodes = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
             and not (isinstance(n, ast.ImportFrom) and (n.level or any(a.name == "*" for a in n.names)))]
    if not nodes:
        return ""
    modules: list[str] = []
    for n in nodes:
        names = [a.name for a in n.names] if isinstance(n, ast.Import) else \
            [n.module or "", *(f"{n.module}.{a.name}" for a in n.names)]
        modules += [m for m in names if m and m not in modules]
    body = "\n".join("    " + ast.unparse(n) for n in nodes)
    return (f"def __rfm_warm_up():\n{body}\n"
            "    import sys\n"
            f"    for name in {tuple(modules)!r}:\n"
            f"        hook = getattr(sys.modules.get(name), {KERNEL_WARM_UP!r}, None)\n"
            "        if callable(hook):\n"
            "            try:\n"
            "                hook()\n"
            "            except Exception:\n"
            "                pass\n"
            "__rfm_warm_up()\ndel __rfm_warm_up\n")


class _WarmKernel:
    """One kernel started ahead by a :class:`KernelPrewarmer` (its future and its manager)."""

    def __init__(self, prewarmer: "KernelPrewarmer", future: Any):
        self._prewarmer = prewarmer
        self._future = future
        self._km: Any = None
        self._closed = False

    def manager(self) -> Any:
        """The started kernel's manager, or ``None`` when the kernel did not come up (the
        notebook then starts its own kernel and any real problem shows there)."""
        try:
            self._km = self._future.result(timeout=self._prewarmer.start_timeout)
        except Exception:  # noqa: BLE001 - fall back to a kernel started the usual way
            self._km = None
        if self._km is not None and not self._km.has_kernel:
            self._km = None
        return self._km

    def kill(self) -> None:
        """Stop the kernel now, even in the middle of a cell (another notebook of the run
        failed): the notebook running on it fails with a dead kernel, which the runner ignores."""
        if self._closed or not self._future.done():
            return self.shutdown(wait=False)
        with contextlib.suppress(Exception):
            km = self._future.result(timeout=0)
            self._prewarmer._call(km.shutdown_kernel(now=True), timeout=30)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the clients papermill opened on this kernel and shut the kernel down (waits
        for a kernel still starting, so that no kernel process is left behind). ``wait=False``:
        the kernel exits in the background (its 1-2 s of shutting down overlap the next
        notebook); closing the prewarmer waits for it."""
        if self._closed:
            return
        self._closed = True
        try:
            km = self._future.result(timeout=self._prewarmer.start_timeout)
        except Exception:  # noqa: BLE001 - it never came up
            return
        for client in km.opened_clients:
            with contextlib.suppress(Exception):
                client.stop_channels()
        import asyncio

        done = asyncio.run_coroutine_threadsafe(km.shutdown_kernel(now=False), self._prewarmer._loop)
        self._prewarmer._stopping.append(done)
        if wait:
            with contextlib.suppress(Exception):
                done.result(timeout=30)


class KernelPrewarmer:
    """Start notebook kernels ahead, one at a time, in a background thread with its own event
    loop (the kernels are started, warmed and shut down there; papermill only connects).

    ``with KernelPrewarmer() as warm:`` then ``kernel = warm.start(src, cwd, stderr_path)``
    while the previous notebook runs, and ``execute_notebook(..., kernel=kernel)``. Kernels
    inherit the environment of the moment :meth:`start` is called. A prewarmer that is
    closed shuts down every kernel it started and not handed over."""

    start_timeout = 120.0

    def __init__(self) -> None:
        import asyncio
        import threading

        # import jupyter_client here, before the thread starts: importing it in the prewarm thread
        # while papermill imports it in this one fails now and then with a circular-import
        # ImportError (seen on a 1e8 run: "cannot import name 'AsyncKernelManager' from partially
        # initialized module 'jupyter_client.manager'"). papermill itself (1-4 s of imports) is
        # imported in the prewarm thread once the first kernel's process is launched, so that it
        # boots meanwhile; nothing else imports it before :meth:`wait_imports` returns.
        import jupyter_client.manager  # noqa: F401
        from jupyter_client import AsyncKernelManager  # noqa: F401

        self._imported = threading.Event()
        self._import_error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rfm-kernel-prewarm", daemon=True)
        self._thread.start()
        self._started: list[_WarmKernel] = []
        self._stopping: list[Any] = []  # futures of kernels shutting down in the background

    def _import_papermill(self) -> None:
        if self._imported.is_set():
            return
        try:
            import papermill  # noqa: F401
            from papermill.exceptions import PapermillExecutionError  # noqa: F401
        except BaseException as exc:  # noqa: BLE001 - raised again by wait_imports
            self._import_error = exc
        finally:
            self._imported.set()

    def wait_imports(self) -> None:
        """Return once papermill is imported (by the first kernel's start, or here when no
        kernel was started); call before anything runs a notebook."""
        if not self._started:
            self._import_papermill()
        self._imported.wait(self.start_timeout)
        if self._import_error is not None:
            raise self._import_error

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self, src: Path, cwd: Path, stderr_path: Path | None = None) -> _WarmKernel:
        """Start the kernel for notebook ``src`` now and import its first cell's modules in it."""
        import asyncio

        code = first_cell_imports(src)
        env = {**os.environ, "RFM_NOTEBOOK": Path(src).stem}
        kernel = _WarmKernel(self, asyncio.run_coroutine_threadsafe(
            self._start(code, cwd, stderr_path, env), self._loop))
        self._started.append(kernel)
        return kernel

    async def _start(self, code: str, cwd: Path, stderr_path: Path | None, env: dict) -> Any:
        cls = _kernel_manager_class(stderr_path) if stderr_path else None
        if cls is None:
            from jupyter_client import AsyncKernelManager as cls  # type: ignore[no-redef]

        class _Warm(cls):  # type: ignore[misc, valid-type]
            """Remembers the clients opened on it, to close them after the notebook."""

            def client(self, **kw: Any) -> Any:
                c = super().client(**kw)
                self.__dict__.setdefault("opened_clients", []).append(c)
                return c

        km = _Warm(kernel_name="python3")
        km.__dict__["opened_clients"] = []
        try:
            await km.start_kernel(cwd=str(cwd), env=env)
        finally:
            self._import_papermill()  # while the kernel's process boots (first kernel only)
        client = km.client()
        km.opened_clients.remove(client)
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=self.start_timeout)
            if code:
                msg_id = client.execute(code, silent=True, store_history=False, allow_stdin=False)
                while True:  # the reply to our request (a silent request has no other replies)
                    reply = await client.get_shell_msg(timeout=self.start_timeout)
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        break
        finally:
            client.stop_channels()
        return km

    def close(self) -> None:
        for kernel in self._started:  # those not handed over to a notebook, or after a failure
            kernel.shutdown(wait=False)
        self._started.clear()
        for done in self._stopping:  # every kernel has exited before the run goes on
            with contextlib.suppress(Exception):
                done.result(timeout=30)
        self._stopping.clear()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> "KernelPrewarmer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


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
