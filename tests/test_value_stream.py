"""Notebook 06 at scale (issue 12): the per-customer values stay in files and the engine.

* the customer summary does not depend on the order the engine adds rows in (exact sums), so
  the same data give the same figures, cents and row order in every run;
* ``keep_values`` as a path writes the call list's input as Parquet (the same rows as the Arrow
  table of the in-memory path), and the call list read from that file is byte for byte the list
  read from the Arrow table;
* ``groups`` as a function (the engine groups built while the models are fitted) gives the same
  tables as the groups passed ready-made, and the export written beside the backtest is the same
  file.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rfm_helpers import act
from rfm_helpers.engine import DuckDBEngine
from rfm_helpers.rfm import scored_rfm_relation
from rfm_helpers.value import analysis
from rfm_helpers.value.features import compute_value_summary
from rfm_helpers.value.groups import engine_groups
from rfm_helpers.value.store import ValueStore

from test_exports import writer
from value_sim import simulate_transactions

AS_OF = "2024-06-30"


def test_summary_sums_do_not_depend_on_row_order():
    """0.1 + 0.2 + 0.3 and 0.3 + 0.2 + 0.1 are different doubles; the summary must not care
    in which order the rows come (DuckDB's threads add them in no fixed order)."""
    days = ["2024-01-05", "2024-02-01", "2024-02-01", "2024-02-01", "2024-03-01", "2024-03-01", "2024-03-01",
            "2024-04-10"]
    amounts = [5.0, 0.1, 0.2, 0.3, 0.7, 0.15, 1e-6, 2.25]
    tx = pd.DataFrame({"customer_id": "c", "order_date": pd.to_datetime(days), "amount": amounts})
    tx = pd.concat([tx, tx.assign(customer_id="d", amount=[a * 3 for a in amounts])], ignore_index=True)
    frames = [tx, tx.iloc[::-1].reset_index(drop=True), tx.sample(frac=1, random_state=3).reset_index(drop=True)]
    summaries = [compute_value_summary(f, AS_OF).set_index("customer_id") for f in frames]
    bases = []
    for f in frames:
        with ValueStore(f, AS_OF, holdout_days=30) as st:
            bases.append(st.con.execute("SELECT * FROM value_base ORDER BY customer_id").df())
    for other in summaries[1:]:
        pd.testing.assert_frame_equal(summaries[0], other, check_exact=True)
    for other in bases[1:]:
        pd.testing.assert_frame_equal(bases[0], other, check_exact=True)
    # and the figure is the exact one: repeat days 0.6, 0.850001 and 2.25
    exact = (Decimal("0.1") + Decimal("0.2") + Decimal("0.3") + Decimal("0.7") + Decimal("0.15") + Decimal("0.000001")
             + Decimal("2.25")) / 3
    assert summaries[0].loc["c", "monetary_value"] == pytest.approx(float(exact), rel=1e-15, abs=0)
    assert bases[0].set_index("customer_id").loc["c", "monetary_value"] == pytest.approx(float(exact), rel=1e-15, abs=0)


@pytest.fixture(scope="module")
def tx():
    out = simulate_transactions(3000, seed=7, end=AS_OF)
    out["amount"] = out["amount"].round(2)
    return out


def test_values_file_groups_in_the_background_and_the_call_list_from_the_file(tx, tmp_path):
    eng = DuckDBEngine()
    try:
        table = eng.materialize(scored_rfm_relation(tx, AS_OF, None, engine=eng, order=True), "rfm_scored")
        args = dict(transaction_model="mbgnbd", fit_customers=1500, random_seed=0, backtest_customers=2000)
        # the in-memory path: groups ready-made, values as an Arrow table
        eg = engine_groups(eng, table, tmp_path / "a", sample_size=1000)
        va_mem = analysis.analyse_value(tx, AS_OF, groups=eg.groups, group_order=eg.group_order,
                                        export=writer(tmp_path / "a"), keep_values=True, **args)
        # the notebook's path: groups built while the models are fitted, values written as Parquet
        calls: list[int] = []

        def later():
            calls.append(1)
            return engine_groups(eng, table, tmp_path / "b", sample_size=1000)

        path = tmp_path / "cache" / "value_customers.parquet"
        va = analysis.analyse_value(tx, AS_OF, groups=later, export=writer(tmp_path / "b"), keep_values=path, **args)
        assert calls == [1] and va.grouping is not None and va.values == path and path.exists()
        assert not list(path.parent.glob(".*part"))
        # (sums over customers: DuckDB adds them in no fixed order, the last bits may differ)
        for name in ("segment", "cluster"):
            pd.testing.assert_frame_equal(va.groups[name], va_mem.groups[name], rtol=1e-12)
        assert list(va.groups["segment"]["group"])[:3] == eg.group_order["segment"][:3]
        assert va.headline == pytest.approx(va_mem.headline, rel=1e-12)
        pd.testing.assert_frame_equal(va.backtest.deciles, va_mem.backtest.deciles, rtol=1e-12)
        # the same rows as the Arrow table, and the same export file, byte for byte
        kept = pq.read_table(path).to_pandas().sort_values("customer_id").reset_index(drop=True)
        mem = va_mem.values.to_pandas().sort_values("customer_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, mem, check_exact=True)
        name = va.export.file
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert va.export.rows == va.stats["customers"] == len(kept)
        # the call list from the file equals the call list from the Arrow table
        out = {}
        for key, value in (("arrow", va_mem.values), ("file", path)):
            ex = writer(tmp_path / f"calls_{key}")
            out[key] = act.write_call_list(ex, va.grouping.assigned, "classic", max_rows=200, value=value,
                                           rank_by="value_at_risk", engine=eng, formats=("csv",))
            out[key]["bytes"] = (tmp_path / f"calls_{key}" / out[key]["csv_file"]).read_bytes()
        assert out["file"]["rows"] == 200 and out["file"]["candidates"] > 200
        assert out["file"] == out["arrow"]
    finally:
        eng.close()


def test_groups_function_is_not_called_when_the_models_cannot_be_fitted(tmp_path):
    tx = simulate_transactions(300, seed=1, end=AS_OF)  # fewer customers than the models need
    called = []
    va = analysis.analyse_value(tx, AS_OF, groups=lambda: called.append(1), keep_values=tmp_path / "v.parquet")
    assert va.fitted is None and va.grouping is None and va.values is None and called == []
    assert not (tmp_path / "v.parquet").exists()


def test_an_error_in_the_background_groups_reaches_the_caller(tx):
    def broken():
        raise RuntimeError("groups failed")

    with pytest.raises(RuntimeError, match="groups failed"):
        analysis.analyse_value(tx, AS_OF, transaction_model="mbgnbd", fit_customers=1500, backtest=False,
                               groups=broken)


def test_summary_in_several_passes_equals_one_pass(tx):
    """Above ``bucket_rows`` transactions the summary is built in passes over disjoint sets of
    customers (1e8 transactions did not fit one pass in the memory limit): the same rows."""
    tables = []
    for bucket_rows in (10 ** 9, len(tx) // 3):
        with ValueStore(tx, AS_OF, bucket_rows=bucket_rows, table_rows=0) as st:
            tables.append(st.con.execute("SELECT * FROM value_base ORDER BY customer_id").df())
            files = sorted(p.name for p in st.dir.glob("base-*.parquet"))
        assert files == [f"base-{i}.parquet" for i in range(-(-len(tx) // bucket_rows))]
        assert len(files) == (1 if bucket_rows > len(tx) else 3 + (len(tx) % 3 > 0))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    # one pass below TABLE_ROWS transactions: a table of the engine instead of a file, the same rows
    with ValueStore(tx, AS_OF) as st:
        assert not list(st.dir.glob("base-*.parquet"))
        assert st.con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'value_base'"
                              ).fetchall() == [("LOCAL TEMPORARY",)]
        pd.testing.assert_frame_equal(st.con.execute("SELECT * FROM value_base ORDER BY customer_id").df(), tables[0],
                                      check_exact=True)
    # from TWO_PASS_ROWS transactions (below bucket_rows) two passes: the same rows
    with ValueStore(tx, AS_OF, two_pass_rows=len(tx)) as st:
        assert sorted(p.name for p in st.dir.glob("base-*.parquet")) == ["base-0.parquet", "base-1.parquet"]
        pd.testing.assert_frame_equal(st.con.execute("SELECT * FROM value_base ORDER BY customer_id").df(), tables[0],
                                      check_exact=True)


#: The customer base query before its purchase days and spend up to the analysis date were
#: derived from the parts before and after the cut-off (kept as the reference).
OLD_BASE_SQL = '''
c AS (
    SELECT customer_id,
           COUNT(*) FILTER (WHERE spend > 0) AS n_now,
           COUNT(*) FILTER (WHERE spend <= 0 OR spend IS NULL) AS nonpositive_days,
           MIN(day) FILTER (WHERE spend > 0) AS first_day,
           MAX(day) FILTER (WHERE spend > 0) AS last_now,
           SUM(spend) FILTER (WHERE spend > 0) AS total_now,
           ARG_MIN(spend, day) FILTER (WHERE spend > 0) AS first_spend,
           COUNT(*) FILTER (WHERE spend > 0 AND day <= DATE '{last_end}') AS n_last,
           MAX(day) FILTER (WHERE spend > 0 AND day <= DATE '{last_end}') AS last_last,
           COUNT(*) FILTER (WHERE spend > 0 AND day <= DATE '{cutoff}') AS n_cal,
           MAX(day) FILTER (WHERE spend > 0 AND day <= DATE '{cutoff}') AS last_cal,
           SUM(spend) FILTER (WHERE spend > 0 AND day <= DATE '{cutoff}') AS total_cal,
           COUNT(*) FILTER (WHERE spend > 0 AND day > DATE '{cutoff}') AS holdout_purchases,
           SUM(spend) FILTER (WHERE spend > 0 AND day > DATE '{cutoff}') AS holdout_spend,
           COUNT(*) FILTER (WHERE spend > 0 AND day > DATE '{baseline_start}'
                            AND day <= DATE '{cutoff}') AS baseline_purchases,
           SUM(spend) FILTER (WHERE spend > 0 AND day > DATE '{baseline_start}'
                              AND day <= DATE '{cutoff}') AS baseline_spend
    FROM days
    GROUP BY customer_id
)
SELECT customer_id,
       n_now > 0 AS has_purchase,
       CASE WHEN n_now > 0 THEN CAST(n_now - 1 AS INTEGER) END AS frequency,
       CAST(DATE_DIFF('day', first_day, last_now) AS DOUBLE) AS recency,
       CAST(DATE_DIFF('day', first_day, DATE '{as_of}') AS DOUBLE) AS T,
       CASE WHEN n_now > 1 THEN (total_now - first_spend) / {scale} / (n_now - 1)
            WHEN n_now = 1 THEN 0.0 END AS monetary_value,
       first_day AS first_purchase,
       last_now AS last_purchase,
       CAST(nonpositive_days AS INTEGER) AS nonpositive_days,
       CASE WHEN n_last > 0 THEN CAST(n_last - 1 AS DOUBLE) END AS last_frequency,
       CASE WHEN n_last > 0 THEN CAST(DATE_DIFF('day', first_day, last_last) AS DOUBLE) END AS last_recency,
       CASE WHEN n_last > 0 THEN CAST(DATE_DIFF('day', first_day, DATE '{last_end}') AS DOUBLE) END AS last_T,
       CASE WHEN n_cal > 0 THEN CAST(n_cal - 1 AS INTEGER) END AS cal_frequency,
       CASE WHEN n_cal > 0 THEN CAST(DATE_DIFF('day', first_day, last_cal) AS DOUBLE) END AS cal_recency,
       CASE WHEN n_cal > 0 THEN CAST(DATE_DIFF('day', first_day, DATE '{cutoff}') AS DOUBLE) END AS cal_T,
       CASE WHEN n_cal > 1 THEN (total_cal - first_spend) / {scale} / (n_cal - 1)
            WHEN n_cal = 1 THEN 0.0 END AS cal_monetary_value,
       CAST(holdout_purchases AS INTEGER) AS holdout_purchases,
       COALESCE(holdout_spend / {scale}, 0.0) AS holdout_spend,
       CAST(baseline_purchases AS INTEGER) AS baseline_purchases,
       COALESCE(baseline_spend / {scale}, 0.0) AS baseline_spend,
       {sample_key} AS sample_key
FROM c
'''


def test_base_query_equals_the_one_that_summed_every_period_itself():
    """Nasty days: several orders a day, days adding up to zero or less, a NULL amount, days on
    each boundary (baseline start, cut-off, end of last month, analysis date), customers with no
    purchase day, a first day that is a return, a day after the analysis date."""
    import duckdb

    from rfm_helpers.value.features import SPEND_SCALE, _UP_TO_AS_OF, _days_cte, base_sql, sample_key_sql

    as_of, last_end, cutoff, start = "2024-06-30", "2024-05-31", "2024-04-01", "2024-01-02"
    rows = [("a", "2023-01-05", 10.0), ("a", "2023-01-05", 5.5), ("a", start, 3.0), ("a", "2024-01-03", 2.25),
            ("a", cutoff, 7.0), ("a", "2024-04-02", 1.0), ("a", last_end, 4.0), ("a", as_of, 9.99),
            ("b", "2023-06-01", -5.0), ("b", "2023-06-02", 20.0), ("b", "2024-06-01", 5.0), ("b", "2024-06-01", -5.0),
            ("c", "2024-05-01", 0.0), ("c", "2024-05-02", -1.0),  # no purchase day
            ("d", "2024-06-15", 8.0), ("d", "2024-07-01", 100.0),  # first seen after the cut-off
            ("e", "2022-02-02", 0.1), ("e", "2022-02-02", 0.2), ("e", "2023-02-02", 0.3), ("e", "2023-03-03", None),
            ("f", cutoff, 12.0)]
    rng = pd.Series(range(600))
    rows += [(f"g{i % 37}", (pd.Timestamp("2022-01-01") + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d"), float(a))
             for i, d, a in zip(rng, (rng * 7919) % 915, ((rng * 104729) % 200 - 40) / 4)]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    tx["order_date"] = pd.to_datetime(tx["order_date"])
    con = duckdb.connect()
    con.register("t", tx)
    old = (_days_cte(_UP_TO_AS_OF) + ",\n" + OLD_BASE_SQL).format(
        source="t", scale=SPEND_SCALE, as_of=as_of, last_end=last_end, cutoff=cutoff, baseline_start=start,
        sample_key=sample_key_sql(0))
    new = base_sql("t", as_of, last_end, cutoff, start, 0)
    a = con.sql(f"SELECT * FROM ({old}) ORDER BY customer_id").fetchall()
    b = con.sql(f"SELECT * FROM ({new}) ORDER BY customer_id").fetchall()
    assert [d[0] for d in con.sql(old).description] == [d[0] for d in con.sql(new).description]
    assert [d[1] for d in con.sql(old).description] == [d[1] for d in con.sql(new).description]
    assert len(a) == 43 and a == b
