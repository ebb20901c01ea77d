"""Words of the campaign pages: verdicts, effects, tests, money, migration, the registry.

Every function takes the run's :class:`~rfm_helpers.report.i18n.Translator` and numbers from a
stored evaluation (plain JSON, see :mod:`rfm_helpers.campaigns.evaluate`); sentences come back
as ``(template, values)`` pairs for :func:`rfm_helpers.report.display.say` (the template is
ours, every value is escaped there), so no sentence is built as HTML here. Every sentence
about an effect names the variant and the control group it was compared with.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from ..i18n import N_, Translator

__all__ = ["metric_name", "metric_kind", "fmt_value", "fmt_ci", "fmt_p", "verdict_label", "verdict_for", "verdict_sentences",
           "demo_sentences", "srm_sentence", "effect_sentence", "interaction_sentences", "money_sentences",
           "migration_sentences", "note_sentences", "status_label", "test_name",
           "window_sentence", "quoted", "group", "campaign_title", "correction_name", "variance_sentence",
           "guardrail_sentences", "channel_name"]

_METRICS = {"converted": N_("conversion"), "revenue": N_("revenue per customer"),
            "orders": N_("orders per customer"), "unsubscribed": N_("unsubscribes"),
            "returns": N_("returns per customer")}
_VERDICTS = {"roll_out": N_("Roll out"), "do_not_roll_out": N_("Do not roll out"),
             "inconclusive": N_("Inconclusive: the test was too small"), "harmful": N_("Harmful on a guardrail"),
             "invalid": N_("Not valid: group sizes differ from the plan")}
_TESTS = {"z": N_("two-proportion z-test"), "boschloo": N_("Boschloo's exact test"),
          "fisher": N_("Fisher's exact test"), "welch": N_("Welch t-test"), "cuped": N_("CUPED (Welch)"),
          "ols_hc2": N_("OLS, HC2 errors")}
_STATUS = {"waiting": N_("sent; the outcome window is still open"), "not_sent": N_("not sent yet"),
           "evaluated": N_("evaluated"), "error": N_("cannot be evaluated"), "due": N_("due")}


def quoted(t: Translator, name: Any) -> str:
    """A name from the data in the language's quotes: “Spring sale” / «Spring sale»."""
    return t._("“{name}”").format(name=name)


def group(t: Translator, name: Any) -> str:
    """A group of a campaign, quoted. ``control`` and ``treatment`` are the names this tool gives
    the groups it draws (``campaign create``, the demonstration), so they are words of the
    report's language; any other group name is data and stays as written."""
    words = {"control": t.pgettext("group", "control"), "treatment": t.pgettext("group", "treatment")}
    return quoted(t, words.get(str(name), name))


def _accusative(t: Translator, metric: str) -> str | None:
    """The metric as the object of 'raised ...' (Russian: конверсию, выручку на клиента)."""
    words = {"converted": t.pgettext("accusative", "conversion"),
             "revenue": t.pgettext("accusative", "revenue per customer"),
             "orders": t.pgettext("accusative", "orders per customer"),
             "unsubscribed": t.pgettext("accusative", "unsubscribes"),
             "returns": t.pgettext("accusative", "returns per customer")}
    return words.get(metric)


def metric_name(t: Translator, metric: str, case: str = "") -> str:
    """The metric as a person says it (``case="accusative"`` for 'raised ...' in Russian)."""
    word = _METRICS.get(metric)
    if word is None:
        return quoted(t, metric)
    return (_accusative(t, metric) or t._(word)) if case == "accusative" else t._(word)


def metric_kind(metric: str, binary: bool | None = None) -> str:
    """``points`` (0/1 outcomes), ``money`` or ``count``."""
    if metric in ("converted", "unsubscribed") or binary:
        return "points"
    if metric in ("revenue", "returns"):
        return "money"
    return "count"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def fmt_value(t: Translator, x: Any, kind: str, *, signed: bool = False, rate: bool = False) -> str:
    """A number in its unit: points (``+3.1 pts``), a rate (``12.5%``), money, or a count."""
    if not _finite(x):
        return "–"
    if kind == "points":
        return t.percent(x, 1) if rate else t.points(x, 1, signed=signed)
    if kind == "money":
        return t.money(x, signed=signed)
    return t.number(x, 3, signed=signed)


