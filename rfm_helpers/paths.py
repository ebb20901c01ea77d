"""Where things live: the project root, the reports folder, a run's folder and its cache.

A base module: it imports nothing else from :mod:`rfm_helpers`, so every layer (the loader,
the pipeline, the report runner) can ask it the same questions and get the same answers.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

#: Whether :func:`folder_lock` locks (POSIX systems); the report runner runs notebooks one at
#: a time where it cannot.
CAN_LOCK = fcntl is not None

__all__ = ["project_root", "package_checkout", "INTERACTIVE_RUN_DIR", "CACHE_DIR", "DEFAULT_REPORTS_DIR",
           "RUN_DIR_ENV", "resolve_run_dir", "reports_dir", "notebooks_dir", "cache_dir", "find_file",
           "candidates", "interactive_run_dir", "is_interactive", "slug", "RUN_INFO_FILE", "snapshots_home",
           "folder_lock", "CAN_LOCK"]

#: Where interactive (non-runner) sessions write: one folder per source and analysis date,
#: ``reports/_interactive/<source>_<YYYY-MM-DD>/`` (:func:`interactive_run_dir`).
INTERACTIVE_RUN_DIR = Path("reports") / "_interactive"
#: File in an interactive run folder naming its source and analysis date (which source a
#: folder belongs to, so two sources never share one).
RUN_INFO_FILE = "run.json"

#: Folder inside a run directory where :func:`rfm_helpers.pipeline.prepare` keeps the loaded
#: data, so the notebooks of one run load and validate the source once and all see the same
#: rows. The report runner deletes it before publishing a report.
CACHE_DIR = ".cache"

#: Default folder of the published monthly reports (relative to the working directory).
DEFAULT_REPORTS_DIR = "reports"

#: Environment variable through which the report runner tells the notebooks' kernels the
#: (temporary) folder of the run.
RUN_DIR_ENV = "RFM_RUN_DIR"

_PACKAGE_DIR = Path(__file__).resolve().parent


def _is_root(p: Path) -> bool:
    return (p / "pyproject.toml").exists() and (p / "rfm_helpers").is_dir()


def project_root() -> Path:
    """The repository root (folder holding ``pyproject.toml`` and ``rfm_helpers/``): found
    from the working directory upwards, else the checkout this package is installed from
    (editable install), else the working directory."""
    here = Path.cwd().resolve()
    for p in [here, *here.parents, _PACKAGE_DIR.parent]:
        if _is_root(p):
            return p
    return here


def package_checkout() -> Path | None:
    """The checkout the running package comes from (editable install), else ``None``
    (installed into site-packages)."""
    parent = _PACKAGE_DIR.parent
    return parent if _is_root(parent) else None


def is_interactive(run_dir: str | os.PathLike | None = None) -> bool:
    """Whether a notebook runs outside the monthly runner: no ``run_dir`` given and no
    runner's ``RFM_RUN_DIR`` in the environment."""
    return not run_dir and not os.environ.get(RUN_DIR_ENV)


def slug(text: str, fallback: str = "source") -> str:
    """``"Shop sales (1C).yaml"`` -> ``"shop-sales-1c-yaml"``: letters (any alphabet), digits,
    ``-``; lower case; at most 40 characters."""
    s = re.sub(r"[^\w]+|_", "-", str(text).strip().lower()).strip("-")
    return re.sub(r"-{2,}", "-", s)[:40].strip("-") or fallback


