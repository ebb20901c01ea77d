"""Notebooks enter git clean by themselves: outputs and JupyterLab's volatile metadata never do.

``.gitattributes`` (committed) puts every ``*.ipynb`` through the ``nbstripout`` git filter;
``make install`` and ``make test`` run ``python -m rfm_helpers.report.gitclean install``, which
writes the filter's commands into the checkout's git config. From then on ``git add``,
``git diff`` and ``git status`` see a notebook as it is without its outputs, execution counts,
``metadata.language_info`` (JupyterLab writes the kernel's version there) and the cell
metadata JupyterLab adds (``execution``, ``collapsed``, ``scrolled``); cell ids are kept (they
are stable in JupyterLab, and renumbering them would rewrite every notebook). An analyst can
run a notebook, save it and switch branches: git shows no change, and
``tests/test_notebooks.py`` reads what is committed, not the working copy.

The filter runs the environment's own Python (``.venv/bin/python`` relative to the checkout
when the environment lives there, so every git worktree uses its own; else the running
interpreter, e.g. a conda environment). ``check`` prints the settings and whether they are in
force.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Iterable

__all__ = ["FILTER", "STRIP_ARGS", "filter_command", "install", "installed", "strip", "committed_text"]

FILTER = "nbstripout"
#: nbstripout's options: keep cell ids, also strip the kernel's language_info.
STRIP_ARGS = ["--keep-id", "--extra-keys", "metadata.language_info"]
ATTRIBUTES = "*.ipynb filter=nbstripout diff=ipynb"


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=check)


def _python_for(root: Path) -> str:
    exe = Path(sys.executable)
    try:
        rel = exe.absolute().relative_to(root.resolve())
    except ValueError:
        return str(exe)
    return rel.as_posix()  # git runs filters at the checkout's top: each worktree its own venv


def filter_command(root: Path, textconv: bool = False) -> str:
    """The command git runs to clean a notebook (or, ``textconv``, to show it in diffs)."""
    return " ".join(shlex.quote(a) for a in [_python_for(root), "-m", "nbstripout", *STRIP_ARGS]) + (" -t" if textconv else "")


def settings(root: Path) -> dict[str, str]:
    """The git config entries of the filter for the checkout ``root``."""
    # not 'required': a checkout without the environment (a fresh clone before make install)
    # still works with git, only unfiltered
    return {f"filter.{FILTER}.clean": filter_command(root), f"filter.{FILTER}.smudge": "cat",
            "diff.ipynb.textconv": filter_command(root, textconv=True)}


def toplevel(path: Path | None = None) -> Path | None:
    """The git checkout holding ``path`` (default: the working directory), or ``None``."""
    try:
        out = _git(Path(path or Path.cwd()), "rev-parse", "--show-toplevel")
    except (OSError, subprocess.CalledProcessError):
        return None
    return Path(out.stdout.strip())


def install(root: Path | None = None) -> dict[str, str]:
    """Write :func:`settings` into the git config of the checkout (no-op outside git)."""
    root = toplevel(root)
    if root is None:
        return {}
    wanted = settings(root)
    for key, value in wanted.items():
        _git(root, "config", key, value)
    return wanted


def installed(root: Path | None = None) -> bool:
    """Whether the checkout's git config runs the filter as :func:`install` sets it."""
    root = toplevel(root)
    if root is None:
        return False
    for key, value in settings(root).items():
        got = _git(root, "config", "--get", key, check=False).stdout.strip()
        if got != value:
            return False
    return True


#: The keys nbstripout's command line strips by default (nbstripout 0.8/0.9), for :func:`strip`.
NBSTRIPOUT_DEFAULT_KEYS = ["metadata.signature", "metadata.widgets", "cell.metadata.collapsed",
                           "cell.metadata.ExecuteTime", "cell.metadata.execution", "cell.metadata.heading_collapsed",
                           "cell.metadata.hidden", "cell.metadata.scrolled"]


def strip(text: str) -> str:
    """``text`` (a notebook) as the filter commits it: nbstripout's own function in process
    with the command line's defaults and :data:`STRIP_ARGS` (``tests/test_git_clean.py`` checks
    it against the real filter run by git)."""
    import io

    import nbformat
    from nbstripout import strip_output

    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    keys = [*NBSTRIPOUT_DEFAULT_KEYS, "metadata.language_info"]
    out = io.StringIO()
    nbformat.write(strip_output(nb, keep_output=False, keep_count=False, keep_id=True, extra_keys=keys), out)
    return out.getvalue()


def committed_text(path: Path) -> str | None:
    """The text of ``path`` as git holds it (the index: what the next commit records, equal to
    HEAD unless staged), or ``None`` outside git / for an untracked file."""
    path = Path(path).resolve()
    root = toplevel(path.parent)
    if root is None:
        return None
    rel = path.relative_to(root.resolve()).as_posix()
    try:
        return _git(root, "show", f":{rel}").stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rfm_helpers.report.gitclean")
    ap.add_argument("command", choices=["install", "check"])
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.command == "install":
        done = install()
        if not done:
            print("not a git checkout: no notebook filter installed")
        for key, value in done.items():
            print(f"git config {key} {shlex.quote(value)}")
        return 0
    root = toplevel()
    ok = installed(root)
    print(f"notebook filter {'installed' if ok else 'NOT installed (make install)'} in {root}")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