def fmt_ci(t: Translator, lo: Any, hi: Any, kind: str) -> str:
    return t._("{low} to {high}").format(low=fmt_value(t, lo, kind, signed=True), high=fmt_value(t, hi, kind, signed=True))


def fmt_p(t: Translator, p: Any) -> str:
    if not _finite(p):
        return "p = –"
    return f"p < {t.number(0.001, 3)}" if p < 0.001 else f"p = {t.number(p, 3)}"


_CORRECTIONS = {"holm": N_("Holm"), "fdr_bh": N_("Benjamini-Hochberg"), "bonferroni": N_("Bonferroni")}


def correction_name(t: Translator, code: str) -> str:
    """A multiple-comparison correction as people call it."""
    return t._(_CORRECTIONS[code]) if code in _CORRECTIONS else str(code)


def test_name(t: Translator, code: str) -> str:
    return t._(_TESTS[code]) if code in _TESTS else str(code)


def verdict_label(t: Translator, code: str) -> str:
    return t._(_VERDICTS.get(code, code))


#: The verdict with the variant it is about, as one phrase per verdict (gluing the label and
#: the name gave "Inconclusive: the test was too small “treatment”").
_VERDICTS_FOR = {"roll_out": N_("Roll out {variant}"), "do_not_roll_out": N_("Do not roll out {variant}"),
                 "inconclusive": N_("Inconclusive for {variant}: the test was too small"),
                 "harmful": N_("{variant} is harmful on a guardrail"),
                 "invalid": N_("Not valid: group sizes differ from the plan")}


def verdict_for(t: Translator, code: str, variant: Any) -> str:
    """``Roll out “treatment”`` / ``Внедрять вариант «рассылка»``."""
    return t._(_VERDICTS_FOR.get(code, "{variant}")).format(variant=group(t, variant))


def status_label(t: Translator, code: str) -> str:
    return t._(_STATUS.get(code, code))


def campaign_title(t: Translator, evaluation: Mapping[str, Any]) -> str:
    """The page title: the campaign's name, or the demonstration's label."""
    camp = evaluation["campaign"]
    if camp.get("demo"):
        return t._("Demonstration campaign (simulated)")
    return t._("Campaign {name}").format(name=quoted(t, camp["name"]))


def _min_effect(t: Translator, metric: str, value: float) -> str:
    kind = metric_kind(metric)
    return fmt_value(t, value / 100 if kind == "points" else value, kind, signed=True)


def _level(t: Translator, alpha: float) -> str:
    return t.percent(1 - alpha, 0)


