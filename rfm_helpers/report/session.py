"""The first code cell of every report notebook: check the parameters, then get to work.

    from rfm_helpers.report.session import start
    run = start(analysis_date=analysis_date, source_config=source_config, language=language, ...)

:func:`start` validates the notebook's parameters with the same model as the command line
(:func:`rfm_helpers.params.check_notebook_parameters`): a wrong segment map, language, method,
date or currency stops the notebook here, before anything is loaded, with one short sentence
(IPython shows it without a traceback), and a file that is not there says every place it was
looked for. In an interactive session it also

* says which values came from the analyst's settings file (:mod:`rfm_helpers.report.settings`);
* turns on IPython's ``autoreload``, so an edit to ``rfm_helpers`` takes effect in the next
  cell run, without restarting the kernel. Never under the monthly runner or papermill (a
  report runs the code it started with).
"""
from __future__ import annotations

import os
from typing import Any

from ..params import RunParams, check_notebook_parameters
from ..paths import RUN_DIR_ENV
from .i18n import translator

__all__ = ["start", "interactive_session", "under_papermill", "enable_autoreload"]

#: The comment papermill writes first in the cell it injects after the parameters cell.
PAPERMILL_MARK = "# Parameters\n"


def _ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    return get_ipython()


def under_papermill(ip: Any = None) -> bool:
    """Whether papermill ran this kernel's cells: its injected parameters cell is in the
    kernel's input history."""
    ip = ip or _ipython()
    history = (getattr(ip, "user_ns", None) or {}).get("In") or []
    return any(isinstance(src, str) and src.startswith(PAPERMILL_MARK) for src in history)


def interactive_session(ip: Any = None) -> bool:
    """A notebook kernel an analyst works in: IPython, not the monthly runner, not papermill."""
    ip = ip or _ipython()
    return ip is not None and not os.environ.get(RUN_DIR_ENV) and not under_papermill(ip)


def enable_autoreload(ip: Any = None) -> bool:
    """Turn on ``%autoreload 2`` (modules are reloaded when their files change, before each
    cell runs). Returns whether it is on."""
    ip = ip or _ipython()
    if ip is None:
        return False
    if "autoreload" not in ip.extension_manager.loaded:
        ip.run_line_magic("load_ext", "autoreload")
    ip.run_line_magic("autoreload", "2")
    return True


def start(**parameters: Any) -> RunParams:
    """Check a notebook's parameters (its variables, by name) and prepare the session (see
    the module's docstring). Returns the checked :class:`~rfm_helpers.params.RunParams`:
    ``source_config`` as an absolute path, ``currency`` resolved (the parameter, else the source
    spec's ``currency:``, else USD), ``analysis_date`` a date or ``None``."""
    from .settings import last_applied

    params = check_notebook_parameters(**parameters)
    ip = _ipython()
    if interactive_session(ip):
        enable_autoreload(ip)
        applied = last_applied()
        names = [k for k, v in applied.values.items() if k in parameters and parameters[k] == v]
        if names and applied.file is not None:
            from .display import say

            t = translator(params.language, params.currency)
            say(t._("Parameters set by your settings file {file}: {names}."), file=str(applied.file),
                names=", ".join(names))
    return params
