"""The customer value summary (rfm_helpers.value.features) and the data-sufficiency rules.

The summary is checked against lifetimes' ``summary_data_from_transaction_data`` (an
independent implementation of the same definitions) on the bundled CDNOW data, and on
hand-made nasty inputs: several orders a day, returns, zero amounts, customers with only
returns, a first purchase on the analysis date, rows after the analysis date.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.load import bundled as datasets
from rfm_helpers.load import load_transactions
from rfm_helpers.value import features
from rfm_helpers.value.backtest import decile_table, verdict
from rfm_helpers.value.segments import (MIN_CUSTOMERS, MIN_HISTORY_DAYS, MIN_REPEAT_CUSTOMERS, sufficiency,
                                        value_by_group)

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


def test_value_by_group_shares_and_order():
    v = pd.DataFrame({"customer_id": list("abcd"), "expected_purchases_90d": [1.0, 2, 3, 4],
                      "expected_revenue_90d": [10.0, 20, 30, 40], "expected_revenue_90d_low": [9.0, 18, 27, 36],
                      "expected_revenue_90d_high": [11.0, 22, 33, 44], "clv": [1.0, 1, 1, 1], "clv_low": 0.5,
                      "clv_high": 2.0, "p_alive": [1.0, 0.5, 0.5, 0.0], "value_at_risk": [0.0, 1, 2, 3],
                      "slipping": [False, True, False, True]})
    t = value_by_group(v, pd.Series(["x", "y", "y", "z"]), order=["z", "y"])
    assert list(t["group"]) == ["z", "y", "x"]
    assert t["revenue_share"].sum() == pytest.approx(1.0)
    y = t.set_index("group").loc["y"]
    assert (y["customers"], y["expected_revenue"], y["expected_revenue_low"], y["slipping"]) == (2, 50.0, 45.0, 1)
    assert t.set_index("group").loc["z", "mean_p_alive"] == 0.0
