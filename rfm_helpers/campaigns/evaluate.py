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
from .migration import population_migration
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
    scored RFM table of ``as_of``, the source spec and the contacts (or ``None``).

    A monthly run passes its prepared run (:func:`from_prepared`): its engine and the tables in
    it (transactions, scored RFM), never its pandas frames. Frames given as ``transactions`` /
    ``rfm`` (tests, small data) are registered in an engine of their own; ``tx_table`` /
    ``rfm_table`` name tables already in ``engine``."""

    transactions: pd.DataFrame | None
    as_of: dt.date
    rfm: pd.DataFrame | None = None
    source: Any = None
    segment_map: str = "classic"
    rfm_window_days: int | None = None
    contacts: Any = None
    engine: Any = None
    tx_table: str | None = None
    rfm_table: str | None = None
    prepared: Any = None

    def __post_init__(self) -> None:
        if self.prepared is not None:
            self.engine = self.prepared.engine
        elif self.engine is None:
            from ..engine import DuckDBEngine

            self.engine = DuckDBEngine()
        self._tx: sql.Tx | None = None

    @property
    def tx(self) -> sql.Tx:
        """The transactions in the engine (registered on first use: a month without a campaign
        to evaluate touches nothing)."""
        if self._tx is None:
            if self.tx_table is None:
                self.tx_table = (self.prepared.transactions_table if self.prepared is not None
                                 else sql.register(self.engine, self.transactions, "camp_tx"))
            self._tx = sql.Tx.of(self.engine, self.tx_table)
        return self._tx

    def scored_now(self) -> str:
        """Name of the scored RFM table of ``as_of`` in the engine (the run's own, else computed once)."""
        if self.rfm_table is None:
            if self.prepared is not None:
                self.rfm_table = self.prepared.rfm_table
            elif self.rfm is not None:
                self.rfm_table = sql.register(self.engine, self.rfm, "camp_rfm")
            else:
                self.rfm_table = sql.scored_table(self.tx, self.as_of, self.rfm_window_days)
        return self.rfm_table

    @classmethod
    def from_prepared(cls, p: Any, segment_map: str = "classic", contacts: Any = None) -> "RunContext":
        """The context of a prepared run (:class:`rfm_helpers.pipeline.Prepared`): its engine and
        tables, used on first need; the per-customer pandas copies (``p.transactions``,
        ``p.rfm``) are not used."""
        return cls(None, p.as_of, None, p.source, segment_map, p.window_days, contacts, prepared=p)


def _fingerprint(tx: sql.Tx, end: dt.date) -> dict[str, Any]:
    (n, total, digest), = tx.engine.scalar_rows(sql.fingerprint_sql(tx.table, end, tx.has_order_id),
                                                label="campaign: transactions fingerprint")
    return {"rows": int(n), "total": round(float(total), 6), "digest": str(digest)}


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
        "transactions": _fingerprint(ctx.tx, spec.window_end),
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
    if "returns" in wanted and not ctx.engine.scalar_rows(
            f"SELECT count(*) FILTER (WHERE amount < 0) > 0 FROM {ctx.tx.table}", label="campaign: any return")[0][0]:
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


def evaluate_registered(spec: CampaignSpec, folder: Path, ctx: RunContext, *, reuse: bool = True,
                        assignment: pd.DataFrame | None = None) -> dict[str, Any]:
    """The evaluation of a registered campaign whose window has closed (stored in its folder);
    ``reused`` says whether the stored one was still valid. ``assignment``: the campaign's
    assignment file as read (read here when not given)."""
    if assignment is None:
        assignment = read_campaign(folder / spec.assignment)
    assignment = _with_costs(assignment, spec)
    digest = inputs_hash(spec, folder, ctx, assignment)
    cached = read_evaluation(folder)
    if reuse and cached and cached.get("inputs_hash") == digest and cached.get("schema") == EVALUATION_VERSION:
        return {**cached, "reused": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CampaignWarning)  # kept as codes in data.notes
        data = prepare_campaign(assignment, ctx.tx, spec.outcome_window_days, control=spec.control,
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


def evaluate_demo(ctx: RunContext) -> tuple[dict[str, Any], pd.DataFrame, sql.Tx] | None:
    """The demonstration campaign (bundled sample only; ``None`` elsewhere): its evaluation, its
    assignment and the transactions with the simulated extra orders (a view in the engine)."""
    if not demo_allowed(ctx.source):
        return None
    send, moved = demo_send_date(DEMO_SEND_DATE, DEMO_WINDOW_DAYS, ctx.tx, data_end=ctx.as_of)
    camp, tx, truth = simulate_campaign(ctx.tx, send, DEMO_WINDOW_DAYS, seed=DEMO_SEED, effect=DEMO_EFFECT,
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
    rfm = ctx.scored_now()
    if ctx.contacts is not None and channel in ("email", "sms", "call"):
        from ..act.consent import reason_sql

        c = ctx.contacts.frame
        name = sql.register(ctx.engine, c, "camp_contacts")
        text = f"""SELECT {cells}, count(*) AS customers,
                          count(*) FILTER (WHERE ({reason_sql(channel, c.columns, ctx.contacts.assume_consent)}) IS NULL) AS reachable
                   FROM {rfm} AS rfm LEFT JOIN {name} AS c ON c.customer_id = CAST(rfm.customer_id AS VARCHAR) GROUP BY ALL"""
    else:
        text = f"SELECT {cells}, count(*) AS customers, NULL AS reachable FROM {rfm} GROUP BY ALL"
    counts = sql.fetch(ctx.engine, text, label="campaign: customers per score cell")
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


def month_view(evaluation: dict, assignment: pd.DataFrame, ctx: RunContext, transactions: sql.Tx | None = None,
               ) -> dict[str, Any]:
    """What changes every month: the audience's migration since sending and the projection to
    the targeted segments now. ``transactions``: the demonstration's own transactions (with its
    simulated orders; the segments now are then scored from them), else the run's."""
    camp = evaluation["campaign"]
    pop = assignment[["customer_id", "group"]].astype("string")
    pop["customer_id"] = pop["customer_id"].str.strip()
    send = dt.date.fromisoformat(camp["send_date"])
    tx = ctx.tx if transactions is None else sql.in_engine(transactions, ctx.engine)
    if transactions is None:
        now = f"SELECT * FROM {ctx.scored_now()}"
    else:  # the demonstration: its own world, with the simulated orders
        from ..rfm import scored_rfm_sql

        now = scored_rfm_sql(tx.table, ctx.as_of, ctx.rfm_window_days, has_order_id=tx.has_order_id)
    migration = population_migration(tx, sql.register(tx.engine, pop, "camp_pop"), send - dt.timedelta(days=1), now,
                                     segment_map=camp["segment_map"], window_days=ctx.rfm_window_days)
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
                assignment = read_campaign(folder / spec.assignment)
                evaluation = evaluate_registered(spec, folder, ctx, reuse=reuse, assignment=assignment)
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
