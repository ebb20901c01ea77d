"""Where things live: the project root, the reports folder, a run's folder and its cache.

A base module: it imports nothing else from :mod:`rfm_helpers`, so every layer (the loader,
the pipeline, the report runner) can ask it the same questions and get the same answers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

__all__ = ["project_root", "package_checkout", "INTERACTIVE_RUN_DIR", "CACHE_DIR", "DEFAULT_REPORTS_DIR",
           "RUN_DIR_ENV", "resolve_run_dir", "reports_dir", "notebooks_dir", "cache_dir", "find_file",
           "candidates"]

#: Where interactive (non-runner) sessions write exports and quarantine files.
INTERACTIVE_RUN_DIR = Path("reports") / "_interactive"

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


def resolve_run_dir(run_dir: str | os.PathLike | None) -> Path:
    """The folder a notebook writes into: ``run_dir`` if given, else the runner's
    ``RFM_RUN_DIR``, else ``reports/_interactive`` of the project (created if missing)."""
    env = os.environ.get(RUN_DIR_ENV)
    d = Path(run_dir) if run_dir else Path(env) if env else project_root() / INTERACTIVE_RUN_DIR
    d.mkdir(parents=True, exist_ok=True)
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
