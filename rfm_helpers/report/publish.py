"""Publishing a month atomically: a lock per month, a hidden temp folder, one swap.

A run renders into ``reports/.tmp-YYYY-MM-<random>/``. Only when every notebook succeeded is
the temp folder swapped into ``reports/YYYY-MM/`` (two renames inside one folder, so a reader
sees either the old or the new report, never a mix). A failed run leaves the previous good
report untouched and keeps its partial output under ``reports/.failed-YYYY-MM/``. Whatever
an interrupted run left behind (temp folders, a backup whose swap did not finish) is undone
by the next run of that month.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

__all__ = ["month_lock", "recover_and_clean", "new_temp_dir", "swap_into_place", "keep_failed",
           "write_text_atomic", "FAILED_NOTE"]

FAILED_NOTE = ("This run FAILED; this is not a finished report. "
               "See failure.txt and the executed notebooks.\n")


@contextlib.contextmanager
def month_lock(reports_dir: Path, month: str) -> Iterator[None]:
    """Exclusive lock for one month, so two runs of the same month cannot interleave.
    Raises ``RuntimeError`` when another run holds it."""
    lock_dir = reports_dir / ".locks"
    lock_dir.mkdir(exist_ok=True)
    lock_path = lock_dir / month
    fh = open(lock_path, "a+")  # noqa: SIM115 - closed in finally
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"another run of {month} is in progress (lock {lock_path})") from None
        yield
    finally:
        fh.close()


def recover_and_clean(reports_dir: Path, month: str) -> None:
    """Undo what an interrupted run left behind: restore a backup whose swap did not finish,
    delete stale temp folders and stale backups of this month."""
    target = reports_dir / month
    backups = sorted(reports_dir.glob(f".old-{month}-*"), key=lambda p: p.stat().st_mtime)
    if not target.exists() and backups:
        os.replace(backups[-1], target)
        backups = backups[:-1]
    for stale in [*reports_dir.glob(f".tmp-{month}-*"), *backups]:
        shutil.rmtree(stale, ignore_errors=True)


def new_temp_dir(reports_dir: Path, month: str) -> Path:
    """A fresh hidden folder beside the target, on the same file system (so the swap is a rename)."""
    tmp = reports_dir / f".tmp-{month}-{secrets.token_hex(4)}"
    tmp.mkdir()
    return tmp


def swap_into_place(tmp: Path, target: Path) -> None:
    """Publish ``tmp`` as ``target``: old -> backup, new -> target, delete backup.
    Each step is a rename inside one folder, so readers see either the old or the new report."""
    backup = None
    if target.exists():
        backup = target.with_name(f".old-{target.name}-{secrets.token_hex(4)}")
        os.replace(target, backup)
    try:
        os.replace(tmp, target)
    except BaseException:
        if backup is not None and not target.exists():
            os.replace(backup, target)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    shutil.rmtree(target.parent / f".failed-{target.name}", ignore_errors=True)


def keep_failed(tmp: Path, reports_dir: Path, month: str, failure_text: str = "") -> Path | None:
    """Move a failed run's partial output to ``.failed-YYYY-MM`` (one per month, newest),
    with ``FAILED.txt`` and ``failure.txt`` (the error). ``None`` if it could not be kept."""
    failed = reports_dir / f".failed-{month}"
    shutil.rmtree(failed, ignore_errors=True)
    try:
        os.replace(tmp, failed)
        (failed / "FAILED.txt").write_text(FAILED_NOTE, encoding="utf-8")
        if failure_text:
            (failed / "failure.txt").write_text(failure_text.rstrip("\n") + "\n", encoding="utf-8")
        return failed
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return None


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` through a temp file and a rename (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