def interactive_run_dir(source: str, identity: str, as_of: dt.date, *, root: Path | None = None) -> Path:
    """The folder of an interactive run: ``reports/_interactive/<slug(source)>_<as_of>`` of the
    project (created, with its :data:`RUN_INFO_FILE`). ``identity`` says which source it is (the
    spec file and data file, resolved): re-running the same source and date gives the same
    folder; another source whose name gives the same slug gets ``<slug>-<hash>_<as_of>``
    instead, so no folder ever holds files of two sources."""
    base = (root or project_root()) / INTERACTIVE_RUN_DIR
    name = slug(source)
    for candidate in (name, f"{name}-{hashlib.sha256(identity.encode()).hexdigest()[:6]}"):
        d = base / f"{candidate}_{as_of.isoformat()}"
        info = d / RUN_INFO_FILE
        try:
            known = json.loads(info.read_text(encoding="utf-8")).get("identity") if info.exists() else None
        except (OSError, ValueError):
            known = None
        if known in (None, identity):
            d.mkdir(parents=True, exist_ok=True)
            if known is None:
                info.write_text(json.dumps({"source": source, "identity": identity, "analysis_date": as_of.isoformat()},
                                           ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            return d
    raise RuntimeError(f"{base}: folders for source {source!r} and {as_of} hold other sources; remove them")


def resolve_run_dir(run_dir: str | os.PathLike | None) -> Path:
    """The folder a notebook writes into: ``run_dir`` if given, else the runner's
    ``RFM_RUN_DIR``, else ``reports/_interactive`` of the project (created if missing).
    :func:`rfm_helpers.pipeline.prepare` gives an interactive run its own folder
    (:func:`interactive_run_dir`) instead of the last one."""
    env = os.environ.get(RUN_DIR_ENV)
    d = Path(run_dir) if run_dir else Path(env) if env else project_root() / INTERACTIVE_RUN_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


def snapshots_home(run_dir: str | os.PathLike) -> Path:
    """The folder whose ``snapshots/`` a run reads and writes segment snapshots in: the
    reports folder (the parent) for a monthly run folder (``reports/YYYY-MM`` or the runner's
    temporary folder beside it), the run folder itself for anything else, so an interactive
    run never overwrites or evicts the monthly runs' snapshots."""
    d = Path(run_dir).resolve()
    if re.fullmatch(r"\d{4}-\d{2}|\.tmp-\d{4}-\d{2}-[0-9a-f]+", d.name):
        return d.parent
    return d


def reports_dir(path: str | os.PathLike | None = None) -> Path:
    """The published reports' folder as an absolute path (default ``./reports``)."""
    return Path(path or DEFAULT_REPORTS_DIR).resolve()


def notebooks_dir() -> Path:
    """``notebooks/`` of the checkout (found from the working directory upwards)."""
    return project_root() / "notebooks"


def cache_dir(run_dir: str | os.PathLike) -> Path:
    """The run's data cache (see :data:`CACHE_DIR`)."""
    return Path(run_dir) / CACHE_DIR


def candidates(value: str | os.PathLike, bases: Iterable[Path] | None = None) -> list[Path]:
    """Where a relative path is looked for, in order: the working directory, then the
    project root (and any extra ``bases``). An absolute path is only itself."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return [p]
    out: list[Path] = []
    for base in [Path.cwd(), project_root(), *(bases or [])]:
        c = (base / p).resolve()
        if c not in out:
            out.append(c)
    return out


def find_file(value: str | os.PathLike, what: str = "file", bases: Iterable[Path] | None = None) -> Path:
    """The absolute path of an existing file ``value`` (see :func:`candidates`).

    Raises ``FileNotFoundError`` saying every place it was looked for, e.g.
    ``source config shop.yaml not found; looked in /work/shop.yaml, /repo/shop.yaml``."""
    tried = candidates(value, bases)
    for c in tried:
        if c.is_file():
            return c
    where = ", ".join(str(c) for c in tried)
    dirs = [c for c in tried if c.is_dir()]
    hint = f" ({dirs[0]} is a folder, not a file)" if dirs else ""
    raise FileNotFoundError(f"{what} {value} not found; looked in {where}{hint}")


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while the block runs: processes that read, change
    and rewrite files of one folder (the notebooks of a run writing the exports' listing) take
    turns. The lock is ``flock`` on the folder itself (no lock file is left behind); where there
    is no ``flock`` (:data:`CAN_LOCK` false) the block runs unlocked."""
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
