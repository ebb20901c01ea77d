"""Tables of the campaign pages: formatted text with headers in the report's language.

Each function takes the run's Translator and parts of a stored evaluation (aggregates only)
and returns a frame for :func:`rfm_helpers.report.display.table`.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ..i18n import Translator
from .campaigns import (channel_name, fmt_ci, fmt_p, fmt_value, group, metric_kind, metric_name, status_label,
                        test_name, verdict_label)

__all__ = ["facts_table", "counts_table", "overall_table", "methods_table", "segment_table", "guardrail_table",
           "power_table", "migration_table", "registry_table", "verdict_table", "create_table", "caption"]

def caption(t: Translator, key: str, **values: Any) -> str:
    texts = {
        "facts": t._("The campaign and the rules that decide it (fixed at registration)"),
        "counts": t._("Customers analysed per group"),
        "overall": t._("Effect of each variant, all customers"),
        "methods": t._("Revenue per customer, checked several ways"),
        "segments": t._("{metric} by segment: {variant} against {control} ({correction} correction)"),
        "guardrails": t._("Guardrails: what the campaign must not make worse"),
        "power": t._("Detectable effects per segment for the next campaign ({power} power, half the segment held out)"),
        "migration": t._("Where the campaign's customers moved between segments since sending"),
        "registry": t._("Campaigns in the registry"),
        "verdicts": t._("Campaigns evaluated this month"),
        "create": t._("Customers per segment: who can be reached, who is held out"),
    }
    return texts[key].format(**values)


def _yes(t: Translator, flag: bool) -> str:
    return t._("yes") if flag else t._("no")


def facts_table(t: Translator, evaluation: Mapping[str, Any], labels: Mapping[str, str]) -> pd.DataFrame:
    camp, data = evaluation["campaign"], evaluation["data"]
    dec = camp["decision"]
    kind = metric_kind(dec["primary_metric"])
    min_eff = dec["min_effect"] / 100 if kind == "points" else dec["min_effect"]
    rows = [(t._("Targeted segments"), ", ".join(labels.get(s, s) for s in camp.get("segments") or []) or t._("all")),
            (t._("Channel"), channel_name(t, camp.get("channel", "other"))),
            (t._("Send date"), t.date(data["send_date"])),
            (t._("Outcome window"), t._("{start} to {end}").format(start=t.date(data["send_date"]), end=t.date(data["window_end"]))),
            (t._("Planned split"), ", ".join(f"{group(t, g)}: {t.percent(s, 1)}" for g, s in data["planned_split"].items()))]
    if camp.get("holdout"):
        rows.append((t._("Control group drawn"), t._("at random, seed {seed}").format(seed=camp["holdout"]["seed"])
                     + (t._(", within each segment") if camp["holdout"].get("stratified_by") else "")))
    rows += [(t._("Primary metric"), metric_name(t, dec["primary_metric"])),
             (t._("Smallest effect worth acting on"), fmt_value(t, min_eff, kind, signed=True)),
             (t._("Significance level"), t.number(dec["alpha"], 2)),
             (t._("Power for the size needed"), t.percent(dec["power"], 0))]
    for g in dec.get("guardrails") or []:
        gk = metric_kind(g["metric"])
        rows.append((t._("Guardrail"), t._("{metric}, tolerated worsening {harm}").format(
            metric=metric_name(t, g["metric"]), harm=fmt_value(t, g["max_harm"], gk))))
    if camp.get("cost_per_contact"):
        rows.append((t._("Cost per contact"), t.money(camp["cost_per_contact"], cents=True)))
    return pd.DataFrame(rows, columns=[t._("Setting"), t._("Value")])


def counts_table(t: Translator, evaluation: Mapping[str, Any]) -> pd.DataFrame:
    d = evaluation["data"]
    rows = [(group(t, g), t.integer(n), t.percent(d["planned_split"].get(g, 0), 1)) for g, n in d["counts"].items()]
    return pd.DataFrame(rows, columns=[t._("Group"), t._("Customers"), t._("Planned share")])


def _rate_or_value(t: Translator, x: Any, kind: str) -> str:
    return fmt_value(t, x, kind, rate=True)


def overall_table(t: Translator, report: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    level = t.percent(1 - report["settings"]["alpha"], 0)
    for metric, effects in report["overall"].items():
        kind = metric_kind(metric)
        for e in effects:
            rows.append({t._("Variant"): group(t, e["group"]), t._("Measure"): metric_name(t, metric),
                         t._("Control"): _rate_or_value(t, e["mean_c"], kind),
                         t._("Variant's value"): _rate_or_value(t, e["mean_t"], kind),
                         t._("Difference"): fmt_value(t, e["diff"], kind, signed=True),
                         t._("{level} CI").format(level=level): fmt_ci(t, e["ci_low"], e["ci_high"], kind),
                         t._("Relative lift"): t.percent(e["rel_lift"], 1, signed=True),
                         t._("Test"): test_name(t, e["test"]), t._("p-value"): fmt_p(t, e["p_value"]),
                         t._("Significant"): _yes(t, e["significant"])})
    return pd.DataFrame(rows)


def methods_table(t: Translator, report: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    level = t.percent(1 - report["settings"]["alpha"], 0)
    ci_col = t._("{level} CI").format(level=level)
    for e in report["overall"]["revenue"]:
        v = e["group"]
        b, cu, rg, rk = report["bootstrap"][v], report["cuped"][v], report["regression"][v], report["ranks"][v]
        base = {t._("Variant"): group(t, v)}
        rows.append({**base, t._("Method"): t._("Welch t-test (plain difference)"),
                     t._("Difference"): fmt_value(t, e["diff"], "money", signed=True),
                     ci_col: fmt_ci(t, e["ci_low"], e["ci_high"], "money"), t._("p-value"): fmt_p(t, e["p_value"]),
                     t._("Note"): ""})
        rows.append({**base, t._("Method"): t._("bootstrap (percentile)"),
                     t._("Difference"): fmt_value(t, e["diff"], "money", signed=True),
                     ci_col: fmt_ci(t, b["low"], b["high"], "money"), t._("p-value"): "",
                     t._("Note"): t._("{n} resamples, seed {seed}; Monte-Carlo error of each end ±{err}").format(
                         n=t.integer(b["resamples"]), seed=b["seed"], err=t.money(b["mc_error"], cents=True))})
        for name, res in ((t._("CUPED with pre-period revenue"), cu),
                          (t._("regression on pre-period RFM (HC2)"), rg)):
            ef = res["effect"]
            rows.append({**base, t._("Method"): name, t._("Difference"): fmt_value(t, ef["diff"], "money", signed=True),
                         ci_col: fmt_ci(t, ef["ci_low"], ef["ci_high"], "money"), t._("p-value"): fmt_p(t, ef["p_value"]),
                         t._("Note"): t._("variance {vr} lower").format(vr=t.percent(res["variance_reduction"], 1))})
        rows.append({**base, t._("Method"): t._("Mann-Whitney rank test"), t._("Difference"): "", ci_col: "",
                     t._("p-value"): fmt_p(t, rk["p_value"]),
                     t._("Note"): t._("a customer of {variant} outranks one of {control} with probability {p}").format(
                         variant=group(t, v), control=group(t, report["control"]),
                         p=t.number(rk["prob_superiority"], 3))})
    return pd.DataFrame(rows)


def segment_table(t: Translator, effects: list[Mapping[str, Any]], labels: Mapping[str, str]) -> pd.DataFrame:
    rows = []
    for e in effects:
        kind = metric_kind(e["metric"])
        level = t.percent(1 - e["alpha"], 0)
        rows.append({t._("Segment"): labels.get(e["segment"], e["segment"]),
                     t._("Customers in variant"): t.integer(e["n_t"]), t._("Customers in control"): t.integer(e["n_c"]),
                     t._("Control"): _rate_or_value(t, e["mean_c"], kind),
                     t._("Variant's value"): _rate_or_value(t, e["mean_t"], kind),
                     t._("Difference"): fmt_value(t, e["diff"], kind, signed=True),
                     t._("{level} CI").format(level=level): fmt_ci(t, e["ci_low"], e["ci_high"], kind),
                     t._("Test"): test_name(t, e["test"]), t._("p-value"): fmt_p(t, e["p_value"]),
                     t._("Adjusted p"): "" if e.get("p_adjusted") is None else fmt_p(t, e["p_adjusted"]),
                     t._("Significant"): _yes(t, e["significant"])})
    return pd.DataFrame(rows)


def guardrail_table(t: Translator, report: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for v, items in report.get("guardrails", {}).items():
        for g in items:
            e = g.get("effect")
            kind = metric_kind(g["metric"], binary=e is not None and e.get("test") in ("z", "boschloo", "fisher"))
            if e is None:
                rows.append({t._("Variant"): group(t, v), t._("Guardrail"): metric_name(t, g["metric"]),
                             t._("Control"): "–", t._("Variant's value"): "–", t._("Difference"): "–",
                             t._("CI"): "–", t._("Tolerated worsening"): fmt_value(t, g["max_harm"], kind),
                             t._("Harmful"): t._("not measured")})
                continue
            rows.append({t._("Variant"): group(t, v), t._("Guardrail"): metric_name(t, g["metric"]),
                         t._("Control"): _rate_or_value(t, e["mean_c"], kind),
                         t._("Variant's value"): _rate_or_value(t, e["mean_t"], kind),
                         t._("Difference"): fmt_value(t, e["diff"], kind, signed=True),
                         t._("CI"): fmt_ci(t, e["ci_low"], e["ci_high"], kind),
                         t._("Tolerated worsening"): fmt_value(t, g["max_harm"], kind),
                         t._("Harmful"): _yes(t, g["harmful"])})
    return pd.DataFrame(rows)


def power_table(t: Translator, power: list[Mapping[str, Any]], labels: Mapping[str, str]) -> pd.DataFrame:
    rows = [{t._("Segment"): labels.get(p["segment"], p["segment"]), t._("Customers"): t.integer(p["customers"]),
             t._("Baseline conversion"): t.percent(p["baseline_conversion"], 1),
             t._("Smallest detectable lift"): t.points(p["mde_conversion"], 1),
             t._("Smallest detectable revenue change"): t.money(p["mde_revenue"], signed=True),
             t._("Customers per group for +1 point"): "–" if p.get("n_per_group_for_target") is None
             else t.integer(p["n_per_group_for_target"])} for p in power]
    return pd.DataFrame(rows)


def migration_table(t: Translator, evaluation: Mapping[str, Any]) -> pd.DataFrame:
    mig = evaluation["month"]["migration"]
    rows = []
    for g, s in mig["summary"].items():
        n = s["customers"] or 1
        rows.append({t._("Group"): group(t, g), t._("Customers"): t.integer(s["customers"]),
                     t._("Same segment"): t.percent(s["same"] / n, 1), t._("Moved up"): t.percent(s["up"] / n, 1),
                     t._("Moved down"): t.percent(s["down"] / n, 1), t._("Of them, lapsed"): t.percent(s["lapsed"] / n, 1)})
    return pd.DataFrame(rows)


def registry_table(t: Translator, registered: list[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in registered:
        state = status_label(t, r["status"])
        if r["status"] == "evaluated":
            state = verdict_label(t, r["verdict"]) + (" · " + t._("unchanged, not re-evaluated") if r.get("reused") else "")
        rows.append({t._("Campaign"): r.get("name") or r["id"], t._("Send date"): t.date(r["send_date"]) if r.get("send_date") else "–",
                     t._("Window closes"): t.date(r["window_end"]) if r.get("window_end") else "–",
                     t._("Channel"): channel_name(t, r["channel"]) if r.get("channel") else "–", t._("Status"): state})
    return pd.DataFrame(rows)


def verdict_table(t: Translator, results: list[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for ev in results:
        camp, o = ev["campaign"], ev["verdict"]["overall"]
        d = ev["verdict"]["variants"][o["variant"]]
        kind = metric_kind(d["metric"])
        name = t._("Demonstration (simulated)") if camp.get("demo") else camp["name"]
        rows.append({t._("Campaign"): name, t._("Verdict"): verdict_label(t, o["code"]),
                     t._("Variant"): group(t, o["variant"]), t._("Primary metric"): metric_name(t, d["metric"]),
                     t._("Difference"): fmt_value(t, d["diff"], kind, signed=True),
                     t._("CI"): fmt_ci(t, d["ci_low"], d["ci_high"], kind)})
    return pd.DataFrame(rows)


def create_table(t: Translator, per_segment: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    cols = {"eligible": t._("Can be reached"), "no_contact": t._("No contact"), "unsubscribed": t._("Unsubscribed"),
            "no_consent": t._("No consent"), "control": t._("Held out (control)"), "treatment": t._("Sent (treated)")}
    out = pd.DataFrame({t._("Segment"): [labels.get(s, s) for s in per_segment["segment"]]})
    for key, head in cols.items():
        out[head] = [t.integer(x) for x in per_segment[key]]
    return out
