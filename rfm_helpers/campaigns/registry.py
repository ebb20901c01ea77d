"""The campaigns registry: plain files beside the reports, one folder per campaign.

::

    reports/campaigns/<id>/campaign.yaml     what was sent, to whom, and the rules that decide it
    reports/campaigns/<id>/assignment.csv    customer_id, group (control / treatment...), segment
    reports/campaigns/<id>/lists/            the files that were sent (made by "campaign create")
    reports/campaigns/<id>/evaluation.json   the last evaluation and the hash of its inputs

``campaign.yaml`` is checked strictly (:class:`CampaignSpec`: unknown keys, wrong values and
missing fields are errors naming the file and the line), so a person can read and edit it,
and a campaign run outside this tool is registered by writing one (``rfm-report campaign
register``). A campaign is *due* in a monthly run when its outcome window has closed on or
before the run's analysis date; its evaluation is reused while its inputs (the assignment,
the transactions up to the window's end, the settings) are unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .analysis import AnalysisSettings, Guardrail
from .verdict import DecisionRules

__all__ = ["RegistryError", "CampaignSpec", "Decision", "GuardrailSpec", "Holdout", "Analysis", "REGISTRY_DIR",
           "registry_dir", "campaign_dir", "load_spec", "save_spec", "list_campaigns", "status", "campaign_id",
           "register", "read_evaluation", "write_evaluation", "file_digest", "CHANNELS", "EVALUATION_VERSION"]

REGISTRY_DIR = "campaigns"
SPEC_FILE = "campaign.yaml"
ASSIGNMENT_FILE = "assignment.csv"
EVALUATION_FILE = "evaluation.json"
#: Changes whenever a change of the code changes an evaluation's numbers (it is part of the hash).
EVALUATION_VERSION = 1
CHANNELS = ("email", "sms", "call", "other")
GUARDRAIL_BUILTINS = ("unsubscribed", "returns")


class RegistryError(ValueError):
    """A registry file is wrong or missing (the message names the file, the line and the fix)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GuardrailSpec(_Strict):
    """A metric the campaign must not make worse."""

    metric: str = Field(description="unsubscribed (from the contacts table), returns (negative amounts in the "
                                    "window) or a column of the outcomes file")
    max_harm: float = Field(0.0, ge=0, description="tolerated worsening per customer: a share for 0/1 metrics "
                                                   "(0.002 = 0.2 points), money for returns")
    direction: Literal["increase", "decrease"] = Field("increase", description="which change is harm")

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        v = str(v).strip()
        return {"unsubscribes": "unsubscribed", "unsubscribe": "unsubscribed", "return": "returns"}.get(v, v)


