"""The customer value summary (rfm_helpers.value.features) and the data-sufficiency rules.

The summary is checked against lifetimes' ``summary_data_from_transaction_data`` (an
independent implementation of the same definitions) on the bundled CDNOW data, and on
hand-made nasty inputs: several orders a day, returns, zero amounts, customers with only
returns, a first purchase on the analysis date, rows after the analysis date.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from rfm_helpers.load import bundled as datasets
from rfm_helpers.load import load_transactions
from rfm_helpers.value import features
from rfm_helpers.value.backtest import DECILE_SQL, decile_table, verdict
from rfm_helpers.value.segments import (MIN_CUSTOMERS, MIN_HISTORY_DAYS, MIN_REPEAT_CUSTOMERS, SLIPPING_DROP,
                                        SLIPPING_TOP_SHARE, UNASSIGNED, p_alive_histogram, slipping_sql,
                                        slipping_threshold_sql, sufficiency, value_by_group)
from rfm_helpers.value.store import ValueStore

AS_OF = "1998-06-30"


@pytest.fixture(scope="module")
def cdnow_tx():
    return load_transactions(datasets.cdnow_source()).clean


def test_summary_equals_lifetimes_on_cdnow(cdnow_tx):
    from lifetimes.utils import summary_data_from_transaction_data

    ours = features.compute_value_summary(cdnow_tx, AS_OF).set_index("customer_id")
    ref = summary_data_from_transaction_data(cdnow_tx, "customer_id", "order_date", "amount",
                                             observation_period_end=AS_OF, freq="D")
    ref.index = ref.index.astype(str)
    assert sorted(ref.index) == list(ours.index)
    ref = ref.reindex(ours.index)
    for col in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(ours[col].to_numpy(dtype=float), ref[col].to_numpy(dtype=float), err_msg=col)
    np.testing.assert_allclose(ours["monetary_value"], ref["monetary_value"], rtol=1e-12, atol=1e-9)


def _tx(rows):
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"]).assign(
        order_date=lambda d: pd.to_datetime(d["order_date"]))


def test_day_rule_returns_zero_amounts_and_boundaries():
    tx = _tx([
        ("a", "2024-01-01", 10.0), ("a", "2024-01-01", 5.0),      # two orders, one purchase day
        ("a", "2024-01-10", 20.0), ("a", "2024-01-10", -20.0),    # a day that nets to 0: not a purchase
        ("a", "2024-02-01", 30.0),
        ("a", "2024-03-05", 99.0),                                 # after as_of: ignored
        ("b", "2024-01-05", -5.0),                                 # only a return: left out, counted
        ("c", "2024-02-29", 7.0),                                  # first purchase on the analysis date
        ("d", "2024-01-02", 0.0), ("d", "2024-01-03", 12.0), ("d", "2024-01-04", 8.0),
    ])
    s = features.compute_value_summary(tx, "2024-02-29").set_index("customer_id")
    assert list(s.index) == ["a", "c", "d"]
    a = s.loc["a"]
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (1, 31.0, 59.0, 30.0)
    assert a["nonpositive_days"] == 1 and a["purchase_days"] == 2
    c = s.loc["c"]
    assert (c["frequency"], c["recency"], c["T"], c["monetary_value"]) == (0, 0.0, 0.0, 0.0)
    d = s.loc["d"]  # the zero day before the first purchase does not start the customer's clock
    assert (d["frequency"], d["recency"], d["T"], d["monetary_value"]) == (1, 1.0, 57.0, 8.0)
    assert s.attrs["customers_without_purchase_day"] == 1
    assert s.attrs["nonpositive_days"] == 2


def test_ids_keep_leading_zeros_and_holdout_counts_days():
    tx = _tx([("007", "2024-01-01", 1.0), ("7", "2024-01-01", 2.0), ("007", "2024-01-03", 3.0),
              ("007", "2024-01-03", 4.0), ("007", "2024-01-04", -1.0)])
    s = features.compute_value_summary(tx, "2024-01-31")
    assert list(s["customer_id"]) == ["007", "7"]
    h = features.compute_holdout(tx, "2024-01-01", "2024-01-31").set_index("customer_id")
    assert h.loc["007", "purchases"] == 1 and h.loc["007", "spend"] == 7.0
    with pytest.raises(ValueError, match="after its start"):
        features.compute_holdout(tx, "2024-01-31", "2024-01-31")


def test_missing_columns_are_named():
    with pytest.raises(KeyError, match="amount"):
        features.compute_value_summary(pd.DataFrame({"customer_id": ["a"], "order_date": ["2024-01-01"]}),
                                       "2024-01-31")


def _summary(n, repeat, days):
    first = pd.Timestamp("2024-06-30") - pd.Timedelta(days=days)
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                         "frequency": [1 if i < repeat else 0 for i in range(n)],
                         "recency": 1.0, "T": float(days), "monetary_value": [10.0 if i < repeat else 0 for i in range(n)],
                         "first_purchase": first})


def test_sufficiency_thresholds():
    ok = sufficiency(_summary(1000, 400, 400), "2024-06-30", backtest_summary=_summary(900, 300, 310))
    assert ok.can_model and ok.can_spend and ok.can_backtest and ok.problems == []
    short = sufficiency(_summary(1000, 400, MIN_HISTORY_DAYS - 1), "2024-06-30")
    assert not short.can_model and short.problems[0][0] == "short_history"
    few = sufficiency(_summary(MIN_CUSTOMERS - 1, MIN_REPEAT_CUSTOMERS - 1, 400), "2024-06-30")
    assert not few.can_model and [c for c, _ in few.problems] == ["few_customers", "few_repeat_customers"]
    no_bt = sufficiency(_summary(1000, 400, 200), "2024-06-30", backtest_summary=_summary(900, 300, 110))
    assert no_bt.can_model and not no_bt.can_backtest
    assert no_bt.problems == [("short_history_for_backtest", {"days": 200, "min_days": MIN_HISTORY_DAYS + 90})]
    spendless = _summary(1000, 400, 400).assign(monetary_value=0.0)
    s = sufficiency(spendless, "2024-06-30", backtest_summary=_summary(900, 300, 310))
    assert s.can_model and not s.can_spend and s.problems[0][0] == "few_spend_customers"


def test_decile_table_splits_ties_deterministically_and_verdicts():
    frame = pd.DataFrame({"customer_id": [f"{i:03d}" for i in range(20)], "predicted": [0.1] * 10 + list(range(10)),
                          "actual": 1.0, "baseline": 0.0, "predicted_revenue": 1.0, "baseline_revenue": 0.0,
                          "actual_revenue": 1.0})
    d = decile_table(frame.sample(frac=1, random_state=3))
    assert list(d["customers"]) == [2] * 10 and list(d["decile"]) == list(range(1, 11))
    assert d["predicted"].is_monotonic_increasing
    assert d.equals(decile_table(frame))
    base = {"model_mae": 1.0, "baseline_mae": 2.0, "model_total_error": 0.1, "baseline_total_error": -0.3}
    assert verdict(base) == "model_better"
    assert verdict({**base, "model_mae": 3.0}) == "mixed"
    assert verdict({**base, "model_mae": 3.0, "model_total_error": -0.5}) == "baseline_better"


def test_value_by_group_shares_order_and_customers_no_group_covers():
    v = pd.DataFrame({"customer_id": list("abcde"), "expected_purchases_90d": [1.0, 2, 3, 4, 5],
                      "expected_revenue_90d": [10.0, 20, 30, 40, 50], "expected_revenue_90d_low": [9.0, 18, 27, 36, 45],
                      "expected_revenue_90d_high": [11.0, 22, 33, 44, 55], "clv": [1.0, 1, 1, 1, 1], "clv_low": 0.5,
                      "clv_high": 2.0, "p_alive": [1.0, 0.5, 0.5, 0.0, 1.0], "value_at_risk": [0.0, 1, 2, 3, 4],
                      "slipping": [False, True, False, True, False]})
    groups = pd.Series(["x", "y", "y", "z", "w"], index=list("abcd") + ["not-a-customer"])  # "e" has no group
    t = value_by_group(v, groups, order=["z", "y"])
    assert list(t["group"]) == ["z", "y", "x", UNASSIGNED]
    assert t["revenue_share"].sum() == pytest.approx(1.0) and t["customers"].sum() == len(v)
    y = t.set_index("group").loc["y"]
    assert (y["customers"], y["expected_revenue"], y["expected_revenue_low"], y["slipping"]) == (2, 50.0, 45.0, 1)
    assert t.set_index("group").loc["z", "mean_p_alive"] == 0.0
    assert t.set_index("group").loc[UNASSIGNED, "expected_revenue"] == 50.0


def test_several_groupings_in_one_join_equal_one_join_each():
    import duckdb

    from rfm_helpers.value.segments import value_by_groups

    rng = np.random.default_rng(4)
    n = 400
    v = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "expected_purchases_90d": rng.uniform(0, 3, n),
                      "expected_revenue_90d": rng.uniform(0, 90, n), "expected_revenue_90d_low": rng.uniform(0, 50, n),
                      "expected_revenue_90d_high": rng.uniform(90, 200, n), "clv": rng.uniform(0, 500, n),
                      "clv_low": rng.uniform(0, 100, n), "clv_high": rng.uniform(500, 900, n),
                      "p_alive": rng.uniform(0, 1, n), "value_at_risk": rng.uniform(0, 40, n),
                      "slipping": rng.random(n) < 0.2})
    # customers the file does not hold, keys that are NULL in one grouping only, a key shared by both
    ids = [f"c{i}" for i in range(0, n - 30)] + ["not-a-customer"]
    g = pd.DataFrame({"customer_id": ids, "segment": rng.choice(["a", "b", "x", None], len(ids)),
                      "cluster": rng.choice(["x", "k1", "k2"], len(ids))})
    con = duckdb.connect()
    con.register("v", v)
    con.register("g", g)
    both = value_by_groups("v", "g", {"segment": "segment", "cluster": "cluster"},
                           orders={"segment": ["b", "a"]}, con=con)
    assert list(both) == ["segment", "cluster"]
    for name, order in (("segment", ["b", "a"]), ("cluster", None)):
        con.execute(f"CREATE OR REPLACE VIEW one AS SELECT customer_id, {name} AS grp FROM g")
        pd.testing.assert_frame_equal(both[name], value_by_group("v", "one", order=order, con=con), rtol=1e-12)
    assert UNASSIGNED in set(both["segment"]["group"]) and both["cluster"]["customers"].sum() == n
    pd.testing.assert_frame_equal(value_by_groups("v", "g", {"cluster": "cluster"}, con=con)["cluster"],
                                  both["cluster"], rtol=1e-12)
    twice = value_by_groups("v", "g", {"s1": "segment", "c": "cluster", "s2": "segment"}, con=con)
    pd.testing.assert_frame_equal(twice["s1"], twice["s2"])
    pd.testing.assert_frame_equal(twice["c"], both["cluster"], rtol=1e-12)


def test_headline_histogram_and_slipping_rule_match_a_pandas_reference():
    rng = np.random.default_rng(1)
    n = 501
    v = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "p_alive": rng.uniform(0, 1, n),
                      "clv": np.round(rng.gamma(1, 50, n), 0),  # rounded: ties at the threshold
                      "p_alive_change": rng.uniform(-0.5, 0.2, n), "one_time_buyer": rng.random(n) < 0.4})
    v.loc[v.index[:3], "p_alive"] = [0.0, 1.0, 0.05]
    con = duckdb.connect()
    con.register("v", v)
    threshold = con.execute(slipping_threshold_sql("v", n)).fetchone()[0]
    got = con.execute(f"SELECT customer_id FROM v WHERE {slipping_sql(threshold)} ORDER BY customer_id").df()
    top = v["clv"].rank(ascending=False, method="min") <= max(1, SLIPPING_TOP_SHARE * n)  # the rule in words
    want = v[top & (v["p_alive"] >= 0.5) & (v["p_alive_change"] <= -SLIPPING_DROP)]["customer_id"].sort_values()
    assert list(got["customer_id"]) == list(want) and len(want) > 5
    bands = p_alive_histogram(v.assign(p_alive=v["p_alive"]))
    counts, _ = np.histogram(v.loc[~v["one_time_buyer"], "p_alive"], bins=np.linspace(0, 1, 21))
    assert list(bands["repeat_customers"]) == list(counts) and bands["one_time_buyers"].sum() == v["one_time_buyer"].sum()
    assert slipping_sql(None) == "FALSE"


def _scored(frame, con):
    con.register("scores", frame)
    return "scores"


def test_decile_sql_equals_the_pandas_decile_table():
    rng = np.random.default_rng(2)
    n = 1003
    frame = pd.DataFrame({"customer_id": [f"{i:05d}" for i in rng.permutation(n)],
                          "predicted": np.round(rng.gamma(0.5, 0.4, n), 2),  # ties split by customer id
                          "actual": rng.poisson(0.3, n).astype(float), "baseline": rng.poisson(0.3, n).astype(float)})
    for c in ("predicted", "actual", "baseline"):
        frame[f"{c}_revenue"] = frame[c] * 31.5
    con = duckdb.connect()
    con.register("value_base", frame.rename(columns={"actual": "holdout_purchases", "actual_revenue": "holdout_spend",
                                                     "baseline": "baseline_purchases",
                                                     "baseline_revenue": "baseline_spend"}))
    raw = con.execute(DECILE_SQL.format(scores=_scored(frame[["customer_id", "predicted", "predicted_revenue"]], con))).df()
    want = decile_table(frame)
    pd.testing.assert_frame_equal(raw[want.columns].reset_index(drop=True), want, check_dtype=False, rtol=1e-12)


def test_base_sql_equals_the_separate_summaries_and_holdouts(cdnow_tx):
    """One pass over the transactions gives what the separate queries give: the summary now, at
    the end of last month and at the backtest's cut-off, and the purchases after and before it."""
    with ValueStore(cdnow_tx, AS_OF, holdout_days=90) as store:
        base = store.con.execute("SELECT * FROM value_base").df().set_index("customer_id")
        cal = store.sample(None, calibration=True).set_index("customer_id")
        stats = store.stats()
    cuts = {"": AS_OF, "last_": "1998-05-31", "cal_": "1998-04-01"}
    for prefix, date in cuts.items():
        ref = features.compute_value_summary(cdnow_tx, date).set_index("customer_id")
        got = base[base[f"{prefix}frequency"].notna()]
        assert sorted(got.index) == sorted(ref.index), prefix
        for col in ("frequency", "recency", "T") + (("monetary_value",) if prefix != "last_" else ()):
            np.testing.assert_allclose(got[f"{prefix}{col}"].reindex(ref.index).to_numpy(dtype=float),
                                       ref[col].to_numpy(dtype=float), rtol=1e-12, err_msg=prefix + col)
    assert sorted(cal.index) == sorted(base.index[base["cal_frequency"].notna()])
    for name, start, end in (("holdout", "1998-04-01", AS_OF), ("baseline", "1998-01-01", "1998-04-01")):
        ref = features.compute_holdout(cdnow_tx, start, end).set_index("customer_id")
        got = base[[f"{name}_purchases", f"{name}_spend"]].reindex(ref.index)
        np.testing.assert_array_equal(got[f"{name}_purchases"].to_numpy(), ref["purchases"].to_numpy())
        np.testing.assert_allclose(got[f"{name}_spend"].to_numpy(), ref["spend"].to_numpy(), rtol=1e-12)
        assert (base.drop(ref.index)[f"{name}_purchases"] == 0).all()
    summary = features.compute_value_summary(cdnow_tx, AS_OF)
    assert stats["customers"] == len(summary) and stats["one_time_buyers"] == int((summary["frequency"] == 0).sum())


