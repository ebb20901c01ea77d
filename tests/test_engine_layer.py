"""The engine layer (rfm_helpers.engine) on DuckDB: registering sources, relations that stay
in the engine, the fetch instrumentation, Parquet for Spark, SQL translation, exact money.

Spark runs of the same API are in test_engines.py (one JVM per test run).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rfm_helpers import engine as E
from rfm_helpers.rfm import (compute_rfm, compute_scored_rfm, rfm_relation, score_quantiles,
                             scored_rfm_relation, to_spark_sql, rfm_sql)

AS_OF = "2024-12-31"


def tx(rows, **extra):
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    df["customer_id"] = df["customer_id"].astype("string")
    df["order_date"] = pd.to_datetime(df["order_date"], format="ISO8601")
    for k, v in extra.items():
        df[k] = v
    return df


SMALL = tx([("a", "2024-12-01 10:00", 10.0), ("a", "2024-11-01", 5.25), ("b", "2024-10-01", 7.5),
            ("c", "2024-06-30 23:59", 1.0)])


# ------------------------------------------------------------------------ translation
def test_translation_counts_calendar_days_with_two_argument_datediff():
    sql = to_spark_sql(rfm_sql("v", AS_OF, 30))
    assert "DATEDIFF(DAY" not in sql.upper()
    assert "DATEDIFF(CAST('2024-12-31' AS DATE), MAX(last_day))" in sql
    assert "DIV" in to_spark_sql("SELECT a // b FROM t")
    assert "MATERIALIZED" not in to_spark_sql("WITH x AS MATERIALIZED (SELECT 1 AS a) SELECT * FROM x")


# ---------------------------------------------------------------------- registering
def test_register_frame_arrow_parquet_csv_give_the_same_rfm(tmp_path):
    want = compute_rfm(SMALL, AS_OF)
    arrow = pa.Table.from_pandas(SMALL, preserve_index=False)
    pq_path = E.write_parquet(SMALL, tmp_path / "t.parquet")
    SMALL.to_csv(tmp_path / "t.csv", index=False)
    for source in (arrow, pq_path, str(tmp_path / "*.parquet"), tmp_path / "t.csv", tmp_path):
        pd.testing.assert_frame_equal(compute_rfm(source, AS_OF), want)


def test_register_describes_columns():
    frame = SMALL.assign(moscow=SMALL["order_date"].dt.tz_localize("Europe/Moscow"),
                         day=SMALL["order_date"].dt.date.astype("date32[pyarrow]"))
    with E.DuckDBEngine() as eng:
        t = eng.register("t", frame)
    kinds = {c: col.kind for c, col in t.columns.items()}
    assert kinds == {"customer_id": "string", "order_date": "timestamp", "amount": "float",
                     "moscow": "instant", "day": "date"}
    assert t.columns["moscow"].time_zone == "Europe/Moscow"


def test_unknown_inputs_are_refused(tmp_path):
    with E.DuckDBEngine() as eng:
        with pytest.raises(TypeError, match="DataFrame"):
            eng.register("t", [1, 2, 3])
        with pytest.raises(FileNotFoundError):
            eng.register("t", str(tmp_path / "none.parquet"))
        with pytest.raises(ValueError, match="Parquet"):
            eng.register("t", str(tmp_path / "x.json"))
    with pytest.raises(ValueError, match="unknown engine"):
        compute_rfm(SMALL, AS_OF, engine="pandas")
    with pytest.raises(ValueError, match="SparkSession"):
        compute_rfm(SMALL, AS_OF, engine="spark")


def test_external_connection_stays_open_and_its_time_zone_is_not_touched():
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/Sao_Paulo'")
    with E.DuckDBEngine(con) as eng:
        got = compute_scored_rfm(SMALL, AS_OF, engine=eng)
    assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "America/Sao_Paulo"
    assert con.execute("SELECT 1").fetchone() == (1,)
    pd.testing.assert_frame_equal(got, compute_scored_rfm(SMALL, AS_OF))


# ------------------------------------------------------------------------ relations
def test_relations_stay_in_the_engine_until_written(tmp_path):
    with E.recording_fetches() as log, E.DuckDBEngine() as eng:
        rfm_relation(SMALL, AS_OF, engine=eng).write_parquet(tmp_path / "rfm.parquet")
        rel = scored_rfm_relation(SMALL, AS_OF, engine=eng, order=True)
        rel.write_parquet(tmp_path / "scored.parquet")
        sizes = eng.fetch(f"SELECT rfm_cell, COUNT(*) AS n FROM ({rel.sql}) GROUP BY 1",
                          label="cells", kind="aggregate")
    assert [r.kind for r in log] == ["aggregate"] * len(log)  # scale checks and the cell counts
    assert sizes["n"].sum() == 3
    back = pd.read_parquet(tmp_path / "scored.parquet")
    want = compute_scored_rfm(SMALL, AS_OF)
    assert list(back.columns) == list(want.columns)
    assert back["monetary"].tolist() == want["monetary"].tolist()
    assert back["rfm_cell"].tolist() == want["rfm_cell"].tolist()
    assert len(pd.read_parquet(tmp_path / "rfm.parquet")) == 3


def test_materialized_tables_are_dropped_on_close_of_a_borrowed_connection():
    import duckdb

    con = duckdb.connect()
    with E.DuckDBEngine(con) as eng:
        name = eng.materialize("SELECT 1 AS x", "tmp")
        assert con.execute(f"SELECT x FROM {name}").fetchone() == (1,)
    assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()


# ------------------------------------------------------------------- instrumentation
def test_every_fetch_is_recorded_with_kind_rows_and_bytes():
    with E.recording_fetches() as log:
        out = compute_scored_rfm(SMALL, AS_OF)
        score_quantiles(compute_rfm(SMALL, AS_OF))
    per_customer = [r for r in log if r.kind == "per_customer"]
    assert [r.label for r in per_customer] == ["compute_scored_rfm", "compute_rfm", "score_quantiles"]
    assert per_customer[0].rows == len(out) == 3
    assert per_customer[0].columns == out.shape[1] and per_customer[0].nbytes > 0
    assert all(r.engine == "duckdb" for r in log)


def test_fetch_log_file_and_row_limit_from_the_environment(tmp_path, monkeypatch):
    log = tmp_path / "fetch.jsonl"
    monkeypatch.setenv("RFM_FETCH_LOG", str(log))
    compute_scored_rfm(SMALL, AS_OF)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert {"label": "compute_scored_rfm", "kind": "per_customer", "rows": 3} .items() <= \
        next(x for x in lines if x["label"] == "compute_scored_rfm").items()
    monkeypatch.setenv("RFM_FETCH_MAX_ROWS", "2")
    with pytest.raises(E.FetchLimitExceeded, match="compute_scored_rfm: fetched 3 per-customer rows"):
        compute_scored_rfm(SMALL, AS_OF)
    # aggregates are never limited
    with E.DuckDBEngine() as eng:
        assert len(eng.fetch("SELECT * FROM range(10)", label="ten", kind="aggregate")) == 10
        with pytest.raises(ValueError, match="kind"):
            eng.fetch("SELECT 1", label="x", kind="rows")


# ------------------------------------------------------------------- Parquet for Spark
def test_write_parquet_uses_microseconds_and_keeps_zones(tmp_path):
    frame = pd.DataFrame({
        "naive": pd.to_datetime(["2024-01-01 00:30:00.123456789"]).astype("datetime64[ns]"),
        "moscow": pd.to_datetime(["2024-01-01 00:30"]).tz_localize("Europe/Moscow").astype("datetime64[ns, Europe/Moscow]"),
        "channel": pd.Categorical(["web"]),
    })
    raw = tmp_path / "pandas.parquet"
    frame.to_parquet(raw)
    assert E.inspect_parquet(raw)["naive"].note == "nanoseconds"
    path = E.write_parquet(frame, tmp_path / "engine.parquet")
    cols = E.inspect_parquet(path)
    assert (cols["naive"].kind, cols["naive"].note, cols["naive"].engine_type) == ("timestamp", "", "timestamp[us]")
    assert (cols["moscow"].kind, cols["moscow"].time_zone) == ("instant", "Europe/Moscow")
    assert cols["channel"].kind == "string"
    schema = pq.ParquetFile(path).schema
    ts = json.loads(schema.column(0).logical_type.to_json())
    assert ts["timeUnit"] == "microseconds" and ts["isAdjustedToUTC"] is False


def test_inspect_parquet_classifies_spark_style_instants(tmp_path):
    t = pa.table({"ts": pa.array([pd.Timestamp("2024-01-01")], pa.timestamp("us", tz="UTC"))})
    pq.write_table(t, tmp_path / "int96.parquet", use_deprecated_int96_timestamps=True, store_schema=False)
    pq.write_table(t, tmp_path / "utc.parquet", store_schema=False)
    assert E.inspect_parquet(tmp_path / "int96.parquet")["ts"] == E.Column("ts", "instant", "timestamp[ns]", None, "INT96")
    utc = E.inspect_parquet(tmp_path / "utc.parquet")["ts"]
    assert (utc.kind, utc.time_zone) == ("instant", None)
    pq.write_table(pa.table({"ts": pa.array([pd.Timestamp("2024-01-01")], pa.timestamp("us"))}),
                   tmp_path / "naive.parquet")
    with pytest.raises(ValueError, match="one schema"):
        E.inspect_parquet(str(tmp_path / "*.parquet"))


# ----------------------------------------------------------------------- exact money
def test_float_sums_depend_on_order_but_monetary_does_not():
    """0.1 + 0.2 + 0.3 is 0.6000000000000001 in this order and 0.6 in the other: with float
    sums two customers who spent the same would get different values, and at the quantile
    boundary different scores. Money is summed as DECIMAL: every order gives 0.60."""
    assert (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1  # the premise, in Python floats
    rows = ([("up", "2024-12-01", x) for x in (0.1, 0.2, 0.3)]
            + [("down", "2024-12-01", x) for x in (0.3, 0.2, 0.1)]
            + [("one", "2024-12-01", 0.6)]
            + [(f"low{i}", "2024-12-01", 0.59) for i in range(3)]
            + [(f"high{i}", "2024-12-01", 0.61) for i in range(4)])
    frame = tx(rows)
    with E.DuckDBEngine(threads=1) as eng:  # one thread adds rows in file order
        eng.register("frame", frame)
        floats = eng.fetch("SELECT customer_id, SUM(amount) AS s FROM frame GROUP BY 1",
                           label="float sums", kind="aggregate").set_index("customer_id")["s"]
    assert floats["up"] != floats["down"]  # DuckDB's own float sum shows it too
    scored = compute_scored_rfm(frame, AS_OF).set_index("customer_id")
    assert scored.loc[["up", "down", "one"], "monetary"].tolist() == [0.6, 0.6, 0.6]
    assert scored.loc[["up", "down", "one"], "m_score"].nunique() == 1
    # 3 of 10 customers spent less: 1 + floor(5 * 3 / 10) = 2
    assert scored.loc["one", "m_score"] == 2
    again = compute_scored_rfm(frame.sample(frac=1, random_state=3), AS_OF)
    pd.testing.assert_frame_equal(again, scored.reset_index(), check_exact=True)


@pytest.mark.parametrize("scale, good, bad", [
    (2, [12.34, 0.1 + 0.2, 1e9 + 0.01], [12.345, math.nan]),
    (0, [1500.0, 3.0], [1500.5]),
    (3, [1.234, 0.001], [1.2345]),
])
def test_amounts_must_sit_on_the_currency_scale(tmp_path, scale, good, bad):
    ok = tx([(f"c{i}", "2024-12-01", x) for i, x in enumerate(good)])
    compute_rfm(ok, AS_OF, scale=scale)
    wrong = tx([(f"c{i}", "2024-12-01", x) for i, x in enumerate(good + bad)])
    with pytest.raises(ValueError, match=rf"{len(bad)} value\(s\) of 'amount'.*scale={scale}.*pass scale="):
        compute_rfm(wrong, AS_OF, scale=scale)
    path = E.write_parquet(wrong, tmp_path / "wrong.parquet")  # the SQL check on files
    with pytest.raises(ValueError, match=rf"file .*wrong.parquet: {len(bad)} value\(s\)"):
        compute_scored_rfm(path, AS_OF, scale=scale)


def test_rows_without_customer_or_date_are_refused(tmp_path):
    frame = tx([("a", "2024-12-01", 1.0), (None, "2024-12-01", 2.0), ("b", None, 3.0), ("c", None, 4.0)])
    with pytest.raises(ValueError, match=r"DataFrame: 1 row\(s\) without customer_id, 2 row\(s\) without order_date"):
        compute_rfm(frame, AS_OF)
    path = E.write_parquet(frame, tmp_path / "holes.parquet")
    with pytest.raises(ValueError, match=r"holes.parquet: 1 row\(s\) without customer_id.*quarantines"):
        compute_scored_rfm(path, AS_OF)


def test_monetary_is_rounded_to_the_scale_and_scores_compare_exactly():
    frame = tx([("a", "2024-12-01", 1000.0), ("b", "2024-12-01", 999.99), ("c", "2024-12-01", 1.0)])
    jpy = compute_scored_rfm(tx([("a", "2024-12-01", 1000.0), ("b", "2024-12-01", 999.0)]), AS_OF, scale=0)
    assert jpy["monetary"].tolist() == [1000.0, 999.0]
    out = compute_scored_rfm(frame, AS_OF)
    assert out["monetary"].tolist() == [1000.0, 999.99, 1.0]
    # an RFM table from elsewhere with float noise is scored on the exact cents
    noisy = out.assign(monetary=[0.1 + 0.2, 0.3, 0.31])
    s = score_quantiles(noisy)
    assert s.loc[0, "m_score"] == s.loc[1, "m_score"]
    with pytest.raises(ValueError, match="'monetary'"):
        score_quantiles(out.assign(monetary=[0.305, 0.3, 0.31]))
    with pytest.raises(ValueError, match="missing"):
        score_quantiles(out.assign(frequency=[1, None, 2]))


def test_scores_do_not_depend_on_row_order_on_cdnow_by_channel():
    """CDNOW by channel had float sums 25.740000000000002 next to 25.74: the same spend got
    m_score 3 for 3 customers and 2 for 44 others (main's code)."""
    from rfm_helpers.load import bundled as datasets

    raw = datasets.read_cdnow_raw()
    frame = pd.DataFrame({
        "customer_id": raw["customer_id"].astype("string"),
        "order_date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
        "amount": raw["dollar_value"].astype("float64"),
        "channel": pd.array(np.where(np.arange(len(raw)) % 3 == 1, "shop", "web"), dtype="string"),
    })
    a = compute_scored_rfm(frame, "1998-06-30", by_channel=True)
    split = a.groupby(["channel", a["monetary"].round(2)])["m_score"].nunique()
    assert (split == 1).all()
    b = compute_scored_rfm(frame.iloc[::-1], "1998-06-30", by_channel=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