class Decision(_Strict):
    """The rules that decide the campaign, fixed at registration."""

    primary_metric: Literal["converted", "revenue", "orders"] = Field(
        description="converted (share of customers who bought), revenue or orders per customer")
    min_effect: float = Field(gt=0, description="smallest effect worth acting on: percentage points for converted, "
                                                "money per customer for revenue, orders per customer for orders")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    power: float = Field(0.8, gt=0.5, lt=1)
    guardrails: list[GuardrailSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _points(self) -> "Decision":
        if self.primary_metric == "converted" and self.min_effect >= 100:
            raise ValueError("min_effect for converted is in percentage points (1.0 = one point), below 100")
        return self

    def rules(self) -> DecisionRules:
        return DecisionRules(self.primary_metric, self.min_effect, self.alpha, self.power)


class Holdout(_Strict):
    """How the control group was drawn (by ``campaign create``)."""

    share: float = Field(gt=0, lt=1, description="share of the eligible customers held out as control")
    seed: int = Field(description="seed of the random draw")
    stratified_by: Literal["segment"] = "segment"


class Analysis(_Strict):
    """How the campaign is analysed."""

    correction: str = Field("holm", description="multiple-comparison correction: holm, fdr_bh, ...")
    cap_revenue_quantile: Optional[float] = Field(None, ge=0.5, lt=1, description="cap each customer's revenue "
                                                                                  "at this pooled quantile (0.99)")
    bootstrap_mc_error: float = Field(0.01, gt=0, le=0.1, description="Monte-Carlo error target of the bootstrap "
                                                                      "interval's ends, share of its width")
    margin: float = Field(1.0, gt=0, le=1, description="gross margin for the ROI (1.0: ROI on revenue)")
    seed: int = Field(0, description="seed of the bootstrap")

    @field_validator("correction")
    @classmethod
    def _correction(cls, v: str) -> str:
        from ..params import CORRECTIONS

        if v not in CORRECTIONS:
            raise ValueError(f"use one of {', '.join(CORRECTIONS)}")
        return v


class CampaignSpec(_Strict):
    """``campaign.yaml``: one registered campaign."""

    id: str = Field(description="folder name of the campaign in the registry")
    name: str = Field(min_length=1)
    segments: list[str] = Field(default_factory=list, description="segment keys the campaign was sent to")
    segment_map: str = "classic"
    channel: Literal["email", "sms", "call", "other"]
    send_date: dt.date
    outcome_window_days: int = Field(gt=0, le=3650)
    cost_per_contact: float = Field(0.0, ge=0, description="cost of contacting one treated customer")
    control: str = "control"
    planned_split: dict[str, float] = Field(description="planned share per group, e.g. {control: 0.1, treatment: 0.9}")
    holdout: Optional[Holdout] = None
    decision: Decision
    analysis: Analysis = Field(default_factory=Analysis)
    assignment: str = ASSIGNMENT_FILE
    outcomes: Optional[str] = Field(None, description="optional CSV of per-customer outcomes (customer_id and one "
                                                      "column per guardrail metric, e.g. unsubscribed)")
    source: str = ""
    registered_at: Optional[str] = None
    registered_by: Literal["create", "register"] = "register"
    created_from: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,79}", v) or v == "demo":
            raise ValueError("use lower-case letters, digits, '-' and '_' (at most 80), not 'demo'")
        return v

    @field_validator("planned_split")
    @classmethod
    def _split(cls, v: dict[str, float]) -> dict[str, float]:
        if len(v) < 2 or any(x <= 0 for x in v.values()):
            raise ValueError("needs the control group and at least one other group, each with a positive share")
        total = sum(v.values())
        return {str(k): float(x) / total for k, x in v.items()}

    @model_validator(mode="after")
    def _consistent(self) -> "CampaignSpec":
        if self.control not in self.planned_split:
            raise ValueError(f"planned_split has no control group {self.control!r}")
        return self

    @property
    def window_end(self) -> dt.date:
        return self.send_date + dt.timedelta(days=self.outcome_window_days - 1)

    @property
    def variants(self) -> list[str]:
        return [g for g in self.planned_split if g != self.control]

    def settings(self) -> AnalysisSettings:
        a = self.analysis
        return AnalysisSettings(alpha=self.decision.alpha, correction=a.correction, seed=a.seed,
                                bootstrap_mc_error=a.bootstrap_mc_error, margin=a.margin,
                                cap_revenue_quantile=a.cap_revenue_quantile, power=self.decision.power)

    def guardrails(self) -> list[Guardrail]:
        return [Guardrail(g.metric, g.max_harm, g.direction) for g in self.decision.guardrails]


# ------------------------------------------------------------------------------ folders
def registry_dir(reports_dir: str | os.PathLike) -> Path:
    """``<reports_dir>/campaigns``."""
    return Path(reports_dir) / REGISTRY_DIR


def campaign_dir(reports_dir: str | os.PathLike, cid: str) -> Path:
    return registry_dir(reports_dir) / cid


def campaign_id(name: str, send_date: dt.date) -> str:
    """``2026-07-01-win-back-at-risk``: the send date and the name's letters and digits."""
    import unicodedata

    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:50].strip("-")
    return f"{send_date.isoformat()}-{slug}" if slug else send_date.isoformat()


def _errors(err: ValidationError, label: str, text: str) -> RegistryError:
    from ..load.spec import _line_map

    try:
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        lines = {}
    msgs = []
    for e in err.errors():
        loc = tuple(e["loc"])
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        where = f"{label}, line {line}" if line else label
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            msgs.append(f"{where}: unknown key {dotted!r}.")
        elif e["type"] == "missing":
            msgs.append(f"{where}: {dotted} is required.")
        else:
            msgs.append(f"{where}: {dotted}: {e['msg'].removeprefix('Value error, ')} (got {e.get('input')!r}).")
    return RegistryError(" ".join(dict.fromkeys(msgs)))


def parse_spec(text: str, label: str) -> CampaignSpec:
    """A :class:`CampaignSpec` from YAML text; errors name ``label`` and the line."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}, line {mark.line + 1}" if mark is not None else label
        raise RegistryError(f"{where}: the YAML cannot be read: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{label}: expected the campaign's settings as key: value lines")
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise _errors(exc, label, text) from None


def load_spec(folder: str | os.PathLike) -> CampaignSpec:
    """Read ``<folder>/campaign.yaml``; the id must be the folder's name."""
    path = Path(folder) / SPEC_FILE
    if not path.exists():
        raise RegistryError(f"{path}: not found (a campaign folder holds campaign.yaml and assignment.csv)")
    spec = parse_spec(path.read_text(encoding="utf-8-sig"), str(path))
    if spec.id != Path(folder).name:
        raise RegistryError(f"{path}: id {spec.id!r} differs from the folder's name {Path(folder).name!r}")
    return spec


