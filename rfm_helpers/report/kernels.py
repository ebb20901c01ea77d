"""Kernels started ahead of their notebooks, and forked rather than started where possible.

Every notebook runs in a new kernel (a new Python process: nothing a notebook does can leak
into the next one). What a new kernel costs - starting ipykernel and importing pandas,
matplotlib, DuckDB and the package in the first cell, 2-2.5 CPU-seconds per notebook - is cut
twice: :class:`KernelPrewarmer` starts the *next* notebooks' kernels while the current ones run
and imports in them, silently, the modules those notebooks' first code cells import (no name is
bound, the execution counter does not move, nothing is printed); and on Linux it forks them
from one :class:`~rfm_helpers.report.forkserver.ForkServer` that has imported the libraries
once, instead of starting six interpreters that each import them again.
"""
from __future__ import annotations

import ast
import contextlib
import os
from pathlib import Path
from typing import Any

import nbformat

__all__ = ["KernelPrewarmer", "first_cell_imports", "KERNEL_WARM_UP"]


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


#: A module imported by a notebook's first cell may define a function of this name (no
#: arguments): a kernel started ahead for that notebook calls it after the imports, for work
#: the notebook would otherwise wait for (e.g. ``rfm_helpers.value`` imports PyMC-Marketing).
#: Its errors are ignored there (the notebook repeats the work and raises for real).
KERNEL_WARM_UP = "__kernel_warm_up__"


def _first_cell_import_nodes(path: Path | nbformat.NotebookNode) -> tuple[list[ast.stmt], list[str]]:
    """The top-level absolute imports of the notebook's first code cell after the parameters
    cell, and the names they may import (``from a import b``: ``a`` and ``a.b``)."""
    nb = path if isinstance(path, nbformat.NotebookNode) else nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    cell = next((c for c in code if "parameters" not in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return [], []
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return [], []
    nodes = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
             and not (isinstance(n, ast.ImportFrom) and (n.level or any(a.name == "*" for a in n.names)))]
    modules: list[str] = []
    for n in nodes:
        names = [a.name for a in n.names] if isinstance(n, ast.Import) else \
            [n.module or "", *(f"{n.module}.{a.name}" for a in n.names)]
        modules += [m for m in names if m and m not in modules]
    return nodes, modules


def first_cell_imports(path: Path | nbformat.NotebookNode) -> str:
    """The top-level ``import`` / ``from ... import`` statements of the notebook's first code
    cell after the parameters cell, as code that imports them inside a function (so no name
    is bound in the kernel's namespace) and then calls the imported modules'
    :data:`KERNEL_WARM_UP` functions. Empty when there are none or the cell does not parse."""
    return _warm_up_code(*_first_cell_import_nodes(path))


def _warm_up_code(nodes: list[ast.stmt], modules: list[str]) -> str:
    if not nodes:
        return ""
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
    closed shuts down every kernel it started and not handed over. On Linux the kernels are
    forked from a :class:`~rfm_helpers.report.forkserver.ForkServer` started here (``fork=False``
    or ``RFM_FORK_KERNELS=0``: each kernel is a new interpreter)."""

    start_timeout = 120.0

    def __init__(self, fork: bool = True) -> None:
        import asyncio
        import threading

        from .forkserver import ForkServer, fork_enabled

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
        self._forks: ForkServer | None = None
        if fork and fork_enabled():
            with contextlib.suppress(OSError):  # no server: kernels start the usual way
                self._forks = ForkServer()

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

        nodes, modules = _first_cell_import_nodes(src)  # the notebook read once
        env = {**os.environ, "RFM_NOTEBOOK": Path(src).stem}
        kernel = _WarmKernel(self, asyncio.run_coroutine_threadsafe(
            self._start(_warm_up_code(nodes, modules), cwd, stderr_path, env, modules), self._loop))
        self._started.append(kernel)
        return kernel

    async def _start(self, code: str, cwd: Path, stderr_path: Path | None, env: dict,
                     modules: list[str]) -> Any:
        cls = _kernel_manager_class(stderr_path) if stderr_path else None
        if cls is None:
            from jupyter_client import AsyncKernelManager as cls  # type: ignore[no-redef]
        prewarmer = self

        class _Warm(cls):  # type: ignore[misc, valid-type]
            """Remembers the clients opened on it, to close them after the notebook; its kernel
            is forked from the prewarmer's fork server when that gives the same kernel."""

            def client(self, **kw: Any) -> Any:
                c = super().client(**kw)
                self.__dict__.setdefault("opened_clients", []).append(c)
                return c

            async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
                import asyncio

                from jupyter_client.provisioning import LocalProvisioner

                forks = prewarmer._forks
                if forks is None or not isinstance(self.provisioner, LocalProvisioner):
                    return await super()._async_launch_kernel(kernel_cmd, **kw)
                forked = asyncio.get_running_loop().run_in_executor(None, forks.fork, kernel_cmd, kw, modules)
                prewarmer._import_papermill()  # while the server imports and forks (first kernel only)
                process = await forked
                if process is None:
                    return await super()._async_launch_kernel(kernel_cmd, **kw)
                p = self.provisioner
                p.process, p.pid, p.pgid, p.cwd = process, process.pid, process.pid, kw.get("cwd") or os.getcwd()
                self._reconcile_connection_info(p.connection_info)

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
        except BaseException:
            # a kernel that never answered is stopped here: nothing else holds it (its notebook
            # starts a kernel of its own). Seen once: a forked kernel whose start failed hung in
            # ipykernel's exit (zmq_ctx_term on a socket left open) and outlived the run.
            with contextlib.suppress(Exception):
                await km.shutdown_kernel(now=True)
            raise
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
        if self._forks is not None:
            self._forks.close()
            self._forks = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> "KernelPrewarmer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