def test_base_sql_on_nasty_rows_and_a_parquet_source(tmp_path):
    tx = _tx([
        ("a", "2024-01-01", 10.0), ("a", "2024-01-01", 5.0), ("a", "2024-01-10", 20.0), ("a", "2024-01-10", -20.0),
        ("a", "2024-02-01", 30.0), ("a", "2024-03-05", 99.0), ("b", "2024-01-05", -5.0), ("c", "2024-02-29", 7.0),
        ("d", "2024-01-02", 0.0), ("d", "2024-01-03", 12.0), ("d", "2024-01-04", 8.0),
    ])
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    for source in (tx, str(path)):
        with ValueStore(source, "2024-02-29", holdout_days=30) as store:
            base = store.con.execute("SELECT * FROM value_base ORDER BY customer_id").df().set_index("customer_id")
            stats = store.stats()
        ref = features.compute_value_summary(tx, "2024-02-29").set_index("customer_id")
        assert list(base.index[base["has_purchase"]]) == list(ref.index) and not base.loc["b", "has_purchase"]
        assert stats["customers_without_purchase_day"] == 1 and stats["nonpositive_days"] == 2
        # last month ends 2024-01-31: "c" had not bought yet, "a" had one purchase day
        assert pd.isna(base.loc["c", "last_frequency"]) and base.loc["a", "last_frequency"] == 0
        # cut-off 2024-01-30: "a" bought on 02-01 (holdout), "d" before it (baseline: 2023-12-31 .. 01-30)
        assert base.loc["a", "holdout_purchases"] == 1 and base.loc["a", "holdout_spend"] == 30.0
        assert base.loc["d", "baseline_purchases"] == 2 and base.loc["c", "holdout_purchases"] == 1
    with pytest.raises(TypeError, match="Parquet"):
        ValueStore(str(tmp_path / "tx.csv"), "2024-02-29")
