"""Notebook 06's groups from the engine (issue 12): the RFM segment and cluster of every customer
computed in DuckDB and handed to ``analyse_value`` as a Parquet file must give the same value
tables as the old pandas path (``assign_segments`` and ``ClusterSegmenter.fit`` on the whole
pandas RFM table, passed as Series).

On CDNOW the seeded sample covers every customer, so the clusters are the same too; on generated
data with a smaller sample the segments still match, and the clusters match the fitted
segmenter's own ``predict`` on every customer (its names come from every customer's medians)."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rfm_helpers.clustering import ClusterSegmenter
from rfm_helpers.engine import DuckDBEngine
from rfm_helpers.rfm import compute_scored_rfm, scored_rfm_relation
from rfm_helpers.segments import assign_segments, map_info
from rfm_helpers.value import analysis
from rfm_helpers.value.groups import CLUSTER_RANDOM_STATE, engine_groups
from rfm_helpers.value.store import ValueStore

from test_segment_engine import cdnow_tx
from value_sim import simulate_transactions

VALUE_ARGS = dict(transaction_model="mbgnbd", fit_customers=2000, random_seed=0, backtest=False)


def _engine(tx, as_of):
    eng = DuckDBEngine()
    return eng, eng.materialize(scored_rfm_relation(tx, as_of, None, engine=eng, order=True), "rfm_scored")


def _parquet(path):
    return pq.read_table(path).to_pandas().set_index("customer_id")


def _tables(tx, as_of, groups, order):
    va = analysis.analyse_value(tx, as_of, groups=groups, group_order=order, **VALUE_ARGS)
    assert va.fitted is not None and va.fitted.spend_status == "ok"
    return va.groups


@pytest.mark.parametrize("language", ["en", "ru"])
def test_cdnow_value_by_segment_and_cluster_equals_the_pandas_path(tmp_path, language):
    tx, as_of = cdnow_tx(), "1998-06-30"
    eng, table = _engine(tx, as_of)
    try:
        eg = engine_groups(eng, table, tmp_path, segment_map="classic", language=language)
        # the old notebook 06: every customer in pandas
        rfm = compute_scored_rfm(tx, as_of)
        old_seg = assign_segments(rfm, map_name="classic", language=language).set_index("customer_id")["segment"]
        old = ClusterSegmenter(segment_map="classic", language=language, random_state=CLUSTER_RANDOM_STATE).fit(rfm)
        old_clu = old.assign(rfm).set_index("customer_id")["segment"]
        assert eg.sample_size == len(rfm)  # the sample is every customer
        assert (eg.clusters.keys_, eg.clusters.labels_, eg.clusters.groups_) == (old.keys_, old.labels_, old.groups_)
        got = _parquet(eg.path)
        assert len(got) == len(rfm) and got.index.is_unique
        pd.testing.assert_series_equal(got["segment"].loc[old_seg.index.astype(str)],
                                       old_seg.astype(str).set_axis(old_seg.index.astype(str)), check_names=False)
        pd.testing.assert_series_equal(got["cluster"].loc[old_clu.index.astype(str)],
                                       old_clu.astype(str).set_axis(old_clu.index.astype(str)), check_names=False)
        order = {"segment": list(map_info("classic", language)["segment"]), "cluster": list(old.keys_)}
        groups = {**eg.groups, "segment_old": old_seg, "cluster_old": old_clu}
        tables = _tables(tx, as_of, groups, {**order, "segment_old": order["segment"], "cluster_old": order["cluster"]})
        for name in ("segment", "cluster"):
            pd.testing.assert_frame_equal(tables[name], tables[f"{name}_old"])
            assert "" not in set(tables[name]["group"])  # every valued customer has a segment and a cluster
    finally:
        eng.close()


def test_generated_data_segments_equal_pandas_and_clusters_come_from_the_sample(tmp_path):
    as_of = "2024-06-30"
    tx = simulate_transactions(3000, seed=11, end=as_of)
    tx["amount"] = tx["amount"].round(2)  # cents, as the loader leaves them
    eng, table = _engine(tx, as_of)
    try:
        eg = engine_groups(eng, table, tmp_path, sample_size=800, random_state=5)
        rfm = compute_scored_rfm(tx, as_of)
        assert eg.sample_size == 800 < len(rfm)
        old_seg = assign_segments(rfm).set_index("customer_id")["segment"]
        got = _parquet(eg.path)
        ids = rfm["customer_id"].astype(str).to_numpy()
        assert got.loc[ids, "segment"].tolist() == old_seg.astype(str).tolist()
        assert got.loc[ids, "cluster"].tolist() == eg.clusters.predict(rfm).astype(str).tolist()
        tables = _tables(tx, as_of, {"segment": eg.groups["segment"], "segment_old": old_seg},
                         {"segment": list(map_info("classic")["segment"]),
                          "segment_old": list(map_info("classic")["segment"])})
        pd.testing.assert_frame_equal(tables["segment"], tables["segment_old"])
        # the call list's view: the RFM table with the segment
        view = eng.sql(f"SELECT * FROM {eg.assigned}").native.df().set_index("customer_id")
        assert view.loc[ids, "segment"].tolist() == old_seg.astype(str).tolist()
    finally:
        eng.close()


def test_register_groups_from_parquet_needs_a_column_and_keeps_ids(tmp_path):
    ids = pd.Series(["007", "7", " 7", "ä"], dtype="string")
    path = tmp_path / "g.parquet"
    pd.DataFrame({"customer_id": ids, "k": ["a", "b", None, "c"]}).to_parquet(path)
    tx = pd.DataFrame({"customer_id": ids, "order_date": pd.to_datetime(["2024-01-02"] * 4),
                       "amount": [1.0, 2.0, 3.0, 4.0]})
    with ValueStore(tx, "2024-06-30") as st:
        with pytest.raises(ValueError, match="column"):
            st.register_groups("g1", path)
        st.register_groups("g2", path, "k")
        assert st.con.execute("SELECT customer_id, grp FROM g2 ORDER BY customer_id").fetchall() == sorted(
            [("007", "a"), ("7", "b"), (" 7", None), ("ä", "c")])