# ------------------------------------------------------------------------------ verdict
def verdict_sentences(t: Translator, evaluation: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The verdict of the campaign first, then of every other variant: one sentence each."""
    verdict = evaluation["verdict"]
    control = evaluation["report"]["control"]
    rules = verdict["rules"]
    first = verdict["overall"]["variant"]
    order = [first] + [v for v in verdict["variants"] if v != first]
    out = []
    for v in order:
        out.append(_verdict_sentence(t, verdict["variants"][v], control, rules, evaluation))
    return out


def _verdict_sentence(t: Translator, d: Mapping[str, Any], control: str, rules: Mapping[str, Any],
                      evaluation: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    kind = metric_kind(d["metric"])
    values = {"verdict": verdict_label(t, d["code"]), "variant": group(t, d["variant"]), "control": group(t, control),
              "metric": metric_name(t, d["metric"], "accusative"), "diff": fmt_value(t, d["diff"], kind, signed=True),
              "level": _level(t, rules["alpha"]), "ci": fmt_ci(t, d["ci_low"], d["ci_high"], kind),
              "min_effect": _min_effect(t, d["metric"], d["min_effect"])}
    code = d["code"]
    if code == "roll_out":
        return (t._("<b>{verdict} {variant}.</b> It changed {metric} by {diff} compared with {control} ({level} "
                    "confidence interval {ci}): a real improvement, at least the {min_effect} worth acting on."), values)
    if code == "do_not_roll_out":
        return (t._("<b>{verdict} {variant}.</b> It changed {metric} by {diff} compared with {control} ({level} "
                    "confidence interval {ci}): the test rules out the {min_effect} worth acting on."), values)
    if code == "inconclusive":
        need = d.get("required")
        values.update(n_t=t.integer(d["n_t"]), n_c=t.integer(d["n_c"]),
                      detectable=fmt_value(t, d.get("detectable"), kind, signed=True))
        if need:
            values.update(treated=t.integer(need["treated"]), control_n=t.integer(need["control"]),
                          total=t.integer(need["total"]))
            return (t._("<b>{verdict}</b> to decide on {variant}: it changed {metric} by {diff} compared with {control} "
                        "({level} confidence interval {ci}), which holds both the {min_effect} worth acting on and "
                        "less. With {n_t} treated and {n_c} control customers the test could detect about {detectable}; "
                        "detecting {min_effect} would need about {treated} treated and {control_n} control customers "
                        "({total} in all)."), values)
        return (t._("<b>{verdict}</b> to decide on {variant}: it changed {metric} by {diff} compared with {control} "
                    "({level} confidence interval {ci}), which holds both the {min_effect} worth acting on and less. "
                    "With {n_t} treated and {n_c} control customers the test could detect about {detectable}."), values)
    if code == "harmful":
        parts = []
        for h in d["harmful"]:
            hk = metric_kind(h["metric"], binary=h["metric"] == "unsubscribed")
            parts.append(t._("{guardrail} by {diff} ({level} confidence interval {ci}; tolerated: {max_harm})").format(
                guardrail=metric_name(t, h["metric"], "accusative"), diff=fmt_value(t, h["diff"], hk, signed=True),
                level=values["level"], ci=fmt_ci(t, h["ci_low"], h["ci_high"], hk),
                max_harm=fmt_value(t, h["max_harm"], hk, signed=True)))
        values["harm"] = "; ".join(parts)
        return (t._("<b>{verdict}: do not roll out {variant}.</b> Compared with {control} it worsened {harm}."), values)
    srm = evaluation["report"]["srm"]
    values.update(observed=", ".join(f"{group(t, g)}: {t.integer(n)}" for g, n in srm["observed"].items()),
                  p=fmt_p(t, srm["p_value"]))
    return (t._("<b>{verdict}.</b> The group sizes ({observed}) differ from the planned split more than chance allows "
                "(sample-ratio check, {p}): check how customers were assigned and whether sends or purchases are "
                "missing. Nothing about {variant} is decided."), values)


def window_sentence(t: Translator, evaluation: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """When the campaign was sent and which purchases count."""
    d, camp = evaluation["data"], evaluation["campaign"]
    values = {"send": t.date(d["send_date"]), "end": t.date(d["window_end"]), "name": quoted(t, camp.get("name") or ""),
              "days": t.plural(d["window_days"], "{n} day", "{n} days"),
              "customers": t.plural(d["customers"], "{n} customer", "{n} customers")}
    if camp.get("demo"):
        return (t._("The demonstration was sent on <b>{send}</b> to {customers}; outcomes are their purchases from "
                    "{send} to <b>{end}</b> ({days})."), values)
    return (t._("Campaign {name} was sent on <b>{send}</b> to {customers} (control group included); outcomes are "
                "their purchases from {send} to <b>{end}</b> ({days})."), values)


def variance_sentence(t: Translator, report: Mapping[str, Any], variant: str) -> tuple[str, dict[str, str]]:
    """How much the pre-period adjustment narrowed the revenue estimate of ``variant``."""
    return (t._("For {variant}, using what customers bought before the send date reduced the variance of the revenue "
                "estimate by <b>{cuped}</b> (CUPED, pre-period revenue) and <b>{reg}</b> (regression on pre-period "
                "RFM): like having {factor} times as many customers."),
            {"variant": group(t, variant), "cuped": t.percent(report["cuped"][variant]["variance_reduction"], 1),
             "reg": t.percent(report["regression"][variant]["variance_reduction"], 1),
             "factor": t.number(1 / max(1 - report["regression"][variant]["variance_reduction"], 1e-9), 1)})


def guardrail_sentences(t: Translator, evaluation: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The guardrails in words: none registered, or each variant's result."""
    items = [(v, g) for v, gs in evaluation["report"].get("guardrails", {}).items() for g in gs]
    if not items:
        return [(t._("No guardrail was registered for this campaign (for example unsubscribes or returns): only the "
                     "primary metric decides."), {})]
    out = []
    control = group(t, evaluation["report"]["control"])
    for v, g in items:
        values = {"variant": group(t, v), "control": control, "guardrail": metric_name(t, g["metric"], "accusative"),
                  "name": metric_name(t, g["metric"])}
        if g.get("effect") is None:
            out.append((t._("{name}: not measured for {variant} (no data for it this month)."), values))
        elif g["harmful"]:
            out.append((t._("<b>{variant} worsened {guardrail}</b> compared with {control} beyond the tolerated "
                            "amount."), values))
        else:
            out.append((t._("{variant} did not worsen {guardrail} beyond the tolerated amount compared with "
                            "{control}."), values))
    return out


def demo_sentences(t: Translator, evaluation: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The demonstration label and what was simulated (empty for a real campaign)."""
    truth = evaluation.get("truth")
    if not evaluation["campaign"].get("demo") or not truth:
        return []
    v = evaluation["report"]["variants"][0]
    eff = truth["effects"][v]
    return [(t._("<b>Demonstration, not a real result.</b> This campaign is simulated on the bundled sample data to "
                 "show what a campaign page looks like: the {n} customers who bought in the year before {send} were "
                 "split at random into {control} and {variant}, and {q} of the customers of {variant} were given one "
                 "extra purchase of {amount} in the window. The true effect is therefore known: {conv} of conversion "
                 "and {rev} of revenue per customer. The analysis below does not know it and should recover it within "
                 "its intervals. Register your own campaigns to see real results here."),
             {"n": t.integer(truth["n_customers"]), "send": t.date(truth["send_date"]),
              "control": group(t, evaluation["report"]["control"]), "variant": group(t, v),
              "q": t.percent(truth["extra_purchase_prob"], 0), "amount": t.money(truth["extra_amount"], cents=True),
              "conv": t.points(eff["conversion"], 2), "rev": t.money(eff["revenue"], cents=True, signed=True)})]


# ------------------------------------------------------------------------------ effects
def srm_sentence(t: Translator, srm: Mapping[str, Any], segment: str | None = None) -> tuple[str, dict[str, str]]:
    """One sentence on the sample-ratio check (a warning when it failed)."""
    if srm["passed"]:
        return t._("The group sizes match the planned split (sample-ratio check, {p})."), {"p": fmt_p(t, srm["p_value"])}
    values = {"observed": ", ".join(f"{group(t, g)}: {t.integer(n)}" for g, n in srm["observed"].items()),
              "p": fmt_p(t, srm["p_value"]), "segment": segment or ""}
    if segment:
        return (t._("<b>Not reliable in {segment}:</b> the group sizes there ({observed}) differ from the planned split "
                    "more than chance allows ({p})."), values)
    return (t._("<b>Not reliable:</b> the group sizes ({observed}) differ from the planned split more than chance "
                "allows (sample-ratio check, {p}). Check how customers were assigned and whether some sends or "
                "purchases are missing before using any result."), values)


def effect_sentence(t: Translator, e: Mapping[str, Any], srm: Mapping[str, Any] | None = None,
                    label: str | None = None) -> tuple[str, dict[str, str]]:
    """Plain words for one effect, naming the variant and the control group: a claim only when
    the (corrected) p-value is below alpha and the interval excludes 0; with a failed
    sample-ratio check, no claim at all."""
    if srm is not None and not srm["passed"]:
        return srm_sentence(t, srm, label if e.get("segment") else None)
    kind = metric_kind(e["metric"], binary=e["metric"] == "unsubscribed")
    alpha = e["alpha"]
    values = {"variant": group(t, e["group"]), "control": group(t, e["control"]),
              "metric": metric_name(t, e["metric"], "accusative"), "segment": label or e.get("segment") or "",
              "size": fmt_value(t, abs(e["diff"]), kind), "diff": fmt_value(t, e["diff"], kind, signed=True),
              "base": fmt_value(t, e["mean_c"], kind, rate=True), "treated": fmt_value(t, e["mean_t"], kind, rate=True),
              "level": _level(t, alpha), "ci": fmt_ci(t, e["ci_low"], e["ci_high"], kind),
              "p": fmt_p(t, e["p_value"]), "p_adj": fmt_p(t, e.get("p_adjusted")), "k": t.integer(e["n_comparisons"])}
    corrected = e.get("p_adjusted") is not None and e["n_comparisons"] > 1
    values["pinfo"] = (t._("{p} after correcting for {k} comparisons").format(p=values["p_adj"], k=values["k"])
                       if corrected else values["p"])
    excludes = e["ci_low"] > 0 or e["ci_high"] < 0
    p_dec = e["p_adjusted"] if corrected else e["p_value"]
    seg = bool(e.get("segment"))
    if _finite(p_dec) and p_dec < alpha and excludes:
        if e["diff"] > 0:
            tpl = (t._("In {segment}, {variant} raised {metric} by {size} compared with {control} (from {base} to "
                       "{treated}; {level} confidence interval {ci}; {pinfo}).") if seg else
                   t._("{variant} raised {metric} by {size} compared with {control} (from {base} to {treated}; "
                       "{level} confidence interval {ci}; {pinfo})."))
        else:
            tpl = (t._("In {segment}, {variant} lowered {metric} by {size} compared with {control} (from {base} to "
                       "{treated}; {level} confidence interval {ci}; {pinfo}).") if seg else
                   t._("{variant} lowered {metric} by {size} compared with {control} (from {base} to {treated}; "
                       "{level} confidence interval {ci}; {pinfo})."))
        return tpl, values
    if excludes and corrected:
        return (t._("No reliable evidence that {variant} changed {metric} in {segment} compared with {control}: the "
                    "difference was {diff} ({level} confidence interval {ci}), but after correcting for {k} "
                    "comparisons it could be chance ({p_adj}).") if seg else
                t._("No reliable evidence that {variant} changed {metric} compared with {control}: the difference was "
                    "{diff} ({level} confidence interval {ci}), but after correcting for {k} comparisons it could be "
                    "chance ({p_adj})."), values)
    return (t._("No evidence that {variant} changed {metric} in {segment} compared with {control}: the difference was "
                "{diff} ({level} confidence interval {ci}; {pinfo}), which is compatible with no effect.") if seg else
            t._("No evidence that {variant} changed {metric} compared with {control}: the difference was {diff} ({level} "
                "confidence interval {ci}; {pinfo}), which is compatible with no effect."), values)


def interaction_sentences(t: Translator, x: Mapping[str, Any] | None, variant: str, metric: str,
                          labels: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Does the effect differ between segments? The joint Wald test, in words."""
    values = {"variant": group(t, variant), "metric": metric_name(t, metric, "accusative")}
    if x is None:
        return [(t._("Whether the effect of {variant} on {metric} differs between segments cannot be tested: fewer "
                     "than two segments have enough customers (and, for conversion, enough buyers) in both groups."),
                 values)]
    values.update(k=t.integer(len(x["segments"])), stat=t.number(x["statistic"], 2),
                  df=t.plural(x["df"], "{n} degree of freedom", "{n} degrees of freedom"), p=fmt_p(t, x["p_value"]))
    if x["p_value"] < 0.05:
        tpl = t._("The effect of {variant} on {metric} <b>differs between segments</b>: the joint test of the treatment "
                  "x segment terms over {k} segments gives chi-square {stat} with {df} ({p}). The "
                  "per-segment effects below are the better guide, not the overall one.")
    else:
        tpl = t._("No evidence that the effect of {variant} on {metric} differs between segments: the joint test of "
                  "the treatment x segment terms over {k} segments gives chi-square {stat} with {df} "
                  "({p}). Differences between the per-segment effects below can be chance.")
    out = [(tpl, values)]
    if x.get("dropped"):
        small = [labels.get(s, s) for s, why in x["dropped"].items() if why == "small"]
        flat = [labels.get(s, s) for s, why in x["dropped"].items() if why != "small"]
        if small:
            out.append((t._("Left out of the test, too few customers in a group: {segments}."),
                        {"segments": ", ".join(small)}))
        if flat:
            out.append((t._("Left out of the test, too few buyers (or no variation) in a group: {segments}."),
                        {"segments": ", ".join(flat)}))
    return out


# ------------------------------------------------------------------------------ money
def money_sentences(t: Translator, evaluation: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """Capping, incremental revenue and ROI per variant, the projection to the segments now."""
    rep, camp = evaluation["report"], evaluation["campaign"]
    out = []
    cap = rep.get("capping")
    if cap:
        out.append((t._("Each customer's revenue is capped at {cap} (the {q} quantile of everyone in the test) before "
                        "every revenue figure on this page, so a few very large orders do not decide the result; "
                        "{n} were capped."),
                    {"cap": t.money(cap["cap"], cents=True), "q": t.percent(cap["quantile"], 1),
                     "n": t.plural(cap["customers"], "{n} customer", "{n} customers")}))
    for v, r in rep.get("roi", {}).items():
        values = {"variant": group(t, v), "inc": t.money(r["incremental_revenue"], signed=True),
                  "ci": fmt_ci(t, r["incremental_revenue_low"], r["incremental_revenue_high"], "money"),
                  "cost": t.money(r["cost"]), "roi": t.percent(r["roi"], 0, signed=True),
                  "roi_ci": t._("{low} to {high}").format(low=t.percent(r["roi_low"], 0, signed=True),
                                                          high=t.percent(r["roi_high"], 0, signed=True)),
                  "margin": t.percent(r["margin"], 0)}
        if r["margin"] == 1:
            tpl = t._("Incremental revenue of {variant}: <b>{inc}</b> (confidence interval {ci}) for {cost} of contact "
                      "costs; return on cost {roi} ({roi_ci}).")
        else:
            tpl = t._("Incremental revenue of {variant}: <b>{inc}</b> (confidence interval {ci}) for {cost} of contact "
                      "costs; return on cost at a {margin} margin {roi} ({roi_ci}).")
        out.append((tpl, values))
        if r["roi_low"] < 0 < r["roi_high"]:
            out.append((t._("The interval of the return includes zero: {variant} may or may not have paid for itself."),
                        {"variant": group(t, v)}))
    if not rep.get("roi"):
        out.append((t._("No cost per contact was given, so the return on cost is not computed."), {}))
    proj = (evaluation.get("month") or {}).get("projection")
    if proj:
        for v, p in proj["variants"].items():
            values = {"variant": group(t, v), "customers": t.plural(proj["contacts"], "{n} customer", "{n} customers"),
                      "rev": t.money(p["revenue"], signed=True), "ci": fmt_ci(t, p["revenue_low"], p["revenue_high"], "money"),
                      "cost": t.money(p["cost"]), "net": t.money(p["net"], signed=True),
                      "net_ci": fmt_ci(t, p["net_low"], p["net_high"], "money")}
            out.append((_projection_template(t, proj.get("reachable") is not None), values))
    if camp.get("demo"):
        out.append((t._("<b>Demonstration:</b> these money figures come from the simulation, not from a real "
                        "campaign."), {}))
    return out


def _projection_template(t: Translator, reachable: bool) -> str:
    if reachable:
        return t._("Sent to every customer the channel can reach in the targeted segments as they are now ({customers}), "
                   "{variant} would bring {rev} of revenue ({ci}) for {cost} of contact costs: {net} net ({net_ci}), "
                   "if the effect per customer stays what this test measured.")
    return t._("Sent to every customer in the targeted segments as they are now ({customers}), {variant} would bring "
               "{rev} of revenue ({ci}) for {cost} of contact costs: {net} net ({net_ci}), if the effect per customer "
               "stays what this test measured.")


def migration_sentences(t: Translator, evaluation: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """Where the treated and control customers moved since sending, compared."""
    mig = (evaluation.get("month") or {}).get("migration")
    if not mig:
        return []
    s = mig["summary"]
    control = evaluation["report"]["control"]
    out = []
    c = s.get(control)
    for v in evaluation["report"]["variants"]:
        g = s.get(v)
        if not g or not c:
            continue
        share = lambda d, k: t.percent(d[k] / d["customers"], 1) if d["customers"] else "–"  # noqa: E731
        out.append((t._("Since sending, {up_v} of the customers of {variant} moved to a more valuable segment and "
                        "{down_v} to a less valuable one, against {up_c} and {down_c} of the customers of {control}; "
                        "{lapsed_v} and {lapsed_c} lapsed (left for a lost segment; counted among those who moved down). The difference between the groups is what the campaign "
                        "changed."),
                    {"variant": group(t, v), "control": group(t, control), "up_v": share(g, "up"),
                     "down_v": share(g, "down"), "up_c": share(c, "up"), "down_c": share(c, "down"),
                     "lapsed_v": share(g, "lapsed"), "lapsed_c": share(c, "lapsed")}))
    return out


# ------------------------------------------------------------------------------ notes
def note_sentences(t: Translator, notes: list[Mapping[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """What was corrected, excluded or assumed, in words (counts only)."""
    out = []
    for n in notes:
        code = n.get("code")
        if code == "duplicates_dropped":
            out.append((t.plural(n["count"], "{n} duplicate row of the assignment file was dropped.",
                                 "{n} duplicate rows of the assignment file were dropped."), {}))
        elif code == "unknown_excluded":
            out.append((t.plural(n["count"], "{n} customer of the assignment file had no purchase before the send date "
                                             "and was left out of both groups alike (the ids are in the campaign's "
                                             "folder, not on this page).",
                                 "{n} customers of the assignment file had no purchase before the send date and were "
                                 "left out of both groups alike (the ids are in the campaign's folder, not on this page)."),
                        {}))
        elif code == "window_truncated":
            out.append((t._("The outcome window ends on {end}, after the data end on {last}: outcomes are understated."),
                        {"end": t.date(n["end"]), "last": t.date(n["last"])}))
        elif code == "demo_date_moved":
            out.append((t._("The demonstration is sent on {moved} instead of {requested} so that its outcome window "
                            "lies inside the data ({first} to {last})."),
                        {k: t.date(n[k]) for k in ("moved", "requested", "first", "last")}))
        elif code == "unsubscribed_from_contacts":
            out.append((t._("Unsubscribes: customers of either group who, in today's contacts table, are unsubscribed "
                            "from {channel} or have withdrawn consent."), {"channel": channel_name(t, n["channel"])}))
        elif code == "unsubscribed_unavailable":
            out.append((t._("The unsubscribe guardrail cannot be measured: the source spec names no contacts table "
                            "with consent for {channel}."), {"channel": channel_name(t, n["channel"])}))
        elif code == "returns_not_in_data":
            out.append((t._("The returns guardrail reads zero for everyone: the transactions hold no negative amounts "
                            "(the source nets returns into their orders; set returns.policy: keep in the source spec "
                            "to measure them)."), {}))
        elif code == "outcomes_file":
            out.append((t._("From the campaign's outcomes file: {columns}; customers missing from it count as 0 "
                            "({missing})."), {"columns": ", ".join(n["columns"]), "missing": t.integer(n["missing_as_zero"])}))
    return out


_CHANNELS = {"email": N_("e-mail"), "sms": N_("SMS"), "call": N_("phone calls"), "other": N_("another channel")}


def channel_name(t: Translator, channel: str) -> str:
    return t._(_CHANNELS.get(channel, channel))
