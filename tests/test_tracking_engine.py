"""Segment tracking in the engine (``tracking.track_months`` / ``MonthlyTracking``) against the
pandas path (``tracking.frames``: per-month ``compute_scored_rfm`` + ``assign_segments``,
tables from the snapshot frames), which stays the independent reference.

Compared: every snapshot file (row for row), the status of each month, and every table of
notebook 05 (value order, transition counts and shares, history, movements, churn flows, key
flows, headline, findings, the executive segment figures, the flow customers). On CDNOW and on
generated data with ties, orders spanning days, a window, empty months, a mid-month analysis
date and stored snapshots in between computed ones. Nothing per customer is fetched into pandas.
"""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from rfm_helpers import tracking
from rfm_helpers.engine import DuckDBEngine, recording_fetches
from rfm_helpers.report import executive
from rfm_helpers.rfm import compute_scored_rfm, register_transactions, scored_rfm_relation
from rfm_helpers.segments import assign_segments
from rfm_helpers.tracking import frames, monthly


def gen_tx(seed: int = 0, customers: int = 400, rows: int = 3000, order_ids: bool = False) -> pd.DataFrame:
    """Purchases from mid-2023 to early 2024 (so the first months of a year's history are
    empty), amounts on a few values (ties in monetary), some customers buying on many days."""
    rng = np.random.default_rng(seed)
    ids = np.minimum(rng.integers(0, customers, rows), rng.integers(0, customers, rows))
    days = rng.integers(0, 230, rows)
    tx = pd.DataFrame({
        "customer_id": pd.Series([f"c{i:04d}" for i in ids], dtype="string"),
        "order_date": pd.Timestamp("2023-07-20") + pd.to_timedelta(days, unit="D"),
        "amount": rng.choice([5.0, 10.0, 19.99, 25.5, 40.0, 100.0], rows),
    })
    if order_ids:
        # one order in three shares its id with the customer's previous row, often on another day
        oid = np.arange(rows)
        share = rng.random(rows) < 0.33
        oid[1:][share[1:]] = oid[:-1][share[1:]]
        tx["order_id"] = pd.Series([f"o{ids[i]}-{o}" for i, o in enumerate(oid)], dtype="string")
    return tx


def reference(tx, months, folder, *, current_as_of=None, window_days=None, map_name="classic", language="en",
              with_current=True):
    """The pandas path of notebook 05 before the engine path (snapshots and tables)."""
    current = None
    if with_current:
        as_of = current_as_of or tracking.month_end(months[-1])
        current = assign_segments(compute_scored_rfm(tx, as_of, window_days), map_name=map_name, language=language)
    snaps, status = frames.load_or_build_snapshots(tx, months, folder, current=current, current_as_of=current_as_of,
                                                   window_days=window_days, map_name=map_name, language=language)
    return {m: s for m, s in snaps.items() if len(s)}, status


def engine_run(eng, tx, months, folder, *, current_as_of=None, window_days=None, map_name="classic",
               language="en", with_current=True):
    src = register_transactions(eng, tx).name
    current = None
    if with_current:
        as_of = current_as_of or tracking.month_end(months[-1])
        current = eng.materialize(scored_rfm_relation(tx, as_of, window_days, engine=eng, order=True), "cur")
    return tracking.track_months(eng, src, months, folder, current_table=current, current_as_of=current_as_of,
                                 window_days=window_days, map_name=map_name, language=language)


