"""Run parameters: the ONE place where a run's month, analysis date, window, language,
source, currency and the notebooks' choices (segment map, correction method...) are parsed
and checked. The command line (``rfm-report``) and a notebook's first code cell validate the
same :class:`RunParams`; everything downstream receives typed values.

A wrong value fails here, before anything runs, with one short sentence that names the
parameter, the value and what is allowed (:class:`ParameterError`); a file that is not found
says every place it was looked for.

Usage::

    from rfm_helpers.params import RunParams, month_end
    p = RunParams.for_month("1998-06", language="ru", currency="RUB")
    p.analysis_date            # datetime.date(1998, 6, 30)
    p.notebook_values()        # what papermill passes to the notebooks

    # in a notebook (parameters as plain variables):
    p = check_notebook_parameters(analysis_date=analysis_date, language=language, ...)
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from pathlib import Path
from typing import Any, ClassVar, Iterable

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from .paths import find_file
from .redaction import check_parameters_safe

__all__ = ["RunParams", "ParameterError", "check_notebook_parameters", "parse_month", "month_end",
           "month_start", "months_between", "previous_month", "parse_params", "STANDARD_PARAMETERS",
           "DEFAULT_CURRENCY", "source_currency", "MissingFile"]

#: Parameters every notebook may declare (only the declared ones are passed to it).
STANDARD_PARAMETERS = ("analysis_date", "source_config", "window_days", "language", "currency", "run_dir")
#: Currency of a source that does not state one (the bundled CDNOW sample is in US dollars).
DEFAULT_CURRENCY = "USD"
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Multiple-comparison corrections (statsmodels ``multipletests`` method names).
CORRECTIONS = ("holm", "fdr_bh", "bonferroni", "sidak", "holm-sidak", "simes-hochberg", "hommel",
               "fdr_by", "fdr_tsbh", "fdr_tsbky")
ON_UNKNOWN = ("exclude", "error")
#: Customer value models and fitting methods (notebook 06; ``rfm_helpers.value.models``).
VALUE_MODELS = ("mbgnbd", "bgnbd")
FIT_METHODS = ("map", "mcmc")
#: Notebook parameters that are whole numbers with a lower bound.
WHOLE_NUMBERS = {"history_months": 1, "outcome_window_days": 1, "clv_months": 1, "bootstrap_resamples": 0,
                 "bootstrap_reps": 0, "call_list_rows": 0, "n_clusters": 0, "k_min": 2, "k_max": 2}


class ParameterError(ValueError):
    """A run parameter with a wrong value: one short sentence, no library traceback.

    ``name`` is the parameter, ``value`` what was given."""

    def __init__(self, name: str, message: str, value: Any = None):
        self.name = name
        self.value = value
        super().__init__(f"{name}: {message}" if name else message)

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


class MissingFile(ParameterError, FileNotFoundError):
    """A parameter naming a file that is not there; the message lists where it was looked for."""


def _existing_file(name: str, value: str, what: str) -> str:
    try:
        return str(find_file(value, what))
    except FileNotFoundError as exc:
        raise MissingFile("", str(exc), value) from None


# --------------------------------------------------------------------------- months


def parse_month(month: str) -> tuple[int, int]:
    """``"1998-06"`` -> ``(1998, 6)``; raises ``ValueError`` on anything else."""
    m = MONTH_RE.match(str(month).strip())
    if not m:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return int(m.group(1)), int(m.group(2))


def month_start(month: str) -> dt.date:
    y, m = parse_month(month)
    return dt.date(y, m, 1)


def month_end(month: str) -> dt.date:
    """Last calendar day of ``month`` (the default analysis date of a monthly run)."""
    y, m = parse_month(month)
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def previous_month(month: str, months: int = 1) -> str:
    """``previous_month("1998-01")`` -> ``"1997-12"``; ``months=12``: the same month a year earlier."""
    y, m = parse_month(month)
    k = y * 12 + (m - 1) - months
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def months_between(start: str, end: str) -> list[str]:
    """Every month from ``start`` to ``end`` inclusive, as ``YYYY-MM`` strings."""
    y, m = parse_month(start)
    ye, me = parse_month(end)
    if (y, m) > (ye, me):
        raise ValueError(f"--from {start} is after --to {end}")
    out = []
    while (y, m) <= (ye, me):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# --------------------------------------------------------------------------- --param KEY=VALUE


def _parse_scalar(text: str) -> Any:
    """Command-line ``--param`` value -> int / float / bool / str (dates stay strings)."""
    t = text.strip()
    if t.lower() in {"true", "false"}:
        return t.lower() == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return text


def parse_params(items: Iterable[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{"k": v}`` with scalar types inferred."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise ValueError(f"--param name {k!r} is not a valid Python identifier")
        out[k] = _parse_scalar(v)
    return out


# --------------------------------------------------------------------------- the model


def _languages() -> list[str]:
    # The languages are the message catalogs that exist (the i18n core owns that fact; it
    # imports nothing from the rest of the package).
    from .report.i18n import available_languages

    return available_languages()


def _segment_map_names() -> list[str]:
    from .segments import load_segment_maps

    return sorted(load_segment_maps()["maps"])


def source_currency(source_config: str) -> str | None:
    """The ``currency:`` the source spec states (ISO code), or ``None``: the bundled sample
    states USD; a YAML file is read for its top-level ``currency`` key only."""
    if not source_config:
        from .load.bundled import CDNOW_SPEC

        return CDNOW_SPEC["currency"]
    if "://" in source_config:
        return None
    try:
        spec = yaml.safe_load(Path(source_config).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # the loader reports a broken spec with its own, better message
    value = spec.get("currency") if isinstance(spec, dict) else None
    return str(value).strip() if value else None


def _iso_currency(value: str) -> str:
    code = str(value).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"must be an ISO 4217 code such as USD, RUB or EUR, got {value!r}")
    from babel.numbers import get_currency_name

    if get_currency_name(code, locale="en") == code:  # Babel knows no such currency
        raise ValueError(f"{value!r} is not a known ISO 4217 currency code (USD, RUB, EUR, ...)")
    return code


class RunParams(BaseModel):
    """The parameters of one run (a month of the monthly report, or one notebook session).

    ``analysis_date`` ``None`` means "the last date in the data" (interactive use); a monthly
    run defaults it to the month's last day. ``currency`` ``None`` is resolved from the
    source spec's ``currency:`` key, else USD. ``extra`` holds any other notebook parameter
    (``--param KEY=VALUE``), checked here when its name is one we know (``segment_map``,
    ``correction``, ``on_unknown``, ``campaign_path``, ``test_recipients``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    month: str | None = None
    analysis_date: dt.date | None = None
    window_days: int = 0
    language: str = "en"
    source_config: str = ""
    currency: str | None = None
    extra: dict[str, Any] = {}

    #: Known notebook parameters that name a file (checked to exist, made absolute).
    PATH_PARAMETERS: ClassVar[dict[str, str]] = {"campaign_path": "campaign file",
                                                  "test_recipients": "test recipients file"}

    # ---------------------------------------------------------------- fields
    @field_validator("month", mode="before")
    @classmethod
    def _month(cls, v: Any) -> str | None:
        if v is None or v == "":
            return None
        if not MONTH_RE.match(str(v).strip()):
            raise ValueError(f"must look like YYYY-MM (1998-06), got {v!r}")
        return str(v).strip()

    @field_validator("analysis_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> dt.date | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        try:
            return dt.date.fromisoformat(str(v).strip())
        except ValueError:
            raise ValueError(f"must be a date like 1998-06-30 (YYYY-MM-DD), got {v!r}") from None

    @field_validator("window_days", mode="before")
    @classmethod
    def _window(cls, v: Any) -> int:
        if v is None or v == "":
            return 0
        if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer())
                                       or (isinstance(v, str) and v.strip().isdigit())):
            raise ValueError(f"must be a whole number of days (0: whole history), got {v!r}")
        n = int(v)
        if n < 0:
            raise ValueError(f"must be 0 (whole history) or a positive number of days, got {v!r}")
        return n

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> str:
        langs = _languages()
        if v not in langs:
            raise ValueError(f"{v!r} is not available; use one of: {', '.join(langs)}")
        return v

    @field_validator("source_config", mode="before")
    @classmethod
    def _source(cls, v: Any) -> str:
        cfg = "" if v is None else str(v).strip()
        if not cfg or "://" in cfg:
            return cfg  # a URL is refused below if it carries credentials
        return _existing_file("source_config", cfg, "source config")  # absolute: kernels run in notebooks/

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, v: Any) -> str | None:
        return None if v is None or v == "" else _iso_currency(v)

    @field_validator("extra", mode="before")
    @classmethod
    def _extra(cls, v: Any) -> dict[str, Any]:
        extra = dict(v or {})
        clash = set(extra) & {*STANDARD_PARAMETERS, "month"}
        if clash:
            raise ValueError(f"use the dedicated options, not --param, for: {', '.join(sorted(clash))}")
        if "segment_map" in extra:
            names = _segment_map_names()
            if extra["segment_map"] not in names:
                raise ValueError(f"segment_map {extra['segment_map']!r} is not a segment map; "
                                 f"use one of: {', '.join(names)}")
        if "correction" in extra and extra["correction"] not in CORRECTIONS:
            raise ValueError(f"correction {extra['correction']!r} is not a correction method; use one of: "
                             f"{', '.join(CORRECTIONS)}")
        if "on_unknown" in extra and extra["on_unknown"] not in ON_UNKNOWN:
            raise ValueError(f"on_unknown {extra['on_unknown']!r} must be one of: {', '.join(ON_UNKNOWN)}")
        if "value_model" in extra and extra["value_model"] not in VALUE_MODELS:
            raise ValueError(f"value_model {extra['value_model']!r} is not a value model; use one of: "
                             f"{', '.join(VALUE_MODELS)}")
        if "fit_method" in extra and extra["fit_method"] not in FIT_METHODS:
            raise ValueError(f"fit_method {extra['fit_method']!r} is not a fitting method; use one of: "
                             f"{', '.join(FIT_METHODS)}")
        if "list_formats" in extra:
            from .act.formats import LIST_FORMATS

            asked = [f.strip().lower() for f in str(extra["list_formats"] or "").split(",") if f.strip()]
            unknown = [f for f in asked if f not in LIST_FORMATS]
            if unknown:
                raise ValueError(f"list_formats {', '.join(map(repr, unknown))} is not a list format; use "
                                 f"comma-separated names from: {', '.join(LIST_FORMATS)} (empty: none)")
        if "alpha" in extra and not (isinstance(extra["alpha"], (int, float)) and not isinstance(extra["alpha"], bool)
                                     and 0 < extra["alpha"] < 0.5):
            raise ValueError(f"alpha {extra['alpha']!r} must be a significance level between 0 and 0.5 (0.05: 95% "
                             "confidence intervals)")
        for name, low in WHOLE_NUMBERS.items():
            value = extra.get(name)
            if name in extra and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ValueError(f"{name} {value!r} must be a whole number of at least {low}")
        if isinstance(extra.get("k_min"), int) and isinstance(extra.get("k_max"), int) and extra["k_min"] > extra["k_max"]:
            raise ValueError(f"k_min {extra['k_min']} is larger than k_max {extra['k_max']}")
        if "send_date" in extra and extra["send_date"] not in ("", None):
            try:
                dt.date.fromisoformat(str(extra["send_date"]).strip())
            except ValueError:
                raise ValueError(f"send_date {extra['send_date']!r} must be a date like 1998-01-15 (YYYY-MM-DD)") from None
        for name, what in cls.PATH_PARAMETERS.items():
            value = extra.get(name)
            if isinstance(value, str) and value.strip() and "://" not in value:
                extra[name] = _existing_file(name, value.strip(), what)
        return extra

    # ---------------------------------------------------------------- the whole
    @model_validator(mode="after")
    def _resolve(self) -> "RunParams":
        if self.month and self.analysis_date is None:
            object.__setattr__(self, "analysis_date", month_end(self.month))
        elif self.month and not month_start(self.month) <= self.analysis_date <= month_end(self.month):
            raise ParameterError("analysis_date", f"{self.analysis_date} is not in the month {self.month} of "
                                 "the report; leave it out to use the month's last day", self.analysis_date)
        if self.currency is None:
            code = source_currency(self.source_config)
            try:
                object.__setattr__(self, "currency", _iso_currency(code) if code else DEFAULT_CURRENCY)
            except ValueError as exc:
                raise ParameterError("currency", f"the source config states currency {code!r}, which {exc}",
                                     code) from None
        check_parameters_safe({k: v for k, v in self.notebook_values().items()})
        return self

    @classmethod
    def parse(cls, **values: Any) -> "RunParams":
        """Validate ``values``; a wrong one raises :class:`ParameterError` (one sentence)."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise _short(exc) from None

    @classmethod
    def for_month(cls, month: str, **values: Any) -> "RunParams":
        return cls.parse(month=month, **values)

    # ---------------------------------------------------------------- views
    def notebook_values(self) -> dict[str, Any]:
        """What the notebooks receive (only the names a notebook declares are passed)."""
        return {"analysis_date": self.analysis_date.isoformat() if self.analysis_date else "",
                "source_config": self.source_config, "window_days": self.window_days,
                "language": self.language, "currency": self.currency, **self.extra}

    def source_label(self) -> str:
        """The source as shown to people: the YAML file's name, or the bundled sample."""
        return Path(self.source_config).name if self.source_config else "bundled CDNOW sample"

    def public(self) -> dict[str, Any]:
        """The parameters for ``summary.json`` and the manifest (no absolute paths)."""
        out = self.notebook_values()
        out["source_config"] = self.source_label() if self.source_config else ""
        for name in self.PATH_PARAMETERS:
            if out.get(name):
                out[name] = Path(out[name]).name
        return {"month": self.month, **out}


def _short(exc: ValidationError) -> ParameterError:
    """A pydantic error -> ``ParameterError("language: 'de' is not available; use one of: en, ru")``."""
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err.get("loc", ()) if p != "extra") or ""
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ParameterError):
        return cause
    msg = str(cause) if cause is not None else err.get("msg", "invalid value")
    if name == "extra" or (not name and ":" in msg):
        name = ""
    if err.get("type") == "extra_forbidden":
        msg = "unknown parameter"
    return ParameterError(name, msg, err.get("input"))


def check_notebook_parameters(**values: Any) -> RunParams:
    """Validate a notebook's parameters (its variables, as papermill or the analyst set
    them) with the same model as the command line. Names that are not run parameters go to
    ``extra`` (checked when known); ``run_dir`` is ignored. Raises :class:`ParameterError`."""
    fields = set(RunParams.model_fields) - {"extra"}
    core = {k: v for k, v in values.items() if k in fields}
    extra = {k: v for k, v in values.items() if k not in fields and k != "run_dir"}
    return RunParams.parse(**core, extra=extra)

