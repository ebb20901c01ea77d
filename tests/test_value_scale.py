"""The value stage at scale: per-customer rows stay in DuckDB / Parquet (issue 12).

``analyse_value`` is run on simulated transactions with a small fit sample, and every pandas
frame made from a DuckDB result is counted: only the fit samples (bounded by
``fit_customers``) and aggregates (at most a few dozen rows) may reach pandas. Performance
itself is measured by ``benchmarks/bench_value.py``, not here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rfm_helpers.act import ExportWriter
from rfm_helpers.value import analysis, store
from rfm_helpers.value.segments import UNASSIGNED

from value_sim import simulate_transactions

AS_OF = "2024-06-30"


class _Relation:
    def __init__(self, rel, sizes):
        self._rel, self._sizes = rel, sizes

    def df(self):
        out = self._rel.df()
        self._sizes.append(len(out))
        return out

    def __getattr__(self, name):
        return getattr(self._rel, name)


class _Connection:
    """A DuckDB connection that records the length of every frame it hands to pandas."""

    def __init__(self, con, sizes):
        self._con, self._sizes = con, sizes

    def execute(self, *args, **kwargs):
        self._con.execute(*args, **kwargs)
        return self

    def sql(self, *args, **kwargs):
        return _Relation(self._con.sql(*args, **kwargs), self._sizes)

    def df(self):
        out = self._con.df()
        self._sizes.append(len(out))
        return out

    def __getattr__(self, name):
        return getattr(self._con, name)


@pytest.fixture(scope="module")
def tx():
    return simulate_transactions(4000, seed=4, end=AS_OF)


def test_only_samples_and_aggregates_reach_pandas(tx, tmp_path, monkeypatch):
    import duckdb

    sizes: list[int] = []

    class _DuckDB:
        @staticmethod
        def connect(*args, **kwargs):
            return _Connection(duckdb.connect(*args, **kwargs), sizes)

    monkeypatch.setattr(store, "duckdb", _DuckDB)
    ids = pd.Index(tx["customer_id"].unique())
    groups = pd.Series(np.where(np.arange(len(ids)) % 3 == 0, "a", "b"), index=ids)[ids[:-50]]  # 50 without
    va = analysis.analyse_value(tx, AS_OF, transaction_model="mbgnbd", fit_customers=1000, random_seed=3,
                                backtest_customers=1500,
                                groups={"segment": groups}, group_order={"segment": ["b", "a"]},
                                export=ExportWriter(tmp_path, "en"))
    customers = va.stats["customers"]
    assert customers > 3000 and va.fitted.sampled and va.fitted.n_fit_customers == 1000
    bt = va.backtest
    assert bt is not None and bt.fitted.n_fit_customers == 1000
    assert bt.sampled and bt.customers == 1500 and bt.population > 3000 and bt.deciles["customers"].sum() == 1500
    # two fit samples (now and at the cut-off) of 1,000; everything else is an aggregate
    assert sorted(s for s in sizes if s > 100) == [1000, 1000], sizes
    for value in vars(va).values():
        if isinstance(value, pd.DataFrame):
            assert len(value) <= 100
    table = va.groups["segment"]
    assert list(table["group"]) == ["b", "a", UNASSIGNED] and table["customers"].sum() == customers
    assert table.set_index("group").loc[UNASSIGNED, "customers"] == 50
    assert va.export.rows == customers and va.export.file == "customer_value_2024-06.csv"
    export = pd.read_csv(tmp_path / va.export.file, encoding="utf-8-sig", dtype={"customer_id": str})
    assert len(export) == customers and export["customer_id"].is_unique
    assert export["value_at_risk"].is_monotonic_decreasing
    assert va.headline["customers"] == customers
    assert va.headline["expected_revenue"] == pytest.approx(export["expected_revenue_90d"].sum(), rel=1e-5)
    assert va.p_alive_bands[["repeat_customers", "one_time_buyers"]].to_numpy().sum() == customers


def test_the_store_removes_its_folder(tx):
    with store.ValueStore(tx, AS_OF, table_rows=0) as s:
        folder = s.dir
        assert (folder / "base-0.parquet").exists()
    assert not folder.exists()
    with store.ValueStore(tx, AS_OF) as s:  # the base in a table of the engine: the folder still holds the scores
        folder = s.dir
        assert folder.exists()
    assert not folder.exists()


def test_value_export_keeps_ids_byte_for_byte_in_the_run_dialect(tx, tmp_path):
    """Ids a spreadsheet or a careless writer would change (leading zeros and spaces, a formula,
    the Russian separator, quotes, Cyrillic) come out of the whole stage exactly as they went
    in, in the Russian dialect, with money in cents."""
    import csv

    ids = pd.Index(tx["customer_id"].unique())
    odd = {ids[0]: "007", ids[1]: " 42 ", ids[2]: "=1+2", ids[3]: 'Ёлка;"x"', ids[4]: "+79161234567"}
    tx2 = tx.assign(customer_id=tx["customer_id"].map(lambda c: odd.get(c, c)))
    va = analysis.analyse_value(tx2, AS_OF, transaction_model="mbgnbd", fit_customers=1000, backtest=False,
                                export=ExportWriter(tmp_path, "ru"), keep_values=True)
    path = tmp_path / va.export.file
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header, body = rows[0], rows[1:]
    assert len(body) == va.stats["customers"] == tx2["customer_id"].nunique()
    got = {r[0] for r in body}
    assert set(odd.values()) <= got and got == set(tx2["customer_id"])
    money = header.index("clv")
    assert all(r[money] == "" or (r[money].count(",") == 1 and len(r[money].split(",")[1]) == 2) for r in body)
    assert [w for w in va.export.warnings if w["code"] == "formula_like_keys"] == [
        {"code": "formula_like_keys", "file": va.export.file, "column": "customer_id", "count": 1}]
    # keep_values: the call list's input, the same customers and figures as the file
    kept = va.values.to_pandas()
    assert list(kept.columns) == ["customer_id", "value_at_risk", "p_alive", "clv"]
    assert set(kept["customer_id"]) == got and len(kept) == len(body)
    var = header.index("value_at_risk")
    written = {r[0]: float(r[var].replace(",", ".")) for r in body}
    assert kept.set_index("customer_id")["value_at_risk"].round(2).to_dict() == pytest.approx(written)


@pytest.mark.parametrize("gzip_rows", [0, 100])
def test_value_export_equals_the_act_writers_file_byte_for_byte(tx, tmp_path, monkeypatch, gzip_rows):
    """The stage writes its export itself (the row count and the id check on the unsorted rows):
    the same file, record and warnings as rfm_helpers.act.write_customer_value on the same rows,
    plain and compressed."""
    from rfm_helpers import act

    ids = pd.Index(tx["customer_id"].unique())
    odd = {ids[0]: "=1+2", ids[1]: "@SUM(A1)", ids[2]: " 7"}
    tx2 = tx.assign(customer_id=tx["customer_id"].map(lambda c: odd.get(c, c)))
    ref = {}
    real = analysis.write_export

    def both(export, view, month, con, rows):
        ref["rec"] = act.write_customer_value(ExportWriter(tmp_path / "act", "ru", gzip_rows=gzip_rows), view, month,
                                              con=con)
        return real(export, view, month, con, rows)

    monkeypatch.setattr(analysis, "write_export", both)
    va = analysis.analyse_value(tx2, AS_OF, transaction_model="mbgnbd", fit_customers=1000, backtest=False,
                                export=ExportWriter(tmp_path / "value", "ru", gzip_rows=gzip_rows))
    rec = ref["rec"]
    assert (va.export.file, va.export.rows, va.export.kind, va.export.warnings) == (
        rec.file, rec.rows, rec.kind, rec.warnings)
    assert va.export.file.endswith(".gz") == bool(gzip_rows)
    assert any(w["code"] == "formula_like_keys" and w["count"] == 2 for w in rec.warnings)
    assert (tmp_path / "value" / va.export.file).read_bytes() == (tmp_path / "act" / rec.file).read_bytes()


def test_backtest_draws_its_fit_sample_from_the_compared_sample_with_the_same_result(tx, monkeypatch):
    """The backtest's fit sample is taken from its (larger) sample of compared customers: the same
    customers, fit and comparison as drawing both from all customers (forced by a check that fails)."""
    from rfm_helpers.value import backtest

    def run():
        with store.ValueStore(tx, AS_OF) as s:
            return backtest.backtest_in_store(s, transaction_model="mbgnbd", fit_customers=300, backtest_customers=900)

    kept = []
    real = store.ValueStore.keep_sample
    monkeypatch.setattr(store.ValueStore, "keep_sample", lambda self, *a, **k: kept.append(a) or real(self, *a, **k))
    shared = run()
    assert kept == [(900,)]
    monkeypatch.setattr(backtest, "stratified_counts", lambda k, r, o: (k + 1, k + 1) if k == 300 else (0, 0))
    apart = run()
    assert len(kept) == 1  # not used the second time
    assert shared.purchase_params == apart.purchase_params and shared.customers == apart.customers == 900
    pd.testing.assert_frame_equal(shared.deciles, apart.deciles, rtol=1e-12)
    assert shared.totals == pytest.approx(apart.totals, rel=1e-12, nan_ok=True)
