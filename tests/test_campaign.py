"""Campaign input: validation errors, outcome windows, covariates and the demo generator.

Outcomes are checked on hand-made transactions (counted by hand in the comments) and, on
CDNOW, against an independent pandas computation.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.campaign import (CampaignError, CampaignWarning, InjectedEffect, customer_outcomes,
                                  outcome_window, prepare_campaign, read_campaign, simulate_campaign,
                                  true_effects)
from rfm_helpers.load.bundled import read_cdnow_raw


def tx(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    df["customer_id"] = df["customer_id"].astype("string")
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["amount"] = df["amount"].astype("float64")
    return df


def campaign(rows, send="2024-03-01", cost=None):
    df = pd.DataFrame(rows, columns=["customer_id", "group"]).astype("string")
    df["send_date"] = send
    if cost is not None:
        df["cost_per_contact"] = cost
    return df


def cdnow_tx():
    raw = read_cdnow_raw()
    return pd.DataFrame({"customer_id": raw["customer_id"].astype("string"),
                         "order_date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
                         "amount": raw["dollar_value"].astype("float64")})


@pytest.fixture(scope="module")
def cdnow():
    return cdnow_tx()


# Two customers per group, history from January, data until the end of May.
BASE = tx([
    ("00001", "2024-01-05", 10), ("00001", "2024-03-01", 20), ("00001", "2024-03-01", 5),  # one order on send day
    ("00001", "2024-03-10", 7),
    ("00002", "2024-02-20", 50),                         # no purchase after sending
    ("1", "2024-01-10", 3), ("1", "2024-03-30", 4),       # "1" is not "00001"
    ("00004", "2024-02-01", 8), ("00004", "2024-03-31", 9),  # 03-31 is outside a 30-day window
    ("00009", "2024-05-31", 1),                          # last data date
])
CAMP = campaign([("00001", "treatment"), ("00002", "treatment"), ("1", "control"), ("00004", "control")])


def test_outcomes_and_covariates_by_hand():
    d = prepare_campaign(CAMP, BASE, window_days=30)
    c = d.customers.set_index("customer_id")
    assert d.send_date.isoformat() == "2024-03-01" and d.window_end.isoformat() == "2024-03-30"
    # 00001: send-day purchases (one order, 25) + 03-10 (7): 2 orders, 32
    assert (c.loc["00001", "converted"], c.loc["00001", "orders"], c.loc["00001", "revenue"]) == (1, 2, 32.0)
    assert (c.loc["00002", "converted"], c.loc["00002", "revenue"]) == (0, 0.0)
    assert (c.loc["1", "converted"], c.loc["1", "revenue"]) == (1, 4.0)          # 03-30 is the last day
    assert (c.loc["00004", "converted"], c.loc["00004", "revenue"]) == (0, 0.0)  # 03-31 is outside
    # pre-period RFM as of the day before sending: 00001 bought 01-05 only -> recency 55
    assert c.loc["00001", "recency_days"] == (pd.Timestamp("2024-02-29") - pd.Timestamp("2024-01-05")).days
    assert c.loc["00001", "monetary"] == 10.0 and c.loc["00002", "monetary"] == 50.0
    # pre-window = 30 days before sending (01-31 .. 02-29)
    assert c.loc["00002", "pre_revenue"] == 50.0 and c.loc["00001", "pre_revenue"] == 0.0
    assert c.loc["00004", "pre_revenue"] == 8.0
    assert {"segment", "segment_label", "r_score", "rfm_cell"} <= set(d.customers.columns)
    assert d.customers["customer_id"].dtype == "string"
    assert d.groups == ["control", "treatment"] and d.variants == ["treatment"]


def test_window_bounds():
    assert [x.isoformat() for x in outcome_window("2024-03-01", 1)] == ["2024-03-01", "2024-03-01"]
    with pytest.raises(CampaignError):
        outcome_window("2024-03-01", 0)


@pytest.mark.parametrize("rows,message", [
    ([("00001", "treatment"), ("00001", "control"), ("00002", "control"), ("1", "treatment")], "more than one group"),
    ([("00001", "treatment"), ("00002", "treatment"), ("1", "B"), ("00004", "B")], "no control group"),
    ([("00001", "control"), ("00002", "control")], "at least one treated group"),
    ([("00001", "treatment"), ("00002", "control"), ("1", "control")], "fewer than 2"),
])
def test_group_errors(rows, message):
    with pytest.raises(CampaignError, match=message):
        prepare_campaign(campaign(rows), BASE, window_days=30)


def test_missing_columns_and_numeric_ids():
    with pytest.raises(CampaignError, match="lacks column"):
        prepare_campaign(CAMP.drop(columns="send_date"), BASE, 30)
    numeric = CAMP.copy()
    numeric["customer_id"] = [1, 2, 3, 4]
    with pytest.raises(CampaignError, match="leading zeros"):
        prepare_campaign(numeric, BASE, 30)


def test_several_send_dates():
    c = CAMP.copy()
    c.loc[0, "send_date"] = "2024-03-02"
    with pytest.raises(CampaignError, match="2 send dates"):
        prepare_campaign(c, BASE, 30)


def test_send_date_outside_history():
    with pytest.raises(CampaignError, match="after the last transaction"):
        prepare_campaign(campaign(CAMP[["customer_id", "group"]].values.tolist(), send="2024-07-01"), BASE, 30)
    with pytest.raises(CampaignError, match="not after the first"):
        prepare_campaign(campaign(CAMP[["customer_id", "group"]].values.tolist(), send="2024-01-05"), BASE, 30)


def test_window_past_last_date_errors_or_warns():
    with pytest.raises(CampaignError, match="runs past the last transaction date"):
        prepare_campaign(CAMP, BASE, window_days=100)
    with pytest.warns(CampaignWarning, match="understated"):
        d = prepare_campaign(CAMP, BASE, window_days=100, allow_truncated_window=True)
    assert d.notes and d.window_end.isoformat() == "2024-06-08"
    prepare_campaign(CAMP, BASE, window_days=92)  # 03-01 + 91 days = 05-31: exactly inside


def test_unknown_customers_excluded_or_error():
    rows = CAMP.values[:, :2].tolist() + [("42", "treatment"), ("00009", "control")]  # 00009 first buys after sending
    with pytest.warns(CampaignWarning, match="2 campaign customer"):
        d = prepare_campaign(campaign(rows), BASE, 30)
    assert d.excluded_unknown == 2 and set(d.customers["customer_id"]) == {"00001", "00002", "1", "00004"}
    assert sorted(d.excluded_ids) == ["00009", "42"] and "42" not in d.notes[0]
    with pytest.raises(CampaignError, match="no purchase before the send date"):
        prepare_campaign(campaign(rows), BASE, 30, on_unknown="error")


def test_duplicate_rows_dropped_with_warning():
    rows = CAMP.values[:, :2].tolist() + [("00001", "treatment")]
    with pytest.warns(CampaignWarning, match="duplicate"):
        d = prepare_campaign(campaign(rows), BASE, 30)
    assert d.dropped_duplicates == 1 and len(d.customers) == 4


def test_planned_split_checks():
    with pytest.raises(CampaignError, match="no customers"):
        prepare_campaign(CAMP, BASE, 30, planned_split={"control": 1, "treatment": 1, "B": 1})
    with pytest.raises(CampaignError, match="not in planned_split"):
        prepare_campaign(CAMP, BASE, 30, planned_split={"control": 1})
    d = prepare_campaign(CAMP, BASE, 30, planned_split={"treatment": 3, "control": 1})
    assert d.planned_split == {"treatment": 0.75, "control": 0.25} and d.groups == ["control", "treatment"]


def test_cost_validation():
    with pytest.raises(CampaignError, match="negative"):
        prepare_campaign(campaign(CAMP.values[:, :2].tolist(), cost=[1, 1, 0, -1]), BASE, 30)
    with pytest.raises(CampaignError, match="not a number"):
        prepare_campaign(campaign(CAMP.values[:, :2].tolist(), cost=["a", 1, 0, 0]), BASE, 30)
    d = prepare_campaign(campaign(CAMP.values[:, :2].tolist(), cost=[0.5, 0.5, None, None]), BASE, 30)
    assert d.has_cost and not prepare_campaign(CAMP, BASE, 30).has_cost


def test_read_campaign_keeps_leading_zeros(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("client,arm,sent\n00001,treatment,2024-03-01\n00002,treatment,2024-03-01\n"
                 "1,control,2024-03-01\n00004,control,2024-03-01\n", encoding="utf-8")
    df = read_campaign(p, columns={"customer_id": "client", "group": "arm", "send_date": "sent"})
    assert df["customer_id"].tolist() == ["00001", "00002", "1", "00004"]
    d = prepare_campaign(df, BASE, 30)
    assert d.customers.set_index("customer_id").loc["00001", "revenue"] == 32.0
    with pytest.raises(FileNotFoundError):
        read_campaign(tmp_path / "missing.csv")


def test_outcomes_match_independent_pandas(cdnow):
    start, end = "1998-01-15", "1998-03-15"
    got = customer_outcomes(cdnow, start, end).set_index("customer_id").sort_index()
    w = cdnow[(cdnow["order_date"] >= start) & (cdnow["order_date"] <= end)]
    exp_rev = w.groupby("customer_id")["amount"].sum().sort_index()
    exp_orders = w.drop_duplicates(["customer_id", "order_date"]).groupby("customer_id").size().sort_index()
    assert got.index.tolist() == exp_rev.index.tolist()
    np.testing.assert_allclose(got["revenue"].to_numpy(), exp_rev.to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(got["orders"].to_numpy(), exp_orders.to_numpy())


def test_simulated_campaign_injects_the_documented_effect(cdnow):
    eff = InjectedEffect(extra_purchase_prob=0.1, extra_amount=25.0)
    camp, tx2, truth = simulate_campaign(cdnow, "1998-01-15", 60, seed=7, effect=eff)
    again, tx3, _ = simulate_campaign(cdnow, "1998-01-15", 60, seed=7, effect=eff)
    pd.testing.assert_frame_equal(camp, again)
    pd.testing.assert_frame_equal(tx2, tx3)
    assert camp["customer_id"].str.len().eq(5).all()  # CDNOW ids keep their zeros
    counts = camp["group"].value_counts()
    assert abs(counts["control"] - counts["treatment"]) <= 1
    extra = tx2.iloc[len(cdnow):]
    treated = set(camp.loc[camp["group"] == "treatment", "customer_id"])
    assert set(extra["customer_id"]) <= treated and (extra["amount"] == 25.0).all()
    assert extra["order_date"].between("1998-01-15", "1998-03-15").all()
    # number of extra purchases ~ Binomial(n_treated, 0.1)
    n = counts["treatment"]
    assert abs(len(extra) - 0.1 * n) < 5 * np.sqrt(n * 0.1 * 0.9)
    # the documented true effects, recomputed independently
    natural = cdnow[cdnow["order_date"].between("1998-01-15", "1998-03-15")]["customer_id"].unique()
    base_rate = camp["customer_id"].isin(natural).mean()
    assert truth["effects"]["treatment"]["conversion"] == pytest.approx(0.1 * (1 - base_rate), rel=1e-12)
    assert truth["effects"]["treatment"]["revenue"] == pytest.approx(2.5)
    # eligible = bought in the year before sending
    pre = cdnow[(cdnow["order_date"] < "1998-01-15") & (cdnow["order_date"] >= "1997-01-15")]
    assert set(camp["customer_id"]) == set(pre["customer_id"])
    # analysing it: control outcomes equal the natural outcomes
    with warnings.catch_warnings():
        warnings.simplefilter("error", CampaignWarning)
        d = prepare_campaign(camp, tx2, 60)
    ctrl = d.customers[d.customers["group"] == "control"]
    assert ctrl["converted"].mean() == pytest.approx(ctrl["customer_id"].isin(natural).mean(), rel=1e-12)


def test_simulate_several_variants(cdnow):
    camp, _, truth = simulate_campaign(
        cdnow, seed=1, n_customers=3000, split={"control": 0.4, "A": 0.3, "B": 0.3},
        effect={"A": InjectedEffect(0.0, 30.0), "B": InjectedEffect(0.2, 30.0)})
    assert len(camp) == 3000 and camp["group"].value_counts().to_dict() == {"control": 1200, "A": 900, "B": 900}
    assert truth["effects"]["A"]["conversion"] == 0 and truth["effects"]["B"]["revenue"] == pytest.approx(6.0)
    d = prepare_campaign(camp, _, 60, planned_split={"control": 0.4, "A": 0.3, "B": 0.3})
    assert d.variants == ["A", "B"]


def test_true_effects_formula():
    t = true_effects(np.array([1, 0, 0, 0]), InjectedEffect(0.2, 10.0))
    assert t["conversion"] == pytest.approx(0.2 * 0.75) and t["revenue"] == pytest.approx(2.0)


def test_parse_split():
    from rfm_helpers.campaign import parse_split
    assert parse_split("") is None and parse_split(None) is None
    assert parse_split("control:0.4, A=0.3, B:0.3") == {"control": 0.4, "A": 0.3, "B": 0.3}
    assert parse_split({"control": 1}) == {"control": 1.0}
    with pytest.raises(CampaignError):
        parse_split("control 0.5")
    with pytest.raises(CampaignError):
        parse_split("control:half")


def test_end_to_end_on_cdnow_srm_failure_and_variants(cdnow):
    """A campaign whose treated customers partly went missing fails the SRM check, and then no
    sentence claims an effect; several variants are each compared with control."""
    from rfm_helpers import abtest as ab
    camp, tx2, _ = simulate_campaign(cdnow, seed=3, n_customers=4000,
                                     split={"control": 0.5, "A": 0.25, "B": 0.25},
                                     effect={"A": InjectedEffect(0.0, 30.0), "B": InjectedEffect(0.3, 30.0)})
    d = prepare_campaign(camp, tx2, 60, planned_split={"control": 0.5, "A": 0.25, "B": 0.25})
    rep = ab.analyse_campaign(d, n_boot=300)
    assert rep.srm.passed
    assert [e.group for e in rep.overall["converted"]] == ["A", "B"]
    assert all(e.n_comparisons == 2 for e in rep.overall["converted"])
    b = rep.overall["converted"][1]
    assert b.significant and ab.describe_effect(b, srm=rep.srm).startswith("The campaign raised conversion")
    tables = [ab.overall_table(rep), ab.revenue_methods_table(rep), ab.power_table(rep.power),
              ab.segment_table(rep.segments["B"]["converted"])]
    assert len(tables[0]) == 6 and len(tables[1]) == 10 and len(tables[2]) == len(rep.power)
    assert not any(c in t.columns for t in tables for c in ("customer_id",))  # aggregates only
    # lose a third of group B (e.g. bounced e-mails silently dropped from the file)
    b_ids = camp.loc[camp["group"] == "B", "customer_id"]
    broken = camp[~camp["customer_id"].isin(b_ids.iloc[: len(b_ids) // 3])]
    d2 = prepare_campaign(broken, tx2, 60, planned_split={"control": 0.5, "A": 0.25, "B": 0.25})
    rep2 = ab.analyse_campaign(d2, n_boot=300)
    assert not rep2.srm.passed
    for e in rep2.overall["converted"] + rep2.segments["B"]["converted"]:
        text = ab.describe_effect(e, srm=rep2.srm)
        assert "not reliable" in text and "raised" not in text


def test_demo_send_date_keeps_the_window_inside_the_data(cdnow):
    from rfm_helpers.campaign import demo_send_date
    assert demo_send_date("1998-01-15", 60, cdnow) == (pd.Timestamp("1998-01-15").date(), None)
    early = cdnow[cdnow["order_date"] <= "1997-03-31"]
    d, note = demo_send_date("1998-01-15", 60, early)
    assert d.isoformat() == "1997-01-31" and "outside the data" in note
    _, end = outcome_window(d, 60)
    assert end == early["order_date"].max().date()
    with pytest.raises(CampaignError, match="too short"):
        demo_send_date("1998-01-15", 60, cdnow[cdnow["order_date"] <= "1997-02-15"])
