"""Segment tracking: snapshots, transitions, movements, churn flows.

The segment assignment used in most tests is a tiny rule written here (so the tests do not
depend on the segment map); one test runs the real ``assign_segments`` on CDNOW.
Transition counts are checked against a plain ``collections.Counter`` over customer pairs,
snapshot values against an independent pandas groupby on the truncated transactions.
"""
from __future__ import annotations

import collections
import datetime as dt

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rfm_helpers import tracking  # noqa: E402
from rfm_helpers.report.charts import track as plots_tracking  # noqa: E402
from rfm_helpers.report.i18n import translator  # noqa: E402
from rfm_helpers.report.texts import track as track_texts  # noqa: E402

SEGS = ["lost", "hibernating", "at_risk", "loyal", "champions"]


def toy_assign(scored, map_name="classic", language="en"):
    """R score decides: 1 lost, 2 hibernating, 3 at_risk, 4 loyal, 5 champions."""
    out = scored.copy()
    out["segment"] = pd.Series(np.array(SEGS)[out["r_score"].to_numpy() - 1], dtype="string")
    out["segment_label"] = out["segment"].str.upper()
    return out


def make_tx(seed=0, customers=300, rows=2500, start="2023-01-01", days=540):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, customers, rows)
    # skew: low ids buy much more often
    ids = np.minimum(ids, rng.integers(0, customers, rows))
    return pd.DataFrame({
        "customer_id": pd.Series([f"{i:05d}" for i in ids], dtype="string"),
        "order_date": pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, rows), unit="D"),
        "amount": rng.gamma(2.0, 20.0, rows).round(2),
    })


def snap(segments: dict[str, str], monetary=None):
    ids = list(segments)
    return pd.DataFrame({
        "customer_id": pd.Series(ids, dtype="string"),
        "segment": pd.Series([segments[i] for i in ids], dtype="string"),
        "segment_label": pd.Series([segments[i].title() for i in ids], dtype="string"),
        "monetary": [float((monetary or {}).get(i, 10.0)) for i in ids],
        "month_spend": 0.0,
        "rfm_score": [3 * (SEGS.index(segments[i]) + 1) for i in ids],
    })


def test_months_and_paths(tmp_path):
    assert tracking.month_key("1998-06") == "1998-06"
    assert tracking.month_key(dt.date(1998, 6, 15)) == "1998-06"
    assert tracking.month_end("1996-02") == dt.date(1996, 2, 29)
    assert tracking.history_months("1998-06-30", 3) == ["1998-04", "1998-05", "1998-06"]
    assert tracking.history_months("1998-01-10", 2) == ["1997-12", "1998-01"]
    assert tracking.snapshot_path(tmp_path, "1998-06") == tmp_path / "snapshots" / "segments_1998-06.parquet"
    assert tracking.reports_dir_for(tmp_path / "_interactive") == tmp_path.resolve()
    with pytest.raises(ValueError):
        tracking.history_months("1998-06-30", 0)


def test_snapshot_matches_independent_groupby_on_truncated_data():
    tx = make_tx()
    s = tracking.build_snapshot(tx, "2023-09", assign=toy_assign)
    end = pd.Timestamp("2023-09-30")
    upto = tx[tx["order_date"] <= end]
    g = upto.groupby("customer_id")
    want = pd.DataFrame({
        "recency_days": (end - g["order_date"].max()).dt.days,
        "frequency": g["order_date"].nunique(),   # one order per customer-day (no order id)
        "monetary": g["amount"].sum(),
    })
    got = s.set_index("customer_id")
    assert set(got.index) == set(want.index)
    want = want.loc[got.index]
    assert (got["recency_days"].to_numpy() == want["recency_days"].to_numpy()).all()
    assert (got["frequency"].to_numpy() == want["frequency"].to_numpy()).all()
    np.testing.assert_allclose(got["monetary"], want["monetary"])
    sept = upto[upto["order_date"] >= "2023-09-01"].groupby("customer_id")["amount"].sum()
    np.testing.assert_allclose(got["month_spend"], sept.reindex(got.index).fillna(0.0))
    assert (got["month"] == "2023-09").all()
    assert list(s.columns) == tracking.SNAPSHOT_COLUMNS


