"""Notebook kernels forked from a process that has imported the heavy libraries once.

Every notebook of a monthly run gets a kernel of its own, a new process: nothing one notebook
does reaches the next. Starting one the usual way costs 2-2.5 CPU-seconds before the first
cell computes anything - a new interpreter imports pandas, pyarrow, scikit-learn, scipy.stats,
matplotlib, seaborn, IPython and the package (measured with ``benchmarks/bench_kernels.py``);
six notebooks pay it six times, on a machine whose two cores the notebooks running several at
a time already keep busy. A :class:`ForkServer` is a process started at the beginning of the run
that imports those modules once (before each kernel the package modules its notebook's first
cell imports, and :data:`PRELOAD` while it waits) and then, for each kernel, ``fork()``s: the child is a new
process with those modules already in memory (shared, copy on write), which turns into an
ipykernel exactly as ``python -m ipykernel_launcher -f <connection file>`` would (its own
session, working folder, environment, stdout/stderr, a fresh random seed).

A kernel is forked only when that gives the same kernel a new interpreter would be:

* Linux only (``fork`` of a process holding these libraries is what Linux's
  ``multiprocessing`` has done for years; macOS and Windows start kernels the usual way);
* the kernel command is this interpreter's ``-m ipykernel_launcher``;
* the kernel's environment differs from the server's only in variables read at run time
  (``RFM_*``, ``JPY_*``): anything else (``PYTHONPATH``, thread counts of the numeric
  libraries, ``MPLBACKEND``) is read while importing, so such a kernel starts the usual way;
* the server has no Python thread and none of the modules whose import looks for a running
  IPython (:data:`_SHELL_DEPENDENT`); the native threads the libraries start (OpenBLAS,
  jemalloc) are stopped and restarted around ``fork`` by the libraries themselves.

Otherwise, or when the server cannot start, :meth:`ForkServer.fork` returns ``None`` and the
kernel starts the usual way. ``RFM_FORK_KERNELS=0`` switches forking off.

The server is the forked kernels' parent: it reaps them and reports how each ended; it exits
when the runner closes its end of the socket (or dies), and its kernels exit when it does
(ipykernel's parent watch).
"""
from __future__ import annotations

import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Iterable

__all__ = ["ForkServer", "FORK_ENV", "PRELOAD", "fork_enabled"]

FORK_ENV = "RFM_FORK_KERNELS"

#: Modules the server imports while it waits for requests: what the notebooks' kernels import
#: (PyMC through ``pymc_extras.prior``, which notebook 06's kernel imports ahead; not
#: ``pymc_marketing``, which imports ``tqdm.autonotebook`` - see :data:`_SHELL_DEPENDENT`).
PRELOAD = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "pyarrow.dataset", "duckdb", "scipy.stats",
           "scipy.optimize", "sklearn.cluster", "sklearn.mixture", "sklearn.preprocessing", "matplotlib",
           "matplotlib.pyplot", "seaborn", "babel.numbers", "babel.dates", "pydantic", "yaml", "IPython",
           "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "zmq", "tornado.ioloop",
           "rfm_helpers", "pymc_extras.prior")

#: Environment variables a forked kernel may have other values of than the server: read when
#: used, never while importing (the runner's per-notebook settings, jupyter_client's own).
PER_KERNEL_PREFIXES = ("RFM_", "JPY_")

#: Modules that decide at import whether they run inside IPython: imported in the server, they
#: would behave in the kernels as outside it (a text progress bar, no inline figures).
_SHELL_DEPENDENT = ("matplotlib_inline.backend_inline", "tqdm.autonotebook", "tqdm.notebook", "ipywidgets")

_LAUNCHER = ("-m", "ipykernel_launcher")
_MAX_MESSAGE = 1 << 20


