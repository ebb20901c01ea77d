"""The loader's row rules run by the engine (rfm_helpers.load.engine_rules): the same kept rows,
reasons, customers and RFM as the file loader, on DuckDB and on Spark (issue 17 point 3).

The reference is :func:`load_transactions`, the file loader, given the same rows; typed
sources cannot have repeated headers, total lines or spreadsheet-mangled ids, every other
reason code is produced here (two layouts: item lines with returns and statuses, order
totals)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rfm_helpers import engine as E
from rfm_helpers.load import REASONS, bundled, load_transactions
from rfm_helpers.load.engine_rules import clean_in_engine
from rfm_helpers.rfm import compute_scored_rfm

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
AS_OF = "2024-06-30"
TYPED_ONLY = {"repeated_header", "total_row", "bad_customer_id"}  # text files only


def frame(rows, columns=("customer_id", "order_date", "amount", "order_id", "refund_of", "status", "channel")):
    df = pd.DataFrame(rows, columns=list(columns[:len(rows[0])]))
    df["customer_id"] = df["customer_id"].astype("string")
    df["order_date"] = pd.to_datetime(df["order_date"], format="ISO8601").astype("datetime64[us]")
    df["amount"] = df["amount"].astype("float64")
    for c in df.columns[3:]:
        df[c] = df[c].astype("string")
    return df


LINES = frame([
    ("c1", "2024-01-05 10:00", 10.00, "o1", None, "paid", "web"),
    ("c1", "2024-01-05 10:00", 10.00, "o1", None, "paid", "web"),       # duplicate
    ("c1", "2024-01-06 23:59", 0.1, "o1b", None, "Paid", "web"),
    ("c1", "2024-01-06 23:59", 0.2, "o1b", None, "paid", "web"),
    (None, "2024-01-05", 5.0, "o2", None, "paid", "web"),               # missing_customer_id
    ("  ", "2024-01-05", 5.0, "o2b", None, "paid", "web"),              # blank id: missing too
    ("c2", None, 5.0, "o3", None, "paid", "shop"),                      # bad_date
    ("c2", "2024-01-06", np.nan, "o4", None, "paid", "shop"),           # bad_amount
    ("c2", "2024-01-06", 12.5, "o4b", None, "delivered", "shop"),
    ("c3", "2024-07-01", 5.0, "o5", None, "paid", "web"),               # after_analysis_date (only row of c3's)
    ("c3", "2024-01-07", 7.0, "o6", None, "cancelled", "web"),          # excluded_status
    ("c4", "2024-01-08", 0.0, "o7", None, "paid", "web"),               # zero_amount
    ("c5", "2024-02-01", 30.0, "o8", None, "paid", "web"),
    ("c5", "2024-02-01", 3.33, "o8", None, "paid", "web"),
    ("c5", "2024-02-03", -10.0, None, "o8", "Returned", "web"),         # refund_netted (linked by refund_of)
    ("c6", "2024-02-01", 15.0, "o9", None, "paid", "web"),              # refunded_order
    ("c6", "2024-02-02", -15.0, "o9", None, "paid", "web"),             # refund_netted
    ("c7", "2024-02-01", -5.0, "o10", None, "paid", "web"),             # return_or_cancellation
    ("c8", "2024-03-01", 99.99, None, None, "paid", "shop"),
    ("c8", "2024-03-01", 99.99, None, None, "paid", "shop"),            # no order id: not a duplicate
])
# status 'Returned' on a refund row counts? it is a known cancellation: excluded_status first
ORDERS = frame([  # the 4th text column tells item rows apart (else they would be exact repeats)
    ("d1", "2024-03-01", 50.0, "t1", "a"), ("d1", "2024-03-01", 50.0, "t1", "b"),
    ("d1", "2024-03-01", 50.0, "t1", "c"),                                                    # repeated total
    ("d2", "2024-03-02", 40.0, "t2", "a"), ("d2", "2024-03-02", np.nan, "t2", "b"),
    ("d2", None, np.nan, "t2", "c"),                                                          # continuation
    ("d3", "2024-03-03", 30.0, "t3", "a"), ("d3", "2024-03-03", 35.0, "t3", "b"),             # conflict
    ("d4", "2024-03-04", 20.0, "t4", "a"), ("d5", "2024-03-05", 0.0, "t5", "a"),
    ("d6", "2024-03-06", 20.0, "t6", "a"), ("d6", "2024-03-06", 20.0, "t6", "a"),             # duplicate
], columns=("customer_id", "order_date", "amount", "order_id", "channel"))


def reference(df, level):
    spec = {"frame": df, "currency": "USD", "amounts": {"level": level}, "columns": {c: c for c in df.columns}}
    r = load_transactions(spec, AS_OF)
    lost_by_reason = r.quarantine["reason"].value_counts().to_dict()
    return r, {k: int(v) for k, v in lost_by_reason.items()}


def assert_same(got, ref, ref_counts, want_reasons):
    assert got.reasons == ref_counts
    assert set(got.reasons) == want_reasons
    assert (got.rows_in, got.rows_kept, got.rows_quarantined) == (ref.rows_in, ref.rows_kept, ref.rows_quarantined)
    assert got.customers == ref.clean["customer_id"].nunique()
    assert got.customers_lost == ref.customers_lost
    clean = got.clean.to_pandas(label="clean rows").sort_values(["customer_id", "order_date", "amount"])
    want = ref.clean.sort_values(["customer_id", "order_date", "amount"])
    assert clean["customer_id"].tolist() == want["customer_id"].tolist()
    assert clean["amount"].tolist() == want["amount"].tolist()
    assert (clean["order_date"].dt.date.tolist() == want["order_date"].dt.date.tolist())


LINE_REASONS = {"duplicate", "missing_customer_id", "bad_date", "bad_amount", "after_analysis_date",
                "excluded_status", "zero_amount", "refund_netted", "refunded_order", "return_or_cancellation"}
ORDER_REASONS = {"order_total_repeated", "order_continuation", "order_total_conflict", "zero_amount", "duplicate"}


def test_every_typed_reason_is_produced_somewhere():
    assert LINE_REASONS | ORDER_REASONS | TYPED_ONLY == set(REASONS)


@pytest.mark.parametrize("df, level, want", [(LINES, "line", LINE_REASONS), (ORDERS, "order", ORDER_REASONS)],
                         ids=["lines", "orders"])
def test_duckdb_engine_rules_equal_the_loader(df, level, want):
    ref, counts = reference(df, level)
    with E.open_engine("duckdb") as eng:
        got = clean_in_engine(eng, df, AS_OF, level=level)
        assert_same(got, ref, counts, want)


def test_cdnow_on_duckdb_equals_the_loader():
    ref = load_transactions(bundled.cdnow_source(), "1998-06-30")
    raw = bundled.read_cdnow_raw()
    df = pd.DataFrame({"customer_id": raw["customer_id"],
                       "order_date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
                       "amount": raw["dollar_value"].astype("float64")})
    with E.open_engine("duckdb") as eng:
        got = clean_in_engine(eng, df, "1998-06-30")
        assert (got.rows_in, got.rows_kept, got.reasons, got.customers, got.customers_lost) == \
            (ref.rows_in, ref.rows_kept, {"zero_amount": 80}, 23502, ref.customers_lost)
        scored = compute_scored_rfm(got.clean, "1998-06-30", engine=eng)
    pd.testing.assert_frame_equal(scored, compute_scored_rfm(ref.clean, "1998-06-30"))


def test_unknown_statuses_and_float_ids_are_refused():
    odd = LINES.assign(status=LINES["status"].replace("paid", "on hold"))
    with E.open_engine("duckdb") as eng, pytest.raises(ValueError, match=r"'on hold': \d+ rows.*statuses:"):
        clean_in_engine(eng, odd, AS_OF)
    with E.open_engine("duckdb") as eng, pytest.raises(ValueError, match="customer_id.*floating point"):
        clean_in_engine(eng, LINES.assign(customer_id=1.0), AS_OF)
