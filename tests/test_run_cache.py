"""The run's load cache: kept transactions in one Parquet file, the rest of the load result
pickled beside it; later notebooks read the small part, the engine reads the file in place
and pandas gets the transactions only when asked (a reported per-transaction fetch)."""
from __future__ import annotations

import pickle

import pandas as pd
import pytest

from rfm_helpers import pipeline
from rfm_helpers.engine import FETCH_KINDS, recording_fetches
from rfm_helpers.load import load_transactions
from rfm_helpers.rfm import compute_scored_rfm


def _shop(tmp_path):
    """Ties, a refund netted into its order, a zero amount, a duplicate, a row after the
    analysis date, times of day and text ids with leading zeros."""
    csv = tmp_path / "shop.csv"
    csv.write_text(
        "customer_id,order_date,amount,order_id\n"
        "007,2024-01-05 10:00,10.10,A1\n"
        "007,2024-01-05 10:00,10.10,A1\n"        # exact duplicate: quarantined
        "007,2024-03-01 23:59,5.00,A2\n"
        "8,2024-02-01,20.00,B1\n"
        "8,2024-02-10,-5.00,B1\n"                  # refund of B1, netted
        "9,2024-02-01,20.00,C1\n"                  # ties with customer 8
        "10,2024-03-02,0,D1\n"                     # zero amount: quarantined
        "11,2024-12-31,99.99,E1\n"                 # after the analysis date: quarantined
        "00012,2024-01-31 08:15,1234.56,F1\n",
        encoding="utf-8")
    cfg = tmp_path / "shop.yaml"
    cfg.write_text("format: csv\npath: shop.csv\ncurrency: EUR\n", encoding="utf-8")
    return str(cfg)


@pytest.mark.parametrize("source", ["cdnow", "shop"])
def test_cached_run_reads_the_same_rows_and_scores_without_pandas(tmp_path, source):
    cfg = "" if source == "cdnow" else _shop(tmp_path)
    as_of = "1998-06-30" if source == "cdnow" else "2024-06-30"
    run = tmp_path / "run"
    first = pipeline.prepare(as_of, source_config=cfg, run_dir=run)   # notebook 01: loads and writes the cache
    files = sorted(p.name for p in (run / pipeline.CACHE_DIR).iterdir())
    assert [f.rsplit(".", 1)[1] for f in files] == ["parquet", "pkl"]
    reference = load_transactions(pipeline.resolve_source(cfg), analysis_date=pd.Timestamp(as_of).date())

    with recording_fetches() as log:
        later = pipeline.prepare(as_of, source_config=cfg, run_dir=run)  # a later notebook
        assert later.load.clean_file and later.load.__dict__.get("_clean") is None
        assert later.load.rows_in == reference.rows_in == later.load.rows_kept + later.load.rows_quarantined
        pd.testing.assert_frame_equal(later.load.quarantine, reference.quarantine)
        assert later.load.remarks == reference.remarks and later.load.freshness == reference.freshness
        rfm = later.rfm
        n_tx = later.engine.sql(f"SELECT count(*) FROM {later.transactions_table}").native.fetchall()[0][0]
        assert n_tx == reference.rows_kept
        assert "per_transaction" not in {r.kind for r in log}, "scoring must read the Parquet file in place"
        tx = later.transactions
    per_tx = [r for r in log if r.kind == "per_transaction"]
    assert len(per_tx) == 1 and per_tx[0].rows == reference.rows_kept
    assert later.transactions is tx and later.load.clean is tx  # read once, shared
    pd.testing.assert_frame_equal(tx, reference.clean)  # values and dtypes as the loader made them
    pd.testing.assert_frame_equal(rfm, first.rfm)
    expected = compute_scored_rfm(reference.clean, later.as_of)
    pd.testing.assert_frame_equal(rfm, expected)


def test_the_pickle_does_not_carry_the_rows_and_old_pickles_still_load(tmp_path):
    run = tmp_path / "run"
    p = pipeline.prepare("1998-06-30", run_dir=run)
    pkl = next((run / pipeline.CACHE_DIR).glob("load-*.pkl"))
    parquet = pkl.with_suffix(".parquet")
    assert pkl.stat().st_size < parquet.stat().st_size / 2
    with pkl.open("rb") as fh:
        state = pickle.load(fh).__dict__
    assert state["_clean"] is None and state["clean_file"] == str(parquet)
    # a result pickled whole (no file) keeps its rows
    whole = load_transactions(pipeline.resolve_source(""), analysis_date=p.as_of)
    again = pickle.loads(pickle.dumps(whole))
    assert again.clean_file is None
    pd.testing.assert_frame_equal(again.clean, whole.clean)


def test_a_changed_cache_file_is_refused(tmp_path):
    run = tmp_path / "run"
    pipeline.prepare("1998-06-30", run_dir=run)
    parquet = next((run / pipeline.CACHE_DIR).glob("load-*.parquet"))
    frame = pd.read_parquet(parquet)
    frame.iloc[:10].to_parquet(parquet)
    later = pipeline.prepare("1998-06-30", run_dir=run)
    with pytest.raises(RuntimeError, match="the run's cache was changed"):
        later.transactions  # noqa: B018


def test_transactions_given_explicitly_win(tmp_path):
    p = pipeline.prepare("1998-06-30", run_dir=tmp_path / "run")
    p.transactions = p.transactions[p.transactions["customer_id"] < "00100"]
    n = p.engine.sql(f"SELECT count(DISTINCT customer_id) FROM {p.transactions_table}").native.fetchall()[0][0]
    assert n == p.transactions["customer_id"].nunique() == len(p.rfm)


def test_per_transaction_is_a_fetch_kind():
    assert "per_transaction" in FETCH_KINDS


