"""Definitions of recency / frequency / monetary and the quantile-score tie rule.

Hand-made cases pin the definitions; hypothesis checks the scoring invariants and compares
the SQL scores with an independent pandas formulation (``rank(method="min")``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfm_helpers.rfm import compute_rfm, compute_scored_rfm, parse_as_of, rfm_sql, score_quantiles, to_spark_sql


def tx(rows, **extra_cols):
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    df["customer_id"] = df["customer_id"].astype("string")
    df["order_date"] = pd.to_datetime(df["order_date"])
    for k, v in extra_cols.items():
        df[k] = v
    return df


AS_OF = "2024-12-31"


def by_id(frame):
    return frame.set_index("customer_id")


def test_recency_frequency_monetary_by_hand():
    t = tx([
        ("00042", "2024-12-31", 10.0),   # bought on the analysis date: recency 0
        ("00042", "2024-12-01", 5.0),
        ("7", "2024-01-01", 100.0),
        ("7", "2024-01-01", 50.0),       # same day, no order id: one order
        ("7", "2023-12-31", 1.0),
    ])
    r = by_id(compute_rfm(t, AS_OF))
    assert r.loc["00042", "recency_days"] == 0
    assert r.loc["00042", "frequency"] == 2
    assert r.loc["00042", "monetary"] == pytest.approx(15.0)
    assert r.loc["7", "recency_days"] == 365
    assert r.loc["7", "frequency"] == 2
    assert r.loc["7", "monetary"] == pytest.approx(151.0)
    assert r.loc["7", "tenure_days"] == 366
    assert r.loc["7", "first_purchase"] == pd.Timestamp("2023-12-31")
    # ids stay strings: 00042 is not 42
    assert set(r.index) == {"00042", "7"}


def test_order_id_counts_distinct_orders_even_on_one_day():
    t = tx([("a", "2024-06-01", 1.0), ("a", "2024-06-01", 2.0), ("a", "2024-06-01", 3.0)],
           order_id=["o1", "o2", "o2"])
    r = by_id(compute_rfm(t, AS_OF))
    assert r.loc["a", "frequency"] == 2
    assert r.loc["a", "monetary"] == pytest.approx(6.0)


def independent_rfm(t: pd.DataFrame, window_days: int | None, include_lapsed: bool = True,
                    by: list[str] = ()) -> pd.DataFrame:
    """The documented definitions, row by row in plain Python: an order is an ``order_id``
    (a row without one: its purchase day) or, without the column, a customer's purchase day;
    frequency counts the orders with at least one row in the window, monetary sums the rows in
    it (whole history: every row up to the analysis date)."""
    as_of = pd.Timestamp(AS_OF).date()
    start = as_of - pd.Timedelta(days=window_days) if window_days else None
    groups: dict = {}
    for row in t.itertuples(index=False):
        day = pd.Timestamp(row.order_date).date()
        if day > as_of:
            continue
        oid = getattr(row, "order_id", None)
        key = str(oid) if "order_id" in t.columns and not pd.isna(oid) else str(day)
        g = groups.setdefault((str(row.customer_id), *(str(getattr(row, b)) for b in by)),
                              {"days": [], "orders": set(), "money": 0})
        g["days"].append(day)
        if start is None or day > start:
            g["orders"].add(key)
            g["money"] += round(row.amount * 100)
    rows = []
    for key, g in groups.items():
        if not include_lapsed and start is not None and max(g["days"]) <= start:
            continue
        rows.append({"customer_id": key[0], **dict(zip(by, key[1:])), "recency_days": (as_of - max(g["days"])).days,
                     "frequency": len(g["orders"]), "monetary": g["money"] / 100,
                     "first_purchase": pd.Timestamp(min(g["days"])), "last_purchase": pd.Timestamp(max(g["days"])),
                     "tenure_days": (as_of - min(g["days"])).days})
    return pd.DataFrame(rows).sort_values(["customer_id", *by]).reset_index(drop=True)


@pytest.mark.parametrize("order_ids", [False, True])
@pytest.mark.parametrize("window_days,include_lapsed", [(None, True), (45, True), (45, False)])
@pytest.mark.parametrize("by_channel", [False, True])
def test_engine_rfm_equals_the_definitions_row_by_row(order_ids, window_days, include_lapsed, by_channel):
    """Orders spanning days and the window's first day, rows without an order id, several rows
    of one day, rows after the analysis date: the engine's two aggregations (per order, then
    per customer) against :func:`independent_rfm`."""
    rng = np.random.default_rng(7)
    n = 600
    days = pd.Timestamp("2024-10-01") + pd.to_timedelta(rng.integers(0, 100, n), unit="D")
    t = tx(list(zip([f"c{i}" for i in rng.integers(0, 40, n)], days, rng.choice([1.0, 2.5, 9.99, 40.0], n))),
           channel=rng.choice(["web", "shop"], n))
    if order_ids:
        oid = pd.Series([f"o{i}" for i in rng.integers(0, 150, n)], dtype="string")
        oid[rng.random(n) < 0.1] = pd.NA  # rows without an id: their day is the order
        t["order_id"] = oid
    by = ["channel"] if by_channel else []
    got = compute_rfm(t, AS_OF, window_days, by_channel=by_channel, include_lapsed=include_lapsed)
    got = got.sort_values(["customer_id", *by]).reset_index(drop=True)
    want = independent_rfm(t, window_days, include_lapsed, by)
    assert len(want) > 20 and (want["frequency"] > 1).any()
    pd.testing.assert_frame_equal(got[list(want.columns)], want, check_dtype=False)


def test_purchases_after_analysis_date_are_ignored():
    t = tx([("a", "2024-06-01", 1.0), ("a", "2025-01-01", 99.0), ("b", "2025-02-01", 5.0)])
    r = by_id(compute_rfm(t, AS_OF))
    assert list(r.index) == ["a"]
    assert r.loc["a", "monetary"] == pytest.approx(1.0)
    assert r.loc["a", "recency_days"] == (pd.Timestamp(AS_OF) - pd.Timestamp("2024-06-01")).days


def test_timestamps_count_by_calendar_day():
    t = tx([("a", "2024-12-31 23:59:00", 1.0), ("a", "2024-12-31 08:00:00", 1.0)])
    r = by_id(compute_rfm(t, AS_OF))
    assert r.loc["a", "recency_days"] == 0
    assert r.loc["a", "frequency"] == 1


def test_window_keeps_lapsed_customers_with_zero_frequency():
    t = tx([("active", "2024-12-01", 10.0), ("active", "2023-01-01", 1000.0),
            ("lapsed", "2023-06-01", 20.0)])
    r = by_id(compute_rfm(t, AS_OF, window_days=90))
    assert r.loc["active", "frequency"] == 1
    assert r.loc["active", "monetary"] == pytest.approx(10.0)
    assert r.loc["lapsed", "frequency"] == 0
    assert r.loc["lapsed", "monetary"] == 0.0
    # recency uses the whole history
    assert r.loc["lapsed", "recency_days"] == (pd.Timestamp(AS_OF) - pd.Timestamp("2023-06-01")).days
    only_active = compute_rfm(t, AS_OF, window_days=90, include_lapsed=False)
    assert list(only_active["customer_id"]) == ["active"]


def test_window_boundary_is_exclusive_of_start_inclusive_of_as_of():
    # window 10 days as of 2024-12-31 covers 2024-12-22 .. 2024-12-31
    t = tx([("a", "2024-12-21", 1.0), ("a", "2024-12-22", 2.0), ("a", "2024-12-31", 4.0)])
    r = by_id(compute_rfm(t, AS_OF, window_days=10))
    assert r.loc["a", "monetary"] == pytest.approx(6.0)
    assert r.loc["a", "frequency"] == 2


def test_by_channel_rows_per_customer_and_channel():
    t = tx([("a", "2024-12-01", 10.0), ("a", "2024-11-01", 5.0), ("a", "2024-10-01", 7.0)],
           channel=["web", "shop", "web"])
    r = compute_rfm(t, AS_OF, by_channel=True).set_index(["customer_id", "channel"])
    assert r.loc[("a", "web"), "frequency"] == 2
    assert r.loc[("a", "web"), "monetary"] == pytest.approx(17.0)
    assert r.loc[("a", "shop"), "recency_days"] == 60


def test_clear_errors():
    with pytest.raises(KeyError, match="amount"):
        compute_rfm(pd.DataFrame({"customer_id": ["a"], "order_date": [pd.Timestamp("2024-01-01")]}), AS_OF)
    with pytest.raises(ValueError, match="window_days"):
        compute_rfm(tx([("a", "2024-01-01", 1.0)]), AS_OF, window_days=0)
    with pytest.raises(ValueError, match="analysis date"):
        parse_as_of("")
    with pytest.raises(ValueError, match="engine"):
        compute_rfm(tx([("a", "2024-01-01", 1.0)]), AS_OF, engine="pandas")


def test_files_are_aggregated_in_place(tmp_path):
    t = tx([("00001", "2024-12-01", 10.0), ("00001", "2024-11-01", 5.0), ("00002", "2024-10-01", 7.5)])
    pq = tmp_path / "t.parquet"
    t.to_parquet(pq)
    csv = tmp_path / "t.csv"
    t.to_csv(csv, index=False)
    expected = compute_rfm(t, AS_OF)
    pd.testing.assert_frame_equal(compute_rfm(str(pq), AS_OF), expected)
    pd.testing.assert_frame_equal(compute_rfm(csv, AS_OF), expected)


def test_spark_translation_keeps_one_definition():
    sql = rfm_sql("v", AS_OF, 30)
    spark_sql = to_spark_sql(sql)
    assert "DATE_DIFF('day'" in sql
    assert "DATE_DIFF('day'" not in spark_sql  # translated, not copied by hand
    # two plain aggregations (per customer and order, then per customer) instead of a
    # COUNT(DISTINCT), which Spark would expand into the same two stages
    assert spark_sql.upper().count("GROUP BY") == 2
    assert "DISTINCT" not in spark_sql.upper()
    # calendar days, not a timestamp difference in the session's time zone
    assert "DATEDIFF(CAST('2024-12-31' AS DATE), MAX(last_day))" in spark_sql


def test_one_statement_sql_equals_the_engine_path():
    """scored_rfm_sql (one statement, for users running SQL themselves) and the engines'
    two-step path (aggregate materialised, then scored) give the same table."""
    import duckdb

    from rfm_helpers.rfm import scored_rfm_sql, tidy_rfm

    t = tx([(f"c{i % 37}", f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", round(1 + (i * 7.31) % 90, 2))
            for i in range(400)], channel=["web", "shop"] * 200)
    con = duckdb.connect()
    con.register("t", t)
    for by_channel in (False, True):
        one = con.sql(scored_rfm_sql("t", AS_OF, 120, by=["channel"] if by_channel else [])).df()
        pd.testing.assert_frame_equal(tidy_rfm(one, ["channel"] if by_channel else []),
                                      compute_scored_rfm(t, AS_OF, 120, by_channel=by_channel))


# --- quantile scores ---------------------------------------------------------------

def independent_scores(values: pd.Series, n: int, higher_is_better: bool) -> pd.Series:
    """The documented tie rule written independently with pandas ranks."""
    v = values if higher_is_better else -values
    worse = v.rank(method="min") - 1  # customers with a strictly worse value
    return np.minimum(n, 1 + np.floor(n * worse / len(v))).astype("int64")


def rfm_frame(rec, freq, mon):
    return pd.DataFrame({
        "customer_id": pd.array([f"c{i:05d}" for i in range(len(rec))], dtype="string"),
        "recency_days": np.asarray(rec, dtype="int64"),
        "frequency": np.asarray(freq, dtype="int64"),
        "monetary": np.asarray(mon, dtype="float64"),
    })


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 6),
                          st.floats(0, 1e4, allow_nan=False).map(lambda x: round(x, 2))),
                min_size=1, max_size=120),
       st.sampled_from([3, 4, 5, 10]))
def test_scores_match_independent_rule_and_invariants(rows, n):
    rec, freq, mon = zip(*rows)
    frame = rfm_frame(rec, freq, mon)
    s = score_quantiles(frame, n)
    assert len(s) == len(frame)
    for col, val, better in [("r_score", "recency_days", False), ("f_score", "frequency", True),
                             ("m_score", "monetary", True)]:
        assert s[col].between(1, n).all()
        # identical values share a score
        assert (s.groupby(val)[col].nunique() == 1).all()
        # monotone: a better value never has a lower score
        ordered = s.sort_values(val, ascending=better)[col].to_numpy()
        assert (np.diff(ordered) >= 0).all()
        # the worst value scores 1
        worst = s[val].min() if better else s[val].max()
        assert (s.loc[s[val] == worst, col] == 1).all()
        # same result as the rule written independently
        expected = independent_scores(s[val], n, better)
        np.testing.assert_array_equal(s[col].to_numpy(), expected.to_numpy())
    assert (s["rfm_score"] == s["r_score"] + s["f_score"] + s["m_score"]).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40))
def test_distinct_values_fill_bands_evenly(k):
    n = 5
    size = n * k
    frame = rfm_frame(np.arange(size)[::-1], np.arange(size), np.arange(size) * 1.5)
    s = score_quantiles(frame, n)
    for col in ("r_score", "f_score", "m_score"):
        assert (s[col].value_counts().reindex(range(1, n + 1)) == k).all()


def test_heavy_ties_frequency_mostly_one():
    # 60% one-order customers (as in CDNOW): all of them score 1, nobody is split by row order
    freq = [1] * 60 + [2] * 20 + [3] * 10 + [5] * 10
    frame = rfm_frame(range(100), freq, np.linspace(1, 100, 100))
    s = score_quantiles(frame)
    assert (s.loc[s.frequency == 1, "f_score"] == 1).all()
    assert (s.loc[s.frequency == 2, "f_score"] == 4).all()  # 60% strictly below -> 1 + floor(3.0)
    assert (s.loc[s.frequency == 3, "f_score"] == 5).all()  # 80% strictly below
    shuffled = score_quantiles(frame.sample(frac=1, random_state=1))
    pd.testing.assert_frame_equal(shuffled.sort_values("customer_id").reset_index(drop=True),
                                  s.sort_values("customer_id").reset_index(drop=True))


def test_everyone_equal_scores_one():
    s = score_quantiles(rfm_frame([10] * 7, [1] * 7, [5.0] * 7))
    assert (s[["r_score", "f_score", "m_score"]] == 1).all().all()


def test_scores_per_channel_are_ranked_within_channel():
    frame = rfm_frame([1, 2, 3, 4], [1, 2, 10, 20], [1, 2, 3, 4])
    frame["channel"] = pd.array(["web", "web", "shop", "shop"], dtype="string")
    s = score_quantiles(frame, 2, by=["channel"])
    assert s.groupby("channel")["f_score"].apply(sorted).to_dict() == {"web": [1, 2], "shop": [1, 2]}


def test_empty_table_scores_to_empty():
    s = score_quantiles(rfm_frame([], [], []))
    assert s.empty and {"r_score", "rfm_cell"} <= set(s.columns)
