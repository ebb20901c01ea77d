"""An analyst's own settings for the notebooks: ``rfm_settings.yaml`` at the project root.

When a notebook runs in an interactive session (JupyterLab, VS Code, ``jupyter nbconvert``: not
under the monthly runner ``rfm-report run``), the last line of its parameters cell,
``use_local_settings(globals())``, replaces the defaults above it with the values of the
settings file, so the source, the analysis date, the segment map... are set once for every
notebook instead of in six parameters cells. papermill injects a run's values in a cell *after*
the parameters cell, so its parameters always win; the monthly runner never reads the file.

The file (git-ignored; ``rfm_settings.example.yaml`` is the committed example) is a flat
mapping ``parameter: value``. A key is applied in every notebook that declares that parameter
(``segment_map`` in 02-06, ``campaign_path`` in 04 only). It is checked when read: an unknown
key is an error naming the file and its line, with a "did you mean"; a value of the wrong kind
(text for a number) too; relative paths (``source_config``, ``campaign_path``,
``test_recipients``) are relative to the settings file. ``language`` is not a setting: the
notebook folder decides it (``notebooks/ru/`` for Russian), so text cells and outputs agree.
The values are then checked with every other parameter in the notebook's first code cell
(:func:`rfm_helpers.report.session.start`).

``RFM_SETTINGS`` (environment) names another settings file, or ``off`` to use none (the test
suite sets it, so a developer's own file never changes what the tests run).
"""
from __future__ import annotations

import ast
import datetime as dt
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, MutableMapping

from ..params import ParameterError
from ..paths import RUN_DIR_ENV, candidates, notebooks_dir, project_root

__all__ = ["SETTINGS_FILE", "EXAMPLE_FILE", "SETTINGS_ENV", "SettingsError", "Applied", "settings_path",
           "read_settings", "notebook_defaults", "known_parameters", "use_local_settings", "last_applied"]

SETTINGS_FILE = "rfm_settings.yaml"
EXAMPLE_FILE = "rfm_settings.example.yaml"
SETTINGS_ENV = "RFM_SETTINGS"
_OFF = {"", "0", "off", "none", "no", "false"}
#: Parameters that name a file (relative to the settings file when written there).
PATH_SETTINGS = ("source_config", "campaign_path", "test_recipients")
#: Parameters that are never settings, and why.
NOT_SETTINGS = {
    "language": "the notebook folder decides the language (open notebooks/ru/ for Russian), so the text "
                "cells and the outputs agree; remove 'language' from the settings file",
    "run_dir": "the run folder is chosen for you (reports/_interactive/<source>_<date>/ in an interactive "
               "session); remove 'run_dir' from the settings file",
}


class SettingsError(ParameterError):
    """The settings file is wrong: one sentence naming the file, the line and the fix."""


@dataclass
class Applied:
    """What the settings file changed in a notebook's parameters."""

    file: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)


_LAST = Applied()


def last_applied() -> Applied:
    """What the last :func:`use_local_settings` of this kernel applied."""
    return _LAST


def settings_path() -> Path | None:
    """The settings file in force: ``RFM_SETTINGS`` (``off``: none; a file that is not there is
    an error saying where it was looked for), else ``rfm_settings.yaml`` at the project root if it
    exists."""
    env = os.environ.get(SETTINGS_ENV)
    if env is not None:
        if env.strip().lower() in _OFF:
            return None
        tried = candidates(env)
        for c in tried:
            if c.is_file():
                return c
        raise SettingsError(SETTINGS_ENV, f"the settings file {env} is not there; looked in "
                            + ", ".join(str(c) for c in tried), env)
    path = project_root() / SETTINGS_FILE
    return path if path.is_file() else None


def notebook_defaults(path: Path) -> dict[str, Any]:
    """The parameters a notebook declares (its ``parameters`` cell) with their default values."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    out: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            try:
                                out[target.id] = ast.literal_eval(node.value)
                            except ValueError:
                                out[target.id] = None
            break
    return out


def known_parameters(folder: Path | None = None) -> dict[str, Any]:
    """Every parameter any report notebook declares, with a default (the first notebook's)."""
    from .notebooks import sources

    out: dict[str, Any] = {}
    for path in sources(folder or notebooks_dir()):
        for name, value in notebook_defaults(path).items():
            out.setdefault(name, value)
    return out


def _kind_ok(value: Any, default: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(value, bool) or isinstance(default, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, str):
        return isinstance(value, (str, int, float))
    return True


def _kind_name(default: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(type(default), "a value")


def read_settings(path: Path, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and check the settings file ``path`` (see the module's docstring); relative paths
    become absolute (relative to the file's folder). Raises :class:`SettingsError`."""
    import yaml

    from ..load.spec import SourceSpecError, _decode_yaml, _line_map, _yaml_error

    label = str(path)
    try:
        text = _decode_yaml(Path(path).read_bytes(), label)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except SourceSpecError as exc:
        raise SettingsError("", str(exc)) from None
    except yaml.YAMLError as exc:
        raise SettingsError("", str(_yaml_error(exc, label, text))) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError("", f"{label}: expected 'parameter: value' lines, got {type(data).__name__}")
    lines = _line_map(node) if node is not None else {}
    known = known_parameters() if known is None else known
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dt.date):  # YAML reads 2024-05-31 as a date; the notebooks take text
            value = value.isoformat()
        where = f"{label}, line {lines.get((key,), '?')}"
        if key in NOT_SETTINGS:
            raise SettingsError("", f"{where}: {key}: {NOT_SETTINGS[key]}")
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            usable = ", ".join(k for k in known if k not in NOT_SETTINGS)
            raise SettingsError("", f"{where}: {key!r} is not a parameter of any notebook.{hint} "
                                f"Parameters: {usable}")
        if not _kind_ok(value, known[key]):
            raise SettingsError("", f"{where}: {key} must be {_kind_name(known[key])}, got {value!r}")
        if key in PATH_SETTINGS and isinstance(value, str) and value.strip() and "://" not in value:
            p = Path(value.strip()).expanduser()
            value = str(p if p.is_absolute() else (Path(path).parent / p).resolve())
            if not Path(value).exists():
                raise SettingsError("", f"{where}: {key}: {value} is not there (a relative path is relative to "
                                    f"the settings file's folder, {Path(path).parent.resolve()})")
        out[key] = value
    return out


def use_local_settings(namespace: MutableMapping[str, Any]) -> None:
    """In an interactive session, set the parameters of ``namespace`` (a notebook's
    ``globals()``) that the settings file names. Does nothing under the monthly runner or with
    no settings file. Remembers what it changed for the first code cell (:func:`last_applied`);
    returns nothing, so the parameters cell shows no output."""
    global _LAST
    _LAST = Applied()
    if os.environ.get(RUN_DIR_ENV):
        return
    path = settings_path()
    if path is None:
        return
    values = read_settings(path)
    applied = {k: v for k, v in values.items() if k in namespace}
    namespace.update(applied)
    _LAST = Applied(path, applied)
