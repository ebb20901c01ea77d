"""The campaign evaluation in the run's engine gives the numbers of the pandas path it replaced.

``evaluate_month`` now runs every per-customer step of the base in the engine (scoring before
sending, outcomes, fingerprint, segment sizes, the audience's migration, the demonstration's
population) and fetches aggregates plus each campaign's population. The reference below is the
pandas path as it was before (frames handed to DuckDB one query at a time, segments assigned
and migrations joined in pandas), kept here as the independent check: on CDNOW (the
demonstration and a registered campaign with contacts) and on generated data with order ids,
returns, ties, duplicated and unknown customers, the evaluations are equal - codes and counts
exactly, floats to 1e-9 relative (sums may be added in another order).
"""
from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.campaigns import RunContext, evaluate_month, sql
from rfm_helpers.campaigns import data as cdata
from rfm_helpers.campaigns import evaluate as ev
from rfm_helpers.campaigns.analysis import AnalysisSettings, analyse_campaign
from rfm_helpers.campaigns.create import create_campaign
from rfm_helpers.campaigns.data import CampaignWarning, read_campaign
from rfm_helpers.campaigns.demo import _assign, true_effects
from rfm_helpers.campaigns.migration import summarise_transitions
from rfm_helpers.campaigns.registry import (CampaignSpec, Decision, list_campaigns, parse_guardrails, register,
                                            status)
from rfm_helpers.campaigns.verdict import decide
from rfm_helpers.engine import recording_fetches
from rfm_helpers.load.contacts import Contacts
from rfm_helpers.rfm import compute_scored_rfm, parse_as_of, scored_rfm_sql
from rfm_helpers.segments import assign_segments


# ------------------------------------------------------------------ the pandas reference
def _q(text, **frames):
    return sql.query(text, **frames)


def ref_prepare(campaign, tx, window_days, *, control="control", planned_split=None, send_date=None, data_end=None,
                segment_map="classic", rfm_window_days=None):
    """prepare_campaign as it was: pandas frames queried one by one, ``isin`` in pandas."""
    df = cdata._normalise(campaign, send_date)
    notes = []
    send = pd.Timestamp(pd.to_datetime(df["send_date"]).dt.normalize().unique()[0]).date()
    dup = df.duplicated(["customer_id", "group"])
    dropped = int(dup.sum())
    if dropped:
        df = df.loc[~dup]
        notes.append({"code": "duplicates_dropped", "count": dropped})
    planned, groups = cdata._planned(planned_split, list(dict.fromkeys(df["group"].tolist())), control)
    last_day = parse_as_of(data_end) if data_end is not None else tx["order_date"].max().date()
    pop = df[["customer_id", "group", "cost_per_contact"]].reset_index(drop=True)
    pop["__pos"] = np.arange(len(pop), dtype=np.int64)
    has_oid = "order_id" in tx.columns
    scored = scored_rfm_sql("tx", send - dt.timedelta(days=1), rfm_window_days, has_order_id=has_oid)
    pre = _q(sql.population_rfm_sql(scored, "pop"), tx=tx, pop=pop)
    known = pop["customer_id"].isin(pd.Index(pre["customer_id"]))
    n_unknown = int((~known).sum())
    excluded = pd.Series([], dtype="string")
    if n_unknown:
        excluded = pop.loc[~known, "customer_id"].drop_duplicates().reset_index(drop=True)
        notes.append({"code": "unknown_excluded", "count": n_unknown})
        pop = pop.loc[known.to_numpy()]
    out = _q(sql.outcomes_sql("pop", "tx", send, int(window_days), has_oid), tx=tx, pop=pop)
    pre = assign_segments(pre, map_name=segment_map)
    out = out.merge(pre, on="customer_id", how="left", validate="one_to_one")
    out["group"] = out["group"].astype("string")
    return cdata.CampaignData(customers=out.reset_index(drop=True), send_date=send, window_days=int(window_days),
                              control=control, groups=groups, planned_split=planned, last_data_date=last_day,
                              excluded_unknown=n_unknown, dropped_duplicates=dropped, notes=notes,
                              excluded_ids=excluded)


def ref_segments_at(tx, population, as_of, segment_map, window_days):
    has_oid = "order_id" in tx.columns
    scored = _q(sql.population_rfm_sql(scored_rfm_sql("tx", as_of, window_days, has_order_id=has_oid), "pop"),
                tx=tx, pop=population[["customer_id"]])
    seg = assign_segments(scored, map_name=segment_map)
    return seg[["customer_id", "segment", "rfm_score"]].assign(segment=lambda d: d["segment"].astype(str))


