"""A watch on a notebook kernel for large pandas objects (the scale test of the monthly run).

The design rule of the monthly report is that per-customer (and per-transaction) tables stay
in the engine and pandas sees aggregates and bounded samples only. Engine fetches are already
reported (:mod:`.fetch`); this module also catches tables built in pandas by other means
(a ``groupby`` over a frame, a copy, a list turned into a frame):

* every :class:`pandas.DataFrame` and :class:`pandas.Series` built with more than ``bound``
  rows is recorded when it is built (pandas builds every frame and series through
  ``NDFrame.__init__``, which the guard wraps: short-lived frames inside long calls are seen
  too), with the first caller outside pandas, so a record says which line made it; after
  every cell (IPython's ``post_run_cell`` event) the live objects are scanned as well (frames
  restored by unpickling do not pass through the constructor);
* every per-customer or per-transaction fetch above ``bound`` rows is recorded as well.

Records are JSON lines appended to a file. Switched on by environment variables, so a test can
put it into the kernels papermill starts (an IPython startup file calls
:func:`install_from_env`)::

    RFM_FRAME_GUARD=20000                       # the bound (rows)
    RFM_FRAME_GUARD_LOG=/tmp/frames.jsonl       # where records go

Nothing here changes results; a kernel without the variables is untouched.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import threading
from typing import Any

__all__ = ["FrameGuard", "install", "install_from_env", "read_log"]


class FrameGuard:
    """Records pandas objects longer than ``bound`` rows into ``log_path`` (JSON lines)."""

    def __init__(self, bound: int, log_path: str | os.PathLike, *, label: str = "") -> None:
        self.bound = int(bound)
        self.log_path = str(log_path)
        self.label = label or os.environ.get("RFM_NOTEBOOK", "")  # set by the runner per notebook
        self.cell = 0
        self._seen: set[int] = set()
        self._places: set[tuple[int, str, int]] = set()
        self._lock = threading.Lock()
        self._original_init: Any = None
        self._remove_listener: Any = None

    # ------------------------------------------------------------------ recording
    def _write(self, record: dict[str, Any]) -> None:
        record = {"label": self.label, "cell": self.cell, "pid": os.getpid(), **record}
        with self._lock, open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")

    @staticmethod
    def _describe(obj: Any) -> tuple[str, list[str]]:
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            return "DataFrame", [str(c) for c in list(obj.columns)[:8]]
        return type(obj).__name__, [str(getattr(obj, "name", ""))]

    def scan(self, where: str) -> int:
        """Record every live DataFrame/Series above the bound not recorded yet; returns how many.
        Call it from the thread that runs the code (a scan from another thread could hold a
        reference to an object that thread is still building)."""
        import pandas as pd

        found = 0
        kinds = (pd.DataFrame, pd.Series)
        for obj in gc.get_objects():
            # type(), not isinstance(): isinstance() on a dead weak proxy raises ReferenceError
            if not issubclass(type(obj), kinds) or id(obj) in self._seen:
                continue
            rows = len(obj)
            if rows <= self.bound:
                continue
            self._seen.add(id(obj))
            what, columns = self._describe(obj)
            self._write({"what": what, "rows": rows, "columns": columns, "seen": where})
            found += 1
        return found

    def _caller(self) -> tuple[str, int, str]:
        """The first stack frame outside pandas, numpy and this module."""
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename.replace("\\", "/")
            if not any(part in name for part in ("/pandas/", "/numpy/", "/engine/guard.py", "<frozen")):
                return name, frame.f_lineno, frame.f_code.co_name
            frame = frame.f_back
        return "?", 0, "?"

    def on_build(self, obj: Any, mgr: Any) -> None:
        """Called for every frame/series pandas builds (see :meth:`start`)."""
        try:
            rows = len(mgr.axes[-1])
        except Exception:  # an unusual manager: not ours to judge
            return
        if rows <= self.bound:
            return
        file, line, func = self._caller()
        key = (self.cell, file, line)
        if key in self._places:  # one record per cell and line, however many frames it builds
            return
        self._places.add(key)
        what = "DataFrame" if len(mgr.axes) == 2 else "Series"
        columns = [str(c) for c in list(mgr.axes[0])[:8]] if what == "DataFrame" else []
        self._write({"what": what, "rows": rows, "columns": columns, "seen": f"built at {file}:{line} ({func})"})

    def on_fetch(self, record: Any) -> None:
        if record.kind != "aggregate" and record.rows > self.bound:
            self._write({"what": "fetch", "rows": record.rows, "kind": record.kind, "columns": [],
                         "seen": f"fetch: {record.label}"})

    # ------------------------------------------------------------------ hooks
    def _pre(self, *args: Any) -> None:
        self.cell += 1

    def _post(self, *args: Any) -> None:
        self.scan("after cell")

    def start(self, shell: Any = None) -> "FrameGuard":
        """Wrap pandas' constructor, listen to engine fetches and (in IPython) to cell events."""
        from pandas.core.generic import NDFrame

        from .fetch import add_fetch_listener

        original = self._original_init = NDFrame.__init__
        guard = self

        def init(obj: Any, data: Any, *args: Any, **kwargs: Any) -> None:
            original(obj, data, *args, **kwargs)
            guard.on_build(obj, data)

        NDFrame.__init__ = init  # type: ignore[method-assign]
        self._remove_listener = add_fetch_listener(self.on_fetch)
        self._write({"what": "started", "rows": 0, "columns": [], "seen": f"bound {self.bound:,} rows"})
        if shell is not None:
            shell.events.register("pre_run_cell", self._pre)
            shell.events.register("post_run_cell", self._post)
        return self

    def stop(self) -> None:
        """Put pandas' constructor back and stop listening to fetches."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._original_init is not None:
            from pandas.core.generic import NDFrame

            NDFrame.__init__ = self._original_init  # type: ignore[method-assign]
            self._original_init = None


def install(bound: int, log_path: str | os.PathLike) -> FrameGuard:
    """Start a :class:`FrameGuard` in this process (hooked to IPython's cell events when run
    inside IPython)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        shell = None
    return FrameGuard(bound, log_path).start(shell)


def install_from_env() -> FrameGuard | None:
    """:func:`install` when ``RFM_FRAME_GUARD`` (bound) and ``RFM_FRAME_GUARD_LOG`` are set."""
    bound, path = os.environ.get("RFM_FRAME_GUARD"), os.environ.get("RFM_FRAME_GUARD_LOG")
    if not bound or not path:
        return None
    return install(int(bound), path)


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a guard log (empty when the file does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]

