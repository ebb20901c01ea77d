"""The run manifest: what it takes to reproduce (or distrust) a monthly report.

Written into ``summary.json`` (``"manifest"``) and shown in every page's footer:

* ``packages``: the versions of every package rfm-helpers depends on (and of the optional
  ones that are installed), the package's own version, Python and the platform;
* ``code``: the git commit of the checkout the package ran from and whether the tree had
  uncommitted changes (``dirty``), or why there is no commit (not a git checkout);
* ``data``: the source file's SHA-256, size and name (for a folder or glob of files, one
  entry per file); for a SQL source no file hash (``note: sql_no_file``, with the query's
  SHA-256 instead); the row count the loader read (from the run's load cache); a warning
  (``data_changed``) when the file changed while the report ran;
* ``parameters``: the validated run parameters.

Notes and warnings are codes (``not_git_checkout``, ``sql_no_file``...); the sentences are
in :mod:`rfm_helpers.report.texts.run`.

Secrets: parameters are checked before the run (:mod:`rfm_helpers.redaction`), the manifest
never holds a connection URL or an absolute data path, and the runner redacts it like every
other output.
"""
from __future__ import annotations

import glob
import hashlib
import importlib.metadata as md
import os
import pickle
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..params import RunParams
from ..paths import CACHE_DIR, package_checkout

__all__ = ["KEY_PACKAGES", "package_versions", "git_state", "data_fingerprint", "rows_read",
           "start_manifest", "finish_manifest", "file_sha256"]

#: Shown first in page footers (all dependencies are in ``summary.json``).
KEY_PACKAGES = ("pandas", "numpy", "duckdb", "pyarrow", "scikit-learn", "statsmodels", "scipy", "papermill",
                "pymc-marketing", "pyspark")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_CHUNK = 1 << 20
_MAX_FILES = 1000


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_versions() -> dict[str, str]:
    """``{name: version}`` of every installed requirement of rfm-helpers (main and extras),
    key packages first, then alphabetical."""
    try:
        reqs = md.requires("rfm-helpers") or []
    except md.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        reqs = []
    names = {_norm(m.group(1)) for r in reqs if (m := _NAME.match(r))}
    names |= {_norm(k) for k in KEY_PACKAGES}
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    order = [k for k in KEY_PACKAGES if k in found] + sorted(k for k in found if k not in KEY_PACKAGES)
    return {k: found[k] for k in order}


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=20,
                         env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or f"git {' '.join(args)} failed")
    return out.stdout.strip()


def git_state(path: Path | None) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool, "root": folder name}`` of the git checkout holding
    ``path``; ``{"commit": None, "note": ...}`` when it is not one (or git is missing)."""
    if path is None:
        return {"commit": None, "dirty": None, "note": "installed_package"}
    try:
        top = Path(_git(path, "rev-parse", "--show-toplevel"))
        commit = _git(path, "rev-parse", "HEAD")
        # untracked files count: an untracked notebook is run by the report all the same
        dirty = bool(_git(top, "status", "--porcelain"))
    except FileNotFoundError:
        return {"commit": None, "dirty": None, "note": "git_missing"}
    except (RuntimeError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None, "note": "not_git_checkout"}
    return {"commit": commit, "dirty": dirty, "root": top.name}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _spec(params: RunParams):
    from ..pipeline import resolve_source

    return resolve_source(params.source_config or None)


def _files(path_text: str) -> list[Path]:
    p = Path(path_text)
    if p.is_file():
        return [p]
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))[:_MAX_FILES + 1]
    return [Path(f) for f in sorted(glob.glob(path_text, recursive=True)) if Path(f).is_file()][:_MAX_FILES + 1]


def data_fingerprint(params: RunParams) -> dict[str, Any]:
    """What the source is and the SHA-256 of its file(s), taken before the notebooks run."""
    try:
        spec = _spec(params)
    except Exception as exc:  # noqa: BLE001 - the loader will say it better; the manifest says it failed
        return {"kind": "unknown", "sha256": None, "note": "spec_unreadable", "error": type(exc).__name__}
    fmt = spec.effective_format()
    out: dict[str, Any] = {"source": spec.display_name, "format": fmt}
    if params.source_config and "://" not in params.source_config and Path(params.source_config).is_file():
        out["config"] = Path(params.source_config).name
        out["config_sha256"] = file_sha256(Path(params.source_config))
    if fmt == "sql" or spec.sql is not None:
        out.update(kind="sql", sha256=None, note="sql_no_file")
        if spec.sql is not None and spec.sql.query:
            out["query_sha256"] = hashlib.sha256(spec.sql.query.encode("utf-8")).hexdigest()
        return out
    if fmt == "spark" and spec.spark is not None:  # read by the cluster: nothing here to hash
        out.update(kind="spark", sha256=None, note="spark_no_file",
                   **({"table": spec.spark.table} if spec.spark.table else {"path": spec.spark.path}))
        return out
    path = spec.resolved_path
    files = _files(str(path)) if path else []
    if not files:
        out.update(kind="file", sha256=None, note="file_missing")
        return out
    if len(files) > _MAX_FILES:
        out.update(kind="files", sha256=None, note="too_many_files", limit=_MAX_FILES)
        return out
    entries = [{"file": f.name, "bytes": f.stat().st_size, "sha256": file_sha256(f),
                "_stat": [f.stat().st_size, f.stat().st_mtime_ns], "_path": str(f)} for f in files]
    if len(entries) == 1 and Path(str(path)).is_file():
        out.update(kind="file", **entries[0])
    else:
        combined = hashlib.sha256("".join(f"{e['sha256']}  {e['file']}\n" for e in entries).encode()).hexdigest()
        out.update(kind="files", sha256=combined, files=entries)
    return out


def rows_read(run_dir: Path) -> int | None:
    """Rows the loader read in this run (``LoadResult.rows_in`` of the load cache the
    notebooks shared), or ``None`` when no notebook loaded the data."""
    counts = set()
    for p in sorted((run_dir / CACHE_DIR).glob("load-*.pkl")):
        try:
            with p.open("rb") as fh:  # written by this run's own kernels
                result = pickle.load(fh)
        except Exception:  # noqa: BLE001 - an unreadable cache only costs the row count
            continue
        n = getattr(result, "rows_in", None)
        if isinstance(n, int):
            counts.add(n)
    return counts.pop() if len(counts) == 1 else None


def start_manifest(params: RunParams, notebooks_dir: Path) -> dict[str, Any]:
    """Everything known before the notebooks run (hashes taken now)."""
    checkout = package_checkout()
    code = git_state(checkout or notebooks_dir)
    nb_dir = notebooks_dir.resolve()
    if checkout is not None and checkout not in nb_dir.parents:
        code["notebooks"] = git_state(nb_dir)
    return {
        "package": {"name": "rfm-helpers", "version": __version__},
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "packages": package_versions(),
        "code": code,
        "data": data_fingerprint(params),
        "parameters": params.public(),
        "warnings": [],
    }


def finish_manifest(manifest: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Add the row count the loader read and check the data file did not change meanwhile;
    drop the private bookkeeping (absolute paths)."""
    data = manifest["data"]
    data["rows_read"] = rows_read(run_dir)
    if data["rows_read"] is None:
        data["rows_note"] = "not_loaded"
    for entry in [data, *data.get("files", [])]:
        stat, path = entry.pop("_stat", None), entry.pop("_path", None)
        if stat and path:
            p = Path(path)
            now = [p.stat().st_size, p.stat().st_mtime_ns] if p.exists() else None
            if now != stat:
                manifest["warnings"].append({"code": "data_changed", "file": entry.get("file")})
    return manifest