def ref_month_view(evaluation, assignment, tx, rfm, as_of, window_days, contacts, demo_tx=None):
    camp = evaluation["campaign"]
    pop = assignment[["customer_id", "group"]].astype("string")
    pop["customer_id"] = pop["customer_id"].str.strip()
    send = dt.date.fromisoformat(camp["send_date"])
    world = tx if demo_tx is None else demo_tx
    before = ref_segments_at(world, pop, send - dt.timedelta(days=1), camp["segment_map"], window_days)
    if demo_tx is None:
        scored = _q(sql.population_rfm_sql("SELECT * FROM rfm", "pop"), rfm=rfm, pop=pop[["customer_id"]])
        now = assign_segments(scored, map_name=camp["segment_map"])[["customer_id", "segment", "rfm_score"]]
        now["segment"] = now["segment"].astype(str)
    else:
        now = ref_segments_at(world, pop, as_of, camp["segment_map"], window_days)
    both = pd.concat([before, now], ignore_index=True)
    mean = both.groupby("segment", observed=True)["rfm_score"].mean()
    order = pd.DataFrame({"segment": mean.index.astype(str), "score": mean.to_numpy()}).sort_values(
        ["score", "segment"], ascending=[False, True])["segment"].tolist()
    b = before[["customer_id", "segment"]].merge(pop, on="customer_id", how="inner")
    counts = _q(sql.transitions_sql("b", "n"), b=b, n=now[["customer_id", "segment"]]).rename(
        columns={"from": "seg_from", "to": "seg_to"})
    migration = summarise_transitions(counts, order, camp["segment_map"])
    # segment sizes now, from the per-customer table in pandas
    seg = assign_segments(rfm, map_name=camp["segment_map"])
    channel = camp.get("channel", "other")
    reach = None
    if contacts is not None and channel in ("email", "sms", "call"):
        from rfm_helpers.act.consent import reason_sql

        c = contacts.frame
        r = _q(f"SELECT rfm.customer_id, ({reason_sql(channel, c.columns, contacts.assume_consent)}) IS NULL AS ok "
               "FROM rfm LEFT JOIN c ON c.customer_id = CAST(rfm.customer_id AS VARCHAR)",
               rfm=rfm[["customer_id"]], c=c)
        reach = seg[["customer_id", "segment"]].merge(r, on="customer_id")
    sizes = {}
    for key, part in seg.groupby("segment", observed=True):
        sizes[str(key)] = {"customers": int(len(part)), "reachable": None if reach is None else
                           int(reach.loc[reach["segment"].astype(str) == str(key), "ok"].sum())}
    return {"as_of": as_of.isoformat(), "migration": migration, "projection": ev._projection(evaluation, sizes)}


def ref_registered(spec, folder, tx, rfm, as_of, window_days, contacts):
    assignment = read_campaign(folder / spec.assignment)
    a = ev._with_costs(assignment, spec)
    data = ref_prepare(a, tx, spec.outcome_window_days, control=spec.control, planned_split=spec.planned_split,
                       send_date=spec.send_date, data_end=as_of, segment_map=spec.segment_map,
                       rfm_window_days=window_days)
    ctx = RunContext(tx, as_of, rfm, None, spec.segment_map, window_days, contacts)
    data.customers, notes = ev._guardrail_columns(data.customers, spec, folder, ctx)
    if "returns" in {g.metric for g in spec.decision.guardrails} and not bool((tx["amount"] < 0).any()):
        assert notes[0] == {"code": "returns_not_in_data"}
    data.notes.extend(notes)
    report = analyse_campaign(data, spec.settings(), guardrails=spec.guardrails())
    verdict = decide(report, spec.decision.rules(), data.planned_split)
    campaign = {**spec.model_dump(mode="json", exclude={"created_from"}), "demo": False,
                "window_end": spec.window_end.isoformat(), "created_from": spec.created_from}
    evaluation = ev._evaluation(data, report, verdict, campaign, None)
    return {**evaluation, "month": ref_month_view(evaluation, assignment, tx, rfm, as_of, window_days, contacts)}


