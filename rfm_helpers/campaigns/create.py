"""Sending creates the experiment: a list for a campaign, a held-out control group, a registry entry.

:func:`create_campaign` takes the customers of the chosen segments (as of the run's
analysis date), keeps those the channel can reach (a contact, consent, not unsubscribed:
:mod:`rfm_helpers.act.consent`; counted per reason), holds out a seeded random control group
stratified by segment (:mod:`.assign`), writes the send list of the treated customers
(``lists/``: per segment, with the contact fields the channel needs), the assignment file,
and registers the campaign with the rules that will decide it (``campaign.yaml``). The
control group is drawn from the reachable customers only: a held-out customer must be one
the campaign could have reached, otherwise the comparison would measure reachability too.
"""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from . import sql
from .assign import stratified_holdout
from .registry import (CampaignSpec, Decision, GuardrailSpec, Holdout, RegistryError, campaign_dir, campaign_id,
                       save_spec)

__all__ = ["CreateResult", "create_campaign", "segment_population"]


@dataclass
class CreateResult:
    """What ``campaign create`` did (or would do, in a dry run): aggregates only."""

    spec: CampaignSpec
    folder: Path | None
    per_segment: pd.DataFrame
    excluded: dict[str, int]
    consent_checked: bool
    files: list[str] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {g: int(self.per_segment[g].sum()) for g in ("control", "treatment") if g in self.per_segment}


def segment_population(rfm: pd.DataFrame | str, segments: Sequence[str], segment_map: str, *,
                       engine: Any = None) -> pd.DataFrame:
    """The scored rows of the customers in ``segments`` (the engine filters on the score cells
    of those segments; only their rows reach pandas: the campaign's population), with
    ``segment`` / ``segment_label``. ``rfm``: the scored table as pandas, or the name of a
    table of ``engine`` (a monthly run's ``rfm_table``)."""
    from ..segments import _get_map, assign_segments, segment_of_cell

    _, mp = _get_map(segment_map, None)
    keys = [s["key"] for s in mp["segments"]]
    unknown = [s for s in segments if s not in keys]
    if unknown:
        raise RegistryError(f"segments {unknown} are not in the segment map {segment_map!r}; its segments: "
                            f"{', '.join(keys)}")
    cells = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)
             if segment_of_cell(r, f, m, segment_map) in set(segments)]
    values = ", ".join(str(100 * r + 10 * f + m) for r, f, m in cells)
    where = f"WHERE 100 * r_score + 10 * f_score + m_score IN ({values})"
    if isinstance(rfm, str):  # in the run's order (by id), with the dtypes of Prepared.rfm
        from ..rfm import tidy_rfm

        rows = tidy_rfm(sql.fetch(engine, f"SELECT * FROM {rfm} {where} ORDER BY customer_id",
                                  label="campaign create: customers of the segments", kind="sample"))
    else:
        rows = sql.query(f"SELECT * FROM rfm {where}", rfm=rfm)
    return assign_segments(rows, map_name=segment_map)


def _reach(population: pd.DataFrame, contacts: Any, channel: str) -> pd.DataFrame:
    from ..act.consent import reason_sql

    c = contacts.frame
    return sql.query(f"""SELECT p.customer_id, {reason_sql(channel, c.columns, contacts.assume_consent)} AS reason
                        FROM pop AS p LEFT JOIN c ON c.customer_id = p.customer_id""",
                     pop=population[["customer_id"]].astype("string"), c=c)


