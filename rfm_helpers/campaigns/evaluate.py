"""Evaluating campaigns in a monthly run: due campaigns of the registry, and the demonstration.

:func:`evaluate_registered` measures one registered campaign (or reuses its stored evaluation
when the hash of its inputs is unchanged: the assignment and outcomes files, the settings and
every transaction up to the window's end); :func:`month_view` adds what changes every month
(where the audience moved since sending, the effect projected to the segments as they are
now); :func:`evaluate_month` does both for every due campaign and, on the bundled sample
only, for the demonstration campaign. Everything returned is aggregates, ready for JSON.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from . import sql
from .analysis import AnalysisSettings, analyse_campaign
from .data import CampaignError, CampaignWarning, prepare_campaign, read_campaign
from .demo import (DEMO_ID, DEMO_SEND_DATE, DEMO_WINDOW_DAYS, InjectedEffect, demo_allowed, demo_send_date,
                   simulate_campaign)
from .migration import audience_migration, segments_at, value_order
from .registry import (EVALUATION_VERSION, CampaignSpec, RegistryError, campaign_dir, file_digest, list_campaigns,
                       read_evaluation, status, write_evaluation)
from .verdict import DecisionRules, decide

__all__ = ["RunContext", "evaluate_registered", "evaluate_demo", "month_view", "evaluate_month", "MonthCampaigns",
           "inputs_hash", "DEMO_RULES", "DEMO_EFFECT"]

#: The demonstration's rules: revenue per customer, worth acting on from +1.00 a customer.
DEMO_RULES = DecisionRules("revenue", 1.0)
DEMO_EFFECT = InjectedEffect(0.05, 30.0)
DEMO_COST = 0.5
DEMO_SEED = 2024


@dataclass
class RunContext:
    """What a run knows when it evaluates campaigns: the clean transactions up to ``as_of``, the
    scored RFM table of ``as_of``, the source spec and the contacts (or ``None``)."""

    transactions: pd.DataFrame
    as_of: dt.date
    rfm: pd.DataFrame
    source: Any = None
    segment_map: str = "classic"
    rfm_window_days: int | None = None
    contacts: Any = None


def _fingerprint(tx: pd.DataFrame, end: dt.date) -> dict[str, Any]:
    row = sql.query(sql.fingerprint_sql("tx", end, "order_id" in tx.columns), tx=tx).iloc[0]
    return {"rows": int(row["n"]), "total": round(float(row["total"]), 6), "digest": str(row["digest"])}


def _contacts_digest(ctx: RunContext, ids: pd.Series) -> str | None:
    if ctx.contacts is None:
        return None
    frame = ctx.contacts.frame
    part = frame[frame["customer_id"].isin(pd.Index(ids.astype("string")))].sort_values("customer_id")
    return hashlib.sha256(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes()).hexdigest()


def inputs_hash(spec: CampaignSpec, folder: Path, ctx: RunContext, assignment: pd.DataFrame) -> str:
    """Hash of everything an evaluation depends on."""
    parts = {
        "version": EVALUATION_VERSION,
        "spec": spec.model_dump(mode="json", exclude={"registered_at", "created_from", "name", "source"}),
        "assignment": file_digest(folder / spec.assignment),
        "outcomes": file_digest(folder / spec.outcomes) if spec.outcomes else None,
        "transactions": _fingerprint(ctx.transactions, spec.window_end),
        "rfm_window_days": ctx.rfm_window_days,
        "contacts": _contacts_digest(ctx, assignment["customer_id"])
        if any(g.metric == "unsubscribed" for g in spec.decision.guardrails) else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _with_costs(assignment: pd.DataFrame, spec: CampaignSpec) -> pd.DataFrame:
    a = assignment.copy()
    if "cost_per_contact" not in a.columns or a["cost_per_contact"].isna().all():
        a["cost_per_contact"] = np.where(a["group"].astype(str).str.strip() == spec.control, 0.0,
                                         float(spec.cost_per_contact))
    return a


def _guardrail_columns(customers: pd.DataFrame, spec: CampaignSpec, folder: Path, ctx: RunContext) -> tuple[pd.DataFrame, list[dict]]:
    """``unsubscribed`` from the contacts (now), outcomes-file columns; notes on what was used."""
    out, notes = customers, []
    wanted = {g.metric for g in spec.decision.guardrails}
    if "returns" in wanted and not bool((ctx.transactions["amount"] < 0).any()):
        notes.append({"code": "returns_not_in_data"})
    if "unsubscribed" in wanted and (ctx.contacts is None or spec.channel not in ("email", "sms", "call")):
        notes.append({"code": "unsubscribed_unavailable", "channel": spec.channel})
    if "unsubscribed" in wanted and ctx.contacts is not None and spec.channel in ("email", "sms", "call"):
        from ..act.consent import reason_sql

        c = ctx.contacts.frame
        lost = sql.query(f"""SELECT p.customer_id, CASE WHEN {reason_sql(spec.channel, c.columns,
                                                                        ctx.contacts.assume_consent)}
                                 IN ('unsubscribed', 'no_consent') THEN 1 ELSE 0 END AS unsubscribed
                             FROM pop AS p LEFT JOIN c ON c.customer_id = p.customer_id""",
                         pop=out[["customer_id"]], c=c)
        out = out.merge(lost, on="customer_id", how="left")
        notes.append({"code": "unsubscribed_from_contacts", "channel": spec.channel})
    if spec.outcomes:
        extra = read_campaign(folder / spec.outcomes)
        if "customer_id" not in extra.columns:
            raise CampaignError(f"{folder / spec.outcomes}: needs a customer_id column")
        cols = [m for m in wanted if m in extra.columns and m not in ("returns",)]
        if cols:
            extra = extra[["customer_id", *cols]].copy()
            extra["customer_id"] = extra["customer_id"].astype("string").str.strip()
            for m in cols:
                extra[m] = pd.to_numeric(extra[m], errors="raise")
            out = out.drop(columns=[m for m in cols if m in out.columns]).merge(extra, on="customer_id", how="left")
            missing = int(out[cols[0]].isna().sum())
            out[cols] = out[cols].fillna(0)
            notes.append({"code": "outcomes_file", "columns": cols, "missing_as_zero": missing})
    return out, notes


def _evaluation(data, report, verdict, campaign: dict, digest: str | None, truth: dict | None = None) -> dict[str, Any]:
    return {
        "schema": EVALUATION_VERSION, "inputs_hash": digest,
        "evaluated_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "package_version": __version__, "campaign": campaign,
        "data": {"customers": int(len(data.customers)), "counts": {g: int(n) for g, n in data.counts().items()},
                 "planned_split": data.planned_split, "send_date": data.send_date.isoformat(),
                 "window_end": data.window_end.isoformat(), "window_days": data.window_days,
                 "excluded_unknown": data.excluded_unknown, "dropped_duplicates": data.dropped_duplicates,
                 "notes": data.notes, "has_cost": data.has_cost,
                 "cost": {g: float(data.customers.loc[data.customers["group"] == g, "cost_per_contact"].fillna(0).sum())
                          for g in data.groups}},
        "report": report.to_dict(), "verdict": verdict, "truth": truth,
    }


def evaluate_registered(spec: CampaignSpec, folder: Path, ctx: RunContext, *, reuse: bool = True) -> dict[str, Any]:
    """The evaluation of a registered campaign whose window has closed (stored in its folder);
    ``reused`` says whether the stored one was still valid."""
    assignment = _with_costs(read_campaign(folder / spec.assignment), spec)
    digest = inputs_hash(spec, folder, ctx, assignment)
    cached = read_evaluation(folder)
    if reuse and cached and cached.get("inputs_hash") == digest and cached.get("schema") == EVALUATION_VERSION:
        return {**cached, "reused": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CampaignWarning)  # kept as codes in data.notes
        data = prepare_campaign(assignment, ctx.transactions, spec.outcome_window_days, control=spec.control,
                                planned_split=spec.planned_split, send_date=spec.send_date, data_end=ctx.as_of,
                                segment_map=spec.segment_map, rfm_window_days=ctx.rfm_window_days)
    data.customers, notes = _guardrail_columns(data.customers, spec, folder, ctx)
    data.notes.extend(notes)
    report = analyse_campaign(data, spec.settings(), guardrails=spec.guardrails())
    verdict = decide(report, spec.decision.rules(), data.planned_split)
    campaign = {**spec.model_dump(mode="json", exclude={"created_from"}), "demo": False,
                "window_end": spec.window_end.isoformat(), "created_from": spec.created_from}
    evaluation = _evaluation(data, report, verdict, campaign, digest)
    write_evaluation(folder, evaluation)
    return {**evaluation, "reused": False}


def evaluate_demo(ctx: RunContext) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame] | None:
    """The demonstration campaign (bundled sample only; ``None`` elsewhere): its evaluation, its
    assignment and the transactions with the simulated extra orders."""
    if not demo_allowed(ctx.source):
        return None
    send, moved = demo_send_date(DEMO_SEND_DATE, DEMO_WINDOW_DAYS, ctx.transactions, data_end=ctx.as_of)
    camp, tx, truth = simulate_campaign(ctx.transactions, send, DEMO_WINDOW_DAYS, seed=DEMO_SEED, effect=DEMO_EFFECT,
                                        cost_per_contact=DEMO_COST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CampaignWarning)
        data = prepare_campaign(camp, tx, DEMO_WINDOW_DAYS, data_end=ctx.as_of, segment_map=ctx.segment_map,
                                rfm_window_days=ctx.rfm_window_days)
    if moved:
        data.notes.append(moved)
    settings = AnalysisSettings(seed=DEMO_SEED)
    report = analyse_campaign(data, settings)
    verdict = decide(report, DEMO_RULES, data.planned_split)
    campaign = {"id": DEMO_ID, "name": "", "demo": True, "segments": [], "segment_map": ctx.segment_map,
                "channel": "other", "send_date": send.isoformat(), "outcome_window_days": DEMO_WINDOW_DAYS,
                "window_end": data.window_end.isoformat(), "cost_per_contact": DEMO_COST, "control": "control",
                "planned_split": data.planned_split, "holdout": {"share": 0.5, "seed": DEMO_SEED, "stratified_by": None},
                "decision": {"primary_metric": DEMO_RULES.primary_metric, "min_effect": DEMO_RULES.min_effect,
                             "alpha": DEMO_RULES.alpha, "power": DEMO_RULES.power, "guardrails": []},
                "analysis": {"correction": settings.correction, "cap_revenue_quantile": None,
                             "bootstrap_mc_error": settings.bootstrap_mc_error, "margin": settings.margin,
                             "seed": settings.seed}}
    truth = {**truth, "extra_purchase_prob": DEMO_EFFECT.extra_purchase_prob, "extra_amount": DEMO_EFFECT.extra_amount}
    evaluation = _evaluation(data, report, verdict, campaign, None, truth)
    return {**evaluation, "reused": False}, camp, tx


def _segment_sizes(ctx: RunContext, segment_map: str, channel: str) -> dict[str, dict[str, int]]:
    """Customers per segment now, and how many of them the channel reaches (aggregates: the
    engine counts per score cell, the map names the cells)."""
    from ..segments import assign_segments

    cells = "r_score, f_score, m_score"
    if ctx.contacts is not None and channel in ("email", "sms", "call"):
        from ..act.consent import reason_sql

        c = ctx.contacts.frame
        counts = sql.query(f"""SELECT {cells}, count(*) AS customers,
                                      count(*) FILTER (WHERE ({reason_sql(channel, c.columns, ctx.contacts.assume_consent)}) IS NULL) AS reachable
                               FROM rfm LEFT JOIN c ON c.customer_id = CAST(rfm.customer_id AS VARCHAR) GROUP BY ALL""",
                           rfm=ctx.rfm[["customer_id", "r_score", "f_score", "m_score"]], c=c)
    else:
        counts = sql.query(f"SELECT {cells}, count(*) AS customers, NULL AS reachable FROM rfm GROUP BY ALL",
                           rfm=ctx.rfm[["r_score", "f_score", "m_score"]])
    seg = assign_segments(counts, map_name=segment_map)
    out: dict[str, dict[str, int]] = {}
    for key, part in seg.groupby("segment", observed=True):
        reach = part["reachable"]
        out[str(key)] = {"customers": int(part["customers"].sum()),
                         "reachable": None if reach.isna().all() else int(reach.sum())}
    return out


def _projection(evaluation: dict, sizes: dict[str, dict[str, int]]) -> dict[str, Any]:
    camp, rep = evaluation["campaign"], evaluation["report"]
    targeted = camp.get("segments") or sorted(sizes)
    customers = sum(sizes.get(s, {}).get("customers", 0) for s in targeted)
    reach = [sizes.get(s, {}).get("reachable") for s in targeted]
    reachable = None if any(r is None for r in reach) else int(sum(reach))
    n = reachable if reachable is not None else customers
    margin = (camp.get("analysis") or {}).get("margin", 1.0)
    per = {}
    for v in rep["variants"]:
        rev = next(e for e in rep["overall"]["revenue"] if e["group"] == v)
        conv = next(e for e in rep["overall"]["converted"] if e["group"] == v)
        cost = float(camp.get("cost_per_contact") or 0) * n
        per[v] = {"revenue": rev["diff"] * n, "revenue_low": rev["ci_low"] * n, "revenue_high": rev["ci_high"] * n,
                  "buyers": conv["diff"] * n, "buyers_low": conv["ci_low"] * n, "buyers_high": conv["ci_high"] * n,
                  "cost": cost, "net": rev["diff"] * n * margin - cost,
                  "net_low": rev["ci_low"] * n * margin - cost, "net_high": rev["ci_high"] * n * margin - cost}
    return {"segments": targeted, "customers": customers, "reachable": reachable, "contacts": n, "variants": per}


def month_view(evaluation: dict, assignment: pd.DataFrame, ctx: RunContext, transactions: pd.DataFrame | None = None,
               ) -> dict[str, Any]:
    """What changes every month: the audience's migration since sending and the projection to
    the targeted segments now."""
    camp = evaluation["campaign"]
    tx = ctx.transactions if transactions is None else transactions
    pop = assignment[["customer_id", "group"]].astype("string")
    pop["customer_id"] = pop["customer_id"].str.strip()
    send = dt.date.fromisoformat(camp["send_date"])
    before = segments_at(tx, pop, send - dt.timedelta(days=1), segment_map=camp["segment_map"],
                         window_days=ctx.rfm_window_days)
    if transactions is None:
        from ..segments import assign_segments

        now_scored = sql.query(sql.population_rfm_sql("SELECT * FROM rfm", "pop"), rfm=ctx.rfm, pop=pop[["customer_id"]])
        now = assign_segments(now_scored, map_name=camp["segment_map"])[["customer_id", "segment", "rfm_score"]]
        now["segment"] = now["segment"].astype(str)
    else:  # the demonstration: its own world, with the simulated orders
        now = segments_at(tx, pop, ctx.as_of, segment_map=camp["segment_map"], window_days=ctx.rfm_window_days)
    order = value_order(pd.concat([before, now], ignore_index=True))
    migration = audience_migration(before, now, pop, segment_map=camp["segment_map"], order=order)
    sizes = _segment_sizes(ctx, camp["segment_map"], camp.get("channel", "other"))
    return {"as_of": ctx.as_of.isoformat(), "migration": migration, "projection": _projection(evaluation, sizes)}


@dataclass
class MonthCampaigns:
    """The campaigns of a month: every registered one with its status, and the results of those
    evaluated (registered due ones, and the demonstration on the bundled sample)."""

    as_of: dt.date
    registered: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def demo(self) -> dict | None:
        return next((r for r in self.results if r["campaign"]["demo"]), None)


def evaluate_month(ctx: RunContext, reports_dir: str | Path, *, demo: bool = True, reuse: bool = True) -> MonthCampaigns:
    """Evaluate every due campaign of the registry under ``reports_dir`` (and the demonstration
    on the bundled sample). A campaign that cannot be evaluated is listed with its error; the
    others still are."""
    out = MonthCampaigns(ctx.as_of)
    for folder, spec in list_campaigns(reports_dir):
        if isinstance(spec, RegistryError):
            out.registered.append({"id": folder.name, "status": "error", "error": str(spec)})
            continue
        entry = {"id": spec.id, "name": spec.name, "send_date": spec.send_date.isoformat(),
                 "window_end": spec.window_end.isoformat(), "channel": spec.channel,
                 "status": status(spec, ctx.as_of)}
        if entry["status"] == "due":
            try:
                evaluation = evaluate_registered(spec, folder, ctx, reuse=reuse)
                assignment = read_campaign(folder / spec.assignment)
                result = {**evaluation, "month": month_view(evaluation, assignment, ctx)}
                out.results.append(result)
                entry.update(status="evaluated", reused=evaluation["reused"],
                             verdict=evaluation["verdict"]["overall"]["code"])
            except (CampaignError, RegistryError, FileNotFoundError, ValueError) as exc:
                entry.update(status="error", error=str(exc))
        out.registered.append(entry)
    if demo:
        made = evaluate_demo(ctx)
        if made is not None:
            evaluation, camp, tx = made
            out.results.insert(0, {**evaluation, "month": month_view(evaluation, camp, ctx, transactions=tx)})
    return out