def ref_demo(tx, rfm, as_of, window_days, segment_map="classic"):
    """evaluate_demo as it was (pandas eligibility, a pandas copy of the transactions)."""
    send = ev.DEMO_SEND_DATE
    rng = np.random.default_rng(ev.DEMO_SEED)
    start, end = cdata.outcome_window(send, ev.DEMO_WINDOW_DAYS)
    day = tx["order_date"].dt.normalize()
    pre = tx.loc[(day < pd.Timestamp(send)) & (tx["order_date"] >= pd.Timestamp(send - dt.timedelta(days=365)))]
    ids = np.sort(pre["customer_id"].astype("string").unique().to_numpy(dtype=object))
    groups = _assign(len(ids), np.array([0.5, 0.5]), rng)
    camp = pd.DataFrame({"customer_id": pd.array(ids, dtype="string"),
                         "group": pd.array(np.array(["control", "treatment"], dtype=object)[groups], dtype="string"),
                         "send_date": pd.Timestamp(send)})
    camp["cost_per_contact"] = np.where(camp["group"] == "control", 0.0, ev.DEMO_COST)
    natural = _q(sql.period_outcomes_sql("tx", start, end, "order_id" in tx.columns), tx=tx)
    c0 = pd.Series(ids).isin(pd.Index(natural.loc[natural["converted"] > 0, "customer_id"].astype(object))).to_numpy()
    members = ids[groups == 1]
    hit = rng.random(len(members)) < ev.DEMO_EFFECT.extra_purchase_prob
    offsets = rng.integers(0, ev.DEMO_WINDOW_DAYS, size=int(hit.sum()))
    extra = pd.DataFrame({"customer_id": pd.array(members[hit], dtype="string"),
                          "order_date": pd.Timestamp(start) + pd.to_timedelta(offsets, unit="D"),
                          "amount": float(ev.DEMO_EFFECT.extra_amount)})
    tx2 = pd.concat([tx, extra.reindex(columns=tx.columns).astype(tx.dtypes.to_dict())], ignore_index=True)
    data = ref_prepare(camp, tx2, ev.DEMO_WINDOW_DAYS, data_end=as_of, segment_map=segment_map,
                       rfm_window_days=window_days)
    settings = AnalysisSettings(seed=ev.DEMO_SEED)
    report = analyse_campaign(data, settings)
    truth = {"effects": {"treatment": true_effects(c0, ev.DEMO_EFFECT)}, "n_customers": len(ids)}
    evaluation = ev._evaluation(data, report, decide(report, ev.DEMO_RULES, data.planned_split), {
        "send_date": send.isoformat(), "segment_map": segment_map, "segments": [], "channel": "other",
        "cost_per_contact": ev.DEMO_COST}, None, truth)
    return {**evaluation, "month": ref_month_view(evaluation, camp, tx, rfm, as_of, window_days, None, demo_tx=tx2)}


# ------------------------------------------------------------------ comparing
def assert_same(got, want, path="", rel=1e-9):
    if isinstance(want, dict):
        assert set(got) == set(want), f"{path}: keys {set(got) ^ set(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}.{k}", rel)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]", rel)
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)), path
        if math.isnan(want):
            assert math.isnan(got), path
        else:
            assert math.isclose(got, want, rel_tol=rel, abs_tol=1e-12), f"{path}: {got} != {want}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def _comparable(result):
    out = {k: v for k, v in result.items() if k not in ("evaluated_at", "inputs_hash", "reused", "package_version",
                                                        "schema", "campaign", "truth")}
    return out


# ------------------------------------------------------------------ CDNOW
@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    from rfm_helpers.pipeline import prepare

    return prepare(analysis_date="1998-06-30", run_dir=tmp_path_factory.mktemp("run"))