def test_value_features_read_the_cache_file_as_they_read_the_frame(tmp_path):
    from rfm_helpers.value import ValueStore

    pipeline.prepare("1998-06-30", run_dir=tmp_path / "run")
    later = pipeline.prepare("1998-06-30", run_dir=tmp_path / "run")
    source = later.transactions_source
    assert isinstance(source, str) and source.endswith(".parquet")
    query = "SELECT * FROM value_base ORDER BY customer_id"
    with ValueStore(source, later.as_of) as from_file:
        a = from_file.con.sql(query).df()
    assert later.load.__dict__.get("_clean") is None  # the value stage did not need pandas
    with ValueStore(later.transactions, later.as_of) as from_frame:
        b = from_frame.con.sql(query).df()
    assert len(a) == later.transactions["customer_id"].nunique()
    pd.testing.assert_frame_equal(a, b)


_NASTY = {
    # order ids whose refund rows come first (the rules' windows reorder rows), a status column,
    # a channel column that is empty in every row (dropped with a remark), a quantity column
    "refunds_first.csv": (
        "customer_id,order_date,amount,order_id,status,channel,quantity\n"
        "1,2024-02-10,-5.00,B1,returned,,1\n"
        "1,2024-02-01,20.00,B1,paid,,2\n"
        "2,2024-02-01,20.00,C1,paid,,1\n"
        "2,2024-02-01,20.00,C1,paid,,1\n"
        "3,2024-03-01,0,D1,paid,,1\n"
        "3,2024-03-05,7.5,D2,cancelled,,1\n"
        "4,2024-07-01,1,E1,paid,,1\n"
        "5,,3,F1,paid,,1\n"
        "6,2024-01-31 23:59:59,1e3,G1,paid,,x\n",
        "columns: {order_id: order_id, status: status, channel: channel, quantity: quantity}\n"
        "statuses: {include: [paid, returned], exclude: [cancelled]}\n"),
    "plain.csv": ("customer_id,order_date,amount\n007,2024-01-05,10.10\n007,2024-01-05,10.10\n"
                  "8,05.02.2024,3\n9,2024-01-01,\n", ""),
}


@pytest.mark.parametrize("name", ["cdnow", *_NASTY])
def test_the_loader_writes_the_kept_rows_from_duckdb_as_it_builds_them_in_pandas(tmp_path, name):
    from rfm_helpers.load import describe_clean, monthly_activity

    if name == "cdnow":
        spec = pipeline.resolve_source("")
    else:
        text, extra = _NASTY[name]
        (tmp_path / name).write_text(text, encoding="utf-8")
        cfg = tmp_path / "spec.yaml"
        cfg.write_text(f"format: csv\npath: {name}\n{extra}", encoding="utf-8")
        spec = pipeline.resolve_source(str(cfg))
    in_pandas = load_transactions(spec, analysis_date="2024-06-30" if name != "cdnow" else "1998-06-30")
    path = tmp_path / "kept.parquet"
    with recording_fetches() as log:
        in_file = load_transactions(spec, analysis_date=in_pandas.freshness.analysis_date, clean_path=path)
        assert in_file.clean_file == str(path) and in_file.__dict__.get("_clean") is None
        assert describe_clean(in_file) == pytest.approx(describe_clean(in_pandas.clean))
        pd.testing.assert_frame_equal(monthly_activity(in_file), monthly_activity(in_pandas.clean))
    assert {r.kind for r in log} <= {"aggregate"}
    assert (in_file.rows_in, in_file.rows_kept, in_file.rows_quarantined) == \
        (in_pandas.rows_in, in_pandas.rows_kept, in_pandas.rows_quarantined)
    assert in_file.rows_in == in_file.rows_kept + in_file.rows_quarantined
    assert in_file.remarks == in_pandas.remarks and in_file.freshness == in_pandas.freshness
    assert in_file.customers_lost == in_pandas.customers_lost and in_file.data_range == in_pandas.data_range
    pd.testing.assert_frame_equal(in_file.quarantine, in_pandas.quarantine)
    pd.testing.assert_frame_equal(in_file.clean, in_pandas.clean)  # read back: same rows, order and dtypes
    if name == "refunds_first.csv":
        assert in_pandas.remark("channel_empty") and "channel" not in in_file.clean.columns
        assert in_pandas.rows_quarantined >= 4 and in_pandas.remark("refunds_netted")


def test_scored_rfm_is_computed_once_per_run_and_equals_the_direct_computation(tmp_path):
    """The first notebook that needs the scored table writes it beside the run cache (Parquet,
    written by the engine within its memory limit); later notebooks read that file. Same
    table, order and dtypes as compute_scored_rfm, with and without a window; no
    per-customer fetch to build it."""
    from rfm_helpers.engine.fetch import recording_fetches
    from rfm_helpers.pipeline import prepare
    from rfm_helpers.rfm import compute_scored_rfm

    for window in (0, 120):
        first = prepare(analysis_date="1998-03-31", run_dir=tmp_path, window_days=window)
        with recording_fetches() as fetched:
            name = first.rfm_table
            customers = first.engine.scalar_rows(f"SELECT count(*) FROM {name}", label="customers")[0][0]
        assert fetched and {f.kind for f in fetched} == {"aggregate"}
        assert first.rfm_file.exists() and f"-w{window}-" in first.rfm_file.name
        stamp = first.rfm_file.stat().st_mtime_ns
        later = prepare(analysis_date="1998-03-31", run_dir=tmp_path, window_days=window)
        got = later.rfm
        assert later.rfm_file.stat().st_mtime_ns == stamp  # read, not written again
        want = compute_scored_rfm(later.load.clean, later.as_of, window or None)
        pd.testing.assert_frame_equal(got, want)
        assert len(got) == customers
