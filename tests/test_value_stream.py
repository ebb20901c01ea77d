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
        with ValueStore(tx, AS_OF, bucket_rows=bucket_rows) as st:
            tables.append(st.con.execute("SELECT * FROM value_base ORDER BY customer_id").df())
            files = sorted(p.name for p in st.dir.glob("base-*.parquet"))
        assert files == [f"base-{i}.parquet" for i in range(-(-len(tx) // bucket_rows))]
        assert len(files) == (1 if bucket_rows > len(tx) else 3 + (len(tx) % 3 > 0))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