def test_cdnow_demo_and_a_registered_campaign_with_contacts_equal_the_pandas_path(cdnow, tmp_path):
    p = cdnow
    tx = p.transactions
    rfm0 = compute_scored_rfm(tx[tx["order_date"] <= "1998-01-04"], "1998-01-04")
    ids = rfm0["customer_id"].astype(str).to_numpy()
    k = np.arange(len(ids))
    contacts = Contacts(pd.DataFrame({
        "customer_id": ids, "email": np.where(k % 10 == 0, None, [f"c{i}@example.com" for i in ids]),
        "email_consent": np.where(k % 7 == 0, 0, 1), "email_unsubscribed": np.where(k % 13 == 0, 1, 0)},
    ).astype({"customer_id": "string", "email": "string"}))
    create_campaign(rfm=rfm0, as_of=dt.date(1998, 1, 4), reports_dir=tmp_path, name="Win back", channel="email",
                    segments=["at_risk", "hibernating", "lost", "about_to_sleep"], send_date=dt.date(1998, 1, 5),
                    outcome_window_days=60, control_share=0.2, seed=11, primary_metric="revenue", min_effect=1.0,
                    contacts=contacts, cost_per_contact=0.3,
                    guardrails=parse_guardrails("unsubscribed:0.01,returns:1"))
    ctx = RunContext.from_prepared(p, "classic", contacts)
    with recording_fetches() as fetches:
        month = evaluate_month(ctx, tmp_path, reuse=False)
    demo, registered = month.results
    (folder, spec), = list_campaigns(tmp_path)
    want = ref_registered(spec, folder, tx, p.rfm, p.as_of, p.window_days, contacts)
    assert_same(_comparable(registered), _comparable(want))
    want_demo = ref_demo(tx, p.rfm, p.as_of, p.window_days)
    assert_same(_comparable(demo), _comparable(want_demo))
    assert_same(demo["truth"]["effects"]["treatment"]["revenue"], want_demo["truth"]["effects"]["treatment"]["revenue"])
    assert demo["truth"]["n_customers"] == want_demo["truth"]["n_customers"]
    # nothing per customer of the base came back: aggregates, and the campaigns' populations
    assert {f.kind for f in fetches} <= {"aggregate", "sample"}
    biggest = max(f.rows for f in fetches if f.kind == "sample")
    assert biggest <= max(demo["data"]["customers"] + demo["data"]["excluded_unknown"],
                          len(read_campaign(folder / spec.assignment)))


# ------------------------------------------------------------------ generated data
def _generated(seed=3, n_customers=3000):
    g = np.random.default_rng(seed)
    n = n_customers * 6
    cust = g.integers(0, n_customers, n)
    days = g.integers(0, 540, n)
    tx = pd.DataFrame({
        "customer_id": pd.array([f"{c:06d}" for c in cust], dtype="string"),  # leading zeros
        "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D") + pd.to_timedelta(
            g.integers(0, 86400, n), unit="s"),
        "amount": np.round(g.choice([10.0, 10.0, 25.5, 99.99, 0.0], n), 2),  # ties, zero amounts
        "order_id": pd.array([f"o{i // 2}" for i in range(n)], dtype="string"),  # two rows per order
    })
    returns = g.random(n) < 0.03
    tx.loc[returns, "amount"] = -tx.loc[returns, "amount"]
    return tx


def test_generated_data_with_returns_duplicates_and_unknowns_equal_the_pandas_path(tmp_path, monkeypatch):
    tx = _generated()
    as_of = dt.date(2024, 6, 23)
    tx = tx[tx["order_date"] <= pd.Timestamp(as_of) + pd.Timedelta(days=1)].reset_index(drop=True)
    rfm = compute_scored_rfm(tx, as_of, 365)
    g = np.random.default_rng(9)
    ids = pd.Series(sorted(set(tx["customer_id"])))
    chosen = ids.sample(1500, random_state=1).tolist()
    rows = [(c, "control" if g.random() < 0.3 else ("A" if g.random() < 0.5 else "B")) for c in chosen]
    rows += rows[:40]  # duplicated rows (same customer, same group)
    rows += [("999999", "A"), ("000000x", "control")]  # unknown customers
    assignment = pd.DataFrame(rows, columns=["customer_id", "group"])
    path = tmp_path / "assignment.csv"
    assignment.to_csv(path, index=False, sep=";")
    spec = CampaignSpec(id="2024-03-01-test", name="test", channel="other", send_date=dt.date(2024, 3, 1),
                        outcome_window_days=45, segments=["at_risk", "champions"], cost_per_contact=0.4,
                        planned_split={"control": 0.3, "A": 0.35, "B": 0.35},
                        decision=Decision(primary_metric="converted", min_effect=1.0,
                                          guardrails=parse_guardrails("returns:0.5")),
                        registered_at="2024-03-01T00:00:00+00:00", registered_by="register")
    folder = register(spec, path, tmp_path)
    monkeypatch.setattr(cdata, "ENGINE_CSV_BYTES", 0)  # the engine parses the file
    ctx = RunContext(tx, as_of, rfm, None, "classic", 365)
    assert status(spec, as_of) == "due"
    with recording_fetches() as fetches:
        month = evaluate_month(ctx, tmp_path, reuse=False)
    (got,) = month.results
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CampaignWarning)
        want = ref_registered(spec, folder, tx, rfm, as_of, 365, None)
    assert_same(_comparable(got), _comparable(want))
    assert got["month"]["migration"]["transitions"] and got["report"]["segments"]["A"]["revenue"]
    before = set(tx.loc[tx["order_date"] < "2024-03-01", "customer_id"])
    unknown = sum(c not in before for c, _ in rows[:1500]) + 2
    assert got["data"]["excluded_unknown"] == unknown and unknown > 2 and got["data"]["dropped_duplicates"] == 40
    assert {f.kind for f in fetches} <= {"aggregate", "sample"}
    assert max(f.rows for f in fetches) <= len(rows)
    # the fingerprint in the engine is the one of the frame
    old = sql.query(sql.fingerprint_sql("tx", spec.window_end, True), tx=tx).iloc[0]
    assert ev._fingerprint(ctx.tx, spec.window_end) == {"rows": int(old["n"]), "total": round(float(old["total"]), 6),
                                                       "digest": str(old["digest"])}
    # an independent check of one number: the conversion of group A from the raw rows
    w = tx[(tx["order_date"] >= "2024-03-01") & (tx["order_date"] < "2024-04-15") & (tx["amount"] >= 0)]
    a_ids = {c for c, grp in rows[:1500] if grp == "A" and c in before}
    conv = len(set(w["customer_id"]) & a_ids) / len(a_ids)
    eff = next(e for e in got["report"]["overall"]["converted"] if e["group"] == "A")
    assert eff["mean_t"] == pytest.approx(conv, rel=1e-12)