def cents(obj):
    """``obj`` with every float rounded to 6 decimals (float noise of pandas sums apart)."""
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, dict):
        return {k: cents(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cents(v) for v in obj)
    return obj


def read_sorted(path) -> pd.DataFrame:
    s = pd.read_parquet(path)
    for c in ("customer_id", "month", "segment", "segment_label"):
        s[c] = s[c].astype(str)
    s["as_of"] = s["as_of"].astype("datetime64[us]")
    return s.sort_values("customer_id").reset_index(drop=True)


def assert_same(snaps, ref_folder, tr, months, folder):
    """Files row for row, then every table of notebook 05."""
    for m in months:
        old, new = read_sorted(frames.snapshot_path(ref_folder, m)), read_sorted(frames.snapshot_path(folder, m))
        assert list(new.columns) == tracking.SNAPSHOT_COLUMNS
        # the file's schema too (types and nullability), as every writer wrote it
        engine_schema = pq.read_schema(frames.snapshot_path(folder, m)).remove_metadata()
        assert engine_schema.equals(tracking.SNAPSHOT_SCHEMA), engine_schema
        pd.testing.assert_frame_equal(old, new, check_dtype=False, rtol=1e-12)
    assert tr.months == list(snaps)
    order = frames.value_order(snaps.values())
    assert tr.value_order() == order
    assert tr.segment_labels() == frames.segment_labels(snaps.values())
    pd.testing.assert_frame_equal(tr.value_order_table(order), frames.value_order_table(snaps.values(), order))
    pd.testing.assert_frame_equal(tr.segment_history(), frames.segment_history(snaps), check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(tr.movement_history(order), frames.movement_history(snaps, order))
    pd.testing.assert_frame_equal(tr.churn_flows(), frames.churn_flows(snaps))
    assert tr.headline(order) == frames.headline(snaps, order)
    # money: exact sums in the engine, float sums in pandas (660.93 vs 660.9300000000001)
    assert cents(tr.month_findings(order)) == cents(frames.month_findings(snaps, order))
    assert tr.segment_figures(order, "classic") == executive.segment_figures(snaps, order, "classic")
    ms = list(snaps)
    for a, b in zip(ms, ms[1:]):
        c0, s0 = frames.transition_matrix(snaps[a], snaps[b], order)
        c1, s1 = tr.transition_matrix(a, b, order)
        pd.testing.assert_frame_equal(c1, c0, check_index_type=False, check_column_type=False)
        pd.testing.assert_frame_equal(s1, s0, check_index_type=False, check_column_type=False)
        assert tr.movements(a, b, order) == frames.movements(snaps[a], snaps[b], order)
        pd.testing.assert_frame_equal(tr.key_flows(a, b, order, top=8), frames.key_flows(snaps[a], snaps[b], order, top=8),
                                      check_dtype=False, rtol=1e-12)
    if len(ms) >= 2:
        want = frames.flow_customers(snaps[ms[-2]], snaps[ms[-1]], order)
        got = tr.flow_customers(ms[-2], ms[-1], order).to_table().to_pandas()
        assert list(got.columns) == list(want.columns)
        assert list(got["monetary_before"]) == sorted(got["monetary_before"], reverse=True)
        key = ["customer_id"]
        want = want.astype({"customer_id": str, "from": str, "to": str}).sort_values(key).reset_index(drop=True)
        got = got.astype({"customer_id": str, "from": str, "to": str}).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_cdnow_same_as_pandas_path_and_only_aggregates_fetched(tmp_path):
    from rfm_helpers.pipeline import prepare

    p = prepare(analysis_date="1998-06-30", run_dir=tmp_path / "run")
    months = tracking.history_months(p.as_of, 7)
    snaps, status = reference(p.transactions, months, tmp_path / "ref", current_as_of=p.as_of)
    with recording_fetches() as log:
        tr = tracking.track_months(p.engine, p.transactions_table, months, tmp_path / "eng", current_table=p.rfm_table,
                                   current_as_of=p.as_of, window_days=p.window_days)
        order = tr.value_order()
        tr.month_findings(order), tr.segment_figures(order, "classic"), tr.movement_history(order)
    assert log and all(r.kind == "aggregate" for r in log), [(r.label, r.kind) for r in log]
    assert max(r.rows for r in log) < 2000
    assert tr.status == status
    assert_same(snaps, tmp_path / "ref", tr, months, tmp_path / "eng")
    # this run's month is the run's RFM table with its segments, exactly
    cur = read_sorted(frames.snapshot_path(tmp_path / "eng", months[-1]))
    seg = assign_segments(p.rfm).sort_values("customer_id").reset_index(drop=True)
    assert (cur["customer_id"].to_numpy() == seg["customer_id"].astype(str).to_numpy()).all()
    assert (cur["segment"].to_numpy() == seg["segment"].astype(str).to_numpy()).all()
    assert (cur["monetary"].to_numpy() == seg["monetary"].to_numpy()).all()
    # a second run reuses the engine's files; snapshots stored by the pandas writer are reused too
    again = tracking.track_months(p.engine, p.transactions_table, months, tmp_path / "eng", current_table=p.rfm_table,
                                  current_as_of=p.as_of)
    assert again.status == {**{m: "stored" for m in months[:-1]}, months[-1]: "this run"}
    old = tracking.track_months(p.engine, p.transactions_table, months, tmp_path / "ref", current_table=p.rfm_table,
                                current_as_of=p.as_of)
    assert old.status == again.status
    assert old.segment_history().equals(again.segment_history())


@pytest.mark.parametrize("order_ids, window_days, current_as_of", [
    (False, None, "2024-02-13"),
    (True, None, None),
    (False, 60, "2024-02-29"),
    (True, 45, "2024-02-05"),
])
def test_generated_data_same_as_pandas_path(tmp_path, order_ids, window_days, current_as_of):
    tx = gen_tx(3, order_ids=order_ids)
    months = tracking.history_months(current_as_of or "2024-02-29", 10)   # the first months are empty
    snaps, status = reference(tx, months, tmp_path / "ref", current_as_of=current_as_of, window_days=window_days)
    with DuckDBEngine() as eng:
        tr = engine_run(eng, tx, months, tmp_path / "eng", current_as_of=current_as_of, window_days=window_days)
        assert tr.status == status
        assert len(tr.months) < len(months)   # months before the first purchase: empty files, not tracked
        assert_same(snaps, tmp_path / "ref", tr, months, tmp_path / "eng")
        # the packed one-scan transition counts equal one join per pair (the fallback)
        joins = pd.concat([monthly._pair_query(eng, tr.paths, a, b, money=False)
                           for a, b in zip(tr.months, tr.months[1:])], ignore_index=True)
        pd.testing.assert_frame_equal(tr.transitions, joins.sort_values(["month", "from", "to"]).reset_index(drop=True),
                                      check_dtype=False)
        # stored months between computed ones: delete two files and run again -> same tables
        for m in (months[-3], months[-5]):
            frames.snapshot_path(tmp_path / "eng", m).unlink()
        tr2 = engine_run(eng, tx, months, tmp_path / "eng", current_as_of=current_as_of, window_days=window_days)
        assert [m for m, s in tr2.status.items() if s == "computed"] == [months[-5], months[-3]]
        assert_same(snaps, tmp_path / "ref", tr2, months, tmp_path / "eng")


def test_without_current_table_and_settings_change(tmp_path):
    """No run table: the last month is built like the others; another language or new data
    rebuild what they change (the status says so), the metadata names the settings."""
    tx = gen_tx(5, customers=150, rows=900)
    months = tracking.history_months("2024-01-31", 4)
    snaps, status = reference(tx, months, tmp_path / "ref", with_current=False)
    with DuckDBEngine() as eng:
        tr = engine_run(eng, tx, months, tmp_path / "eng", with_current=False)
        assert tr.status == status == {m: "computed" for m in months}
        assert_same(snaps, tmp_path / "ref", tr, months, tmp_path / "eng")
        meta = pq.read_schema(frames.snapshot_path(tmp_path / "eng", months[1])).metadata
        assert json.loads(meta[b"rfm_snapshot"])["as_of"] == tracking.month_end(months[1]).isoformat()
        # files of the earlier multi-month pass (settings of all its months under rfm_snapshots) are reused
        paths = {m: frames.snapshot_path(tmp_path / "eng", m) for m in months[:2]}
        tables = {m: pq.read_table(path) for m, path in paths.items()}
        both = json.dumps({m: json.loads(t.schema.metadata[b"rfm_snapshot"]) for m, t in tables.items()}, sort_keys=True)
        for m, path in paths.items():
            pq.write_table(tables[m].replace_schema_metadata({b"rfm_snapshots": both.encode()}), path)
        again = engine_run(eng, tx, months, tmp_path / "eng", with_current=False)
        assert again.status == {months[0]: "stored", months[1]: "stored", months[2]: "stored", months[3]: "stored"}
        assert_same(snaps, tmp_path / "ref", again, months, tmp_path / "eng")
        ru = engine_run(eng, tx, months, tmp_path / "eng", with_current=False, language="ru")
        assert set(ru.status.values()) == {"computed"}
        assert ru.segment_labels()["champions"] != tr.segment_labels()["champions"]
        extra = pd.DataFrame({"customer_id": pd.Series(["new1"], dtype="string"),
                              "order_date": [pd.Timestamp("2023-12-15")], "amount": [7.0]})
        later = engine_run(eng, pd.concat([tx, extra], ignore_index=True), months, tmp_path / "eng",
                           with_current=False, language="ru")
        assert later.status == {months[0]: "stored", months[1]: "stored", months[2]: "computed", months[3]: "computed"}


def test_one_month_and_hand_checked_transitions(tmp_path):
    """Two customers, two months, counted by hand."""
    tx = pd.DataFrame({"customer_id": pd.Series(["a", "a", "b"], dtype="string"),
                       "order_date": pd.to_datetime(["2024-01-05", "2024-02-03", "2024-02-20"]),
                       "amount": [10.0, 30.0, 5.0]})
    with DuckDBEngine() as eng:
        one = engine_run(eng, tx, ["2024-01"], tmp_path / "one")
        assert one.months == ["2024-01"] and one.month_findings([]) == [("one_month", {})]
        assert one.headline([]) == {"months_tracked": 1}
        tr = engine_run(eng, tx, ["2024-01", "2024-02"], tmp_path / "two")
        money = tr.pair_money("2024-01", "2024-02")
    t = tr.transitions
    assert t["customers"].sum() == 2 and set(t["month"]) == {"2024-02"}
    assert (t.loc[t["from"] == tracking.NEW, "customers"] == 1).all()
    assert money.loc[money["from"] != tracking.NEW, "monetary_before"].tolist() == [10.0]
    pd.testing.assert_frame_equal(money[["month", "from", "to", "customers"]], t, check_dtype=False)
    h = tr.segment_history()
    assert h.loc[h["month"] == "2024-02", "month_spend"].sum() == pytest.approx(35.0)
    assert h.loc[h["month"] == "2024-02", "monetary"].sum() == pytest.approx(45.0)
    with pytest.raises(ValueError, match="consecutive"):
        tr.movements("2024-02", "2024-01", [])


@pytest.mark.parametrize("order_ids, window_days", [(True, None), (False, 60)])
def test_spans_built_in_customer_parts_same_as_pandas_path(tmp_path, monkeypatch, order_ids, window_days):
    """A large pass builds the customers' spans in hash parts (one aggregation per part): the
    files and tables are the same as the pandas path's (here up to 3,000 transactions, parts of 800)."""
    monkeypatch.setattr(monthly, "PART_ROWS", 800)
    calls = []
    real = monthly.spans_sql
    monkeypatch.setattr(monthly, "spans_sql", lambda *a, **k: calls.append(k["part"]) or real(*a, **k))
    tx = gen_tx(11, order_ids=order_ids)
    months = tracking.history_months("2024-02-29", 8)
    snaps, status = reference(tx, months, tmp_path / "ref", window_days=window_days)
    with DuckDBEngine() as eng:
        tr = engine_run(eng, tx, months, tmp_path / "eng", window_days=window_days)
        assert tr.status == status
        assert_same(snaps, tmp_path / "ref", tr, months, tmp_path / "eng")
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4)]


@pytest.mark.parametrize("table_rows", [0, 10**9])
def test_spans_in_a_file_or_a_table_same_as_pandas_path(tmp_path, monkeypatch, table_rows):
    """A small pass keeps the spans in a temporary table, a larger one (more transactions than
    TABLE_ROWS) in a Parquet file in the spill folder: both write the pandas path's files and
    tables, and neither leaves its spans behind."""
    monkeypatch.setattr(monthly, "TABLE_ROWS", table_rows)
    seen = []
    real = monthly._write_pass
    monkeypatch.setattr(monthly, "_write_pass", lambda *a, **k: seen.append(k["in_table"]) or real(*a, **k))
    tx = gen_tx(5, order_ids=True)
    months = tracking.history_months("2024-02-29", 6)
    snaps, status = reference(tx, months, tmp_path / "ref")
    with DuckDBEngine() as eng:
        tr = engine_run(eng, tx, months, tmp_path / "eng")
        assert tr.status == status
        assert_same(snaps, tmp_path / "ref", tr, months, tmp_path / "eng")
        left = eng.con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'mt_%'").fetchall()
        assert left == []
    assert seen == [bool(table_rows)]