def test_snapshots_are_stored_reused_and_rebuilt_when_stale(tmp_path):
    tx = make_tx(1)
    months = tracking.history_months("2024-03-31", 4)
    snaps, status = tracking.load_or_build_snapshots(tx, months, tmp_path, assign=toy_assign)
    assert set(status.values()) == {"computed"}
    for m in months:
        assert tracking.snapshot_path(tmp_path, m).exists()
    again, status = tracking.load_or_build_snapshots(tx, months, tmp_path, assign=toy_assign)
    assert set(status.values()) == {"stored"}
    for m in months:
        pd.testing.assert_frame_equal(again[m], snaps[m], check_dtype=False)
    # new data for an old month -> that month and later are rebuilt, earlier ones reused
    extra = pd.DataFrame({"customer_id": pd.Series(["99999"], dtype="string"),
                          "order_date": [pd.Timestamp("2024-01-15")], "amount": [5.0]})
    tx2 = pd.concat([tx, extra], ignore_index=True)
    _, status = tracking.load_or_build_snapshots(tx2, months, tmp_path, assign=toy_assign)
    assert status == {"2023-12": "stored", "2024-01": "computed", "2024-02": "computed",
                      "2024-03": "computed"}
    # other settings -> rebuilt; a deleted file is recomputed without earlier runs
    _, status = tracking.load_or_build_snapshots(tx2, months, tmp_path, window_days=90,
                                                 assign=toy_assign)
    assert set(status.values()) == {"computed"}
    tracking.snapshot_path(tmp_path, "2024-01").unlink()
    fresh, status = tracking.load_or_build_snapshots(tx2, months, tmp_path, window_days=90,
                                                     assign=toy_assign)
    assert status["2024-01"] == "computed" and status["2023-12"] == "stored"
    direct = tracking.build_snapshot(tx2, "2024-01", window_days=90, assign=toy_assign)
    pd.testing.assert_frame_equal(fresh["2024-01"], direct, check_dtype=False)


def test_current_month_uses_this_runs_table_and_analysis_date(tmp_path):
    tx = make_tx(2)
    from rfm_helpers.rfm import compute_rfm, score_quantiles

    current = toy_assign(score_quantiles(compute_rfm(tx, "2024-02-10")))
    snaps, status = tracking.load_or_build_snapshots(
        tx, ["2024-01", "2024-02"], tmp_path, current=current, current_as_of="2024-02-10",
        assign=toy_assign)
    assert status == {"2024-01": "computed", "2024-02": "this run"}
    assert (snaps["2024-02"]["as_of"] == pd.Timestamp("2024-02-10")).all()
    spend = tx[(tx["order_date"] >= "2024-02-01") & (tx["order_date"] <= "2024-02-10")]
    assert snaps["2024-02"]["month_spend"].sum() == pytest.approx(spend["amount"].sum())


def test_transition_matrix_against_counter():
    prev = snap({"a": "loyal", "b": "loyal", "c": "champions", "d": "lost"})
    curr = snap({"a": "at_risk", "b": "loyal", "c": "loyal", "d": "champions", "e": "loyal"})
    counts, shares = tracking.transition_matrix(prev, curr, order=SEGS[::-1])
    assert counts.loc["loyal", "at_risk"] == 1
    assert counts.loc["loyal", "loyal"] == 1
    assert counts.loc["champions", "loyal"] == 1
    assert counts.loc[tracking.NEW, "loyal"] == 1
    assert counts.to_numpy().sum() == 5
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.loc["loyal", "at_risk"] == pytest.approx(0.5)
    mv = tracking.movements(prev, curr, SEGS[::-1])
    # value order best first: champions > loyal > at_risk > hibernating > lost
    assert mv == {"up": 1, "down": 2, "same": 1, "new": 1}


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.sampled_from(SEGS), min_size=1),
       st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.sampled_from(SEGS), min_size=1))
def test_transitions_and_movements_properties(p, c):
    prev, curr = snap(p), snap(c)
    order = SEGS[::-1]
    counts, shares = tracking.transition_matrix(prev, curr, order=order)
    want = collections.Counter()
    for cid in set(p) | set(c):
        want[(p.get(cid, tracking.NEW), c.get(cid, "(gone)"))] += 1
    got = {(r, k): int(counts.loc[r, k]) for r in counts.index for k in counts.columns
           if counts.loc[r, k]}
    assert got == dict(want)
    nonzero = counts.sum(axis=1) > 0
    np.testing.assert_allclose(shares[nonzero].sum(axis=1), 1.0)
    mv = tracking.movements(prev, curr, order)
    both = set(p) & set(c)
    assert mv["up"] + mv["down"] + mv["same"] == len(both)
    assert mv["new"] == len(set(c) - set(p))
    assert mv["same"] == sum(p[i] == c[i] for i in both)
    assert mv["up"] == sum(order.index(c[i]) < order.index(p[i]) for i in both)


def test_value_order_by_average_rfm_score_and_churn_sets():
    s = snap({"a": "champions", "b": "lost", "c": "loyal", "d": "hibernating"})
    assert tracking.value_order([s]) == ["champions", "loyal", "hibernating", "lost"]
    classic = ["champions", "loyal", "potential_loyalist", "new", "promising", "need_attention",
               "about_to_sleep", "at_risk", "cant_lose", "hibernating", "lost"]
    assert tracking.churn_segments(classic) == ["about_to_sleep", "hibernating", "lost"]
    assert tracking.at_risk_segments(classic) == ["at_risk", "cant_lose"]