_HEADER = """\
# A campaign of the registry (rfm-report campaign create / register; README "Campaigns").
# The rules under `decision` were fixed when the campaign was registered: change them before the
# outcome window closes, never after having seen the results.
# decision.min_effect is in the primary metric's unit: percentage points for converted,
# money per customer for revenue, orders per customer for orders.
"""


def save_spec(spec: CampaignSpec, folder: str | os.PathLike) -> Path:
    """Write ``campaign.yaml`` (atomically) with a short explanation on top."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads(spec.model_dump_json(exclude_none=True))
    text = _HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    path = folder / SPEC_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def list_campaigns(reports_dir: str | os.PathLike) -> list[tuple[Path, CampaignSpec | RegistryError]]:
    """Every campaign folder of the registry, by send date then id; a folder whose
    ``campaign.yaml`` is wrong comes with its error instead of a spec."""
    root = registry_dir(reports_dir)
    out: list[tuple[Path, CampaignSpec | RegistryError]] = []
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            out.append((d, load_spec(d)))
        except RegistryError as exc:
            out.append((d, exc))
    return sorted(out, key=lambda x: (x[1].send_date.isoformat() if isinstance(x[1], CampaignSpec) else "", x[0].name))


def status(spec: CampaignSpec, as_of: dt.date) -> str:
    """``not_sent`` (send date after ``as_of``), ``waiting`` (window still open) or ``due``."""
    if spec.send_date > as_of:
        return "not_sent"
    return "due" if spec.window_end <= as_of else "waiting"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def register(spec: CampaignSpec, assignment: str | os.PathLike, reports_dir: str | os.PathLike, *,
             outcomes: str | os.PathLike | None = None, replace: bool = False) -> Path:
    """Register a campaign run outside this tool: copy its assignment file (and outcomes file)
    into a new registry folder and write ``campaign.yaml``. The assignment is checked first
    (``customer_id`` and ``group`` columns, every group of ``planned_split`` present, nobody in
    two groups). Refuses an existing id unless ``replace``."""
    from .data import CampaignError, read_campaign

    src = Path(assignment)
    if not src.is_file():
        raise RegistryError(f"assignment file {assignment} not found")
    try:
        frame = read_campaign(src)
    except CampaignError as exc:
        raise RegistryError(str(exc)) from None
    check_assignment(frame, spec, str(src))
    folder = campaign_dir(reports_dir, spec.id)
    if folder.exists() and not replace:
        raise RegistryError(f"campaign {spec.id!r} is already registered ({folder}); choose another name or "
                            "send date, or replace it explicitly")
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(src, tmp / ASSIGNMENT_FILE)
    spec = spec.model_copy(update={"assignment": ASSIGNMENT_FILE})
    if outcomes:
        if not Path(outcomes).is_file():
            raise RegistryError(f"outcomes file {outcomes} not found")
        shutil.copyfile(outcomes, tmp / "outcomes.csv")
        spec = spec.model_copy(update={"outcomes": "outcomes.csv"})
    save_spec(spec, tmp)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def check_assignment(frame: Any, spec: CampaignSpec, label: str) -> None:
    """The assignment file fits the spec: columns, groups, nobody in two groups."""
    missing = [c for c in ("customer_id", "group") if c not in frame.columns]
    if missing:
        raise RegistryError(f"{label}: lacks column(s) {missing}; found {list(frame.columns)}")
    groups = set(frame["group"].astype(str).str.strip())
    unknown = sorted(groups - set(spec.planned_split))
    absent = sorted(set(spec.planned_split) - groups)
    if unknown or absent:
        raise RegistryError(f"{label}: groups {sorted(groups)} do not match planned_split {list(spec.planned_split)}"
                            + (f" (not planned: {unknown})" if unknown else "")
                            + (f" (planned but absent: {absent})" if absent else ""))
    ids = frame["customer_id"].astype(str).str.strip()
    multi = frame.assign(customer_id=ids).groupby("customer_id")["group"].nunique()
    if (multi > 1).any():
        raise RegistryError(f"{label}: {int((multi > 1).sum())} customer(s) are in more than one group")


# ------------------------------------------------------------------------------ evaluations
def read_evaluation(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / EVALUATION_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def write_evaluation(folder: str | os.PathLike, evaluation: dict) -> Path:
    path = Path(folder) / EVALUATION_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(evaluation, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def parse_guardrails(text: str | None) -> list[GuardrailSpec]:
    """``"unsubscribed:0.002, returns"`` -> guardrail specs (``metric[:max_harm]``, comma-separated)."""
    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        metric, _, harm = part.partition(":")
        try:
            out.append(GuardrailSpec(metric=metric.strip(), max_harm=float(harm) if harm.strip() else 0.0))
        except (ValueError, ValidationError) as exc:
            raise RegistryError(f"guardrail {part!r}: write metric or metric:tolerated_worsening, e.g. "
                                f"unsubscribed:0.002 ({exc})") from None
    return out