def fork_enabled() -> bool:
    """Whether kernels may be forked here (Linux, and not switched off by ``RFM_FORK_KERNELS=0``)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds") and \
        os.environ.get(FORK_ENV, "1") != "0"


# --------------------------------------------------------------------------- the runner's side


class _ForkedProcess:
    """What jupyter_client needs of a kernel's :class:`subprocess.Popen`, for a forked kernel
    (a child of the server, not of this process: its end is learnt from the server)."""

    stdin = stdout = stderr = None

    def __init__(self, server: "ForkServer", pid: int):
        self._server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_status(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)  # type: ignore[arg-type]
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """:meth:`fork` a kernel for a kernel command and its Popen arguments; :meth:`close` at the
    end of the run. The server process starts with the first kernel (the same interpreter and
    interpreter options as the kernel command, e.g. ipykernel's ``-Xfrozen_modules=off``),
    imports that kernel's package modules and forks it, then imports :data:`PRELOAD` between
    requests. It has the environment of the moment this object is made, which a kernel's may
    differ from only in per-kernel variables (:meth:`usable_for`)."""

    start_timeout = 120.0

    def __init__(self) -> None:
        self._env = dict(os.environ)
        self._lock = threading.Lock()
        self._replies: queue.Queue = queue.Queue()
        self._exits: dict[int, int] = {}
        self._gone = threading.Event()
        self._interpreter: list[str] | None = None  # executable and options of the server
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None

    def _start(self, interpreter: list[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [*interpreter, "-m", __name__, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                env=self._env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:
            ours.close()
            self._gone.set()
            raise
        finally:
            theirs.close()
        self._interpreter, self._sock = interpreter, ours
        threading.Thread(target=self._read, name="rfm-fork-server", daemon=True).start()

    def _read(self) -> None:
        assert self._sock is not None
        try:
            while True:
                data = self._sock.recv(_MAX_MESSAGE)
                if not data:
                    break
                msg = json.loads(data)
                if "exit" in msg:
                    self._exits[int(msg["exit"])] = int(msg["status"])
                else:
                    self._replies.put(msg)
        except (OSError, ValueError):
            pass
        finally:
            self._gone.set()
            self._replies.put({"pid": None, "why": "the fork server exited"})

    def exit_status(self, pid: int) -> int | None:
        """How a forked kernel ended (its exit code, minus the signal that killed it), or
        ``None`` while it runs. Without the server (it died) a kernel that is gone ended
        for an unknown reason: -1."""
        if pid in self._exits:
            return self._exits[pid]
        if self._gone.is_set():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return self._exits.setdefault(pid, -1)
            except PermissionError:
                pass
        return None

    @staticmethod
    def _interpreter_of(cmd: list[str]) -> list[str] | None:
        """``[executable, *options]`` of a kernel command ``<this python> [options] -m
        ipykernel_launcher ...``; ``None`` for any other command."""
        for i in range(1, len(cmd) - 1):
            if tuple(cmd[i:i + 2]) == _LAUNCHER:
                break
            if not cmd[i].startswith("-") or cmd[i] in ("-m", "-c"):
                return None
        else:
            return None
        if os.path.abspath(os.path.expanduser(cmd[0])) != os.path.abspath(sys.executable):
            return None
        return [sys.executable, *cmd[1:i]]

    def _forkable(self, cmd: list[str], env: dict[str, str]) -> list[str] | None:
        """The server's interpreter (executable and options) when a kernel started by ``cmd``
        with ``env`` would be the same forked from here, else ``None``."""
        interpreter = self._interpreter_of(cmd)
        if self._gone.is_set() or interpreter is None or self._interpreter not in (None, interpreter):
            return None
        changed = {k for k in set(env) | set(self._env) if env.get(k) != self._env.get(k)}
        return interpreter if all(k.startswith(PER_KERNEL_PREFIXES) for k in changed) else None

    def usable_for(self, cmd: list[str], env: dict[str, str]) -> bool:
        """Whether a kernel started by ``cmd`` with ``env`` would be the same forked from here."""
        return self._forkable(cmd, env) is not None

    def fork(self, cmd: list[str], kw: dict[str, Any], modules: Iterable[str] = ()) -> _ForkedProcess | None:
        """A kernel forked for ``cmd`` (jupyter_client's kernel command) with Popen arguments
        ``kw`` (``env``, ``cwd``, ``stdout``, ``stderr``), after importing ``modules`` of the
        package in the server; ``None`` when it cannot be forked (start it the usual way)."""
        env = dict(kw.get("env") or os.environ)
        interpreter = self._forkable(cmd, env)
        if interpreter is None:
            return None
        env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher sets it
        cwd = os.fspath(kw.get("cwd") or os.getcwd())
        request = {"argv": list(cmd[len(interpreter) + 2:]), "env": env, "cwd": cwd,
                   "import": [m for m in modules if m.split(".")[0] == "rfm_helpers"]}
        fds = [_fileno(kw.get(name), default) for name, default in (("stdout", 1), ("stderr", 2))]
        with open(os.devnull, "rb") as stdin, self._lock:
            try:
                if self._sock is None:
                    self._start(interpreter)
                assert self._sock is not None
                socket.send_fds(self._sock, [json.dumps(request).encode()], [stdin.fileno(), *fds])
            except OSError:
                return None
            try:
                reply = self._replies.get(timeout=self.start_timeout)
            except queue.Empty:  # a late reply would answer the next request: no more forks
                self._gone.set()
                return None
        if not reply.get("pid"):
            return None
        return _ForkedProcess(self, int(reply["pid"]))

    def close(self, timeout: float = 30.0) -> None:
        """Let the server exit (its kernels should have been shut down before)."""
        self._gone.set()
        if self._sock is None or self._proc is None:
            return
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _fileno(stream: Any, default: int) -> int:
    if stream is None:
        return default
    return stream if isinstance(stream, int) else stream.fileno()


# --------------------------------------------------------------------------- the server


def _send(sock: socket.socket, msg: dict) -> None:
    try:
        sock.send(json.dumps(msg).encode())
    except OSError:
        pass


def _import(names: Iterable[str]) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the kernel imports it again and shows the real error
            pass


def _why_not_fork() -> str:
    """Why forking now would not give a kernel like a new one ('' when it would)."""
    if threading.active_count() > 1:
        return "a Python thread is running in the fork server"
    shell = [m for m in _SHELL_DEPENDENT if m in sys.modules]
    return f"{', '.join(shell)} imported outside IPython" if shell else ""


def _name_process(name: str) -> None:
    """Give a forked kernel a name of its own in ``top`` and ``ps -o comm`` (its command line
    stays the server's): ``rfm:<notebook>``, cut to Linux's 15 characters."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, f"rfm:{name}".encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except Exception:  # noqa: BLE001 - a name is a convenience
        pass


def _become_kernel(sock: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become ``python -m ipykernel_launcher <argv>``; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        os.setsid()
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _name_process(os.environ.get("RFM_NOTEBOOK") or "ipykernel")
        import random

        random.seed()  # a new interpreter's generators start from the system's entropy
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        import ipykernel_launcher
        from ipykernel.kernelapp import IPKernelApp

        argv = [*request["argv"], f"--IPKernelApp.parent_handle={os.getppid()}"]  # exit with the server
        sys.argv = [ipykernel_launcher.__file__, *argv]
        IPKernelApp.launch_instance(argv=argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - what a failed kernel start prints, in its stderr
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()  # as an interpreter's exit would, without going back to the server
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def serve(fd: int) -> None:
    """The server's loop: for each request import its package modules and fork its kernel;
    between requests import :data:`PRELOAD`; exit when the runner closes the socket."""
    sock = socket.socket(fileno=fd)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does (the kernel's IPython puts '' back)
    # what ipykernel sets before a notebook imports matplotlib (read by matplotlib's import)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    def reap(*_: Any) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            _send(sock, {"exit": pid, "status": os.waitstatus_to_exitcode(status)})

    signal.signal(signal.SIGCHLD, reap)
    preload = list(PRELOAD)
    while True:
        # between requests, import the modules every kernel needs, one at a time: a request
        # (the first arrives with the server's start) imports its own modules and forks first
        while preload and not select.select([sock], [], [], 0)[0]:
            _import([preload.pop(0)])
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 3)
        except OSError:
            data = b""
        if not data:  # the runner is done: exit now, without tearing down every module
            os._exit(0)  # imported (an interpreter's orderly exit took ~1 s, which the runner waited for)
        request = json.loads(data)
        _import(request.get("import", ()))
        why = _why_not_fork() if len(fds) == 3 else "the streams did not arrive"
        if why:
            for fd in fds:
                os.close(fd)
            _send(sock, {"pid": None, "why": why})
            continue
        import warnings

        with warnings.catch_warnings():  # Python 3.12+ warns of the libraries' native threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            _become_kernel(sock, request, fds)
        for fd in fds:
            os.close(fd)
        _send(sock, {"pid": pid})


if __name__ == "__main__":
    serve(int(sys.argv[1]))