def test_key_flows_only_from_high_value_into_risk_or_churn():
    order = SEGS[::-1]  # champions, loyal, at_risk, hibernating, lost
    prev = snap({"a": "champions", "b": "champions", "c": "loyal", "d": "at_risk", "e": "loyal"},
                monetary={"a": 500, "b": 100, "c": 50, "d": 999, "e": 20})
    curr = snap({"a": "lost", "b": "at_risk", "c": "hibernating", "d": "lost", "e": "champions"})
    flows = tracking.key_flows(prev, curr, order)
    # d started in at_risk (not in the upper half) and e moved up: neither is listed
    assert list(zip(flows["from"], flows["to"])) == [("champions", "lost"), ("champions", "at_risk"),
                                                    ("loyal", "hibernating")]
    assert flows["value_at_stake"].tolist() == [500.0, 100.0, 50.0]
    assert flows["kind"].tolist() == ["churn", "at risk", "churn"]
    snaps = {"2024-01": prev, "2024-02": curr}
    ch = tracking.churn_flows(snaps)
    assert ch.iloc[0].to_dict() == {"month": "2024-02", "entered_churn": 3, "returned": 0, "in_churn": 3}
    h = tracking.headline(snaps, order)
    assert h["moved_down"] == 4 and h["moved_up"] == 1 and h["top_flow_customers"] == 1
    found = tracking.month_findings(snaps, order)
    assert [c for c, _ in found] == ["moves", "cooling", "churn", "flow", "flow", "flow"]
    assert found[0][1] == {"prev": "2024-01", "curr": "2024-02", "up": 1, "down": 4, "same": 0, "new": 0}
    assert found[3][1] == {"customers": 1, "from": "champions", "to": "lost", "kind": "churn", "value": 500.0}
    labels = {"champions": "Champions", "lost": "Lost", "loyal": "Loyal", "at_risk": "At risk",
              "hibernating": "Hibernating"}
    for lang, month in (("en", "February 2024"), ("ru", "февраль 2024")):
        rendered = [tpl.format(**v) for tpl, v in track_texts.month_sentences(translator(lang), found, labels)]
        assert any("<b>Champions</b>" in r and "<b>Lost</b>" in r for r in rendered)  # labels, not codes
        assert month in rendered[0]
    ru = [tpl.format(**v) for tpl, v in track_texts.month_sentences(translator("ru", "RUB"), found, labels)]
    assert "<b>1 клиент</b> перешёл" in ru[3] and "500 ₽" in ru[3].replace("\u00a0", " ")
    assert "<b>4 клиента</b>" in ru[0] and "<b>1 клиент</b>" in ru[0]


def test_history_tables_and_plots():
    tx = make_tx(3)
    snaps = {m: tracking.build_snapshot(tx, m, assign=toy_assign) for m in ["2023-10", "2023-11", "2023-12"]}
    hist = tracking.segment_history(snaps)
    for m, s in snaps.items():
        h = hist[hist["month"] == m]
        assert h["customers"].sum() == len(s)
        assert h["month_spend"].sum() == pytest.approx(s["month_spend"].sum())
        assert h["share"].sum() == pytest.approx(1.0)
    order = tracking.value_order(snaps.values())
    moves = tracking.movement_history(snaps, order)
    assert moves["month"].tolist() == ["2023-11", "2023-12"]
    counts, shares = tracking.transition_matrix(snaps["2023-11"], snaps["2023-12"], order)
    ru = translator("ru", "RUB")
    for fig in (plots_tracking.plot_transition_heatmap(counts, shares, ru, prev="2023-11", curr="2023-12"),
                plots_tracking.plot_segment_history(hist, order, ru),
                plots_tracking.plot_movements(moves, translator("en"), tracking.churn_flows(snaps))):
        assert fig.axes and fig.axes[0].get_title()
        matplotlib.pyplot.close(fig)


def test_real_segment_map_on_cdnow(tmp_path):
    segments = pytest.importorskip("rfm_helpers.segments")
    from rfm_helpers.load import bundled as datasets

    raw = datasets.read_cdnow_raw()
    tx = pd.DataFrame({"customer_id": raw["customer_id"],
                       "order_date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
                       "amount": raw["dollar_value"].astype(float)})
    snaps, _ = tracking.load_or_build_snapshots(tx, ["1998-05", "1998-06"], tmp_path)
    direct = segments.assign_segments(
        __import__("rfm_helpers.rfm", fromlist=["x"]).compute_scored_rfm(tx, "1998-06-30"))
    assert (snaps["1998-06"]["segment"].to_numpy() == direct["segment"].astype("string").to_numpy()).all()
    order = tracking.value_order(snaps.values())
    assert set(order) <= set(direct["segment"].astype(str))
    assert tracking.churn_segments(order)  # the classic map has churn segments
