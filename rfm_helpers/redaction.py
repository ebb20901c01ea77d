"""What a secret looks like, and the three things we do about it: refuse, mask, redact.

* **Refuse** (:func:`check_parameters_safe`): a run parameter that looks like a credential
  (a ``*_password`` name, a connection string with a password, the value of a secret
  environment variable) is refused, because papermill writes every parameter into the
  executed notebook, which is published with the report. Credentials reach the loader
  through environment variables named in the source config.
* **Mask** (:func:`mask_parameters`): when parameters are shown, values of secret-looking
  names are replaced by ``••••`` (belt and braces: they should never be parameters).
* **Redact** (:func:`secret_values`, :func:`redact`, :func:`redact_tree`): any value of a
  secret-looking environment variable that still shows up in an output is replaced by
  ``[redacted]`` before anything is published.

A base module: it imports nothing else from :mod:`rfm_helpers`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

__all__ = ["REDACTED", "MASK", "looks_secret_name", "looks_secret_parameter", "secret_values", "redact",
           "redact_data", "redact_tree", "check_parameters_safe", "mask_parameters", "UnsafeParameter"]

REDACTED = "[redacted]"
MASK = "••••"

_SECRET_NAME_TOKENS = {"PASSWORD", "PASSWD", "PASS", "SECRET", "SECRETS", "TOKEN", "KEY", "APIKEY",
                       "CREDENTIAL", "CREDENTIALS", "DSN", "URL", "URI", "AUTH", "PRIVATE", "SESSION",
                       "COOKIE", "CONN", "CONNECTION"}
#: Parameter names that must never carry a value into a notebook.
_SECRET_PARAM_HINTS = ("password", "passwd", "secret", "token", "apikey", "api_key", "credential",
                       "dsn", "db_url", "database_url", "connection")
#: Parameter names whose values are masked when shown (wider: ``key``, ``url``).
_MASK_HINTS = ("password", "passwd", "secret", "token", "key", "credential", "url", "dsn")
_NEVER_MASKED = {"source_config"}
_SECRET_QUERY_KEYS = {"password", "pwd", "pass", "passwd", "token", "secret", "key", "apikey",
                      "api_key", "access_token", "sig", "signature"}
_MIN_SECRET_LEN = 6
_TEXT_SUFFIXES = {".html", ".ipynb", ".json", ".csv", ".txt", ".md", ".tsv"}


class UnsafeParameter(ValueError):
    """A run parameter that would write a credential into the published notebook."""


def looks_secret_name(name: str) -> bool:
    """``SHOP_API_TOKEN``, ``RFM_DB_URL``, ``pg-password``: a name whose value is secret."""
    tokens = set(re.split(r"[^A-Z0-9]+", name.upper()))
    return bool(tokens & _SECRET_NAME_TOKENS)


def looks_secret_parameter(name: str) -> bool:
    """A notebook parameter name that announces a credential (``db_password``, ``api_key``)."""
    return any(h in name.lower() for h in _SECRET_PARAM_HINTS)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values that must never appear in a report: secret-looking environment variables
    (``*_PASSWORD``, ``*_TOKEN``, ``*_URL``, ...), and the password/token parts of any
    connection string found in the environment. Longest first, for redaction."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        secret_name = looks_secret_name(name)
        looks_url = "://" in value and ("@" in value or "?" in value)
        if not (secret_name or looks_url):
            continue
        if secret_name and len(value) >= _MIN_SECRET_LEN:
            found.add(value)
        if "://" in value:
            try:
                parts = urlsplit(value)
                if parts.password and len(parts.password) >= 3:
                    found.add(parts.password)
                    found.add(value)
                for k, v in parse_qsl(parts.query, keep_blank_values=False):
                    if k.lower() in _SECRET_QUERY_KEYS and len(v) >= 3:
                        found.add(v)
                        found.add(value)
            except ValueError:
                pass
    return sorted(found, key=len, reverse=True)


def redact(text: str, values: Iterable[str]) -> tuple[str, int]:
    """Replace every occurrence of ``values`` in ``text``; returns (text, replacements)."""
    n = 0
    for v in values:
        if v and v in text:
            n += text.count(v)
            text = text.replace(v, REDACTED)
    return text, n


def redact_data(obj: Any, values: Iterable[str]) -> Any:
    """A copy of a JSON-like structure (dicts, lists, strings) with ``values`` redacted in
    every string, keys included (for the run manifest and ``summary.json``)."""
    values = list(values)
    if not values:
        return obj
    if isinstance(obj, str):
        return redact(obj, values)[0]
    if isinstance(obj, Mapping):
        return {redact_data(k, values): redact_data(v, values) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_data(v, values) for v in obj)
    return obj


def redact_tree(folder: str | os.PathLike, values: Iterable[str]) -> int:
    """Last line of defence: redact ``values`` from every text file under ``folder``
    (pages, notebooks, exports). Returns the number of files changed."""
    values = list(values)
    if not values:
        return 0
    changed = 0
    for p in Path(folder).rglob("*"):
        if not p.is_file() or p.suffix.lower() not in _TEXT_SUFFIXES:
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        new, n = redact(text, values)
        if n:
            p.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def check_parameters_safe(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Refuse parameters that would write a credential into the executed notebook.

    Credentials belong in environment variables (the loader reads them there); papermill
    stores every parameter in the executed ``.ipynb``, which is published with the report.
    Raises :class:`UnsafeParameter` (a ``ValueError``)."""
    secrets_now = secret_values(environ)
    for k, v in params.items():
        if looks_secret_parameter(k):
            raise UnsafeParameter(f"parameter {k!r} looks like a credential; pass it through an environment "
                                  "variable read by the source config, never as a notebook parameter")
        if isinstance(v, str):
            if re.search(r"://[^/\s:@]*:[^/\s@]+@", v) or re.search(r"(?i)[?&;](password|pwd|token|secret)=", v):
                raise UnsafeParameter(f"parameter {k!r} holds a connection string with credentials; put the "
                                      "URL in an environment variable and name that variable in the source config")
            if any(s and s in v for s in secrets_now):
                raise UnsafeParameter(f"parameter {k!r} contains the value of a secret environment variable")


def mask_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with the values of secret-looking names replaced by :data:`MASK`."""
    out = {}
    for k, v in params.items():
        masked = any(h in k.lower() for h in _MASK_HINTS) and k.lower() not in _NEVER_MASKED
        out[k] = MASK if masked and v else v
    return out
