"""Which notebooks of a monthly run may execute at the same time, and in what order they start.

Notebooks run in name order, one after another, unless a notebook's metadata says it may run
beside others::

    "metadata": {"rfm": {"runs_beside_others": true}}

Such a notebook reads only what the notebooks before it that are *not* so marked have written
(the load, the scored RFM table), and writes nothing another notebook reads: the bundled 03-06
(segmentation, campaigns, migration, customer value) read the run's cache that 01 and 02 wrote
and each writes its own files; what they share is written safely (each kernel records its
headline figures into its own part of ``summary.json``, see :mod:`rfm_helpers.report.summary`;
the exports' listing files are rewritten under a lock, see :func:`rfm_helpers.paths.folder_lock`).

So a notebook starts when

* every earlier notebook without the mark has finished (such a notebook is a barrier: it may
  have written anything the later ones read), and,
* for a notebook without the mark, every earlier notebook has finished;

and at most :func:`report_jobs` notebooks run at once. They start in name order, except that
among notebooks running beside others one with a higher ``"priority"`` (metadata
``"rfm": {"priority": 1}``) starts first: 04 (campaigns, under a second) has 2, so its kernel
is gone before the long ones run; 06 (customer value) takes longest and has 1, so the shorter
ones fill the other processor beside it instead of leaving it alone at the end.
A custom notebook added to the folder without the mark keeps the old meaning: it runs alone,
after everything before it. Pages, the month's index and ``summary.json`` come out the same whichever
notebook finishes first.

How many at once by default: three on a machine with two or more processors. The notebooks
have single-threaded stretches (Python, chart drawing) in which a core of two stays idle; a
third notebook fills it (measured at 1e6 transactions on 2 cores, alternating runs: 23.1-24.4 s
with three against 23.8-25.1 s with two, peak memory 2.4 against 2.3 GB). Memory: each running
notebook has its own kernel and DuckDB engine, so two at once use about twice the memory of
one (measured: 3.1 GB at 4.79 million customers against 2.45 GB one at a time). So above
:data:`WIDE_MAX_CUSTOMERS` customers (the count the RFM notebook records in the summary) two
run at once, and above :data:`MAX_CUSTOMERS` (``RFM_REPORT_JOBS_MAX_CUSTOMERS`` changes it, 0:
no limit) one at a time; ``RFM_REPORT_JOBS`` sets the number for runs of any size up to that
limit (``RFM_REPORT_JOBS=1``: every notebook alone whatever the size).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import nbformat

from ..paths import CAN_LOCK

__all__ = ["Schedule", "report_jobs", "runs_beside_others", "start_priority", "schedule_settings",
           "jobs_for_customers", "JOBS_ENV", "DEFAULT_JOBS", "METADATA_KEY", "MAX_CUSTOMERS", "MAX_CUSTOMERS_ENV",
           "spare_kernels", "SPARE_MAX_CUSTOMERS", "WIDE_MAX_CUSTOMERS"]

#: Environment variable: how many notebooks of a run may execute at once (``1``: one at a time).
JOBS_ENV = "RFM_REPORT_JOBS"
#: Notebooks running at once by default (on a machine with two or more processors; see the
#: module's docstring), up to :data:`WIDE_MAX_CUSTOMERS` customers.
DEFAULT_JOBS = 3
#: Above this many customers at most two notebooks run at once unless ``RFM_REPORT_JOBS`` says otherwise.
WIDE_MAX_CUSTOMERS = 1_000_000
#: Above this many customers notebooks run one at a time (memory; see the module's docstring).
MAX_CUSTOMERS = 8_000_000
MAX_CUSTOMERS_ENV = "RFM_REPORT_JOBS_MAX_CUSTOMERS"
#: Above this many customers no kernel is started ahead beyond the free slots (each holds about
#: 250 MB while it waits: at 4.79 million customers the peak was two notebooks and two waiting kernels).
SPARE_MAX_CUSTOMERS = 2_000_000
#: Notebook metadata key of the report's own settings.
METADATA_KEY = "rfm"


def report_jobs(environ: Any = None) -> int:
    """Notebooks that may run at once: ``RFM_REPORT_JOBS`` when set (a whole number >= 1), else
    :data:`DEFAULT_JOBS` (1 on a machine with one processor); 1 where files cannot be locked."""
    env = os.environ if environ is None else environ
    raw = str(env.get(JOBS_ENV, "")).strip()
    if raw:
        try:
            jobs = int(raw)
        except ValueError:
            jobs = 0
        if jobs < 1:
            raise ValueError(f"{JOBS_ENV}={raw!r}: give a whole number of notebooks to run at once, 1 or more "
                             f"(1: one after another)")
        return jobs if CAN_LOCK else 1
    return (DEFAULT_JOBS if (os.cpu_count() or 1) >= 2 else 1) if CAN_LOCK else 1


def jobs_for_customers(jobs: int, customers: Any, environ: Any = None) -> int:
    """``jobs``, or 1 when the run has more than ``RFM_REPORT_JOBS_MAX_CUSTOMERS`` (default
    :data:`MAX_CUSTOMERS`; 0: no limit) ``customers`` (``None``: not known yet, ``jobs``), or at
    most 2 above :data:`WIDE_MAX_CUSTOMERS` when ``RFM_REPORT_JOBS`` is not set."""
    env = os.environ if environ is None else environ
    raw = str(env.get(MAX_CUSTOMERS_ENV, "")).strip().replace("_", "")
    try:
        limit = int(raw) if raw else MAX_CUSTOMERS
    except ValueError:
        limit = -1
    if limit < 0:
        raise ValueError(f"{MAX_CUSTOMERS_ENV}={raw!r}: give a whole number of customers (0: no limit)")
    if jobs > 1 and limit and isinstance(customers, (int, float)) and customers > limit:
        return 1
    if jobs > 2 and not str(env.get(JOBS_ENV, "")).strip() and isinstance(customers, (int, float)) \
            and customers > WIDE_MAX_CUSTOMERS:
        return 2
    return jobs


def _settings(path: Path | nbformat.NotebookNode) -> dict:
    nb = path if isinstance(path, nbformat.NotebookNode) else nbformat.read(path, as_version=4)
    settings = nb.metadata.get(METADATA_KEY) or {}
    return settings if isinstance(settings, dict) else {}


def spare_kernels(customers: Any) -> int:
    """Kernels started ahead beyond the free slots: 1, or 0 above :data:`SPARE_MAX_CUSTOMERS`."""
    return 0 if isinstance(customers, (int, float)) and customers > SPARE_MAX_CUSTOMERS else 1


def runs_beside_others(path: Path | nbformat.NotebookNode) -> bool:
    """Whether the notebook's metadata marks it to run beside others (see the module's docstring)."""
    return schedule_settings(path)[0]


def start_priority(path: Path | nbformat.NotebookNode) -> int:
    """The notebook's ``"priority"`` (a whole number, default 0): among notebooks running beside
    others, a higher one starts first."""
    return schedule_settings(path)[1]


def schedule_settings(path: Path | nbformat.NotebookNode) -> tuple[bool, int]:
    """The notebook's mark to run beside others and its priority, read once (a priority that is
    not a whole number is refused, naming the file)."""
    settings = _settings(path)
    value = settings.get("priority", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        name = path.name if isinstance(path, Path) else "notebook"
        raise ValueError(f"{name}: metadata rfm.priority must be a whole number, got {value!r}")
    return bool(settings.get("runs_beside_others", False)), value


class Schedule:
    """The start order of a run's notebooks (indices in name order) under the rules of the
    module's docstring; the runner asks :meth:`startable`, then reports :meth:`started` and
    :meth:`done`."""

    def __init__(self, beside_others: Sequence[bool], jobs: int = 1, priorities: Sequence[int] | None = None):
        self.beside = list(beside_others)
        self.jobs = max(1, int(jobs))
        prio = list(priorities) if priorities is not None else [0] * len(self.beside)
        # start order: name order, except that among consecutive notebooks marked to run beside
        # others the higher priority starts first (the longest, so the others fill in beside it)
        order: list[int] = []
        group: list[int] = []
        for i in [*range(len(self.beside)), None]:
            if i is not None and self.beside[i]:
                group.append(i)
                continue
            order += sorted(group, key=lambda k: (-prio[k], k))
            group = []
            if i is not None:
                order.append(i)
        self.waiting = order
        self.running: dict[int, Any] = {}  # index -> what the runner runs it on (its kernel)
        #: kernels started ahead beyond the free slots (each waiting kernel holds ~250 MB)
        self.spare = 1
        self.finished_ = set()

    def _may_start(self, i: int) -> bool:
        earlier = range(i)
        if self.beside[i]:
            return all(j in self.finished_ for j in earlier if not self.beside[j])
        return all(j in self.finished_ for j in earlier)

    def startable(self) -> list[int]:
        """Notebooks to start now, in start order (none may pass one still waiting before it)."""
        out = []
        for i in self.waiting:
            if len(self.running) + len(out) >= self.jobs or not self._may_start(i):
                break
            if out and not self.beside[i]:
                break
            out.append(i)
        return out

    def next(self) -> list[int]:
        """The notebooks whose kernels may be started ahead, in start order: one for each slot
        the running marked notebooks leave free (a notebook that must run alone counts as not
        taking one: those after it wait for it anyway), plus :attr:`spare` more (a short
        notebook's successor then finds its kernel ready); the first alone when it must run alone."""
        free = self.jobs - sum(1 for i in self.running if self.beside[i])
        out: list[int] = []
        for k, i in enumerate(self.waiting[:max(free, 0) + self.spare]):
            if not self.beside[i]:
                out += [i] if k == 0 else []
                break
            out.append(i)
        return out

    def started(self, i: int, runner: Any = None) -> None:
        self.waiting.remove(i)
        self.running[i] = runner

    def done(self, i: int) -> None:
        self.running.pop(i, None)
        self.finished_.add(i)

    def kernels_running(self) -> list[Any]:
        return list(self.running.values())

    def finished(self) -> bool:
        return not self.waiting and not self.running