def create_campaign(*, rfm: pd.DataFrame | str, as_of: dt.date, reports_dir: str | Path, name: str, segments: Sequence[str],
                    channel: str, send_date: dt.date, outcome_window_days: int, control_share: float, seed: int,
                    primary_metric: str, min_effect: float, segment_map: str = "classic", contacts: Any = None,
                    cost_per_contact: float = 0.0, guardrails: Iterable[GuardrailSpec | dict] = (),
                    alpha: float = 0.05, power: float = 0.8, analysis: dict | None = None, source_name: str = "",
                    language: str = "en", words: Any = None, currency: str = "", formats: Sequence[str] = ("csv", "xlsx"),
                    dry_run: bool = False, replace: bool = False, engine: Any = None) -> CreateResult:
    """Make the experiment of a campaign (see the module). ``rfm``: the scored RFM table as of
    ``as_of`` (pandas, or the name of a table of ``engine``); ``contacts``: :class:`rfm_helpers.load.contacts.Contacts` or ``None`` (then
    consent cannot be checked here and the report says so). Nothing is written when
    ``dry_run``."""
    if send_date < as_of:
        raise RegistryError(f"send date {send_date} is before the analysis date {as_of} of the segments: a list is "
                            "made for a campaign still to be sent (register past campaigns with 'campaign register')")
    spec = CampaignSpec(
        id=campaign_id(name, send_date), name=name, segments=list(segments), segment_map=segment_map, channel=channel,
        send_date=send_date, outcome_window_days=outcome_window_days, cost_per_contact=cost_per_contact,
        planned_split={"control": control_share, "treatment": 1 - control_share},
        holdout=Holdout(share=control_share, seed=seed),
        decision=Decision(primary_metric=primary_metric, min_effect=min_effect, alpha=alpha, power=power,
                          guardrails=[g if isinstance(g, GuardrailSpec) else GuardrailSpec(**g) for g in guardrails]),
        **({"analysis": analysis} if analysis else {}), source=source_name,
        registered_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(), registered_by="create")
    folder = campaign_dir(reports_dir, spec.id)
    if folder.exists() and not replace and not dry_run:
        raise RegistryError(f"campaign {spec.id!r} is already registered ({folder}); choose another name or send date")
    population = segment_population(rfm, segments, segment_map, engine=engine)
    if population.empty:
        raise RegistryError(f"no customer is in the segments {list(segments)} on {as_of}")
    population["segment"] = population["segment"].astype(str)
    checked = contacts is not None and channel in ("email", "sms", "call")
    notes: list[dict] = []
    if checked:
        reach = _reach(population, contacts, channel)
        population = population.merge(reach, on="customer_id", how="left")
        if contacts.assume_consent and channel in contacts.assume_consent:
            notes.append({"code": "consent_assumed", "channel": channel})
    else:
        population["reason"] = None
        notes.append({"code": "consent_not_checked", "channel": channel})
    eligible = population.loc[population["reason"].isna()].drop(columns="reason")
    if len(eligible) < 4:
        raise RegistryError(f"only {len(eligible)} customer(s) of {len(population)} in {list(segments)} can be "
                            f"reached by {channel}: too few for a campaign with a control group")
    assignment = stratified_holdout(eligible, control_share, seed)
    per = pd.crosstab(population["segment"], population["reason"].fillna("eligible"))
    groups = pd.crosstab(assignment["segment"], assignment["group"])
    per_segment = per.join(groups, how="left").fillna(0).astype(int).reset_index()
    for col in ("eligible", "no_contact", "unsubscribed", "no_consent", "control", "treatment"):
        if col not in per_segment.columns:
            per_segment[col] = 0
    excluded = {r: int(per_segment[r].sum()) for r in ("no_contact", "unsubscribed", "no_consent")}
    spec = spec.model_copy(update={"created_from": {
        "analysis_date": as_of.isoformat(), "customers_in_segments": int(len(population)),
        "eligible": int(len(eligible)), "excluded": excluded, "consent_checked": checked,
        "control": int((assignment["group"] == "control").sum()),
        "treatment": int((assignment["group"] == "treatment").sum())}})
    result = CreateResult(spec, None if dry_run else folder, per_segment, excluded, checked, notes=notes)
    if dry_run:
        return result
    _write(result, folder, population, assignment, contacts, channel, segment_map, language, words, source_name,
           as_of, currency, formats, replace)
    return result


def _write(result: CreateResult, folder: Path, population: pd.DataFrame, assignment: pd.DataFrame, contacts: Any,
           channel: str, segment_map: str, language: str, words: Any, source_name: str, as_of: dt.date,
           currency: str, formats: Sequence[str], replace: bool) -> None:
    from ..act import ExportWriter, write_call_list, write_mailing_lists

    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    opts = dict(source_name=source_name, as_of=as_of, currency=currency)
    # the registry's assignment.csv is read back under that name: never compressed (gzip_rows=0)
    reg = (ExportWriter(tmp, language, words, gzip_rows=0, **opts) if words is not None
           else ExportWriter(tmp, language, gzip_rows=0, **opts))
    reg.write_table("assignment.csv", assignment[["customer_id", "group", "segment"]], order_by="customer_id")
    lists = ExportWriter(tmp / "lists", language, reg.words, **opts)
    treated = population.loc[population["customer_id"].isin(
        pd.Index(assignment.loc[assignment["group"] == "treatment", "customer_id"]))].drop(columns="reason")
    frame = contacts.frame if contacts is not None else None
    if channel == "call":
        write_call_list(lists, treated, segment_map, contacts=frame, channel="call" if frame is not None else None,
                        name="send_call_list", formats=tuple(f for f in formats if f in ("csv", "xlsx")))
    else:
        write_mailing_lists(lists, treated, segment_map, segments=result.spec.segments, contacts=frame,
                            channel=channel if frame is not None and channel in ("email", "sms") else None,
                            formats=formats, prefix="send")
    result.notes.extend(lists.warnings)
    save_spec(result.spec, tmp)
    result.files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    if folder.exists():
        if not replace:
            raise RegistryError(f"campaign {result.spec.id!r} is already registered ({folder})")
        shutil.rmtree(folder)
    tmp.replace(folder)
