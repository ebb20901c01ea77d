"""Words about the campaigns registry: what is registered, the month page's campaigns, the
headline figures, and what ``campaign create`` did (counts only)."""
from __future__ import annotations

from typing import Any, Mapping

from ..i18n import Translator
from .campaigns import channel_name, group, quoted, verdict_for

__all__ = ["registry_sentences", "summary_figures", "campaign_row", "error_sentence", "page_link", "no_results",
           "create_sentences"]


def registry_sentences(t: Translator, registered: list[Mapping[str, Any]], demo: bool) -> list[tuple[str, dict[str, str]]]:
    """What the registry holds; with nothing registered, how to register a campaign."""
    if registered:
        due = sum(1 for r in registered if r["status"] in ("evaluated", "error"))
        reused = sum(1 for r in registered if r["status"] == "evaluated" and r.get("reused"))
        return [(t._("{registered} in the registry; {due} with the outcome window closed by the analysis date, "
                     "of which {reused} unchanged since an earlier evaluation."),
                 {"registered": t.plural(len(registered), "{n} campaign", "{n} campaigns"), "due": t.integer(due),
                  "reused": t.integer(reused)})]
    out = [(t._("<b>No campaign is registered.</b> A campaign is measured here once it is in the registry "
                "(reports/campaigns/): make its list with a control group held out, for example "
                "<code>{create}</code>, or register a campaign sent with another tool and its assignment file "
                "(<code>customer_id</code>, <code>group</code>): <code>{register}</code>. Each month's report then evaluates every campaign whose outcome window has closed."),
            {"create": "rfm-report campaign create --source-config shop.yaml --name \"Win back\" "
                       "--segments at_risk,cant_lose --channel email --send-date YYYY-MM-DD --window-days 30 "
                       "--control-share 0.1 --seed 42 --primary-metric revenue --min-effect 1.0",
             "register": "rfm-report campaign register --assignment assignment.csv --name \"Spring sale\" "
                         "--channel email --send-date YYYY-MM-DD --window-days 30 --planned-split "
                         "control:0.1,treatment:0.9 --primary-metric converted --min-effect 1.0"})]
    if demo:
        out.append((t._("Until then, a <b>demonstration</b> on the bundled sample data shows what a campaign page looks "
                        "like; it is simulated and is labelled so everywhere."), {}))
    return out


def summary_figures(t: Translator, evaluation: Mapping[str, Any]) -> list[tuple[str, Any, str, str]]:
    """Headline figures of one evaluated campaign: ``(key, value, label, fmt)``; the demonstration's
    labels say it is one."""
    camp, verdict = evaluation["campaign"], evaluation["verdict"]
    demo = bool(camp.get("demo"))
    key = "campaign_demo" if demo else f"campaign_{camp['id']}"
    who = t._("Demonstration campaign (simulated, not a real result)") if demo else \
        t._("Campaign {name}").format(name=quoted(t, camp["name"]))
    o = verdict["overall"]
    out = [(f"{key}_verdict", verdict_for(t, o["code"], o["variant"]),
            t._("{campaign}: verdict").format(campaign=who), "text")]
    r = evaluation["report"].get("roi", {}).get(o["variant"])
    if r:
        out.append((f"{key}_incremental_revenue", round(r["incremental_revenue"], 2),
                    t._("{campaign}: incremental revenue").format(campaign=who), "money"))
    return out




def campaign_row(t: Translator, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One campaign of the month page (from ``summary.json["campaigns"]["evaluated"]``): title,
    verdict, page and per group the shares that stayed, moved up, moved down or lapsed."""
    title = t._("Demonstration campaign (simulated)") if entry.get("demo") else quoted(t, entry.get("name") or entry["id"])
    groups = []
    for g, s in (entry.get("migration") or {}).items():
        n = s.get("customers") or 0
        share = (lambda k: t.percent(s[k] / n, 1)) if n else (lambda k: "–")  # noqa: E731
        groups.append({"name": group(t, g), "customers": t.integer(n), "same": share("same"), "up": share("up"),
                       "down": share("down"), "lapsed": share("lapsed")})
    if not groups:
        groups = [{"name": "–", "customers": "–", "same": "–", "up": "–", "down": "–", "lapsed": "–"}]
    return {"title": title, "page": entry.get("page", ""), "demo": bool(entry.get("demo")),
            "verdict": verdict_for(t, entry["verdict"], entry["variant"]), "groups": groups}


def error_sentence(t: Translator, entry: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """A registered campaign that could not be evaluated (the error as the code gave it)."""
    return (t._("<b>Campaign {name} cannot be evaluated:</b> {error}"),
            {"name": quoted(t, entry.get("name") or entry["id"]), "error": entry.get("error", "")})


def page_link(t: Translator, href: str) -> tuple[str, dict[str, str]]:
    return t._("The whole evaluation: <a href=\"{href}\">the campaign's page</a>."), {"href": href}


def no_results(t: Translator) -> tuple[str, dict[str, str]]:
    return t._("No campaign has a closed outcome window on this month's analysis date."), {}


def create_sentences(t: Translator, result: Any, labels: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """What ``campaign create`` did or would do, in words (counts, the hold-out, the files)."""
    spec, made = result.spec, result.spec.created_from
    values = {"name": quoted(t, spec.name), "segments": ", ".join(labels.get(s, s) for s in spec.segments),
              "customers": t.plural(made["customers_in_segments"], "{n} customer", "{n} customers"),
              "eligible": t.integer(made["eligible"]), "channel": channel_name(t, spec.channel),
              "control": t.integer(made["control"]), "treatment": t.integer(made["treatment"]),
              "share": t.percent(spec.holdout.share, 1), "seed": str(spec.holdout.seed),
              "send": t.date(spec.send_date), "end": t.date(spec.window_end), "id": spec.id,
              "no_contact": t.integer(result.excluded["no_contact"]), "no_consent": t.integer(result.excluded["no_consent"]),
              "unsubscribed": t.integer(result.excluded["unsubscribed"])}
    if result.consent_checked:
        out = [(t._("Campaign {name}: {customers} are in {segments}; {eligible} of them can be reached by {channel}. "
                    "{control} are held out as the control group ({share}, drawn at random within each segment with "
                    "seed {seed}) and {treatment} get the campaign on {send}; it will be evaluated once its outcome "
                    "window closes on {end}."), values)]
    else:
        out = [(t._("Campaign {name}: {customers} are in {segments}. {control} are held out as the control group "
                    "({share}, drawn at random within each segment with seed {seed}) and {treatment} get the campaign "
                    "on {send}; it will be evaluated once its outcome window closes on {end}."), values)]
    if result.consent_checked:
        out.append((t._("Left out because they cannot be reached by {channel}: {no_contact} without a contact for it, "
                        "{unsubscribed} unsubscribed, {no_consent} without consent. The control group is drawn from the "
                        "reachable customers only, so that it is comparable with the treated group."), values))
    else:
        out.append((t._("The source spec names no contacts table, so consent was not checked here: the list carries "
                        "customer ids only, and the tool that sends it must leave out customers without consent."), values))
    for n in result.notes:
        if n.get("code") == "consent_assumed":
            out.append((t._("Consent for {channel} is not recorded and is assumed (contacts.assume_consent in the "
                            "source spec)."), values))
    if result.folder is None:
        out.append((t._("Dry run: nothing was written. Run again without the dry run to write the list and register "
                        "the campaign as {id}."), values))
    else:
        out.append((t._("Registered as {id}: the list of the treated customers is in the campaign's lists folder, the "
                        "assignment of every customer in assignment.csv, the rules in campaign.yaml."), values))
    return out