def test_the_engine_csv_reader_reads_what_pandas_reads(tmp_path, monkeypatch):
    cases = {"comma.csv": "customer_id,group,send_date,cost_per_contact\n00042,control,2024-01-01,\n7,A,2024-01-01,0.5\n",
             "semi.csv": "\ufeffcustomer_id;group\n00042;control\n\"7;x\";treatment\n",
             "tab.tsv": "customer_id\tgroup\n00042\tcontrol\nNA\ttreatment\n  8 \tA\n",
             "crlf.csv": "customer_id,group,note\r\n1,control,\"a, \"\"quoted\"\" note\"\r\n2,A,\r\n"}
    for name, text in cases.items():
        (tmp_path / name).write_bytes(text.encode("utf-8"))
        monkeypatch.setattr(cdata, "ENGINE_CSV_BYTES", 10 ** 12)
        by_pandas = read_campaign(tmp_path / name)
        monkeypatch.setattr(cdata, "ENGINE_CSV_BYTES", 0)
        pd.testing.assert_frame_equal(read_campaign(tmp_path / name), by_pandas)


def test_a_month_without_campaigns_touches_no_table(tmp_path):
    """Nothing registered and not the bundled sample: neither the transactions nor the scored
    table of the run is registered, computed or fetched."""
    class Untouchable:
        as_of, window_days, source = dt.date(2024, 6, 30), None, None
        engine = object()

        def __getattr__(self, name):
            raise AssertionError(f"the run's {name} was used")

    ctx = RunContext.from_prepared(Untouchable())
    with recording_fetches() as fetches:
        month = evaluate_month(ctx, tmp_path)
    assert month.results == [] and month.registered == [] and fetches == []


def test_create_from_the_run_engine_makes_the_files_of_the_pandas_path(cdnow, tmp_path):
    """``campaign create`` selects the segments' customers in the run's engine: the same
    assignment and send lists as from the pandas table, and only that population is fetched."""
    from rfm_helpers.report.campaign_pages import create_from_notebook

    kw = dict(name="Wake up", segments="at_risk,hibernating", channel="other", send_date="1998-07-01",
              outcome_window_days=30, control_share=0.25, seed=4, primary_metric="converted", min_effect=1.0,
              dry_run=False, formats=("csv",))
    with recording_fetches() as fetches:
        engine_made = create_from_notebook(cdnow, reports_dir=tmp_path / "engine", **kw)
    pandas_made = create_campaign(
        rfm=cdnow.rfm, as_of=cdnow.as_of, reports_dir=tmp_path / "pandas", name=kw["name"],
        segments=["at_risk", "hibernating"], channel="other", send_date=dt.date(1998, 7, 1), outcome_window_days=30,
        control_share=0.25, seed=4, primary_metric="converted", min_effect=1.0, source_name=cdnow.source.display_name,
        currency=cdnow.currency, formats=("csv",))
    assert engine_made.files == pandas_made.files
    for f in engine_made.files:
        if f.endswith(".csv") and "data_dictionary" not in f:
            a = (engine_made.folder / f).read_bytes()
            b = (pandas_made.folder / f).read_bytes()
            assert a == b, f
    pd.testing.assert_frame_equal(engine_made.per_segment, pandas_made.per_segment)
    assert {f.kind for f in fetches} <= {"aggregate", "sample"}
    assert max(f.rows for f in fetches) == engine_made.spec.created_from["customers_in_segments"]
