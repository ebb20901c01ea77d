"""The registry round trip on the bundled CDNOW customers: a list is exported for a campaign with a
control group held out (consent applied), the campaign is registered, customers buy, a later
month evaluates it once its window has closed, reuses the evaluation while nothing changes and
re-evaluates when a transaction changes; campaigns sent elsewhere are registered by hand; the
command line does both."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.campaigns import RunContext, evaluate_month
from rfm_helpers.campaigns.create import create_campaign, segment_population
from rfm_helpers.campaigns.registry import (CampaignSpec, Decision, RegistryError, campaign_dir, list_campaigns,
                                            load_spec, parse_guardrails, register, status)
from rfm_helpers.load.contacts import Contacts
from rfm_helpers.rfm import compute_scored_rfm
from rfm_helpers.segments import assign_segments

SEND = dt.date(1998, 1, 5)
SEGMENTS = ["at_risk", "hibernating", "lost", "about_to_sleep"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from rfm_helpers.pipeline import prepare

    p = prepare(analysis_date="1998-06-30", run_dir=tmp_path_factory.mktemp("run"))
    tx = p.transactions
    rfm0 = compute_scored_rfm(tx[tx["order_date"] <= "1998-01-04"], "1998-01-04")
    ids = rfm0["customer_id"].astype(str).to_numpy()
    k = np.arange(len(ids))
    contacts = pd.DataFrame({
        "customer_id": ids, "name": "Customer", "email": np.where(k % 10 == 0, None, [f"c{i}@example.com" for i in ids]),
        "email_consent": np.where(k % 7 == 0, 0, 1), "email_unsubscribed": np.where(k % 13 == 0, 1, 0)})
    return tx, rfm0, Contacts(contacts.astype({"customer_id": "string", "email": "string"}))


def _context(tx, as_of, contacts=None):
    part = tx[tx["order_date"] <= pd.Timestamp(as_of)]
    return RunContext(part, as_of, compute_scored_rfm(part, as_of), None, contacts=contacts)


@pytest.fixture(scope="module")
def created(base, tmp_path_factory):
    tx, rfm0, contacts = base
    reports = tmp_path_factory.mktemp("reports")
    result = create_campaign(rfm=rfm0, as_of=dt.date(1998, 1, 4), reports_dir=reports, name="Win back (Jan)",
                             segments=SEGMENTS, channel="email", send_date=SEND, outcome_window_days=60,
                             control_share=0.2, seed=11, primary_metric="revenue", min_effect=1.0, contacts=contacts,
                             cost_per_contact=0.3, guardrails=parse_guardrails("unsubscribed:0.01"))
    return reports, result


def test_create_keeps_only_reachable_customers_and_holds_out_a_stratified_control(base, created):
    tx, rfm0, contacts = base
    reports, result = created
    folder = campaign_dir(reports, "1998-01-05-win-back-jan")
    assert result.folder == folder and (folder / "campaign.yaml").exists()
    # independently: the customers of the segments and why each one cannot be reached
    seg = assign_segments(rfm0)
    pop = seg[seg["segment"].astype(str).isin(SEGMENTS)]
    c = contacts.frame.set_index("customer_id")
    row = c.loc[pop["customer_id"].astype(str)]
    no_contact = row["email"].isna().to_numpy()
    unsub = ~no_contact & (row["email_unsubscribed"] == 1).to_numpy()
    no_consent = ~no_contact & ~unsub & (row["email_consent"] != 1).to_numpy()
    assert result.excluded == {"no_contact": int(no_contact.sum()), "unsubscribed": int(unsub.sum()),
                               "no_consent": int(no_consent.sum())}
    reachable = set(pop.loc[~(no_contact | unsub | no_consent), "customer_id"].astype(str))
    a = pd.read_csv(folder / "assignment.csv", dtype=str, encoding="utf-8-sig")
    assert set(a["customer_id"]) == reachable and a["customer_id"].str.len().eq(5).all()
    for s, part in a.groupby("segment"):
        assert abs((part["group"] == "control").sum() - 0.2 * len(part)) < 1 + 1e-9, s
    assert (a["group"] == "control").sum() == round(0.2 * len(a))
    # the send lists hold the treated customers only, with their e-mail
    sent = pd.concat([pd.read_csv(f, dtype=str, encoding="utf-8-sig") for f in (folder / "lists").glob("send_*.csv")])
    sent = sent[sent["is_test"] == "0"]
    assert set(sent["customer_id"]) == set(a.loc[a["group"] == "treatment", "customer_id"])
    assert sent["email"].notna().all()
    spec = load_spec(folder)
    assert spec.holdout.share == 0.2 and spec.created_from["excluded"] == result.excluded
    assert spec.decision.guardrails[0].metric == "unsubscribed"


def test_segment_population_equals_the_segments_of_the_whole_base(base):
    _, rfm0, _ = base
    got = segment_population(rfm0, ["lost", "champions"], "classic")
    whole = assign_segments(rfm0)
    want = whole[whole["segment"].astype(str).isin(["lost", "champions"])]
    assert sorted(got["customer_id"]) == sorted(want["customer_id"])
    with pytest.raises(RegistryError, match="not in the segment map"):
        segment_population(rfm0, ["vip"], "classic")


def test_a_later_month_evaluates_reuses_and_re_evaluates(base, created, tmp_path):
    tx, _, contacts = base
    reports, _ = created
    folder = campaign_dir(reports, "1998-01-05-win-back-jan")
    a = pd.read_csv(folder / "assignment.csv", dtype=str, encoding="utf-8-sig")
    treated = a.loc[a["group"] == "treatment", "customer_id"].to_numpy()
    g = np.random.default_rng(5)
    hit = treated[g.random(len(treated)) < 0.3]  # the campaign worked: 30 % bought once more, $40
    extra = pd.DataFrame({"customer_id": pd.array(hit, dtype="string"),
                          "order_date": pd.Timestamp(SEND) + pd.to_timedelta(g.integers(0, 60, len(hit)), unit="D"),
                          "amount": 40.0})
    tx2 = pd.concat([tx, extra.reindex(columns=tx.columns).astype(tx.dtypes.to_dict())], ignore_index=True)

    feb = evaluate_month(_context(tx2, dt.date(1998, 2, 28), contacts), reports)
    assert [(r["id"], r["status"]) for r in feb.registered] == [("1998-01-05-win-back-jan", "waiting")]
    assert feb.results == []

    ctx = _context(tx2, dt.date(1998, 3, 31), contacts)
    march = evaluate_month(ctx, reports)
    (result,) = march.results
    assert march.registered[0]["status"] == "evaluated" and result["reused"] is False
    assert result["verdict"]["overall"]["code"] == "roll_out" and result["campaign"]["demo"] is False
    d = result["verdict"]["variants"]["treatment"]
    assert d["ci_low"] < 0.3 * 40 < d["ci_high"] or d["ci_low"] > 0  # the injected $12 a treated customer
    guard = result["report"]["guardrails"]["treatment"][0]
    assert guard["metric"] == "unsubscribed" and guard["harmful"] is False
    mig = result["month"]["migration"]["summary"]
    assert {g: v["customers"] for g, v in mig.items()} == result["data"]["counts"]
    assert all(v["same"] + v["up"] + v["down"] == v["customers"] for v in mig.values())
    assert json.loads((folder / "evaluation.json").read_text())["inputs_hash"] == result["inputs_hash"]

    again = evaluate_month(ctx, reports)
    assert again.results[0]["reused"] is True and again.registered[0]["reused"] is True
    # a late transaction inside the window changes the inputs: evaluated again
    late = tx2.iloc[:1].assign(customer_id=pd.array([treated[0]], dtype="string"),
                               order_date=pd.Timestamp("1998-02-01"), amount=5.0)
    changed = evaluate_month(_context(pd.concat([tx2, late], ignore_index=True), dt.date(1998, 3, 31), contacts), reports)
    assert changed.results[0]["reused"] is False
    assert changed.results[0]["inputs_hash"] != result["inputs_hash"]

    from rfm_helpers.report import campaign_pages
    from rfm_helpers.report.i18n import translator
    from rfm_helpers.report.summary import load

    section = campaign_pages.publish(changed, tmp_path, translator("en"))
    stored = load(tmp_path)
    assert stored["campaigns"] == json.loads(json.dumps(section, default=str))
    entry = section["evaluated"][0]
    assert entry["demo"] is False and entry["verdict"] == "roll_out" and entry["page"] == \
        "campaign-1998-01-05-win-back-jan.html"
    heads = {k: v for k, v in stored["campaign"].items() if k.startswith("campaign_")}
    assert heads and all(v["demo"] is False and "Demonstration" not in v["label"] for v in heads.values())
    assert (tmp_path / "campaigns" / "1998-01-05-win-back-jan.json").exists()


def _spec(**kw):
    data = dict(id="1998-02-01-spring", name="Spring", channel="email", send_date="1998-02-01",
                outcome_window_days=30, planned_split={"control": 1, "treatment": 1},
                decision=Decision(primary_metric="converted", min_effect=1.0))
    data.update(kw)
    return CampaignSpec(**data)


def test_register_by_hand_and_read_back(tmp_path):
    f = tmp_path / "sent.csv"
    f.write_text("customer_id;group\n00001;control\n00002;treatment\n00003;treatment\n", encoding="utf-8")
    folder = register(_spec(), f, tmp_path / "reports")
    spec = load_spec(folder)
    assert spec.planned_split == {"control": 0.5, "treatment": 0.5} and spec.window_end == dt.date(1998, 3, 2)
    assert status(spec, dt.date(1998, 3, 1)) == "waiting" and status(spec, dt.date(1998, 3, 2)) == "due"
    assert status(spec, dt.date(1998, 1, 31)) == "not_sent"
    assert (folder / "assignment.csv").read_bytes() == f.read_bytes()
    with pytest.raises(RegistryError, match="already registered"):
        register(_spec(), f, tmp_path / "reports")
    assert [s.id for _, s in list_campaigns(tmp_path / "reports")] == ["1998-02-01-spring"]


@pytest.mark.parametrize("rows,message", [
    ("customer_id,group\n1,control\n2,B\n", "not planned: \\['B'\\]"),
    ("customer_id,group\n1,control\n", "planned but absent: \\['treatment'\\]"),
    ("customer_id,group\n1,control\n1,treatment\n2,treatment\n", "more than one group"),
    ("client,group\n1,control\n", "lacks column"),
])
def test_register_refuses_an_assignment_that_does_not_fit(tmp_path, rows, message):
    f = tmp_path / "a.csv"
    f.write_text(rows, encoding="utf-8")
    with pytest.raises(RegistryError, match=message):
        register(_spec(), f, tmp_path)


def test_a_wrong_campaign_yaml_names_the_file_and_line(tmp_path):
    folder = register(_spec(), _assignment(tmp_path), tmp_path / "reports")
    text = (folder / "campaign.yaml").read_text(encoding="utf-8")
    (folder / "campaign.yaml").write_text(text.replace("min_effect: 1.0", "min_efect: 1.0"), encoding="utf-8")
    with pytest.raises(RegistryError) as err:
        load_spec(folder)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith("min_effect:"))
    assert f"campaign.yaml, line {line}: unknown key 'decision.min_efect'" in str(err.value)
    assert "decision.min_effect is required" in str(err.value)
    (folder / "campaign.yaml").write_text(text.replace("min_effect: 1.0", "min_effect: 150"), encoding="utf-8")
    with pytest.raises(RegistryError, match="percentage points"):
        load_spec(folder)
    # the monthly run lists the broken campaign with its error and goes on
    listed = list_campaigns(tmp_path / "reports")
    assert isinstance(listed[0][1], RegistryError)


def _assignment(tmp_path):
    f = tmp_path / "assignment.csv"
    f.write_text("customer_id,group\n00001,control\n00002,treatment\n", encoding="utf-8")
    return f


def test_command_line_register_and_list(tmp_path, capsys):
    from rfm_helpers.report.cli import main

    f = _assignment(tmp_path)
    reports = tmp_path / "reports"
    args = ["campaign", "register", "--assignment", str(f), "--name", "Autumn sale", "--channel", "sms",
            "--send-date", "1998-02-10", "--window-days", "14", "--planned-split", "control:0.1,treatment:0.9",
            "--primary-metric", "revenue", "--min-effect", "2.5", "--guardrail", "unsubscribed:0.005",
            "--reports-dir", str(reports)]
    assert main(args) == 0
    spec = load_spec(campaign_dir(reports, "1998-02-10-autumn-sale"))
    assert spec.channel == "sms" and spec.planned_split == pytest.approx({"control": 0.1, "treatment": 0.9})
    assert spec.decision.guardrails[0].max_harm == 0.005 and spec.registered_by == "register"
    assert main(args) == 2 and "already registered" in capsys.readouterr().err
    assert main(["campaign", "list", "--reports-dir", str(reports), "--analysis-date", "1998-02-20"]) == 0
    assert "1998-02-10-autumn-sale: 'Autumn sale', sms, sent 1998-02-10, window closes 1998-02-23: waiting" in \
        capsys.readouterr().out
    for month in ("1998-03", "1998-04"):  # the page of the latest month that has one
        (reports / month).mkdir()
        (reports / month / "campaign-1998-02-10-autumn-sale.html").write_text("<html></html>", encoding="utf-8")
    assert main(["campaign", "list", "--reports-dir", str(reports), "--analysis-date", "1998-04-30"]) == 0
    assert f"due on 1998-04-30; page {reports / '1998-04' / 'campaign-1998-02-10-autumn-sale.html'}" in \
        capsys.readouterr().out
    bad = args[:-2] + ["--reports-dir", str(tmp_path / "other")]
    bad[bad.index("control:0.1,treatment:0.9")] = "control 0.1"
    assert main(bad) == 2 and "planned split" in capsys.readouterr().err
